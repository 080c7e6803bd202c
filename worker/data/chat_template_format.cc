#include "worker/data/chat_template_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/base/status_macros.h"

namespace lorad {

ChatTemplateFormat::ChatTemplateFormat(const Tokenizer& tokenizer, ChatTemplate tmpl,
                                       const DatasetSpec& spec, bool train_on_inputs)
    : tokenizer_(tokenizer),
      template_(std::move(tmpl)),
      field_messages_(spec.field_messages.empty() ? "messages" : spec.field_messages),
      train_on_eos_(spec.train_on_eos),
      train_on_inputs_(train_on_inputs) {
  for (const std::string& r : spec.roles_to_train) roles_to_train_.insert(MapRole(r));
}

std::string ChatTemplateFormat::MapRole(const std::string& role) {
  if (role == "human") return "user";
  if (role == "gpt") return "assistant";
  return role;
}

absl::StatusOr<std::vector<ChatMessage>> ChatTemplateFormat::Messages(
    const nlohmann::json& record) const {
  auto it = record.find(field_messages_);
  if (it == record.end() && field_messages_ == "messages") it = record.find("conversations");
  if (it == record.end()) {
    return absl::InvalidArgumentError(absl::StrCat("missing field '", field_messages_, "'"));
  }
  if (!it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", field_messages_, "' must be an array of messages"));
  }
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& m = (*it)[i];
    if (!m.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("message ", i, " is not an object"));
    }
    const char* role_key = m.contains("role") ? "role" : "from";
    const char* content_key = m.contains("content") ? "content" : "value";
    auto role = StringField(m, role_key, true);
    if (!role.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("message ", i, ": ", role.status().message(), " (role/from)"));
    }
    auto content = StringField(m, content_key, true);
    if (!content.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("message ", i, ": ", content.status().message(), " (content/value)"));
    }
    messages.push_back({MapRole(*role), std::move(*content)});
  }
  if (messages.empty()) return absl::InvalidArgumentError("conversation has no messages");
  if (messages[0].role != "system") {
    auto sys = record.find("system");
    if (sys != record.end() && sys->is_string()) {
      messages.insert(messages.begin(), ChatMessage{"system", sys->get<std::string>()});
    }
  }
  return messages;
}

absl::Status ChatTemplateFormat::Tokenize(const nlohmann::json& record,
                                          std::vector<Sample>* out) const {
  LORAD_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, Messages(record));
  LORAD_ASSIGN_OR_RETURN(std::vector<ChatSegment> segments, template_.Render(messages));
  auto trained_turn = [&](int m) {
    return m >= 0 && (train_on_inputs_ || roles_to_train_.count(messages[m].role) > 0);
  };
  Sample s;
  int64_t last_terminator = -1;  // index in s of the last trained turn's terminator
  for (const ChatSegment& seg : segments) {
    switch (seg.kind) {
      case ChatSegment::Kind::kBos:
        if (auto bos = tokenizer_.bos_id()) {
          s.input_ids.push_back(*bos);
          s.labels.push_back(kIgnoreIndex);
        }
        break;
      case ChatSegment::Kind::kText:
      case ChatSegment::Kind::kContent: {
        LORAD_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                               tokenizer_.TryEncode(seg.text, /*add_special_tokens=*/false));
        bool train = seg.kind == ChatSegment::Kind::kContent && trained_turn(seg.message);
        for (int32_t id : ids) {
          s.input_ids.push_back(id);
          s.labels.push_back(train ? id : kIgnoreIndex);
        }
        break;
      }
      case ChatSegment::Kind::kTerminator:
      case ChatSegment::Kind::kEos: {
        std::vector<int32_t> ids;
        if (seg.kind == ChatSegment::Kind::kEos) {
          if (auto eos = tokenizer_.eos_id()) ids.push_back(*eos);
        } else {
          LORAD_ASSIGN_OR_RETURN(ids, tokenizer_.TryEncode(seg.text, /*add_special_tokens=*/false));
        }
        bool single = ids.size() == 1;
        bool turn_trained = trained_turn(seg.message);
        bool train = single && (train_on_eos_ == "all" || (train_on_eos_ == "turn" && turn_trained));
        if (single && turn_trained) last_terminator = static_cast<int64_t>(s.input_ids.size());
        for (int32_t id : ids) {
          s.input_ids.push_back(id);
          s.labels.push_back(train ? id : kIgnoreIndex);
        }
        break;
      }
    }
  }
  if (train_on_eos_ == "last" && last_terminator >= 0) {
    s.labels[static_cast<size_t>(last_terminator)] = s.input_ids[static_cast<size_t>(last_terminator)];
  }
  out->push_back(std::move(s));
  return absl::OkStatus();
}

std::string ChatTemplateFormat::Describe() const {
  return absl::StrCat("chat_template(template=", template_.name(),
                      ",field_messages=", field_messages_,
                      ",roles_to_train=", absl::StrJoin(roles_to_train_, "|"),
                      ",train_on_eos=", train_on_eos_, ",train_on_inputs=", train_on_inputs_ ? 1 : 0,
                      ")");
}

}  // namespace lorad
