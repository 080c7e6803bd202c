// loractl's exit statuses and the one mapping from an error to them.
// Scripts branch on these numbers, so they are part of the CLI's contract and
// are documented in every `--help` and in the README.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace lorad {

enum class ExitCode : int {
  kOk = 0,
  /// The job failed or was cancelled (`wait`, `submit --follow`), or an
  /// error that fits none of the classes below.
  kJobFailed = 1,
  /// Bad command line, or the config / request was refused as invalid.
  kUsage = 2,
  /// The server could not be reached (not running, wrong address, timeout).
  kUnreachable = 3,
  /// The job (or other object) does not exist.
  kNotFound = 4,
  /// Not authenticated, or not permitted.
  kDenied = 5,
  /// Ctrl-C: loractl detached; the job keeps running.
  kInterrupted = 130,
};

/// The exit status for the outcome of a command.  Every command returns an
/// absl::Status; this is the only place that turns it into a number.
ExitCode ExitCodeForStatus(const absl::Status& status);

/// The exit-status table printed at the end of every `--help`.
std::string ExitCodeHelp();

}  // namespace lorad
