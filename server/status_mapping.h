// The one place where absl status codes become gRPC status codes (1:1, as
// Triton's GrpcStatusUtil does): clients need real codes, never a blanket
// UNKNOWN/ABORTED.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace lorad {

grpc::StatusCode ToGrpcCode(absl::StatusCode code);
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::StatusCode FromGrpcCode(grpc::StatusCode code);

}  // namespace lorad
