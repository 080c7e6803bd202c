// Path handling inside ParseTrainConfig: relative paths against the YAML's
// folder, hub ids through the local cache, hub dataset ids refused.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using testing::ScopedEnv;
using testing::TempDir;

class ConfigPathsTest : public testing::ConfigFixture {};

TEST_F(ConfigPathsTest, RelativePathsResolveAgainstTheConfigFolder) {
  dir_.MakeDir("adapters/a");
  dir_.MakeDir("out/checkpoint-10");
  auto r = ParseTrainConfig(Minimal("output_dir: ./out/../out/run\n"
                                    "dataset_prepared_path: .cache\n"
                                    "lora_model_dir: adapters/a\n"),
                            dir_.path(), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.output_dir, (dir_.path() / "out/run").string());
  EXPECT_EQ(r->config.dataset_prepared_path, (dir_.path() / ".cache").string());
  EXPECT_EQ(r->config.lora_model_dir, (dir_.path() / "adapters/a").string());
  auto resume = ParseTrainConfig(Minimal("resume_from_checkpoint: out/checkpoint-10\n"),
                                 dir_.path(), {});
  ASSERT_TRUE(resume.ok()) << resume.status();
  EXPECT_EQ(resume->config.resume_from_checkpoint, (dir_.path() / "out/checkpoint-10").string());
  // Absolute paths stay as they are.
  auto abs = ParseTrainConfig(Minimal("output_dir: /var/tmp/lorad-out\n"), dir_.path(), {});
  ASSERT_TRUE(abs.ok()) << abs.status();
  EXPECT_EQ(abs->config.output_dir, "/var/tmp/lorad-out");
}

TEST_F(ConfigPathsTest, HubBaseModelResolvesThroughTheLocalCache) {
  TempDir cache;
  ScopedEnv env("HF_HUB_CACHE", cache.path().string());
  cache.MakeDir("models--TinyOrg--tiny-llama/snapshots/0123abc");
  cache.Write("models--TinyOrg--tiny-llama/refs/main", "0123abc");
  auto r = ParseTrainConfig(Minimal(), dir_.path(), {"base_model=TinyOrg/tiny-llama"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.base_model,
            (cache.path() / "models--TinyOrg--tiny-llama/snapshots/0123abc").string());
  EXPECT_EQ(r->config.base_model_spec, "TinyOrg/tiny-llama");
  EXPECT_THAT(r->notes, Contains(HasSubstr("local Hugging Face cache")));
}

TEST_F(ConfigPathsTest, LocalDirectoryWinsOverAHubIdOfTheSameSpelling) {
  TempDir cache;
  ScopedEnv env("HF_HUB_CACHE", cache.path().string());
  cache.MakeDir("models--models--tiny/snapshots/x");
  auto r = ParseTrainConfig(Minimal(), dir_.path(), {});  // base_model: models/tiny
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.base_model, (dir_.path() / "models/tiny").string());
}

TEST_F(ConfigPathsTest, MissingHubModelSaysHowToDownload) {
  TempDir cache;
  ScopedEnv env("HF_HUB_CACHE", cache.path().string());
  auto r = ParseTrainConfig(Minimal(), dir_.path(), {"base_model=meta-llama/Llama-3.2-1B"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("base_model: directory not found: " +
                        (dir_.path() / "meta-llama/Llama-3.2-1B").string() +
                        "; as a hub id: hub model meta-llama/Llama-3.2-1B is not in the local "
                        "Hugging Face cache"));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("huggingface-cli download meta-llama/Llama-3.2-1B"));
}

TEST_F(ConfigPathsTest, HubDatasetIdIsRefusedWithADownloadHint) {
  auto r = ParseTrainConfig(Minimal(), dir_.path(), {"datasets.0.path=tatsu-lab/alpaca"});
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("datasets[0].path: \"tatsu-lab/alpaca\" looks like a Hugging Face "
                             "hub dataset id"));
  EXPECT_THAT(msg, HasSubstr("huggingface-cli download --repo-type dataset tatsu-lab/alpaca"));
  // A missing local file with an extension is just "not found".
  auto file = ParseTrainConfig(Minimal(), dir_.path(), {"datasets.0.path=data/x.jsonl"});
  EXPECT_THAT(std::string(file.status().message()),
              HasSubstr("datasets[0].path: file not found: " +
                        (dir_.path() / "data/x.jsonl").string()));
}

}  // namespace
}  // namespace lorad
