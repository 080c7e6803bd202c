#include "worker/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/pcre_regex.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

using Span = std::pair<size_t, size_t>;

absl::StatusOr<Behavior> ParseBehavior(const nlohmann::json& j, const JsonPath& at,
                                       Behavior fallback) {
  LORAD_ASSIGN_OR_RETURN(const std::string s, JsonString(j, "behavior", at, false, ""));
  if (s.empty()) return fallback;
  if (s == "Removed") return Behavior::kRemoved;
  if (s == "Isolated") return Behavior::kIsolated;
  if (s == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::kMergedWithNext;
  if (s == "Contiguous") return Behavior::kContiguous;
  return at.Key("behavior").Error(absl::StrCat("unknown split behavior '", s, "'"));
}

// `matches` (sorted, non-overlapping) → the pieces tokenizers' split() keeps.
std::vector<Span> ApplyBehavior(size_t len, const std::vector<Span>& matches, Behavior behavior,
                                bool invert) {
  std::vector<std::pair<Span, bool>> parts;  // (span, is_delimiter)
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) parts.push_back({{prev, b}, invert});
    parts.push_back({{b, e}, !invert});
    prev = e;
  }
  if (prev != len) parts.push_back({{prev, len}, invert});

  std::vector<Span> out;
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kIsolated:
      for (const auto& p : parts) out.push_back(p.first);
      break;
    case Behavior::kRemoved:
      for (const auto& p : parts) {
        if (!p.second) out.push_back(p.first);
      }
      break;
    case Behavior::kMergedWithPrevious:
      for (const auto& [span, is_match] : parts) {
        if (is_match && !previous_match && !out.empty()) {
          out.back().second = span.second;
        } else {
          out.push_back(span);
        }
        previous_match = is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        const auto& [span, is_match] = *it;
        if (is_match && !previous_match && !out.empty()) {
          out.back().first = span.first;
        } else {
          out.push_back(span);
        }
        previous_match = is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    case Behavior::kContiguous:
      for (const auto& [span, is_match] : parts) {
        if (is_match == previous_match && !out.empty()) {
          out.back().second = span.second;
        } else {
          out.push_back(span);
        }
        previous_match = is_match;
      }
      break;
  }
  return out;
}

void ReplacePieces(std::vector<PreToken>* pieces, size_t index, const std::vector<Span>& spans,
                   std::vector<PreToken>* out) {
  const PreToken& p = (*pieces)[index];
  for (const auto& [b, e] : spans) {
    if (e > b) out->push_back({p.text.substr(b, e - b), p.at_input_start && b == 0});
  }
}

// Splits every piece at the matches `find` reports, with `behavior`.
absl::Status SplitPieces(
    std::vector<PreToken>* pieces, Behavior behavior, bool invert,
    const std::function<absl::Status(const std::string&, std::vector<Span>*)>& find) {
  std::vector<PreToken> out;
  out.reserve(pieces->size());
  std::vector<Span> matches;
  for (size_t i = 0; i < pieces->size(); ++i) {
    matches.clear();
    LORAD_RETURN_IF_ERROR(find((*pieces)[i].text, &matches));
    ReplacePieces(pieces, i, ApplyBehavior((*pieces)[i].text.size(), matches, behavior, invert),
                  &out);
  }
  *pieces = std::move(out);
  return absl::OkStatus();
}

// Matches of single characters satisfying `pred`.
absl::Status FindChars(const std::string& text, std::vector<Span>* out,
                       const std::function<bool(char32_t)>& pred) {
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    const char32_t c = DecodeUtf8At(text, i, &len);
    if (pred(c)) out->emplace_back(i, i + len);
    i += len;
  }
  return absl::OkStatus();
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<PcreRegex> re, Behavior behavior, bool invert)
      : re_(std::move(re)), behavior_(behavior), invert_(invert) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    return SplitPieces(
        pieces, behavior_, invert_,
        [this](const std::string& t, std::vector<Span>* m) { return re_->FindAll(t, m); });
  }

 private:
  std::unique_ptr<PcreRegex> re_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<PcreRegex> re)
      : add_prefix_space_(add_prefix_space), re_(std::move(re)) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    if (add_prefix_space_) {
      for (PreToken& p : *pieces) {
        // Not insert(0, " "): GCC 12 -O3 reports a false -Wrestrict on it.
        if (p.text.empty() || p.text[0] != ' ') p.text = " " + p.text;
      }
    }
    if (re_ != nullptr) {
      LORAD_RETURN_IF_ERROR(SplitPieces(
          pieces, Behavior::kIsolated, false,
          [this](const std::string& t, std::vector<Span>* m) { return re_->FindAll(t, m); }));
    }
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::Get();
    for (PreToken& p : *pieces) {
      std::string mapped;
      alphabet.EncodeTo(p.text, &mapped);
      p.text = std::move(mapped);
    }
    return absl::OkStatus();
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<PcreRegex> re_;  // null when use_regex is false
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    for (PreToken& p : *pieces) {
      std::string out;
      out.reserve(p.text.size() + replacement_.size());
      for (const char c : p.text) {
        if (c == ' ') {
          out.append(replacement_);
        } else {
          out.push_back(c);
        }
      }
      const bool starts = out.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways ||
                      (scheme_ == PrependScheme::kFirst && p.at_input_start))) {
        out.insert(0, replacement_);
      }
      p.text = std::move(out);
    }
    if (!split_) return absl::OkStatus();
    return SplitPieces(pieces, Behavior::kMergedWithNext, false,
                       [this](const std::string& t, std::vector<Span>* m) {
                         for (size_t pos = t.find(replacement_); pos != std::string::npos;
                              pos = t.find(replacement_, pos + replacement_.size())) {
                           m->emplace_back(pos, pos + replacement_.size());
                         }
                         return absl::OkStatus();
                       });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class CharClassPreTokenizer final : public PreTokenizer {
 public:
  CharClassPreTokenizer(std::function<bool(char32_t)> pred, Behavior behavior)
      : pred_(std::move(pred)), behavior_(behavior) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    return SplitPieces(
        pieces, behavior_, false,
        [this](const std::string& t, std::vector<Span>* m) { return FindChars(t, m, pred_); });
  }

 private:
  std::function<bool(char32_t)> pred_;
  Behavior behavior_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  absl::Status PreTokenize(std::vector<PreToken>* pieces) const override {
    for (const auto& p : parts_) LORAD_RETURN_IF_ERROR(p->PreTokenize(pieces));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

absl::StatusOr<PrependScheme> ParsePrependScheme(const nlohmann::json& j, const JsonPath& at) {
  if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
    LORAD_ASSIGN_OR_RETURN(const std::string s, JsonString(j, "prepend_scheme", at, true));
    if (s == "always") return PrependScheme::kAlways;
    if (s == "first") return PrependScheme::kFirst;
    if (s == "never") return PrependScheme::kNever;
    return at.Key("prepend_scheme").Error(absl::StrCat("unknown prepend_scheme '", s, "'"));
  }
  // Files written before prepend_scheme existed carry add_prefix_space instead.
  LORAD_ASSIGN_OR_RETURN(const bool add, JsonBool(j, "add_prefix_space", at, true));
  return add ? PrependScheme::kAlways : PrependScheme::kNever;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const nlohmann::json& j,
                                                                     const JsonPath& at,
                                                                     size_t depth) {
  if (j.is_null()) return nullptr;
  if (depth > kMaxComponentDepth) return at.Error("pre-tokenizers nested too deeply");
  LORAD_ASSIGN_OR_RETURN(const std::string type, JsonType(j, at));
  if (type == "Split") {
    if (!j.contains("pattern")) return at.Key("pattern").Error("required pattern is missing");
    const JsonPath pat_at = at.Key("pattern");
    bool is_regex = false;
    LORAD_ASSIGN_OR_RETURN(const std::string pattern, JsonPattern(j["pattern"], pat_at, &is_regex));
    if (pattern.empty()) return pat_at.Error("empty pattern");
    LORAD_ASSIGN_OR_RETURN(const Behavior behavior, ParseBehavior(j, at, Behavior::kIsolated));
    LORAD_ASSIGN_OR_RETURN(const bool invert, JsonBool(j, "invert", at, false));
    auto re = is_regex ? PcreRegex::Compile(pattern, pat_at.ToString())
                       : PcreRegex::CompileLiteral(pattern, pat_at.ToString());
    if (!re.ok()) return re.status();
    return std::make_unique<SplitPreTokenizer>(std::move(re).value(), behavior, invert);
  }
  if (type == "ByteLevel") {
    LORAD_ASSIGN_OR_RETURN(const bool add_prefix_space, JsonBool(j, "add_prefix_space", at, true));
    LORAD_ASSIGN_OR_RETURN(const bool use_regex, JsonBool(j, "use_regex", at, true));
    std::unique_ptr<PcreRegex> re;
    if (use_regex) {
      LORAD_ASSIGN_OR_RETURN(re, PcreRegex::Compile(kGpt2SplitPattern, at.ToString()));
    }
    return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, std::move(re));
  }
  if (type == "Metaspace") {
    LORAD_ASSIGN_OR_RETURN(std::string replacement,
                           JsonString(j, "replacement", at, false, "\xE2\x96\x81"));
    size_t len = 0;
    if (replacement.empty() || (DecodeUtf8At(replacement, 0, &len), len != replacement.size())) {
      return at.Key("replacement").Error("must be exactly one character");
    }
    LORAD_ASSIGN_OR_RETURN(const PrependScheme scheme, ParsePrependScheme(j, at));
    LORAD_ASSIGN_OR_RETURN(const bool split, JsonBool(j, "split", at, true));
    return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
  }
  if (type == "Digits") {
    LORAD_ASSIGN_OR_RETURN(const bool individual, JsonBool(j, "individual_digits", at, false));
    return std::make_unique<CharClassPreTokenizer>(
        [](char32_t c) { return IsUnicodeNumeric(c); },
        individual ? Behavior::kIsolated : Behavior::kContiguous);
  }
  if (type == "Punctuation") {
    LORAD_ASSIGN_OR_RETURN(const Behavior behavior, ParseBehavior(j, at, Behavior::kIsolated));
    return std::make_unique<CharClassPreTokenizer>(
        [](char32_t c) { return IsUnicodePunctuation(c); }, behavior);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharClassPreTokenizer>(
        [](char32_t c) { return IsUnicodeWhitespace(c); }, Behavior::kRemoved);
  }
  if (type == "Whitespace") {
    LORAD_ASSIGN_OR_RETURN(auto re, PcreRegex::Compile(R"(\w+|[^\w\s]+)", at.ToString()));
    return std::make_unique<SplitPreTokenizer>(std::move(re), Behavior::kRemoved, /*invert=*/true);
  }
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) return at.Key("pretokenizers").Error("must be an array");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < it->size(); ++i) {
      LORAD_ASSIGN_OR_RETURN(auto p,
                             FromJson((*it)[i], at.Key("pretokenizers").Index(i), depth + 1));
      if (p != nullptr) parts.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  return at.Error(absl::StrCat("pre-tokenizer type '", type,
                               "' is not supported (supported: Split, ByteLevel, Metaspace, "
                               "Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence)"));
}

}  // namespace lorad
