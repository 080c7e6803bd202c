// Watches every optimizer step's loss and gradient norm before the update is
// applied: a non-finite loss or gradient norm, or a loss above `factor` × its
// moving average (of the last `window` accepted steps) for `patience`
// consecutive steps, is divergence.  divergence_policy fail stops the run at
// that step; skip_step drops that step's update and goes on, up to
// kMaxConsecutiveSkips steps in a row.  No LibTorch.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "nlohmann/json.hpp"

namespace lorad {

struct DivergenceOptions {
  bool skip_step = false;  // divergence_policy: skip_step (else fail)
  double factor = 4.0;     // divergence_factor
  int64_t patience = 3;    // divergence_patience: consecutive spiking steps
  int64_t window = 20;     // divergence_window: steps in the moving average
};

class DivergenceGuard {
 public:
  /// skip_step gives up (fails) after this many skipped steps in a row: the run
  /// is not recovering, and silently training nothing would be worse.
  static constexpr int64_t kMaxConsecutiveSkips = 10;
  /// The spike rule needs this many accepted steps in its average first.
  static constexpr int64_t kMinAverageSteps = 5;

  explicit DivergenceGuard(DivergenceOptions options) : options_(options) {}

  enum class Action { kApply, kSkip, kFail };
  struct Verdict {
    Action action = Action::kApply;
    std::string reason;          // "" when kApply without a spike
    double moving_average = 0;   // NaN-free; 0 before any accepted step
    int64_t consecutive = 0;     // spiking steps in a row, this one included
    int64_t first_bad_step = 0;  // first step of the streak (0 = none)
  };
  /// One optimizer step (1-based), before its update.
  Verdict Check(int64_t step, double loss, double grad_norm);

  /// The `divergence` record and a message naming the step and the values.
  nlohmann::json Record(int64_t step, double loss, double grad_norm, const Verdict& v) const;
  std::string Message(int64_t step, double loss, double grad_norm, const Verdict& v) const;

 private:
  double Average() const;

  DivergenceOptions options_;
  std::deque<double> accepted_;  // losses of the last `window` accepted, non-spiking steps
  int64_t spike_streak_ = 0;
  int64_t streak_start_ = 0;
  int64_t skips_in_a_row_ = 0;
};

}  // namespace lorad
