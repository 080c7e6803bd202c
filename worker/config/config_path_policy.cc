#include "worker/config/config_path_policy.h"

#include "absl/status/status.h"

namespace lorad {

absl::Status CheckPathsUnderRoots(const TrainConfig& config,
                                  const std::vector<std::string>& allowed_roots) {
  return absl::UnimplementedError("CheckPathsUnderRoots: in progress");
}

bool IsValidUtf8(std::string_view s) { return false; }

}  // namespace lorad
