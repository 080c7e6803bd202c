#include "worker/train/early_stopping.h"

#include <cmath>

namespace lorad {

EarlyStopping::Decision EarlyStopping::Observe(int64_t step, double eval_loss) {
  Decision d;
  const bool finite = std::isfinite(eval_loss);
  // As HF's EarlyStoppingCallback: an improvement beats the best so far by more
  // than the threshold; a smaller gain still becomes the best (Trainer's
  // best_metric) but counts as no improvement.
  const bool improved =
      finite && (!best_step_ || (eval_loss < best_loss_ && best_loss_ - eval_loss > threshold_));
  without_improvement_ = improved ? 0 : without_improvement_ + 1;
  if (finite && (!best_step_ || eval_loss < best_loss_)) {
    best_step_ = step;
    best_loss_ = eval_loss;
    d.new_best = true;
  }
  d.evals_without_improvement = without_improvement_;
  d.stop = patience_ > 0 && without_improvement_ >= patience_;
  return d;
}

}  // namespace lorad
