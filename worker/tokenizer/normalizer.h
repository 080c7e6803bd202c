// tokenizer.json "normalizer": NFC/NFD/NFKC/NFKD (utf8proc), Lowercase, Strip,
// StripAccents, Prepend, Replace, ByteLevel and Sequence of them.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/tokenizer/json_fields.h"

namespace lorad {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  /// Normalizes `text` (valid UTF-8) in place.
  virtual absl::Status Normalize(std::string* text) const = 0;

  /// Parses a normalizer object; a null JSON value yields nullptr (no normalization).
  /// Unknown types are an error naming the type and the path.
  static absl::StatusOr<std::unique_ptr<Normalizer>> FromJson(const nlohmann::json& j,
                                                              const JsonPath& at, size_t depth = 0);
};

}  // namespace lorad
