// Makes a config's paths absolute (relative ones against the YAML's folder) and,
// when asked, checks that inputs exist; hub ids resolve through the local cache.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "worker/config/config_problems.h"
#include "worker/config/train_config.h"

namespace lorad {

/// `config_dir` must be absolute.  With `check_paths`, a missing base_model,
/// dataset file, lora_model_dir or resume_from_checkpoint is a problem, and a
/// base_model / lora_model_dir that is not a local directory but looks like a
/// hub id is looked up in the HF cache.
void ResolveConfigPaths(const std::filesystem::path& config_dir, bool check_paths,
                        TrainConfig* config, std::vector<std::string>* notes,
                        ConfigProblems* problems);

}  // namespace lorad
