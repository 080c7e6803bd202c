#include "worker/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/pcre_regex.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

class UnicodeNormalizer final : public Normalizer {
 public:
  UnicodeNormalizer(int options, std::string name) : options_(options), name_(std::move(name)) {}
  absl::Status Normalize(std::string* text) const override {
    if (text->empty()) return absl::OkStatus();
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text->data()),
                                            static_cast<utf8proc_ssize_t>(text->size()), &out,
                                            static_cast<utf8proc_option_t>(options_));
    if (n < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name_, " normalization failed: ", utf8proc_errmsg(n)));
    }
    text->assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
    return absl::OkStatus();
  }

 private:
  int options_;
  std::string name_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  absl::Status Normalize(std::string* text) const override {
    std::string out;
    out.reserve(text->size());
    for (size_t i = 0; i < text->size();) {
      size_t len = 1;
      const char32_t c = DecodeUtf8At(*text, i, &len);
      AppendUtf8(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))), &out);
      i += len;
    }
    *text = std::move(out);
    return absl::OkStatus();
  }
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  absl::Status Normalize(std::string* text) const override {
    std::string out;
    out.reserve(text->size());
    for (size_t i = 0; i < text->size();) {
      size_t len = 1;
      const char32_t c = DecodeUtf8At(*text, i, &len);
      // Every combining mark (Mn, Mc, Me), as the reference's is_combining_mark.
      const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_MC &&
          cat != UTF8PROC_CATEGORY_ME) {
        out.append(*text, i, len);
      }
      i += len;
    }
    *text = std::move(out);
    return absl::OkStatus();
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  absl::Status Normalize(std::string* text) const override {
    size_t begin = 0, end = text->size();
    if (left_) {
      while (begin < end) {
        size_t len = 1;
        if (!IsUnicodeWhitespace(DecodeUtf8At(*text, begin, &len))) break;
        begin += len;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<uint8_t>((*text)[start]) & 0xC0) == 0x80) --start;
        size_t len = 1;
        if (!IsUnicodeWhitespace(DecodeUtf8At(*text, start, &len))) break;
        end = start;
      }
    }
    *text = text->substr(begin, end - begin);
    return absl::OkStatus();
  }

 private:
  bool left_, right_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  absl::Status Normalize(std::string* text) const override {
    if (!text->empty()) text->insert(0, prefix_);
    return absl::OkStatus();
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<PcreRegex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  absl::Status Normalize(std::string* text) const override {
    std::vector<std::pair<size_t, size_t>> m;
    LORAD_RETURN_IF_ERROR(re_->FindAll(*text, &m));
    if (m.empty()) return absl::OkStatus();
    std::string out;
    size_t prev = 0;
    for (const auto& [b, e] : m) {
      out.append(*text, prev, b - prev);
      out.append(content_);
      prev = e;
    }
    out.append(*text, prev, std::string::npos);
    *text = std::move(out);
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<PcreRegex> re_;
  std::string content_;
};

class ByteLevelNormalizer final : public Normalizer {
 public:
  absl::Status Normalize(std::string* text) const override {
    std::string out;
    ByteLevelAlphabet::Get().EncodeTo(*text, &out);
    *text = std::move(out);
    return absl::OkStatus();
  }
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  absl::Status Normalize(std::string* text) const override {
    for (const auto& p : parts_) LORAD_RETURN_IF_ERROR(p->Normalize(text));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> Normalizer::FromJson(const nlohmann::json& j,
                                                                 const JsonPath& at, size_t depth) {
  if (j.is_null()) return nullptr;
  if (depth > kMaxComponentDepth) return at.Error("normalizers nested too deeply");
  LORAD_ASSIGN_OR_RETURN(const std::string type, JsonType(j, at));
  if (type == "NFC")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE, type);
  if (type == "NFD")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, type);
  if (type == "NFKC") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
                                               type);
  }
  if (type == "NFKD") {
    return std::make_unique<UnicodeNormalizer>(
        UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, type);
  }
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Strip") {
    LORAD_ASSIGN_OR_RETURN(const bool left, JsonBool(j, "strip_left", at, true));
    LORAD_ASSIGN_OR_RETURN(const bool right, JsonBool(j, "strip_right", at, true));
    return std::make_unique<StripNormalizer>(left, right);
  }
  if (type == "Prepend") {
    LORAD_ASSIGN_OR_RETURN(std::string prefix, JsonString(j, "prepend", at, true));
    return std::make_unique<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Replace") {
    if (!j.contains("pattern")) return at.Key("pattern").Error("required pattern is missing");
    bool is_regex = false;
    const JsonPath pat_at = at.Key("pattern");
    LORAD_ASSIGN_OR_RETURN(const std::string pattern, JsonPattern(j["pattern"], pat_at, &is_regex));
    LORAD_ASSIGN_OR_RETURN(std::string content, JsonString(j, "content", at, true));
    auto re = is_regex ? PcreRegex::Compile(pattern, pat_at.ToString())
                       : PcreRegex::CompileLiteral(pattern, pat_at.ToString());
    if (!re.ok()) return re.status();
    if (pattern.empty()) return pat_at.Error("empty pattern");
    return std::make_unique<ReplaceNormalizer>(std::move(re).value(), std::move(content));
  }
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return at.Key("normalizers").Error("must be an array");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < it->size(); ++i) {
      LORAD_ASSIGN_OR_RETURN(auto p, FromJson((*it)[i], at.Key("normalizers").Index(i), depth + 1));
      if (p != nullptr) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  return at.Error(absl::StrCat("normalizer type '", type,
                               "' is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, "
                               "Strip, StripAccents, Prepend, Replace, ByteLevel, Sequence)"));
}

}  // namespace lorad
