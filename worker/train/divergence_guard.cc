#include "worker/train/divergence_guard.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lorad {
namespace {

nlohmann::json Finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

const char* ActionName(DivergenceGuard::Action a) {
  switch (a) {
    case DivergenceGuard::Action::kApply:
      return "apply";
    case DivergenceGuard::Action::kSkip:
      return "skip_step";
    case DivergenceGuard::Action::kFail:
      return "fail";
  }
  return "fail";
}

}  // namespace

double DivergenceGuard::Average() const {
  if (accepted_.empty()) return 0;
  return std::accumulate(accepted_.begin(), accepted_.end(), 0.0) /
         static_cast<double>(accepted_.size());
}

DivergenceGuard::Verdict DivergenceGuard::Check(int64_t step, double loss, double grad_norm) {
  Verdict v;
  v.moving_average = Average();
  const bool finite = std::isfinite(loss) && std::isfinite(grad_norm);
  const bool averaged = static_cast<int64_t>(accepted_.size()) >= kMinAverageSteps;
  const bool spike = finite && averaged && loss > options_.factor * v.moving_average;
  if (!finite) {
    v.reason = !std::isfinite(loss) ? "non-finite loss" : "non-finite gradient norm";
  } else if (spike) {
    if (spike_streak_ == 0) streak_start_ = step;
    ++spike_streak_;
    v.consecutive = spike_streak_;
    if (spike_streak_ < options_.patience) {
      // Not (yet) divergence: applied, but kept out of the average.
      v.first_bad_step = streak_start_;
      return v;
    }
    v.reason = absl::StrFormat("loss above %g × its moving average for %d consecutive steps",
                               options_.factor, spike_streak_);
  } else {
    spike_streak_ = 0;
    skips_in_a_row_ = 0;
    accepted_.push_back(loss);
    while (static_cast<int64_t>(accepted_.size()) > std::max<int64_t>(1, options_.window)) {
      accepted_.pop_front();
    }
    return v;
  }
  // Divergence at this step.
  v.consecutive = finite ? spike_streak_ : 1;
  v.first_bad_step = finite ? streak_start_ : step;
  if (options_.skip_step && skips_in_a_row_ < kMaxConsecutiveSkips) {
    ++skips_in_a_row_;
    v.action = Action::kSkip;
  } else {
    if (options_.skip_step) {
      v.reason = absl::StrFormat("%s, and %d steps in a row were already skipped", v.reason,
                                 skips_in_a_row_);
    }
    v.action = Action::kFail;
  }
  return v;
}

std::string DivergenceGuard::Message(int64_t step, double loss, double grad_norm,
                                     const Verdict& v) const {
  std::string what = absl::StrFormat("step %d: %s (loss %g, gradient norm %g, moving average %g)",
                                     step, v.reason, loss, grad_norm, v.moving_average);
  if (v.action == Action::kSkip) return absl::StrCat("diverging at ", what, ": update skipped");
  return absl::StrCat("training diverged at ", what);
}

nlohmann::json DivergenceGuard::Record(int64_t step, double loss, double grad_norm,
                                       const Verdict& v) const {
  return {{"type", "divergence"},
          {"step", step},
          {"loss", Finite(loss)},
          {"grad_norm", Finite(grad_norm)},
          {"moving_average", v.moving_average},
          {"factor", options_.factor},
          {"consecutive", v.consecutive},
          {"first_bad_step", v.first_bad_step},
          {"action", ActionName(v.action)},
          {"reason", v.reason},
          {"message", Message(step, loss, grad_norm, v)}};
}

}  // namespace lorad
