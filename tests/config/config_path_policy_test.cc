// Server-side path policy: allowed roots (symlinks resolved), output_dir apart
// from the base model, UTF-8 validation.
#include "worker/config/config_path_policy.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

TrainConfig ConfigUnder(const std::filesystem::path& root) {
  TrainConfig c;
  c.base_model = (root / "models/tiny").string();
  c.output_dir = (root / "out/run").string();
  c.datasets.push_back(DatasetSpec{});
  c.datasets[0].path = (root / "data/train.jsonl").string();
  return c;
}

TEST(ConfigPathPolicyTest, PathsInsideTheRootsPass) {
  TempDir root;
  root.MakeDir("models/tiny");
  root.Write("data/train.jsonl", "{}\n");
  EXPECT_TRUE(CheckPathsUnderRoots(ConfigUnder(root.path()), {root.path().string()}).ok());
  EXPECT_TRUE(CheckPathsUnderRoots(ConfigUnder(root.path()), {}).ok());  // no restriction
}

TEST(ConfigPathPolicyTest, PathsOutsideTheRootsAreRefusedEachByKey) {
  TempDir root, other;
  TrainConfig c = ConfigUnder(root.path());
  c.datasets[0].path = (other.path() / "train.jsonl").string();
  c.lora_model_dir = "/etc";
  absl::Status s = CheckPathsUnderRoots(c, {root.path().string()});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("datasets[0].path: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("lora_model_dir: /etc is outside the allowed "
                                                  "roots"));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("base_model")));
}

TEST(ConfigPathPolicyTest, DotDotAndPrefixTricksDoNotEscape) {
  TempDir root;
  TrainConfig c = ConfigUnder(root.path());
  c.output_dir = (root.path() / "out/../../escaped").string();
  EXPECT_THAT(std::string(CheckPathsUnderRoots(c, {root.path().string()}).message()),
              HasSubstr("output_dir: "));
  // "/x/root2" is not inside "/x/root".
  TrainConfig d = ConfigUnder(root.path());
  d.output_dir = root.path().string() + "2/out";
  EXPECT_FALSE(CheckPathsUnderRoots(d, {root.path().string()}).ok());
}

TEST(ConfigPathPolicyTest, SymlinkEscapingTheRootsIsRefused) {
  TempDir root, outside;
  outside.Write("secret.jsonl", "{}\n");
  root.MakeDir("data");
  std::filesystem::create_symlink(outside.path() / "secret.jsonl",
                                  root.path() / "data/train.jsonl");
  std::filesystem::create_directory_symlink(outside.path(), root.path() / "models");
  TrainConfig c = ConfigUnder(root.path());
  c.base_model = (root.path() / "models").string();
  absl::Status s = CheckPathsUnderRoots(c, {root.path().string()});
  ASSERT_FALSE(s.ok());
  const std::string msg(s.message());
  EXPECT_THAT(msg, HasSubstr("datasets[0].path: " + (root.path() / "data/train.jsonl").string() +
                             " (resolves to " + (outside.path() / "secret.jsonl").string() +
                             ") is outside the allowed roots"));
  EXPECT_THAT(msg, HasSubstr("base_model: "));
  // An output_dir below a symlink that escapes is refused too, though it does not exist yet.
  TrainConfig o = ConfigUnder(root.path());
  o.output_dir = (root.path() / "models/new-run").string();
  o.base_model = (root.path() / "real-model").string();
  o.datasets.clear();
  EXPECT_THAT(std::string(CheckPathsUnderRoots(o, {root.path().string()}).message()),
              HasSubstr("output_dir: "));
}

TEST(ConfigPathPolicyTest, OutputDirMustNotOverlapTheBaseModel) {
  TempDir root;
  TrainConfig inside = ConfigUnder(root.path());
  inside.output_dir = inside.base_model + "/adapter";
  EXPECT_THAT(std::string(CheckPathsUnderRoots(inside, {}).message()),
              HasSubstr("output_dir: " + inside.output_dir + " overlaps the base model's "
                                                             "directory"));
  TrainConfig above = ConfigUnder(root.path());
  above.output_dir = (root.path() / "models").string();
  EXPECT_FALSE(CheckPathsUnderRoots(above, {}).ok());
}

TEST(ConfigPathPolicyTest, RelativePathsAreRefused) {
  TrainConfig c;
  c.base_model = "models/tiny";
  c.output_dir = "/abs/out";
  EXPECT_THAT(std::string(CheckPathsUnderRoots(c, {}).message()),
              HasSubstr("base_model: must be an absolute path"));
}

TEST(Utf8Test, ValidatesLikeTheStandard) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("caf\xE9"));              // Latin-1
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));             // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));         // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));     // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));             // truncated
  EXPECT_EQ(ValidUtf8PrefixLength("ab\xFF" "cd"), 2u);
}

}  // namespace
}  // namespace lorad
