// Who is calling, and the checks on it (issue 11 "Access").
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

struct Caller {
  std::string identity;  // recorded as the job's owner: token name, cert subject or "local"
  bool admin = false;    // may cancel/retry/delete any job
};

/// Compares secrets without an early exit, so timing does not reveal how many
/// leading bytes matched.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

/// Bearer tokens from a file: one `NAME TOKEN [admin]` per line, '#' comments.
class TokenTable {
 public:
  static absl::StatusOr<TokenTable> Load(const std::string& path);
  /// Caller for a presented token, or nullopt (compares against every entry
  /// in constant time per entry).
  std::optional<Caller> Find(std::string_view token) const;
  bool empty() const { return entries_.empty(); }
  void Add(const std::string& name, const std::string& token, bool admin);

 private:
  struct Entry {
    std::string name;
    std::string token;
    bool admin;
  };
  std::vector<Entry> entries_;
};

}  // namespace lorad
