#include "worker/train/memory_estimate.h"

#include "worker/model/attention_choice.h"
#include "worker/model/torch_compat.h"

namespace lorad {

nlohmann::json MemoryEstimate::ToJson() const {
  return {{"base_weights_bytes", base_weights},
          {"adapter_state_bytes", adapter_state},
          {"activation_bytes", activations},
          {"attention_backend", AttentionBackendName(backend)},
          {"attention_bytes", attention},
          {"total_bytes", total()},
          {"total_gib", static_cast<double>(total()) / (1024.0 * 1024.0 * 1024.0)}};
}

int64_t AttentionBytesPerLayer(const ModelConfig& m, int64_t micro_batch_size,
                               int64_t sequence_len, int64_t elt, AttentionBackend attention) {
  const int64_t b = micro_batch_size, t = sequence_len, nh = m.num_attention_heads;
  const bool dense = attention == AttentionBackend::kEager ||
                     (attention == AttentionBackend::kSdpa &&
                      !torch_compat::kHasScaledDotProductAttention);
  if (dense) {
    // Softmax output in fp32 plus its cast to the activation dtype for P·V
    // (one tensor when the activations are fp32).
    return b * nh * t * t * (elt == 4 ? 4 : elt + 4);
  }
  // Output [B, nH, T, hd], fp32 log-sum-exp [B, nH, T], and K/V repeated to nH
  // heads when the model uses GQA.
  const int64_t rep_kv = m.num_attention_heads != m.num_key_value_heads
                             ? 2 * b * nh * t * m.head_dim * elt
                             : 0;
  return b * nh * t * m.head_dim * elt + b * nh * t * 4 + rep_kv;
}

MemoryEstimate EstimateMemory(const ModelConfig& m, CausalLmImpl& lm, const TrainConfig& config,
                              bool bf16, AttentionBackend attention) {
  MemoryEstimate e;
  e.backend = attention;
  const int64_t elt = bf16 ? 2 : 4;
  e.base_weights = lm.NumBaseParameters() * elt;
  e.adapter_state = lm.NumLoraParameters() * 4 * 4;
  const int64_t tokens = config.micro_batch_size * config.sequence_len;
  const int64_t H = m.hidden_size, I = m.intermediate_size;
  const int64_t q = m.num_attention_heads * m.head_dim, kv = m.num_key_value_heads * m.head_dim;
  // Per layer, per token: inputs of the 7 linears and the norms (≈ 4H + q + 2kv
  // + 3I values in the compute dtype), the rotated q and k, plus fp32 norm
  // statistics; then what the attention backend keeps.
  const int64_t per_token = (4 * H + 2 * q + 3 * kv + 3 * I) * elt + 8 * H;
  const int64_t attention_per_layer = AttentionBytesPerLayer(
      m, config.micro_batch_size, config.sequence_len, elt, attention);
  const int64_t per_layer = tokens * per_token + attention_per_layer;
  // Gradient checkpointing keeps only each block's input; one block is live.
  if (config.gradient_checkpointing) {
    e.activations = m.num_hidden_layers * tokens * H * elt + per_layer;
    e.attention = attention_per_layer;
  } else {
    e.activations = m.num_hidden_layers * per_layer;
    e.attention = m.num_hidden_layers * attention_per_layer;
  }
  return e;
}

}  // namespace lorad
