// Hugging Face tokenizer.json, with token ids identical to the `tokenizers`
// library.  No LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// Loads DIR/tokenizer.json and, if present, DIR/tokenizer_config.json
  /// (bos/eos tokens, add_bos_token/add_eos_token as transformers applies them) and
  /// DIR/special_tokens_map.json (bos/eos/pad/unk the config does not set).  A
  /// directory with only tokenizer.model (SentencePiece) is FAILED_PRECONDITION.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromDir(const std::filesystem::path& dir);
  /// From JSON text (tokenizer_config_json may be empty).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view tokenizer_json,
                                                             std::string_view tokenizer_config_json,
                                                             std::string_view source);

  /// encode(text, add_special_tokens) as the HF library does.  Thread-safe.  Input that
  /// is not valid UTF-8 is first repaired (each bad sequence → U+FFFD, as Rust's
  /// from_utf8_lossy).  An internal failure (regex resource limits) is logged to
  /// stderr and yields an empty vector: use TryEncode where that must be an error.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens) const = 0;
  /// Encode, with internal failures returned as a status.
  virtual absl::StatusOr<std::vector<int32_t>> TryEncode(std::string_view text,
                                                         bool add_special_tokens) const = 0;
  virtual std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const = 0;

  virtual int64_t vocab_size() const = 0;  // including added tokens (max id + 1)
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::optional<int32_t> pad_id() const = 0;
  /// A stable digest of the tokenizer's definition (for data fingerprints).
  virtual const std::string& fingerprint() const = 0;
};

}  // namespace lorad
