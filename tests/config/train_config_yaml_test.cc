// TrainConfigToYaml round-trips through ParseTrainConfig; DiffTrainConfigs
// lists exactly the changed keys.
#include "worker/config/train_config_yaml.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class TrainConfigYamlTest : public testing::ConfigFixture {
 protected:
  TrainConfig Parsed(const std::string& yaml, const std::vector<std::string>& sets = {}) {
    auto r = ParseTrainConfig(yaml, dir_.path(), sets);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->config : TrainConfig{};
  }
};

TEST_F(TrainConfigYamlTest, RoundTripOfDefaultsIsEqual) {
  const TrainConfig a = Parsed(Minimal());
  const std::string yaml = TrainConfigToYaml(a);
  // Parsed from another folder: every path in the text is absolute.
  auto b = ParseTrainConfig(yaml, "/", {});
  ASSERT_TRUE(b.ok()) << b.status() << "\n" << yaml;
  TrainConfig bc = b->config;
  bc.config_dir = a.config_dir;
  EXPECT_EQ(a, bc) << yaml;
  EXPECT_THAT(b->ignored_keys, IsEmpty());
  EXPECT_EQ(TrainConfigToYaml(bc), yaml);
}

TEST_F(TrainConfigYamlTest, RoundTripOfEveryNonDefaultValueIsEqual) {
  dir_.MakeDir("adapters/prev");
  dir_.Write("data/chat.jsonl", "{}\n");
  const TrainConfig a = Parsed(
      "base_model: models/tiny\nlora_r: 16\nlora_alpha: 24.5\nlora_dropout: 0.1\n"
      "lora_target_modules: [q_proj, \"v_proj\"]\nlora_target_linear: false\n"
      "peft_use_rslora: true\nlora_model_dir: adapters/prev\n"
      "datasets:\n  - path: data/train.jsonl\n    type: completion\n    field: 'body: \"x\"'\n"
      "  - path: data/chat.jsonl\n    type: chat_template\n    chat_template: llama3\n"
      "    roles_to_train: [assistant, tool]\n    train_on_eos: last\n    split: train\n"
      "chat_template: mistral_v1\nsequence_len: 2048\nsample_packing: true\n"
      "train_on_inputs: true\nval_set_size: 0.05\nskip_bad_lines: true\n"
      "dataset_prepared_path: cache\nmicro_batch_size: 2\ngradient_accumulation_steps: 4\n"
      "num_epochs: 2.5\nlearning_rate: 0.00013\nlr_scheduler: constant\nwarmup_steps: 7\n"
      "adam_beta1: 0.85\nadam_beta2: 0.98\nadam_epsilon: 1e-7\nweight_decay: 0.1\n"
      "max_grad_norm: 0.3\nseed: 1234\nbf16: true\ngradient_checkpointing: true\n"
      "output_dir: out\nsave_steps: 25\nsave_total_limit: 3\nlogging_steps: 2\n"
      "eval_steps: 0.2\ndrift_policy: fail\ndrift_js_threshold: 0.123\n"
      "drift_loss_ratio_threshold: 1.25\nresume_lr_policy: rewarm\nresume_lr_scale: 0.3\n"
      "early_stopping_patience: 4\nearly_stopping_threshold: 0.001\nkeep_best: true\n"
      "overfitting_window: 5\ndivergence_policy: skip_step\ndivergence_factor: 3.5\n"
      "divergence_patience: 2\ndivergence_window: 7\n"
      "eval_prompts: [\"Hello, world\", \"line\\nbreak\"]\neval_max_new_tokens: 8\n");
  const std::string yaml = TrainConfigToYaml(a);
  auto b = ParseTrainConfig(yaml, dir_.path(), {});
  ASSERT_TRUE(b.ok()) << b.status() << "\n" << yaml;
  EXPECT_EQ(a, b->config) << yaml;
  EXPECT_THAT(DiffTrainConfigs(a, b->config, {}), IsEmpty());
}

TEST_F(TrainConfigYamlTest, KeysComeInAStableOrder) {
  const auto flat = FlattenTrainConfig(Parsed(Minimal()));
  ASSERT_GT(flat.size(), 40u);
  EXPECT_EQ(flat.front().first, "base_model");
  EXPECT_EQ(flat[12].first, "datasets[0].path");
  EXPECT_EQ(flat.back().first, "eval_max_new_tokens");
  const std::string yaml = TrainConfigToYaml(Parsed(Minimal()));
  EXPECT_LT(yaml.find("base_model:"), yaml.find("datasets:"));
  EXPECT_LT(yaml.find("datasets:"), yaml.find("learning_rate:"));
  EXPECT_THAT(yaml, HasSubstr("warmup_steps: ~"));
}

TEST_F(TrainConfigYamlTest, DiffListsChangedKeysWithBothValues) {
  const TrainConfig a = Parsed(Minimal());
  const TrainConfig b =
      Parsed(Minimal(), {"learning_rate=0.002", "lora_r=16", "max_steps=40", "output_dir=o2"});
  EXPECT_THAT(DiffTrainConfigs(a, b, {}),
              ElementsAre("lora_r: 8 → 16", "max_steps: 0 → 40", "learning_rate: 0.001 → 0.002",
                          "output_dir: \"" + a.output_dir + "\" → \"" + b.output_dir + "\""));
  // Exact resume ignores the keys it may change.
  EXPECT_THAT(DiffTrainConfigs(a, b, kResumeMutableKeys),
              ElementsAre("lora_r: 8 → 16", "learning_rate: 0.001 → 0.002"));
}

TEST_F(TrainConfigYamlTest, DiffCoversDatasetsAddedOrChanged) {
  dir_.Write("data/b.jsonl", "{}\n");
  const TrainConfig a = Parsed(Minimal());
  const TrainConfig b = Parsed(Minimal(), {"datasets.1={path: data/b.jsonl, type: alpaca}"});
  const auto diff = DiffTrainConfigs(a, b, {});
  ASSERT_FALSE(diff.empty());
  EXPECT_THAT(diff.front(), HasSubstr("datasets[1].path: (absent) → \""));
  EXPECT_THAT(DiffTrainConfigs(a, b, {"datasets"}), IsEmpty());
  const TrainConfig c = Parsed(Minimal(), {"datasets.0.field=body"});
  EXPECT_THAT(DiffTrainConfigs(a, c, {}), ElementsAre("datasets[0].field: \"text\" → \"body\""));
}

}  // namespace
}  // namespace lorad
