// `lorad-worker init-model`: random-initialised HF-format models (config.json,
// model.safetensors, tokenizer files) for demos, tests and benchmarks.
// No LibTorch in this header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/formats/model_config.h"
#include "worker/formats/safetensors.h"

namespace lorad {

/// The architecture of a preset ("tiny", "bench-100m"); vocab_size is filled in
/// from the tokenizer by InitModel.  Unknown names are an error listing the presets.
absl::StatusOr<ModelConfig> PresetConfig(const std::string& preset);

/// Writes DIR/config.json and DIR/model.safetensors with weights initialised as
/// transformers does (normal(0, 0.02) for linears and embeddings, zeros for biases,
/// ones for norms), drawn from a generator seeded with `seed` in canonical tensor
/// order, stored as `dtype` (kF32, kBF16, kF16).  Byte-identical for equal inputs.
absl::Status WriteRandomModel(const ModelConfig& config, const std::filesystem::path& dir,
                              uint64_t seed, DType dtype);

struct InitModelOptions {
  std::string preset = "tiny";
  std::filesystem::path out;
  uint64_t seed = 0;
  bool force = false;  // allow a non-empty `out`
};

/// Trains the byte-level BPE tokenizer on the bundled corpus (tokenizer.json,
/// tokenizer_config.json), sets vocab_size and the special token ids, then
/// WriteRandomModel.  Refuses a non-empty `out` unless `force`.
absl::Status InitModel(const InitModelOptions& options);

}  // namespace lorad
