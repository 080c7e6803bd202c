// One tokenized training example as the prompt formats produce it.
#pragma once

#include <cstdint>
#include <vector>

namespace lorad {

/// Label of a token that is not trained (PyTorch CrossEntropy's ignore_index).
inline constexpr int32_t kIgnoreIndex = -100;

/// `labels` is aligned with `input_ids` (same length), HF style: the trainer
/// shifts them by one (position t predicts labels[t + 1]).
struct Sample {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;

  bool operator==(const Sample&) const = default;
};

}  // namespace lorad
