// The causal-LM head and loss without materialising [N, V] logits for the
// backward pass: logits are computed chunk by chunk, upcast (to fp32 at least,
// as transformers' loss does), reduced, and recomputed in the backward pass.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace lorad {

/// Σ_i CE(hidden[i] · weightᵀ, targets[i]) over rows.  hidden [N, H], weight [V, H]
/// (same dtype), targets [N] int64 in [0, V).  Returns a scalar in
/// promote(fp32, hidden dtype).  Differentiable w.r.t. hidden (and weight when it
/// requires grad).  `chunk_rows` 0 = chosen so one chunk of logits is ~64 MiB.
torch::Tensor ChunkedCrossEntropySum(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& targets, int64_t chunk_rows = 0);

/// The logits dtype of the loss for activations of `dtype` (fp32, or fp64 for
/// fp64 numerical tests).
torch::Dtype LossDtype(torch::Dtype dtype);

}  // namespace lorad
