// Prompts for generation as token ids: plain text, or a conversation rendered
// with one of the built-in chat templates plus the assistant header that
// starts the reply — transformers' apply_chat_template(messages,
// add_generation_prompt=True, tokenize=True).  No Jinja engine: a model's own
// template (tokenizer_config.json chat_template) cannot run, so the caller
// must name one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/chat_template.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {

class GenerationPrompt {
 public:
  /// "none" (text as is) or a built-in template (ChatTemplate::SupportedNames());
  /// anything else is an error listing the names.
  static absl::StatusOr<GenerationPrompt> ByName(const std::string& name);
  static std::string SupportedNames();

  const std::string& name() const { return name_; }
  bool is_chat() const { return template_ != nullptr; }

  /// `none`: encode(text, add_special_tokens=True) (BOS as the tokenizer adds
  /// it); a template: the text as one user message.
  absl::StatusOr<std::vector<int32_t>> FromText(const Tokenizer& tokenizer,
                                                const std::string& text) const;
  /// The conversation and the assistant header; `none` refuses messages.
  absl::StatusOr<std::vector<int32_t>> FromMessages(const Tokenizer& tokenizer,
                                                    const std::vector<ChatMessage>& messages) const;
  /// The template's end-of-turn tokens that the tokenizer has (<|im_end|>,
  /// <|eot_id|>): generation stops at them as at EOS.
  std::vector<int32_t> TurnEndIds(const Tokenizer& tokenizer) const;

 private:
  GenerationPrompt(std::string name, std::shared_ptr<const ChatTemplate> t)
      : name_(std::move(name)), template_(std::move(t)) {}

  std::string name_;
  std::shared_ptr<const ChatTemplate> template_;  // null for "none"
};

/// True when MODEL_DIR ships its own (Jinja) chat template: a non-null
/// `chat_template` in tokenizer_config.json, or chat_template.jinja.
bool HasJinjaChatTemplate(const std::filesystem::path& model_dir);

}  // namespace lorad
