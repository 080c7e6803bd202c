// tokenizer.json "decoder": ByteLevel, Metaspace, Replace, ByteFallback, Fuse,
// Strip and Sequence, applied to the list of token strings as the reference does.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/tokenizer/json_fields.h"

namespace lorad {

class Decoder {
 public:
  virtual ~Decoder() = default;
  /// Transforms the token strings (the chain's next step sees the result).
  virtual void DecodeChain(std::vector<std::string>* tokens) const = 0;

  /// JSON null → nullptr (tokens are then joined with spaces, as the reference does).
  static absl::StatusOr<std::unique_ptr<Decoder>> FromJson(const nlohmann::json& j,
                                                           const JsonPath& at, size_t depth = 0);
};

}  // namespace lorad
