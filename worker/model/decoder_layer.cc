#include "worker/model/decoder_layer.h"

#include <torch/torch.h>

#include <cmath>
#include <tuple>

#include "worker/model/fused_ops.h"
#include "worker/model/kv_cache.h"

namespace lorad {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& config, torch::Dtype dtype)
    : num_heads_(config.num_attention_heads),
      num_kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      eps_(config.rms_norm_eps),
      scale_(1.0 / std::sqrt(static_cast<double>(config.head_dim))) {
  const int64_t h = config.hidden_size, inter = config.intermediate_size;
  auto lin = [&](const char* name, int64_t in, int64_t out, bool bias) {
    return register_module(name, LoraLinear(LoraLinearOptions(in, out).bias(bias).dtype(dtype)));
  };
  q_proj = lin("q_proj", h, num_heads_ * head_dim_, config.qkv_bias);
  k_proj = lin("k_proj", h, num_kv_heads_ * head_dim_, config.qkv_bias);
  v_proj = lin("v_proj", h, num_kv_heads_ * head_dim_, config.qkv_bias);
  o_proj = lin("o_proj", num_heads_ * head_dim_, h, config.o_bias);
  gate_proj = lin("gate_proj", h, inter, config.mlp_bias);
  up_proj = lin("up_proj", h, inter, config.mlp_bias);
  down_proj = lin("down_proj", inter, h, config.mlp_bias);
  auto opts = torch::TensorOptions().dtype(dtype);
  input_layernorm = register_parameter("input_layernorm", torch::ones({h}, opts), false);
  post_attention_layernorm =
      register_parameter("post_attention_layernorm", torch::ones({h}, opts), false);
}

LoraLinear* DecoderLayerImpl::Linear(const std::string& name) {
  if (name == "q_proj") return &q_proj;
  if (name == "k_proj") return &k_proj;
  if (name == "v_proj") return &v_proj;
  if (name == "o_proj") return &o_proj;
  if (name == "gate_proj") return &gate_proj;
  if (name == "up_proj") return &up_proj;
  if (name == "down_proj") return &down_proj;
  return nullptr;
}

void DecoderLayerImpl::SetNormWeights(torch::Tensor input_norm, torch::Tensor post_norm) {
  input_norm.set_requires_grad(false);
  post_norm.set_requires_grad(false);
  parameters_["input_layernorm"] = input_layernorm = input_norm;
  parameters_["post_attention_layernorm"] = post_attention_layernorm = post_norm;
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const LayerContext& ctx) {
  return Compute(x, ctx, nullptr, 0);
}

torch::Tensor DecoderLayerImpl::ForwardCached(const torch::Tensor& x, const LayerContext& ctx,
                                              KvCache& cache, int64_t layer_index) {
  return Compute(x, ctx, &cache, layer_index);
}

torch::Tensor DecoderLayerImpl::Compute(const torch::Tensor& x, const LayerContext& ctx,
                                        KvCache* cache, int64_t layer_index) {
  const int64_t b = x.size(0), t = x.size(1);
  // Attention.
  torch::Tensor y = RmsNorm(x, input_layernorm, eps_);
  // RoPE on the projections' own [B, T, H, D] layout, then heads to the front.
  torch::Tensor q =
      Rope(q_proj->forward(y).view({b, t, num_heads_, head_dim_}), ctx.cos, ctx.sin).transpose(1, 2);
  torch::Tensor k =
      Rope(k_proj->forward(y).view({b, t, num_kv_heads_, head_dim_}), ctx.cos, ctx.sin)
          .transpose(1, 2);
  torch::Tensor v = v_proj->forward(y).view({b, t, num_kv_heads_, head_dim_}).transpose(1, 2);
  if (cache != nullptr) std::tie(k, v) = cache->Append(layer_index, k, v);
  torch::Tensor attn = Attend(q, k, v, ctx.mask, scale_, ctx.backend);
  attn = attn.transpose(1, 2).reshape({b, t, num_heads_ * head_dim_});
  torch::Tensor h = x + o_proj->forward(attn);
  // SwiGLU MLP.
  torch::Tensor z = RmsNorm(h, post_attention_layernorm, eps_);
  torch::Tensor act = SwiGlu(gate_proj->forward(z), up_proj->forward(z));
  return h + down_proj->forward(act);
}

}  // namespace lorad
