// Helpers for the model tests: small random models on disk (random norms and
// biases too, so every tensor matters), temporary directories.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/formats/model_config.h"

namespace lorad::testing {

/// A fresh, empty directory under the test's temporary root.
std::filesystem::path MakeTempDir(const std::string& name);

/// A small Llama config: GQA (4 heads / 2 KV heads), head_dim 12 ≠ hidden/heads.
ModelConfig SmallLlamaConfig();

/// Writes dir/config.json (via ModelConfigToJson), parses it back (so derived
/// fields such as Qwen2's q/k/v biases are the parser's), then writes
/// dir/model.safetensors (F32; weights N(0, 0.2²) from a generator seeded with
/// `seed`, norm weights 1 + N(0, 0.1²), biases N(0, 0.1²)).  Returns the parsed config.
absl::StatusOr<ModelConfig> WriteRandomTestModel(const ModelConfig& config, const std::filesystem::path& dir,
                                  uint64_t seed);

}  // namespace lorad::testing
