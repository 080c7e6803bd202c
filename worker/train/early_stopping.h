// Early stopping on the eval loss (early_stopping_patience /
// early_stopping_threshold, as HF's EarlyStoppingCallback counts): an
// evaluation improves when its loss is below the best so far by more than the
// threshold; `patience` evaluations in a row without one stop the run.  Also
// tracks the best evaluation (lowest eval loss) for keep_best.  No LibTorch.
#pragma once

#include <cstdint>
#include <optional>

namespace lorad {

class EarlyStopping {
 public:
  /// patience 0: never stops (best tracking only).
  EarlyStopping(int64_t patience, double threshold) : patience_(patience), threshold_(threshold) {}

  struct Decision {
    bool new_best = false;  // lowest eval loss so far (keep_best saves this state)
    bool stop = false;      // patience exhausted
    int64_t evals_without_improvement = 0;
  };
  /// A non-finite loss never improves.
  Decision Observe(int64_t step, double eval_loss);

  std::optional<int64_t> best_step() const { return best_step_; }
  double best_loss() const { return best_loss_; }
  int64_t patience() const { return patience_; }
  double threshold() const { return threshold_; }

 private:
  int64_t patience_;
  double threshold_;
  std::optional<int64_t> best_step_;  // lowest loss (strictly lower replaces)
  double best_loss_ = 0;
  int64_t without_improvement_ = 0;
};

}  // namespace lorad
