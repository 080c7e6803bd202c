// Continuing an existing adapter (ours, PEFT's, Axolotl's, an HF Trainer
// checkpoint's): its settings win over the YAML as in PEFT's from_pretrained,
// its weights are loaded with key normalisation, and its recorded probe loss
// (when it has one) proves that the weights really loaded.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/model/causal_lm.h"
#include "worker/model/lora_settings.h"
#include "worker/train/runtime_env.h"

namespace lorad {

struct ContinueAdapterSettings {
  LoraSettings settings;                // the adapter's r/alpha/targets/rslora/patterns
  std::vector<std::string> overridden;  // YAML keys that the adapter overrode
  std::string base_model;               // base_model_name_or_path (warning only)
};

/// Reads DIR/adapter_config.json; refuses (naming the option) what this build
/// cannot reproduce: pickled adapter_model.bin only, use_dora, modules_to_save,
/// bias other than none, fan_in_fan_out, regex target_modules, init_lora_weights
/// that change the base weights (pissa, olora, loftq, corda, eva).
absl::StatusOr<ContinueAdapterSettings> ReadContinueAdapterSettings(
    const std::filesystem::path& dir, const LoraSettings& yaml_settings);

/// PEFT key → canonical LoRA name: "base_model.model." prefix (and other model
/// classes' spellings), ".default" adapter names and a missing ".weight" are
/// accepted.  Empty result for a key that is not a LoRA A/B weight.
std::string NormalizeAdapterKey(const std::string& key);

/// DIR/adapter_model.safetensors with normalised names (fp32).  Unknown keys
/// are an error listing them; shapes are checked by CausalLm::LoadLoraWeights.
absl::StatusOr<std::map<std::string, torch::Tensor>> ReadContinueAdapterWeights(
    const std::filesystem::path& dir, CausalLmImpl& model);

struct ProbeCheck {
  bool available = false;  // the adapter carries a probe loss and batch
  bool passed = false;
  double recorded = 0;
  double recomputed = 0;
  double tolerance = 0;
  std::string note;  // why not available
  nlohmann::json ToJson() const;
};

/// Recomputes the probe loss on the adapter's recorded probe batch (eval mode).
absl::StatusOr<ProbeCheck> CheckRecordedProbe(const std::filesystem::path& dir, CausalLm& model,
                                              const RuntimeEnv& env);

}  // namespace lorad
