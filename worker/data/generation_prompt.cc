#include "worker/data/generation_prompt.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

// The text that add_generation_prompt appends in each template's Jinja.
std::string AssistantHeader(const std::string& name) {
  if (name == "chatml" || name == "qwen_25") return "<|im_start|>assistant\n";
  if (name == "llama3") return "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return "";  // mistral: the reply follows [/INST] directly
}

std::vector<std::string> TurnEndTokens(const std::string& name) {
  if (name == "chatml" || name == "qwen_25") return {"<|im_end|>"};
  if (name == "llama3") return {"<|eot_id|>"};
  return {};  // mistral: a reply ends with EOS
}

}  // namespace

std::string GenerationPrompt::SupportedNames() {
  return absl::StrCat("none, ", ChatTemplate::SupportedNames());
}

absl::StatusOr<GenerationPrompt> GenerationPrompt::ByName(const std::string& name) {
  if (name == "none") return GenerationPrompt(name, nullptr);
  auto t = ChatTemplate::ByName(name);
  if (!t.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(t.status().message(), "; or none (the prompt text as is)"));
  }
  return GenerationPrompt(name, std::make_shared<const ChatTemplate>(*std::move(t)));
}

absl::StatusOr<std::vector<int32_t>> GenerationPrompt::FromText(const Tokenizer& tokenizer,
                                                                const std::string& text) const {
  if (!template_) return tokenizer.TryEncode(text, /*add_special_tokens=*/true);
  return FromMessages(tokenizer, {{"user", text}});
}

absl::StatusOr<std::vector<int32_t>> GenerationPrompt::FromMessages(
    const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages) const {
  if (!template_) {
    return absl::InvalidArgumentError(
        "a conversation (messages) needs a chat template: pass --chat-template NAME");
  }
  LORAD_ASSIGN_OR_RETURN(std::vector<ChatSegment> segments, template_->Render(messages));
  std::vector<int32_t> ids;
  std::string text;
  // Special tokens that the template emits as ids split the text; the pieces
  // are encoded without special tokens, as apply_chat_template(tokenize=True).
  auto flush = [&]() -> absl::Status {
    if (text.empty()) return absl::OkStatus();
    LORAD_ASSIGN_OR_RETURN(std::vector<int32_t> piece,
                           tokenizer.TryEncode(text, /*add_special_tokens=*/false));
    ids.insert(ids.end(), piece.begin(), piece.end());
    text.clear();
    return absl::OkStatus();
  };
  for (const ChatSegment& seg : segments) {
    switch (seg.kind) {
      case ChatSegment::Kind::kBos:
      case ChatSegment::Kind::kEos: {
        LORAD_RETURN_IF_ERROR(flush());
        const auto id =
            seg.kind == ChatSegment::Kind::kBos ? tokenizer.bos_id() : tokenizer.eos_id();
        if (id) ids.push_back(*id);
        break;
      }
      default:
        text += seg.text;
    }
  }
  text += AssistantHeader(name_);
  LORAD_RETURN_IF_ERROR(flush());
  return ids;
}

std::vector<int32_t> GenerationPrompt::TurnEndIds(const Tokenizer& tokenizer) const {
  std::vector<int32_t> ids;
  for (const std::string& token : TurnEndTokens(name_)) {
    if (auto id = tokenizer.TokenToId(token)) ids.push_back(*id);
  }
  return ids;
}

bool HasJinjaChatTemplate(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (std::filesystem::exists(model_dir / "chat_template.jinja", ec)) return true;
  auto text = ReadFileToString(model_dir / "tokenizer_config.json", 64 << 20);
  if (!text.ok()) return false;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null();
}

}  // namespace lorad
