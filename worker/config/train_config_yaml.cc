#include "worker/config/train_config_yaml.h"

namespace lorad {

std::string TrainConfigToYaml(const TrainConfig& config) { return ""; }

std::vector<std::pair<std::string, std::string>> FlattenTrainConfig(const TrainConfig& config) {
  return {};
}

std::vector<std::string> DiffTrainConfigs(const TrainConfig& a, const TrainConfig& b,
                                          const std::set<std::string>& ignore_keys) {
  return {};
}

}  // namespace lorad
