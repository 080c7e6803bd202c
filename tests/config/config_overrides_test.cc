// --set key=value overrides: typed like YAML, indexed into lists, applied before
// validation, malformed ones reported.
#include "worker/config/config_overrides.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ConfigOverridesTest : public testing::ConfigFixture {};

TEST_F(ConfigOverridesTest, ValuesAreTypedAsYaml) {
  dir_.Write("data/other.jsonl", "{}\n");
  auto r = ParseTrainConfig(Minimal(), dir_.path(),
                            {"learning_rate=1e-4", "max_steps=50",
                             "lora_target_modules=[q_proj,v_proj]", "bf16=false",
                             "datasets.0.path=data/other.jsonl", "datasets[0].field=body",
                             "sample_packing=yes"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.learning_rate, 1e-4);
  EXPECT_EQ(r->config.max_steps, 50);
  EXPECT_THAT(r->config.lora_target_modules, ElementsAre("q_proj", "v_proj"));
  EXPECT_EQ(r->config.bf16, Bf16Mode::kOff);
  EXPECT_EQ(r->config.datasets[0].path, (dir_.path() / "data/other.jsonl").string());
  EXPECT_EQ(r->config.datasets[0].field, "body");
  EXPECT_TRUE(r->config.sample_packing);
  // The source text is kept as given, without the overrides.
  EXPECT_EQ(r->source_yaml, Minimal());
}

TEST_F(ConfigOverridesTest, LaterOverridesWinAndAppendingADatasetWorks) {
  dir_.Write("data/b.jsonl", "{}\n");
  auto r = ParseTrainConfig(Minimal(), dir_.path(),
                            {"lora_r=4", "lora_r=16", "datasets.1={path: data/b.jsonl, type: "
                                                      "completion}"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.lora_r, 16);
  ASSERT_EQ(r->config.datasets.size(), 2u);
  EXPECT_EQ(r->config.datasets[1].path, (dir_.path() / "data/b.jsonl").string());
}

TEST_F(ConfigOverridesTest, NestedKeysAreCreated) {
  YAML::Node root = YAML::Load("a: 1\n");
  std::string path;
  ASSERT_TRUE(ApplySetOverride(root, "b.c.d=x", &path).ok());
  EXPECT_EQ(path, "b.c.d");
  EXPECT_EQ(root["b"]["c"]["d"].as<std::string>(), "x");
  EXPECT_EQ(root["a"].as<int>(), 1);
  YAML::Node empty;
  ASSERT_TRUE(ApplySetOverride(empty, "k=[1, 2]", &path).ok());
  ASSERT_TRUE(empty["k"].IsSequence());
  EXPECT_EQ(empty["k"].size(), 2u);
}

TEST_F(ConfigOverridesTest, MalformedOverridesAreReported) {
  YAML::Node root = YAML::Load("a: 1\nlist: [x]\n");
  std::string path;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"novalue", "expected key=value"},
      {"=3", "bad key"},
      {"a..b=1", "bad key"},
      {"list[x]=1", "bad key"},
      {"list.5=1", "index 5 is past the end of list (1 entries; use 1 to append)"},
      {"a.b=1", "a is not a mapping"},
      {"k=[unclosed", "the value is not valid YAML"},
  };
  for (const auto& [set, expected] : cases) {
    absl::Status s = ApplySetOverride(root, set, &path);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << set;
    EXPECT_THAT(std::string(s.message()), HasSubstr(expected)) << set;
    EXPECT_THAT(std::string(s.message()), HasSubstr("--set")) << set;
  }
  absl::Status s = ApplySetOverride(root, "list.name=1", &path);
  EXPECT_THAT(std::string(s.message()), HasSubstr("list is not a mapping"));
  absl::Status idx = ApplySetOverride(root, "a.0=1", &path);
  EXPECT_THAT(std::string(idx.message()), HasSubstr("a is not a list"));
}

TEST_F(ConfigOverridesTest, ProblemsInsideAnOverriddenEntrySaySo) {
  auto r = ParseTrainConfig(Minimal(), dir_.path(),
                            {"datasets.0={path: data/train.jsonl, type: completion, "
                             "train_on_eos: sometimes}"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("datasets[0].train_on_eos: unknown train_on_eos value \"sometimes\" "
                        "(supported: turn, last, all, none) (from --set)"));
}

TEST_F(ConfigOverridesTest, BadOverrideIsOneOfTheProblems) {
  auto r = ParseTrainConfig(Minimal(), dir_.path(), {"lora_r=0", "oops"});
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("--set oops: expected key=value"));
  EXPECT_THAT(msg, HasSubstr("lora_r: must be a positive integer, got 0 (from --set)"));
}

}  // namespace
}  // namespace lorad
