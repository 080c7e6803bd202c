// A rough peak-memory estimate for --dry-run: weights, adapter training state,
// and the activations the backward pass keeps.  An order of magnitude to catch
// "this will not fit", not an accounting.
#pragma once

#include <cstdint>

#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/formats/model_config.h"
#include "worker/model/causal_lm.h"

namespace lorad {

struct MemoryEstimate {
  int64_t base_weights = 0;   // frozen weights in the compute dtype
  int64_t adapter_state = 0;  // LoRA params + grads + two AdamW moments (fp32)
  int64_t activations = 0;    // kept for backward, one micro-batch
  int64_t total() const { return base_weights + adapter_state + activations; }
  nlohmann::json ToJson() const;
};

MemoryEstimate EstimateMemory(const ModelConfig& model, CausalLmImpl& lm, const TrainConfig& config,
                              bool bf16);

}  // namespace lorad
