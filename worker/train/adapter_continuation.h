// The continue-adapter path of a job (--resume of an adapter that is not an
// exact-resume checkpoint): the adapter's settings win over the YAML (as PEFT's
// from_pretrained), then its weights are loaded and proved by the recorded
// probe loss before any step, and the `resume` record says what happened.
#pragma once

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/model/causal_lm.h"
#include "worker/model/lora_settings.h"
#include "worker/train/resume_plan.h"
#include "worker/train/runtime_env.h"
#include "worker/train/training_job.h"

namespace lorad {

class AdapterContinuation {
 public:
  /// `plan` (mode kContinueAdapter) must outlive this object.
  explicit AdapterContinuation(const ResumePlan& plan) : plan_(plan) {}

  /// Replaces `lora` with the adapter's settings (logging which YAML keys lost).
  absl::Status ReadSettings(const TrainConfig& config, LoraSettings& lora);
  /// Loads the weights into `model`, recomputes the probe loss, emits the
  /// `resume` record; FAILED_PRECONDITION when the probe loss does not match.
  absl::Status LoadWeights(CausalLm& model, const RuntimeEnv& env, TrainerObserver& observer);

 private:
  const ResumePlan& plan_;
  nlohmann::json record_;
};

}  // namespace lorad
