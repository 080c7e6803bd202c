// A frozen linear layer with an optional LoRA adapter, exactly as PEFT's
// tuners/lora/layer.py Linear defines it:
//   y = x W^T (+ b) + scaling · B(A(dropout(x))),  scaling = alpha/r (alpha/√r with rsLoRA)
// in the style of the PyTorch C++ frontend (torch/nn/modules/linear.h).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>

namespace lorad {

struct LoraLinearOptions {
  LoraLinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = false;
  /// Dtype of the frozen base weight (the load dtype, or bf16; never an fp32
  /// copy of a bf16 model).
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
};

/// LoRA hyper-parameters of one adapted layer.
struct LoraAdapterOptions {
  TORCH_ARG(int64_t, r) = 8;
  TORCH_ARG(double, alpha) = 8;
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, use_rslora) = false;
};

/// Precision (why): the adapter's master weights `lora_A` / `lora_B` are fp32
/// parameters (the optimizer updates fp32), but the forward casts them to the
/// activation dtype and computes the adapter path in that dtype — which is what
/// PEFT does under bf16 autocast (F.linear autocasts inputs and weights to bf16).
/// PEFT then scales and adds in separate bf16 ops; here, when training without
/// dropout, the scaled add is fused into the adapter's second matmul (addmm,
/// alpha = scaling: one rounding instead of two) and the layer is one autograd
/// node (issue 10: fewer ops per step).  In an fp32 model the math is PEFT's up
/// to float summation order.  Gradients reach the fp32 masters in fp32.
class LoraLinearImpl : public torch::nn::Module {
 public:
  explicit LoraLinearImpl(const LoraLinearOptions& options);
  LoraLinearImpl(int64_t in_features, int64_t out_features)
      : LoraLinearImpl(LoraLinearOptions(in_features, out_features)) {}

  void pretty_print(std::ostream& stream) const override;

  /// Adds (or replaces) the adapter: lora_A [r, in] kaiming_uniform(a=√5), i.e.
  /// U(−1/√in, 1/√in), drawn from `generator`; lora_B [out, r] zeros; both fp32,
  /// requires_grad, on the base weight's device.
  void AddAdapter(const LoraAdapterOptions& adapter, torch::Generator& generator);
  bool has_adapter() const { return lora_A.defined(); }
  double scaling() const { return scaling_; }
  const LoraAdapterOptions& adapter_options() const { return adapter_; }

  /// Replaces the frozen base weight/bias (shape-checked by the caller).  The
  /// tensor may be a read-only view of a mmapped file: it is never written.
  void SetBaseWeight(torch::Tensor weight, torch::Tensor bias = {});

  torch::Tensor forward(const torch::Tensor& x);

  LoraLinearOptions options;
  torch::Tensor weight;  // [out, in], frozen
  torch::Tensor bias;    // [out] or undefined, frozen
  torch::Tensor lora_A;  // [r, in] fp32, trainable; undefined without adapter
  torch::Tensor lora_B;  // [out, r] fp32, trainable

 private:
  /// Registers `name` or replaces the tensor already registered under it.
  torch::Tensor SetParameter(const std::string& name, torch::Tensor value, bool requires_grad);

  LoraAdapterOptions adapter_;
  double scaling_ = 0.0;
};

TORCH_MODULE(LoraLinear);

}  // namespace lorad
