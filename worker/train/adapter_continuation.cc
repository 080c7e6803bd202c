#include "worker/train/adapter_continuation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "worker/base/status_macros.h"
#include "worker/train/adapter_continue.h"

namespace lorad {

absl::Status AdapterContinuation::ReadSettings(const TrainConfig& config, LoraSettings& lora) {
  LORAD_ASSIGN_OR_RETURN(ContinueAdapterSettings adapter, ReadContinueAdapterSettings(plan_.dir, lora));
  if (!adapter.overridden.empty()) {
    spdlog::info("the adapter's own settings win over the YAML (as PEFT from_pretrained): {}",
                 absl::StrJoin(adapter.overridden, ", "));
  }
  if (!adapter.base_model.empty() && adapter.base_model != config.base_model_spec &&
      adapter.base_model != config.base_model) {
    spdlog::warn("the adapter was trained on '{}', this run's base model is '{}': the tensor "
                 "shapes decide whether it fits", adapter.base_model, config.base_model_spec);
  }
  lora = adapter.settings;
  record_ = {{"type", "resume"},
             {"mode", "continue_adapter"},
             {"source", plan_.source},
             {"path", plan_.dir.string()},
             {"reason", plan_.reason},
             {"overridden_keys", adapter.overridden}};
  return absl::OkStatus();
}

absl::Status AdapterContinuation::LoadWeights(CausalLm& model, const RuntimeEnv& env,
                                              TrainerObserver& observer) {
  LORAD_ASSIGN_OR_RETURN(auto weights, ReadContinueAdapterWeights(plan_.dir, *model));
  LORAD_RETURN_IF_ERROR(model->LoadLoraWeights(weights));
  LORAD_ASSIGN_OR_RETURN(ProbeCheck probe, CheckRecordedProbe(plan_.dir, model, env));
  record_["probe"] = probe.ToJson();
  if (probe.available) {
    spdlog::info("probe loss: recorded {:.6f}, recomputed {:.6f} ({})", probe.recorded,
                 probe.recomputed, probe.passed ? "adapter loaded" : "MISMATCH");
  } else {
    spdlog::info("probe loss: {}", probe.note);
  }
  observer.OnRecord(record_);
  if (probe.available && !probe.passed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "continue from ", plan_.dir.string(), " refused: the adapter's recorded probe loss ",
        probe.recorded, " does not match the loss its weights give on the recorded probe batch, ",
        probe.recomputed, " (tolerance ", probe.tolerance,
        "): these weights are not the adapter that was saved, or the base model differs"));
  }
  return absl::OkStatus();
}

}  // namespace lorad
