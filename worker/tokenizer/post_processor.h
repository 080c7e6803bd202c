// tokenizer.json "post_processor" for single sequences: TemplateProcessing,
// ByteLevel (ids unchanged), RobertaProcessing, BertProcessing and Sequence,
// reduced to the special-token ids placed before and after the sequence.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/tokenizer/json_fields.h"

namespace lorad {

struct SpecialTokenFrame {
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;

  /// prefix + ids + suffix.
  void Apply(std::vector<int32_t>* ids) const;

  /// Parses a post_processor object (JSON null → empty frame).
  static absl::StatusOr<SpecialTokenFrame> FromJson(const nlohmann::json& j, const JsonPath& at,
                                                    size_t depth = 0);
};

}  // namespace lorad
