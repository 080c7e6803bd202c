#include "client/completion_script.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace lorad {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command, returns its stdout.
std::string Capture(const std::string& command) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

class BashCompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = std::filesystem::path(::testing::TempDir()) / "loractl-completion.bash";
    std::ofstream(script_) << BashCompletionScript();
  }
  // Completions bash offers for `line` (the cursor at its end).
  std::vector<std::string> Complete(const std::string& line) {
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    std::string array;
    for (const std::string& w : words) absl::StrAppend(&array, " '", w, "'");
    // `loractl list -o name` is faked: the job ids come from it.
    const std::string cmd = absl::StrCat(
        "bash -c 'loractl() { printf \"job-a\\njob-b\\n\"; }; source ", script_.string(),
        "; COMP_WORDS=(", absl::StrReplaceAll(array, {{"'", "\""}}), "); COMP_CWORD=",
        words.size() - 1, "; _loractl; printf \"%s\\n\" \"${COMPREPLY[@]}\"'");
    return absl::StrSplit(Capture(cmd), '\n', absl::SkipEmpty());
  }
  std::filesystem::path script_;
};

TEST_F(BashCompletionTest, VerbsFlagsValuesAndJobIds) {
  EXPECT_THAT(Complete("loractl sub"), ElementsAre("submit"));
  EXPECT_THAT(Complete("loractl l"), UnorderedElementsAre("list", "ls", "logs", "loss"));
  EXPECT_THAT(Complete("loractl list --st"), ElementsAre("--state"));
  EXPECT_THAT(Complete("loractl list --state r"), ElementsAre("running"));
  EXPECT_THAT(Complete("loractl logs j1 -o y"), ElementsAre("yaml"));
  // The verb is found after a global flag and its value.
  EXPECT_THAT(Complete("loractl --address /x.sock list --no"), ElementsAre("--no-headers"));
  EXPECT_THAT(Complete("loractl completion z"), ElementsAre("zsh"));
  EXPECT_THAT(Complete("loractl get job-"), ElementsAre("job-a", "job-b"));
  EXPECT_THAT(Complete("loractl submit job.yaml --dev"), ElementsAre("--device"));
  EXPECT_THAT(Complete("loractl submit job.yaml --device c"), UnorderedElementsAre("cpu", "cuda"));
  EXPECT_THAT(Complete("loractl mer"), ElementsAre("merge"));
  EXPECT_THAT(Complete("loractl merge job-"), ElementsAre("job-a", "job-b"));
  EXPECT_THAT(Complete("loractl merge job-a --dt"), ElementsAre("--dtype"));
  EXPECT_THAT(Complete("loractl merge job-a --dtype b"), ElementsAre("bf16"));
  EXPECT_THAT(Complete("loractl merge job-a --max"), ElementsAre("--max-shard-size"));
}

TEST(CompletionScriptTest, CommittedCopiesMatchTheGenerator) {
  const std::filesystem::path dir = std::filesystem::path(LORAD_SOURCE_DIR) / "client/completion";
  EXPECT_EQ(ReadFile(dir / "loractl.bash"), BashCompletionScript())
      << "regenerate: loractl completion bash > client/completion/loractl.bash";
  EXPECT_EQ(ReadFile(dir / "_loractl"), ZshCompletionScript())
      << "regenerate: loractl completion zsh > client/completion/_loractl";
}

TEST(CompletionScriptTest, ZshScriptParses) {
  if (Capture("command -v zsh").empty()) GTEST_SKIP() << "zsh is not installed";
  const std::filesystem::path p = std::filesystem::path(::testing::TempDir()) / "_loractl";
  std::ofstream(p) << ZshCompletionScript();
  EXPECT_EQ(Capture(absl::StrCat("zsh -n ", p.string(), " 2>&1; echo rc=$?")), "rc=0\n");
}

}  // namespace
}  // namespace lorad
