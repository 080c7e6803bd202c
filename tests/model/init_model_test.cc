// (f) init-model: deterministic, loadable, sized as documented; refuses a
// non-empty --out.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "tests/model/test_model_util.h"
#include "worker/model/causal_lm.h"
#include "worker/model/init_model.h"
#include "worker/model/model_layout.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {
namespace {

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(InitModelTest, TinyIsDeterministicAndLoads) {
  const auto root = testing::MakeTempDir("init");
  InitModelOptions a{"tiny", root / "a", 7, false};
  InitModelOptions b{"tiny", root / "b", 7, false};
  InitModelOptions c{"tiny", root / "c", 8, false};
  ASSERT_TRUE(InitModel(a).ok());
  ASSERT_TRUE(InitModel(b).ok());
  ASSERT_TRUE(InitModel(c).ok());
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json",
                        "tokenizer_config.json"}) {
    const std::string fa = Slurp(a.out / f);
    EXPECT_FALSE(fa.empty()) << f;
    EXPECT_EQ(fa, Slurp(b.out / f)) << f;
  }
  EXPECT_NE(Slurp(a.out / "model.safetensors"), Slurp(c.out / "model.safetensors"));

  auto config = LoadModelConfig(a.out);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture_name, "LlamaForCausalLM");
  EXPECT_LT(config->num_key_value_heads, config->num_attention_heads);  // GQA on purpose
  // Every token of the tokenizer, the ChatML ones included, has an embedding row.
  auto tokenizer = Tokenizer::LoadFromDir(a.out);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->vocab_size(), config->vocab_size);
  const int64_t params = CountBaseParameters(*config);
  EXPECT_GT(params, 100000);
  EXPECT_LT(params, 1000000);
  auto model = LoadCausalLm(a.out, *config, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  // Init as transformers: weights ~ N(0, initializer_range), norms 1; the
  // range is recorded in config.json.
  EXPECT_DOUBLE_EQ(config->initializer_range, 0.1);
  const double stddev = (*model)->layers[0]->q_proj->weight.std().item<double>();
  EXPECT_NEAR(stddev, config->initializer_range, 0.1 * config->initializer_range);
  EXPECT_TRUE(torch::all((*model)->norm_weight.eq(1)).item<bool>());
  // A fresh model predicts nearly uniformly.  The final RMSNorm output has norm
  // sqrt(H), so each logit is ~ N(0, s^2) with s^2 = H * range^2, and the mean
  // loss is ln V + s^2 / 2 (log of a sum of V log-normals).
  torch::NoGradGuard no_grad;
  ForwardInputs in;
  torch::manual_seed(0);  // the estimate's spread is ~0.07: fixed ids keep it reproducible
  in.input_ids = torch::randint(0, config->vocab_size, {4, 32}, torch::kInt64);
  LossOutput loss = (*model)->ComputeLoss((*model)->Forward(in), in.input_ids);
  const double s2 = static_cast<double>(config->hidden_size) * config->initializer_range *
                    config->initializer_range;
  EXPECT_NEAR(loss.loss_sum.item<double>() / loss.num_tokens,
              std::log(static_cast<double>(config->vocab_size)) + s2 / 2, 0.2);

  // bench-100m with the same tokenizer is about 100M parameters.
  auto bench = PresetConfig("bench-100m");
  ASSERT_TRUE(bench.ok());
  bench->vocab_size = config->vocab_size;
  const int64_t bench_params = CountBaseParameters(*bench);
  EXPECT_GT(bench_params, 95'000'000);
  EXPECT_LT(bench_params, 105'000'000);
}

TEST(InitModelTest, RefusesNonEmptyOutUnlessForced) {
  const auto root = testing::MakeTempDir("init_refuse");
  std::ofstream(root / "keep.txt") << "x";
  InitModelOptions o{"tiny", root, 1, false};
  absl::Status s = InitModel(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("--force"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(root / "model.safetensors"));
  o.force = true;
  EXPECT_TRUE(InitModel(o).ok());
  EXPECT_TRUE(std::filesystem::exists(root / "model.safetensors"));
  InitModelOptions unknown{"huge", testing::MakeTempDir("init_unknown"), 1, false};
  s = InitModel(unknown);
  EXPECT_NE(std::string(s.message()).find("bench-100m"), std::string::npos);
}

}  // namespace
}  // namespace lorad
