#include "server/auth.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"

namespace lorad {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Length is not secret (tokens have a fixed format); the bytes are.
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 1 << 20));
  TokenTable table;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string name, token, flag, extra;
    if (!(fields >> name)) continue;
    if (!(fields >> token) || token.size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_no, ": expected `NAME TOKEN [admin]` with a token of 16+ characters"));
    }
    fields >> flag;
    if ((!flag.empty() && flag != "admin") || (fields >> extra)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": the third field may only be `admin`"));
    }
    table.Add(name, token, flag == "admin");
  }
  return table;
}

void TokenTable::Add(const std::string& name, const std::string& token, bool admin) {
  entries_.push_back({name, token, admin});
}

std::optional<Caller> TokenTable::Find(std::string_view token) const {
  std::optional<Caller> found;
  for (const Entry& e : entries_) {
    // No early exit: every entry is compared.
    if (ConstantTimeEquals(token, e.token) && !found) found = Caller{e.name, e.admin};
  }
  return found;
}

}  // namespace lorad
