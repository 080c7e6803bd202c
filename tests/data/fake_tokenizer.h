// A tiny deterministic Tokenizer for data tests: one id per byte (0..255)
// plus special tokens matched before bytes, so expected ids can be written
// by hand.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "worker/tokenizer/tokenizer.h"

namespace lorad::testing {

class FakeTokenizer : public Tokenizer {
 public:
  static constexpr int32_t kBos = 256, kEos = 257, kPad = 258, kImStart = 259, kImEnd = 260,
                           kStartHeader = 261, kEndHeader = 262, kEotId = 263, kMarker = 300;

  struct Options {
    bool has_bos = true;
    bool has_eos = true;
    bool has_pad = true;
    bool add_bos = true;   // encode(add_special_tokens=true) prepends BOS
    bool add_eos = false;  // ... and appends EOS
    bool chat_tokens = true;  // <|im_start|> etc. exist as single tokens
    std::string salt;      // changes the fingerprint
    // Like SentencePiece's Prepend("▁") normalizer, applied by the HF library
    // to every run of text between special tokens: kMarker starts each run.
    bool marker_per_run = false;
  };

  FakeTokenizer() : FakeTokenizer(Options{}) {}
  explicit FakeTokenizer(Options o) : o_(std::move(o)) {
    if (o_.has_bos) specials_["<s>"] = kBos;
    if (o_.has_eos) specials_["</s>"] = kEos;
    if (o_.has_pad) specials_["<pad>"] = kPad;
    if (o_.chat_tokens) {
      specials_["<|im_start|>"] = kImStart;
      specials_["<|im_end|>"] = kImEnd;
      specials_["<|start_header_id|>"] = kStartHeader;
      specials_["<|end_header_id|>"] = kEndHeader;
      specials_["<|eot_id|>"] = kEotId;
    }
    fingerprint_ = "fake-tokenizer:" + o_.salt + (o_.has_bos ? "b" : "") + (o_.has_eos ? "e" : "") +
                   (o_.add_eos ? "E" : "") + (o_.chat_tokens ? "c" : "");
  }

  std::vector<int32_t> Encode(std::string_view text, bool add_special_tokens) const override {
    std::vector<int32_t> ids;
    if (add_special_tokens && o_.add_bos && o_.has_bos) ids.push_back(kBos);
    size_t i = 0;
    bool in_run = false;
    while (i < text.size()) {
      bool matched = false;
      for (const auto& [s, id] : specials_) {
        if (text.substr(i, s.size()) == s) {
          ids.push_back(id);
          i += s.size();
          matched = true;
          in_run = false;
          break;
        }
      }
      if (!matched) {
        if (o_.marker_per_run && !in_run) ids.push_back(kMarker);
        in_run = true;
        ids.push_back(static_cast<unsigned char>(text[i++]));
      }
    }
    if (add_special_tokens && o_.add_eos && o_.has_eos) ids.push_back(kEos);
    return ids;
  }
  absl::StatusOr<std::vector<int32_t>> TryEncode(std::string_view text,
                                                 bool add_special_tokens) const override {
    return Encode(text, add_special_tokens);
  }
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id == kMarker) continue;
      if (id < 256) {
        out.push_back(static_cast<char>(id));
        continue;
      }
      if (skip_special_tokens) continue;
      for (const auto& [s, sid] : specials_) {
        if (sid == id) out += s;
      }
    }
    return out;
  }
  int64_t vocab_size() const override { return 301; }
  std::optional<int32_t> TokenToId(std::string_view token) const override {
    auto it = specials_.find(std::string(token));
    if (it != specials_.end()) return it->second;
    if (token.size() == 1) return static_cast<unsigned char>(token[0]);
    return std::nullopt;
  }
  std::optional<int32_t> bos_id() const override {
    return o_.has_bos ? std::optional<int32_t>(kBos) : std::nullopt;
  }
  std::optional<int32_t> eos_id() const override {
    return o_.has_eos ? std::optional<int32_t>(kEos) : std::nullopt;
  }
  std::optional<int32_t> pad_id() const override {
    return o_.has_pad ? std::optional<int32_t>(kPad) : std::nullopt;
  }
  const std::string& fingerprint() const override { return fingerprint_; }

  /// Byte ids of `s` (no specials), for writing expectations.
  static std::vector<int32_t> Bytes(std::string_view s) {
    std::vector<int32_t> ids;
    for (char c : s) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }

 private:
  Options o_;
  std::map<std::string, int32_t> specials_;
  std::string fingerprint_;
};

}  // namespace lorad::testing
