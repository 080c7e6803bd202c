#include "worker/model/block_checkpoint.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "worker/model/torch_compat.h"

namespace lorad {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Non-tensor state travels in ctx->saved_data (IValues).  The layer pointer is
// stored as an integer: the model owns its layers for longer than any graph
// built through them.
struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  static variable_list forward(AutogradContext* ctx, torch::Tensor x, at::TensorList params,
                               DecoderLayerImpl* layer, const LayerContext* lctx) {
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["num_params"] = static_cast<int64_t>(params.size());
    Put(ctx, "cos", lctx->cos);
    Put(ctx, "sin", lctx->sin);
    Put(ctx, "mask", lctx->mask.dense_allowed);
    Put(ctx, "segment_ids", lctx->mask.segment_ids);
    Put(ctx, "key_padding", lctx->mask.key_padding);
    ctx->saved_data["sliding_window"] = lctx->mask.sliding_window;
    ctx->saved_data["query_offset"] = lctx->mask.query_offset;
    ctx->saved_data["backend"] = static_cast<int64_t>(lctx->backend);
    const torch_compat::RngState rng = torch_compat::SaveRngState(x.device());
    Put(ctx, "rng_cpu", rng.cpu);
    Put(ctx, "rng_cuda", rng.cuda);
    ctx->save_for_backward({x});
    torch::NoGradGuard no_grad;
    return {layer->forward(x, *lctx)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    const int64_t num_params = ctx->saved_data["num_params"].toInt();
    LayerContext lctx;
    lctx.cos = Get(ctx, "cos");
    lctx.sin = Get(ctx, "sin");
    lctx.mask.dense_allowed = Get(ctx, "mask");
    lctx.mask.segment_ids = Get(ctx, "segment_ids");
    lctx.mask.key_padding = Get(ctx, "key_padding");
    lctx.mask.sliding_window = ctx->saved_data["sliding_window"].toInt();
    lctx.mask.query_offset = ctx->saved_data["query_offset"].toInt();
    lctx.backend = static_cast<AttentionBackend>(ctx->saved_data["backend"].toInt());
    torch::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);

    torch_compat::RngState replay;
    replay.device = x.device();
    replay.cpu = Get(ctx, "rng_cpu");
    replay.cuda = Get(ctx, "rng_cuda");
    // Recompute with the forward's RNG state, then put the current state back so
    // the checkpointing is invisible to everything drawn afterwards.
    const torch_compat::RngState current = torch_compat::SaveRngState(x.device());
    torch_compat::RestoreRngState(replay);
    torch::Tensor out;
    {
      torch::AutoGradMode enable_grad(true);
      out = layer->forward(x, lctx);
    }
    torch_compat::RestoreRngState(current);

    std::vector<torch::Tensor> inputs = {x};
    std::vector<torch::Tensor> trainable = TrainableParams(*layer);
    TORCH_CHECK(static_cast<int64_t>(trainable.size()) == num_params,
                "gradient checkpointing: the layer's trainable parameters changed");
    for (const torch::Tensor& p : trainable) inputs.push_back(p);
    variable_list grads = torch::autograd::grad({out}, inputs, {grad_outputs[0]},
                                                /*retain_graph=*/false, /*create_graph=*/false,
                                                /*allow_unused=*/true);
    // x, each param, then the two non-tensor arguments.
    grads.push_back(torch::Tensor());
    grads.push_back(torch::Tensor());
    return grads;
  }

  // Undefined tensors are simply not stored (an IValue cannot hold one).
  static void Put(AutogradContext* ctx, const char* key, const torch::Tensor& t) {
    if (t.defined()) ctx->saved_data[key] = t;
  }
  static torch::Tensor Get(AutogradContext* ctx, const char* key) {
    auto it = ctx->saved_data.find(key);
    return it == ctx->saved_data.end() ? torch::Tensor() : it->second.toTensor();
  }

  static std::vector<torch::Tensor> TrainableParams(DecoderLayerImpl& layer) {
    std::vector<torch::Tensor> out;
    for (const torch::Tensor& p : layer.parameters(/*recurse=*/true)) {
      if (p.requires_grad()) out.push_back(p);
    }
    return out;
  }
};

}  // namespace

torch::Tensor CheckpointedLayerForward(DecoderLayerImpl& layer, const torch::Tensor& x,
                                       const LayerContext& ctx) {
  std::vector<torch::Tensor> params = CheckpointFunction::TrainableParams(layer);
  return CheckpointFunction::apply(x, at::TensorList(params), &layer, &ctx)[0];
}

}  // namespace lorad
