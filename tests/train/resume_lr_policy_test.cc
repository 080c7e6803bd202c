// The learning-rate policies of a continued adapter: `continue` starts at the
// previous run's last rate exactly and decays from there, `rewarm` peaks at
// resume_lr_scale × the previous peak after its warmup, `restart` is the
// configured schedule; the defaults and refusals; an exact resume rebuilds the
// same schedule from what the checkpoint records.
#include "worker/train/resume_lr_policy.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace lorad {
namespace {

TrainConfig Config(LrScheduler kind = LrScheduler::kCosine) {
  TrainConfig c;
  c.learning_rate = 1e-3;
  c.lr_scheduler = kind;
  c.warmup_steps = 4;
  return c;
}

AdapterHistory Known(double last, double peak) {
  AdapterHistory h;
  h.has_sidecar = true;
  h.last_learning_rate = last;
  h.peak_learning_rate = peak;
  return h;
}

std::vector<double> Rates(const LrPlan& p, LrScheduler kind, int64_t total) {
  const LrSchedule s = p.Schedule(kind, total);
  std::vector<double> out;
  for (int64_t step = 1; step <= total; ++step) out.push_back(s.RateForStep(step));
  return out;
}

TEST(ResumeLrPolicyTest, ContinueStartsExactlyAtTheLastRateAndDecays) {
  const double last = 3.0517578125e-05 * 1.1;  // any double: must come back bit for bit
  for (LrScheduler kind : {LrScheduler::kCosine, LrScheduler::kLinear, LrScheduler::kConstant}) {
    TrainConfig c = Config(kind);
    c.resume_lr_policy = "continue";
    auto plan = ChooseResumeLrPlan(c, 20, Known(last, 2e-4));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->policy, "continue");
    EXPECT_EQ(plan->warmup_steps, 0);
    const auto rates = Rates(*plan, kind, 20);
    EXPECT_EQ(rates.front(), last);
    EXPECT_EQ(*std::max_element(rates.begin(), rates.end()), last);
    if (kind == LrScheduler::kConstant) {
      EXPECT_EQ(rates.back(), last);
    } else {
      EXPECT_TRUE(std::is_sorted(rates.rbegin(), rates.rend())) << "decays from there";
      EXPECT_LT(rates.back(), 0.2 * last);
    }
    EXPECT_EQ(plan->ToJson(kind, 20)["first_learning_rates"][0].get<double>(), last);
  }
}

TEST(ResumeLrPolicyTest, RewarmPeaksAtTheScaledPreviousPeak) {
  TrainConfig c = Config();
  c.warmup_steps = -1;  // no configured warmup: 5% of the steps, at least one
  c.resume_lr_scale = 0.3;
  auto plan = ChooseResumeLrPlan(c, 40, Known(1e-6, 2e-4));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->policy, "rewarm");  // the default when the rates are recorded
  EXPECT_EQ(plan->warmup_steps, 2);
  const auto rates = Rates(*plan, LrScheduler::kCosine, 40);
  EXPECT_EQ(rates[0], 0.0);  // HF: the first warmup step trains at rate 0
  EXPECT_EQ(*std::max_element(rates.begin(), rates.end()), 0.3 * 2e-4);
  EXPECT_EQ(rates[2], 0.3 * 2e-4);  // step warmup + 1
  EXPECT_TRUE(std::is_sorted(rates.begin() + 2, rates.end(), std::greater<double>()));
  // A configured warmup is used as is.
  c.warmup_steps = 6;
  EXPECT_EQ(ChooseResumeLrPlan(c, 40, Known(1e-6, 2e-4))->warmup_steps, 6);
}

TEST(ResumeLrPolicyTest, RewarmWarmupStaysShorterThanTheRun) {
  TrainConfig c = Config();
  c.warmup_steps = -1;
  EXPECT_EQ(RewarmWarmupSteps(c, 1), 0);
  EXPECT_EQ(RewarmWarmupSteps(c, 2), 1);
  EXPECT_EQ(RewarmWarmupSteps(c, 100), 5);
  c.warmup_ratio = 0.5;
  EXPECT_EQ(RewarmWarmupSteps(c, 10), 5);
  c.warmup_ratio = -1;
  c.warmup_steps = 50;
  EXPECT_EQ(RewarmWarmupSteps(c, 10), 9);
}

TEST(ResumeLrPolicyTest, RestartIsTheConfiguredScheduleAndTheDefaultWithoutHistory) {
  TrainConfig c = Config();
  auto plan = ChooseResumeLrPlan(c, 20, AdapterHistory{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->policy, "restart");
  EXPECT_EQ(plan->base_lr, 1e-3);
  EXPECT_EQ(plan->warmup_steps, 4);
  EXPECT_NE(plan->reason.find("records no learning rates"), std::string::npos) << plan->reason;
  c.resume_lr_policy = "restart";
  plan = ChooseResumeLrPlan(c, 20, Known(1e-5, 2e-4));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->policy, "restart");
  EXPECT_EQ(plan->base_lr, 1e-3);
  EXPECT_EQ(*plan->previous_peak, 2e-4);
}

TEST(ResumeLrPolicyTest, RewarmAndContinueNeedRecordedRates) {
  for (const char* policy : {"rewarm", "continue"}) {
    TrainConfig c = Config();
    c.resume_lr_policy = policy;
    AdapterHistory partial;
    partial.last_learning_rate = 1e-5;  // no peak
    for (const AdapterHistory& h : {AdapterHistory{}, partial}) {
      auto plan = ChooseResumeLrPlan(c, 20, h);
      EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition) << policy;
      EXPECT_NE(plan.status().message().find("resume_lr_policy: restart"), std::string::npos)
          << plan.status();
    }
  }
}

TEST(ResumeLrPolicyTest, ExactResumeRebuildsTheRecordedSchedule) {
  TrainConfig c = Config();
  c.warmup_steps = -1;
  auto rewarm = ChooseResumeLrPlan(c, 30, Known(1e-6, 4e-4));
  ASSERT_TRUE(rewarm.ok());
  const LrPlan restored = RestoredLrPlan(c, 30, rewarm->policy, rewarm->base_lr);
  EXPECT_EQ(Rates(restored, LrScheduler::kCosine, 30), Rates(*rewarm, LrScheduler::kCosine, 30));
  c.resume_lr_policy = "continue";
  auto cont = ChooseResumeLrPlan(c, 30, Known(7e-5, 4e-4));
  ASSERT_TRUE(cont.ok());
  EXPECT_EQ(Rates(RestoredLrPlan(c, 30, "continue", cont->base_lr), LrScheduler::kCosine, 30),
            Rates(*cont, LrScheduler::kCosine, 30));
  // Checkpoints without a recorded policy: the configured schedule, as before.
  const LrPlan old = RestoredLrPlan(c, 30, "", 1e-3);
  EXPECT_EQ(old.policy, "restart");
  EXPECT_EQ(old.base_lr, 1e-3);
  EXPECT_EQ(old.warmup_steps, 0);  // warmup unset in this config
}

}  // namespace
}  // namespace lorad
