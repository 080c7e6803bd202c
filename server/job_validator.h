// Submit-time validation of a JobSpec's training config (the seam between the
// scheduler and the LibTorch-free config library; tests use a fake).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {

struct ValidatedSpec {
  std::string output_dir;            // absolute
  std::string resolved_config_json;  // typed config after defaults and overrides
  int64_t estimated_steps = 0;       // 0 = unknown
  int64_t estimated_checkpoint_bytes = 0;
  int64_t checkpoints_kept = 1;      // save_total_limit (or an estimate when unlimited)
  std::vector<std::string> warnings;
};

class JobValidator {
 public:
  virtual ~JobValidator() = default;
  /// Every problem in ONE INVALID_ARGUMENT (field path: reason, one per line);
  /// paths outside the allowed roots or missing files included.
  virtual absl::StatusOr<ValidatedSpec> Validate(const v1::JobSpec& spec) = 0;
};

}  // namespace lorad
