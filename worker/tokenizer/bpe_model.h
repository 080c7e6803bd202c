// The BPE model of tokenizer.json: vocab, ranked merges (both "a b" strings and
// ["a","b"] pairs), ignore_merges, byte_fallback, unk/fuse_unk,
// continuing_subword_prefix/end_of_word_suffix, and a thread-safe word cache.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "worker/tokenizer/json_fields.h"

namespace lorad {

class BpeModel {
 public:
  /// Parses the "model" object.  Only type BPE is accepted; anything else (WordPiece,
  /// Unigram, WordLevel) is an error naming it.  Merges must name vocab tokens.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& j,
                                                            const JsonPath& at);

  /// Appends the ids of one pre-tokenized word.  Thread-safe.
  void Tokenize(std::string_view word, std::vector<int32_t>* out) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  /// nullptr when no vocab entry has this id.
  const std::string* IdToToken(int32_t id) const;
  int32_t max_id() const { return max_id_; }
  size_t vocab_entries() const { return vocab_.size(); }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  BpeModel() = default;
  void MergeWord(std::string_view word, std::vector<int32_t>* out) const;
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<const std::string*> id_to_token_;  // points into vocab_ keys (node-stable: see .cc)
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  std::array<int32_t, 256> byte_fallback_ids_{};  // <0xHH> ids, -1 when absent
  int32_t max_id_ = -1;

  // Word → ids cache, sharded to keep lock contention low; bounded, and words
  // longer than kMaxCachedWordBytes are not cached (as in `tokenizers`).
  static constexpr size_t kCacheShards = 32;
  static constexpr size_t kMaxCachedWordsPerShard = 8192;
  static constexpr size_t kMaxCachedWordBytes = 256;
  struct CacheShard {
    std::mutex mu;
    absl::flat_hash_map<std::string, std::vector<int32_t>> words;
  };
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace lorad
