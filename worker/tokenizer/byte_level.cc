#include "worker/tokenizer/byte_level.h"

#include "worker/tokenizer/utf8_util.h"

namespace lorad {

ByteLevelAlphabet::ByteLevelAlphabet() {
  // Printable Latin-1 bytes map to themselves; the 68 others (controls, space,
  // 0x7F-0xA0, 0xAD) map, in ascending byte order, to U+0100, U+0101, ...
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    byte_to_cp_[b] = printable ? static_cast<char32_t>(b) : next++;
    byte_to_utf8_[b] = CodePointToUtf8(byte_to_cp_[b]);
  }
}

const ByteLevelAlphabet& ByteLevelAlphabet::Get() {
  static const ByteLevelAlphabet* const kAlphabet = new ByteLevelAlphabet();
  return *kAlphabet;
}

void ByteLevelAlphabet::EncodeTo(std::string_view text, std::string* out) const {
  out->reserve(out->size() + text.size() * 2);
  for (const char c : text) out->append(byte_to_utf8_[static_cast<uint8_t>(c)]);
}

std::optional<uint8_t> ByteLevelAlphabet::Decode(char32_t cp) const {
  if (cp < 256) {
    const bool printable = (cp >= '!' && cp <= '~') || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE);
    if (printable) return static_cast<uint8_t>(cp);
    return std::nullopt;
  }
  if (cp >= 256 + 68) return std::nullopt;
  // Inverse of the ascending assignment in the constructor.
  for (int b = 0; b < 256; ++b) {
    if (byte_to_cp_[b] == cp) return static_cast<uint8_t>(b);
  }
  return std::nullopt;
}

}  // namespace lorad
