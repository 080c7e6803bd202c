// Rotary position embedding frequencies exactly as transformers'
// modeling_rope_utils.py computes them (default, linear, llama3).
#pragma once

#include <torch/types.h>

#include "worker/formats/model_config.h"

namespace lorad {

/// inv_freq [head_dim/2] fp32, with the config's rope_scaling applied.
torch::Tensor RopeInvFreq(const ModelConfig& config);

/// cos and sin tables [length, head_dim] fp32 for positions 0..length-1:
/// emb = cat(pos·inv_freq, pos·inv_freq).
std::pair<torch::Tensor, torch::Tensor> RopeTables(const torch::Tensor& inv_freq, int64_t length);

}  // namespace lorad
