// Picks the next token from a row of logits as transformers' generate() does:
// greedy (argmax) at temperature 0, otherwise temperature → top-k → top-p
// (its TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper order),
// softmax, and one multinomial draw from a generator seeded per prompt, so the
// same seed gives the same text.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "absl/status/status.h"

namespace lorad {

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy; otherwise > 0
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // (0, 1]; 1 = off
  uint64_t seed = 0;
};

/// Errors name the option: temperature < 0 or not finite, top_k < 0, top_p
/// outside (0, 1].
absl::Status ValidateSamplingOptions(const SamplingOptions& options);

class TokenSampler {
 public:
  /// `options` must be valid (ValidateSamplingOptions).
  explicit TokenSampler(const SamplingOptions& options);

  bool greedy() const { return options_.temperature == 0.0; }
  /// logits [V] (any float dtype, any device) → the next token id.  Draws on
  /// the CPU from this sampler's generator, so a seed gives the same choice on
  /// every device for the same logits.
  int64_t Next(const torch::Tensor& logits);

 private:
  SamplingOptions options_;
  torch::Generator generator_;
};

}  // namespace lorad
