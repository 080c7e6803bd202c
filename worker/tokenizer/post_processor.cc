#include "worker/tokenizer/post_processor.h"

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"

namespace lorad {

namespace {

absl::StatusOr<SpecialTokenFrame> ParseTemplate(const nlohmann::json& j, const JsonPath& at) {
  const JsonPath single_at = at.Key("single");
  auto sit = j.find("single");
  if (sit == j.end() || !sit->is_array()) return single_at.Error("must be an array of items");
  const JsonPath map_at = at.Key("special_tokens");
  auto mit = j.find("special_tokens");
  if (mit != j.end() && !mit->is_null() && !mit->is_object())
    return map_at.Error("must be an object");
  SpecialTokenFrame frame;
  bool seen_sequence = false;
  for (size_t i = 0; i < sit->size(); ++i) {
    const JsonPath item_at = single_at.Index(i);
    const nlohmann::json& item = (*sit)[i];
    if (item.is_object() && item.contains("Sequence")) {
      if (seen_sequence) return item_at.Error("the single template names a sequence twice");
      seen_sequence = true;
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object()) {
      return item_at.Error(R"(must be {"SpecialToken": {...}} or {"Sequence": {...}})");
    }
    LORAD_ASSIGN_OR_RETURN(const std::string name, JsonString(item["SpecialToken"], "id",
                                                              item_at.Key("SpecialToken"), true));
    if (mit == j.end() || !mit->is_object() || !mit->contains(name)) {
      return item_at.Error(absl::StrCat("special token '", name, "' is not in special_tokens"));
    }
    const nlohmann::json& spec = (*mit)[name];
    const JsonPath spec_at = map_at.Key(name).Key("ids");
    if (!spec.is_object() || !spec.contains("ids") || !spec["ids"].is_array() ||
        spec["ids"].size() > 64) {
      return spec_at.Error("must be an array of at most 64 ids");
    }
    for (const auto& id : spec["ids"]) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId) {
        return spec_at.Error("ids must be integers in range");
      }
      (seen_sequence ? frame.suffix : frame.prefix)
          .push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  if (!seen_sequence) return single_at.Error("the single template has no Sequence item");
  return frame;
}

absl::StatusOr<int32_t> ParseTokenPair(const nlohmann::json& j, const std::string& key,
                                       const JsonPath& at) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer() ||
      (*it)[1].get<int64_t>() < 0 || (*it)[1].get<int64_t>() > kMaxTokenId) {
    return at.Key(key).Error("must be [token, id]");
  }
  return static_cast<int32_t>((*it)[1].get<int64_t>());
}

}  // namespace

void SpecialTokenFrame::Apply(std::vector<int32_t>* ids) const {
  if (!prefix.empty()) ids->insert(ids->begin(), prefix.begin(), prefix.end());
  ids->insert(ids->end(), suffix.begin(), suffix.end());
}

absl::StatusOr<SpecialTokenFrame> SpecialTokenFrame::FromJson(const nlohmann::json& j,
                                                              const JsonPath& at, size_t depth) {
  if (j.is_null()) return SpecialTokenFrame{};
  if (depth > kMaxComponentDepth) return at.Error("post-processors nested too deeply");
  LORAD_ASSIGN_OR_RETURN(const std::string type, JsonType(j, at));
  if (type == "ByteLevel") return SpecialTokenFrame{};  // only adjusts offsets
  if (type == "TemplateProcessing") return ParseTemplate(j, at);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    LORAD_ASSIGN_OR_RETURN(const int32_t cls, ParseTokenPair(j, "cls", at));
    LORAD_ASSIGN_OR_RETURN(const int32_t sep, ParseTokenPair(j, "sep", at));
    return SpecialTokenFrame{{cls}, {sep}};
  }
  if (type == "Sequence") {
    auto it = j.find("processors");
    if (it == j.end() || !it->is_array()) return at.Key("processors").Error("must be an array");
    SpecialTokenFrame total;
    for (size_t i = 0; i < it->size(); ++i) {
      LORAD_ASSIGN_OR_RETURN(SpecialTokenFrame f,
                             FromJson((*it)[i], at.Key("processors").Index(i), depth + 1));
      // Each processor wraps what the previous ones produced.
      f.prefix.insert(f.prefix.end(), total.prefix.begin(), total.prefix.end());
      total.prefix = std::move(f.prefix);
      total.suffix.insert(total.suffix.end(), f.suffix.begin(), f.suffix.end());
    }
    return total;
  }
  return at.Error(absl::StrCat("post-processor type '", type,
                               "' is not supported (supported: TemplateProcessing, ByteLevel, "
                               "RobertaProcessing, BertProcessing, Sequence)"));
}

}  // namespace lorad
