#include "worker/model/attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "worker/model/blockwise_attention.h"
#include "worker/model/torch_compat.h"

namespace lorad {

void PrepareAttentionMask(AttentionMask& mask, int64_t num_queries, int64_t num_keys,
                          const torch::Device& device) {
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device);
  // Absolute key position of each query.
  torch::Tensor qpos = torch::arange(num_queries, i64).add_(mask.query_offset).unsqueeze(1);
  torch::Tensor kpos = torch::arange(num_keys, i64).unsqueeze(0);
  torch::Tensor allowed = kpos.le(qpos);  // [T, S]
  if (mask.sliding_window > 0) allowed = allowed.logical_and(kpos.gt(qpos - mask.sliding_window));
  allowed = allowed.unsqueeze(0).unsqueeze(0);  // [1, 1, T, S]
  if (mask.segment_ids.defined()) {
    torch::Tensor seg_k = mask.segment_ids.to(device);                   // [B, S]
    torch::Tensor seg_q = seg_k.narrow(1, num_keys - num_queries, num_queries);  // [B, T]
    allowed = allowed.logical_and(seg_q.unsqueeze(2).eq(seg_k.unsqueeze(1)).unsqueeze(1));
  }
  if (mask.key_padding.defined()) {
    allowed = allowed.logical_and(mask.key_padding.to(device).logical_not().view(
        {mask.key_padding.size(0), 1, 1, num_keys}));
  }
  // A padding query may see nothing; let it see its own position so its
  // softmax row is not empty (its output is never used).
  torch::Tensor self = qpos.eq(kpos).unsqueeze(0).unsqueeze(0);
  mask.dense_allowed = allowed.logical_or(self);
}

namespace {

// transformers' repeat_kv: [B, nKV, S, hd] → [B, nKV·rep, S, hd], kv head j
// serving query heads j·rep … j·rep+rep−1.
torch::Tensor RepeatKv(const torch::Tensor& x, int64_t rep) {
  if (rep == 1) return x;
  const auto b = x.size(0), n = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, n, rep, s, d}).reshape({b, n * rep, s, d});
}

torch::Tensor EagerAttention(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const AttentionMask& mask, double scale) {
  const int64_t rep = q.size(1) / k.size(1);
  torch::Tensor kr = RepeatKv(k, rep), vr = RepeatKv(v, rep);
  // As transformers' eager_attention_forward: scores in the activation dtype,
  // masked, softmax in fp32, cast back, times V.
  torch::Tensor scores = torch::matmul(q, kr.transpose(2, 3)).mul_(scale);
  // fp32 (fp64 for fp64 numerical tests, where fp32 would hide the math).
  const auto softmax_dtype =
      q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  torch::Tensor s32 = scores.to(softmax_dtype);
  if (mask.dense_allowed.defined()) {
    // In place: s32 is this call's own tensor (the matmul's output or its cast),
    // and masked_fill's backward needs only the mask.
    s32.masked_fill_(mask.dense_allowed.logical_not(),
                     std::numeric_limits<float>::lowest());  // HF: finfo(fp32).min
  }
  torch::Tensor probs = torch::softmax(s32, -1).to(q.scalar_type());
  return torch::matmul(probs, vr);
}

#if LORAD_TORCH_AT_LEAST(2, 0)
// torch's fused attention.  A plain causal square (no segments, padding,
// window or cache offset) uses is_causal, which lets CUDA pick the flash
// kernel; anything else passes the dense bool mask (true = may attend).
torch::Tensor SdpaAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const AttentionMask& mask, double scale) {
  const int64_t rep = q.size(1) / k.size(1);
  torch::Tensor kr = RepeatKv(k, rep), vr = RepeatKv(v, rep);
  const bool plain_causal = !mask.segment_ids.defined() && !mask.key_padding.defined() &&
                            mask.sliding_window <= 0 && mask.query_offset == 0 &&
                            q.size(2) == k.size(2);
  torch::Tensor attn_mask = plain_causal ? torch::Tensor() : mask.dense_allowed;
#if LORAD_TORCH_AT_LEAST(2, 1)
  return at::scaled_dot_product_attention(q, kr, vr, attn_mask, 0.0, plain_causal, scale);
#else
  // 2.0 has no scale argument; its default is 1/sqrt(head_dim), the model's.
  TORCH_CHECK(std::abs(scale * std::sqrt(static_cast<double>(q.size(-1))) - 1.0) < 1e-12,
              "attention: SDPA on LibTorch 2.0 supports only the 1/sqrt(head_dim) scale");
  return at::scaled_dot_product_attention(q, kr, vr, attn_mask, 0.0, plain_causal);
#endif
}
#endif

}  // namespace

bool NeedsDenseMask(AttentionBackend backend) {
  return backend == AttentionBackend::kEager ||
         (backend == AttentionBackend::kSdpa && torch_compat::kHasScaledDotProductAttention);
}

torch::Tensor Attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const AttentionMask& mask, double scale, AttentionBackend backend) {
  TORCH_CHECK(q.size(1) % k.size(1) == 0, "attention: heads not a multiple of kv heads");
  switch (backend) {
    case AttentionBackend::kBlockwise:
      return BlockwiseAttention(q, k, v, mask, scale);
    case AttentionBackend::kSdpa:
#if LORAD_TORCH_AT_LEAST(2, 0)
      return SdpaAttention(q, k, v, mask, scale);
#else
      return BlockwiseAttention(q, k, v, mask, scale);
#endif
    case AttentionBackend::kEager:
      break;
  }
  return EagerAttention(q, k, v, mask, scale);
}

}  // namespace lorad
