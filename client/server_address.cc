#include "client/server_address.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace lorad {
namespace {

constexpr char kSystemSocket[] = "/run/lorad/lorad.sock";
constexpr char kUserSocket[] = ".lorad/lorad.sock";

ServerAddress UnixAddress(const std::string& path, const std::string& cwd) {
  ServerAddress a;
  const std::string abs = (std::filesystem::path(cwd) / path).lexically_normal().string();
  a.target = absl::StrCat("unix:", abs);
  a.display = abs;
  a.is_unix = true;
  a.is_loopback = true;
  return a;
}

bool IsLoopbackHost(const std::string& host) {
  const std::string h = absl::AsciiStrToLower(host);
  return h == "localhost" || h == "::1" || absl::StartsWith(h, "127.");
}

}  // namespace

std::string DefaultSocketSearchText() {
  return absl::StrCat("./", kUserSocket, " then ", kSystemSocket);
}

absl::StatusOr<ServerAddress> ResolveServerAddress(
    const std::string& given, const std::string& cwd,
    const std::function<bool(const std::string&)>& path_exists) {
  if (given.empty()) {
    const std::string user = (std::filesystem::path(cwd) / kUserSocket).string();
    if (path_exists(user)) return UnixAddress(user, cwd);
    ServerAddress a = UnixAddress(kSystemSocket, cwd);
    a.defaulted = !path_exists(kSystemSocket);
    return a;
  }
  if (absl::StartsWith(given, "unix://")) return UnixAddress(given.substr(7), cwd);
  if (absl::StartsWith(given, "unix:")) {
    if (given.size() == 5) return absl::InvalidArgumentError("--address unix: needs a path");
    return UnixAddress(given.substr(5), cwd);
  }
  if (absl::StartsWith(given, "/") || absl::StartsWith(given, "./") ||
      absl::StartsWith(given, "../") || absl::EndsWith(given, ".sock")) {
    return UnixAddress(given, cwd);
  }
  // HOST:PORT or [V6]:PORT.
  std::string host, port;
  if (absl::StartsWith(given, "[")) {
    const size_t close = given.find("]:");
    if (close != std::string::npos) {
      host = given.substr(1, close - 1);
      port = given.substr(close + 2);
    }
  } else if (const size_t colon = given.rfind(':');
             colon != std::string::npos && given.find(':') == colon) {
    host = given.substr(0, colon);
    port = given.substr(colon + 1);
  }
  int port_number = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &port_number) || port_number <= 0 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address '", given,
        "' is not unix:PATH, a socket path or HOST:PORT (e.g. unix:/run/lorad/lorad.sock, "
        "localhost:7070)"));
  }
  ServerAddress a;
  a.target = given;
  a.display = given;
  a.is_loopback = IsLoopbackHost(host);
  return a;
}

}  // namespace lorad
