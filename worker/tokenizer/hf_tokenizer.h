// Tokenizer implementation for Hugging Face tokenizer.json files: added tokens →
// normalizer → pre-tokenizer → BPE model → post-processor, as `tokenizers` runs them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/tokenizer/added_vocabulary.h"
#include "worker/tokenizer/bpe_model.h"
#include "worker/tokenizer/decoder.h"
#include "worker/tokenizer/normalizer.h"
#include "worker/tokenizer/post_processor.h"
#include "worker/tokenizer/pre_tokenizer.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {

/// The fields of tokenizer_config.json that change ids (as transformers reads them).
struct TokenizerConfigFields {
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::string tokenizer_class;

  static absl::StatusOr<TokenizerConfigFields> Parse(std::string_view json,
                                                     std::string_view source);
};

class HfTokenizer final : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Create(std::string_view tokenizer_json,
                                                             std::string_view tokenizer_config_json,
                                                             std::string_view source);

  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens) const override;
  absl::StatusOr<std::vector<int32_t>> TryEncode(std::string_view text,
                                                 bool add_special_tokens) const override;
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  std::optional<int32_t> bos_id() const override { return bos_id_; }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::optional<int32_t> pad_id() const override { return pad_id_; }
  const std::string& fingerprint() const override { return fingerprint_; }

 private:
  HfTokenizer() = default;
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> CreateUnchecked(
      std::string_view tokenizer_json, std::string_view tokenizer_config_json,
      std::string_view source);
  absl::Status EncodePiece(std::string text, bool at_input_start, std::vector<int32_t>* ids) const;
  absl::Status ApplyConfig(const TokenizerConfigFields& cfg, std::string_view source);

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<AddedVocabulary> added_;
  std::unique_ptr<Decoder> decoder_;
  SpecialTokenFrame frame_;
  std::optional<int32_t> bos_id_, eos_id_, pad_id_;
  int64_t vocab_size_ = 0;
  std::string fingerprint_;
};

}  // namespace lorad
