// Which linear layers get a LoRA adapter and how: the torch-free description
// shared by the config layer, the trainer and the model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lorad {

/// The seven linear layers of a Llama-family decoder block, by PEFT short name.
inline const std::vector<std::string>& LinearModuleNames() {
  static const std::vector<std::string> kNames = {"q_proj",    "k_proj",  "v_proj",  "o_proj",
                                                  "gate_proj", "up_proj", "down_proj"};
  return kNames;
}

/// PEFT's LoraConfig, as far as it changes the math.
struct LoraSettings {
  int64_t r = 8;
  double alpha = 8;
  double dropout = 0.0;
  bool use_rslora = false;  // scaling alpha/sqrt(r) instead of alpha/r
  /// Short names (q_proj, ..., down_proj) or the single entry "all-linear"
  /// (every linear layer of the blocks, never lm_head — Axolotl's lora_target_linear).
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  /// PEFT semantics: a key matches a module path when the path ends with the key
  /// (preceded by '.' or at the start), e.g. "q_proj" or "layers.3.self_attn.q_proj";
  /// the longest matching key wins.
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  /// Layer indices that get adapters; empty = all layers.
  std::vector<int64_t> layers_to_transform;
};

}  // namespace lorad
