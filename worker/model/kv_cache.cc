#include "worker/model/kv_cache.h"

#include <torch/torch.h>

#include <algorithm>

namespace lorad {

KvCache::KvCache(int64_t num_layers, int64_t capacity_hint)
    : keys_(static_cast<size_t>(num_layers)),
      values_(static_cast<size_t>(num_layers)),
      capacity_hint_(capacity_hint) {}

std::pair<torch::Tensor, torch::Tensor> KvCache::Append(int64_t layer, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  TORCH_CHECK(layer >= 0 && layer < num_layers(), "KvCache: layer ", layer, " out of range");
  TORCH_CHECK(k.dim() == 4 && v.sizes() == k.sizes(), "KvCache: k/v must be [B, nKV, T, hd]");
  torch::Tensor& kb = keys_[static_cast<size_t>(layer)];
  torch::Tensor& vb = values_[static_cast<size_t>(layer)];
  const int64_t t = k.size(2), needed = length_ + t;
  if (kb.defined()) {
    TORCH_CHECK(kb.size(0) == k.size(0) && kb.size(1) == k.size(1) && kb.size(3) == k.size(3) &&
                    kb.scalar_type() == k.scalar_type() && kb.device() == k.device(),
                "KvCache: batch, heads, head_dim, dtype or device changed");
  }
  if (!kb.defined() || kb.size(2) < needed) {
    // Preallocated and doubled, so a token costs a copy of its own row only
    // (torch::cat per token would copy the whole cache every step).
    const int64_t old = kb.defined() ? kb.size(2) : 0;
    const int64_t capacity = std::max({needed, 2 * old, capacity_hint_});
    torch::Tensor nk = torch::empty({k.size(0), k.size(1), capacity, k.size(3)}, k.options());
    torch::Tensor nv = torch::empty({v.size(0), v.size(1), capacity, v.size(3)}, v.options());
    if (length_ > 0) {
      nk.narrow(2, 0, length_).copy_(kb.narrow(2, 0, length_));
      nv.narrow(2, 0, length_).copy_(vb.narrow(2, 0, length_));
    }
    kb = nk;
    vb = nv;
  }
  kb.narrow(2, length_, t).copy_(k);
  vb.narrow(2, length_, t).copy_(v);
  return {kb.narrow(2, 0, needed), vb.narrow(2, 0, needed)};
}

void KvCache::Advance(int64_t t) {
  TORCH_CHECK(t >= 0, "KvCache: negative advance");
  length_ += t;
}

}  // namespace lorad
