// ParseTrainConfig: Axolotl defaults, notes, ignored keys, refusals of
// unsupported features, malformed input.
#include "worker/config/config_loader.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"

namespace lorad {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class ConfigLoaderTest : public testing::ConfigFixture {
 protected:
  absl::StatusOr<LoadedConfig> Parse(const std::string& yaml,
                                     const std::vector<std::string>& sets = {}) {
    return ParseTrainConfig(yaml, dir_.path(), sets);
  }
  /// The error text of a parse expected to fail.
  std::string Error(const std::string& yaml, const std::vector<std::string>& sets = {}) {
    auto r = Parse(yaml, sets);
    EXPECT_FALSE(r.ok()) << "parsed unexpectedly:\n" << yaml;
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    return std::string(r.status().message());
  }
};

TEST_F(ConfigLoaderTest, MinimalConfigGetsAxolotlDefaults) {
  auto r = Parse(Minimal());
  ASSERT_TRUE(r.ok()) << r.status();
  const TrainConfig& c = r->config;
  EXPECT_EQ(c.base_model, (dir_.path() / "models/tiny").string());
  EXPECT_EQ(c.base_model_spec, "models/tiny");
  EXPECT_EQ(c.adapter, "lora");
  EXPECT_EQ(c.lora_r, 8);
  EXPECT_EQ(c.lora_alpha, 8);  // PEFT's default: Axolotl passes None through
  EXPECT_EQ(c.lora_dropout, 0.0);
  EXPECT_TRUE(c.lora_target_modules.empty());
  EXPECT_TRUE(c.lora_target_linear);
  EXPECT_FALSE(c.peft_use_rslora);
  ASSERT_EQ(c.datasets.size(), 1u);
  EXPECT_EQ(c.datasets[0].path, (dir_.path() / "data/train.jsonl").string());
  EXPECT_EQ(c.datasets[0].type, "completion");
  EXPECT_EQ(c.datasets[0].field, "text");
  EXPECT_EQ(c.datasets[0].field_messages, "messages");
  EXPECT_THAT(c.datasets[0].roles_to_train, ElementsAre("assistant"));
  EXPECT_EQ(c.datasets[0].train_on_eos, "turn");
  EXPECT_FALSE(c.datasets[0].split.has_value());
  EXPECT_EQ(c.chat_template, "chatml");
  EXPECT_EQ(c.sequence_len, 512);
  EXPECT_FALSE(c.sample_packing);
  EXPECT_FALSE(c.train_on_inputs);
  EXPECT_FALSE(c.val_set_size.set());
  EXPECT_FALSE(c.skip_bad_lines);
  EXPECT_EQ(c.dataset_prepared_path, "");
  EXPECT_EQ(c.micro_batch_size, 1);
  EXPECT_EQ(c.gradient_accumulation_steps, 1);
  EXPECT_EQ(c.num_epochs, 1.0);
  EXPECT_EQ(c.max_steps, 0);
  EXPECT_EQ(c.learning_rate, 0.001);
  EXPECT_EQ(c.lr_scheduler, LrScheduler::kCosine);
  EXPECT_EQ(c.warmup_steps, -1);
  EXPECT_EQ(c.warmup_ratio, -1);
  EXPECT_EQ(c.optimizer, "adamw_torch");
  EXPECT_EQ(c.adam_beta1, 0.9);
  EXPECT_EQ(c.adam_beta2, 0.999);
  EXPECT_EQ(c.adam_epsilon, 1e-8);
  EXPECT_EQ(c.weight_decay, 0.0);  // Axolotl's default, not LibTorch's 0.01
  EXPECT_EQ(c.max_grad_norm, 1.0);
  EXPECT_EQ(c.seed, 42);
  EXPECT_EQ(c.bf16, Bf16Mode::kAuto);
  EXPECT_FALSE(c.gradient_checkpointing);
  EXPECT_EQ(c.output_dir, (dir_.path() / "model-out").string());
  EXPECT_FALSE(c.save_steps.set());
  EXPECT_EQ(c.save_total_limit, 0);
  EXPECT_EQ(c.logging_steps, 1);
  EXPECT_FALSE(c.eval_steps.set());
  EXPECT_EQ(c.drift_policy, "warn");
  EXPECT_EQ(c.drift_js_threshold, 0.2);
  EXPECT_EQ(c.drift_loss_ratio_threshold, 1.5);
  EXPECT_EQ(c.resume_lr_policy, "");
  EXPECT_EQ(c.resume_lr_scale, 0.5);
  EXPECT_EQ(c.early_stopping_patience, 0);
  EXPECT_FALSE(c.keep_best);
  EXPECT_EQ(c.overfitting_window, 3);
  EXPECT_EQ(c.divergence_policy, "fail");
  EXPECT_EQ(c.divergence_factor, 4.0);
  EXPECT_EQ(c.divergence_patience, 3);
  EXPECT_EQ(c.divergence_window, 20);
  EXPECT_TRUE(c.eval_prompts.empty());
  EXPECT_EQ(c.eval_max_new_tokens, 32);
  EXPECT_EQ(c.config_dir, dir_.path().string());
  EXPECT_THAT(r->ignored_keys, IsEmpty());
  EXPECT_THAT(r->notes, Contains(HasSubstr("lora_r not set")));
  EXPECT_THAT(r->notes, Contains(HasSubstr("lora_alpha not set")));
  EXPECT_EQ(r->source_yaml, Minimal());
}

TEST_F(ConfigLoaderTest, EveryKeyIsRead) {
  dir_.MakeDir("adapters/prev");
  const std::string yaml = Minimal(
      "lora_r: 16\nlora_alpha: 32\nlora_dropout: 0.05\nlora_target_modules: [q_proj, v_proj]\n"
      "peft_use_rslora: true\nlora_model_dir: adapters/prev\nchat_template: llama3\n"
      "sequence_len: 1024\nsample_packing: true\ntrain_on_inputs: true\nval_set_size: 0.1\n"
      "skip_bad_lines: true\ndataset_prepared_path: cache\nmicro_batch_size: 4\n"
      "gradient_accumulation_steps: 8\nnum_epochs: 3\nlr_scheduler: linear\n"
      "warmup_ratio: 0.05\noptimizer: adamw_torch\nadam_beta1: 0.8\nadam_beta2: 0.95\n"
      "adam_epsilon: 1e-6\nweight_decay: 0.01\nmax_grad_norm: 0.5\nseed: 7\nbf16: false\n"
      "gradient_checkpointing: true\noutput_dir: out/run1\nsave_steps: 50\n"
      "save_total_limit: 2\nlogging_steps: 5\neval_steps: 0.25\ndrift_policy: fail\n"
      "drift_js_threshold: 0.3\ndrift_loss_ratio_threshold: 2\nresume_lr_policy: continue\n"
      "resume_lr_scale: 0.25\nearly_stopping_patience: 3\nearly_stopping_threshold: 0.01\n"
      "keep_best: true\noverfitting_window: 4\ndivergence_policy: skip_step\n"
      "divergence_factor: 8\ndivergence_patience: 5\ndivergence_window: 50\n"
      "eval_prompts: [\"Once upon\", \"The\"]\n"
      "eval_max_new_tokens: 16\n");
  auto r = Parse(yaml);
  ASSERT_TRUE(r.ok()) << r.status();
  const TrainConfig& c = r->config;
  EXPECT_EQ(c.lora_r, 16);
  EXPECT_EQ(c.lora_alpha, 32);
  EXPECT_EQ(c.lora_dropout, 0.05);
  EXPECT_THAT(c.lora_target_modules, ElementsAre("q_proj", "v_proj"));
  EXPECT_TRUE(c.peft_use_rslora);
  EXPECT_EQ(c.lora_model_dir, (dir_.path() / "adapters/prev").string());
  EXPECT_EQ(c.chat_template, "llama3");
  EXPECT_EQ(c.sequence_len, 1024);
  EXPECT_TRUE(c.sample_packing);
  EXPECT_TRUE(c.train_on_inputs);
  EXPECT_TRUE(c.val_set_size.is_fraction);
  EXPECT_EQ(c.val_set_size.value, 0.1);
  EXPECT_TRUE(c.skip_bad_lines);
  EXPECT_EQ(c.dataset_prepared_path, (dir_.path() / "cache").string());
  EXPECT_EQ(c.micro_batch_size, 4);
  EXPECT_EQ(c.gradient_accumulation_steps, 8);
  EXPECT_EQ(c.num_epochs, 3);
  EXPECT_EQ(c.lr_scheduler, LrScheduler::kLinear);
  EXPECT_EQ(c.warmup_ratio, 0.05);
  EXPECT_EQ(c.warmup_steps, -1);
  EXPECT_EQ(c.adam_beta1, 0.8);
  EXPECT_EQ(c.adam_beta2, 0.95);
  EXPECT_EQ(c.adam_epsilon, 1e-6);
  EXPECT_EQ(c.weight_decay, 0.01);
  EXPECT_EQ(c.max_grad_norm, 0.5);
  EXPECT_EQ(c.seed, 7);
  EXPECT_EQ(c.bf16, Bf16Mode::kOff);
  EXPECT_TRUE(c.gradient_checkpointing);
  EXPECT_EQ(c.output_dir, (dir_.path() / "out/run1").string());
  EXPECT_FALSE(c.save_steps.is_fraction);
  EXPECT_EQ(c.save_steps.value, 50);
  EXPECT_EQ(c.save_total_limit, 2);
  EXPECT_EQ(c.logging_steps, 5);
  EXPECT_TRUE(c.eval_steps.is_fraction);
  EXPECT_EQ(c.eval_steps.value, 0.25);
  EXPECT_EQ(c.drift_policy, "fail");
  EXPECT_EQ(c.drift_js_threshold, 0.3);
  EXPECT_EQ(c.drift_loss_ratio_threshold, 2);
  EXPECT_EQ(c.resume_lr_policy, "continue");
  EXPECT_EQ(c.resume_lr_scale, 0.25);
  EXPECT_EQ(c.early_stopping_patience, 3);
  EXPECT_EQ(c.early_stopping_threshold, 0.01);
  EXPECT_TRUE(c.keep_best);
  EXPECT_EQ(c.overfitting_window, 4);
  EXPECT_EQ(c.divergence_policy, "skip_step");
  EXPECT_EQ(c.divergence_factor, 8);
  EXPECT_EQ(c.divergence_patience, 5);
  EXPECT_EQ(c.divergence_window, 50);
  EXPECT_THAT(c.eval_prompts, ElementsAre("Once upon", "The"));
  EXPECT_EQ(c.eval_max_new_tokens, 16);
  EXPECT_THAT(r->ignored_keys, IsEmpty());
  EXPECT_THAT(r->notes, Not(Contains(HasSubstr("lora_r not set"))));
}

TEST_F(ConfigLoaderTest, DatasetKeysAreRead) {
  dir_.Write("data/chat.jsonl", "{}\n");
  dir_.Write("data/alpaca.json", "[]\n");
  auto r = Parse(
      "base_model: models/tiny\nlora_target_modules: [q_proj]\nlearning_rate: 1e-4\n"
      "datasets:\n"
      "  - path: data/chat.jsonl\n    type: chat_template\n    field_messages: conversations\n"
      "    chat_template: qwen_25\n    roles_to_train: [assistant, user]\n"
      "    train_on_eos: all\n    split: train\n"
      "  - path: data/alpaca.json\n    type: alpaca\n"
      "  - path: data/train.jsonl\n    type: completion\n    field: body\n");
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& d = r->config.datasets;
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].type, "chat_template");
  EXPECT_EQ(d[0].field_messages, "conversations");
  EXPECT_EQ(d[0].chat_template, "qwen_25");
  EXPECT_THAT(d[0].roles_to_train, ElementsAre("assistant", "user"));
  EXPECT_EQ(d[0].train_on_eos, "all");
  EXPECT_EQ(d[0].split, std::optional<std::string>("train"));
  EXPECT_EQ(d[1].type, "alpaca");
  EXPECT_EQ(d[1].path, (dir_.path() / "data/alpaca.json").string());
  EXPECT_EQ(d[2].field, "body");
  EXPECT_THAT(r->notes, Contains(HasSubstr("datasets[0].split")));
  EXPECT_THAT(r->notes, Contains(HasSubstr("adapter not set")));
}

TEST_F(ConfigLoaderTest, UnknownAndUnimplementedKeysAreListedOnceByName) {
  auto r = Parse(Minimal("wandb_project: demo\nxformers_attention: true\nmy_own_key: 3\n"
                         "datasets_extra: 1\n") +
                 "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->ignored_keys,
              ElementsAre("wandb_project", "xformers_attention", "my_own_key", "datasets_extra"));
  EXPECT_THAT(r->notes, Contains(HasSubstr("wandb_project is ignored: metrics are")));

  auto d = Parse("base_model: models/tiny\nlora_target_linear: true\nlearning_rate: 1e-3\n"
                 "datasets:\n  - path: data/train.jsonl\n    type: completion\n"
                 "    ds_type: json\n    name: default\n");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->ignored_keys, ElementsAre("datasets[0].ds_type", "datasets[0].name"));
}

TEST_F(ConfigLoaderTest, MaxStepsWinsOverEpochsWithANote) {
  auto r = Parse(Minimal("num_epochs: 3\nmax_steps: 100\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.max_steps, 100);
  EXPECT_EQ(r->config.num_epochs, 3);
  EXPECT_THAT(r->notes, Contains(HasSubstr("max_steps (100) wins over num_epochs")));
  auto unset = Parse(Minimal("max_steps: -1\n"));  // HF's spelling of "unset"
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_EQ(unset->config.max_steps, 0);
}

TEST_F(ConfigLoaderTest, AttentionDefaultsToAutoAndMapsAxolotlSwitches) {
  auto plain = Parse(Minimal());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->config.attention, "auto");
  for (const char* v : {"auto", "eager", "blockwise", "sdpa"}) {
    auto r = Parse(Minimal(std::string("attention: ") + v + "\n"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->config.attention, v);
  }
  // Axolotl's switches: flash-attn → lorad's blockwise kernel, SDPA → sdpa;
  // neither is listed as ignored, and the mapping is a note.
  auto flash = Parse(Minimal("flash_attention: true\n"));
  ASSERT_TRUE(flash.ok()) << flash.status();
  EXPECT_EQ(flash->config.attention, "blockwise");
  EXPECT_THAT(flash->ignored_keys, Not(Contains("flash_attention")));
  EXPECT_THAT(flash->notes, Contains(HasSubstr("flash_attention: true means attention: blockwise")));
  auto sdp = Parse(Minimal("sdp_attention: true\n"));
  ASSERT_TRUE(sdp.ok()) << sdp.status();
  EXPECT_EQ(sdp->config.attention, "sdpa");
  auto off = Parse(Minimal("flash_attention: false\n"));
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->config.attention, "auto");
  // The same choice spelled both ways is fine.
  auto both = Parse(Minimal("flash_attention: true\nattention: blockwise\n"));
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->config.attention, "blockwise");
}

TEST_F(ConfigLoaderTest, AttentionContradictionsAndBadValuesAreNamed) {
  auto bad = Parse(Minimal("attention: flash\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("attention"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("flash"));
  auto clash = Parse(Minimal("attention: eager\nflash_attention: true\n"));
  ASSERT_FALSE(clash.ok());
  EXPECT_THAT(std::string(clash.status().message()),
              HasSubstr("flash_attention: true asks for attention: blockwise, which contradicts "
                        "attention: eager"));
  auto two = Parse(Minimal("flash_attention: true\nsdp_attention: true\n"));
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(std::string(two.status().message()),
              HasSubstr("flash_attention and sdp_attention cannot both be true"));
  auto notbool = Parse(Minimal("sdp_attention: maybe\n"));
  ASSERT_FALSE(notbool.ok());
  EXPECT_THAT(std::string(notbool.status().message()), HasSubstr("sdp_attention"));
}

TEST_F(ConfigLoaderTest, Bf16AcceptsTrueFalseAuto) {
  for (const auto& [text, mode] : std::vector<std::pair<std::string, Bf16Mode>>{
           {"true", Bf16Mode::kOn}, {"false", Bf16Mode::kOff}, {"auto", Bf16Mode::kAuto}}) {
    auto r = Parse(Minimal("bf16: " + text + "\n"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->config.bf16, mode) << text;
  }
  EXPECT_THAT(Error(Minimal("bf16: sometimes\n")),
              HasSubstr("bf16: must be true, false or auto, got \"sometimes\""));
}

TEST_F(ConfigLoaderTest, CountOrFractionKeys) {
  auto r = Parse(Minimal("val_set_size: 20\nsave_steps: 0.5\neval_steps: 10\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->config.val_set_size.is_fraction);
  EXPECT_EQ(r->config.val_set_size.value, 20);
  EXPECT_TRUE(r->config.save_steps.is_fraction);
  EXPECT_EQ(r->config.save_steps.value, 0.5);
  EXPECT_FALSE(r->config.eval_steps.is_fraction);
  EXPECT_EQ(r->config.eval_steps.value, 10);
  EXPECT_THAT(Error(Minimal("save_steps: 2.5\n")),
              HasSubstr("save_steps: must be an integer count or a fraction in (0, 1), got 2.5"));
  EXPECT_THAT(Error(Minimal("val_set_size: -1\n")), HasSubstr("val_set_size: must be"));
}

TEST_F(ConfigLoaderTest, OptimizerAliasesRunAsAdamWTorch) {
  for (const char* name : {"adamw_torch_fused", "adamw_hf"}) {
    auto r = Parse(Minimal(std::string("optimizer: ") + name + "\n"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->config.optimizer, "adamw_torch");
    EXPECT_THAT(r->notes, Contains(HasSubstr(name)));
  }
  EXPECT_THAT(Error(Minimal("optimizer: adamw_bnb_8bit\n")),
              HasSubstr("optimizer: \"adamw_bnb_8bit\" is not supported yet"));
}

TEST_F(ConfigLoaderTest, BatchSizeDerivesGradientAccumulation) {
  auto r = Parse(Minimal("micro_batch_size: 2\nbatch_size: 16\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.gradient_accumulation_steps, 8);
  EXPECT_THAT(Error(Minimal("micro_batch_size: 3\nbatch_size: 16\n")),
              HasSubstr("batch_size: must be a multiple of micro_batch_size (3)"));
}

TEST_F(ConfigLoaderTest, TargetModulesRules) {
  auto all = Parse("base_model: models/tiny\nlearning_rate: 1e-3\nlora_target_modules: "
                   "all-linear\ndatasets: [{path: data/train.jsonl, type: completion}]\n");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->config.lora_target_linear);
  EXPECT_THAT(Error("base_model: models/tiny\nlearning_rate: 1e-3\n"
                    "datasets: [{path: data/train.jsonl, type: completion}]\n"),
              HasSubstr("lora_target_modules: no target modules"));
  // Continuing an adapter takes the targets from its adapter_config.json.
  auto cont = Parse("base_model: models/tiny\nlearning_rate: 1e-3\nlora_model_dir: models/tiny\n"
                    "datasets: [{path: data/train.jsonl, type: completion}]\n");
  ASSERT_TRUE(cont.ok()) << cont.status();
  EXPECT_TRUE(cont->config.lora_target_modules.empty());
  EXPECT_THAT(Error(Minimal("lora_target_modules: '.*proj'\n")),
              HasSubstr("lora_target_modules: a string is a regular expression"));
  // A malformed list is one problem, not also "no target modules".
  const std::string bad = Error("base_model: models/tiny\nlearning_rate: 1e-3\n"
                                "lora_target_modules: [q_proj, '']\n"
                                "datasets: [{path: data/train.jsonl, type: completion}]\n");
  EXPECT_EQ(bad, "lora_target_modules[1]: must be a non-empty string, got \"\" (line 3)");
}

TEST_F(ConfigLoaderTest, UnsupportedAdaptersAndFeaturesAreRefusedClearly) {
  std::string qlora = Minimal();
  qlora.replace(qlora.find("adapter: lora"), 13, "adapter: qlora");
  EXPECT_THAT(Error(qlora), HasSubstr("adapter: qlora is not supported yet"));
  std::string other = Minimal();
  other.replace(other.find("adapter: lora"), 13, "adapter: llama-adapter");
  EXPECT_THAT(Error(other), HasSubstr("adapter: \"llama-adapter\" is not supported yet"));
  EXPECT_THAT(Error(Minimal("load_in_4bit: true\n")), HasSubstr("load_in_4bit: quantized"));
  EXPECT_THAT(Error(Minimal("load_in_8bit: true\n")), HasSubstr("load_in_8bit: quantized"));
  EXPECT_THAT(Error(Minimal("lora_modules_to_save: [embed_tokens, lm_head]\n")),
              HasSubstr("lora_modules_to_save: modules_to_save"));
  EXPECT_THAT(Error(Minimal("peft_use_dora: true\n")), HasSubstr("peft_use_dora: DoRA"));
  EXPECT_THAT(Error(Minimal("fp16: true\n")), HasSubstr("fp16: fp16 mixed precision"));
  EXPECT_THAT(Error(Minimal("peft_init_lora_weights: gaussian\n")),
              HasSubstr("peft_init_lora_weights: only the default"));
  // Set to false / empty, the same keys change nothing and are accepted.
  auto ok = Parse(Minimal("load_in_4bit: false\nload_in_8bit: false\nlora_modules_to_save: []\n"
                          "fp16: false\npeft_init_lora_weights: true\n"));
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST_F(ConfigLoaderTest, ChatTemplatesByName) {
  EXPECT_THAT(Error(Minimal("chat_template: tokenizer_default\n")),
              HasSubstr("chat_template: \"tokenizer_default\" needs a Jinja template engine"));
  EXPECT_THAT(Error(Minimal("chat_template: vicuna\n")),
              HasSubstr("chat_template: unknown chat template \"vicuna\" (supported: chatml, "
                        "llama3, mistral_v1, mistral_v2v3, qwen_25)"));
}

TEST_F(ConfigLoaderTest, MalformedYamlGivesLineAndColumn) {
  const std::string msg = Error("base_model: models/tiny\ndatasets: [unclosed\nlearning_rate: 1\n");
  EXPECT_THAT(msg, HasSubstr("malformed YAML at line"));
  EXPECT_THAT(msg, HasSubstr("column"));
  const std::string tab = Error("base_model: x\n  bad: indentation: here\n");
  EXPECT_THAT(tab, HasSubstr("line 2"));
}

TEST_F(ConfigLoaderTest, TopLevelMustBeAMapping) {
  EXPECT_THAT(Error("- a\n- b\n"), HasSubstr("must be a YAML mapping"));
  EXPECT_THAT(Error("just a string\n"), HasSubstr("must be a YAML mapping"));
  EXPECT_THAT(Error(""), HasSubstr("the config is empty"));
}

TEST_F(ConfigLoaderTest, NonUtf8AndOversizedConfigsAreRefused) {
  EXPECT_THAT(Error(Minimal("note: \"caf\xE9\"\n")),
              HasSubstr("not valid UTF-8 (line 8, column 11)"));
  EXPECT_THAT(Error(std::string(kMaxConfigYamlBytes + 1, '#')), HasSubstr("at most"));
}

TEST_F(ConfigLoaderTest, DuplicateKeysAreProblems) {
  EXPECT_THAT(Error(Minimal("learning_rate: 0.1\n")),
              HasSubstr("learning_rate: duplicate key (line 8)"));
}

TEST_F(ConfigLoaderTest, LoadTrainConfigFileResolvesAgainstTheFilesFolder) {
  const auto path = dir_.Write("cfg/run.yaml",
                               "base_model: ../models/tiny\nlora_target_linear: true\n"
                               "learning_rate: 1e-3\n"
                               "datasets: [{path: ../data/train.jsonl, type: completion}]\n");
  auto r = LoadTrainConfigFile(path, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.base_model, (dir_.path() / "models/tiny").string());
  EXPECT_EQ(r->config.output_dir, (dir_.path() / "cfg/model-out").string());
  EXPECT_EQ(r->config.config_dir, (dir_.path() / "cfg").string());
  auto missing = LoadTrainConfigFile(dir_.path() / "nope.yaml", {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lorad
