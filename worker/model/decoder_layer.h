// One transformers LlamaDecoderLayer (also Mistral / Qwen2):
//   h = x + o_proj(attn(rmsnorm1(x)));  out = h + down(silu(gate(y)) * up(y)), y = rmsnorm2(h)
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "worker/formats/model_config.h"
#include "worker/model/attention.h"
#include "worker/model/fused_ops.h"
#include "worker/model/lora_linear.h"

namespace lorad {

class KvCache;

/// cos/sin for the current batch, [B, T, head_dim] in the activation dtype, and
/// the attention mask, computed once per forward and shared by every layer.
struct LayerContext {
  torch::Tensor cos;
  torch::Tensor sin;
  AttentionMask mask;
  AttentionBackend backend = AttentionBackend::kEager;
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& config, torch::Dtype dtype);

  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx);
  /// The same block for new positions only: their keys/values are appended to
  /// `cache` (as layer `layer_index`) and attention sees every cached position
  /// (ctx.mask.query_offset = positions already cached).  Inference only.
  torch::Tensor ForwardCached(const torch::Tensor& x, const LayerContext& ctx, KvCache& cache,
                              int64_t layer_index);

  /// The seven linears by short name (q_proj … down_proj); nullptr if unknown.
  LoraLinear* Linear(const std::string& short_name);
  /// Replaces the frozen norm weights (the loader's tensors).
  void SetNormWeights(torch::Tensor input_norm, torch::Tensor post_norm);

  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  torch::Tensor input_layernorm;           // [H]
  torch::Tensor post_attention_layernorm;  // [H]

 private:
  /// The block; with `cache`, the new keys/values join the cached ones first.
  torch::Tensor Compute(const torch::Tensor& x, const LayerContext& ctx, KvCache* cache,
                        int64_t layer_index);

  int64_t num_heads_, num_kv_heads_, head_dim_;
  double eps_;
  double scale_;
};

TORCH_MODULE(DecoderLayer);

}  // namespace lorad
