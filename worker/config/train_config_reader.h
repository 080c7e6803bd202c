// Reads the keys of a parsed training YAML into TrainConfig, with Axolotl's
// spellings and defaults, recording every bad value.  Paths are left as written
// (config_path_resolver resolves them).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "worker/config/config_problems.h"
#include "worker/config/train_config.h"
#include "yaml-cpp/yaml.h"

namespace lorad {

/// Chat templates the data library implements, by Axolotl's names.
inline const std::vector<std::string> kSupportedChatTemplates = {
    "chatml", "llama3", "mistral_v1", "mistral_v2v3", "qwen_25"};

/// Dataset formats the data library implements.
inline const std::vector<std::string> kSupportedDatasetTypes = {"completion", "alpaca",
                                                                "chat_template"};

/// Optimizer spellings accepted; all mean AdamW with decoupled weight decay
/// (torch.optim.AdamW), stored as "adamw_torch".
inline const std::vector<std::string> kAdamWAliases = {"adamw_torch", "adamw_torch_fused",
                                                       "adamw_hf", "adamw"};

/// Reads `root` (a mapping) into `config`.  Unread keys are appended to `ignored`
/// by key path; decisions to `notes`; bad values to `problems`.
void ReadTrainConfig(const YAML::Node& root, const std::set<std::string>& overridden,
                     TrainConfig* config, std::vector<std::string>* ignored,
                     std::vector<std::string>* notes, ConfigProblems* problems);

}  // namespace lorad
