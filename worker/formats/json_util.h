// JSON helpers shared by the format parsers: bounded parsing (nesting depth,
// duplicate keys) and typed field access whose errors name the file and key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace lorad {

/// Nesting deeper than this is refused: no real config needs it, and it bounds
/// the parser's stack use on hostile input.
inline constexpr int kMaxJsonDepth = 64;

/// Parses `text` as JSON whose root must be an object.  Duplicate keys in any
/// object are an error when `reject_duplicate_keys` (JSON libraries disagree on
/// which one wins, so a file relying on it is ambiguous).
absl::StatusOr<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view source,
                                               bool reject_duplicate_keys = true);

/// Typed reads of `obj[key]`.  Absent or null → nullopt (the caller applies
/// its default); a present value of the wrong type → INVALID_ARGUMENT naming
/// `source` and `key`.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& obj, std::string_view source) : obj_(obj), source_(source) {}

  bool Has(const std::string& key) const;
  /// Present and not null.
  bool HasValue(const std::string& key) const;
  absl::StatusOr<std::optional<int64_t>> Int(const std::string& key) const;
  absl::StatusOr<std::optional<double>> Double(const std::string& key) const;
  absl::StatusOr<std::optional<bool>> Bool(const std::string& key) const;
  absl::StatusOr<std::optional<std::string>> String(const std::string& key) const;
  absl::StatusOr<std::optional<std::vector<std::string>>> StringList(const std::string& key) const;
  absl::StatusOr<std::optional<std::vector<int64_t>>> IntList(const std::string& key) const;

  /// "SOURCE: key 'KEY': MSG" as INVALID_ARGUMENT.
  absl::Status Error(const std::string& key, const std::string& msg) const;
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& obj_;
  std::string source_;
};

/// A short, bounded rendering of a JSON value for error messages.
std::string JsonSnippet(const nlohmann::json& v);

}  // namespace lorad
