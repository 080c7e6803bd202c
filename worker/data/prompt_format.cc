#include "worker/data/prompt_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/base/status_macros.h"
#include "worker/data/alpaca_format.h"
#include "worker/data/chat_template.h"
#include "worker/data/chat_template_format.h"
#include "worker/data/completion_format.h"

namespace lorad {

absl::StatusOr<std::vector<int32_t>> TokenizeLikeAxolotl(const Tokenizer& tokenizer,
                                                         std::string_view text, int64_t max_length,
                                                         bool add_eos, bool strip_bos) {
  if (text.empty()) return std::vector<int32_t>();
  LORAD_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                         tokenizer.TryEncode(text, /*add_special_tokens=*/true));
  if (static_cast<int64_t>(ids.size()) > max_length) ids.resize(static_cast<size_t>(max_length));
  if (ids.empty()) return ids;
  std::optional<int32_t> eos = tokenizer.eos_id();
  if (add_eos && eos && ids.back() != *eos && static_cast<int64_t>(ids.size()) < max_length) {
    ids.push_back(*eos);
  }
  std::optional<int32_t> bos = tokenizer.bos_id();
  if (strip_bos && bos && ids.front() == *bos) ids.erase(ids.begin());
  return ids;
}

absl::StatusOr<std::string> StringField(const nlohmann::json& record, const std::string& key,
                                        bool required) {
  auto it = record.find(key);
  if (it == record.end() || it->is_null()) {
    if (!required) return std::string();
    return absl::InvalidArgumentError(absl::StrCat("missing field '", key, "'"));
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", key, "' must be a string, got ", it->type_name()));
  }
  return it->get<std::string>();
}

absl::StatusOr<std::unique_ptr<PromptFormat>> MakePromptFormat(const DatasetSpec& spec,
                                                               const TrainConfig& config,
                                                               const Tokenizer& tokenizer) {
  if (spec.type == "completion") {
    return std::unique_ptr<PromptFormat>(
        new CompletionFormat(tokenizer, spec.field, config.sequence_len));
  }
  if (spec.type == "alpaca") {
    return std::unique_ptr<PromptFormat>(
        new AlpacaFormat(tokenizer, config.sequence_len, config.train_on_inputs));
  }
  if (spec.type == "chat_template") {
    const std::string& name = spec.chat_template.empty() ? config.chat_template : spec.chat_template;
    auto tmpl = ChatTemplate::ByName(name);
    if (!tmpl.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("datasets[", spec.path, "].chat_template: ", tmpl.status().message()));
    }
    for (const std::string& v : {spec.train_on_eos}) {
      if (v != "turn" && v != "last" && v != "all" && v != "none") {
        return absl::InvalidArgumentError(absl::StrCat(
            "datasets[", spec.path, "].train_on_eos: '", v, "' (expected turn, last, all or none)"));
      }
    }
    return std::unique_ptr<PromptFormat>(
        new ChatTemplateFormat(tokenizer, *tmpl, spec, config.train_on_inputs));
  }
  return absl::InvalidArgumentError(absl::StrCat("datasets[", spec.path, "].type: '", spec.type,
                                                 "' is not supported (supported: completion, "
                                                 "alpaca, chat_template)"));
}

}  // namespace lorad
