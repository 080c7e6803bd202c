#include "worker/config/dataset_spec_reader.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/config/train_config_reader.h"
#include "worker/config/unsupported_keys.h"

namespace lorad {

void ReadChatTemplate(YamlFieldReader& reader, const std::string& key, std::string* out) {
  std::string name;
  if (!reader.ReadString(key, &name)) return;
  for (const std::string& s : kSupportedChatTemplates) {
    if (s == name) {
      *out = name;
      return;
    }
  }
  const std::string supported = absl::StrJoin(kSupportedChatTemplates, ", ");
  if (name == "tokenizer_default" || name == "jinja" ||
      name.rfind("tokenizer_default_fallback_", 0) == 0) {
    reader.Problem(key, absl::StrCat("\"", name,
                                     "\" needs a Jinja template engine, which this build does "
                                     "not have; use a template by name (supported: ",
                                     supported, ")"));
    return;
  }
  reader.Problem(key, absl::StrCat("unknown chat template \"", name, "\" (supported: ", supported,
                                   ")"));
}

void ReadDatasetSpec(YamlFieldReader& reader, DatasetSpec* spec, std::vector<std::string>* ignored,
                     std::vector<std::string>* notes) {
  reader.CheckDuplicateKeys();
  if (!reader.ReadString("path", &spec->path)) {
    if (!reader.Has("path")) reader.Problem("path", "required: a local .jsonl, .json or .txt file");
  }

  const YAML::Node type = reader.Take("type");
  if (!type.IsDefined() || type.IsNull()) {
    notes->push_back(absl::StrCat(reader.PathOf("type"), " not set: using completion"));
  } else if (!type.IsScalar()) {
    reader.Problem("type", "custom prompt formats (a mapping) are not supported yet; use "
                           "completion, alpaca or chat_template");
  } else {
    const std::string t = type.Scalar();
    bool known = false;
    for (const std::string& s : kSupportedDatasetTypes) known = known || s == t;
    if (known) {
      spec->type = t;
    } else if (t == "sharegpt" || t.rfind("sharegpt:", 0) == 0) {
      reader.Problem("type", "sharegpt was replaced by chat_template in Axolotl; use type: "
                             "chat_template with field_messages: conversations");
    } else {
      reader.Problem("type", absl::StrCat("unknown dataset type \"", t, "\" (supported: ",
                                          absl::StrJoin(kSupportedDatasetTypes, ", "), ")"));
    }
  }

  reader.ReadString("field", &spec->field);
  reader.ReadString("field_messages", &spec->field_messages);
  ReadChatTemplate(reader, "chat_template", &spec->chat_template);
  if (reader.ReadStringList("roles_to_train", &spec->roles_to_train, 16) &&
      spec->roles_to_train.empty()) {
    reader.Problem("roles_to_train", "must name at least one role (e.g. [assistant])");
  }
  reader.ReadEnum("train_on_eos", &spec->train_on_eos, {"turn", "last", "all", "none"},
                  "train_on_eos value");
  std::string split;
  if (reader.ReadString("split", &split)) {
    spec->split = split;
    notes->push_back(absl::StrCat(reader.PathOf("split"), " \"", split,
                                  "\" is ignored: a local file is used whole"));
  }

  for (const RefusedKey& refused : RefusedDatasetKeys()) {
    const YAML::Node node = reader.Take(refused.key);
    if (YamlTruthy(node)) reader.Problem(refused.key, refused.reason);
  }
  for (const std::string& key : reader.UntakenKeys()) ignored->push_back(reader.PathOf(key));
}

}  // namespace lorad
