#include "worker/base/byte_size.h"

#include <cctype>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace lorad {

absl::StatusOr<uint64_t> ParseByteSize(const std::string& text) {
  std::string upper;
  for (char c : text)
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  static const std::pair<const char*, uint64_t> kUnits[] = {{"GIB", uint64_t{1} << 30},
                                                            {"MIB", uint64_t{1} << 20},
                                                            {"KIB", uint64_t{1} << 10},
                                                            {"GB", 1'000'000'000},
                                                            {"MB", 1'000'000},
                                                            {"KB", 1'000},
                                                            {"B", 1}};
  uint64_t unit = 1;
  std::string digits = upper;
  for (const auto& [suffix, mult] : kUnits) {
    const size_t n = std::string(suffix).size();
    if (upper.size() > n && upper.compare(upper.size() - n, n, suffix) == 0) {
      unit = mult;
      digits = upper.substr(0, upper.size() - n);
      break;
    }
  }
  uint64_t value = 0, bytes = 0;
  if (!absl::SimpleAtoi(digits, &value) || value == 0 ||
      __builtin_mul_overflow(value, unit, &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "size '", text, "': expected a positive size such as 2GB, 500MB, 512MiB or bytes"));
  }
  return bytes;
}

}  // namespace lorad
