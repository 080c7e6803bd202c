// Fuzzes the dataset path a training job reads: a file of records (.jsonl,
// .json array or .txt, picked by the first input byte) through RecordReader,
// then every record through the three prompt formats (completion, alpaca,
// chat_template with ChatML) as the data pipeline runs them.  Bad lines must be
// errors naming file:line, never a crash, a hang or an unbounded allocation.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/data/fake_tokenizer.h"
#include "worker/config/train_config.h"
#include "worker/data/prompt_format.h"
#include "worker/data/record_reader.h"

namespace {

struct Formats {
  lorad::testing::FakeTokenizer tokenizer;
  lorad::TrainConfig config;
  std::vector<std::unique_ptr<lorad::PromptFormat>> formats;

  Formats() {
    config.sequence_len = 64;
    config.chat_template = "chatml";
    for (const char* type : {"completion", "alpaca", "chat_template"}) {
      lorad::DatasetSpec spec;
      spec.type = type;
      auto f = lorad::MakePromptFormat(spec, config, tokenizer);
      if (!f.ok()) std::abort();  // the fuzzer's own setup is wrong
      formats.push_back(std::move(*f));
    }
  }
};

std::filesystem::path WorkDir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("lorad-fuzz-data-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Formats formats;
  if (size == 0) return 0;
  static const char* kExtensions[] = {".jsonl", ".json", ".txt"};
  const auto path = WorkDir() / (std::string("data") + kExtensions[data[0] % 3]);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  lorad::RecordReaderOptions options;
  options.max_record_bytes = 4096;      // bounded as in a job, scaled to the fuzzer's inputs
  options.max_json_file_bytes = 1 << 16;
  auto reader = lorad::RecordReader::Open(path, options);
  if (!reader.ok()) return 0;
  nlohmann::json record;
  for (int records = 0; records < 10'000; ++records) {
    auto more = (*reader)->Next(&record);
    if (!more.ok()) {
      // A bad line is reported with its place and the reader goes on after it.
      if (std::string(more.status().message()).find(path.filename().string()) == std::string::npos) {
        std::abort();
      }
      continue;
    }
    if (!*more) break;
    for (const auto& format : formats.formats) {
      std::vector<lorad::Sample> samples;
      (void)format->Tokenize(record, &samples);
    }
  }
  return 0;
}
