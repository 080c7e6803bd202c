// PEFT LoRA adapter directories without LibTorch: read (config + mmapped
// safetensors, keys normalised to canonical module paths), check against the
// base model's linear layers, and write in PEFT's on-disk format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/formats/adapter_config.h"
#include "worker/formats/safetensors.h"

namespace lorad {

/// One adapted module: lora_A [r, in] and lora_B [out, r].
struct LoraPair {
  TensorInfo a, b;
  std::span<const uint8_t> a_data, b_data;  // inside AdapterWeights::file's mapping
  int64_t rank = 0;                         // from the shapes
  double alpha = 0;                         // lora_alpha, or the alpha_pattern entry that matches
  double scaling = 0;                       // alpha / rank, or alpha / sqrt(rank) with use_rslora
};

struct AdapterWeights {
  AdapterConfig config;
  /// Canonical module path ("model.layers.0.self_attn.q_proj") → its pair.
  std::map<std::string, LoraPair> modules;
  /// Keeps the spans above valid.
  std::shared_ptr<const SafetensorsFile> file;
};

/// Reads DIR/adapter_config.json and DIR/adapter_model.safetensors.  Keys may
/// carry the adapter name (`lora_A.default.weight`), the `base_model.model.`
/// prefix and the prefixes of other model classes (`model.layers.*` vs
/// `layers.*`).  Refused with an error naming the option or file:
/// adapter_model.bin (pickle), use_dora, modules_to_save, bias != none,
/// fan_in_fan_out, init_lora_weights that rewrite the base weights (pissa,
/// olora, corda, loftq), lora_bias, layer_replication, trainable tokens;
/// unknown tensor keys (all listed); A/B shapes that do not pair up.
absl::StatusOr<AdapterWeights> ReadAdapterDir(const std::filesystem::path& dir);

/// Checks the adapter against the base model's linear modules
/// (canonical path → {in_features, out_features}): every adapted module must
/// exist with matching shapes, and every target_modules entry must match some
/// module.  All problems are listed, each naming both sides.
absl::Status ValidateAdapterForModel(
    const AdapterWeights& adapter,
    const std::map<std::string, std::pair<int64_t, int64_t>>& module_in_out);

/// Maps a PEFT state-dict key to {canonical module path, "lora_A"|"lora_B"};
/// false for keys that are not LoRA A/B weights.
bool CanonicalLoraKey(const std::string& key, std::string* module, std::string* which);

/// Writes DIR/adapter_config.json and DIR/adapter_model.safetensors (fsynced;
/// DIR is created if needed).  `tensors` use canonical names
/// "<module path>.lora_A.weight" / ".lora_B.weight"; the file gets PEFT's
/// keys ("base_model.model." + name).
absl::Status WriteAdapterDir(const std::filesystem::path& dir, const AdapterConfig& config,
                             const std::vector<TensorBlob>& tensors);

}  // namespace lorad
