#include "worker/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace lorad {

double LrLambda(LrScheduler kind, int64_t step, int64_t warmup_steps, int64_t total_steps) {
  // Same expressions, in the same order, as transformers' lr_lambda closures, so
  // the double results agree bit for bit with Python's floats.
  if (step < warmup_steps) {
    return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  }
  switch (kind) {
    case LrScheduler::kConstant:
      return 1.0;
    case LrScheduler::kLinear:
      return std::max(0.0, static_cast<double>(total_steps - step) /
                               static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps)));
    case LrScheduler::kCosine: {
      const double num_cycles = 0.5;
      const double progress = static_cast<double>(step - warmup_steps) /
                              static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
      return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * num_cycles * 2.0 * progress)));
    }
  }
  return 1.0;
}

int64_t ResolveWarmupSteps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  if (warmup_ratio > 0) {
    return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_ratio));
  }
  return 0;
}

int64_t UpdateStepsPerEpoch(int64_t micro_batches_per_epoch, int64_t accumulation) {
  accumulation = std::max<int64_t>(1, accumulation);
  const int64_t steps = micro_batches_per_epoch / accumulation +
                        (micro_batches_per_epoch % accumulation > 0 ? 1 : 0);
  return std::max<int64_t>(1, steps);
}

int64_t TotalTrainingSteps(int64_t max_steps, double num_epochs, int64_t steps_per_epoch) {
  if (max_steps > 0) return max_steps;
  return std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(num_epochs * static_cast<double>(steps_per_epoch))));
}

}  // namespace lorad
