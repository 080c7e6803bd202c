#include "client/rpc_error.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lorad {
namespace {

// gRPC's own transport failures (as opposed to an UNAVAILABLE the server sent).
bool IsTransportFailure(const std::string& message) {
  const std::string m = absl::AsciiStrToLower(message);
  return m.empty() || absl::StrContains(m, "connect") || absl::StrContains(m, "socket") ||
         absl::StrContains(m, "no such file") || absl::StrContains(m, "dns") ||
         absl::StrContains(m, "resolve") || absl::StrContains(m, "backends");
}

bool IsTlsFailure(const std::string& message) {
  const std::string m = absl::AsciiStrToLower(message);
  return absl::StrContains(m, "ssl") || absl::StrContains(m, "tls") ||
         absl::StrContains(m, "handshake") || absl::StrContains(m, "certificate");
}

}  // namespace

std::string UnreachableMessage(const ServerAddress& address) {
  if (address.defaulted) {
    return "cannot reach lorad: no socket at ./.lorad/lorad.sock or /run/lorad/lorad.sock. "
           "Is it running? `systemctl status lorad`, or start one here with `lorad`, or pass "
           "--address (LORAD_ADDRESS)";
  }
  std::string m = absl::StrCat("cannot reach lorad at ", address.display,
                               ": is it running? `systemctl status lorad`");
  if (!address.is_unix) absl::StrAppend(&m, " (check --address, and --tls/--tls-ca for TLS)");
  return m;
}

absl::Status FromGrpcStatus(const grpc::Status& status, const ServerAddress& address,
                            const std::string& what, double timeout_seconds) {
  const std::string msg = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::UNAVAILABLE:
      if (IsTlsFailure(msg)) {
        return absl::UnavailableError(absl::StrCat(
            "TLS handshake with lorad at ", address.display,
            " failed: check --tls-ca, --tls-server-name and the client certificate"));
      }
      if (IsTransportFailure(msg)) return absl::UnavailableError(UnreachableMessage(address));
      return absl::UnavailableError(
          absl::StrCat("lorad at ", address.display, " is unavailable: ", msg));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::UnavailableError(absl::StrCat(
          "lorad at ", address.display, " did not answer ", what,
          timeout_seconds > 0 ? absl::StrCat(" within ", timeout_seconds, "s") : std::string(),
          " (is it overloaded or stuck? raise --request-timeout)"));
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::UnauthenticatedError(absl::StrCat(
          "lorad at ", address.display, " did not accept our credentials",
          msg.empty() ? "" : absl::StrCat(" (", msg, ")"),
          ": pass a valid --token-file (LORAD_TOKEN_FILE) or client certificate"));
    case grpc::StatusCode::PERMISSION_DENIED:
      return absl::PermissionDeniedError(absl::StrCat(
          "not permitted to ", what, msg.empty() ? "" : absl::StrCat(": ", msg)));
    case grpc::StatusCode::NOT_FOUND:
      return absl::NotFoundError(msg.empty() ? absl::StrCat(what, " not found") : msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return absl::InvalidArgumentError(absl::StrCat("lorad refused ", what, ":\n", msg));
    case grpc::StatusCode::FAILED_PRECONDITION:
      return absl::FailedPreconditionError(msg.empty() ? absl::StrCat("cannot ", what) : msg);
    case grpc::StatusCode::ALREADY_EXISTS:
      return absl::AlreadyExistsError(msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(absl::StrCat("lorad is at its limit: ", msg));
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::UnimplementedError(absl::StrCat(
          "lorad at ", address.display, " does not support ", what,
          " (an older server? compare `loractl version`)"));
    case grpc::StatusCode::CANCELLED:
      return absl::CancelledError("interrupted");
    default:
      // The numeric codes of gRPC and absl are the same (google.rpc.Code).
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          absl::StrCat("lorad failed to ", what,
                                       msg.empty() ? "" : absl::StrCat(": ", msg)));
  }
}

}  // namespace lorad
