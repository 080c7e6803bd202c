#include "worker/model/fused_ops.h"

#include <torch/torch.h>

#include <algorithm>
#include <optional>

#include "worker/model/parallel_rows.h"
#include "worker/model/row_kernels.h"

namespace lorad {
namespace {

using row_kernels::Elem;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The single-pass kernels take contiguous CPU fp32/bf16 tensors of one dtype;
// anything else (CUDA, fp64 in the numerical tests, mixed dtypes) runs the
// op-by-op LibTorch expressions, which define the semantics.
std::optional<Elem> KernelElem(std::initializer_list<const torch::Tensor*> ts) {
  const torch::Tensor& first = **ts.begin();
  if (!first.device().is_cpu()) return std::nullopt;
  const auto dtype = first.scalar_type();
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16) return std::nullopt;
  for (const torch::Tensor* t : ts) {
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != dtype || !t->is_contiguous()) {
      return std::nullopt;
    }
  }
  return dtype == torch::kBFloat16 ? Elem::kBf16 : Elem::kF32;
}

torch::Dtype StatDtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::IntArrayRef Last(const torch::Tensor& t) { return t.sizes().slice(0, t.dim() - 1); }

// The forward as transformers computes it; returns {output, rstd}.
std::pair<torch::Tensor, torch::Tensor> RmsNormForward(const torch::Tensor& x,
                                                       const torch::Tensor& weight, double eps) {
  if (auto elem = KernelElem({&x, &weight}); elem && weight.dim() == 1 &&
                                             x.size(-1) == weight.size(0)) {
    const int64_t width = x.size(-1), rows = x.numel() / std::max<int64_t>(1, width);
    std::vector<int64_t> stat_sizes(Last(x).begin(), Last(x).end());
    stat_sizes.push_back(1);
    torch::Tensor out = torch::empty_like(x);
    torch::Tensor rstd = torch::empty(stat_sizes, x.options().dtype(torch::kFloat32));
    ForRows(rows, width, [&](int64_t b, int64_t e) {
      row_kernels::RmsNormForward(*elem, x.data_ptr(), weight.data_ptr(), out.data_ptr(),
                                  rstd.data_ptr<float>(), b, e, width, static_cast<float>(eps));
    });
    return {out, rstd};
  }
  torch::Tensor x32 = x.to(StatDtype(x));
  torch::Tensor rstd = torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  torch::Tensor normed = (x32 * rstd).to(x.scalar_type());
  return {weight * normed, rstd};
}

struct RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor weight,
                               double eps) {
    auto [out, rstd] = RmsNormForward(x, weight, eps);
    ctx->save_for_backward({x, weight, rstd});
    return out;
  }

  // n = x·r, r = (mean(x²) + eps)^-½, g = dy·w:
  //   dx = r·(g − x·r²·mean(g·x)),  dw = Σ dy·n (only when w is trained).
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor x = saved[0], weight = saved[1], rstd = saved[2];
    const torch::Tensor& dy = grad_outputs[0];
    const auto stat = StatDtype(x);
    torch::Tensor grad_x, grad_w;
    torch::Tensor dyc = dy.contiguous();
    if (auto elem = KernelElem({&dyc, &x, &weight});
        elem && ctx->needs_input_grad(0) && rstd.scalar_type() == torch::kFloat32) {
      const int64_t width = x.size(-1), rows = x.numel() / std::max<int64_t>(1, width);
      grad_x = torch::empty_like(x);
      ForRows(rows, width, [&](int64_t b, int64_t e) {
        row_kernels::RmsNormBackward(*elem, dyc.data_ptr(), x.data_ptr(), weight.data_ptr(),
                                     rstd.data_ptr<float>(), grad_x.data_ptr(), b, e, width);
      });
    } else if (ctx->needs_input_grad(0)) {
      torch::Tensor x32 = x.to(stat);
      torch::Tensor g = (dy * weight).to(stat);
      torch::Tensor gx = (g * x32).mean(-1, /*keepdim=*/true);
      grad_x = g.sub_(x32 * (rstd * rstd).mul_(gx)).mul_(rstd).to(x.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      torch::Tensor normed = (x.to(stat) * rstd).to(x.scalar_type());
      grad_w = (dy * normed).reshape({-1, x.size(-1)}).sum(0).to(weight.scalar_type());
    }
    return {grad_x, grad_w, torch::Tensor()};
  }
};

torch::Tensor SwiGluForward(const torch::Tensor& gate, const torch::Tensor& up) {
  if (auto elem = KernelElem({&gate, &up}); elem && gate.sizes() == up.sizes()) {
    torch::Tensor out = torch::empty_like(gate);
    ForRows(gate.numel(), 1, [&](int64_t b, int64_t e) {
      row_kernels::SwiGluForward(*elem, gate.data_ptr(), up.data_ptr(), out.data_ptr(), b, e);
    });
    return out;
  }
  return torch::silu(gate) * up;
}

struct SwiGluFunction : public torch::autograd::Function<SwiGluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor gate, torch::Tensor up) {
    ctx->save_for_backward({gate, up});
    return SwiGluForward(gate, up);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor gate = saved[0], up = saved[1];
    const torch::Tensor& dy = grad_outputs[0];
    torch::Tensor grad_up, grad_gate;
    torch::Tensor dyc = dy.contiguous();
    if (auto elem = KernelElem({&dyc, &gate, &up}); elem && gate.sizes() == up.sizes()) {
      if (ctx->needs_input_grad(0)) grad_gate = torch::empty_like(gate);
      if (ctx->needs_input_grad(1)) grad_up = torch::empty_like(up);
      void* dg = grad_gate.defined() ? grad_gate.data_ptr() : nullptr;
      void* du = grad_up.defined() ? grad_up.data_ptr() : nullptr;
      ForRows(gate.numel(), 1, [&](int64_t b, int64_t e) {
        row_kernels::SwiGluBackward(*elem, dyc.data_ptr(), gate.data_ptr(), up.data_ptr(), dg, du, b,
                                    e);
      });
      return {grad_gate, grad_up};
    }
    if (ctx->needs_input_grad(1)) grad_up = dy * torch::silu(gate);
    // ATen's own SiLU derivative kernel (one pass, fp32 inside for bf16).
    if (ctx->needs_input_grad(0)) grad_gate = at::silu_backward(dy * up, gate);
    return {grad_gate, grad_up};
  }
};

// transformers' q·cos + rotate_half(q)·sin on x [B, T, H, D] with cos/sin
// [B, T, D] (broadcast over heads).
torch::Tensor RopeReference(const torch::Tensor& x, const torch::Tensor& cos,
                            const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
  return x * cos.unsqueeze(-2) + rotated * sin.unsqueeze(-2);
}

// The kernel's shape contract: x [.., H, D] with one cos/sin row of D per row of H·D.
std::optional<Elem> RopeElem(const torch::Tensor& x, const torch::Tensor& cos,
                             const torch::Tensor& sin) {
  auto elem = KernelElem({&x, &cos, &sin});
  if (!elem || x.dim() < 2 || x.size(-1) % 2 != 0) return std::nullopt;
  const int64_t d = x.size(-1), rows = x.numel() / std::max<int64_t>(1, x.size(-2) * d);
  if (cos.numel() != rows * d || sin.numel() != rows * d || cos.size(-1) != d) return std::nullopt;
  return elem;
}

torch::Tensor RopeApply(Elem elem, const torch::Tensor& x, const torch::Tensor& cos,
                        const torch::Tensor& sin, bool transpose) {
  const int64_t d = x.size(-1), heads = x.size(-2), rows = x.numel() / std::max<int64_t>(1, heads * d);
  torch::Tensor out = torch::empty_like(x);
  ForRows(rows, heads * d, [&](int64_t b, int64_t e) {
    row_kernels::Rope(elem, x.data_ptr(), cos.data_ptr(), sin.data_ptr(), out.data_ptr(), b, e,
                      heads, d, transpose);
  });
  return out;
}

struct RopeFunction : public torch::autograd::Function<RopeFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor cos,
                               torch::Tensor sin) {
    ctx->save_for_backward({cos, sin});
    return RopeApply(*RopeElem(x, cos, sin), x, cos, sin, /*transpose=*/false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor dy = grad_outputs[0].contiguous();
    auto elem = RopeElem(dy, saved[0], saved[1]);
    torch::Tensor dx = elem ? RopeApply(*elem, dy, saved[0], saved[1], /*transpose=*/true)
                            : torch::Tensor();
    if (!dx.defined()) {  // not the kernel's layout: rotate_half's adjoint is [g₂, −g₁]
      const torch::Tensor c = saved[0].unsqueeze(-2), s = saved[1].unsqueeze(-2);
      const int64_t half = dy.size(-1) / 2;
      torch::Tensor g = dy * s;
      dx = dy * c + torch::cat({g.narrow(-1, half, half), g.narrow(-1, 0, half).neg()}, -1);
    }
    return {dx, torch::Tensor(), torch::Tensor()};
  }
};

bool NeedsGraph(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad());
}

}  // namespace

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  if (!NeedsGraph(x, weight)) return RmsNormForward(x, weight, eps).first;
  return RmsNormFunction::apply(x, weight, eps);
}

torch::Tensor SwiGlu(const torch::Tensor& gate, const torch::Tensor& up) {
  if (!NeedsGraph(gate, up)) return SwiGluForward(gate, up);
  return SwiGluFunction::apply(gate, up);
}

torch::Tensor CastTo(const torch::Tensor& x, torch::Dtype dtype) {
  const auto from = x.scalar_type();
  if (from == dtype) return x;
  const bool pair = (from == torch::kFloat32 && dtype == torch::kBFloat16) ||
                    (from == torch::kBFloat16 && dtype == torch::kFloat32);
  if (!pair || !x.device().is_cpu() || !x.is_contiguous() ||
      (torch::GradMode::is_enabled() && x.requires_grad())) {
    return x.to(dtype);  // differentiable, or not the kernels' case
  }
  torch::Tensor y = torch::empty(x.sizes(), x.options().dtype(dtype));
  ForRows(x.numel(), 1, [&](int64_t b, int64_t e) {
    if (dtype == torch::kBFloat16) {
      row_kernels::ToBf16(x.data_ptr<float>(), reinterpret_cast<uint16_t*>(y.data_ptr()), b, e);
    } else {
      row_kernels::ToFloat(reinterpret_cast<const uint16_t*>(x.data_ptr()), y.data_ptr<float>(), b, e);
    }
  });
  return y;
}

torch::Tensor Rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto elem = RopeElem(x, cos, sin);
  if (!elem || cos.requires_grad() || sin.requires_grad()) return RopeReference(x, cos, sin);
  if (!torch::GradMode::is_enabled() || !x.requires_grad()) {
    return RopeApply(*elem, x, cos, sin, /*transpose=*/false);
  }
  return RopeFunction::apply(x, cos, sin);
}

}  // namespace lorad
