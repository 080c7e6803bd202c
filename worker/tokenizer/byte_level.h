// GPT-2's bytes_to_unicode table: every byte maps to a printable code point so
// that byte-level BPE vocabularies are valid UTF-8 strings.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lorad {

class ByteLevelAlphabet {
 public:
  static const ByteLevelAlphabet& Get();

  /// UTF-8 of the code point byte `b` maps to.
  const std::string& Encode(uint8_t b) const { return byte_to_utf8_[b]; }
  /// Appends the mapped form of every byte of `text`.
  void EncodeTo(std::string_view text, std::string* out) const;
  /// The byte a mapped code point stands for; nullopt for other code points.
  std::optional<uint8_t> Decode(char32_t cp) const;
  char32_t CodePoint(uint8_t b) const { return byte_to_cp_[b]; }

 private:
  ByteLevelAlphabet();
  std::array<char32_t, 256> byte_to_cp_{};
  std::array<std::string, 256> byte_to_utf8_;
};

}  // namespace lorad
