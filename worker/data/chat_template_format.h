// `type: chat_template`: conversations of role/content messages (or
// ShareGPT's from/value) rendered with a named template, masked per turn.
#pragma once

#include <set>
#include <string>

#include "worker/data/chat_template.h"
#include "worker/data/prompt_format.h"

namespace lorad {

/// Masking follows Axolotl's ChatTemplateStrategy:
///  - only message *content* is ever trained (role headers and template text
///    never), for turns whose role is in roles_to_train (all turns with
///    train_on_inputs);
///  - the token that ends a turn (the template's terminator, e.g. <|im_end|>,
///    <|eot_id|>, or EOS for mistral) per train_on_eos: turn (when its turn is
///    trained), last (only the last trained turn's), all, none.
///    Axolotl's default `eot_tokens` is [eos_token] and it warns that a
///    template terminator other than EOS is then never trained; lorad treats
///    the template's own terminator as the turn's EOS, which is what that
///    warning asks users to configure.  A terminator the tokenizer does not
///    have as one token is plain (untrained) text.
/// Messages: record[field_messages], or `conversations` when field_messages is
/// the default and absent; role from `role` or `from`, content from `content`
/// or `value`; human→user, gpt→assistant.  A top-level `system` string is
/// prepended as a system turn when the first message is not one.
/// Ids are those of the whole rendered conversation encoded at once without
/// special tokens (as apply_chat_template does; BOS where the template writes
/// bos_token).  Each template piece is also encoded on its own: when the two
/// agree (the usual case) the piece boundaries are exact token boundaries;
/// when they do not (a token across a boundary, or a SentencePiece-style
/// tokenizer that prefixes every call with "▁"), the boundaries are found by
/// encoding the prefix before each change of labelling — a token straddling a
/// boundary goes to the later piece.
class ChatTemplateFormat : public PromptFormat {
 public:
  ChatTemplateFormat(const Tokenizer& tokenizer, ChatTemplate tmpl, const DatasetSpec& spec,
                     bool train_on_inputs);
  absl::Status Tokenize(const nlohmann::json& record, std::vector<Sample>* out) const override;
  std::string Describe() const override;

  /// ShareGPT role names → the template's (human→user, gpt→assistant).
  static std::string MapRole(const std::string& role);

 private:
  absl::StatusOr<std::vector<ChatMessage>> Messages(const nlohmann::json& record) const;

  const Tokenizer& tokenizer_;
  ChatTemplate template_;
  std::string field_messages_;
  std::set<std::string> roles_to_train_;
  std::string train_on_eos_;
  bool train_on_inputs_;
};

}  // namespace lorad
