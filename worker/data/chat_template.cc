#include "worker/data/chat_template.h"

#include "absl/strings/str_cat.h"

namespace lorad {
namespace {

using Kind = ChatSegment::Kind;

ChatSegment Text(std::string t) { return {Kind::kText, std::move(t), -1}; }
ChatSegment Content(std::string t, int i) { return {Kind::kContent, std::move(t), i}; }
ChatSegment Terminator(std::string t, int i) { return {Kind::kTerminator, std::move(t), i}; }

constexpr char kQwenDefaultSystem[] =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

}  // namespace

std::string JinjaTrim(const std::string& s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  size_t b = 0, e = s.size();
  while (b < e && space(s[b])) ++b;
  while (e > b && space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string ChatTemplate::SupportedNames() {
  return "chatml, llama3, mistral_v1, mistral_v2v3, qwen_25";
}

absl::StatusOr<ChatTemplate> ChatTemplate::ByName(const std::string& name) {
  if (name == "chatml") return ChatTemplate(Name::kChatml, name);
  if (name == "llama3") return ChatTemplate(Name::kLlama3, name);
  if (name == "mistral_v1") return ChatTemplate(Name::kMistralV1, name);
  if (name == "mistral_v2v3") return ChatTemplate(Name::kMistralV2V3, name);
  if (name == "qwen_25") return ChatTemplate(Name::kQwen25, name);
  if (name == "tokenizer_default" || name == "jinja" ||
      name.rfind("tokenizer_default_fallback_", 0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chat template '", name,
        "' needs a Jinja engine, which this build does not have; use one of the built-in "
        "templates: ",
        SupportedNames()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown chat template '", name, "' (supported: ", SupportedNames(), ")"));
}

absl::StatusOr<std::vector<ChatSegment>> ChatTemplate::Render(
    const std::vector<ChatMessage>& messages) const {
  if (messages.empty()) return absl::InvalidArgumentError("conversation has no messages");
  std::vector<ChatSegment> out;
  switch (name_) {
    case Name::kChatml:
      for (int i = 0; i < static_cast<int>(messages.size()); ++i) {
        out.push_back(Text(absl::StrCat("<|im_start|>", messages[i].role, "\n")));
        out.push_back(Content(messages[i].content, i));
        out.push_back(Terminator("<|im_end|>", i));
        out.push_back(Text("\n"));
      }
      return out;
    case Name::kLlama3:
      for (int i = 0; i < static_cast<int>(messages.size()); ++i) {
        if (i == 0) out.push_back({Kind::kBos, "", -1});
        out.push_back(
            Text(absl::StrCat("<|start_header_id|>", messages[i].role, "<|end_header_id|>\n\n")));
        out.push_back(Content(JinjaTrim(messages[i].content), i));
        out.push_back(Terminator("<|eot_id|>", i));
      }
      return out;
    case Name::kMistralV1:
      return RenderMistral(messages, /*v1=*/true);
    case Name::kMistralV2V3:
      return RenderMistral(messages, /*v1=*/false);
    case Name::kQwen25:
      return RenderQwen25(messages);
  }
  return absl::InternalError("unhandled chat template");
}

absl::StatusOr<std::vector<ChatSegment>> ChatTemplate::RenderMistral(
    const std::vector<ChatMessage>& messages, bool v1) const {
  std::vector<ChatSegment> out;
  int first = 0;
  bool has_system = messages[0].role == "system";
  if (has_system) first = 1;
  int last_user = -1;
  for (int i = first; i < static_cast<int>(messages.size()); ++i) {
    const std::string& role = messages[i].role;
    if (role != "user" && role != "assistant") {
      return absl::InvalidArgumentError(absl::StrCat(
          name_string_, " supports only user and assistant roles after an optional system "
                        "message, got role '", role, "' in message ", i));
    }
    if ((role == "user") != ((i - first) % 2 == 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name_string_, ": after the optional system message, roles must alternate "
                        "user/assistant/user/assistant/... (message ", i, " is '", role, "')"));
    }
    if (role == "user") last_user = i;
  }
  out.push_back({Kind::kBos, "", -1});
  // v1 puts the system message into the first user turn, v2/v3 into the last.
  int system_user = v1 ? first : last_user;
  for (int i = first; i < static_cast<int>(messages.size()); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user") {
      out.push_back(Text(v1 ? " [INST] " : "[INST] "));
      if (has_system && i == system_user) {
        out.push_back(Content(messages[0].content, 0));
        out.push_back(Text("\n\n"));
      }
      out.push_back(Content(m.content, i));
      out.push_back(Text(v1 ? " [/INST]" : "[/INST]"));
    } else {
      // The space belongs to the content span: byte-level and SentencePiece
      // tokenizers both fold it into the first content token.
      out.push_back(Content(absl::StrCat(" ", v1 ? m.content : JinjaTrim(m.content)), i));
      out.push_back({Kind::kEos, "", i});
    }
  }
  return out;
}

std::vector<ChatSegment> ChatTemplate::RenderQwen25(const std::vector<ChatMessage>& messages) const {
  std::vector<ChatSegment> out;
  if (messages[0].role == "system") {
    out.push_back(Text("<|im_start|>system\n"));
    out.push_back(Content(messages[0].content, 0));
    out.push_back(Terminator("<|im_end|>", 0));
    out.push_back(Text("\n"));
  } else {
    out.push_back(Text(absl::StrCat("<|im_start|>system\n", kQwenDefaultSystem, "<|im_end|>\n")));
  }
  const int n = static_cast<int>(messages.size());
  for (int i = 0; i < n; ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0) || m.role == "assistant") {
      out.push_back(Text(absl::StrCat("<|im_start|>", m.role, "\n")));
      out.push_back(Content(m.content, i));
      out.push_back(Terminator("<|im_end|>", i));
      out.push_back(Text("\n"));
    } else if (m.role == "tool") {
      // Consecutive tool results share one user turn.
      if (i == 0 || messages[i - 1].role != "tool") out.push_back(Text("<|im_start|>user"));
      out.push_back(Text("\n<tool_response>\n"));
      out.push_back(Content(m.content, i));
      out.push_back(Text("\n</tool_response>"));
      if (i == n - 1 || messages[i + 1].role != "tool") {
        out.push_back(Terminator("<|im_end|>", i));
        out.push_back(Text("\n"));
      }
    }
    // Other roles render nothing, as in the Jinja template.
  }
  return out;
}

}  // namespace lorad
