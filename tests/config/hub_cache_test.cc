// Hub ids resolve only to snapshots already in a local HF cache (a fake one in a
// temp dir here); a missing one says how to download it.
#include "worker/config/hub_cache.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;
using testing::ScopedEnv;
using testing::TempDir;

TEST(HubCacheTest, LooksLikeHubId) {
  EXPECT_TRUE(LooksLikeHubId("meta-llama/Llama-3.2-1B"));
  EXPECT_TRUE(LooksLikeHubId("Qwen/Qwen2.5-0.5B-Instruct"));
  EXPECT_FALSE(LooksLikeHubId("tiny"));
  EXPECT_FALSE(LooksLikeHubId("/abs/path"));
  EXPECT_FALSE(LooksLikeHubId("../models/tiny"));
  EXPECT_FALSE(LooksLikeHubId("a/b/c"));
  EXPECT_FALSE(LooksLikeHubId("org/na me"));
  EXPECT_FALSE(LooksLikeHubId("org/"));
}

TEST(HubCacheTest, CacheDirFollowsHuggingFacePrecedence) {
  ScopedEnv home("HOME", "/home/u");
  ScopedEnv xdg("XDG_CACHE_HOME", "");
  ScopedEnv hf_home("HF_HOME", "");
  ScopedEnv hub("HF_HUB_CACHE", "");
  EXPECT_EQ(HubCacheDir(), "/home/u/.cache/huggingface/hub");
  {
    ScopedEnv h("HF_HOME", "/srv/hf");
    EXPECT_EQ(HubCacheDir(), "/srv/hf/hub");
    ScopedEnv c("HF_HUB_CACHE", "/fast/hub");
    EXPECT_EQ(HubCacheDir(), "/fast/hub");
  }
}

TEST(HubCacheTest, RefsMainPicksTheSnapshot) {
  TempDir cache;
  ScopedEnv env("HF_HUB_CACHE", cache.path().string());
  cache.MakeDir("models--org--model/snapshots/aaaa");
  cache.MakeDir("models--org--model/snapshots/bbbb");
  cache.Write("models--org--model/refs/main", "bbbb\n");
  auto r = ResolveHubModel("org/model");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, cache.path() / "models--org--model/snapshots/bbbb");
}

TEST(HubCacheTest, SingleSnapshotWithoutRefs) {
  TempDir cache;
  ScopedEnv env("HF_HUB_CACHE", cache.path().string());
  cache.MakeDir("models--org--model/snapshots/cccc");
  auto r = ResolveHubModel("org/model");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, cache.path() / "models--org--model/snapshots/cccc");
  cache.MakeDir("models--org--model/snapshots/dddd");
  auto two = ResolveHubModel("org/model");
  EXPECT_EQ(two.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(HubCacheTest, MissingModelSaysHowToDownload) {
  TempDir cache;
  ScopedEnv env("HF_HUB_CACHE", cache.path().string());
  auto r = ResolveHubModel("org/absent");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("huggingface-cli download org/absent"));
}

TEST(HubCacheTest, HostileRefIsNotFollowed) {
  TempDir cache;
  ScopedEnv env("HF_HUB_CACHE", cache.path().string());
  cache.MakeDir("models--org--model/snapshots/abc");
  cache.Write("models--org--model/refs/main", "../../../etc\n");
  auto r = ResolveHubModel("org/model");
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace lorad
