// Canonical text form of a resolved TrainConfig and key-by-key comparison of two.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "worker/config/train_config.h"

namespace lorad {

/// Every key of the resolved config, in a stable order, as YAML that
/// ParseTrainConfig reads back to an equal TrainConfig (paths are absolute).
/// Used by `--dry-run` and stored in checkpoints.
std::string TrainConfigToYaml(const TrainConfig& config);

/// The config as (key path, canonical value) pairs, in TrainConfigToYaml's order.
/// Dataset keys are spelled `datasets[0].path`.  config_dir is not included.
std::vector<std::pair<std::string, std::string>> FlattenTrainConfig(const TrainConfig& config);

/// Keys whose values differ between `a` and `b`, formatted `key: a → b`, in a
/// stable order.  A key in `ignore_keys` is skipped; an entry "datasets" also
/// skips every `datasets[i].*` key.  Exact resume refuses a non-empty result
/// computed with kResumeMutableKeys.
std::vector<std::string> DiffTrainConfigs(const TrainConfig& a, const TrainConfig& b,
                                          const std::set<std::string>& ignore_keys);

/// Keys an exact resume may change (issue 3).  `attention` changes how, not
/// what, is computed: a resume with another backend is allowed and reported as
/// not bit-exact (the backend is part of the checkpoint's environment).
inline const std::set<std::string> kResumeMutableKeys = {
    "output_dir", "max_steps",     "num_epochs",      "save_steps",
    "logging_steps", "eval_steps", "save_total_limit", "attention"};

}  // namespace lorad
