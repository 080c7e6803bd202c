#include "worker/tokenizer/added_vocabulary.h"

#include <utf8proc.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/normalizer.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

// Rust regex's \w: alphanumerics, marks and connector punctuation.
bool IsWordChar(char32_t c) {
  if (c == '_' || IsUnicodeAlphanumeric(c)) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return c == 0x200C || c == 0x200D;
  }
}

char32_t LastChar(std::string_view s, size_t* start) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  size_t len = 1;
  *start = i;
  return DecodeUtf8At(s, i, &len);
}

}  // namespace

void AddedVocabulary::Trie::Insert(std::string_view s, int32_t token) {
  int32_t node = 0;
  for (const char ch : s) {
    const uint8_t c = static_cast<uint8_t>(ch);
    auto it = nodes[static_cast<size_t>(node)].children.find(c);
    if (it == nodes[static_cast<size_t>(node)].children.end()) {
      nodes.push_back(Node{});
      const int32_t child = static_cast<int32_t>(nodes.size() - 1);
      nodes[static_cast<size_t>(node)].children.emplace(c, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  // The first token with this content wins, as the reference keeps one id per content.
  if (nodes[static_cast<size_t>(node)].token < 0) nodes[static_cast<size_t>(node)].token = token;
  first_byte[static_cast<uint8_t>(s[0])] = true;
}

absl::StatusOr<std::unique_ptr<AddedVocabulary>> AddedVocabulary::FromJson(
    const nlohmann::json& j, const JsonPath& at, const Normalizer* normalizer,
    const std::function<std::optional<int32_t>(std::string_view)>& model_id,
    size_t model_vocab_entries) {
  auto vocab = std::make_unique<AddedVocabulary>();
  if (j.is_null()) return vocab;
  if (!j.is_array()) return at.Error("must be an array");
  if (j.size() > kMaxAddedTokens) {
    return at.Error(absl::StrCat(j.size(), " entries exceed the limit of ", kMaxAddedTokens));
  }
  size_t total_bytes = 0;
  for (size_t i = 0; i < j.size(); ++i) {
    const JsonPath t_at = at.Index(i);
    const nlohmann::json& t = j[i];
    if (!t.is_object()) return t_at.Error("must be an object");
    AddedToken tok;
    LORAD_ASSIGN_OR_RETURN(tok.content, JsonString(t, "content", t_at, true));
    if (tok.content.empty()) return t_at.Key("content").Error("empty added token");
    // The match tries grow with the total content size: bound it.
    total_bytes += tok.content.size();
    if (total_bytes > kMaxAddedTokenBytes) {
      return t_at.Error(absl::StrCat("added tokens exceed ", kMaxAddedTokenBytes, " bytes in all"));
    }
    LORAD_ASSIGN_OR_RETURN(const int64_t id, JsonInt(t, "id", t_at, 0, kMaxTokenId, -1));
    if (id < 0) return t_at.Key("id").Error("required id is missing");
    LORAD_ASSIGN_OR_RETURN(tok.special, JsonBool(t, "special", t_at, false));
    LORAD_ASSIGN_OR_RETURN(tok.single_word, JsonBool(t, "single_word", t_at, false));
    LORAD_ASSIGN_OR_RETURN(tok.lstrip, JsonBool(t, "lstrip", t_at, false));
    LORAD_ASSIGN_OR_RETURN(tok.rstrip, JsonBool(t, "rstrip", t_at, false));
    LORAD_ASSIGN_OR_RETURN(tok.normalized, JsonBool(t, "normalized", t_at, !tok.special));
    if (vocab->by_content_.contains(tok.content)) continue;
    if (auto known = model_id(tok.content)) {
      tok.id = *known;
    } else {
      // tokenizers' AddedVocabulary::add_tokens: past the model vocabulary, or past
      // the largest added id when that is already beyond it.
      const auto entries = static_cast<int64_t>(model_vocab_entries);
      const int64_t next = vocab->max_id_ < 0                            ? entries
                           : (vocab->max_id_ >= entries || entries == 0) ? vocab->max_id_ + 1
                                                                         : entries;
      if (next > kMaxTokenId) return t_at.Error("too many added tokens");
      tok.id = static_cast<int32_t>(next);
    }
    if (tok.id != id) vocab->id_mismatches_.push_back(tok.content);
    const int32_t index = static_cast<int32_t>(vocab->tokens_.size());
    vocab->by_content_.emplace(tok.content, tok.id);
    vocab->by_id_.emplace(tok.id, static_cast<size_t>(index));
    vocab->max_id_ = std::max(vocab->max_id_, tok.id);
    if (tok.normalized) {
      std::string content = tok.content;
      if (normalizer != nullptr) {
        absl::Status s = normalizer->Normalize(&content);
        if (!s.ok()) return t_at.Error(std::string(s.message()));
      }
      if (!content.empty()) vocab->normalized_trie_.Insert(content, index);
    } else {
      vocab->raw_trie_.Insert(tok.content, index);
    }
    vocab->tokens_.push_back(std::move(tok));
  }
  return vocab;
}

void AddedVocabulary::Split(std::string_view text, bool normalized_pass,
                            std::vector<InputSegment>* out) const {
  SplitWith(normalized_pass ? normalized_trie_ : raw_trie_, text, out);
}

void AddedVocabulary::SplitWith(const Trie& trie, std::string_view text,
                                std::vector<InputSegment>* out) const {
  size_t start_offset = 0;
  if (trie.nodes.size() > 1) {
    for (size_t i = 0; i < text.size();) {
      if (!trie.first_byte[static_cast<uint8_t>(text[i])]) {
        ++i;
        continue;
      }
      // Longest token starting at i (leftmost-longest, non-overlapping).
      int32_t node = 0, best = -1;
      size_t best_end = 0;
      for (size_t k = i; k < text.size(); ++k) {
        const auto& children = trie.nodes[static_cast<size_t>(node)].children;
        auto it = children.find(static_cast<uint8_t>(text[k]));
        if (it == children.end()) break;
        node = it->second;
        if (trie.nodes[static_cast<size_t>(node)].token >= 0) {
          best = trie.nodes[static_cast<size_t>(node)].token;
          best_end = k + 1;
        }
      }
      if (best < 0) {
        ++i;
        continue;
      }
      const AddedToken& tok = tokens_[static_cast<size_t>(best)];
      size_t start = i, stop = best_end;
      i = best_end;
      if (tok.single_word) {
        size_t unused = 0;
        const bool start_ok = start == 0 || !IsWordChar(LastChar(text.substr(0, start), &unused));
        size_t len = 1;
        const bool stop_ok = stop == text.size() || !IsWordChar(DecodeUtf8At(text, stop, &len));
        if (!start_ok || !stop_ok) continue;
      }
      if (tok.lstrip) {
        size_t new_start = start;
        while (new_start > 0) {
          size_t prev = 0;
          if (!IsUnicodeWhitespace(LastChar(text.substr(0, new_start), &prev))) break;
          new_start = prev;
        }
        start = std::max(new_start, start_offset);
      }
      if (tok.rstrip) {
        while (stop < text.size()) {
          size_t len = 1;
          if (!IsUnicodeWhitespace(DecodeUtf8At(text, stop, &len))) break;
          stop += len;
        }
      }
      if (start_offset < start) {
        out->push_back({text.substr(start_offset, start - start_offset), -1, start_offset});
      }
      out->push_back({text.substr(start, stop - start), tok.id, start});
      start_offset = stop;
    }
  }
  if (start_offset < text.size()) {
    out->push_back({text.substr(start_offset), -1, start_offset});
  }
}

std::optional<int32_t> AddedVocabulary::TokenToId(std::string_view content) const {
  auto it = by_content_.find(absl::string_view(content.data(), content.size()));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::ById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

bool AddedVocabulary::IsSpecial(int32_t id) const {
  const AddedToken* t = ById(id);
  return t != nullptr && t->special;
}

}  // namespace lorad
