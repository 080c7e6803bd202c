#include "worker/train/memory_estimate.h"

namespace lorad {

nlohmann::json MemoryEstimate::ToJson() const {
  return {{"base_weights_bytes", base_weights},
          {"adapter_state_bytes", adapter_state},
          {"activation_bytes", activations},
          {"total_bytes", total()},
          {"total_gib", static_cast<double>(total()) / (1024.0 * 1024.0 * 1024.0)}};
}

MemoryEstimate EstimateMemory(const ModelConfig& m, CausalLmImpl& lm, const TrainConfig& config,
                              bool bf16) {
  MemoryEstimate e;
  const int64_t elt = bf16 ? 2 : 4;
  e.base_weights = lm.NumBaseParameters() * elt;
  e.adapter_state = lm.NumLoraParameters() * 4 * 4;
  const int64_t tokens = config.micro_batch_size * config.sequence_len;
  const int64_t H = m.hidden_size, I = m.intermediate_size;
  const int64_t q = m.num_attention_heads * m.head_dim, kv = m.num_key_value_heads * m.head_dim;
  // Per layer, per token: inputs of the 7 linears and the norms (≈ 4H + q + 2kv
  // + 3I values in the compute dtype) plus fp32 norm statistics; per layer the
  // eager attention keeps scores and fp32 probabilities (heads × T² × (elt + 4)).
  const int64_t per_token = (4 * H + q + 2 * kv + 3 * I) * elt + 8 * H;
  const int64_t attention = config.micro_batch_size * m.num_attention_heads * config.sequence_len *
                            config.sequence_len * (elt + 4);
  int64_t per_layer = tokens * per_token + attention;
  // Gradient checkpointing keeps only each block's input; one block is live.
  if (config.gradient_checkpointing) {
    e.activations = m.num_hidden_layers * tokens * H * elt + per_layer;
  } else {
    e.activations = m.num_hidden_layers * per_layer;
  }
  return e;
}

}  // namespace lorad
