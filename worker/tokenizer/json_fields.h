// Typed, bounded reads of tokenizer.json fields; every error names the file and
// the JSON path ("tokenizer.json: pre_tokenizer.pretokenizers[1].pattern").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lorad {

/// Limits on what a tokenizer.json may declare, checked before allocating.
inline constexpr size_t kMaxTokenizerVocab = size_t{1} << 22;    // entries
inline constexpr size_t kMaxTokenizerMerges = size_t{1} << 23;   // entries
inline constexpr size_t kMaxTokenBytes = 4096;                   // one token's UTF-8
inline constexpr size_t kMaxAddedTokens = size_t{1} << 20;       // entries
inline constexpr size_t kMaxAddedTokenBytes = size_t{16} << 20;  // all contents together
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;   // largest id accepted
inline constexpr size_t kMaxComponentDepth = 16;                 // nested Sequence levels

/// A location in a JSON document, for messages.
class JsonPath {
 public:
  JsonPath(std::string source, std::string path)
      : source_(std::move(source)), path_(std::move(path)) {}
  JsonPath Key(const std::string& key) const;
  JsonPath Index(size_t i) const;
  const std::string& path() const { return path_; }
  std::string ToString() const;
  absl::Status Error(const std::string& message) const;

 private:
  std::string source_;
  std::string path_;
};

/// `j[key]` as a string; missing or null → `fallback` unless `required`.
absl::StatusOr<std::string> JsonString(const nlohmann::json& j, const std::string& key,
                                       const JsonPath& at, bool required,
                                       const std::string& fallback = "");
absl::StatusOr<bool> JsonBool(const nlohmann::json& j, const std::string& key, const JsonPath& at,
                              bool fallback);
absl::StatusOr<int64_t> JsonInt(const nlohmann::json& j, const std::string& key, const JsonPath& at,
                                int64_t min, int64_t max, int64_t fallback);
/// The "type" field of a component object.
absl::StatusOr<std::string> JsonType(const nlohmann::json& j, const JsonPath& at);
/// A {"String": s} or {"Regex": r} pattern object: sets *is_regex.
absl::StatusOr<std::string> JsonPattern(const nlohmann::json& j, const JsonPath& at,
                                        bool* is_regex);

}  // namespace lorad
