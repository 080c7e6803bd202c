// The trained adapter in PEFT's on-disk format (adapter_config.json +
// adapter_model.safetensors with PEFT key names, fp32), plus lorad's sidecar
// lorad_adapter.json (probe loss, data profile) that other tools ignore.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/data/batch.h"
#include "worker/formats/adapter_config.h"
#include "worker/model/causal_lm.h"
#include "worker/model/lora_settings.h"

namespace lorad {

/// LoRA settings from the YAML (lora_target_linear → every block linear).
LoraSettings LoraSettingsFromConfig(const TrainConfig& config);

/// adapter_config.json content for `settings` (targets expanded to short names
/// as PEFT stores them after resolving "all-linear").
AdapterConfig MakeAdapterConfig(const LoraSettings& settings, const std::string& base_model);

/// "model.layers.0.self_attn.q_proj.lora_A" → "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".
std::string PeftKeyFor(const std::string& canonical_name);

/// The adapter tensors under PEFT key names (fp32, CPU, contiguous).
std::vector<std::pair<std::string, torch::Tensor>> PeftAdapterTensors(CausalLm& model);

/// Writes adapter_config.json, adapter_model.safetensors, (when `sidecar` is
/// an object) lorad_adapter.json and (when given) the probe batch into `dir`
/// (which must exist), each fsynced.
absl::Status WriteAdapterFiles(const std::filesystem::path& dir, CausalLm& model,
                               const AdapterConfig& adapter_config, const nlohmann::json& sidecar,
                               const Batch* probe_batch = nullptr);

/// Our own adapter files (PEFT keys written by WriteAdapterFiles) → canonical
/// LoRA names as CausalLm::LoadLoraWeights takes them.  Exact resume only:
/// foreign adapters go through the checkpoint library's reader.
absl::StatusOr<std::map<std::string, torch::Tensor>> ReadOwnAdapterWeights(
    const std::filesystem::path& dir);

inline constexpr const char* kAdapterSidecarFile = "lorad_adapter.json";

}  // namespace lorad
