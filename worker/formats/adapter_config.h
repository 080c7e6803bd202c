// PEFT's adapter_config.json (the interchange format for LoRA adapters).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

struct AdapterConfig {
  std::string peft_type = "LORA";
  std::string task_type = "CAUSAL_LM";
  std::string base_model_name_or_path;
  int64_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0.0;
  std::vector<std::string> target_modules;  // list form
  std::string target_modules_regex;          // when PEFT stored a regex string
  std::string bias = "none";
  bool fan_in_fan_out = false;
  bool use_rslora = false;
  bool use_dora = false;
  std::vector<std::string> modules_to_save;
  std::vector<int64_t> layers_to_transform;
  std::string layers_pattern;
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  std::string init_lora_weights = "true";  // true | false | gaussian | pissa | ... as text
  bool inference_mode = false;
  /// Keys of the JSON we do not model (kept for messages, not errors).
  std::vector<std::string> unknown_keys;
  /// Every key we do not model (known PEFT options such as `lora_bias`,
  /// `layer_replication`, `exclude_modules`, and unknown ones) → its JSON text,
  /// so the adapter reader can refuse non-default values that change the math
  /// and AdapterConfigToJson writes them back unchanged.
  std::map<std::string, std::string> extra_json;
};

/// Parses adapter_config.json text; `source` names the file in errors.
absl::StatusOr<AdapterConfig> ParseAdapterConfig(std::string_view json_text, std::string_view source);
absl::StatusOr<AdapterConfig> LoadAdapterConfig(const std::filesystem::path& adapter_dir);
/// PEFT-compatible JSON (every key PEFT writes, so PeftModel.from_pretrained loads it).
std::string AdapterConfigToJson(const AdapterConfig& config);

}  // namespace lorad
