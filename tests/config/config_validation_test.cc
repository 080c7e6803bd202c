// Every bad value is reported with its key path and the reason; all problems
// of a config come back in one error, one per line.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/config_test_util.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;

class ConfigValidationTest : public testing::ConfigFixture {};

struct BadValue {
  const char* yaml_line;  // appended to the minimal config
  const char* expected;   // substring of the error, starting with the key path
};

TEST_F(ConfigValidationTest, EachBadValueNamesItsKeyAndReason) {
  const std::vector<BadValue> cases = {
      {"lora_r: 0", "lora_r: must be a positive integer, got 0 (line 8)"},
      {"lora_r: -4", "lora_r: must be a positive integer, got -4"},
      {"lora_r: eight", "lora_r: must be a positive integer, got \"eight\""},
      {"lora_r: 1000000", "lora_r: must be a positive integer <= 4096, got 1000000"},
      {"lora_alpha: 0", "lora_alpha: must be a number > 0, got 0"},
      {"lora_dropout: 1.5", "lora_dropout: must be a number in [0, 1), got 1.5"},
      {"lora_target_modules: [q_proj, '']", "lora_target_modules[1]: must be a non-empty string"},
      {"lora_target_modules: {q: 1}", "lora_target_modules: must be a list of strings"},
      {"train_on_inputs: maybe", "train_on_inputs: must be true or false, got \"maybe\""},
      {"peft_use_rslora: 2", "peft_use_rslora: must be true or false"},
      {"sequence_len: 1000000000", "sequence_len: must be a positive integer <= 1048576"},
      {"sequence_len: [1]", "sequence_len: must be a single value, got a list"},
      {"micro_batch_size: 0", "micro_batch_size: must be a positive integer, got 0"},
      {"micro_batch_size: 5000", "micro_batch_size: must be a positive integer <= 4096"},
      {"gradient_accumulation_steps: 0", "gradient_accumulation_steps: must be a positive integer"},
      {"num_epochs: 0", "num_epochs: must be a number > 0, got 0"},
      {"max_steps: -5", "max_steps: must be an integer >= -1, got -5"},
      {"lr_scheduler: foo",
       "lr_scheduler: unknown scheduler \"foo\" (supported: cosine, linear, constant)"},
      {"warmup_steps: -1", "warmup_steps: must be a non-negative integer, got -1"},
      {"warmup_ratio: 1.5", "warmup_ratio: must be a number in [0, 1), got 1.5"},
      {"adam_beta1: 1", "adam_beta1: must be a number in [0, 1), got 1"},
      {"adam_beta2: -0.1", "adam_beta2: must be a number in [0, 1), got -0.1"},
      {"adam_epsilon: 0", "adam_epsilon: must be a number in (0, 1), got 0"},
      {"weight_decay: -0.01", "weight_decay: must be a number >= 0, got -0.01"},
      {"max_grad_norm: -1", "max_grad_norm: must be a number >= 0 (0: no clipping), got -1"},
      {"seed: -3", "seed: must be a non-negative integer, got -3"},
      {"gradient_checkpointing: offload", "gradient_checkpointing: must be true or false"},
      {"output_dir: ''", "output_dir: must not be empty"},
      {"save_total_limit: -1", "save_total_limit: must be a non-negative integer, got -1"},
      {"logging_steps: 0", "logging_steps: must be a positive integer, got 0"},
      {"eval_steps: 1.5", "eval_steps: must be an integer count or a fraction in (0, 1)"},
      {"drift_policy: panic", "drift_policy: unknown drift_policy \"panic\" (supported: warn, fail)"},
      {"drift_js_threshold: 2", "drift_js_threshold: must be a number in (0, 1], got 2"},
      {"drift_loss_ratio_threshold: 0", "drift_loss_ratio_threshold: must be a number > 0"},
      {"resume_lr_policy: sometimes",
       "resume_lr_policy: unknown resume_lr_policy \"sometimes\" (supported: restart, rewarm, "
       "continue)"},
      {"resume_lr_scale: 0", "resume_lr_scale: must be a number in (0, 10]"},
      {"early_stopping_patience: 2", "early_stopping_patience: needs an evaluation set"},
      {"keep_best: true", "keep_best: needs an evaluation set"},
      {"divergence_policy: ignore", "divergence_policy: unknown divergence_policy \"ignore\""},
      {"divergence_factor: 1", "divergence_factor: must be a number > 1, got 1"},
      {"divergence_patience: 0", "divergence_patience: must be a positive integer, got 0"},
      {"divergence_window: 0", "divergence_window: must be a positive integer, got 0"},
      {"overfitting_window: 1", "overfitting_window: must be 0 (off) or at least 2 evaluations"},
      {"overfitting_window: -2", "overfitting_window: must be a non-negative integer, got -2"},
      {"eval_max_new_tokens: 0", "eval_max_new_tokens: must be a positive integer, got 0"},
      {"eval_prompts: hello", "eval_prompts: must be a list of strings, got a scalar"},
      {"warmup_steps: 10\nwarmup_ratio: 0.1",
       "warmup_ratio: set either warmup_steps or warmup_ratio, not both"},
      {"lora_model_dir: adapters/none", "lora_model_dir: directory not found: "},
      {"resume_from_checkpoint: out/checkpoint-5",
       "resume_from_checkpoint: directory not found: "},
      {"chat_template: [a]", "chat_template: must be a single value, got a list"},
  };
  for (const BadValue& c : cases) {
    const std::string yaml = Minimal(std::string(c.yaml_line) + "\n");
    auto r = ParseTrainConfig(yaml, dir_.path(), {});
    ASSERT_FALSE(r.ok()) << c.yaml_line;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.yaml_line;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.expected)) << c.yaml_line;
  }
}

TEST_F(ConfigValidationTest, RequiredKeysAndBadValuesOfKeysInTheMinimalConfig) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"learning_rate=-1e-4", "learning_rate: must be a number in (0, 10], got -1e-4 (from --set)"},
      {"learning_rate=", "learning_rate: required"},
      {"base_model=", "base_model: required"},
      {"base_model=models/none", "base_model: directory not found: "},
      {"base_model=data/train.jsonl", "base_model: not a directory: "},
      {"datasets=[]", "datasets: must be a non-empty list"},
      {"datasets=", "datasets: required"},
      {"datasets.0.path=data/none.jsonl", "datasets[0].path: file not found: "},
      {"datasets.0.path=", "datasets[0].path: required"},
      {"datasets.0.type=sharegpt", "datasets[0].type: sharegpt was replaced by chat_template"},
      {"datasets.0.type=csv", "datasets[0].type: unknown dataset type \"csv\" (supported: "
                              "completion, alpaca, chat_template)"},
      {"datasets.0.type={field: x}", "datasets[0].type: custom prompt formats"},
      {"datasets.0.train_on_eos=sometimes", "datasets[0].train_on_eos: unknown"},
      {"datasets.0.roles_to_train=[]", "datasets[0].roles_to_train: must name at least one role"},
      {"datasets.0.chat_template=jinja", "datasets[0].chat_template: \"jinja\" needs a Jinja"},
      {"datasets.0.data_files=[a.jsonl]", "datasets[0].data_files: is not supported"},
      {"datasets.0.message_property_mappings={role: from}",
       "datasets[0].message_property_mappings: custom message field names"},
      {"datasets.0=just-a-path", "datasets[0]: must be a mapping"},
  };
  for (const auto& [set, expected] : cases) {
    auto r = ParseTrainConfig(Minimal(), dir_.path(), {set});
    ASSERT_FALSE(r.ok()) << set;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << set;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(expected)) << set;
  }
}

TEST_F(ConfigValidationTest, UnsupportedDataFilesAreNamed) {
  dir_.Write("data/train.csv", "a,b\n");
  dir_.MakeDir("data/folder");
  auto csv = ParseTrainConfig(Minimal(), dir_.path(), {"datasets.0.path=data/train.csv"});
  ASSERT_FALSE(csv.ok());
  EXPECT_THAT(std::string(csv.status().message()),
              HasSubstr("datasets[0].path: unsupported file type \".csv\""));
  auto folder = ParseTrainConfig(Minimal(), dir_.path(), {"datasets.0.path=data/folder"});
  ASSERT_FALSE(folder.ok());
  EXPECT_THAT(std::string(folder.status().message()),
              HasSubstr("datasets[0].path: is a directory"));
}

TEST_F(ConfigValidationTest, AllProblemsAreReportedAtOnceOnePerLine) {
  const std::string yaml =
      "base_model: models/missing\n"
      "adapter: qlora\n"
      "lora_r: 0\n"
      "lora_target_linear: true\n"
      "lr_scheduler: foo\n"
      "datasets:\n"
      "  - path: data/nope.jsonl\n"
      "    type: completion\n"
      "learning_rate: -1\n";
  auto r = ParseTrainConfig(yaml, dir_.path(), {});
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  const std::vector<std::string> expected = {
      "adapter: qlora is not supported yet",
      "lora_r: must be a positive integer, got 0 (line 3)",
      "lr_scheduler: unknown scheduler \"foo\" (supported: cosine, linear, constant) (line 5)",
      "learning_rate: must be a number in (0, 10], got -1 (line 9)",
      "base_model: directory not found: " + (dir_.path() / "models/missing").string(),
      "datasets[0].path: file not found: " + (dir_.path() / "data/nope.jsonl").string(),
  };
  std::vector<std::string> lines;
  for (size_t start = 0; start <= msg.size();) {
    size_t end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    lines.push_back(msg.substr(start, end - start));
    start = end + 1;
  }
  EXPECT_EQ(lines.size(), expected.size()) << msg;
  for (const std::string& e : expected) {
    bool found = false;
    for (const std::string& line : lines) found = found || line.rfind(e, 0) == 0;
    EXPECT_TRUE(found) << "no line starting with: " << e << "\nin:\n" << msg;
  }
}

TEST_F(ConfigValidationTest, CheckPathsOffSkipsExistenceButStillResolves) {
  ConfigLoadOptions options;
  options.check_paths = false;
  auto r = ParseTrainConfig(Minimal(), dir_.path(),
                            {"base_model=elsewhere/model", "datasets.0.path=gone.jsonl"}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.base_model, (dir_.path() / "elsewhere/model").string());
  EXPECT_EQ(r->config.datasets[0].path, (dir_.path() / "gone.jsonl").string());
}

}  // namespace
}  // namespace lorad
