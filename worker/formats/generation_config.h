// The parts of a Hugging Face generation_config.json that lorad uses: the
// token ids that end generation (often more than config.json lists, e.g.
// Llama-3 instruct's <|eot_id|>).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

struct GenerationConfig {
  std::vector<int64_t> eos_token_ids;  // eos_token_id: an int or a list
};

/// Parses generation_config.json text; `source` names the file in errors.
absl::StatusOr<GenerationConfig> ParseGenerationConfig(std::string_view json_text,
                                                       std::string_view source);
/// Reads MODEL_DIR/generation_config.json; an absent file is an empty config.
absl::StatusOr<GenerationConfig> LoadGenerationConfig(const std::filesystem::path& model_dir);

}  // namespace lorad
