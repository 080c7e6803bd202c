// The learning-rate schedule of a run that continues an adapter
// (resume_lr_policy):
//  - restart: the configured schedule from step 0, warmup included, at the
//    configured learning_rate (Axolotl's lora_model_dir behaviour);
//  - rewarm: a short warmup to resume_lr_scale × the previous run's peak rate,
//    then the configured decay (the adapter is already trained: no full peak);
//  - continue: no warmup; the first step uses exactly the rate the previous run
//    ended with, and the configured decay runs from there over this run.
// Default: rewarm when the adapter records its rates, restart otherwise.
// Every plan is an LrSchedule (HF's lambdas) with a base rate and a warmup, so
// an exact resume of a continued run rebuilds it from the two recorded values.
// No LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/train/adapter_history.h"
#include "worker/train/lr_schedule.h"

namespace lorad {

struct LrPlan {
  std::string policy = "restart";  // restart | rewarm | continue
  double base_lr = 0;              // the schedule's peak (LrSchedule base rate)
  int64_t warmup_steps = 0;
  std::string reason;                   // one sentence: why this policy and rate
  std::optional<double> previous_peak;  // the adapter's recorded rates, when known
  std::optional<double> previous_last;

  LrSchedule Schedule(LrScheduler kind, int64_t total_steps) const {
    return LrSchedule(kind, base_lr, warmup_steps, total_steps);
  }
  /// The `lr_policy` record, with the rates of the first `n` steps.
  nlohmann::json ToJson(LrScheduler kind, int64_t total_steps, int n = 5) const;
};

/// Warmup of `rewarm`: the configured warmup (warmup_steps / warmup_ratio of
/// this run) when set, else 5% of the run's steps (at least 1), and always
/// fewer than the run's steps so the peak is reached (none for a 1-step run).
int64_t RewarmWarmupSteps(const TrainConfig& config, int64_t total_steps);

/// A new run, or continuing an adapter without the policy applying: restart.
LrPlan RestartLrPlan(const TrainConfig& config, int64_t total_steps, std::string reason);

/// The plan for continuing an adapter with `history`.  FAILED_PRECONDITION when
/// rewarm/continue is asked for and the adapter does not record its rates.
absl::StatusOr<LrPlan> ChooseResumeLrPlan(const TrainConfig& config, int64_t total_steps,
                                          const AdapterHistory& history);

/// An exact resume: the plan recorded in the checkpoint (`policy`, `base_lr`)
/// with its warmup recomputed for `total_steps` (which a resume may change).
LrPlan RestoredLrPlan(const TrainConfig& config, int64_t total_steps, const std::string& policy,
                      double base_lr);

}  // namespace lorad
