// Axolotl-style training YAML → typed, validated TrainConfig.  No LibTorch:
// lorad (validation at submit), loractl and lorad-worker share this code.
//
// One include gives the whole config API:
//   ParseTrainConfig / LoadTrainConfigFile   (this header)
//   TrainConfigToYaml / DiffTrainConfigs     (train_config_yaml.h)
//   CheckPathsUnderRoots, size bounds, UTF-8 (config_path_policy.h)
//   ResolveHubModel                          (hub_cache.h)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/config/config_path_policy.h"
#include "worker/config/hub_cache.h"
#include "worker/config/train_config.h"
#include "worker/config/train_config_yaml.h"

namespace lorad {

struct ConfigLoadOptions {
  /// Check that base_model, dataset files, lora_model_dir and
  /// resume_from_checkpoint exist (and resolve hub ids through the local HF
  /// cache).  loractl turns this off: the paths are the server's.
  bool check_paths = true;
};

struct LoadedConfig {
  TrainConfig config;
  /// Keys this build does not honour (unknown, or known Axolotl keys not
  /// implemented yet), each once, by key path ("wandb_project", "datasets[0].name").
  std::vector<std::string> ignored_keys;
  /// Decisions worth telling the user ("max_steps wins over num_epochs", aliases, ...).
  std::vector<std::string> notes;
  /// The YAML text exactly as given (before --set overrides).
  std::string source_yaml;
};

/// Largest YAML text accepted (job specs arrive over gRPC: bound them).
inline constexpr size_t kMaxConfigYamlBytes = size_t{4} << 20;

/// Parses and validates a training config.
///  - `config_dir`: relative paths in the YAML resolve against it (the YAML's folder).
///  - `set_overrides`: "key=value" strings (from `--set`), applied in order before
///    validation.  The key is a dotted path with numeric indices into lists
///    (`datasets.0.path` or `datasets[0].path`); the value is parsed as a YAML
///    scalar or flow collection (`1e-4`, `[q_proj, v_proj]`, `{path: x.jsonl}`).
/// Errors: INVALID_ARGUMENT whose message lists every problem found, one per line,
/// each starting with its key path (`lora_r: must be a positive integer, got 0`);
/// malformed YAML gives `line L, column C: ...`; a hub id missing from the local
/// cache gives NOT_FOUND-style text inside the same INVALID_ARGUMENT list with the
/// `huggingface-cli download` command to fix it.
absl::StatusOr<LoadedConfig> ParseTrainConfig(std::string_view yaml_text,
                                              const std::filesystem::path& config_dir,
                                              const std::vector<std::string>& set_overrides,
                                              const ConfigLoadOptions& options = {});

/// Reads `path` (bounded by kMaxConfigYamlBytes) and parses it with its folder
/// as config_dir.  A missing or unreadable file is NOT_FOUND / the read error.
absl::StatusOr<LoadedConfig> LoadTrainConfigFile(const std::filesystem::path& path,
                                                 const std::vector<std::string>& set_overrides,
                                                 const ConfigLoadOptions& options = {});

}  // namespace lorad
