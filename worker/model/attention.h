// Scaled dot-product attention for the decoder blocks, behind one function so
// the implementation can change per device (eager now; blockwise with an online
// softmax; SDPA on LibTorch 2.x) without touching the model.  Which one a run
// uses: attention_choice.h.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace lorad {

enum class AttentionBackend {
  kEager,      // transformers' eager_attention_forward, op for op
  kBlockwise,  // blocks + online softmax, recomputed in backward (blockwise_attention.h):
               // never stores [B, nH, T, S] scores; the long-sequence path
  kSdpa,       // at::scaled_dot_product_attention (LibTorch 2.x; flash / memory-efficient
               // kernels on CUDA).  Without it (1.13) Attend runs kBlockwise.
};

/// True when `backend` reads AttentionMask::dense_allowed (PrepareAttentionMask).
bool NeedsDenseMask(AttentionBackend backend);

/// Which keys each query may see.  Query i (0-based within the call) sits at key
/// position i + query_offset (query_offset > 0 with a KV cache).  Key j is visible
/// to query i iff j <= i + query_offset (causal), j > i + query_offset - sliding_window
/// (when sliding_window > 0), same segment (when segment_ids given) and key j is
/// not padding (when key_padding given).
struct AttentionMask {
  torch::Tensor segment_ids;   // [B, S] int64 or undefined (queries use the last T)
  torch::Tensor key_padding;   // [B, S] bool (true = padding) or undefined
  int64_t sliding_window = 0;  // 0 = none
  int64_t query_offset = 0;
  /// Dense [B or 1, 1, T, S] bool "allowed" mask, built once per forward by
  /// PrepareAttentionMask and shared by all layers.
  torch::Tensor dense_allowed;
};

/// Builds `mask.dense_allowed` for T queries over S keys on `device`.  A query
/// that could see nothing (a padding query) is allowed to see itself, so no row
/// of the softmax is empty (its output is never used).
void PrepareAttentionMask(AttentionMask& mask, int64_t num_queries, int64_t num_keys,
                          const torch::Device& device);

/// q [B, nH, T, hd], k/v [B, nKV, S, hd] (nH a multiple of nKV; K/V repeated as
/// transformers' repeat_kv) → [B, nH, T, hd] in q's dtype.  Scores scaled by
/// `scale`, softmax in fp32.
torch::Tensor Attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const AttentionMask& mask, double scale, AttentionBackend backend);

}  // namespace lorad
