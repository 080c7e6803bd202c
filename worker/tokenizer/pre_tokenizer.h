// tokenizer.json "pre_tokenizer": Split, ByteLevel, Metaspace, Digits,
// Punctuation, Whitespace, WhitespaceSplit and Sequence, with the split
// behaviours of `tokenizers` (Removed, Isolated, MergedWithPrevious,
// MergedWithNext, Contiguous; invert).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/tokenizer/json_fields.h"

namespace lorad {

/// A piece of normalized text on its way to the model.
struct PreToken {
  std::string text;
  /// True when the piece begins at offset 0 of the original input (Metaspace's
  /// prepend_scheme "first" only prepends there).
  bool at_input_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Splits/transforms `pieces` in place; empty pieces are dropped.
  virtual absl::Status PreTokenize(std::vector<PreToken>* pieces) const = 0;

  /// Parses a pre_tokenizer object; JSON null yields nullptr (the whole piece goes
  /// to the model).  Unknown types are an error naming the type and the path.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const nlohmann::json& j,
                                                                const JsonPath& at,
                                                                size_t depth = 0);
};

/// GPT-2's pre-tokenization pattern (ByteLevel with use_regex).
inline constexpr char kGpt2SplitPattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace lorad
