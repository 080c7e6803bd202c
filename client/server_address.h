// Where lorad is: --address / LORAD_ADDRESS, or the default socket search.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace lorad {

struct ServerAddress {
  std::string target;   // gRPC target: "unix:/abs/path.sock" or "host:port"
  std::string display;  // for messages: the socket path or host:port
  bool is_unix = false;
  bool is_loopback = false;  // unix sockets count as local too
  /// No address was given and the default socket does not exist either.
  bool defaulted = false;
};

/// Resolves `given` (empty = default search: CWD/.lorad/lorad.sock when it
/// exists, else /run/lorad/lorad.sock).  Accepted: "unix:PATH", "unix://PATH",
/// a path (absolute, ./, ../ or ending in .sock), "HOST:PORT", "[V6]:PORT".
/// Relative socket paths become absolute against `cwd`.
absl::StatusOr<ServerAddress> ResolveServerAddress(
    const std::string& given, const std::string& cwd,
    const std::function<bool(const std::string&)>& path_exists);

/// The default socket paths, in search order, for messages and docs.
std::string DefaultSocketSearchText();

}  // namespace lorad
