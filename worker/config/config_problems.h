// Collects every problem found in a config, so that one error lists them all.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace lorad {

class ConfigProblems {
 public:
  /// `key_path` leads the line: "lora_r: must be a positive integer, got 0".
  void Add(const std::string& key_path, const std::string& message) {
    lines_.push_back(key_path.empty() ? message : key_path + ": " + message);
  }
  bool empty() const { return lines_.empty(); }
  const std::vector<std::string>& lines() const { return lines_; }

  /// OK when empty; else INVALID_ARGUMENT with one problem per line.
  absl::Status ToStatus() const {
    if (lines_.empty()) return absl::OkStatus();
    std::string text;
    for (const std::string& line : lines_) {
      if (!text.empty()) text += '\n';
      text += line;
    }
    return absl::InvalidArgumentError(text);
  }

 private:
  std::vector<std::string> lines_;
};

}  // namespace lorad
