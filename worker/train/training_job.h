// The training core's entry point as its front ends see it (lorad-worker run
// and lorad-worker serve).  No LibTorch in this header.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"

namespace lorad {

/// Receives every record the trainer produces: one JSON object with a "type"
/// ("step", "checkpoint", "resume", "eval", "final", ...), exactly the objects
/// `lorad-worker run` prints on stdout.  Called on the training thread.
class TrainerObserver {
 public:
  virtual ~TrainerObserver() = default;
  virtual void OnRecord(const nlohmann::json& record) = 0;
};

struct RunOptions {
  std::string resume;       // "" | "auto" | DIR  (--resume)
  bool overwrite = false;   // --overwrite
  bool dry_run = false;     // --dry-run: resolve, count, estimate; no training
  int64_t stop_after = 0;   // --stop-after N optimizer steps (then a clean stop)
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int threads = 0;          // 0 = the CPUs this process may run on
  bool allow_data_change = false;
  /// Test-only: step N's loss and gradients become NaN (divergence tests);
  /// 0 = the LORAD_TEST_INJECT_NAN_AT_STEP environment variable, if set.
  int64_t inject_nan_at_step = 0;
};

/// Runs one job to the end.  Returns:
///  - OK when training finished (or dry run done);
///  - CANCELLED when stopped via `stop` / --stop-after, after a checkpoint was written;
///  - INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION / UNIMPLEMENTED for bad
///    config or input detected before any training step (exit code 2);
///  - RESOURCE_EXHAUSTED for out-of-memory (with sizes), other codes for failures.
/// LibTorch exceptions never escape.
absl::Status RunTrainingJob(const TrainConfig& config, const RunOptions& options,
                            TrainerObserver& observer, const std::atomic<bool>& stop);

}  // namespace lorad
