// Continue-training guardrails end to end on the tiny preset: the data-drift
// check (shuffled vocabulary drifts, the same distribution does not, `fail`
// refuses before any step, a foreign adapter gets the loss comparison only)
// and the resume learning-rate policies (continue starts at the previous
// run's last rate exactly, rewarm peaks at the scaled previous peak, a third
// continuation scales the second's peak, an exact resume keeps the plan).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "tests/train/tiny_run_fixture.h"
#include "worker/config/config_loader.h"

namespace lorad {
namespace {

using testing::CapturingObserver;
using testing::TempDir;

const std::vector<std::string> kTexts = {"the cat sat on the mat. the cat sat on the mat.",
                                         "one two three four five six seven eight nine ten.",
                                         "a b c d e f g h i j k l m n o p."};

// The same texts with every letter replaced by another (rot13): same shapes,
// a different vocabulary.
std::vector<std::string> Rot13(std::vector<std::string> texts) {
  for (std::string& t : texts) {
    for (char& c : t) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>('a' + (c - 'a' + 13) % 26);
    }
  }
  return texts;
}

struct RunResult {
  absl::Status status;
  CapturingObserver obs;
  std::vector<double> Rates() const {
    std::vector<double> out;
    for (const auto& r : obs.OfType("step")) out.push_back(r["learning_rate"].get<double>());
    return out;
  }
};

class ContinueGuardrailsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteRepetitiveDataset(tmp_.path() / "a.jsonl", 12, kTexts);
    testing::WriteRepetitiveDataset(tmp_.path() / "same.jsonl", 9, kTexts);
    testing::WriteRepetitiveDataset(tmp_.path() / "rot13.jsonl", 12, Rot13(kTexts));
  }

  /// Trains `name` (output in tmp/name) on `data` with the common settings
  /// plus `extra` YAML.
  std::unique_ptr<RunResult> Train(const std::string& name, const std::string& data,
                                   const std::string& extra, RunOptions options = {}) {
    const std::string yaml =
        "lora_r: 4\nlora_target_modules: [q_proj, v_proj]\nlearning_rate: 0.01\n"
        "lr_scheduler: cosine\nwarmup_steps: 2\nmicro_batch_size: 2\nbf16: false\n"
        "output_dir: " +
        (tmp_.path() / name).string() + "\n" + extra;
    auto loaded = LoadTrainConfigFile(
        testing::WriteConfig(tmp_.path(), tmp_.path() / data, yaml, name + ".yaml"), {});
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    auto run = std::make_unique<RunResult>();
    if (!loaded.ok()) {
      run->status = loaded.status();
      return run;
    }
    options.device = "cpu";
    options.threads = 1;
    std::atomic<bool> stop{false};
    run->status = RunTrainingJob(loaded->config, options, run->obs, stop);
    return run;
  }

  std::string Continue(const std::string& from) {
    return "lora_model_dir: " + (tmp_.path() / from).string() + "\n";
  }

  TempDir tmp_{"continue-guard"};
};

TEST_F(ContinueGuardrailsTest, ShuffledVocabularyDriftsSameDistributionDoesNot) {
  auto first = Train("first", "a.jsonl", "max_steps: 20\n");
  ASSERT_TRUE(first->status.ok()) << first->status;
  EXPECT_TRUE(first->obs.OfType("data_drift").empty()) << "a fresh run has nothing to compare";

  auto same = Train("same", "same.jsonl", Continue("first") + "max_steps: 2\n");
  ASSERT_TRUE(same->status.ok()) << same->status;
  EXPECT_TRUE(same->obs.OfType("data_drift").empty());
  EXPECT_EQ(same->obs.OfType("step").size(), 2u);

  auto shuffled = Train("shuffled", "rot13.jsonl", Continue("first") + "max_steps: 2\n");
  ASSERT_TRUE(shuffled->status.ok()) << shuffled->status;  // drift_policy warn: trains on
  auto drift = shuffled->obs.OfType("data_drift");
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0]["verdict"], "warn");
  EXPECT_EQ(drift[0]["drifted"], true);
  EXPECT_GT(drift[0]["js"].get<double>(), 0.2) << drift[0].dump();
  EXPECT_GT(drift[0]["loss"].get<double>(), drift[0]["recorded_loss"].get<double>());
  EXPECT_NE(drift[0]["message"].get<std::string>().find("looks unlike"), std::string::npos);
  EXPECT_EQ(shuffled->obs.OfType("step").size(), 2u);
  // The record comes before any step.
  EXPECT_EQ(shuffled->obs.records.front()["type"], "resume");

  auto refused =
      Train("refused", "rot13.jsonl", Continue("first") + "max_steps: 2\ndrift_policy: fail\n");
  EXPECT_EQ(refused->status.code(), absl::StatusCode::kFailedPrecondition) << refused->status;
  EXPECT_NE(std::string(refused->status.message()).find("drift_policy: fail"), std::string::npos);
  EXPECT_NE(std::string(refused->status.message()).find("JS "), std::string::npos);
  ASSERT_EQ(refused->obs.OfType("data_drift").size(), 1u);
  EXPECT_EQ(refused->obs.OfType("data_drift")[0]["verdict"], "fail");
  EXPECT_TRUE(refused->obs.OfType("step").empty());
  EXPECT_TRUE(refused->obs.OfType("start").empty());
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() / "refused"));
}

TEST_F(ContinueGuardrailsTest, ForeignAdapterGetsTheLossComparisonOnly) {
  auto first = Train("first", "a.jsonl", "max_steps: 6\n");
  ASSERT_TRUE(first->status.ok()) << first->status;
  // Another tool's adapter: PEFT files and an HF trainer_state.json, no sidecar.
  std::filesystem::create_directories(tmp_.path() / "foreign");
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "trainer_state.json"}) {
    std::filesystem::copy_file(tmp_.path() / "first" / f, tmp_.path() / "foreign" / f);
  }
  auto run = Train("cont", "rot13.jsonl",
                   Continue("foreign") + "max_steps: 2\ndrift_loss_ratio_threshold: 0.01\n");
  ASSERT_TRUE(run->status.ok()) << run->status;
  auto drift = run->obs.OfType("data_drift");
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_TRUE(drift[0]["js"].is_null());
  EXPECT_EQ(drift[0]["profile_available"], false);
  EXPECT_TRUE(drift[0]["recorded_loss"].is_number()) << "from trainer_state.json";
  EXPECT_NE(drift[0]["message"].get<std::string>().find("no data profile"), std::string::npos);
  // No recorded rates: the schedule restarts (and says why).
  auto lr = run->obs.OfType("lr_policy");
  ASSERT_EQ(lr.size(), 1u);
  EXPECT_EQ(lr[0]["policy"], "restart");
  EXPECT_EQ(lr[0]["peak_learning_rate"], 0.01);

  auto refused =
      Train("cont2", "a.jsonl", Continue("foreign") + "max_steps: 2\nresume_lr_policy: continue\n");
  EXPECT_EQ(refused->status.code(), absl::StatusCode::kFailedPrecondition) << refused->status;
  EXPECT_NE(std::string(refused->status.message()).find("resume_lr_policy"), std::string::npos);
  EXPECT_TRUE(refused->obs.OfType("step").empty());
}

TEST_F(ContinueGuardrailsTest, ContinueStartsAtTheLastRateAndRewarmPeaksAtTheScaledPeak) {
  auto first = Train("first", "a.jsonl", "max_steps: 8\n");
  ASSERT_TRUE(first->status.ok()) << first->status;
  const double last = first->Rates().back();
  ASSERT_GT(last, 0.0);
  auto sidecar =
      nlohmann::json::parse(testing::ReadText(tmp_.path() / "first" / "lorad_adapter.json"));
  EXPECT_EQ(sidecar["learning_rate"].get<double>(), last);
  EXPECT_EQ(sidecar["peak_learning_rate"].get<double>(), 0.01);

  auto cont =
      Train("cont", "a.jsonl", Continue("first") + "max_steps: 4\nresume_lr_policy: continue\n");
  ASSERT_TRUE(cont->status.ok()) << cont->status;
  const auto rates = cont->Rates();
  ASSERT_EQ(rates.size(), 4u);
  EXPECT_EQ(rates[0], last);  // exactly
  EXPECT_TRUE(std::is_sorted(rates.rbegin(), rates.rend()));
  auto lr = cont->obs.OfType("lr_policy");
  ASSERT_EQ(lr.size(), 1u);
  EXPECT_EQ(lr[0]["policy"], "continue");
  EXPECT_EQ(lr[0]["first_learning_rates"][0].get<double>(), last);
  EXPECT_EQ(lr[0]["previous_last_learning_rate"].get<double>(), last);

  // The default with a known history: rewarm to 0.5 × 0.01 after the 2-step warmup.
  auto rewarm = Train("rewarm", "a.jsonl", Continue("first") + "max_steps: 10\n");
  ASSERT_TRUE(rewarm->status.ok()) << rewarm->status;
  const auto rw = rewarm->Rates();
  EXPECT_EQ(rewarm->obs.OfType("lr_policy").at(0)["policy"], "rewarm");
  EXPECT_EQ(rw[0], 0.0);
  EXPECT_EQ(*std::max_element(rw.begin(), rw.end()), 0.5 * 0.01);
  EXPECT_EQ(rw[2], 0.5 * 0.01);

  // A third run continues the second: its peak is the second's (scaled) peak.
  auto third =
      Train("third", "a.jsonl", Continue("rewarm") + "max_steps: 6\nresume_lr_scale: 0.5\n");
  ASSERT_TRUE(third->status.ok()) << third->status;
  const auto r3 = third->Rates();
  EXPECT_EQ(*std::max_element(r3.begin(), r3.end()), 0.5 * (0.5 * 0.01));

  auto restart =
      Train("restart", "a.jsonl", Continue("first") + "max_steps: 6\nresume_lr_policy: restart\n");
  ASSERT_TRUE(restart->status.ok()) << restart->status;
  const auto rs = restart->Rates();
  EXPECT_EQ(rs[0], 0.0);
  EXPECT_EQ(*std::max_element(rs.begin(), rs.end()), 0.01);
}

TEST_F(ContinueGuardrailsTest, ExactResumeOfAContinuedRunKeepsItsSchedule) {
  auto first = Train("first", "a.jsonl", "max_steps: 4\n");
  ASSERT_TRUE(first->status.ok()) << first->status;
  auto straight = Train("straight", "a.jsonl", Continue("first") + "max_steps: 8\n");
  ASSERT_TRUE(straight->status.ok()) << straight->status;

  RunOptions interrupted;
  interrupted.stop_after = 3;
  auto part1 = Train("split", "a.jsonl", Continue("first") + "max_steps: 8\n", interrupted);
  EXPECT_EQ(part1->status.code(), absl::StatusCode::kCancelled) << part1->status;
  RunOptions resume;
  resume.resume = "auto";
  auto part2 = Train("split", "a.jsonl", Continue("first") + "max_steps: 8\n", resume);
  ASSERT_TRUE(part2->status.ok()) << part2->status;
  EXPECT_EQ(part2->obs.OfType("resume").at(0)["mode"], "exact");
  EXPECT_TRUE(part2->obs.OfType("lr_policy").empty()) << "an exact resume is not a continuation";
  std::vector<double> joined = part1->Rates();
  for (double r : part2->Rates()) joined.push_back(r);
  EXPECT_EQ(joined, straight->Rates());
  EXPECT_EQ(testing::ReadText(tmp_.path() / "split" / "adapter_model.safetensors"),
            testing::ReadText(tmp_.path() / "straight" / "adapter_model.safetensors"));
}

}  // namespace
}  // namespace lorad
