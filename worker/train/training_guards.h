// The in-run guardrails, wired into the Trainer's hooks by TrainingJobRunner:
// divergence (before each update), early stopping, the overfitting warning and
// best-eval tracking for keep_best (after each evaluation).  Each emits its
// record (`divergence`, `early_stopping`, `overfitting`) and log line here, so
// the runner and the trainer only connect them.  No LibTorch.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/train/divergence_guard.h"
#include "worker/train/early_stopping.h"
#include "worker/train/overfit_detector.h"
#include "worker/train/training_job.h"

namespace lorad {

class TrainingGuards {
 public:
  TrainingGuards(const TrainConfig& config, TrainerObserver& observer);

  enum class StepAction { kApply, kSkip };
  /// Before step `step`'s update.  ABORTED (naming the step and values) when
  /// the run diverged under divergence_policy fail.
  absl::StatusOr<StepAction> OnStep(int64_t step, double loss, double grad_norm);

  struct EvalOutcome {
    bool new_best = false;  // keep_best: save this state
    bool stop = false;      // early stopping: end the run cleanly now
  };
  EvalOutcome OnEval(int64_t step, double eval_loss);

  /// Exact resume: replays the evaluations of the restored history (no
  /// records), so early stopping and keep_best go on where they were.
  void Replay(const nlohmann::json& log_history);

  bool keep_best() const { return keep_best_; }
  std::optional<int64_t> best_step() const { return early_.best_step(); }
  double best_eval_loss() const { return early_.best_loss(); }
  /// After a divergence failure: checkpoints from this step on hold updates
  /// made while the loss was already spiking (0 = none).
  int64_t first_bad_step() const { return first_bad_step_; }

 private:
  TrainerObserver& observer_;
  DivergenceGuard divergence_;
  EarlyStopping early_;
  OverfitDetector overfit_;
  bool keep_best_;
  double train_loss_sum_ = 0;  // applied steps since the previous evaluation
  int64_t train_loss_steps_ = 0;
  int64_t first_bad_step_ = 0;
};

}  // namespace lorad
