// Learning-rate schedules and step counts exactly as Hugging Face computes them
// (transformers optimization.py get_{cosine,linear,constant}_schedule_with_warmup,
// Trainer's total-steps arithmetic).  No LibTorch.
#pragma once

#include <cstdint>

#include "worker/config/train_config.h"

namespace lorad {

/// The multiplier HF's LambdaLR applies at scheduler position `step` (0-based:
/// the first optimizer step uses position 0, so with warmup it trains at lr 0,
/// exactly as HF does).
double LrLambda(LrScheduler kind, int64_t step, int64_t warmup_steps, int64_t total_steps);

/// warmup_steps if set (> 0), else ceil(warmup_ratio × total) (HF get_warmup_steps).
int64_t ResolveWarmupSteps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

/// Optimizer steps per epoch: ceil(micro_batches / accumulation), at least 1
/// (transformers ≥ 4.46; the last group of an epoch may be short).
int64_t UpdateStepsPerEpoch(int64_t micro_batches_per_epoch, int64_t accumulation);

/// max_steps wins when > 0; else ceil(num_epochs × steps per epoch).
int64_t TotalTrainingSteps(int64_t max_steps, double num_epochs, int64_t steps_per_epoch);

/// The schedule of one run: base rate and its resolved shape.
class LrSchedule {
 public:
  LrSchedule(LrScheduler kind, double base_lr, int64_t warmup_steps, int64_t total_steps)
      : kind_(kind), base_lr_(base_lr), warmup_(warmup_steps), total_(total_steps) {}
  /// The rate used by optimizer step `step` (1-based).
  double RateForStep(int64_t step) const {
    return base_lr_ * LrLambda(kind_, step - 1, warmup_, total_);
  }
  int64_t warmup_steps() const { return warmup_; }
  int64_t total_steps() const { return total_; }

 private:
  LrScheduler kind_;
  double base_lr_;
  int64_t warmup_;
  int64_t total_;
};

}  // namespace lorad
