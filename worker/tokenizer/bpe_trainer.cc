#include "worker/tokenizer/bpe_trainer.h"

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/pcre_regex.h"
#include "worker/tokenizer/utf8_util.h"

namespace lorad {

namespace {

using Json = nlohmann::ordered_json;

// Llama-3's split pattern (as its tokenizer.json carries it).
constexpr char kLlama3SplitPattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr char kChatMlTemplate[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

Json ByteLevelComponent() {
  Json j;
  j["type"] = "ByteLevel";
  j["add_prefix_space"] = false;
  j["trim_offsets"] = true;
  j["use_regex"] = false;
  return j;
}

Json SpecialTokenItem(const std::string& token, int type_id) {
  Json j;
  j["SpecialToken"] = {{"id", token}, {"type_id", type_id}};
  return j;
}

Json SequenceItem(const char* id, int type_id) {
  Json j;
  j["Sequence"] = {{"id", id}, {"type_id", type_id}};
  return j;
}

}  // namespace

absl::StatusOr<TrainedTokenizerFiles> TrainByteLevelBpe(const std::vector<std::string>& texts,
                                                        const BpeTrainerOptions& options) {
  if (texts.empty()) return absl::InvalidArgumentError("BPE trainer: no training texts");
  if (options.num_merges < 0 || options.num_merges > 100000) {
    return absl::InvalidArgumentError(
        absl::StrCat("BPE trainer: num_merges must be in [0, 100000], got ", options.num_merges));
  }
  if (options.special_tokens.size() < 3) {
    return absl::InvalidArgumentError(
        "BPE trainer: special_tokens needs at least BOS, EOS and pad (3 tokens)");
  }
  std::set<std::string> seen_specials;
  for (const std::string& s : options.special_tokens) {
    if (s.empty() || !IsValidUtf8(s) || !seen_specials.insert(s).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("BPE trainer: special token '", s, "' is empty, not UTF-8 or repeated"));
    }
  }
  LORAD_ASSIGN_OR_RETURN(auto regex, PcreRegex::Compile(kLlama3SplitPattern, "BPE trainer"));

  // Word frequencies over raw bytes; std::map keeps every later step deterministic.
  std::map<std::string, int64_t> word_counts;
  std::vector<std::pair<size_t, size_t>> matches;
  for (size_t t = 0; t < texts.size(); ++t) {
    size_t bad = 0;
    if (!IsValidUtf8(texts[t], &bad)) {
      return absl::InvalidArgumentError(
          absl::StrCat("BPE trainer: text ", t, " is not valid UTF-8 at byte ", bad));
    }
    matches.clear();
    LORAD_RETURN_IF_ERROR(regex->FindAll(texts[t], &matches));
    for (const auto& [b, e] : matches) {
      if (e > b) ++word_counts[texts[t].substr(b, e - b)];
    }
  }

  const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::Get();
  std::vector<std::string> vocab;  // id -> byte-level string
  std::map<std::string, int32_t> vocab_ids;
  for (int b = 0; b < 256; ++b) {
    vocab.push_back(alphabet.Encode(static_cast<uint8_t>(b)));
    vocab_ids.emplace(vocab.back(), b);
  }
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (const auto& [w, count] : word_counts) {
    std::vector<int32_t> symbols;
    for (const char c : w) symbols.push_back(static_cast<uint8_t>(c));
    words.emplace_back(std::move(symbols), count);
  }

  std::vector<std::pair<int32_t, int32_t>> merges;
  for (int m = 0; m < options.num_merges; ++m) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pair_counts;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i)
        pair_counts[{symbols[i], symbols[i + 1]}] += count;
    }
    // Most frequent pair; ties go to the lexicographically smallest strings.
    const std::pair<int32_t, int32_t>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [pair, count] : pair_counts) {
      if (count > best_count || (count == best_count && best != nullptr &&
                                 std::tie(vocab[pair.first], vocab[pair.second]) <
                                     std::tie(vocab[best->first], vocab[best->second]))) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr || best_count < 2) break;
    const auto [a, b] = *best;
    const std::string merged = vocab[a] + vocab[b];
    int32_t new_id;
    if (auto it = vocab_ids.find(merged); it != vocab_ids.end()) {
      new_id = it->second;
    } else {
      new_id = static_cast<int32_t>(vocab.size());
      vocab.push_back(merged);
      vocab_ids.emplace(merged, new_id);
    }
    merges.emplace_back(a, b);
    for (auto& [symbols, count] : words) {
      std::vector<int32_t> out;
      out.reserve(symbols.size());
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b) {
          out.push_back(new_id);
          ++i;
        } else {
          out.push_back(symbols[i]);
        }
      }
      symbols = std::move(out);
    }
  }

  const std::string& bos = options.special_tokens[0];
  const std::string& eos = options.special_tokens[1];
  const std::string& pad = options.special_tokens[2];
  const int32_t first_special = static_cast<int32_t>(vocab.size());

  Json tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  Json added = Json::array();
  for (size_t i = 0; i < options.special_tokens.size(); ++i) {
    added.push_back({{"id", first_special + static_cast<int32_t>(i)},
                     {"content", options.special_tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  tok["added_tokens"] = added;
  tok["normalizer"] = nullptr;
  Json split;
  split["type"] = "Split";
  split["pattern"] = {{"Regex", kLlama3SplitPattern}};
  split["behavior"] = "Isolated";
  split["invert"] = false;
  tok["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers", Json::array({split, ByteLevelComponent()})}};
  Json tp;
  tp["type"] = "TemplateProcessing";
  tp["single"] = Json::array({SpecialTokenItem(bos, 0), SequenceItem("A", 0)});
  tp["pair"] = Json::array({SpecialTokenItem(bos, 0), SequenceItem("A", 0),
                            SpecialTokenItem(bos, 1), SequenceItem("B", 1)});
  Json special_map;
  special_map[bos] = {
      {"id", bos}, {"ids", Json::array({first_special})}, {"tokens", Json::array({bos})}};
  tp["special_tokens"] = special_map;
  Json bl_post = ByteLevelComponent();
  bl_post["trim_offsets"] = false;
  bl_post["add_prefix_space"] = true;
  bl_post["use_regex"] = true;
  tok["post_processor"] = {{"type", "Sequence"}, {"processors", Json::array({bl_post, tp})}};
  Json decoder = ByteLevelComponent();
  decoder["add_prefix_space"] = true;
  decoder["use_regex"] = true;
  tok["decoder"] = decoder;
  Json model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = true;
  Json vocab_json = Json::object();
  for (size_t i = 0; i < vocab.size(); ++i) vocab_json[vocab[i]] = static_cast<int32_t>(i);
  model["vocab"] = vocab_json;
  Json merges_json = Json::array();
  for (const auto& [a, b] : merges) merges_json.push_back(Json::array({vocab[a], vocab[b]}));
  model["merges"] = merges_json;
  tok["model"] = model;

  Json cfg;
  cfg["add_bos_token"] = true;
  cfg["add_eos_token"] = false;
  Json decoder_map = Json::object();
  for (size_t i = 0; i < options.special_tokens.size(); ++i) {
    decoder_map[std::to_string(first_special + static_cast<int32_t>(i))] = {
        {"content", options.special_tokens[i]},
        {"lstrip", false},
        {"normalized", false},
        {"rstrip", false},
        {"single_word", false},
        {"special", true}};
  }
  cfg["added_tokens_decoder"] = decoder_map;
  cfg["bos_token"] = bos;
  cfg["chat_template"] = kChatMlTemplate;
  cfg["clean_up_tokenization_spaces"] = false;
  cfg["eos_token"] = eos;
  cfg["model_max_length"] = 131072;
  cfg["pad_token"] = pad;
  cfg["tokenizer_class"] = "PreTrainedTokenizerFast";

  TrainedTokenizerFiles files;
  files.tokenizer_json = tok.dump(2) + "\n";
  files.tokenizer_config_json = cfg.dump(2) + "\n";
  return files;
}

}  // namespace lorad
