// The trainer's own counters and history: what a checkpoint stores besides the
// weights, optimizer moments and RNG, so that a resumed run continues (and
// logs) exactly as the uninterrupted one.  No LibTorch.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace lorad {

struct TrainingProgress {
  int64_t global_step = 0;  // optimizer steps done
  double epoch = 0;         // float epoch after the last step
  // Loss of the optimizer steps since the last `step` record (HF logs their mean).
  double loss_since_log = 0;
  int64_t steps_since_log = 0;
  int64_t tokens_since_log = 0;
  int64_t trained_tokens_since_log = 0;
  double seconds_since_log = 0;
  int64_t total_tokens = 0;         // non-padding input tokens seen by the run
  int64_t total_trained_tokens = 0;
  double elapsed_seconds = 0;       // training wall time over all sessions
  double last_learning_rate = 0;
  double last_loss = 0;
  nlohmann::json log_history = nlohmann::json::array();  // records, HF's log_history

  nlohmann::json ToJson() const;
  /// DATA_LOSS naming the missing/bad key.
  static absl::StatusOr<TrainingProgress> FromJson(const nlohmann::json& j);
};

}  // namespace lorad
