// UTF-8 helpers shared by the tokenizer's components.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lorad {

/// Decodes the code point at `s[pos]`; sets `*len` to its byte length.  Invalid
/// input yields U+FFFD with length 1 (callers validate first where it matters).
char32_t DecodeUtf8At(std::string_view s, size_t pos, size_t* len);
void AppendUtf8(char32_t cp, std::string* out);
std::string CodePointToUtf8(char32_t cp);
/// True when `s` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
/// On failure `*bad_offset` (if given) receives the offset of the first bad byte.
bool IsValidUtf8(std::string_view s, size_t* bad_offset = nullptr);
/// Replaces each ill-formed sequence by U+FFFD, as Rust's from_utf8_lossy does.
std::string ToValidUtf8Lossy(std::string_view s);
/// Rust's char::is_whitespace (the Unicode White_Space property).
bool IsUnicodeWhitespace(char32_t c);
/// Rust's char::is_alphanumeric (Unicode Alphabetic or Numeric).
bool IsUnicodeAlphanumeric(char32_t c);
/// Rust's char::is_numeric (general categories Nd, Nl, No).
bool IsUnicodeNumeric(char32_t c);
/// tokenizers' is_punc: ASCII punctuation or a Unicode P* category.
bool IsUnicodePunctuation(char32_t c);

}  // namespace lorad
