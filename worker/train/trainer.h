// The step loop: micro-batches → forward/backward → clip → AdamW at the
// scheduled rate → records; checkpoints and evaluations through hooks so the
// loop knows nothing about files.  Cancellation is a flag checked between
// optimizer steps; a clean stop always checkpoints first.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/config/train_config.h"
#include "worker/data/batch_cursor.h"
#include "worker/model/causal_lm.h"
#include "worker/train/adamw.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/training_job.h"
#include "worker/train/training_progress.h"

namespace lorad {

struct TrainerOptions {
  int64_t gradient_accumulation_steps = 1;
  double max_grad_norm = 1.0;
  int64_t logging_steps = 1;
  int64_t save_steps = 0;  // 0 = only at the end / on stop
  int64_t eval_steps = 0;  // 0 = no periodic eval
  int64_t stop_after = 0;  // optimizer steps of this session, then a clean stop
  bool packed = false;
  /// Test hook (LORAD_TEST_INJECT_NAN_AT_STEP): this step's loss and gradients
  /// become NaN after the backward pass, as a diverged step's would.
  int64_t inject_nan_at_step = 0;
  torch::Device device = torch::kCPU;
};

enum class TrainerOutcome { kFinished, kStopped, kEarlyStopped };

class Trainer {
 public:
  /// Why a checkpoint is written: "save_steps", "final", "stop".
  using CheckpointHook = std::function<absl::Status(const TrainingProgress&, const std::string&)>;
  /// Returns the eval record (type "eval") for the current weights.
  using EvalHook = std::function<absl::StatusOr<nlohmann::json>(const TrainingProgress&)>;
  /// Steps-per-second style progress for a bar: (done, total).
  using ProgressHook = std::function<void(int64_t, int64_t)>;
  /// Before step `step`'s update, with its loss and gradient norm: true applies
  /// the update, false skips it; an error ends the run at that step (no
  /// checkpoint of that state).
  using UpdateGuard =
      std::function<absl::StatusOr<bool>(int64_t step, double loss, double grad_norm)>;
  /// After each eval record: true ends the run cleanly now (final checkpoint
  /// and adapter written, outcome kEarlyStopped).
  using EvalGuard =
      std::function<absl::StatusOr<bool>(const TrainingProgress&, const nlohmann::json& record)>;

  Trainer(CausalLm model, AdamW& optimizer, BatchCursor& cursor, const LrSchedule& schedule,
          TrainerOptions options, TrainerObserver& observer, const std::atomic<bool>& stop);

  void set_checkpoint_hook(CheckpointHook hook) { checkpoint_hook_ = std::move(hook); }
  void set_eval_hook(EvalHook hook) { eval_hook_ = std::move(hook); }
  void set_progress_hook(ProgressHook hook) { progress_hook_ = std::move(hook); }
  void set_update_guard(UpdateGuard guard) { update_guard_ = std::move(guard); }
  void set_eval_guard(EvalGuard guard) { eval_guard_ = std::move(guard); }
  /// Continue from a restored state (exact resume).
  void set_progress(TrainingProgress progress) { progress_ = std::move(progress); }
  const TrainingProgress& progress() const { return progress_; }

  /// Trains until the schedule's total steps, a stop, or an error.
  absl::StatusOr<TrainerOutcome> Run();

 private:
  absl::Status TrainOneStep();
  void EmitStepRecord(double grad_norm);

  CausalLm model_;
  AdamW& optimizer_;
  BatchCursor& cursor_;
  const LrSchedule& schedule_;
  TrainerOptions options_;
  TrainerObserver& observer_;
  const std::atomic<bool>& stop_;
  std::vector<torch::Tensor> params_;
  TrainingProgress progress_;
  CheckpointHook checkpoint_hook_;
  EvalHook eval_hook_;
  ProgressHook progress_hook_;
  UpdateGuard update_guard_;
  EvalGuard eval_guard_;
  double last_grad_norm_ = 0;
  int64_t skipped_since_log_ = 0;  // steps whose update a guard skipped
};

}  // namespace lorad
