#include "worker/model/chunked_cross_entropy.h"

#include <torch/torch.h>

#include <algorithm>

namespace lorad {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct ChunkedCrossEntropyFunction
    : public torch::autograd::Function<ChunkedCrossEntropyFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor hidden, torch::Tensor weight,
                               torch::Tensor targets, int64_t chunk) {
    ctx->save_for_backward({hidden, weight, targets});
    ctx->saved_data["chunk"] = chunk;
    const torch::Dtype loss_dtype = LossDtype(hidden.scalar_type());
    torch::NoGradGuard no_grad;
    torch::Tensor total = torch::zeros({}, hidden.options().dtype(loss_dtype));
    const int64_t n = hidden.size(0);
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      torch::Tensor logits =
          torch::matmul(hidden.narrow(0, start, len), weight.t()).to(loss_dtype);
      torch::Tensor t = targets.narrow(0, start, len).unsqueeze(1);
      total += (torch::logsumexp(logits, -1) - logits.gather(1, t).squeeze(1)).sum();
    }
    return total;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor hidden = saved[0], weight = saved[1], targets = saved[2];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const torch::Dtype loss_dtype = LossDtype(hidden.scalar_type());
    torch::Tensor g = grad_outputs[0].to(loss_dtype);
    const bool need_h = ctx->needs_input_grad(0);
    const bool need_w = ctx->needs_input_grad(1);
    torch::Tensor grad_h = need_h ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor grad_w = need_w ? torch::zeros_like(weight, weight.options().dtype(loss_dtype))
                                  : torch::Tensor();
    const int64_t n = hidden.size(0);
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      torch::Tensor h = hidden.narrow(0, start, len);
      torch::Tensor logits = torch::matmul(h, weight.t()).to(loss_dtype);
      // d CE / d logits = softmax − one_hot(target).
      torch::Tensor d = torch::softmax(logits, -1);
      d.scatter_add_(1, targets.narrow(0, start, len).unsqueeze(1),
                     torch::full({len, 1}, -1.0, d.options()));
      d.mul_(g);
      torch::Tensor d_act = d.to(hidden.scalar_type());
      if (need_h) grad_h.narrow(0, start, len).copy_(torch::matmul(d_act, weight));
      if (need_w) grad_w.add_(torch::matmul(d.t(), h.to(loss_dtype)));
    }
    if (need_w) grad_w = grad_w.to(weight.scalar_type());
    return {grad_h, grad_w, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Dtype LossDtype(torch::Dtype dtype) {
  return dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor ChunkedCrossEntropySum(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& targets, int64_t chunk_rows) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
              "ChunkedCrossEntropySum: hidden [N, H] and weight [V, H] expected");
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0),
              "ChunkedCrossEntropySum: targets [N] expected");
  if (chunk_rows <= 0) {
    // ~64 MiB of fp32 logits per chunk (the softmax in the backward pass needs
    // about twice that).
    chunk_rows = std::max<int64_t>(1, (int64_t{64} << 20) / (4 * weight.size(0)));
  }
  return ChunkedCrossEntropyFunction::apply(hidden, weight, targets.to(torch::kInt64),
                                            chunk_rows);
}

}  // namespace lorad
