#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "worker/base/file_util.h"
#include "worker/base/sha256.h"
#include "worker/checkpoint/checkpoint_manifest.h"
#include "worker/checkpoint/checkpoint_reader.h"
#include "worker/checkpoint/checkpoint_writer.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad_ckpt_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  absl::Status Write(int64_t step, const std::string& payload = "weights") {
    return WriteCheckpointDir(
        dir_ / ("checkpoint-" + std::to_string(step)), [&](const fs::path& tmp) -> absl::Status {
          fs::create_directories(tmp / "sub");
          if (auto s = WriteFileDurably(tmp / "adapter_model.safetensors", payload); !s.ok()) {
            return s;
          }
          return WriteFileDurably(tmp / "sub" / "state.json",
                                  "{\"step\":" + std::to_string(step) + "}");
        });
  }
  int CountEntries() {
    int n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir_)) ++n;
    return n;
  }
  fs::path dir_;
};

TEST_F(CheckpointTest, WritesManifestLastAndVerifies) {
  ASSERT_TRUE(Write(10).ok());
  fs::path ck = dir_ / "checkpoint-10";
  EXPECT_EQ(CountEntries(), 1);  // no temporary sibling left
  auto text = ReadFileToString(ck / "manifest.json");
  ASSERT_TRUE(text.ok());
  auto m = ParseCheckpointManifest(*text, "m");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->complete);
  EXPECT_EQ(m->name, "checkpoint-10");
  ASSERT_EQ(m->files.size(), 2u);
  EXPECT_EQ(m->files[0].name, "adapter_model.safetensors");
  EXPECT_EQ(m->files[0].size, 7u);
  EXPECT_EQ(m->files[0].sha256, Sha256Hex("weights"));
  EXPECT_EQ(m->files[1].name, "sub/state.json");
  auto v = VerifyCheckpointDir(ck, {"adapter_model.safetensors"});
  EXPECT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(VerifyCheckpointDir(ck, {"training_state.json"}).ok());
}

TEST_F(CheckpointTest, RefusesOverwriteAndCleansUpFailedFill) {
  ASSERT_TRUE(Write(1).ok());
  EXPECT_EQ(Write(1).code(), absl::StatusCode::kAlreadyExists);
  fs::create_directories(dir_ / "checkpoint-2");  // an empty dir is not replaced either
  EXPECT_EQ(Write(2).code(), absl::StatusCode::kAlreadyExists);
  auto s = WriteCheckpointDir(dir_ / "checkpoint-3", [](const fs::path& tmp) {
    (void)WriteFileDurably(tmp / "partial", "x");
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint-3"));
  EXPECT_EQ(CountEntries(), 2);  // checkpoint-1, checkpoint-2; no temporary left
}

TEST_F(CheckpointTest, VerifyNamesEachKindOfDamage) {
  struct Case {
    const char* what;
    std::function<void(const fs::path&)> damage;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"no manifest", [](const fs::path& d) { fs::remove(d / "manifest.json"); },
       "no manifest.json"},
      {"flipped byte",
       [](const fs::path& d) {
         (void)WriteFileDurably(d / "adapter_model.safetensors", "weighTs");
       },
       "adapter_model.safetensors checksum mismatch"},
      {"truncated",
       [](const fs::path& d) { (void)WriteFileDurably(d / "adapter_model.safetensors", "weig"); },
       "is 4 bytes, the manifest says 7"},
      {"missing file", [](const fs::path& d) { fs::remove(d / "sub" / "state.json"); },
       "sub/state.json is listed in the manifest but missing"},
      {"extra file", [](const fs::path& d) { (void)WriteFileDurably(d / "optimizer.pt", "x"); },
       "optimizer.pt is not listed"},
      {"garbage manifest",
       [](const fs::path& d) { (void)WriteFileDurably(d / "manifest.json", "{"); }, "invalid JSON"},
      {"incomplete manifest",
       [](const fs::path& d) {
         auto t = ReadFileToString(d / "manifest.json");
         std::string s = *t;
         s.replace(s.find("\"complete\": true"), 16, "\"complete\": false");
         (void)WriteFileDurably(d / "manifest.json", s);
       },
       "not marked complete"},
  };
  int step = 100;
  for (const Case& c : cases) {
    ASSERT_TRUE(Write(step).ok());
    fs::path d = dir_ / ("checkpoint-" + std::to_string(step));
    c.damage(d);
    auto v = VerifyCheckpointDir(d);
    ASSERT_FALSE(v.ok()) << c.what;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << c.what;
    EXPECT_NE(std::string(v.status().message()).find(c.expect), std::string::npos)
        << c.what << ": " << v.status();
    ++step;
  }
}

TEST_F(CheckpointTest, ManifestParserRefusesUnsafeNames) {
  std::string sha(64, 'a');
  for (const char* name : {"../x", "/etc/passwd", "a//b", "./a", "manifest.json", ""}) {
    std::string j = std::string(R"({"format":"lorad-checkpoint","format_version":1,)") +
                    R"("complete":true,"files":[{"name":")" + name + R"(","size":1,"sha256":")" +
                    sha + "\"}]}";
    EXPECT_FALSE(ParseCheckpointManifest(j, "m").ok()) << name;
  }
  EXPECT_FALSE(ParseCheckpointManifest(R"({"format":"lorad-checkpoint","format_version":2,)"
                                       R"("files":[]})",
                                       "m")
                   .ok());
}

TEST_F(CheckpointTest, ListsSortsAndFindsNewestValidWithWarnings) {
  for (int64_t s : {5, 40, 100}) ASSERT_TRUE(Write(s).ok());
  fs::create_directories(dir_ / "checkpoint-abc");
  fs::create_directories(dir_ / "checkpoint-");
  ASSERT_TRUE(WriteFileDurably(dir_ / "checkpoint-7", "a file").ok());
  // A newest checkpoint without a manifest, and one with a corrupted file.
  fs::create_directories(dir_ / "checkpoint-200");
  ASSERT_TRUE(WriteFileDurably(dir_ / "checkpoint-200" / "adapter_model.safetensors", "x").ok());
  ASSERT_TRUE(Write(150).ok());
  ASSERT_TRUE(
      WriteFileDurably(dir_ / "checkpoint-150" / "adapter_model.safetensors", "WEIGHTS").ok());

  auto list = ListCheckpoints(dir_);
  ASSERT_TRUE(list.ok());
  std::vector<int64_t> steps;
  for (const auto& c : *list) steps.push_back(c.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{5, 40, 100, 150, 200}));

  std::vector<std::string> warnings;
  auto newest = FindNewestValidCheckpoint(dir_, &warnings);
  ASSERT_TRUE(newest.ok());
  ASSERT_TRUE(newest->has_value());
  EXPECT_EQ((*newest)->step, 100);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("skipping checkpoint-200"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("skipping checkpoint-150"), std::string::npos) << warnings[1];

  auto none = FindNewestValidCheckpoint(dir_ / "does-not-exist", nullptr);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(CheckpointTest, SaveTotalLimitKeepsNewestAndProtected) {
  for (int64_t s : {1, 2, 3, 4, 5}) ASSERT_TRUE(Write(s).ok());
  auto removed = ApplySaveTotalLimit(dir_, 2, dir_ / "checkpoint-1");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->size(), 2u);  // 2 and 3; 1 is protected
  auto list = ListCheckpoints(dir_);
  std::vector<int64_t> steps;
  for (const auto& c : *list) steps.push_back(c.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(CountEntries(), 3);  // no deletion temporaries left
  ASSERT_TRUE(ApplySaveTotalLimit(dir_, 0).ok());
  EXPECT_EQ(CountEntries(), 3);
  ASSERT_TRUE(ApplySaveTotalLimit(dir_, 1).ok());
  list = ListCheckpoints(dir_);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].step, 5);
}

TEST_F(CheckpointTest, RemovesStaleTempsOfDeadWritersOnly) {
  // A pid that cannot be alive (beyond pid_max) and our own parent (alive).
  fs::create_directories(dir_ / ".tmp-checkpoint-9-999999999-123");
  fs::create_directories(dir_ / ".tmp-checkpoint-delete-3-999999998-7");
  std::string live = ".tmp-checkpoint-9-" + std::to_string(::getppid()) + "-1";
  fs::create_directories(dir_ / live);
  fs::create_directories(dir_ / ".tmp-checkpoint-garbage");
  auto removed = RemoveStaleCheckpointTemps(dir_);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->size(), 3u);
  EXPECT_TRUE(fs::exists(dir_ / live));
  EXPECT_EQ(CountEntries(), 1);
}

}  // namespace
}  // namespace lorad
