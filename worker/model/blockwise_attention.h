// Memory-efficient attention (issue 10): queries and keys are processed in
// blocks with an online softmax (FlashAttention-2's recurrence), so neither the
// [B, nH, T, S] scores nor the fp32 probabilities are ever stored; the backward
// pass recomputes them block by block from Q, K, V, the output and the per-row
// log-sum-exp.  Pure LibTorch ops (matmuls per block), any device.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "worker/model/attention.h"

namespace lorad {

/// Default block sizes (queries × keys per block), tuned on CPU: see
/// bench/README.md (attention sweep).
inline constexpr int64_t kDefaultBlockQ = 128;
inline constexpr int64_t kDefaultBlockK = 256;

/// kAuto: bf16 blocks on the CPU through the single-pass kernels
/// (attention_kernels.h); kLibTorchOps: LibTorch ops only (the reference the
/// kernels are tested and profiled against).
enum class BlockwiseImpl { kAuto, kLibTorchOps };

/// Same contract as Attend (q [B, nH, T, hd], k/v [B, nKV, S, hd]); the mask is
/// evaluated per block from `mask`'s segment ids, padding, window and offset —
/// `mask.dense_allowed` is not used.  Block sizes of 0 choose defaults.
torch::Tensor BlockwiseAttention(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const AttentionMask& mask, double scale,
                                 int64_t block_q = 0, int64_t block_k = 0,
                                 BlockwiseImpl impl = BlockwiseImpl::kAuto);

}  // namespace lorad
