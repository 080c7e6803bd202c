// The subset of a Hugging Face Llama-family config.json that the model needs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

enum class Architecture { kLlama, kMistral, kQwen2 };

struct RopeScaling {
  enum class Type { kNone, kLinear, kLlama3 };
  Type type = Type::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;               // llama3
  double high_freq_factor = 4.0;              // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  std::string architecture_name;  // as in config.json, e.g. "LlamaForCausalLM"
  std::string model_type;         // "llama", "mistral", "qwen2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  /// Std of the normal init of linear/embedding weights (only init-model uses it).
  double initializer_range = 0.02;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // bias on q,k,v,o (Llama); Qwen2 forces q,k,v bias
  bool qkv_bias = false;        // effective: q/k/v projections have a bias
  bool o_bias = false;          // effective: o_proj has a bias
  bool mlp_bias = false;
  int64_t sliding_window = 0;   // 0 = none (Mistral / Qwen2 with use_sliding_window)
  std::string hidden_act = "silu";
  std::string torch_dtype = "float32";  // "float32" | "bfloat16" | "float16"
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = -1;
};

/// Parses and validates config.json text. `source` names the file in errors.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source);
/// Reads MODEL_DIR/config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::filesystem::path& model_dir);
/// Serialises to HF config.json text (used by init-model and merge).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace lorad
