#include "worker/train/resume_lr_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lorad {
namespace {

const char* DecayText(LrScheduler kind) {
  switch (kind) {
    case LrScheduler::kCosine:
      return "the cosine decay over this run";
    case LrScheduler::kLinear:
      return "the linear decay over this run";
    case LrScheduler::kConstant:
      return "constant (lr_scheduler: constant)";
  }
  return "the configured decay";
}

}  // namespace

nlohmann::json LrPlan::ToJson(LrScheduler kind, int64_t total_steps, int n) const {
  const LrSchedule schedule = Schedule(kind, total_steps);
  nlohmann::json first = nlohmann::json::array();
  for (int64_t s = 1; s <= std::min<int64_t>(n, total_steps); ++s)
    first.push_back(schedule.RateForStep(s));
  nlohmann::json j = {{"type", "lr_policy"},
                      {"policy", policy},
                      {"peak_learning_rate", base_lr},
                      {"warmup_steps", warmup_steps},
                      {"total_steps", total_steps},
                      {"first_learning_rates", first},
                      {"reason", reason}};
  if (previous_peak) j["previous_peak_learning_rate"] = *previous_peak;
  if (previous_last) j["previous_last_learning_rate"] = *previous_last;
  return j;
}

int64_t RewarmWarmupSteps(const TrainConfig& config, int64_t total_steps) {
  if (total_steps <= 1) return 0;  // a warmup step trains at rate 0 (HF): none here
  int64_t w = ResolveWarmupSteps(config.warmup_steps, config.warmup_ratio, total_steps);
  if (w <= 0) w = static_cast<int64_t>(std::ceil(0.05 * static_cast<double>(total_steps)));
  return std::clamp<int64_t>(w, 1, total_steps - 1);
}

LrPlan RestartLrPlan(const TrainConfig& config, int64_t total_steps, std::string reason) {
  LrPlan p;
  p.policy = "restart";
  p.base_lr = config.learning_rate;
  p.warmup_steps = ResolveWarmupSteps(config.warmup_steps, config.warmup_ratio, total_steps);
  p.reason = std::move(reason);
  return p;
}

absl::StatusOr<LrPlan> ChooseResumeLrPlan(const TrainConfig& config, int64_t total_steps,
                                          const AdapterHistory& history) {
  const bool known = history.lr_known();
  std::string policy = config.resume_lr_policy;
  std::string why;
  if (policy.empty()) {
    policy = known ? "rewarm" : "restart";
    why = known ? "default when the adapter records its learning rates"
                : "default: the adapter records no learning rates (not trained by lorad)";
  } else {
    why = "set in the config";
  }
  if (policy != "restart" && !known) {
    return absl::FailedPreconditionError(
        absl::StrCat("resume_lr_policy: ", policy,
                     " needs the learning rates the adapter was trained with, "
                     "and this adapter records none (no lorad_adapter.json with learning_rate and "
                     "peak_learning_rate: not trained by lorad); use resume_lr_policy: restart"));
  }
  LrPlan p;
  if (policy == "restart") {
    p = RestartLrPlan(config, total_steps,
                      absl::StrFormat("%s: the configured schedule from step 0 at learning_rate %g",
                                      why, config.learning_rate));
  } else if (policy == "rewarm") {
    p.policy = "rewarm";
    p.base_lr = config.resume_lr_scale * *history.peak_learning_rate;
    p.warmup_steps = RewarmWarmupSteps(config, total_steps);
    p.reason = absl::StrFormat(
        "%s: warm up over %d step%s to resume_lr_scale %g × the previous peak %g = %g, then %s",
        why, p.warmup_steps, p.warmup_steps == 1 ? "" : "s", config.resume_lr_scale,
        *history.peak_learning_rate, p.base_lr, DecayText(config.lr_scheduler));
  } else {
    p.policy = "continue";
    p.base_lr = *history.last_learning_rate;
    p.warmup_steps = 0;
    p.reason = absl::StrFormat(
        "%s: start at the previous run's last learning rate %g, no "
        "warmup, then %s",
        why, p.base_lr, DecayText(config.lr_scheduler));
  }
  if (known) {
    p.previous_peak = history.peak_learning_rate;
    p.previous_last = history.last_learning_rate;
  }
  return p;
}

LrPlan RestoredLrPlan(const TrainConfig& config, int64_t total_steps, const std::string& policy,
                      double base_lr) {
  if (policy != "rewarm" && policy != "continue") {
    return RestartLrPlan(config, total_steps, "as recorded in the checkpoint");
  }
  LrPlan p;
  p.policy = policy;
  p.base_lr = base_lr;
  p.warmup_steps = policy == "rewarm" ? RewarmWarmupSteps(config, total_steps) : 0;
  p.reason = "as recorded in the checkpoint";
  return p;
}

}  // namespace lorad
