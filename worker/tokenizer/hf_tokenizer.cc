#include "worker/tokenizer/hf_tokenizer.h"

#include <exception>
#include <iostream>
#include <new>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/base/sha256.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": not valid JSON: ", e.what()));
  }
}

// bos_token & co.: a string, {"content": ...} (an AddedToken dict) or null.
absl::StatusOr<std::optional<std::string>> TokenField(const nlohmann::json& j,
                                                      const std::string& key, const JsonPath& at) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return at.Key(key).Error("must be a string, an object with \"content\", or null");
}

absl::StatusOr<std::optional<bool>> OptionalBool(const nlohmann::json& j, const std::string& key,
                                                 const JsonPath& at) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return at.Key(key).Error("must be true or false");
  return it->get<bool>();
}

bool IsLlamaFamilyClass(const std::string& cls) {
  // transformers' LlamaTokenizer(Fast), CodeLlama and Gemma fast tokenizers rebuild
  // the post-processor from add_bos_token (default true) / add_eos_token (false).
  for (const char* name : {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                           "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"}) {
    if (cls == name) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<TokenizerConfigFields> TokenizerConfigFields::Parse(std::string_view json,
                                                                   std::string_view source) {
  TokenizerConfigFields cfg;
  if (json.empty()) return cfg;
  LORAD_ASSIGN_OR_RETURN(const nlohmann::json j, ParseJson(json, source));
  const JsonPath at(std::string(source), "");
  if (!j.is_object()) return at.Error("must be a JSON object");
  LORAD_ASSIGN_OR_RETURN(cfg.bos_token, TokenField(j, "bos_token", at));
  LORAD_ASSIGN_OR_RETURN(cfg.eos_token, TokenField(j, "eos_token", at));
  LORAD_ASSIGN_OR_RETURN(cfg.pad_token, TokenField(j, "pad_token", at));
  LORAD_ASSIGN_OR_RETURN(cfg.unk_token, TokenField(j, "unk_token", at));
  LORAD_ASSIGN_OR_RETURN(cfg.add_bos_token, OptionalBool(j, "add_bos_token", at));
  LORAD_ASSIGN_OR_RETURN(cfg.add_eos_token, OptionalBool(j, "add_eos_token", at));
  LORAD_ASSIGN_OR_RETURN(cfg.tokenizer_class, JsonString(j, "tokenizer_class", at, false));
  return cfg;
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Create(
    std::string_view tokenizer_json, std::string_view tokenizer_config_json,
    std::string_view source) {
  // The parsers check types before every access; this is the module edge's net for
  // anything they miss (the loader is fuzzed), so no exception escapes.
  try {
    return CreateUnchecked(tokenizer_json, tokenizer_config_json, source);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(std::string(source), ": out of memory while loading the tokenizer"));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::CreateUnchecked(
    std::string_view tokenizer_json, std::string_view tokenizer_config_json,
    std::string_view source) {
  LORAD_ASSIGN_OR_RETURN(const nlohmann::json j, ParseJson(tokenizer_json, source));
  const JsonPath root(std::string(source), "");
  if (!j.is_object()) return root.Error("must be a JSON object");
  for (const char* key : {"truncation", "padding"}) {
    if (j.contains(key) && !j[key].is_null()) {
      return root.Key(key).Error(
          "is set; lorad truncates and pads itself, so this file's setting would change ids: "
          "set it to null");
    }
  }
  if (!j.contains("model")) return root.Key("model").Error("required object is missing");
  auto tok = std::unique_ptr<HfTokenizer>(new HfTokenizer());
  const nlohmann::json null_json;
  auto field = [&](const char* key) -> const nlohmann::json& {
    auto it = j.find(key);
    return it == j.end() ? null_json : *it;
  };
  LORAD_ASSIGN_OR_RETURN(tok->normalizer_,
                         Normalizer::FromJson(field("normalizer"), root.Key("normalizer")));
  LORAD_ASSIGN_OR_RETURN(tok->pre_tokenizer_,
                         PreTokenizer::FromJson(field("pre_tokenizer"), root.Key("pre_tokenizer")));
  LORAD_ASSIGN_OR_RETURN(tok->model_, BpeModel::FromJson(j["model"], root.Key("model")));
  const BpeModel* model = tok->model_.get();
  LORAD_ASSIGN_OR_RETURN(
      tok->added_,
      AddedVocabulary::FromJson(
          field("added_tokens"), root.Key("added_tokens"), tok->normalizer_.get(),
          [model](std::string_view t) { return model->TokenToId(t); }, model->vocab_entries()));
  LORAD_ASSIGN_OR_RETURN(tok->frame_, SpecialTokenFrame::FromJson(field("post_processor"),
                                                                  root.Key("post_processor")));
  LORAD_ASSIGN_OR_RETURN(tok->decoder_, Decoder::FromJson(field("decoder"), root.Key("decoder")));
  tok->vocab_size_ = static_cast<int64_t>(std::max(model->max_id(), tok->added_->max_id())) + 1;

  const std::string config_source = absl::StrCat(std::string(source), " (tokenizer_config.json)");
  LORAD_ASSIGN_OR_RETURN(const TokenizerConfigFields cfg,
                         TokenizerConfigFields::Parse(tokenizer_config_json, config_source));
  LORAD_RETURN_IF_ERROR(tok->ApplyConfig(cfg, config_source));
  for (const int32_t id : tok->frame_.prefix) {
    if (id >= tok->vocab_size_)
      return root.Key("post_processor")
          .Error(absl::StrCat("id ", id, " is outside the vocabulary"));
  }
  for (const int32_t id : tok->frame_.suffix) {
    if (id >= tok->vocab_size_)
      return root.Key("post_processor")
          .Error(absl::StrCat("id ", id, " is outside the vocabulary"));
  }

  Sha256 h;
  h.Update("lorad-tokenizer-v1");
  h.Update(std::string_view("\0", 1));
  h.Update(tokenizer_json);
  for (const auto* part : {&tok->frame_.prefix, &tok->frame_.suffix}) {
    h.Update(absl::StrCat("|", part->size()));
    for (const int32_t id : *part) h.Update(absl::StrCat(",", id));
  }
  h.Update(absl::StrCat("|", tok->bos_id_.value_or(-1), ",", tok->eos_id_.value_or(-1), ",",
                        tok->pad_id_.value_or(-1)));
  tok->fingerprint_ = h.FinishHex();
  return tok;
}

absl::Status HfTokenizer::ApplyConfig(const TokenizerConfigFields& cfg, std::string_view source) {
  const JsonPath at(std::string(source), "");
  auto resolve = [&](const std::optional<std::string>& token,
                     const char* key) -> absl::StatusOr<std::optional<int32_t>> {
    if (!token) return std::optional<int32_t>();
    auto id = TokenToId(*token);
    if (!id) return at.Key(key).Error(absl::StrCat("'", *token, "' is not in the vocabulary"));
    return id;
  };
  LORAD_ASSIGN_OR_RETURN(bos_id_, resolve(cfg.bos_token, "bos_token"));
  LORAD_ASSIGN_OR_RETURN(eos_id_, resolve(cfg.eos_token, "eos_token"));
  LORAD_ASSIGN_OR_RETURN(pad_id_, resolve(cfg.pad_token, "pad_token"));

  const bool llama = IsLlamaFamilyClass(cfg.tokenizer_class);
  const bool add_bos = cfg.add_bos_token.value_or(llama);
  const bool add_eos = cfg.add_eos_token.value_or(false);
  // transformers rebuilds the post-processor for Llama-family classes, and where the
  // config explicitly asks for BOS/EOS; otherwise tokenizer.json's processor stands.
  if (!llama && !add_bos && !add_eos) return absl::OkStatus();
  if (add_bos && !bos_id_) return at.Key("add_bos_token").Error("is true but bos_token is not set");
  if (add_eos && !eos_id_) return at.Key("add_eos_token").Error("is true but eos_token is not set");
  frame_ = SpecialTokenFrame{};
  if (add_bos) frame_.prefix.push_back(*bos_id_);
  if (add_eos) frame_.suffix.push_back(*eos_id_);
  return absl::OkStatus();
}

std::optional<int32_t> HfTokenizer::TokenToId(std::string_view token) const {
  if (auto id = added_->TokenToId(token)) return id;
  return model_->TokenToId(token);
}

absl::Status HfTokenizer::EncodePiece(std::string text, bool at_input_start,
                                      std::vector<int32_t>* ids) const {
  if (text.empty()) return absl::OkStatus();
  if (pre_tokenizer_ == nullptr) {
    model_->Tokenize(text, ids);
    return absl::OkStatus();
  }
  std::vector<PreToken> pieces;
  pieces.push_back(PreToken{std::move(text), at_input_start});
  LORAD_RETURN_IF_ERROR(pre_tokenizer_->PreTokenize(&pieces));
  for (const PreToken& p : pieces) model_->Tokenize(p.text, ids);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> HfTokenizer::TryEncode(std::string_view text,
                                                            bool add_special_tokens) const {
  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = ToValidUtf8Lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<InputSegment> segments, sub;
  added_->Split(text, /*normalized_pass=*/false, &segments);
  for (const InputSegment& seg : segments) {
    if (seg.token_id >= 0) {
      ids.push_back(seg.token_id);
      continue;
    }
    std::string normalized(seg.text);
    if (normalizer_ != nullptr) LORAD_RETURN_IF_ERROR(normalizer_->Normalize(&normalized));
    if (!added_->has_normalized_tokens()) {
      LORAD_RETURN_IF_ERROR(EncodePiece(std::move(normalized), seg.offset == 0, &ids));
      continue;
    }
    sub.clear();
    added_->Split(normalized, /*normalized_pass=*/true, &sub);
    for (const InputSegment& s : sub) {
      if (s.token_id >= 0) {
        ids.push_back(s.token_id);
      } else {
        LORAD_RETURN_IF_ERROR(
            EncodePiece(std::string(s.text), seg.offset == 0 && s.offset == 0, &ids));
      }
    }
  }
  if (add_special_tokens) frame_.Apply(&ids);
  return ids;
}

std::vector<int32_t> HfTokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  auto ids = TryEncode(text, add_special_tokens);
  if (!ids.ok()) {
    std::cerr << "tokenizer: encoding failed: " << ids.status() << "\n";
    return {};
  }
  return *std::move(ids);
}

std::string HfTokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (const AddedToken* t = added_->ById(id)) {
      if (!(skip_special_tokens && t->special)) tokens.push_back(t->content);
    } else if (const std::string* t = model_->IdToToken(id)) {
      tokens.push_back(*t);
    }
  }
  if (decoder_ == nullptr) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  decoder_->DecodeChain(&tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

}  // namespace lorad
