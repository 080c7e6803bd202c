#include "worker/model/lora_linear.h"

#include <torch/torch.h>

#include <cmath>

#include "worker/model/fused_ops.h"

namespace lorad {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = x Wᵀ (+ b) + s · (x Aᵀ) Bᵀ as one autograd node (no dropout): the frozen
// product and the adapter's second matmul share one output buffer (addmm with
// alpha = s), and the backward pass runs five matmuls instead of autograd's
// chain of views, casts, scalings and adds.  A and B arrive as the fp32
// masters; they are cast to the activation dtype here (PEFT under autocast)
// and their gradients leave in fp32.
struct LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor lora_a,
                               torch::Tensor lora_b, torch::Tensor weight,
                               const torch::Tensor* bias, double scaling) {
    const auto dt = x.scalar_type();
    torch::Tensor a = CastTo(lora_a, dt), b = CastTo(lora_b, dt);
    // The bias (frozen, often absent) travels by pointer: an undefined tensor
    // cannot be a custom function's input.
    torch::Tensor out = torch::linear(x, weight, *bias);
    torch::Tensor t = torch::matmul(x, a.t());  // [.., r]
    out.view({-1, out.size(-1)}).addmm_(t.reshape({-1, t.size(-1)}), b.t(), /*beta=*/1,
                                        /*alpha=*/scaling);
    ctx->save_for_backward({x, t, a, b, weight});
    ctx->saved_data["scaling"] = scaling;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor x = saved[0], t = saved[1], a = saved[2], b = saved[3], weight = saved[4];
    const double scaling = ctx->saved_data["scaling"].toDouble();
    torch::Tensor x2 = x.reshape({-1, x.size(-1)});
    torch::Tensor t2 = t.reshape({-1, t.size(-1)});
    torch::Tensor dy = grad_outputs[0].reshape({-1, weight.size(0)});
    torch::Tensor u = torch::mm(dy, b);  // [N, r]
    torch::Tensor grad_x, grad_a, grad_b;
    if (ctx->needs_input_grad(0)) {
      grad_x = torch::mm(dy, weight).addmm_(u, a, /*beta=*/1, /*alpha=*/scaling).view(x.sizes());
    }
    if (ctx->needs_input_grad(1)) grad_a = CastTo(torch::mm(u.t(), x2), torch::kFloat32).mul_(scaling);
    if (ctx->needs_input_grad(2)) grad_b = CastTo(torch::mm(dy.t(), t2), torch::kFloat32).mul_(scaling);
    return {grad_x, grad_a, grad_b, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

LoraLinearImpl::LoraLinearImpl(const LoraLinearOptions& options_) : options(options_) {
  // Placeholders in the base dtype; the loader replaces them with the stored
  // weights (SetBaseWeight), init-model fills its own.
  auto opts = torch::TensorOptions().dtype(options.dtype());
  weight = register_parameter(
      "weight", torch::empty({options.out_features(), options.in_features()}, opts),
      /*requires_grad=*/false);
  if (options.bias()) {
    bias = register_parameter("bias", torch::empty({options.out_features()}, opts),
                              /*requires_grad=*/false);
  } else {
    bias = register_parameter("bias", {}, /*requires_grad=*/false);
  }
}

void LoraLinearImpl::SetBaseWeight(torch::Tensor new_weight, torch::Tensor new_bias) {
  TORCH_CHECK(new_weight.dim() == 2 && new_weight.size(0) == options.out_features() &&
                  new_weight.size(1) == options.in_features(),
              "LoraLinear: base weight shape mismatch");
  TORCH_CHECK(new_bias.defined() == options.bias(), "LoraLinear: bias presence mismatch");
  weight = SetParameter("weight", new_weight.detach(), false);
  if (new_bias.defined()) bias = SetParameter("bias", new_bias.detach(), false);
}

torch::Tensor LoraLinearImpl::SetParameter(const std::string& name, torch::Tensor value,
                                           bool requires_grad) {
  if (!parameters_.contains(name)) return register_parameter(name, value, requires_grad);
  if (value.defined()) value.set_requires_grad(requires_grad);
  parameters_[name] = value;
  return value;
}

void LoraLinearImpl::AddAdapter(const LoraAdapterOptions& adapter, torch::Generator& generator) {
  TORCH_CHECK(adapter.r() > 0, "LoraLinear: r must be > 0");
  adapter_ = adapter;
  scaling_ = adapter.use_rslora() ? adapter.alpha() / std::sqrt(static_cast<double>(adapter.r()))
                                  : adapter.alpha() / static_cast<double>(adapter.r());
  // kaiming_uniform_(a=√5) on [r, in]: gain = √(2/(1+a²)) = √(1/3), bound =
  // gain·√(3/fan_in) = 1/√in.  Drawn on the CPU from the seeded generator so the
  // init does not depend on the device or on the global RNG.
  const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_features()));
  torch::Tensor a = torch::empty({adapter.r(), options.in_features()}, torch::kFloat32);
  a.uniform_(-bound, bound, generator);
  torch::Tensor b = torch::zeros({options.out_features(), adapter.r()}, torch::kFloat32);
  lora_A = SetParameter("lora_A", a.to(weight.device()), true);
  lora_B = SetParameter("lora_B", b.to(weight.device()), true);
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  if (!lora_A.defined()) return torch::linear(x, weight, bias);
  const bool dropout = is_training() && adapter_.dropout() > 0.0;
  if (!dropout && torch::GradMode::is_enabled() && !weight.requires_grad() &&
      lora_A.scalar_type() == torch::kFloat32 && lora_B.scalar_type() == torch::kFloat32) {
    return LoraLinearFunction::apply(x, lora_A, lora_B, weight, &bias, scaling_);
  }
  // With dropout (its mask drawn as PEFT draws it), or without gradients.
  torch::Tensor out = torch::linear(x, weight, bias);
  torch::Tensor h = x;
  if (dropout) h = torch::dropout(h, adapter_.dropout(), true);
  // See the header: the adapter path runs in the activation dtype, like PEFT
  // under autocast; the casts are no-ops for fp32 activations.
  const auto dt = x.scalar_type();
  torch::Tensor a = lora_A.scalar_type() == dt ? lora_A : lora_A.to(dt);
  torch::Tensor b = lora_B.scalar_type() == dt ? lora_B : lora_B.to(dt);
  return out + torch::linear(torch::linear(h, a), b) * scaling_;
}

void LoraLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "lorad::LoraLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", bias=" << options.bias();
  if (lora_A.defined()) {
    stream << ", r=" << adapter_.r() << ", alpha=" << adapter_.alpha()
           << ", dropout=" << adapter_.dropout() << ", rslora=" << adapter_.use_rslora();
  }
  stream << ")";
}

}  // namespace lorad
