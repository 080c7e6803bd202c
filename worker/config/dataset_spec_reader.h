// Reads one `datasets:` entry (Axolotl's dataset keys) into a DatasetSpec.
#pragma once

#include <string>
#include <vector>

#include "worker/config/train_config.h"
#include "worker/config/yaml_field_reader.h"

namespace lorad {

/// `reader` wraps datasets[i]; unread keys go to `ignored`, decisions to `notes`.
void ReadDatasetSpec(YamlFieldReader& reader, DatasetSpec* spec, std::vector<std::string>* ignored,
                     std::vector<std::string>* notes);

/// Checks a chat template name against kSupportedChatTemplates, with Axolotl's
/// tokenizer_default / jinja refused as needing a Jinja engine.
void ReadChatTemplate(YamlFieldReader& reader, const std::string& key, std::string* out);

}  // namespace lorad
