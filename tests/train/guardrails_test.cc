// The guardrails' judgements without a model: data drift verdicts, the
// adapter history they read, early stopping as HF counts it, the overfitting
// pattern, and the divergence rules (non-finite values, spikes for K steps,
// skip_step's limit).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/train/tiny_run_fixture.h"
#include "worker/train/adapter_history.h"
#include "worker/train/checkpoint_dir.h"
#include "worker/train/divergence_guard.h"
#include "worker/train/drift_check.h"
#include "worker/train/early_stopping.h"
#include "worker/train/overfit_detector.h"

namespace lorad {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

DataProfile Profile(const std::vector<std::vector<int32_t>>& texts) {
  std::vector<Sample> samples;
  for (const auto& ids : texts) {
    Sample s;
    s.input_ids = ids;
    s.labels.assign(ids.begin(), ids.end());
    samples.push_back(s);
  }
  return ComputeDataProfile(samples, "fp");
}

TEST(DriftCheckTest, SameDistributionPassesAndShuffledVocabularyDrifts) {
  const DataProfile old_data = Profile({{1, 2, 3, 4, 5, 1, 2}, {3, 4, 5, 6}});
  AdapterHistory h;
  h.profile = old_data;
  h.last_train_loss = 1.1;
  DriftReport same = AssessDrift(h, old_data, 1.2, 8, {});
  ASSERT_TRUE(same.js.has_value());
  EXPECT_EQ(*same.js, 0.0);
  EXPECT_FALSE(same.drifted);
  EXPECT_EQ(same.message.rfind("new data looks like the adapter's training data: JS 0.00", 0), 0u)
      << same.message;

  // The same texts with the vocabulary permuted: disjoint token sets.
  const DataProfile shuffled = Profile({{11, 12, 13, 14, 15, 11, 12}, {13, 14, 15, 16}});
  DriftReport drift = AssessDrift(h, shuffled, 3.2, 8, {});
  EXPECT_EQ(*drift.js, 1.0);
  EXPECT_NEAR(*drift.loss_ratio, 3.2 / 1.1, 1e-12);
  EXPECT_TRUE(drift.drifted);
  EXPECT_NE(drift.message.find("new data looks unlike the adapter's training data: JS 1.00"),
            std::string::npos)
      << drift.message;
  EXPECT_NE(drift.message.find("loss 3.2 vs 1.1 at the end of training"), std::string::npos)
      << drift.message;
  const nlohmann::json r = drift.ToJson("fail");
  EXPECT_EQ(r["type"], "data_drift");
  EXPECT_EQ(r["verdict"], "fail");
  EXPECT_EQ(r["js"], 1.0);
  EXPECT_EQ(r["sample_rows"], 8);

  // Loss alone can drift the verdict: same tokens, far worse loss.
  EXPECT_TRUE(AssessDrift(h, old_data, 1.1 * 1.6, 8, {}).drifted);
  EXPECT_FALSE(AssessDrift(h, old_data, 1.1 * 1.4, 8, {}).drifted);
}

TEST(DriftCheckTest, ForeignAdapterComparesOnlyTheLoss) {
  AdapterHistory foreign;
  foreign.last_train_loss = 1.0;
  DriftReport r = AssessDrift(foreign, Profile({{1, 2}}), 2.0, 4, {});
  EXPECT_FALSE(r.js.has_value());
  EXPECT_TRUE(r.drifted);
  EXPECT_NE(r.message.find("no data profile (not trained by lorad)"), std::string::npos)
      << r.message;
  EXPECT_TRUE(r.ToJson("warn")["js"].is_null());
  EXPECT_EQ(r.ToJson("warn")["profile_available"], false);
  DriftReport none = AssessDrift(AdapterHistory{}, Profile({{1, 2}}), 2.0, 4, {});
  EXPECT_FALSE(none.drifted);
  EXPECT_NE(none.message.find("no recorded training loss to compare"), std::string::npos)
      << none.message;
}

TEST(DriftCheckTest, SampleRowsSpreadOverTheData) {
  EXPECT_EQ(DriftSampleRows(4, 16), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(DriftSampleRows(100, 4), (std::vector<int64_t>{0, 25, 50, 75}));
  EXPECT_TRUE(DriftSampleRows(0, 16).empty());
}

TEST(AdapterHistoryTest, ReadsTheSidecarOrAForeignTrainerState) {
  testing::TempDir tmp("history");
  const DataProfile profile = Profile({{1, 2, 3}});
  nlohmann::json p = profile.ToJson();
  p["final_train_loss"] = 0.75;
  testing::WriteText(tmp.path() / "lorad_adapter.json",
                     nlohmann::json({{"learning_rate", 1e-5},
                                     {"peak_learning_rate", 2e-4},
                                     {"lr_policy", "rewarm"},
                                     {"step", 40},
                                     {"data_profile", p}})
                         .dump());
  AdapterHistory h = ReadAdapterHistory(tmp.path());
  EXPECT_TRUE(h.has_sidecar);
  EXPECT_TRUE(h.lr_known());
  EXPECT_EQ(*h.last_learning_rate, 1e-5);
  EXPECT_EQ(*h.peak_learning_rate, 2e-4);
  EXPECT_EQ(h.lr_policy, "rewarm");
  EXPECT_EQ(h.step, 40);
  ASSERT_TRUE(h.profile.has_value());
  EXPECT_EQ(*h.last_train_loss, 0.75);
  EXPECT_TRUE(h.notes.empty());

  testing::TempDir foreign("history-foreign");
  testing::WriteText(foreign.path() / "trainer_state.json",
                     R"({"log_history": [{"loss": 2.5, "step": 10}, {"loss": 1.25, "step": 20},
                        {"eval_loss": 1.5, "step": 20}, {"train_runtime": 9.0}]})");
  AdapterHistory f = ReadAdapterHistory(foreign.path());
  EXPECT_FALSE(f.has_sidecar);
  EXPECT_FALSE(f.lr_known());
  EXPECT_FALSE(f.profile.has_value());
  EXPECT_EQ(*f.last_train_loss, 1.25);
  EXPECT_EQ(f.train_loss_source, "trainer_state.json");

  testing::WriteText(foreign.path() / "lorad_adapter.json", "{not json");
  EXPECT_EQ(ReadAdapterHistory(foreign.path()).notes.size(), 1u);
}

TEST(AdapterHistoryTest, FinalLossesAreTheMeanOfTheLastLoggedAndTheLastEval) {
  TrainingProgress p;
  p.global_step = 12;
  p.last_loss = 9.0;  // one noisy step: not the reference
  for (int i = 1; i <= 12; ++i)
    p.log_history.push_back({{"step", i}, {"loss", i <= 2 ? 100.0 : 1.0 + (i % 2)}});
  p.log_history.push_back({{"type", "eval"}, {"step", 12}, {"eval_loss", 1.75}});
  DataProfile profile;
  RecordFinalLosses(p, &profile);
  EXPECT_DOUBLE_EQ(*profile.final_train_loss, 1.5);  // steps 3..12: five 1.0, five 2.0
  EXPECT_EQ(*profile.final_eval_loss, 1.75);
  TrainingProgress none;
  DataProfile empty;
  RecordFinalLosses(none, &empty);
  EXPECT_FALSE(empty.final_train_loss.has_value());
}

TEST(EarlyStoppingTest, StopsAfterPatienceEvaluationsWithoutImprovement) {
  EarlyStopping e(2, 0.0);
  EXPECT_TRUE(e.Observe(10, 3.0).new_best);
  EXPECT_TRUE(e.Observe(20, 2.0).new_best);
  auto d = e.Observe(30, 2.5);
  EXPECT_FALSE(d.new_best);
  EXPECT_FALSE(d.stop);
  EXPECT_EQ(d.evals_without_improvement, 1);
  d = e.Observe(40, 2.1);
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(*e.best_step(), 20);
  EXPECT_EQ(e.best_loss(), 2.0);
}

TEST(EarlyStoppingTest, GainsBelowTheThresholdDoNotCountButBecomeTheBest) {
  EarlyStopping e(2, 0.1);
  e.Observe(1, 2.0);
  auto d = e.Observe(2, 1.95);  // better, but by less than 0.1
  EXPECT_TRUE(d.new_best);
  EXPECT_EQ(d.evals_without_improvement, 1);
  d = e.Observe(3, 1.9);  // 0.05 below the new best: still no improvement
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(*e.best_step(), 3);
  EarlyStopping nan_run(1, 0.0);
  EXPECT_TRUE(nan_run.Observe(1, kNaN).stop);  // a non-finite loss never improves
  EXPECT_FALSE(nan_run.best_step().has_value());
  EarlyStopping off(0, 0.0);
  for (int i = 1; i < 10; ++i) EXPECT_FALSE(off.Observe(i, i).stop);
}

TEST(OverfitDetectorTest, FiresOnceWhenEvalRisesWhileTrainFalls) {
  OverfitDetector d(3);
  EXPECT_FALSE(d.Observe({10, 2.0, 2.2}));
  EXPECT_FALSE(d.Observe({20, 1.5, 2.0}));  // both fall: learning
  EXPECT_FALSE(d.Observe({30, 1.2, 2.1}));
  auto seen = d.Observe({40, 1.0, 2.3});  // 2.0 → 2.1 → 2.3 while 1.5 → 1.2 → 1.0
  ASSERT_TRUE(seen.has_value());
  ASSERT_EQ(seen->size(), 3u);
  EXPECT_EQ(seen->front().step, 20);
  EXPECT_FALSE(d.Observe({50, 0.9, 2.4}));   // same episode: said once
  EXPECT_FALSE(d.Observe({60, 0.8, 2.35}));  // broken
  EXPECT_FALSE(d.Observe({70, 0.7, 2.4}));
  EXPECT_TRUE(d.Observe({80, 0.6, 2.5}));  // a new episode
  OverfitDetector off(0);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(off.Observe({i, 1.0 / (i + 1), 1.0 + i}));
}

TEST(DivergenceGuardTest, NonFiniteValuesFailOrSkipAtOnce) {
  DivergenceGuard fail({});
  EXPECT_EQ(fail.Check(1, 2.0, 1.0).action, DivergenceGuard::Action::kApply);
  auto v = fail.Check(2, kNaN, 1.0);
  EXPECT_EQ(v.action, DivergenceGuard::Action::kFail);
  EXPECT_EQ(v.reason, "non-finite loss");
  EXPECT_EQ(v.first_bad_step, 2);
  const std::string message = fail.Message(2, kNaN, 1.0, v);
  EXPECT_NE(message.find("step 2"), std::string::npos) << message;
  EXPECT_NE(message.find("loss nan"), std::string::npos) << message;
  EXPECT_EQ(fail.Record(2, kNaN, 1.0, v)["loss"], nullptr);
  EXPECT_EQ(fail.Check(3, 2.0, INFINITY).reason, "non-finite gradient norm");

  DivergenceOptions o;
  o.skip_step = true;
  DivergenceGuard skip(o);
  for (int64_t s = 1; s <= DivergenceGuard::kMaxConsecutiveSkips; ++s) {
    EXPECT_EQ(skip.Check(s, kNaN, kNaN).action, DivergenceGuard::Action::kSkip) << s;
  }
  v = skip.Check(99, kNaN, kNaN);
  EXPECT_EQ(v.action, DivergenceGuard::Action::kFail);
  EXPECT_NE(v.reason.find("already skipped"), std::string::npos) << v.reason;
}

TEST(DivergenceGuardTest, LossAboveFactorTimesMovingAverageForKSteps) {
  DivergenceOptions o;
  o.factor = 4;
  o.patience = 3;
  o.window = 5;
  DivergenceGuard g(o);
  // Spikes before the average has kMinAverageSteps steps are not judged.
  EXPECT_EQ(g.Check(1, 2.0, 1).action, DivergenceGuard::Action::kApply);
  for (int64_t s = 2; s <= 6; ++s) EXPECT_TRUE(g.Check(s, 1.0, 1).reason.empty());
  // Average of the last 5 accepted: 1.0.  Two spikes, a normal step: no divergence.
  EXPECT_TRUE(g.Check(7, 4.5, 1).reason.empty());
  EXPECT_TRUE(g.Check(8, 4.5, 1).reason.empty());
  EXPECT_TRUE(g.Check(9, 1.0, 1).reason.empty());
  // Three in a row: divergence at the third, the streak starting at the first.
  EXPECT_TRUE(g.Check(10, 5.0, 1).reason.empty());
  EXPECT_TRUE(g.Check(11, 6.0, 1).reason.empty());
  auto v = g.Check(12, 7.0, 1);
  EXPECT_EQ(v.action, DivergenceGuard::Action::kFail);
  EXPECT_EQ(v.consecutive, 3);
  EXPECT_EQ(v.first_bad_step, 10);
  EXPECT_DOUBLE_EQ(v.moving_average, 1.0);  // spikes never enter the average
  EXPECT_NE(v.reason.find("above 4 × its moving average for 3 consecutive steps"),
            std::string::npos)
      << v.reason;
}

TEST(DivergenceGuardTest, CheckpointsWrittenWhileDivergingAreSetAside) {
  testing::TempDir tmp("set-aside");
  for (int step : {2, 4, 6}) {
    std::filesystem::create_directories(tmp.path() / ("checkpoint-" + std::to_string(step)));
  }
  auto moved = SetAsideCheckpoints(tmp.path(), 4);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->size(), 2u);
  auto left = ListCheckpointDirs(tmp.path());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].first, 2);
  EXPECT_TRUE(std::filesystem::is_directory(tmp.path() / "diverged-checkpoint-4"));
  EXPECT_TRUE(std::filesystem::is_directory(tmp.path() / "diverged-checkpoint-6"));
}

}  // namespace
}  // namespace lorad
