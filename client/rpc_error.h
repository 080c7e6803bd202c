// Turns a failed gRPC call into an absl::Status whose message tells a human
// what happened and what to do next; never a raw gRPC dump.  The status code
// drives loractl's exit status (exit_code.h).
#pragma once

#include <string>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "client/server_address.h"

namespace lorad {

/// `what` names the request for messages, e.g. "submit" or "job 01J9...".
/// `timeout_seconds` is the deadline the call had (0 = none).
absl::Status FromGrpcStatus(const grpc::Status& status, const ServerAddress& address,
                            const std::string& what, double timeout_seconds = 0);

/// The message for "nothing answers at this address", shared with the
/// connect-time check.
std::string UnreachableMessage(const ServerAddress& address);

}  // namespace lorad
