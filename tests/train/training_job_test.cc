// End-to-end training on the tiny preset through RunTrainingJob: the loss
// falls, the saved adapter reloads to the same tensors and loss, and a stopped
// run resumed from its checkpoint is bit-identical to an uninterrupted one.
#include <atomic>
#include <cmath>

#include <gtest/gtest.h>

#include "worker/config/config_loader.h"
#include "worker/formats/model_config.h"
#include "worker/train/adapter_export.h"
#include "worker/train/probe_io.h"
#include "worker/train/runtime_env.h"
#include "worker/train/train_step.h"
#include "tests/train/tiny_run_fixture.h"

namespace lorad {
namespace {

using testing::CapturingObserver;
using testing::TempDir;

absl::StatusOr<TrainConfig> Load(const std::filesystem::path& yaml,
                                 const std::vector<std::string>& sets = {}) {
  auto loaded = LoadTrainConfigFile(yaml, sets);
  if (!loaded.ok()) return loaded.status();
  return loaded->config;
}

std::vector<double> StepLosses(const CapturingObserver& obs) {
  std::vector<double> out;
  for (const auto& r : obs.OfType("step")) out.push_back(r["loss"].get<double>());
  return out;
}

RunOptions Opts() {
  RunOptions o;
  o.device = "cpu";
  o.threads = 1;  // the bit-exact comparisons need the same thread count
  return o;
}

TEST(TrainingJobTest, TinyPresetLossAtLeastHalves) {
  TempDir tmp("loss");
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 24);
  auto config = Load(testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl",
                                          "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
                                          "learning_rate: 0.01\nlr_scheduler: constant\n"
                                          "micro_batch_size: 4\nmax_steps: 60\nbf16: false\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  CapturingObserver obs;
  std::atomic<bool> stop{false};
  absl::Status s = RunTrainingJob(*config, Opts(), obs, stop);
  ASSERT_TRUE(s.ok()) << s;
  const auto losses = StepLosses(obs);
  ASSERT_EQ(losses.size(), 60u);
  EXPECT_LE(losses.back(), 0.5 * losses.front())
      << "first " << losses.front() << " last " << losses.back();
  const auto first = obs.OfType("step").front();
  for (const char* key : {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens",
                          "trained_tokens", "tokens_per_second", "elapsed_seconds"}) {
    EXPECT_TRUE(first.contains(key)) << key;
  }
  EXPECT_EQ(first["step"], 1);
  EXPECT_EQ(obs.OfType("final").size(), 1u);
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "trainer_state.json",
                        "lorad_adapter.json"}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "out" / f)) << f;
  }
  // The final output holds no optimizer state: exact resume needs a checkpoint.
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "out" / "optimizer.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(tmp.path() / "out" / "checkpoint-60" / "optimizer.safetensors"));
}

TEST(TrainingJobTest, SavedAdapterReloadsToIdenticalTensorsAndLoss) {
  TempDir tmp("reload");
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 12);
  auto config = Load(testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl",
                                          "lora_r: 4\nlora_target_modules: [q_proj, v_proj, down_proj]\n"
                                          "learning_rate: 0.005\nmicro_batch_size: 2\nmax_steps: 5\n"
                                          "bf16: false\nlora_dropout: 0.1\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  CapturingObserver obs;
  std::atomic<bool> stop{false};
  ASSERT_TRUE(RunTrainingJob(*config, Opts(), obs, stop).ok());

  const auto out = tmp.path() / "out";
  auto sidecar = nlohmann::json::parse(testing::ReadText(out / "lorad_adapter.json"));
  const double recorded = sidecar["probe"]["loss"].get<double>();

  auto mc = LoadModelConfig(config->base_model);
  ASSERT_TRUE(mc.ok());
  auto model = LoadCausalLm(config->base_model, *mc, {});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE((*model)->AddLora(LoraSettingsFromConfig(*config), 999).ok());
  const double fresh = EvalLoss(*model, {}, false, torch::kCPU);
  EXPECT_TRUE(std::isnan(fresh));  // no batch, no tokens
  auto weights = ReadOwnAdapterWeights(out);
  ASSERT_TRUE(weights.ok()) << weights.status();
  ASSERT_TRUE((*model)->LoadLoraWeights(*weights).ok());
  // Identical tensors: what the model now holds is exactly what was written.
  for (auto& [name, t] : (*model)->LoraParameters()) {
    ASSERT_TRUE(weights->count(name)) << name;
    EXPECT_TRUE(torch::equal(t.detach(), weights->at(name))) << name;
  }
  // Identical loss on the recorded probe batch (same threads, same ops).
  auto probe = ReadProbeBatch(out);
  ASSERT_TRUE(probe.ok()) << probe.status();
  at::set_num_threads(1);
  EXPECT_EQ(EvalLoss(*model, {*probe}, false, torch::kCPU), recorded);
}

void ExpectBitExactResume(bool bf16) {
  TempDir tmp(bf16 ? "resume-bf16" : "resume-fp32");
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 10);
  const std::string extra = std::string("lora_r: 4\nlora_target_linear: true\nlora_dropout: 0.2\n"
                                        "learning_rate: 0.003\nwarmup_steps: 2\n"
                                        "micro_batch_size: 2\ngradient_accumulation_steps: 2\n"
                                        "num_epochs: 3\nsave_steps: 4\n") +
                            (bf16 ? "bf16: true\n" : "bf16: false\n");
  std::filesystem::create_directories(tmp.path() / "a");
  std::filesystem::create_directories(tmp.path() / "b");
  auto straight = Load(testing::WriteConfig(tmp.path() / "a", tmp.path() / "data.jsonl", extra));
  auto split = Load(testing::WriteConfig(tmp.path() / "b", tmp.path() / "data.jsonl", extra));
  ASSERT_TRUE(straight.ok() && split.ok());
  std::atomic<bool> stop{false};

  CapturingObserver a;
  ASSERT_TRUE(RunTrainingJob(*straight, Opts(), a, stop).ok());
  const auto total = a.OfType("step").size();
  ASSERT_EQ(total, 9u);  // 3 epochs × ceil(ceil(10/2)/2)

  CapturingObserver b1;
  RunOptions first = Opts();
  first.stop_after = 5;  // not a multiple of save_steps: the stop checkpoint is its own
  EXPECT_EQ(RunTrainingJob(*split, first, b1, stop).code(), absl::StatusCode::kCancelled);
  ASSERT_EQ(b1.OfType("step").size(), 5u);
  ASSERT_TRUE(std::filesystem::exists(tmp.path() / "b" / "out" / "checkpoint-5"));

  CapturingObserver b2;
  RunOptions second = Opts();
  second.resume = "auto";
  absl::Status s = RunTrainingJob(*split, second, b2, stop);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(b2.OfType("resume").size(), 1u);
  EXPECT_EQ(b2.OfType("resume")[0]["mode"], "exact");
  EXPECT_EQ(b2.OfType("resume")[0]["step"], 5);

  auto la = StepLosses(a);
  auto lb = StepLosses(b1);
  for (double l : StepLosses(b2)) lb.push_back(l);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_EQ(la[i], lb[i]) << "step " << i + 1;
  // Same final adapter bytes and the same history.
  EXPECT_EQ(testing::ReadText(tmp.path() / "a" / "out" / "adapter_model.safetensors"),
            testing::ReadText(tmp.path() / "b" / "out" / "adapter_model.safetensors"));
  EXPECT_EQ(nlohmann::json::parse(testing::ReadText(tmp.path() / "a" / "out" / "trainer_state.json"))["log_history"],
            nlohmann::json::parse(testing::ReadText(tmp.path() / "b" / "out" / "trainer_state.json"))["log_history"]);
  // Dropout was on (it draws from the restored RNG in every step).
  auto ac = nlohmann::json::parse(testing::ReadText(tmp.path() / "a" / "out" / "adapter_config.json"));
  EXPECT_DOUBLE_EQ(ac["lora_dropout"].get<double>(), 0.2);
}

TEST(TrainingJobTest, StopThenResumeIsBitIdenticalFp32) { ExpectBitExactResume(false); }

TEST(TrainingJobTest, StopThenResumeIsBitIdenticalBf16) {
  if (!CpuHasNativeBf16()) {
    GTEST_SKIP() << "this CPU lacks avx512_bf16/amx_bf16: the bf16 exact-resume check is skipped";
  }
  ExpectBitExactResume(true);
}

TEST(TrainingJobTest, EvalPromptsAreSampledAtEachEvaluationWithoutChangingTraining) {
  TempDir tmp("samples");
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 12);
  const std::string common =
      "lora_r: 4\nlora_target_linear: true\nlora_dropout: 0.1\nlearning_rate: 0.01\n"
      "micro_batch_size: 2\nmax_steps: 10\neval_steps: 5\nbf16: false\n";
  auto plain = Load(testing::WriteConfig(tmp.path(), tmp.path() / "data.jsonl",
                                         common + "output_dir: " + (tmp.path() / "a").string() + "\n",
                                         "a.yaml"));
  auto sampled = Load(testing::WriteConfig(
      tmp.path(), tmp.path() / "data.jsonl",
      common + "eval_max_new_tokens: 8\neval_prompts: [\"the cat\", \"one two\"]\noutput_dir: " +
          (tmp.path() / "b").string() + "\n",
      "b.yaml"));
  ASSERT_TRUE(plain.ok() && sampled.ok()) << plain.status() << sampled.status();
  std::atomic<bool> stop{false};
  CapturingObserver a, b;
  ASSERT_TRUE(RunTrainingJob(*plain, Opts(), a, stop).ok());
  ASSERT_TRUE(RunTrainingJob(*sampled, Opts(), b, stop).ok());
  const auto samples = b.OfType("sample");
  ASSERT_EQ(samples.size(), 2u);  // steps 5 and 10
  EXPECT_EQ(samples[0]["step"], 5);
  EXPECT_EQ(samples[1]["step"], 10);
  for (const auto& rec : samples) {
    ASSERT_EQ(rec["samples"].size(), 2u);
    EXPECT_EQ(rec["samples"][0]["prompt"], "the cat");
    EXPECT_FALSE(rec["samples"][0]["text"].get<std::string>().empty());
  }
  EXPECT_TRUE(a.OfType("sample").empty());
  // Greedy sampling in eval mode draws nothing from the training RNG (dropout
  // is on): the training losses are identical with and without prompts.
  EXPECT_EQ(StepLosses(a), StepLosses(b));
}

}  // namespace
}  // namespace lorad
