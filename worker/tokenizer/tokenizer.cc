#include "worker/tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/hf_tokenizer.h"

namespace lorad {

namespace {

constexpr uint64_t kMaxTokenizerJsonBytes = uint64_t{512} << 20;
constexpr uint64_t kMaxTokenizerConfigBytes = uint64_t{32} << 20;

bool Exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

// transformers takes bos/eos/pad/unk from special_tokens_map.json when
// tokenizer_config.json does not set them: fold them into the config text.
absl::StatusOr<std::string> MergeSpecialTokensMap(const std::string& config,
                                                  const std::filesystem::path& map_path) {
  LORAD_ASSIGN_OR_RETURN(const std::string map_text,
                         ReadFileToString(map_path, kMaxTokenizerConfigBytes));
  const auto map = nlohmann::json::parse(map_text, nullptr, /*allow_exceptions=*/false);
  if (!map.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(map_path.string(), ": not a valid JSON object"));
  }
  nlohmann::json cfg = nlohmann::json::object();
  if (!config.empty()) {
    cfg = nlohmann::json::parse(config, nullptr, /*allow_exceptions=*/false);
    if (!cfg.is_object()) return config;  // let the config parser report it
  }
  for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
    if (!cfg.contains(key) && map.contains(key)) cfg[key] = map[key];
  }
  return cfg.dump();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromDir(
    const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("tokenizer: ", dir.string(), " is not a directory"));
  }
  const std::filesystem::path json_path = dir / "tokenizer.json";
  if (!Exists(json_path)) {
    if (Exists(dir / "tokenizer.model")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tokenizer: ", dir.string(),
          " has only tokenizer.model (a SentencePiece model), which lorad does not read; supply "
          "tokenizer.json, e.g. with Python: "
          "AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)"));
    }
    if (Exists(dir / "vocab.json") || Exists(dir / "merges.txt")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tokenizer: ", dir.string(),
          " has vocab.json/merges.txt but no tokenizer.json; supply tokenizer.json, e.g. with "
          "Python: AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)"));
    }
    return absl::NotFoundError(absl::StrCat("tokenizer: no tokenizer.json in ", dir.string()));
  }
  LORAD_ASSIGN_OR_RETURN(const std::string json,
                         ReadFileToString(json_path, kMaxTokenizerJsonBytes));
  std::string config;
  const std::filesystem::path config_path = dir / "tokenizer_config.json";
  if (Exists(config_path)) {
    LORAD_ASSIGN_OR_RETURN(config, ReadFileToString(config_path, kMaxTokenizerConfigBytes));
  }
  if (Exists(dir / "special_tokens_map.json")) {
    LORAD_ASSIGN_OR_RETURN(config, MergeSpecialTokensMap(config, dir / "special_tokens_map.json"));
  }
  LORAD_ASSIGN_OR_RETURN(auto tok, HfTokenizer::Create(json, config, json_path.string()));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(
    std::string_view tokenizer_json, std::string_view tokenizer_config_json,
    std::string_view source) {
  LORAD_ASSIGN_OR_RETURN(auto tok,
                         HfTokenizer::Create(tokenizer_json, tokenizer_config_json, source));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace lorad
