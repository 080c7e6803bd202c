// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for the Split and
// ByteLevel pre-tokenizers: `tokenizers` uses Oniguruma, whose syntax for the
// patterns real tokenizer.json files carry (\p{L}, (?i:...), lookahead) PCRE2 shares.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

class PcreRegex {
 public:
  /// `where` names the pattern's origin (e.g. "tokenizer.json: pre_tokenizer.pattern.Regex").
  static absl::StatusOr<std::unique_ptr<PcreRegex>> Compile(std::string_view pattern,
                                                            std::string_view where);
  /// A pattern matching `literal` exactly.
  static absl::StatusOr<std::unique_ptr<PcreRegex>> CompileLiteral(std::string_view literal,
                                                                   std::string_view where);
  ~PcreRegex();
  PcreRegex(const PcreRegex&) = delete;
  PcreRegex& operator=(const PcreRegex&) = delete;

  /// Non-overlapping matches [begin, end) in `text` (valid UTF-8), left to right.
  /// An empty match advances by one character.  Thread-safe.
  absl::Status FindAll(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const;

 private:
  PcreRegex() = default;
  void* code_ = nullptr;  // pcre2_code_8*, kept opaque so pcre2.h stays out of headers
  bool jit_ = false;
  std::string pattern_;
};

}  // namespace lorad
