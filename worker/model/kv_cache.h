// Keys and values of the positions a causal LM has already seen, per decoder
// layer, so generation computes each new token from its own row only instead
// of re-running the whole sequence (CausalLmImpl::ForwardCached).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace lorad {

class KvCache {
 public:
  /// `capacity_hint`: positions to reserve on the first append (prompt length
  /// + max new tokens avoids any regrowth); the buffers double when exceeded.
  explicit KvCache(int64_t num_layers, int64_t capacity_hint = 0);

  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  /// Positions stored, the same for every layer between forwards.
  int64_t length() const { return length_; }

  /// Stores layer `layer`'s keys/values of the new positions ([B, nKV, T, hd],
  /// after RoPE) at length()..length()+T-1 and returns every stored position's
  /// [B, nKV, length()+T, hd] (views of the buffers, valid until the next
  /// Append).  Batch, heads, head_dim, dtype and device must not change.
  std::pair<torch::Tensor, torch::Tensor> Append(int64_t layer, const torch::Tensor& k,
                                                 const torch::Tensor& v);
  /// Commits T new positions once every layer appended them.
  void Advance(int64_t t);
  /// Forgets every position (the buffers are kept for reuse).
  void Clear() { length_ = 0; }

 private:
  std::vector<torch::Tensor> keys_, values_;  // [B, nKV, capacity, hd] each
  int64_t length_ = 0;
  int64_t capacity_hint_ = 0;
};

}  // namespace lorad
