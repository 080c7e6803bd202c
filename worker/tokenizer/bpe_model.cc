#include "worker/tokenizer/bpe_model.h"

#include <queue>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Reads model.merges[i] in either encoding.
absl::Status ReadMerge(const nlohmann::json& m, const JsonPath& at, std::string* a,
                       std::string* b) {
  if (m.is_string()) {
    const std::string& s = m.get_ref<const std::string&>();
    const size_t sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
      return at.Error(absl::StrCat("merge \"", s, "\" must be two tokens separated by one space"));
    }
    *a = s.substr(0, sp);
    *b = s.substr(sp + 1);
    return absl::OkStatus();
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    *a = m[0].get<std::string>();
    *b = m[1].get<std::string>();
    return absl::OkStatus();
  }
  return at.Error("a merge must be \"a b\" or [\"a\", \"b\"]");
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const nlohmann::json& j,
                                                             const JsonPath& at) {
  if (!j.is_object()) return at.Error("must be an object");
  LORAD_ASSIGN_OR_RETURN(const std::string type, JsonString(j, "type", at, false, "BPE"));
  if (type != "BPE") {
    return at.Key("type").Error(
        absl::StrCat("model type '", type,
                     "' is not supported (supported: BPE; SentencePiece Unigram, "
                     "WordPiece and WordLevel tokenizers are not)"));
  }
  if (j.contains("dropout") && !j["dropout"].is_null() &&
      !(j["dropout"].is_number() && j["dropout"].get<double>() == 0.0)) {
    return at.Key("dropout").Error("BPE dropout makes tokenization random; it is not supported");
  }
  auto model = std::unique_ptr<BpeModel>(new BpeModel());
  LORAD_ASSIGN_OR_RETURN(model->fuse_unk_, JsonBool(j, "fuse_unk", at, false));
  LORAD_ASSIGN_OR_RETURN(model->byte_fallback_, JsonBool(j, "byte_fallback", at, false));
  LORAD_ASSIGN_OR_RETURN(model->ignore_merges_, JsonBool(j, "ignore_merges", at, false));
  LORAD_ASSIGN_OR_RETURN(model->continuing_subword_prefix_,
                         JsonString(j, "continuing_subword_prefix", at, false));
  LORAD_ASSIGN_OR_RETURN(model->end_of_word_suffix_,
                         JsonString(j, "end_of_word_suffix", at, false));

  const JsonPath vocab_at = at.Key("vocab");
  auto vit = j.find("vocab");
  if (vit == j.end() || !vit->is_object()) return vocab_at.Error("must be an object of token → id");
  if (vit->size() > kMaxTokenizerVocab) {
    return vocab_at.Error(
        absl::StrCat(vit->size(), " entries exceed the limit of ", kMaxTokenizerVocab));
  }
  model->vocab_.reserve(vit->size());
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    if (it.key().size() > kMaxTokenBytes) {
      return vocab_at.Error(absl::StrCat("a token of ", it.key().size(),
                                         " bytes exceeds the limit of ", kMaxTokenBytes));
    }
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxTokenId) {
      return vocab_at.Key(it.key()).Error(
          absl::StrCat("id must be an integer in [0, ", kMaxTokenId, "]"));
    }
    const int32_t id = static_cast<int32_t>(it->get<int64_t>());
    model->vocab_[it.key()] = id;
    model->max_id_ = std::max(model->max_id_, id);
  }
  // flat_hash_map does not move keys once it stops rehashing: it is never
  // modified after this point, so pointers to its keys stay valid.
  model->id_to_token_.assign(static_cast<size_t>(model->max_id_ + 1), nullptr);
  for (const auto& [token, id] : model->vocab_) {
    const std::string*& slot = model->id_to_token_[static_cast<size_t>(id)];
    if (slot == nullptr || token < *slot) slot = &token;  // deterministic for duplicate ids
  }

  const JsonPath merges_at = at.Key("merges");
  auto mit = j.find("merges");
  if (mit != j.end() && !mit->is_null()) {
    if (!mit->is_array()) return merges_at.Error("must be an array");
    if (mit->size() > kMaxTokenizerMerges) {
      return merges_at.Error(
          absl::StrCat(mit->size(), " entries exceed the limit of ", kMaxTokenizerMerges));
    }
    model->merges_.reserve(mit->size());
    const size_t prefix_len = model->continuing_subword_prefix_.size();
    std::string a, b;
    for (size_t i = 0; i < mit->size(); ++i) {
      const JsonPath m_at = merges_at.Index(i);
      LORAD_RETURN_IF_ERROR(ReadMerge((*mit)[i], m_at, &a, &b));
      auto ia = model->vocab_.find(a);
      auto ib = model->vocab_.find(b);
      if (ia == model->vocab_.end())
        return m_at.Error(absl::StrCat("token '", a, "' is not in model.vocab"));
      if (ib == model->vocab_.end())
        return m_at.Error(absl::StrCat("token '", b, "' is not in model.vocab"));
      if (b.compare(0, prefix_len, model->continuing_subword_prefix_) != 0) {
        return m_at.Error(absl::StrCat("token '", b, "' lacks the continuing_subword_prefix"));
      }
      const std::string merged = a + b.substr(prefix_len);
      auto in = model->vocab_.find(merged);
      if (in == model->vocab_.end()) {
        return m_at.Error(absl::StrCat("merged token '", merged, "' is not in model.vocab"));
      }
      // A repeated pair keeps its last rank, as the reference's HashMap collect does.
      model->merges_[PairKey(ia->second, ib->second)] = Merge{static_cast<int32_t>(i), in->second};
    }
  }

  LORAD_ASSIGN_OR_RETURN(const std::string unk, JsonString(j, "unk_token", at, false));
  if (!unk.empty()) {
    auto it = model->vocab_.find(unk);
    if (it == model->vocab_.end()) {
      return at.Key("unk_token").Error(absl::StrCat("'", unk, "' is not in model.vocab"));
    }
    model->unk_id_ = it->second;
  }
  for (int byte = 0; byte < 256; ++byte) {
    auto it = model->vocab_.find(absl::StrFormat("<0x%02X>", byte));
    model->byte_fallback_ids_[byte] = it == model->vocab_.end() ? -1 : it->second;
  }
  return model;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(AbslView(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  return id_to_token_[static_cast<size_t>(id)];
}

void BpeModel::Tokenize(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(AbslView(word)); it != vocab_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  CacheShard& shard = cache_[absl::HashOf(AbslView(word)) % kCacheShards];
  if (cacheable) {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (auto it = shard.words.find(AbslView(word)); it != shard.words.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out->size();
  MergeWord(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.words.size() < kMaxCachedWordsPerShard) {
      shard.words.emplace(std::string(word),
                          std::vector<int32_t>(out->begin() + first, out->end()));
    }
  }
}

void BpeModel::MergeWord(std::string_view w, std::vector<int32_t>* out) const {
  // Initial symbols: one per character (with prefix/suffix as configured), unknown
  // characters via <0xHH> byte tokens, else unk (fused runs when fuse_unk).
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool removed;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(w.size());
  auto add = [&symbols](int32_t id) {
    const int32_t n = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, n - 1, n + 1, false});
  };
  std::optional<int32_t> pending_unk;
  std::string piece;
  for (size_t i = 0; i < w.size();) {
    size_t len = 1;
    DecodeUtf8At(w, i, &len);
    const bool is_first = i == 0;
    const bool is_last = i + len >= w.size();
    piece.clear();
    if (!is_first) piece += continuing_subword_prefix_;
    piece.append(w.substr(i, len));
    if (is_last) piece += end_of_word_suffix_;
    if (auto it = vocab_.find(AbslView(piece)); it != vocab_.end()) {
      if (pending_unk) add(*std::exchange(pending_unk, std::nullopt));
      add(it->second);
    } else {
      bool done = false;
      if (byte_fallback_) {
        bool all = true;
        for (const char c : piece) all = all && byte_fallback_ids_[static_cast<uint8_t>(c)] >= 0;
        if (all) {
          // As the reference: a pending unk is not flushed before byte tokens.
          for (const char c : piece) add(byte_fallback_ids_[static_cast<uint8_t>(c)]);
          done = true;
        }
      }
      if (!done && unk_id_) {
        if (pending_unk && !fuse_unk_) add(*pending_unk);
        pending_unk = *unk_id_;
      }
      // Without byte fallback or unk the character is dropped, as the reference does.
    }
    i += len;
  }
  if (pending_unk) add(*pending_unk);
  if (!symbols.empty()) symbols.back().next = -1;

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator<(const Candidate& o) const {  // lowest rank, then leftmost, on top
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto find_merge = [this](int32_t a, int32_t b) -> const Merge* {
    auto it = merges_.find(PairKey(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const Merge* m = find_merge(symbols[i].id, symbols[i + 1].id)) {
      queue.push(Candidate{m->rank, static_cast<int32_t>(i), m->new_id});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = symbols[static_cast<size_t>(top.pos)];
    if (cur.removed || cur.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(cur.next)];
    // Stale entry: the pair changed since it was queued.
    const Merge* m = find_merge(cur.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;
    cur.id = top.new_id;
    right.removed = true;
    cur.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (cur.prev >= 0) {
      if (const Merge* pm = find_merge(symbols[static_cast<size_t>(cur.prev)].id, cur.id)) {
        queue.push(Candidate{pm->rank, cur.prev, pm->new_id});
      }
    }
    if (cur.next >= 0) {
      if (const Merge* nm = find_merge(cur.id, symbols[static_cast<size_t>(cur.next)].id)) {
        queue.push(Candidate{nm->rank, top.pos, nm->new_id});
      }
    }
  }
  for (const Symbol& s : symbols) {
    if (!s.removed) out->push_back(s.id);
  }
}

}  // namespace lorad
