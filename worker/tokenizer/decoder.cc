#include "worker/tokenizer/decoder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/pcre_regex.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

class ByteLevelDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::Get();
    std::string bytes;
    for (const std::string& t : *tokens) {
      std::string mapped;
      bool all = true;
      for (size_t i = 0; i < t.size() && all;) {
        size_t len = 1;
        const auto b = alphabet.Decode(DecodeUtf8At(t, i, &len));
        if (b) {
          mapped.push_back(static_cast<char>(*b));
        } else {
          all = false;
        }
        i += len;
      }
      bytes += all ? mapped : t;  // a token outside the alphabet passes through as is
    }
    *tokens = {ToValidUtf8Lossy(bytes)};
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<PcreRegex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::pair<size_t, size_t>> m;
    for (std::string& t : *tokens) {
      m.clear();
      if (!re_->FindAll(t, &m).ok() || m.empty()) continue;
      std::string out;
      size_t prev = 0;
      for (const auto& [b, e] : m) {
        out.append(t, prev, b - prev);
        out.append(content_);
        prev = e;
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }

 private:
  std::unique_ptr<PcreRegex> re_;
  std::string content_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (IsValidUtf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending_count; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& t : *tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        const auto hex = [](char c) {
          return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        };
        const int hi = hex(t[3]), lo = hex(t[4]);
        if (hi >= 0 && lo >= 0) byte = hi * 16 + lo;
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    *tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string all;
    for (const std::string& t : *tokens) all += t;
    *tokens = {all};
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // (offset, code point)
      for (size_t i = 0; i < t.size();) {
        size_t len = 1;
        chars.emplace_back(i, DecodeUtf8At(t, i, &len));
        i += len;
      }
      size_t begin = 0, end = chars.size();
      while (begin < start_ && begin < end && chars[begin].second == content_) ++begin;
      for (size_t k = 0; k < stop_ && end > begin && chars[end - 1].second == content_; ++k) --end;
      const size_t b = begin < chars.size() ? chars[begin].first : t.size();
      const size_t e = end < chars.size() ? chars[end].first : t.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string& t = (*tokens)[i];
      std::string out;
      for (size_t p = 0; p < t.size();) {
        if (t.compare(p, replacement_.size(), replacement_) == 0) {
          out.push_back(' ');
          p += replacement_.size();
        } else {
          out.push_back(t[p++]);
        }
      }
      if (i == 0 && strip_first_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
      t = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& p : parts_) p->DecodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> Decoder::FromJson(const nlohmann::json& j,
                                                           const JsonPath& at, size_t depth) {
  if (j.is_null()) return nullptr;
  if (depth > kMaxComponentDepth) return at.Error("decoders nested too deeply");
  LORAD_ASSIGN_OR_RETURN(const std::string type, JsonType(j, at));
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Replace") {
    if (!j.contains("pattern")) return at.Key("pattern").Error("required pattern is missing");
    const JsonPath pat_at = at.Key("pattern");
    bool is_regex = false;
    LORAD_ASSIGN_OR_RETURN(const std::string pattern, JsonPattern(j["pattern"], pat_at, &is_regex));
    if (pattern.empty()) return pat_at.Error("empty pattern");
    LORAD_ASSIGN_OR_RETURN(std::string content, JsonString(j, "content", at, true));
    auto re = is_regex ? PcreRegex::Compile(pattern, pat_at.ToString())
                       : PcreRegex::CompileLiteral(pattern, pat_at.ToString());
    if (!re.ok()) return re.status();
    return std::make_unique<ReplaceDecoder>(std::move(re).value(), std::move(content));
  }
  if (type == "Strip") {
    LORAD_ASSIGN_OR_RETURN(const std::string content, JsonString(j, "content", at, true));
    size_t len = 0;
    if (content.empty() || (DecodeUtf8At(content, 0, &len), len != content.size())) {
      return at.Key("content").Error("must be exactly one character");
    }
    LORAD_ASSIGN_OR_RETURN(const int64_t start, JsonInt(j, "start", at, 0, 1 << 20, 0));
    LORAD_ASSIGN_OR_RETURN(const int64_t stop, JsonInt(j, "stop", at, 0, 1 << 20, 0));
    return std::make_unique<StripDecoder>(DecodeUtf8At(content, 0, &len),
                                          static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "Metaspace") {
    LORAD_ASSIGN_OR_RETURN(std::string replacement,
                           JsonString(j, "replacement", at, false, "\xE2\x96\x81"));
    if (replacement.empty()) return at.Key("replacement").Error("must not be empty");
    bool strip_first = true;
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
      LORAD_ASSIGN_OR_RETURN(const std::string scheme, JsonString(j, "prepend_scheme", at, true));
      strip_first = scheme != "never";
    } else {
      LORAD_ASSIGN_OR_RETURN(strip_first, JsonBool(j, "add_prefix_space", at, true));
    }
    return std::make_unique<MetaspaceDecoder>(std::move(replacement), strip_first);
  }
  if (type == "Sequence") {
    auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) return at.Key("decoders").Error("must be an array");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < it->size(); ++i) {
      LORAD_ASSIGN_OR_RETURN(auto p, FromJson((*it)[i], at.Key("decoders").Index(i), depth + 1));
      if (p != nullptr) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  return at.Error(absl::StrCat("decoder type '", type,
                               "' is not supported (supported: ByteLevel, Metaspace, Replace, "
                               "ByteFallback, Fuse, Strip, Sequence)"));
}

}  // namespace lorad
