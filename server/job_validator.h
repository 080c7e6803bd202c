// Submit-time validation of a JobSpec's training config or merge request (the
// seam between the scheduler and the LibTorch-free config library; tests use a
// fake).
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
  v1::MergeTask merge;               // merge jobs: the resolved inputs
};

class JobValidator {
 public:
  virtual ~JobValidator() = default;
  /// Every problem in ONE INVALID_ARGUMENT (field path: reason, one per line);
  /// paths outside the allowed roots or missing files included.
  virtual absl::StatusOr<ValidatedSpec> Validate(const v1::JobSpec& spec) = 0;

  /// A merge of `source`'s adapter (a SUCCEEDED training job the caller may
  /// read; the scheduler checked that): resolves its base model and adapter
  /// dirs, checks out_dir (absolute, allowed roots, empty unless force), dtype
  /// and shard size.  INVALID_ARGUMENT for the request's own problems (all at
  /// once), FAILED_PRECONDITION for what the files on disk refuse.  output_dir
  /// = out_dir; estimated_checkpoint_bytes = the merged model's size.
  virtual absl::StatusOr<ValidatedSpec> ValidateMerge(const v1::MergeSpec& spec,
                                                      const v1::Job& source) = 0;
};

}  // namespace lorad
