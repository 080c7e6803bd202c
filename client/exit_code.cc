#include "client/exit_code.h"

namespace lorad {

ExitCode ExitCodeForStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return ExitCode::kOk;
    // Something the user can fix by changing what they asked for.
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return ExitCode::kUsage;
    case absl::StatusCode::kUnavailable:
      return ExitCode::kUnreachable;
    case absl::StatusCode::kNotFound:
      return ExitCode::kNotFound;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return ExitCode::kDenied;
    // Only loractl's own interrupt handler produces CANCELLED (a server-side
    // cancel of a job is a job outcome, reported as ABORTED by the commands).
    case absl::StatusCode::kCancelled:
      return ExitCode::kInterrupted;
    default:
      // Job failed/cancelled (ABORTED), wait timeout (DEADLINE_EXCEEDED),
      // server errors (INTERNAL, RESOURCE_EXHAUSTED, ...).
      return ExitCode::kJobFailed;
  }
}

std::string ExitCodeHelp() {
  return "Exit status:\n"
         "  0    success\n"
         "  1    the job failed or was cancelled (wait, submit --follow), wait --timeout\n"
         "       elapsed, or another server error\n"
         "  2    usage error, or the config/request was refused as invalid\n"
         "  3    cannot reach lorad (not running, wrong --address, TLS mismatch)\n"
         "  4    job not found\n"
         "  5    not authenticated or not permitted\n"
         "  130  interrupted (Ctrl-C); a followed job keeps running\n";
}

}  // namespace lorad
