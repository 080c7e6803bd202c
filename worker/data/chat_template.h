// Axolotl's named chat templates (src/axolotl/utils/chat_templates/templates/
// *.jinja), hand-translated: Debian has no Jinja engine.  A conversation is
// rendered as a list of segments so that the format can tokenize it piece by
// piece and know exactly which tokens are message content (trainable) and
// which are template text (never trained).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

struct ChatMessage {
  std::string role;  // after the ShareGPT mapping: system | user | assistant | tool | ...
  std::string content;
};

struct ChatSegment {
  enum class Kind {
    kText,        // template text: never trained
    kBos,         // the tokenizer's BOS id (nothing when it has none)
    kContent,     // the content of `message` (trained per roles_to_train)
    kTerminator,  // the turn-ending token of `message` in `text` (trained per train_on_eos)
    kEos,         // the tokenizer's EOS id ending `message` (trained per train_on_eos)
  };
  Kind kind = Kind::kText;
  std::string text;
  int message = -1;
};

class ChatTemplate {
 public:
  enum class Name { kChatml, kLlama3, kMistralV1, kMistralV2V3, kQwen25 };

  /// chatml, llama3, mistral_v1, mistral_v2v3, qwen_25.  `tokenizer_default`,
  /// `jinja` and unknown names are refused with the list of supported names.
  static absl::StatusOr<ChatTemplate> ByName(const std::string& name);
  static std::string SupportedNames();

  const std::string& name() const { return name_string_; }

  /// The segments of the whole conversation, in order.  Errors (roles that
  /// the template rejects, as its Jinja raise_exception does) give the reason.
  absl::StatusOr<std::vector<ChatSegment>> Render(const std::vector<ChatMessage>& messages) const;

 private:
  ChatTemplate(Name name, std::string name_string) : name_(name), name_string_(std::move(name_string)) {}
  absl::StatusOr<std::vector<ChatSegment>> RenderMistral(const std::vector<ChatMessage>& messages,
                                                         bool v1) const;
  std::vector<ChatSegment> RenderQwen25(const std::vector<ChatMessage>& messages) const;

  Name name_;
  std::string name_string_;
};

/// Jinja's `trim` (Python str.strip() on whitespace).
std::string JinjaTrim(const std::string& s);

}  // namespace lorad
