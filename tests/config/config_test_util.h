// Helpers for the config tests: a temporary folder with files in it, and a
// minimal valid config around which each test varies one thing.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace lorad::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lorad-cfg-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    // Canonical so comparisons with resolved paths hold where /tmp is a symlink.
    path_ = std::filesystem::canonical(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  /// Writes `content` to path()/rel, creating folders; returns the full path.
  std::filesystem::path Write(const std::string& rel, const std::string& content) const {
    const std::filesystem::path p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  std::filesystem::path MakeDir(const std::string& rel) const {
    const std::filesystem::path p = path_ / rel;
    std::filesystem::create_directories(p);
    return p;
  }

 private:
  std::filesystem::path path_;
};

/// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) {
      had_ = true;
      old_ = old;
    }
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

/// A TempDir holding models/tiny/ and data/train.jsonl, for a config in its root.
class ConfigFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.MakeDir("models/tiny");
    dir_.Write("models/tiny/config.json", "{}");
    dir_.Write("data/train.jsonl", "{\"text\": \"hello\"}\n");
  }
  /// Minimal valid config (relative paths), plus `extra` lines.
  static std::string Minimal(const std::string& extra = "") {
    return "base_model: models/tiny\n"
           "adapter: lora\n"
           "lora_target_linear: true\n"
           "datasets:\n"
           "  - path: data/train.jsonl\n"
           "    type: completion\n"
           "learning_rate: 0.001\n" +
           extra;
  }
  TempDir dir_;
};

}  // namespace lorad::testing
