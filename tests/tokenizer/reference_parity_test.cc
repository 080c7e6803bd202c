// Token-id parity with Hugging Face's `tokenizers` (the Rust library, through the
// npm binding) on real tokenizer.json files and tests/tokenizer/data/*.txt.
// The npm data comes from scripts/fetch-test-data.sh; without it the test is
// skipped, or fails when CI is set (it must never pass vacuously).
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
  std::string cmd = "node " + ShellQuote(std::string(LORAD_SOURCE_DIR) +
                                         "/tests/tokenizer/reference_encode.js") +
                    " " + ShellQuote(npm.string()) + " " + ShellQuote(tokenizer_json.string());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(LORAD_SOURCE_DIR) / "tests/tokenizer/data")) {
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
        ADD_FAILURE() << tokenizer_json << " add_special_tokens=" << special << "\ntext: " << text
                      << "\nwant: " << IdsToString(want) << "\ngot:  " << IdsToString(got);
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << ref.size() * 2 << " encodings";
}

fs::path LenmlTokenizer(const std::string& name) {
  return NpmDir() / "node_modules" / "@lenml" / ("tokenizer-" + name) / "models" / "tokenizer.json";
}

TEST(ReferenceParityTest, Gpt2ByteLevel) { ExpectParity(LenmlTokenizer("gpt2")); }
TEST(ReferenceParityTest, Llama3SplitByteLevelIgnoreMerges) { ExpectParity(LenmlTokenizer("llama3")); }
TEST(ReferenceParityTest, Qwen25NfcSingleDigits) { ExpectParity(LenmlTokenizer("qwen2_5")); }
TEST(ReferenceParityTest, Llama2SentencePieceByteFallback) { ExpectParity(LenmlTokenizer("llama2")); }

TEST(ReferenceParityTest, TrainedInitModelTokenizer) {
  auto files = TrainByteLevelBpe({std::string(BundledCorpus())}, BpeTrainerOptions{});
  ASSERT_TRUE(files.ok()) << files.status();
  const fs::path dir = fs::path(::testing::TempDir()) / "lorad_trained_tokenizer";
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << files->tokenizer_json;
  ExpectParity(dir / "tokenizer.json");
}

}  // namespace
}  // namespace lorad
