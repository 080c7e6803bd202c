// `type: alpaca`: {instruction, input?, output} with Axolotl's prompt wording.
#pragma once

#include <cstdint>
#include <string>

#include "worker/data/prompt_format.h"

namespace lorad {

/// As Axolotl's AlpacaPromptTokenizingStrategy (PromptStyle instruct): the
/// prompt is encoded with the tokenizer's special tokens (BOS) and truncated
/// to sequence_len; the output is encoded with its BOS stripped and EOS
/// appended.  Prompt labels are -100 unless train_on_inputs.
class AlpacaFormat : public PromptFormat {
 public:
  AlpacaFormat(const Tokenizer& tokenizer, int64_t sequence_len, bool train_on_inputs)
      : tokenizer_(tokenizer), sequence_len_(sequence_len), train_on_inputs_(train_on_inputs) {}
  absl::Status Tokenize(const nlohmann::json& record, std::vector<Sample>* out) const override;
  std::string Describe() const override;

  /// The prompt text (everything before the output).
  static std::string BuildPrompt(const std::string& instruction, const std::string& input);

 private:
  const Tokenizer& tokenizer_;
  int64_t sequence_len_;
  bool train_on_inputs_;
};

}  // namespace lorad
