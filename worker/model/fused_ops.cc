#include "worker/model/fused_ops.h"

#include <torch/torch.h>

namespace lorad {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Dtype StatDtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// The forward exactly as transformers computes it; returns {output, rstd}.
std::pair<torch::Tensor, torch::Tensor> RmsNormForward(const torch::Tensor& x,
                                                       const torch::Tensor& weight, double eps) {
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
    torch::Tensor x32 = x.to(stat);
    torch::Tensor grad_x, grad_w;
    if (ctx->needs_input_grad(0)) {
      torch::Tensor g = (dy * weight).to(stat);
      torch::Tensor gx = (g * x32).mean(-1, /*keepdim=*/true);
      grad_x = g.sub_(x32 * (rstd * rstd).mul_(gx)).mul_(rstd).to(x.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      torch::Tensor normed = (x32 * rstd).to(x.scalar_type());
      grad_w = (dy * normed).reshape({-1, x.size(-1)}).sum(0).to(weight.scalar_type());
    }
    return {grad_x, grad_w, torch::Tensor()};
  }
};

struct SwiGluFunction : public torch::autograd::Function<SwiGluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor gate, torch::Tensor up) {
    ctx->save_for_backward({gate, up});
    return torch::silu(gate) * up;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor gate = saved[0], up = saved[1];
    const torch::Tensor& dy = grad_outputs[0];
    torch::Tensor grad_up, grad_gate;
    if (ctx->needs_input_grad(1)) grad_up = dy * torch::silu(gate);
    // ATen's own SiLU derivative kernel (one pass, fp32 inside for bf16).
    if (ctx->needs_input_grad(0)) grad_gate = at::silu_backward(dy * up, gate);
    return {grad_gate, grad_up};
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
  if (!NeedsGraph(gate, up)) return torch::silu(gate) * up;
  return SwiGluFunction::apply(gate, up);
}

}  // namespace lorad
