#include "worker/tokenizer/utf8_util.h"

#include <utf8proc.h>

namespace lorad {

namespace {

// Length of a well-formed sequence starting at s[pos], or 0 when ill-formed
// (the Unicode "maximal subpart" rules, as used by from_utf8_lossy).
size_t ValidSeqLen(std::string_view s, size_t pos) {
  const auto b = [&](size_t i) -> uint8_t { return static_cast<uint8_t>(s[i]); };
  const size_t n = s.size();
  const uint8_t c = b(pos);
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return (pos + 1 < n && (b(pos + 1) & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (pos + 2 >= n) return 0;
    const uint8_t c1 = b(pos + 1);
    const uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
    const uint8_t hi = c == 0xED ? 0x9F : 0xBF;
    if (c1 < lo || c1 > hi) return 0;
    return (b(pos + 2) & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c < 0xF5) {
    if (pos + 3 >= n) return 0;
    const uint8_t c1 = b(pos + 1);
    const uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
    const uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
    if (c1 < lo || c1 > hi) return 0;
    if ((b(pos + 2) & 0xC0) != 0x80 || (b(pos + 3) & 0xC0) != 0x80) return 0;
    return 4;
  }
  return 0;
}

// Bytes to skip for one ill-formed "maximal subpart" (one U+FFFD each).
size_t InvalidSubpartLen(std::string_view s, size_t pos) {
  const auto b = [&](size_t i) -> uint8_t { return static_cast<uint8_t>(s[i]); };
  const uint8_t c = b(pos);
  size_t need = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c < 0xE0) {
    need = 1;
  } else if (c >= 0xE0 && c < 0xF0) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c < 0xF5) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t i = 1;
  for (; i <= need && pos + i < s.size(); ++i) {
    const uint8_t ci = b(pos + i);
    if (i == 1 ? (ci < lo || ci > hi) : (ci & 0xC0) != 0x80) break;
  }
  return i;
}

}  // namespace

char32_t DecodeUtf8At(std::string_view s, size_t pos, size_t* len) {
  const size_t n = ValidSeqLen(s, pos);
  if (n == 0) {
    *len = 1;
    return 0xFFFD;
  }
  *len = n;
  const auto b = [&](size_t i) -> char32_t { return static_cast<uint8_t>(s[pos + i]); };
  switch (n) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string CodePointToUtf8(char32_t cp) {
  std::string s;
  AppendUtf8(cp, &s);
  return s;
}

bool IsValidUtf8(std::string_view s, size_t* bad_offset) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = ValidSeqLen(s, i);
    if (n == 0) {
      if (bad_offset != nullptr) *bad_offset = i;
      return false;
    }
    i += n;
  }
  return true;
}

std::string ToValidUtf8Lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = ValidSeqLen(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += InvalidSubpartLen(s, i);
    }
  }
  return out;
}

bool IsUnicodeWhitespace(char32_t c) {
  switch (c) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool IsUnicodeNumeric(char32_t c) {
  const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

bool IsUnicodeAlphanumeric(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
  const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  // Alphabetic ≈ letters, letter numbers and the combining marks that are
  // alphabetic; utf8proc has no Alphabetic property, so letters + Mn/Mc stands in.
  switch (cat) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_MC:
      return true;
    default:
      return false;
  }
}

bool IsUnicodePunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

}  // namespace lorad
