// In-run guardrails end to end on the tiny preset: early stopping stops at the
// right evaluation of a constructed overfitting run (each line a unique random
// code: the shared words generalise, the memorised codes do not) and keep_best
// makes that run's final adapter the best checkpoint's, kept despite
// save_total_limit; an injected NaN fails the run at its step with the last
// good checkpoint intact, or is skipped under divergence_policy skip_step.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>

#include "tests/train/tiny_run_fixture.h"
#include "worker/config/config_loader.h"
#include "worker/train/adapter_export.h"
#include "worker/train/checkpoint_dir.h"

namespace lorad {
namespace {

using testing::CapturingObserver;
using testing::TempDir;

// "the code is 48213 and the key is 90417." with seeded random digits.
void WriteCodeDataset(const std::filesystem::path& path, int lines) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> digit(0, 9);
  std::string out;
  for (int i = 0; i < lines; ++i) {
    std::string a, b;
    for (int k = 0; k < 5; ++k) a += static_cast<char>('0' + digit(rng));
    for (int k = 0; k < 5; ++k) b += static_cast<char>('0' + digit(rng));
    out +=
        nlohmann::json({{"text", "the code is " + a + " and the key is " + b + "."}}).dump() + "\n";
  }
  testing::WriteText(path, out);
}

// The constructed overfitting run: constant rate, an evaluation every 5
// steps, stopping after 3 without improvement, keeping the best.
constexpr const char* kEarlyStopConfig =
    "learning_rate: 0.02\nlr_scheduler: constant\nmicro_batch_size: 4\nval_set_size: 8\n"
    "eval_steps: 5\nmax_steps: 300\nearly_stopping_patience: 3\nkeep_best: true\n"
    "save_total_limit: 1\n";

absl::Status Train(const TempDir& tmp, const std::string& extra, CapturingObserver& obs,
                   RunOptions options = {}) {
  auto loaded = LoadTrainConfigFile(
      testing::WriteConfig(
          tmp.path(), tmp.path() / "data.jsonl",
          "lora_r: 8\nlora_alpha: 16\nlora_target_linear: true\nbf16: false\n" + extra),
      {});
  if (!loaded.ok()) return loaded.status();
  options.device = "cpu";
  options.threads = 1;
  std::atomic<bool> stop{false};
  return RunTrainingJob(loaded->config, options, obs, stop);
}

// A short run on repetitive data whose step `nan_step` goes NaN (the test hook).
absl::Status TrainWithNanAt(const TempDir& tmp, int64_t nan_step, const std::string& extra,
                            CapturingObserver& obs) {
  testing::WriteRepetitiveDataset(tmp.path() / "data.jsonl", 12);
  RunOptions options;
  options.inject_nan_at_step = nan_step;
  return Train(tmp, "learning_rate: 0.01\nmicro_batch_size: 2\n" + extra, obs, options);
}

std::map<std::string, torch::Tensor> Weights(const std::filesystem::path& dir) {
  auto w = ReadOwnAdapterWeights(dir);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *w : std::map<std::string, torch::Tensor>{};
}

TEST(TrainingGuardrailsTest, EarlyStoppingStopsAtTheRightEvaluationAndKeepBestKeepsIt) {
  TempDir tmp("early-stop");
  // 4 lines to train on (memorised: training loss keeps falling), 8 others
  // to evaluate on (the shared words help, the memorised codes hurt).
  WriteCodeDataset(tmp.path() / "data.jsonl", 12);
  CapturingObserver obs;
  const int64_t kMaxSteps = 300, kPatience = 3;
  absl::Status s = Train(tmp, kEarlyStopConfig, obs);
  ASSERT_TRUE(s.ok()) << s;

  // Where HF's rule says the run must stop, from the eval losses it saw.
  const auto evals = obs.OfType("eval");
  ASSERT_GE(evals.size(), 2u);
  int64_t expected_stop = 0, best_step = 0, without = 0;
  double best = INFINITY;
  for (const auto& e : evals) {
    const double loss = e["eval_loss"].get<double>();
    without = loss < best ? 0 : without + 1;
    if (loss < best) {
      best = loss;
      best_step = e["step"].get<int64_t>();
    }
    if (without >= kPatience) {
      expected_stop = e["step"].get<int64_t>();
      break;
    }
  }
  ASSERT_GT(expected_stop, 0) << "the constructed run must overfit within " << kMaxSteps
                              << " steps";
  ASSERT_LT(expected_stop, kMaxSteps);
  auto stopped = obs.OfType("early_stopping");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0]["step"], expected_stop);
  EXPECT_EQ(stopped[0]["best_step"], best_step);
  EXPECT_EQ(evals.back()["step"], expected_stop) << "no evaluation after the stop";
  EXPECT_EQ(obs.OfType("step").back()["step"], expected_stop) << "no step after the stop";
  // The overfitting warning came first: eval rising while training loss fell.
  ASSERT_FALSE(obs.OfType("overfitting").empty());
  EXPECT_LE(obs.OfType("overfitting")[0]["step"].get<int64_t>(), expected_stop);

  // keep_best: the final adapter is the best checkpoint's, which
  // save_total_limit 1 did not prune (the final state's checkpoint is the other).
  auto final_record = obs.OfType("final");
  ASSERT_EQ(final_record.size(), 1u);
  EXPECT_EQ(final_record[0]["best_step"], best_step);
  const auto out = tmp.path() / "out";
  const auto best_dir = out / ("checkpoint-" + std::to_string(best_step));
  ASSERT_TRUE(std::filesystem::exists(best_dir));
  EXPECT_TRUE(VerifyCheckpoint(best_dir).ok());
  EXPECT_TRUE(std::filesystem::exists(out / ("checkpoint-" + std::to_string(expected_stop))));
  EXPECT_EQ(ListCheckpointDirs(out).size(), 2u);
  auto final_weights = Weights(out);
  auto best_weights = Weights(best_dir);
  auto last_weights = Weights(out / ("checkpoint-" + std::to_string(expected_stop)));
  ASSERT_EQ(final_weights.size(), best_weights.size());
  bool differs_from_last = false;
  for (const auto& [name, t] : final_weights) {
    EXPECT_TRUE(torch::equal(t, best_weights.at(name))) << name;
    differs_from_last |= !torch::equal(t, last_weights.at(name));
  }
  EXPECT_TRUE(differs_from_last) << "the best state is not the last one here";
  auto state = nlohmann::json::parse(testing::ReadText(out / "trainer_state.json"));
  EXPECT_EQ(state["best_model_checkpoint"], best_dir.string());
}

TEST(TrainingGuardrailsTest, ExactResumeKeepsTheEarlyStoppingAndBestState) {
  TempDir straight_dir("early-straight"), split_dir("early-split");
  WriteCodeDataset(straight_dir.path() / "data.jsonl", 12);
  WriteCodeDataset(split_dir.path() / "data.jsonl", 12);
  CapturingObserver straight;
  ASSERT_TRUE(Train(straight_dir, kEarlyStopConfig, straight).ok());
  const auto stopped = straight.OfType("early_stopping");
  ASSERT_EQ(stopped.size(), 1u);
  const int64_t stop_step = stopped[0]["step"].get<int64_t>();
  const int64_t best_step = stopped[0]["best_step"].get<int64_t>();
  ASSERT_GT(stop_step - best_step, 5) << "an evaluation between the best and the stop";

  // Interrupted between the best evaluation and the stop, then resumed exactly:
  // the evaluations already made still count.
  CapturingObserver first, second;
  RunOptions interrupted;
  interrupted.stop_after = best_step + 5;
  EXPECT_EQ(Train(split_dir, kEarlyStopConfig, first, interrupted).code(),
            absl::StatusCode::kCancelled);
  RunOptions resume;
  resume.resume = "auto";
  ASSERT_TRUE(Train(split_dir, kEarlyStopConfig, second, resume).ok());
  ASSERT_EQ(second.OfType("early_stopping").size(), 1u);
  EXPECT_EQ(second.OfType("early_stopping")[0]["step"], stop_step);
  EXPECT_EQ(second.OfType("final").at(0)["best_step"], best_step);
  EXPECT_EQ(testing::ReadText(split_dir.path() / "out" / "adapter_model.safetensors"),
            testing::ReadText(straight_dir.path() / "out" / "adapter_model.safetensors"));
}

TEST(TrainingGuardrailsTest, InjectedNanFailsAtItsStepWithTheLastGoodCheckpointIntact) {
  TempDir tmp("nan");
  CapturingObserver obs;
  absl::Status s = TrainWithNanAt(tmp, 5, "max_steps: 8\nsave_steps: 2\n", obs);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_NE(std::string(s.message()).find("training diverged at step 5: non-finite loss (loss nan"),
            std::string::npos)
      << s;
  auto div = obs.OfType("divergence");
  ASSERT_EQ(div.size(), 1u);
  EXPECT_EQ(div[0]["step"], 5);
  EXPECT_EQ(div[0]["action"], "fail");
  EXPECT_TRUE(div[0]["loss"].is_null());
  EXPECT_EQ(obs.OfType("step").back()["step"], 4);
  const auto out = tmp.path() / "out";
  auto checkpoints = ListCheckpointDirs(out);
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.front().first, 4) << "the newest is the last good one";
  EXPECT_TRUE(VerifyCheckpoint(checkpoints.front().second).ok());
  EXPECT_FALSE(std::filesystem::exists(out / "adapter_model.safetensors"));
  EXPECT_TRUE(obs.OfType("final").empty());
}

TEST(TrainingGuardrailsTest, SkipStepDropsTheNanUpdateAndTrainsOn) {
  TempDir tmp("nan-skip");
  CapturingObserver obs;
  absl::Status s = TrainWithNanAt(tmp, 3, "max_steps: 6\ndivergence_policy: skip_step\n", obs);
  ASSERT_TRUE(s.ok()) << s;
  auto div = obs.OfType("divergence");
  ASSERT_EQ(div.size(), 1u);
  EXPECT_EQ(div[0]["action"], "skip_step");
  auto steps = obs.OfType("step");
  ASSERT_EQ(steps.size(), 6u);
  EXPECT_EQ(steps[2]["skipped_steps"], 1);
  EXPECT_TRUE(steps[2]["loss"].is_null());
  EXPECT_TRUE(steps[3]["loss"].is_number());
  for (const auto& [name, t] : Weights(tmp.path() / "out")) {
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
  }
}

}  // namespace
}  // namespace lorad
