#include "server/config_job_validator.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/status_macros.h"
#include "worker/config/config_loader.h"

namespace lorad {

absl::StatusOr<ValidatedSpec> ConfigJobValidator::Validate(const v1::JobSpec& spec) {
  std::filesystem::path dir(spec.config_dir());
  if (spec.config_dir().empty() || !dir.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config_dir: must be an absolute path on the server (relative paths in the YAML resolve "
        "against it), got \"", spec.config_dir(), "\""));
  }
  std::vector<std::string> overrides(spec.set_overrides().begin(), spec.set_overrides().end());
  LORAD_ASSIGN_OR_RETURN(LoadedConfig loaded, ParseTrainConfig(spec.config_yaml(), dir, overrides));
  LORAD_RETURN_IF_ERROR(CheckPathsUnderRoots(loaded.config, allowed_roots_));
  ValidatedSpec v;
  v.output_dir = loaded.config.output_dir;
  v.estimated_steps = loaded.config.max_steps;
  v.checkpoints_kept = loaded.config.save_total_limit;
  nlohmann::json resolved = nlohmann::json::object();
  for (const auto& [key, value] : FlattenTrainConfig(loaded.config)) resolved[key] = value;
  v.resolved_config_json = resolved.dump();
  for (const auto& key : loaded.ignored_keys) v.warnings.push_back(key + ": ignored (not supported)");
  for (const auto& note : loaded.notes) v.warnings.push_back(note);
  return v;
}

}  // namespace lorad
