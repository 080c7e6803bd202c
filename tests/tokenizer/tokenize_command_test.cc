// `lorad-worker tokenize`: TokenizeCommand with stdin/stdout redirected to files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "worker/base/file_util.h"
#include "worker/cli/commands.h"
#include "worker/tokenizer/bpe_trainer.h"
#include "worker/tokenizer/bundled_corpus.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int rc;
  std::string out;
  std::string err;
};

// Runs TokenizeCommand with `input` on fd 0 and fds 1/2 captured.
CommandResult RunTokenize(const std::vector<std::string>& args, const std::string& input) {
  const fs::path tmp = fs::path(::testing::TempDir());
  const fs::path in = tmp / "lorad_tokcmd_in", out = tmp / "lorad_tokcmd_out",
                 err = tmp / "lorad_tokcmd_err";
  std::ofstream(in, std::ios::binary) << input;
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved[3] = {dup(0), dup(1), dup(2)};
  const int fin = open(in.c_str(), O_RDONLY);
  const int fout = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int ferr = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fin, 0);
  dup2(fout, 1);
  dup2(ferr, 2);
  std::vector<std::string> argv_storage = {"tokenize"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = TokenizeCommand(static_cast<int>(argv_storage.size()), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  for (int fd = 0; fd < 3; ++fd) {
    dup2(saved[fd], fd);
    close(saved[fd]);
  }
  close(fin);
  close(fout);
  close(ferr);
  return {rc, ReadFileToString(out).value_or("<unreadable>"),
          ReadFileToString(err).value_or("<unreadable>")};
}

class TokenizeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto files = TrainByteLevelBpe({std::string(BundledCorpus())}, BpeTrainerOptions{});
    ASSERT_TRUE(files.ok()) << files.status();
    dir_ = fs::path(::testing::TempDir()) / "lorad_tokcmd_model";
    fs::create_directories(dir_);
    std::ofstream(dir_ / "tokenizer.json", std::ios::binary) << files->tokenizer_json;
    std::ofstream(dir_ / "tokenizer_config.json", std::ios::binary) << files->tokenizer_config_json;
    auto tok = Tokenizer::LoadFromDir(dir_);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(tok).value();
  }
  fs::path dir_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(TokenizeCommandTest, PrintsIdsOfStdinVerbatimIncludingTrailingNewline) {
  const std::string text = "Hello, world!\n<|im_start|>user\n";
  const CommandResult r = RunTokenize({dir_.string()}, text);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::vector<int32_t> got = nlohmann::json::parse(r.out);
  EXPECT_EQ(got, tok_->Encode(text, true));
  EXPECT_EQ(got.front(), *tok_->bos_id());
  EXPECT_NE(tok_->Encode(text, true), tok_->Encode("Hello, world!\n<|im_start|>user", true));
  EXPECT_EQ(r.out.back(), '\n');

  const CommandResult plain = RunTokenize({dir_.string(), "--no-special"}, text);
  ASSERT_EQ(plain.rc, 0) << plain.err;
  const std::vector<int32_t> plain_ids = nlohmann::json::parse(plain.out);
  EXPECT_EQ(plain_ids, tok_->Encode(text, false));

  const CommandResult empty = RunTokenize({dir_.string(), "--no-special"}, "");
  ASSERT_EQ(empty.rc, 0) << empty.err;
  EXPECT_EQ(empty.out, "[]\n");
}

TEST_F(TokenizeCommandTest, BadInputsExitTwoWithAMessage) {
  CommandResult r = RunTokenize({}, "x");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("MODEL_DIR"), std::string::npos) << r.err;

  r = RunTokenize({dir_.string(), "--bogus"}, "x");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;

  r = RunTokenize({dir_.string()}, "bad \xC3\x28 utf8");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  const fs::path spm = fs::path(::testing::TempDir()) / "lorad_tokcmd_spm_only";
  fs::create_directories(spm);
  std::ofstream(spm / "tokenizer.model") << "x";
  r = RunTokenize({spm.string()}, "x");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("tokenizer.json"), std::string::npos) << r.err;

  const fs::path broken = fs::path(::testing::TempDir()) / "lorad_tokcmd_broken";
  fs::create_directories(broken);
  std::ofstream(broken / "tokenizer.json") << R"({"model": {"type": "WordPiece", "vocab": {}}})";
  r = RunTokenize({broken.string()}, "x");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("model.type"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lorad
