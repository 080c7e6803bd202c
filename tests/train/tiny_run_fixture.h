// Shared by the trainer and CLI tests: a tiny model made with the init-model
// code in a temporary directory, small repetitive datasets and configs.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "worker/model/init_model.h"
#include "worker/train/training_job.h"

namespace lorad::testing {

inline std::filesystem::path MakeTempDir(const std::string& tag) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ = std::string(base ? base : "/tmp") + "/lorad-" + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  const char* dir = ::mkdtemp(buf.data());
  EXPECT_NE(dir, nullptr);
  return dir ? std::filesystem::path(dir) : std::filesystem::path();
}

/// Removes its directory when the test ends.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) : path_(MakeTempDir(tag)) {}
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The tiny preset, created once per test binary (seconds) and shared.
inline std::filesystem::path TinyModelDir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = MakeTempDir("tiny-model") / "tiny";
    InitModelOptions options;
    options.preset = "tiny";
    options.out = d;
    options.seed = 0;
    absl::Status s = InitModel(options);
    EXPECT_TRUE(s.ok()) << s;
    return d;
  }();
  return dir;
}

inline void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// `lines` JSONL records {"text": ...} cycling over a few short sentences.
inline void WriteRepetitiveDataset(const std::filesystem::path& path, int lines,
                                   const std::vector<std::string>& texts = {
                                       "the cat sat on the mat. the cat sat on the mat.",
                                       "one two three four five six seven eight nine ten.",
                                       "a b c d e f g h i j k l m n o p."}) {
  std::string out;
  for (int i = 0; i < lines; ++i) {
    out += nlohmann::json({{"text", texts[static_cast<size_t>(i) % texts.size()]}}).dump() + "\n";
  }
  WriteText(path, out);
}

/// A training YAML in `dir` pointing at the tiny model and `dataset`; a key
/// given in `extra_yaml` (at the start of a line) replaces the default.
inline std::filesystem::path WriteConfig(const std::filesystem::path& dir,
                                         const std::filesystem::path& dataset,
                                         const std::string& extra_yaml,
                                         const std::string& name = "config.yaml") {
  auto given = [&](const std::string& key) {
    return extra_yaml.rfind(key + ":", 0) == 0 || extra_yaml.find("\n" + key + ":") != std::string::npos;
  };
  std::string yaml;
  if (!given("base_model")) yaml += "base_model: " + TinyModelDir().string() + "\n";
  if (!given("adapter")) yaml += "adapter: lora\n";
  if (!given("datasets")) {
    yaml += "datasets:\n  - path: " + dataset.string() + "\n    type: completion\n";
  }
  if (!given("sequence_len")) yaml += "sequence_len: 64\n";
  if (!given("output_dir")) yaml += "output_dir: " + (dir / "out").string() + "\n";
  yaml += extra_yaml;
  WriteText(dir / name, yaml);
  return dir / name;
}

class CapturingObserver : public TrainerObserver {
 public:
  void OnRecord(const nlohmann::json& record) override { records.push_back(record); }
  std::vector<nlohmann::json> OfType(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& r : records) {
      if (r.value("type", "") == type) out.push_back(r);
    }
    return out;
  }
  std::vector<nlohmann::json> records;
};

}  // namespace lorad::testing
