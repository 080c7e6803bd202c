#include "worker/model/blockwise_attention.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "worker/model/attention_kernels.h"
#include "worker/model/fused_ops.h"
#include "worker/model/parallel_rows.h"

namespace lorad {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct MaskSpec {
  torch::Tensor segment_ids;  // [B, S] or undefined
  torch::Tensor key_padding;  // [B, S] bool or undefined
  int64_t sliding_window = 0;
  int64_t query_offset = 0;
  bool kernels = true;  // BlockwiseImpl::kAuto
};

// "allowed" for queries [q0, q0+nq) × keys [k0, k0+nk): [B or 1, 1, nq, nk], or
// an undefined tensor when the whole block is visible.  Same rules as
// PrepareAttentionMask (including "a query always sees itself").
torch::Tensor BlockAllowed(const MaskSpec& m, int64_t q0, int64_t nq, int64_t k0, int64_t nk,
                           int64_t num_keys, const torch::Device& device) {
  const int64_t first_q = q0 + m.query_offset, last_q = first_q + nq - 1;
  const bool fully_causal = k0 + nk - 1 <= first_q;
  const bool window_free = m.sliding_window <= 0 || k0 > last_q - m.sliding_window;
  if (fully_causal && window_free && !m.segment_ids.defined() && !m.key_padding.defined()) {
    return {};
  }
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device);
  torch::Tensor qpos = torch::arange(first_q, first_q + nq, i64).unsqueeze(1);
  torch::Tensor kpos = torch::arange(k0, k0 + nk, i64).unsqueeze(0);
  torch::Tensor allowed = kpos.le(qpos);
  if (m.sliding_window > 0) allowed = allowed.logical_and(kpos.gt(qpos - m.sliding_window));
  allowed = allowed.unsqueeze(0).unsqueeze(0);
  if (m.segment_ids.defined()) {
    torch::Tensor seg_q = m.segment_ids.narrow(1, first_q, nq);
    torch::Tensor seg_k = m.segment_ids.narrow(1, k0, nk);
    allowed = allowed.logical_and(seg_q.unsqueeze(2).eq(seg_k.unsqueeze(1)).unsqueeze(1));
  }
  if (m.key_padding.defined()) {
    allowed = allowed.logical_and(
        m.key_padding.narrow(1, k0, nk).logical_not().view({m.key_padding.size(0), 1, 1, nk}));
  }
  return allowed.logical_or(qpos.eq(kpos).unsqueeze(0).unsqueeze(0));
}

// Key blocks that can hold a visible key for the query block (causality and
// window prune whole blocks); segments and padding are handled by the mask.
std::pair<int64_t, int64_t> KeyRange(const MaskSpec& m, int64_t q0, int64_t nq, int64_t s) {
  const int64_t first_q = q0 + m.query_offset, last_q = first_q + nq - 1;
  int64_t lo = 0;
  if (m.sliding_window > 0) lo = std::max<int64_t>(0, first_q - m.sliding_window + 1);
  return {lo, std::min(s, last_q + 1)};
}

// Softmax statistics in fp32 (fp64 for fp64 inputs).
torch::Dtype AccDtype(const torch::Tensor& q) {
  return q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor RepeatHeads(const torch::Tensor& x, int64_t rep) {
  if (rep == 1) return x;
  const auto b = x.size(0), n = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, n, rep, s, d}).reshape({b, n * rep, s, d});
}

// Masked scores get this finite value rather than -inf, so no NaN guard is
// needed: a row whose keys in one block are all masked gets junk weights there,
// but every row sees at least its own key somewhere, and once it does the
// online-softmax correction exp(kMasked − max) is exactly 0 and wipes the junk;
// in the backward pass exp(kMasked − lse) is exactly 0.
constexpr double kMasked = -1e30;

namespace ak = attention_kernels;

// bf16 on the CPU runs each block's softmax and accumulation through the
// single-pass kernels (attention_kernels.h); everything else (fp32, fp64,
// CUDA) through LibTorch ops.  Same recurrence, same rounding points.
bool UseKernels(const torch::Tensor& q, int64_t bk, const MaskSpec& m) {
  return m.kernels && q.device().is_cpu() && q.scalar_type() == torch::kBFloat16 && bk <= ak::kMaxBlockKeys;
}

template <typename T>
T* Ptr(const torch::Tensor& t) {
  return reinterpret_cast<T*>(t.data_ptr());
}

// The kernels' view of a block: B·H matrices of nq × nk and its mask.
ak::Block KernelBlock(const torch::Tensor& q, int64_t nq, int64_t nk, const torch::Tensor& allowed) {
  ak::Block b;
  b.matrices = q.size(0) * q.size(1);
  b.heads = q.size(1);
  b.nq = nq;
  b.nk = nk;
  if (allowed.defined()) {
    b.allowed = Ptr<const uint8_t>(allowed);
    b.allowed_batch_stride = allowed.size(0) == 1 ? 0 : nq * nk;
  }
  return b;
}

// A mask block as the kernels read it: contiguous bytes, 1 = may attend.
torch::Tensor KernelMask(torch::Tensor allowed) {
  return allowed.defined() ? allowed.contiguous() : allowed;
}

// K or V cut into contiguous key blocks once per call: a narrowed [B, H, nk, d]
// view has the wrong batch stride for bmm, which then copied it for every
// query block.
std::vector<torch::Tensor> KeyBlocks(const torch::Tensor& x, int64_t bk) {
  std::vector<torch::Tensor> blocks;
  for (int64_t k0 = 0; k0 < x.size(2); k0 += bk) {
    blocks.push_back(x.narrow(2, k0, std::min(bk, x.size(2) - k0)).contiguous());
  }
  return blocks;
}

struct KeyValueBlocks {
  std::vector<torch::Tensor> k, v;
};

// Forward of one query block through the kernels: writes out's and lse's rows.
void KernelForwardBlock(const torch::Tensor& q, const torch::Tensor& k, const KeyValueBlocks& kv,
                        const MaskSpec& m, int64_t q0, int64_t nq, int64_t bk, torch::Tensor& out,
                        torch::Tensor& lse) {
  const int64_t t = q.size(2), s = k.size(2), d = q.size(3);
  const int64_t rows = q.size(0) * q.size(1) * nq;
  auto f32 = q.options().dtype(torch::kFloat32);
  torch::Tensor row_max = torch::empty({rows}, f32), row_sum = torch::empty({rows}, f32);
  torch::Tensor corr = torch::empty({rows}, f32);
  torch::Tensor acc = torch::empty({q.size(0), q.size(1), nq, d}, f32);
  torch::Tensor qb = q.narrow(2, q0, nq).contiguous();
  auto [lo, hi] = KeyRange(m, q0, nq, s);
  bool first = true;
  for (int64_t k0 = lo - lo % bk; k0 < hi; k0 += bk) {
    const int64_t nk = std::min(bk, s - k0);
    torch::Tensor sc = torch::matmul(qb, kv.k[k0 / bk].transpose(2, 3)).contiguous();
    torch::Tensor allowed = KernelMask(BlockAllowed(m, q0, nq, k0, nk, s, q.device()));
    const ak::Block blk = KernelBlock(q, nq, nk, allowed);
    torch::Tensor p = torch::empty_like(sc);
    ForRows(rows, nk, [&](int64_t r0, int64_t r1) {
      ak::SoftmaxBlockForward(blk, Ptr<uint16_t>(sc), Ptr<float>(row_max), Ptr<float>(row_sum),
                              Ptr<float>(corr), Ptr<uint16_t>(p), first, r0, r1);
    });
    torch::Tensor pv = torch::matmul(p, kv.v[k0 / bk]).contiguous();
    ForRows(rows, d, [&](int64_t r0, int64_t r1) {
      ak::AccumulateBlock(Ptr<float>(acc), Ptr<float>(corr), Ptr<uint16_t>(pv), d, first, r0, r1);
    });
    first = false;
  }
  ForRows(rows, d, [&](int64_t r0, int64_t r1) {
    ak::FinalizeBlock(Ptr<float>(acc), Ptr<float>(row_max), Ptr<float>(row_sum), nq, d,
                      Ptr<uint16_t>(out) + q0 * d, {t * d, d}, Ptr<float>(lse) + q0, t, r0, r1);
  });
}

// Backward of one query block through the kernels: adds into dq, dk, dv (fp32).
// A contiguous [B, H, nq, nk] view of the front of a flat scratch buffer:
// the backward pass reuses three of them across every block pair instead of
// allocating (and page-faulting) fresh ones per pair.
torch::Tensor Scratch(const torch::Tensor& flat, const torch::Tensor& q, int64_t nq, int64_t nk) {
  return flat.narrow(0, 0, q.size(0) * q.size(1) * nq * nk).view({q.size(0), q.size(1), nq, nk});
}

struct BackwardScratch {
  torch::Tensor probs, probs32, dscores;  // flat, B·H·bq·bk each
};

void KernelBackwardBlock(const torch::Tensor& q, const torch::Tensor& k, const KeyValueBlocks& kv,
                         const torch::Tensor& dout, const torch::Tensor& lse,
                         const torch::Tensor& delta, const MaskSpec& m, int64_t q0, int64_t nq,
                         int64_t bk, BackwardScratch& scratch, torch::Tensor& dq, torch::Tensor& dk,
                         torch::Tensor& dv) {
  const int64_t t = q.size(2), s = k.size(2), d = q.size(3);
  const int64_t matrices = q.size(0) * q.size(1), rows = matrices * nq;
  torch::Tensor qb = q.narrow(2, q0, nq).contiguous(), dob = dout.narrow(2, q0, nq).contiguous();
  auto [lo, hi] = KeyRange(m, q0, nq, s);
  for (int64_t k0 = lo - lo % bk; k0 < hi; k0 += bk) {
    const int64_t nk = std::min(bk, s - k0);
    const torch::Tensor& kb = kv.k[k0 / bk];
    const torch::Tensor& vb = kv.v[k0 / bk];
    torch::Tensor sc = torch::matmul(qb, kb.transpose(2, 3)).contiguous();
    torch::Tensor allowed = KernelMask(BlockAllowed(m, q0, nq, k0, nk, s, q.device()));
    const ak::Block blk = KernelBlock(q, nq, nk, allowed);
    torch::Tensor p = Scratch(scratch.probs, q, nq, nk);
    torch::Tensor p32 = Scratch(scratch.probs32, q, nq, nk);
    ForRows(rows, nk, [&](int64_t r0, int64_t r1) {
      ak::RecomputeProbs(blk, Ptr<uint16_t>(sc), Ptr<float>(lse) + q0, t, Ptr<uint16_t>(p),
                         Ptr<float>(p32), r0, r1);
    });
    torch::Tensor dvb = torch::matmul(p.transpose(2, 3), dob).contiguous();
    ForRows(matrices * nk, d, [&](int64_t r0, int64_t r1) {
      ak::AddBlock(Ptr<float>(dv) + k0 * d, {s * d, d}, Ptr<uint16_t>(dvb), nk, d, r0, r1);
    });
    torch::Tensor dp = torch::matmul(dob, vb.transpose(2, 3)).contiguous();
    torch::Tensor ds = Scratch(scratch.dscores, q, nq, nk);
    ForRows(rows, nk, [&](int64_t r0, int64_t r1) {
      ak::SoftmaxGradBlock(blk, Ptr<float>(p32), Ptr<uint16_t>(dp), Ptr<float>(delta) + q0, t,
                           Ptr<uint16_t>(ds), r0, r1);
    });
    torch::Tensor dqb = torch::matmul(ds, kb).contiguous();
    ForRows(rows, d, [&](int64_t r0, int64_t r1) {
      ak::AddBlock(Ptr<float>(dq) + q0 * d, {t * d, d}, Ptr<uint16_t>(dqb), nq, d, r0, r1);
    });
    torch::Tensor dkb = torch::matmul(ds.transpose(2, 3), qb).contiguous();
    ForRows(matrices * nk, d, [&](int64_t r0, int64_t r1) {
      ak::AddBlock(Ptr<float>(dk) + k0 * d, {s * d, d}, Ptr<uint16_t>(dkb), nk, d, r0, r1);
    });
  }
}

struct BlockwiseAttentionFunction : public torch::autograd::Function<BlockwiseAttentionFunction> {
  // q [B, nH, T, hd] already multiplied by the scale; k/v repeated to nH heads.
  // Per block pair the forward runs ~10 ops and the backward ~14 (matmuls in
  // the activation dtype, statistics in fp32), in place where possible.
  static variable_list forward(AutogradContext* ctx, torch::Tensor q, torch::Tensor k,
                               torch::Tensor v, const MaskSpec* m, int64_t bq, int64_t bk) {
    const int64_t t = q.size(2), s = k.size(2);
    const auto acc_dtype = AccDtype(q);
    const auto act = q.scalar_type();
    torch::Tensor out = torch::empty_like(q);
    torch::Tensor lse = torch::empty({q.size(0), q.size(1), t}, q.options().dtype(acc_dtype));
    if (UseKernels(q, bk, *m)) {
      torch::NoGradGuard no_grad;
      const KeyValueBlocks kv{KeyBlocks(k, bk), KeyBlocks(v, bk)};
      for (int64_t q0 = 0; q0 < t; q0 += bq) {
        KernelForwardBlock(q, k, kv, *m, q0, std::min(bq, t - q0), bk, out, lse);
      }
    } else {
      torch::NoGradGuard no_grad;
      for (int64_t q0 = 0; q0 < t; q0 += bq) {
        const int64_t nq = std::min(bq, t - q0);
        torch::Tensor qb = q.narrow(2, q0, nq);
        auto [lo, hi] = KeyRange(*m, q0, nq, s);
        torch::Tensor row_max, row_sum, acc;
        for (int64_t k0 = lo - lo % bk; k0 < hi; k0 += bk) {
          const int64_t nk = std::min(bk, s - k0);
          torch::Tensor sc = torch::matmul(qb, k.narrow(2, k0, nk).transpose(2, 3)).to(acc_dtype);
          torch::Tensor allowed = BlockAllowed(*m, q0, nq, k0, nk, s, q.device());
          if (allowed.defined()) sc.masked_fill_(allowed.logical_not(), kMasked);
          torch::Tensor bmax = std::get<0>(sc.max(-1, true));
          if (!acc.defined()) {
            row_max = bmax;
            torch::Tensor p = sc.sub_(row_max).exp_();
            row_sum = p.sum(-1, true);
            acc = torch::matmul(p.to(act), v.narrow(2, k0, nk)).to(acc_dtype);
            continue;
          }
          torch::Tensor new_max = torch::maximum(row_max, bmax);
          torch::Tensor corr = row_max.sub_(new_max).exp_();
          torch::Tensor p = sc.sub_(new_max).exp_();
          row_sum.mul_(corr).add_(p.sum(-1, true));
          acc.mul_(corr).add_(torch::matmul(p.to(act), v.narrow(2, k0, nk)));
          row_max = new_max;
        }
        out.narrow(2, q0, nq).copy_(acc.div_(row_sum));
        lse.narrow(2, q0, nq).copy_(row_max.add_(row_sum.log_()).squeeze(-1));
      }
    }
    ctx->save_for_backward({q, k, v, out, lse});
    ctx->saved_data["bq"] = bq;
    ctx->saved_data["bk"] = bk;
    if (m->segment_ids.defined()) ctx->saved_data["segment_ids"] = m->segment_ids;
    if (m->key_padding.defined()) ctx->saved_data["key_padding"] = m->key_padding;
    ctx->saved_data["sliding_window"] = m->sliding_window;
    ctx->saved_data["query_offset"] = m->query_offset;
    ctx->saved_data["kernels"] = m->kernels;
    return {out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor q = saved[0], k = saved[1], v = saved[2], out = saved[3], lse = saved[4];
    MaskSpec spec;
    if (ctx->saved_data.count("segment_ids")) spec.segment_ids = ctx->saved_data["segment_ids"].toTensor();
    if (ctx->saved_data.count("key_padding")) spec.key_padding = ctx->saved_data["key_padding"].toTensor();
    spec.sliding_window = ctx->saved_data["sliding_window"].toInt();
    spec.query_offset = ctx->saved_data["query_offset"].toInt();
    spec.kernels = ctx->saved_data["kernels"].toBool();
    const MaskSpec* m = &spec;
    const int64_t bq = ctx->saved_data["bq"].toInt(), bk = ctx->saved_data["bk"].toInt();
    const int64_t t = q.size(2), s = k.size(2);
    const auto acc_dtype = AccDtype(q);
    const auto act = q.scalar_type();
    torch::Tensor dout = grad_outputs[0].contiguous();
    torch::Tensor dq = torch::empty(q.sizes(), q.options().dtype(acc_dtype));
    torch::Tensor dk = torch::zeros(k.sizes(), k.options().dtype(acc_dtype));
    torch::Tensor dv = torch::zeros(v.sizes(), v.options().dtype(acc_dtype));
    if (UseKernels(q, bk, *m)) {
      dq.zero_();
      const int64_t d = q.size(3), all_rows = q.numel() / d;
      // D_i = Σ_d dO·O per row, and the fp32 gradients' final cast: kernels too
      // (LibTorch 1.13 converts bf16 one element at a time).
      torch::Tensor delta = torch::empty({q.size(0), q.size(1), t}, q.options().dtype(acc_dtype));
      ForRows(all_rows, d, [&](int64_t r0, int64_t r1) {
        ak::RowDots(Ptr<uint16_t>(dout), Ptr<uint16_t>(out), Ptr<float>(delta), d, r0, r1);
      });
      const int64_t block = q.size(0) * q.size(1) * std::min(bq, t) * std::min(bk, s);
      auto f32 = q.options().dtype(torch::kFloat32);
      BackwardScratch scratch{torch::empty({block}, q.options()), torch::empty({block}, f32),
                              torch::empty({block}, q.options())};
      const KeyValueBlocks kv{KeyBlocks(k, bk), KeyBlocks(v, bk)};
      for (int64_t q0 = 0; q0 < t; q0 += bq) {
        KernelBackwardBlock(q, k, kv, dout, lse, delta, *m, q0, std::min(bq, t - q0), bk, scratch,
                            dq, dk, dv);
      }
      return {CastTo(dq, act), CastTo(dk, act), CastTo(dv, act), torch::Tensor(), torch::Tensor(),
              torch::Tensor()};
    }
    // D_i = Σ_d dO·O  (rowsum of dP∘P).
    torch::Tensor delta = (dout.to(acc_dtype) * out.to(acc_dtype)).sum(-1, true);
    for (int64_t q0 = 0; q0 < t; q0 += bq) {
      const int64_t nq = std::min(bq, t - q0);
      torch::Tensor qb = q.narrow(2, q0, nq);
      torch::Tensor dob = dout.narrow(2, q0, nq);
      torch::Tensor lse_b = lse.narrow(2, q0, nq).unsqueeze(-1);
      torch::Tensor delta_b = delta.narrow(2, q0, nq);
      torch::Tensor dq_b = dq.narrow(2, q0, nq);
      dq_b.zero_();
      auto [lo, hi] = KeyRange(*m, q0, nq, s);
      for (int64_t k0 = lo - lo % bk; k0 < hi; k0 += bk) {
        const int64_t nk = std::min(bk, s - k0);
        torch::Tensor kb = k.narrow(2, k0, nk), vb = v.narrow(2, k0, nk);
        torch::Tensor sc = torch::matmul(qb, kb.transpose(2, 3)).to(acc_dtype);
        torch::Tensor allowed = BlockAllowed(*m, q0, nq, k0, nk, s, q.device());
        if (allowed.defined()) sc.masked_fill_(allowed.logical_not(), kMasked);
        torch::Tensor p = sc.sub_(lse_b).exp_();  // the forward's probabilities
        dv.narrow(2, k0, nk).add_(torch::matmul(p.to(act).transpose(2, 3), dob));
        torch::Tensor dp = torch::matmul(dob, vb.transpose(2, 3)).to(acc_dtype);
        torch::Tensor ds = p.mul_(dp.sub_(delta_b)).to(act);  // dS (of the scaled scores)
        dq_b.add_(torch::matmul(ds, kb));
        dk.narrow(2, k0, nk).add_(torch::matmul(ds.transpose(2, 3), qb));
      }
    }
    // q came in scaled: dk is already d/dk; dq of the unscaled q is applied by
    // autograd through the scaling multiply.
    return {dq.to(act), dk.to(act), dv.to(act), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor BlockwiseAttention(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const AttentionMask& mask, double scale,
                                 int64_t block_q, int64_t block_k, BlockwiseImpl impl) {
  TORCH_CHECK(q.size(1) % k.size(1) == 0, "attention: heads not a multiple of kv heads");
  const int64_t rep = q.size(1) / k.size(1);
  MaskSpec m{mask.segment_ids, mask.key_padding, mask.sliding_window, mask.query_offset,
             impl == BlockwiseImpl::kAuto};
  if (m.segment_ids.defined()) m.segment_ids = m.segment_ids.to(q.device());
  if (m.key_padding.defined()) m.key_padding = m.key_padding.to(q.device());
  if (block_q <= 0) block_q = kDefaultBlockQ;
  if (block_k <= 0) block_k = kDefaultBlockK;
  // The scale goes into q once (one op per call, not one per block); autograd
  // carries it into q's gradient.  K/V repeated for GQA (nH·S·hd, small next to
  // the T×S scores avoided).
  // Contiguous [B, nH, T, hd] so every block's matmul reads its operands in
  // place (a strided view makes bmm copy them per block).
  return BlockwiseAttentionFunction::apply((q * scale).contiguous(),
                                           RepeatHeads(k, rep).contiguous(),
                                           RepeatHeads(v, rep).contiguous(), &m, block_q, block_k)[0];
}

}  // namespace lorad
