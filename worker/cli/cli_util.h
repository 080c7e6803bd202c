// Helpers shared by the lorad-worker subcommands.
#pragma once

#include "absl/status/status.h"

namespace lorad {

/// The documented exit codes: 0 ok; 2 bad config or input (invalid argument,
/// not found, failed precondition, unimplemented, already exists, data loss,
/// out of range); 130 cancelled (interrupted); 1 anything else.
int ExitCodeFor(const absl::Status& status);

}  // namespace lorad
