// Unit tests of the tokenizer that need no reference data: trained-tokenizer
// round trips, special tokens, config handling, SentencePiece byte fallback,
// thread safety, and the errors hostile or unsupported files must produce.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "worker/base/file_util.h"
#include "worker/tokenizer/bpe_trainer.h"
#include "worker/tokenizer/bundled_corpus.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

class TrainedTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto files = TrainByteLevelBpe({std::string(BundledCorpus())}, BpeTrainerOptions{});
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = new TrainedTokenizerFiles(*files);
    dir_ = new fs::path(fs::path(::testing::TempDir()) / "lorad_tok_unit_trained");
    fs::create_directories(*dir_);
    std::ofstream(*dir_ / "tokenizer.json", std::ios::binary) << files->tokenizer_json;
    std::ofstream(*dir_ / "tokenizer_config.json", std::ios::binary)
        << files->tokenizer_config_json;
  }
  static void TearDownTestSuite() {
    delete files_;
    delete dir_;
  }
  static std::vector<std::string> DataTexts() {
    std::vector<std::string> texts;
    for (const auto& e :
         fs::directory_iterator(fs::path(LORAD_SOURCE_DIR) / "tests/tokenizer/data")) {
      auto t = ReadFileToString(e.path());
      if (t.ok()) texts.push_back(*t);
    }
    return texts;
  }
  static TrainedTokenizerFiles* files_;
  static fs::path* dir_;
};
TrainedTokenizerFiles* TrainedTokenizerTest::files_ = nullptr;
fs::path* TrainedTokenizerTest::dir_ = nullptr;

TEST_F(TrainedTokenizerTest, SpecialIdsAndBosFromConfig) {
  auto tok = Tokenizer::LoadFromDir(*dir_);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto& t = **tok;
  ASSERT_TRUE(t.bos_id() && t.eos_id() && t.pad_id());
  EXPECT_EQ(t.bos_id(), t.TokenToId("<s>"));
  EXPECT_EQ(t.eos_id(), t.TokenToId("</s>"));
  EXPECT_EQ(t.pad_id(), t.TokenToId("<pad>"));
  EXPECT_EQ(t.vocab_size(), *t.TokenToId("<|im_end|>") + 1);
  const auto with = t.Encode("Hello world", true);
  const auto without = t.Encode("Hello world", false);
  ASSERT_EQ(with.size(), without.size() + 1);
  EXPECT_EQ(with[0], *t.bos_id());
  EXPECT_TRUE(std::equal(without.begin(), without.end(), with.begin() + 1));
  EXPECT_EQ(t.fingerprint().size(), 64u);
  EXPECT_TRUE(t.Encode("", false).empty());
}

TEST_F(TrainedTokenizerTest, DecodeInvertsEncodeOnEveryDataText) {
  auto tok = Tokenizer::LoadFromDir(*dir_);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto texts = DataTexts();
  ASSERT_GE(texts.size(), 5u);
  for (const std::string& text : texts) {
    const auto ids = (*tok)->Encode(text, /*add_special_tokens=*/false);
    EXPECT_EQ((*tok)->Decode(ids, /*skip_special_tokens=*/false), text);
    for (const int32_t id : ids) EXPECT_LT(id, (*tok)->vocab_size());
  }
}

TEST_F(TrainedTokenizerTest, SpecialTokensInTextAreSingleIds) {
  auto tok = Tokenizer::LoadFromDir(*dir_);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto ids = (*tok)->Encode("<|im_start|>user\nhi<|im_end|>", false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), *(*tok)->TokenToId("<|im_start|>"));
  EXPECT_EQ(ids.back(), *(*tok)->TokenToId("<|im_end|>"));
  EXPECT_EQ((*tok)->Decode(ids, false), "<|im_start|>user\nhi<|im_end|>");
  EXPECT_EQ((*tok)->Decode(ids, true), "user\nhi");
}

TEST_F(TrainedTokenizerTest, ConcurrentEncodesAgree) {
  auto tok = Tokenizer::LoadFromDir(*dir_);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto texts = DataTexts();
  std::vector<std::vector<int32_t>> want;
  for (const auto& t : texts) want.push_back((*tok)->Encode(t, true));
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if ((*tok)->Encode(texts[i], true) != want[i]) ++failures[static_cast<size_t>(th)];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const int f : failures) EXPECT_EQ(f, 0);
}

TEST_F(TrainedTokenizerTest, InvalidUtf8IsRepairedNotDropped) {
  auto tok = Tokenizer::LoadFromDir(*dir_);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->Encode("a\xff"
                           "b",
                           false),
            (*tok)->Encode("a\xEF\xBF\xBD"
                           "b",
                           false));
}

// --- Config handling ------------------------------------------------------------

TEST_F(TrainedTokenizerTest, LlamaClassRebuildsTemplateFromAddBosAddEos) {
  nlohmann::json cfg = nlohmann::json::parse(files_->tokenizer_config_json);
  cfg["tokenizer_class"] = "LlamaTokenizerFast";
  cfg["bos_token"] = {{"content", "<s>"}, {"lstrip", false}};  // the dict form
  cfg["add_eos_token"] = true;
  auto tok = Tokenizer::FromJson(files_->tokenizer_json, cfg.dump(), "test");
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto ids = (*tok)->Encode("hi", true);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), *(*tok)->TokenToId("<s>"));
  EXPECT_EQ(ids.back(), *(*tok)->TokenToId("</s>"));

  cfg["add_bos_token"] = false;
  cfg["add_eos_token"] = false;
  auto plain = Tokenizer::FromJson(files_->tokenizer_json, cfg.dump(), "test");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)->Encode("hi", true), (*plain)->Encode("hi", false));
}

TEST_F(TrainedTokenizerTest, ConfigErrorsNameTheKey) {
  nlohmann::json cfg = nlohmann::json::parse(files_->tokenizer_config_json);
  cfg["eos_token"] = "<nope>";
  auto tok = Tokenizer::FromJson(files_->tokenizer_json, cfg.dump(), "test");
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("eos_token"), absl::string_view::npos) << tok.status();
  cfg = nlohmann::json::parse(files_->tokenizer_config_json);
  cfg.erase("bos_token");
  cfg["add_bos_token"] = true;
  tok = Tokenizer::FromJson(files_->tokenizer_json, cfg.dump(), "test");
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("add_bos_token"), absl::string_view::npos) << tok.status();
}

// --- Errors in tokenizer.json ---------------------------------------------------

void ExpectError(const nlohmann::json& j, const std::vector<std::string>& fragments) {
  auto tok = Tokenizer::FromJson(j.dump(), "", "tokenizer.json");
  ASSERT_FALSE(tok.ok()) << j.dump().substr(0, 200);
  for (const auto& f : fragments) {
    EXPECT_NE(tok.status().message().find(f), absl::string_view::npos)
        << "'" << f << "' not in: " << tok.status().message();
  }
}

TEST_F(TrainedTokenizerTest, HostileOrUnsupportedFilesGiveErrorsNamingThePath) {
  const nlohmann::json base = nlohmann::json::parse(files_->tokenizer_json);
  auto tok = Tokenizer::FromJson("{not json", "", "tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("not valid JSON"), absl::string_view::npos);

  nlohmann::json j = base;
  j["model"]["type"] = "Unigram";
  ExpectError(j, {"model.type", "Unigram", "not supported"});
  j = base;
  j["pre_tokenizer"]["pretokenizers"][0] = {{"type", "BertPreTokenizer"}};
  ExpectError(j, {"pre_tokenizer.pretokenizers[0]", "BertPreTokenizer"});
  j = base;
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  ExpectError(j, {"pre_tokenizer.pretokenizers[0].pattern", "bad regex"});
  j = base;
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  ExpectError(j, {"normalizer", "Precompiled"});
  j = base;
  j["model"]["merges"][3] = {"Ġ", "no-such-token"};
  ExpectError(j, {"model.merges[3]", "no-such-token"});
  j = base;
  j["model"]["merges"][0] = "three part merge";
  ExpectError(j, {"model.merges[0]"});
  j = base;
  j["model"]["vocab"]["a"] = -5;
  ExpectError(j, {"model.vocab.a"});
  j = base;
  j["model"]["vocab"][std::string(5000, 'x')] = 7;
  ExpectError(j, {"model.vocab", "exceeds the limit"});
  j = base;
  j["truncation"] = {{"max_length", 8}};
  ExpectError(j, {"truncation"});
  j = base;
  j["decoder"] = {{"type", "WordPiece"}};
  ExpectError(j, {"decoder", "WordPiece"});
  j = base;
  j["post_processor"]["processors"][1]["special_tokens"]["<s>"]["ids"] = {99999999};
  ExpectError(j, {"post_processor"});
  j = base;
  j["added_tokens"][0]["content"] = 5;
  ExpectError(j, {"added_tokens[0].content"});
  j = base;
  j["model"]["dropout"] = 0.1;
  ExpectError(j, {"model.dropout"});
  j = base;
  nlohmann::json nested = {{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}};
  for (int i = 0; i < 40; ++i) nested = {{"type", "Sequence"}, {"normalizers", {nested}}};
  j["normalizer"] = nested;
  ExpectError(j, {"nested too deeply"});
}

TEST_F(TrainedTokenizerTest, SpecialTokensMapFillsWhatTheConfigLacks) {
  const fs::path dir = fs::path(::testing::TempDir()) / "lorad_tok_unit_special_map";
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << files_->tokenizer_json;
  nlohmann::json cfg = nlohmann::json::parse(files_->tokenizer_config_json);
  cfg.erase("pad_token");
  cfg["eos_token"] = "<|im_end|>";
  std::ofstream(dir / "tokenizer_config.json") << cfg.dump();
  std::ofstream(dir / "special_tokens_map.json")
      << R"({"pad_token": {"content": "<pad>"}, "eos_token": "</s>"})";
  auto tok = Tokenizer::LoadFromDir(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->pad_id(), (*tok)->TokenToId("<pad>"));
  EXPECT_EQ((*tok)->eos_id(), (*tok)->TokenToId("<|im_end|>"));  // the config wins
}

TEST(TokenizerLoadTest, DirectoryErrors) {
  const fs::path dir = fs::path(::testing::TempDir()) / "lorad_tok_unit_spm_only";
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.model") << "binary";
  auto tok = Tokenizer::LoadFromDir(dir);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(tok.status().message().find("supply tokenizer.json"), absl::string_view::npos);
  tok = Tokenizer::LoadFromDir(dir / "missing");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
}

// --- SentencePiece-style BPE: byte fallback, unk, decoders ----------------------

nlohmann::json TinySentencePiece() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int next = 259;
  for (const char* t : {"\xE2\x96\x81", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "hell",
                        "hello", "\xE2\x96\x81hello", "\xE2\x96\x81w", "or"}) {
    vocab[t] = next++;
  }
  nlohmann::json merges = {"h e", "l l", "he ll", "hell o", "\xE2\x96\x81 hello", "\xE2\x96\x81 w",
                           "o r"};
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}, {"normalized", false}},
        {{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", nlohmann::json::array()},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merges}}}};
}

TEST(SentencePieceStyleTest, ByteFallbackMergesAndDecoders) {
  auto tok = Tokenizer::FromJson(TinySentencePiece().dump(), "", "tiny-spm");
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto& t = **tok;
  const auto id = [&t](const char* s) { return *t.TokenToId(s); };
  // "▁hello" merges fully; " world" → "▁w" "or" "l" "d"; the emoji has no piece,
  // so its four UTF-8 bytes become <0xF0> <0x9F> <0x98> <0x80>.
  const std::vector<int32_t> want = {
      id("<s>"),   id("\xE2\x96\x81hello"), id("\xE2\x96\x81w"), id("or"),     id("l"),
      id("d"),     id("\xE2\x96\x81"),      id("<0xF0>"),        id("<0x9F>"), id("<0x98>"),
      id("<0x80>")};
  EXPECT_EQ(t.Encode("hello world \xF0\x9F\x98\x80", true), want);
  EXPECT_EQ(t.Decode(want, true), "hello world \xF0\x9F\x98\x80");
  // A lone invalid byte sequence decodes to U+FFFD per byte, as the reference.
  EXPECT_EQ(t.Decode({id("<0xF0>"), id("<0x9F>"), id("h")}, true), "\xEF\xBF\xBD\xEF\xBF\xBDh");
}

TEST(SentencePieceStyleTest, UnknownCharactersFuseIntoOneUnk) {
  nlohmann::json j = TinySentencePiece();
  j["model"]["byte_fallback"] = false;
  auto tok = Tokenizer::FromJson(j.dump(), "", "tiny-spm");
  ASSERT_TRUE(tok.ok()) << tok.status();
  const int32_t unk = *(*tok)->TokenToId("<unk>");
  const int32_t h = *(*tok)->TokenToId("h");
  EXPECT_EQ((*tok)->Encode("\xC3\xA9\xC3\xA9h", false),
            (std::vector<int32_t>{*(*tok)->TokenToId("\xE2\x96\x81"), unk, h}));
  j["model"]["fuse_unk"] = false;
  tok = Tokenizer::FromJson(j.dump(), "", "tiny-spm");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->Encode("\xC3\xA9\xC3\xA9h", false),
            (std::vector<int32_t>{*(*tok)->TokenToId("\xE2\x96\x81"), unk, unk, h}));
}

}  // namespace
}  // namespace lorad
