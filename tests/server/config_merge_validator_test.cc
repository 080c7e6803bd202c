// ConfigJobValidator::ValidateMerge on real files: the source job's base model
// and adapter resolved from its config and output_dir, out_dir checked against
// the allowed roots and what is already there, dtype and shard size parsed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/config_job_validator.h"

namespace lorad {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"(base_model: ../models/tiny
adapter: lora
lora_r: 4
lora_alpha: 8
lora_target_linear: true
datasets:
  - path: data/gone.jsonl
    type: completion
sequence_len: 64
micro_batch_size: 2
max_steps: 4
learning_rate: 0.002
output_dir: ../out/run
)";

class ConfigMergeValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("merge-validator-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "cfg");
    fs::create_directories(root_ / "models/tiny");
    fs::create_directories(root_ / "out/run");
    std::ofstream(root_ / "models/tiny/config.json") << R"({"torch_dtype": "bfloat16"})";
    std::ofstream(root_ / "models/tiny/model.safetensors") << std::string(1000, 'x');
    std::ofstream(root_ / "out/run/adapter_config.json") << "{}";
    std::ofstream(root_ / "out/run/adapter_model.safetensors") << "x";
    source_.set_id("01SRC");
    source_.set_state(v1::JOB_STATE_SUCCEEDED);
    source_.mutable_spec()->set_config_yaml(kConfig);
    source_.mutable_spec()->set_config_dir((root_ / "cfg").string());
    source_.set_output_dir((root_ / "out/run").string());
  }
  void TearDown() override { fs::remove_all(root_); }

  v1::MergeSpec Spec(const std::string& out) const {
    v1::MergeSpec m;
    m.set_source_job_id(source_.id());
    m.set_out_dir(out);
    return m;
  }

  fs::path root_;
  v1::Job source_;
};

TEST_F(ConfigMergeValidatorTest, ResolvesTheSourceJobsInputs) {
  ConfigJobValidator validator({root_.string()});
  v1::MergeSpec m = Spec((root_ / "out/run/merged/").string());
  m.set_dtype("float32");
  m.set_max_shard_size("2GB");
  auto v = validator.ValidateMerge(m, source_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->output_dir, (root_ / "out/run/merged").string());  // no trailing slash
  EXPECT_EQ(v->merge.source_job_id(), "01SRC");
  EXPECT_EQ(v->merge.model_dir(), (root_ / "models/tiny").string());
  EXPECT_EQ(v->merge.adapter_dir(), (root_ / "out/run").string());
  EXPECT_EQ(v->merge.out_dir(), v->output_dir);
  EXPECT_EQ(v->merge.dtype(), "f32");
  EXPECT_EQ(v->merge.max_shard_bytes(), 2'000'000'000);
  EXPECT_FALSE(v->merge.force());
  EXPECT_EQ(v->estimated_checkpoint_bytes, 2000);  // 1000 bytes of bf16 as f32
  EXPECT_THAT(v->resolved_config_json, HasSubstr("\"adapter_dir\""));
  EXPECT_TRUE(v->warnings.empty());
}

TEST_F(ConfigMergeValidatorTest, EveryProblemOfTheRequestAtOnce) {
  ConfigJobValidator validator({(root_ / "out").string()});
  v1::MergeSpec m = Spec("relative/merged");
  m.set_dtype("int8");
  m.set_max_shard_size("0");
  auto v = validator.ValidateMerge(m, source_);
  ASSERT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(v.status().message(), HasSubstr("merge.out_dir: must be an absolute path"));
  EXPECT_THAT(v.status().message(), HasSubstr("merge.dtype: expected bf16, f16 or f32"));
  EXPECT_THAT(v.status().message(), HasSubstr("merge.max_shard_size: size '0'"));

  v = validator.ValidateMerge(Spec((root_ / "elsewhere").string()), source_);
  ASSERT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(v.status().message(), HasSubstr("is outside the allowed roots"));
}

TEST_F(ConfigMergeValidatorTest, WhatIsOnDiskDecides) {
  ConfigJobValidator validator({});
  const fs::path out = root_ / "merged";
  fs::create_directories(out);
  std::ofstream(out / "notes.txt") << "mine";
  auto v = validator.ValidateMerge(Spec(out.string()), source_);
  ASSERT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.status().message(), HasSubstr("is not empty; choose another directory or pass --force"));
  v1::MergeSpec forced = Spec(out.string());
  forced.set_force(true);
  v = validator.ValidateMerge(forced, source_);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->warnings.size(), 1u);
  EXPECT_THAT(v->warnings[0], HasSubstr("files of the same names are replaced"));

  fs::remove(root_ / "out/run/adapter_model.safetensors");
  v = validator.ValidateMerge(Spec((root_ / "m2").string()), source_);
  ASSERT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.status().message(), HasSubstr("the adapter of job 01SRC is not in"));
  EXPECT_THAT(v.status().message(), HasSubstr("adapter_model.safetensors is missing"));

  std::ofstream(root_ / "out/run/adapter_model.safetensors") << "x";
  fs::remove_all(root_ / "models/tiny");
  v = validator.ValidateMerge(Spec((root_ / "m2").string()), source_);
  ASSERT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.status().message(), HasSubstr("the base model of job 01SRC"));
}

}  // namespace
}  // namespace lorad
