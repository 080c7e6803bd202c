// The tensor layout of a Llama-family checkpoint, without LibTorch (usable by
// init-model, merge, and the config layer's --dry-run parameter counts).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/formats/model_config.h"
#include "worker/model/lora_settings.h"

namespace lorad {

struct TensorShape {
  std::string name;            // HF state-dict name, e.g. "model.layers.0.mlp.up_proj.weight"
  std::vector<int64_t> shape;
};

/// Every tensor a model with this config stores, in a canonical order (embedding,
/// then per layer: norms, q,k,v,o (+biases), gate, up, down, then final norm,
/// lm_head).  Tied models have no lm_head.weight.
std::vector<TensorShape> ExpectedTensorShapes(const ModelConfig& config);

/// Number of base-model parameters (tied embedding counted once).
int64_t CountBaseParameters(const ModelConfig& config);

/// One adaptable linear of the blocks.
struct LinearModule {
  std::string path;  // "model.layers.3.self_attn.q_proj"
  std::string short_name;  // "q_proj"
  int64_t layer = 0;
  int64_t in_features = 0;
  int64_t out_features = 0;
};
/// The seven linears of every layer, in canonical order.
std::vector<LinearModule> AdaptableLinears(const ModelConfig& config);

/// The adapted modules with their effective rank and alpha after rank_pattern /
/// alpha_pattern (PEFT: the longest pattern that matches the end of the path).
struct LoraModulePlan {
  LinearModule module;
  int64_t r = 0;
  double alpha = 0;
};
/// Validates the settings against the config (unknown target names, r <= 0,
/// dropout outside [0, 1), layers out of range: errors naming the value).
absl::StatusOr<std::vector<LoraModulePlan>> PlanLora(const ModelConfig& config,
                                                     const LoraSettings& settings);
/// Trainable parameter count of a plan (Σ r·(in+out)).
int64_t CountLoraParameters(const std::vector<LoraModulePlan>& plan);

}  // namespace lorad
