// Helpers of the generation and merge tests: random, non-trivial LoRA
// adapters on disk (B is non-zero, so an adapter that silently failed to apply
// shows) and loading a test model.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/formats/model_config.h"
#include "worker/model/causal_lm.h"

namespace lorad::testing {

struct RandomAdapterSpec {
  std::vector<std::string> target_modules = {"all-linear"};
  int64_t r = 4;
  double alpha = 8;
  bool use_rslora = false;
  /// Scale of B's N(0, b_std²) entries (A is U(−1/√in, 1/√in) as PEFT's init).
  double b_std = 0.2;
  uint64_t seed = 1;
};

/// Writes DIR/adapter_config.json + adapter_model.safetensors (PEFT keys, F32)
/// for the linears of `config` that `spec` targets.
absl::Status WriteRandomAdapter(const ModelConfig& config, const std::filesystem::path& dir,
                                const RandomAdapterSpec& spec);

/// LoadCausalLm on DIR with its config.json, weights kept in `dtype`; a
/// failure is a test failure (and a null model).
CausalLm LoadTestModel(const std::filesystem::path& dir, torch::Dtype dtype = torch::kFloat32);

}  // namespace lorad::testing
