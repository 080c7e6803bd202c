#include "worker/config/config_loader.h"

#include "absl/status/status.h"

namespace lorad {

absl::StatusOr<LoadedConfig> ParseTrainConfig(std::string_view yaml_text,
                                              const std::filesystem::path& config_dir,
                                              const std::vector<std::string>& set_overrides,
                                              const ConfigLoadOptions& options) {
  return absl::UnimplementedError("ParseTrainConfig: in progress");
}

absl::StatusOr<LoadedConfig> LoadTrainConfigFile(const std::filesystem::path& path,
                                                 const std::vector<std::string>& set_overrides,
                                                 const ConfigLoadOptions& options) {
  return absl::UnimplementedError("LoadTrainConfigFile: in progress");
}

}  // namespace lorad
