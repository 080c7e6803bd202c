// tokenizer.json "added_tokens": matched on the input before the model sees it,
// leftmost-longest, with single_word / lstrip / rstrip / normalized / special
// handled as `tokenizers`' AddedVocabulary does.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "worker/tokenizer/json_fields.h"

namespace lorad {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

/// A piece of input: either an added token (token_id >= 0) or text for the model.
struct InputSegment {
  std::string_view text;  // a view into the string passed to Split()
  int32_t token_id = -1;
  size_t offset = 0;  // byte offset of `text` in that string
};

class AddedVocabulary {
 public:
  /// `model_id` resolves a token already in the model vocabulary (its id wins).
  /// Other tokens get ids as the reference assigns them on load, in file order:
  /// model_vocab_entries, then one past the largest added id — the file's "id"
  /// fields are only checked (a mismatch is reported by `id_mismatches`).  `normalizer` (may be
  /// null) normalizes the content of tokens with normalized=true, which are then matched on
  /// normalized text.
  static absl::StatusOr<std::unique_ptr<AddedVocabulary>> FromJson(
      const nlohmann::json& j, const JsonPath& at, const Normalizer* normalizer,
      const std::function<std::optional<int32_t>(std::string_view)>& model_id,
      size_t model_vocab_entries);

  /// Splits `text` at matches of the raw (normalized=false) tokens, or, with
  /// `normalized_pass`, of the normalized ones.  Empty non-token segments are kept
  /// out.
  void Split(std::string_view text, bool normalized_pass, std::vector<InputSegment>* out) const;

  std::optional<int32_t> TokenToId(std::string_view content) const;
  const AddedToken* ById(int32_t id) const;
  bool IsSpecial(int32_t id) const;
  int32_t max_id() const { return max_id_; }
  /// Tokens whose file id differs from the id the reference gives them.
  const std::vector<std::string>& id_mismatches() const { return id_mismatches_; }
  bool has_normalized_tokens() const { return normalized_trie_.nodes.size() > 1; }

 private:
  // Byte trie for leftmost-longest matching.
  struct Trie {
    struct Node {
      absl::flat_hash_map<uint8_t, int32_t> children;
      int32_t token = -1;  // index into tokens_
    };
    std::vector<Node> nodes{Node{}};
    std::array<bool, 256> first_byte{};
    void Insert(std::string_view s, int32_t token);
  };
  void SplitWith(const Trie& trie, std::string_view text, std::vector<InputSegment>* out) const;

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<std::string, int32_t> by_content_;
  absl::flat_hash_map<int32_t, size_t> by_id_;
  Trie raw_trie_;
  Trie normalized_trie_;
  int32_t max_id_ = -1;
  std::vector<std::string> id_mismatches_;
};

}  // namespace lorad
