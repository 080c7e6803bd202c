// Attaching a trained PEFT LoRA adapter directory to a loaded model for
// inference (generate), with the adapter's own settings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "worker/model/causal_lm.h"

namespace lorad {

struct AttachedAdapter {
  int64_t modules = 0;  // adapted linear layers
  int64_t r = 0;        // adapter_config.json's r (rank_pattern may vary it per module)
  double alpha = 0;
  bool use_rslora = false;
  std::string base_model;  // base_model_name_or_path, for the log
};

/// Reads DIR (adapter_config.json + adapter_model.safetensors) with the
/// checkpoint library's reader, which refuses what cannot be reproduced
/// (pickles, DoRA, modules_to_save, bias, PiSSA-style inits, ranks that differ
/// from the config), checks it against the model's layers (missing modules,
/// shapes — all listed), then adds the adapters with the adapter's r, alpha,
/// rsLoRA, targets and patterns (CausalLmImpl::AddLora) and loads its weights
/// (LoadLoraWeights).  A model that already has adapters is refused; regex
/// target_modules are not supported yet.
absl::StatusOr<AttachedAdapter> AttachAdapter(CausalLmImpl& model,
                                              const std::filesystem::path& dir);

}  // namespace lorad
