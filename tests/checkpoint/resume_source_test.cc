#include "worker/checkpoint/resume_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "worker/base/file_util.h"
#include "worker/checkpoint/checkpoint_writer.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;
using Kind = ResumeSource::Kind;

class ResumeSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad_resume_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Touch(const fs::path& d, const std::vector<std::string>& files) {
    fs::create_directories(d);
    for (const auto& f : files) ASSERT_TRUE(WriteFileDurably(d / f, "x").ok());
  }
  fs::path dir_;
};

TEST_F(ResumeSourceTest, ClassifiesEachKind) {
  fs::path ours = dir_ / "checkpoint-4";
  ASSERT_TRUE(WriteCheckpointDir(ours, [&](const fs::path& tmp) {
                Touch(tmp, {"adapter_config.json", "adapter_model.safetensors",
                            "training_state.json", "optimizer.safetensors"});
                return absl::OkStatus();
              }).ok());
  auto r = ClassifyResumeSource(ours);
  EXPECT_EQ(r.kind, Kind::kLoradCheckpoint) << r.reason;
  EXPECT_NE(r.reason.find("exactly"), std::string::npos);

  // The same checkpoint with a corrupted file is not resumed from.
  ASSERT_TRUE(WriteFileDurably(ours / "optimizer.safetensors", "y").ok());
  r = ClassifyResumeSource(ours);
  EXPECT_EQ(r.kind, Kind::kInvalid);
  EXPECT_NE(r.reason.find("checksum mismatch"), std::string::npos) << r.reason;

  fs::path adapter = dir_ / "adapter";
  Touch(adapter, {"adapter_config.json", "adapter_model.safetensors", "README.md"});
  r = ClassifyResumeSource(adapter);
  EXPECT_EQ(r.kind, Kind::kAdapterOnly) << r.reason;
  EXPECT_NE(r.reason.find("fresh optimizer"), std::string::npos);

  fs::path hf = dir_ / "hf-checkpoint-500";
  Touch(hf, {"adapter_config.json", "adapter_model.safetensors", "trainer_state.json",
             "optimizer.pt", "rng_state.pth", "scheduler.pt"});
  r = ClassifyResumeSource(hf);
  EXPECT_EQ(r.kind, Kind::kHfTrainerCheckpoint) << r.reason;
  EXPECT_NE(r.reason.find("never unpickled"), std::string::npos) << r.reason;

  // lorad's own final output_dir: adapter + trainer_state.json, no pickles.
  fs::path final_out = dir_ / "final";
  Touch(final_out, {"adapter_config.json", "adapter_model.safetensors", "trainer_state.json"});
  r = ClassifyResumeSource(final_out);
  EXPECT_EQ(r.kind, Kind::kAdapterOnly) << r.reason;

  fs::path pickle = dir_ / "pickle";
  Touch(pickle, {"adapter_config.json", "adapter_model.bin"});
  r = ClassifyResumeSource(pickle);
  EXPECT_EQ(r.kind, Kind::kPickleAdapter);
  EXPECT_NE(r.reason.find("never read"), std::string::npos) << r.reason;

  fs::path half = dir_ / "half";
  Touch(half, {"adapter_config.json"});
  EXPECT_EQ(ClassifyResumeSource(half).kind, Kind::kInvalid);
  fs::path empty = dir_ / "empty";
  fs::create_directories(empty);
  r = ClassifyResumeSource(empty);
  EXPECT_EQ(r.kind, Kind::kInvalid);
  EXPECT_NE(r.reason.find("neither a lorad checkpoint"), std::string::npos);
  EXPECT_EQ(ClassifyResumeSource(dir_ / "missing").kind, Kind::kInvalid);
  EXPECT_STREQ(ResumeSourceKindName(Kind::kHfTrainerCheckpoint), "hf_trainer_checkpoint");
}

}  // namespace
}  // namespace lorad
