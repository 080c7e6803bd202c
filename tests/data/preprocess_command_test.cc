// `lorad-worker preprocess`: PreprocessCommand with stdout/stderr captured,
// on a real (trained byte-level BPE) tokenizer and a chat dataset.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/data/temp_dir.h"
#include "worker/base/file_util.h"
#include "worker/cli/commands.h"
#include "worker/config/config_loader.h"
#include "worker/data/batch_collator.h"
#include "worker/data/dataset_builder.h"
#include "worker/tokenizer/bpe_trainer.h"
#include "worker/tokenizer/bundled_corpus.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

struct Result {
  int rc;
  std::string out, err;
};

Result RunPreprocess(const fs::path& tmp, std::vector<std::string> args) {
  const fs::path out = tmp / "stdout", err = tmp / "stderr";
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = dup(1), saved_err = dup(2);
  const int fout = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int ferr = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fout, 1);
  dup2(ferr, 2);
  args.insert(args.begin(), "preprocess");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = PreprocessCommand(static_cast<int>(args.size()), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(saved_out);
  close(saved_err);
  close(fout);
  close(ferr);
  return {rc, ReadFileToString(out).value_or(""), ReadFileToString(err).value_or("")};
}

class PreprocessCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto files = TrainByteLevelBpe({std::string(BundledCorpus())}, BpeTrainerOptions{});
    ASSERT_TRUE(files.ok()) << files.status();
    model_ = dir_.path() / "model";
    fs::create_directories(model_);
    std::ofstream(model_ / "tokenizer.json", std::ios::binary) << files->tokenizer_json;
    std::ofstream(model_ / "tokenizer_config.json", std::ios::binary)
        << files->tokenizer_config_json;
    dir_.Write("chat.jsonl",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"Capital of France?\"},"
               "{\"role\":\"assistant\",\"content\":\"Paris.\"}]}\n"
               "{\"conversations\":[{\"from\":\"human\",\"value\":\"And Italy?\"},"
               "{\"from\":\"gpt\",\"value\":\"Rome.\"}]}\n"
               "{\"messages\":[{\"role\":\"user\",\"content\":\"Spain?\"},"
               "{\"role\":\"assistant\",\"content\":\"Madrid.\"}]}\n");
    config_ = dir_.Write("job.yaml",
                         "base_model: model\n"
                         "datasets:\n"
                         "  - path: chat.jsonl\n"
                         "    type: chat_template\n"
                         "chat_template: chatml\n"
                         "sequence_len: 64\n"
                         "learning_rate: 0.001\n"
                         "lora_target_linear: true\n"
                         "output_dir: out\n");
  }
  testing::TempDir dir_;
  fs::path model_, config_;
};

TEST_F(PreprocessCommandTest, JsonRowsAreWhatBuildDatasetGivesTheTrainer) {
  Result r = RunPreprocess(dir_.path(), {config_.string(), "-o", "json", "--show", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("cache written"), std::string::npos) << r.err;

  auto loaded = LoadTrainConfigFile(config_, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto tok = Tokenizer::LoadFromDir(model_);
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto ds = BuildDataset(loaded->config, **tok, nullptr);
  ASSERT_TRUE(ds.ok()) << ds.status();
  BatchCollator collator(ds->train, ds->train_rows, ds->pad_id, ds->packed);

  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    Batch b = collator.CollateRange(n, n + 1);
    EXPECT_EQ(j["input_ids"].get<std::vector<int64_t>>(), b.input_ids);
    EXPECT_EQ(j["labels"].get<std::vector<int64_t>>(), b.labels);
    EXPECT_FALSE(j.contains("position_ids"));  // not packed
    ++n;
  }
  EXPECT_EQ(n, 2);
  // Only the assistant's answer and its <|im_end|> are trained.
  const Sample& first = ds->train[0];
  std::vector<int32_t> trained;
  for (size_t t = 0; t < first.labels.size(); ++t) {
    if (first.labels[t] != -100) trained.push_back(first.input_ids[t]);
  }
  EXPECT_EQ((*tok)->Decode(trained, false), "Paris.<|im_end|>");

  // The second run reads the cache.
  r = RunPreprocess(dir_.path(), {config_.string(), "-o", "json", "--show", "0"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("cache hit"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(PreprocessCommandTest, TextViewMarksTrainedSpansAndPackedRowsHavePositions) {
  Result r = RunPreprocess(dir_.path(), {config_.string(), "--show", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  // stdout is a file, not a terminal: no ANSI codes, trained text in « ».
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("«Paris.<|im_end|>»"), std::string::npos) << r.out;

  r = RunPreprocess(dir_.path(), {config_.string(), "-o", "json", "--set", "sample_packing=true",
                                  "--set", "sequence_len=256"});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(j.contains("position_ids"));
  auto pos = j["position_ids"].get<std::vector<int64_t>>();
  int restarts = 0;
  for (size_t t = 1; t < pos.size(); ++t) restarts += pos[t] == 0;
  EXPECT_EQ(restarts, 2);  // three short conversations packed into one row
  EXPECT_NE(r.err.find("(packed)"), std::string::npos) << r.err;
}

TEST_F(PreprocessCommandTest, ShippedExamplesTokenizeWithTrainedTokens) {
  for (const char* name : {"tiny-lora.yaml", "alpaca-lora.yaml", "chat-lora.yaml"}) {
    SCOPED_TRACE(name);
    const fs::path example = fs::path(LORAD_SOURCE_DIR) / "examples" / name;
    if (!fs::exists(example)) GTEST_SKIP() << example << " not in this checkout";
    Result r = RunPreprocess(dir_.path(), {example.string(), "-o", "json", "--show", "1",
                                           "--set", "base_model=" + model_.string(), "--set",
                                           "output_dir=" + (dir_.path() / "out").string()});
    ASSERT_EQ(r.rc, 0) << r.err;
    nlohmann::json row = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
    int trained = 0;
    for (int64_t l : row["labels"].get<std::vector<int64_t>>()) trained += l != -100;
    EXPECT_GT(trained, 0) << r.out;
  }
}

TEST_F(PreprocessCommandTest, BadConfigAndBadDataExitTwo) {
  Result r = RunPreprocess(dir_.path(), {});
  EXPECT_EQ(r.rc, 2);
  r = RunPreprocess(dir_.path(), {config_.string(), "--set", "sequence_len=-1"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("sequence_len"), std::string::npos) << r.err;
  const fs::path bad = dir_.Write("bad.jsonl", "{\"messages\":[]}\n{\"messages\": 3}\n");
  r = RunPreprocess(dir_.path(), {config_.string(), "--set", "datasets.0.path=" + bad.string()});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(bad.string() + ":1: conversation has no messages"), std::string::npos)
      << r.err;
  r = RunPreprocess(dir_.path(), {config_.string(), "--set", "datasets.0.path=" + bad.string(),
                                  "--set", "skip_bad_lines=true"});
  EXPECT_EQ(r.rc, 2);  // every line bad: nothing to train on
  EXPECT_NE(r.err.find("no trainable sample"), std::string::npos) << r.err;
  r = RunPreprocess(dir_.path(), {config_.string(), "--set", "chat_template=tokenizer_default"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("chatml, llama3"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lorad
