#include "worker/data/chat_template_format.h"

#include <algorithm>

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

namespace {

// One rendered piece with its training decision.
struct Piece {
  enum class Role { kMasked, kTrained, kTerminator };
  std::string text;          // as the template writes it
  std::vector<int32_t> ids;  // encoded on its own
  Role role = Role::kMasked;
  bool train = false;        // kTerminator: train this turn end
};

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

absl::Status ChatTemplateFormat::Tokenize(const nlohmann::json& record,
                                          std::vector<Sample>* out) const {
  LORAD_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, Messages(record));
  LORAD_ASSIGN_OR_RETURN(std::vector<ChatSegment> segments, template_.Render(messages));
  auto trained_turn = [&](int m) {
    return m >= 0 && (train_on_inputs_ || roles_to_train_.count(messages[m].role) > 0);
  };
  Sample s;
  std::vector<Piece> pieces;
  int last_trained_terminator = -1;
  for (size_t k = 0; k < segments.size(); ++k) {
    const ChatSegment& seg = segments[k];
    Piece p;
    switch (seg.kind) {
      case ChatSegment::Kind::kBos: {
        auto bos = tokenizer_.bos_id();
        if (!bos) continue;
        if (k == 0) {  // the template's leading bos_token: never trained
          s.input_ids.push_back(*bos);
          s.labels.push_back(kIgnoreIndex);
          continue;
        }
        p.ids = {*bos};
        p.text = tokenizer_.Decode(p.ids, /*skip_special_tokens=*/false);
        break;
      }
      case ChatSegment::Kind::kText:
      case ChatSegment::Kind::kContent: {
        p.text = seg.text;
        LORAD_ASSIGN_OR_RETURN(p.ids, tokenizer_.TryEncode(p.text, /*add_special_tokens=*/false));
        if (seg.kind == ChatSegment::Kind::kContent && trained_turn(seg.message)) {
          p.role = Piece::Role::kTrained;
        }
        break;
      }
      case ChatSegment::Kind::kTerminator:
      case ChatSegment::Kind::kEos: {
        if (seg.kind == ChatSegment::Kind::kEos) {
          auto eos = tokenizer_.eos_id();
          if (!eos) continue;
          p.ids = {*eos};
          p.text = tokenizer_.Decode(p.ids, /*skip_special_tokens=*/false);
        } else {
          p.text = seg.text;
          LORAD_ASSIGN_OR_RETURN(p.ids, tokenizer_.TryEncode(p.text, /*add_special_tokens=*/false));
        }
        // A terminator the tokenizer splits into several tokens is plain text.
        if (p.ids.size() == 1) {
          p.role = Piece::Role::kTerminator;
          p.train = train_on_eos_ == "all" || (train_on_eos_ == "turn" && trained_turn(seg.message));
          if (trained_turn(seg.message)) last_trained_terminator = static_cast<int>(pieces.size());
        }
        break;
      }
    }
    pieces.push_back(std::move(p));
  }
  if (train_on_eos_ == "last" && last_trained_terminator >= 0) {
    pieces[static_cast<size_t>(last_trained_terminator)].train = true;
  }
  auto label = [](const Piece& p, int32_t id, bool whole_terminator) {
    const bool train = p.role == Piece::Role::kTrained ||
                       (p.role == Piece::Role::kTerminator && p.train && whole_terminator);
    return train ? id : kIgnoreIndex;
  };

  // Hugging Face renders the whole conversation and encodes it at once.  Piece
  // by piece gives the same ids unless a token spans a piece boundary (or the
  // tokenizer prepends a word marker to every call, as SentencePiece-style
  // ones do): check, and otherwise locate the piece boundaries inside the
  // whole encoding by encoding each prefix (slower, only for such samples).
  std::string full_text;
  std::vector<int32_t> piecewise;
  for (const Piece& p : pieces) {
    full_text += p.text;
    piecewise.insert(piecewise.end(), p.ids.begin(), p.ids.end());
  }
  LORAD_ASSIGN_OR_RETURN(std::vector<int32_t> full,
                         tokenizer_.TryEncode(full_text, /*add_special_tokens=*/false));
  if (full == piecewise) {
    for (const Piece& p : pieces) {
      for (int32_t id : p.ids) {
        s.input_ids.push_back(id);
        s.labels.push_back(label(p, id, /*whole_terminator=*/true));
      }
    }
  } else {
    // Spans: runs of pieces labelled alike (a terminator always alone, so
    // that "is it one token" is checked on its own span).
    struct Span {
      size_t piece;       // first piece of the span (its labelling)
      size_t text_begin;  // byte offset in full_text
    };
    std::vector<Span> spans;
    size_t offset = 0;
    for (size_t k = 0; k < pieces.size(); ++k) {
      if (spans.empty() || pieces[k].role != pieces[spans.back().piece].role ||
          pieces[k].role == Piece::Role::kTerminator) {
        spans.push_back({k, offset});
      }
      offset += pieces[k].text.size();
    }
    // Token index where each span starts in `full`.
    std::vector<size_t> begin(spans.size() + 1, 0);
    begin[spans.size()] = full.size();
    for (size_t j = 1; j < spans.size(); ++j) {
      LORAD_ASSIGN_OR_RETURN(
          std::vector<int32_t> prefix,
          tokenizer_.TryEncode(std::string_view(full_text).substr(0, spans[j].text_begin),
                               /*add_special_tokens=*/false));
      begin[j] = std::clamp(CommonPrefix(prefix, full), begin[j - 1], full.size());
    }
    for (size_t j = 0; j < spans.size(); ++j) {
      const size_t end = std::max(begin[j], begin[j + 1]);
      for (size_t t = begin[j]; t < end; ++t) {
        s.input_ids.push_back(full[t]);
        s.labels.push_back(label(pieces[spans[j].piece], full[t], end - begin[j] == 1));
      }
    }
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
