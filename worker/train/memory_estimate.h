// A rough peak-memory estimate for --dry-run: weights, adapter training state,
// and the activations the backward pass keeps.  An order of magnitude to catch
// "this will not fit", not an accounting.
#pragma once

#include <cstdint>

#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/formats/model_config.h"
#include "worker/model/attention.h"
#include "worker/model/causal_lm.h"

namespace lorad {

struct MemoryEstimate {
  int64_t base_weights = 0;   // frozen weights in the compute dtype
  int64_t adapter_state = 0;  // LoRA params + grads + two AdamW moments (fp32)
  int64_t activations = 0;    // kept for backward, one micro-batch (includes attention)
  int64_t attention = 0;      // of which the attention backend keeps, all layers
  AttentionBackend backend = AttentionBackend::kEager;
  int64_t total() const { return base_weights + adapter_state + activations; }
  nlohmann::json ToJson() const;
};

MemoryEstimate EstimateMemory(const ModelConfig& model, CausalLmImpl& lm, const TrainConfig& config,
                              bool bf16, AttentionBackend attention);

/// Bytes one layer's attention keeps for the backward pass, beyond its inputs:
/// eager (and SDPA's math path) the heads × T² scores, fp32 probabilities and
/// their cast; blockwise (and fused SDPA kernels) only the output and the
/// per-row log-sum-exp (plus K/V repeated for GQA).
int64_t AttentionBytesPerLayer(const ModelConfig& model, int64_t micro_batch_size,
                               int64_t sequence_len, int64_t element_bytes,
                               AttentionBackend attention);

}  // namespace lorad
