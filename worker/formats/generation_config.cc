#include "worker/formats/generation_config.h"

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/formats/json_util.h"

namespace lorad {

absl::StatusOr<GenerationConfig> ParseGenerationConfig(std::string_view json_text,
                                                       std::string_view source) {
  LORAD_ASSIGN_OR_RETURN(nlohmann::json root, ParseJsonObject(json_text, source));
  GenerationConfig c;
  const JsonFields f(root, source);
  if (f.HasValue("eos_token_id") && root["eos_token_id"].is_number_integer()) {
    LORAD_ASSIGN_OR_RETURN(auto id, f.Int("eos_token_id"));
    c.eos_token_ids = {*id};
  } else {
    LORAD_ASSIGN_OR_RETURN(auto ids, f.IntList("eos_token_id"));
    if (ids) c.eos_token_ids = *ids;
  }
  for (int64_t id : c.eos_token_ids) {
    if (id < 0) return f.Error("eos_token_id", absl::StrCat("negative id ", id));
  }
  return c;
}

absl::StatusOr<GenerationConfig> LoadGenerationConfig(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "generation_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return GenerationConfig{};
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 16 << 20));
  return ParseGenerationConfig(text, path.string());
}

}  // namespace lorad
