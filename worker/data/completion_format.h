// `type: completion`: raw text, every token trained.
#pragma once

#include <cstdint>
#include <string>

#include "worker/data/prompt_format.h"

namespace lorad {

/// As Axolotl's completion strategy: BOS + text + EOS (where the tokenizer
/// defines them), encoded up to 64 × sequence_len tokens, then cut into
/// consecutive chunks of sequence_len tokens, each a sample with labels =
/// input_ids.  (The builder later drops chunks too short to train on.)
class CompletionFormat : public PromptFormat {
 public:
  CompletionFormat(const Tokenizer& tokenizer, std::string field, int64_t sequence_len)
      : tokenizer_(tokenizer), field_(std::move(field)), sequence_len_(sequence_len) {}
  absl::Status Tokenize(const nlohmann::json& record, std::vector<Sample>* out) const override;
  std::string Describe() const override;

 private:
  const Tokenizer& tokenizer_;
  std::string field_;
  int64_t sequence_len_;
};

}  // namespace lorad
