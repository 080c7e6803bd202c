// Writes output_dir/checkpoint-STEP/ (adapter + training state, atomically via
// the checkpoint library) and the final adapter in output_dir; applies
// save_total_limit; announces each with a `checkpoint` record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "worker/data/batch_cursor.h"
#include "worker/formats/adapter_config.h"
#include "worker/model/causal_lm.h"
#include "worker/train/adamw.h"
#include "worker/train/training_job.h"
#include "worker/train/training_state_io.h"

namespace lorad {

struct CheckpointSaverOptions {
  std::filesystem::path output_dir;
  int64_t save_total_limit = 0;
  std::filesystem::path protected_checkpoint;  // the one resumed from (never pruned)
  int64_t logging_steps = 1;
  int64_t save_steps = 0;
  int64_t micro_batch_size = 1;
};

class CheckpointSaver {
 public:
  /// `static_state` carries the fields that do not change during the run
  /// (schedule, env, fingerprint, config); progress, cursor, optimizer and RNG
  /// are captured at each save.  `sidecar` returns lorad_adapter.json's content
  /// (probe loss, data profile) for the current weights.
  CheckpointSaver(CheckpointSaverOptions options, CausalLm model, AdamW& optimizer,
                  const BatchCursor& cursor, TrainingStateFiles static_state,
                  AdapterConfig adapter_config,
                  std::function<nlohmann::json(const TrainingProgress&)> sidecar,
                  const Batch* probe_batch, TrainerObserver& observer);

  /// reason: "save_steps" | "stop" | "best" | "final".  "final" also writes
  /// the adapter and trainer_state.json into output_dir.
  absl::Status Save(const TrainingProgress& progress, const std::string& reason);

  void set_total_steps(int64_t total) { static_state_.total_steps = total; }

  /// keep_best: checkpoint-`step` holds the best eval loss so far.  It is kept
  /// whatever save_total_limit says, and the final output is its adapter.
  void set_best(int64_t step, double eval_loss);

 private:
  absl::Status WriteFinalOutput(const TrainingProgress& progress, const nlohmann::json& sidecar);
  std::filesystem::path CheckpointPath(int64_t step) const;

  CheckpointSaverOptions options_;
  CausalLm model_;
  AdamW& optimizer_;
  const BatchCursor& cursor_;
  TrainingStateFiles static_state_;
  AdapterConfig adapter_config_;
  std::function<nlohmann::json(const TrainingProgress&)> sidecar_;
  const Batch* probe_batch_;
  TrainerObserver& observer_;
  std::optional<std::pair<int64_t, double>> best_;  // keep_best: (step, eval loss)
};

}  // namespace lorad
