// Turns one dataset record into token ids and labels, as Axolotl's prompt
// strategies do for the dataset `type:` names lorad supports.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/data/sample.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {

class PromptFormat {
 public:
  virtual ~PromptFormat() = default;
  /// Appends the samples of one record (completion may split a long text into
  /// several).  Errors give the reason only; the caller prefixes file:line.
  virtual absl::Status Tokenize(const nlohmann::json& record, std::vector<Sample>* out) const = 0;
  /// Canonical text of the format and every option that changes its output
  /// (part of the data fingerprint).
  virtual std::string Describe() const = 0;
};

/// The format of one `datasets:` entry: completion | alpaca | chat_template.
/// INVALID_ARGUMENT names the key and the supported values.
absl::StatusOr<std::unique_ptr<PromptFormat>> MakePromptFormat(const DatasetSpec& spec,
                                                               const TrainConfig& config,
                                                               const Tokenizer& tokenizer);

/// Axolotl's PromptTokenizingStrategy._tokenize: encode with the tokenizer's
/// special tokens, truncate to max_length, append EOS when the ids do not
/// already end with it and there is room (add_eos), drop a leading BOS
/// (strip_bos).  An empty text gives no ids at all (no BOS/EOS either).
/// Tokenizer failures (Tokenizer::TryEncode) are returned.
absl::StatusOr<std::vector<int32_t>> TokenizeLikeAxolotl(const Tokenizer& tokenizer,
                                                         std::string_view text, int64_t max_length,
                                                         bool add_eos, bool strip_bos);

/// record[key] as a string.  Missing: "" when !required, else an error naming
/// the key; a non-string value is always an error.
absl::StatusOr<std::string> StringField(const nlohmann::json& record, const std::string& key,
                                        bool required);

}  // namespace lorad
