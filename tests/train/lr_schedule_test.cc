// The schedules against HF's formulas evaluated by hand.
#include "worker/train/lr_schedule.h"

#include <cmath>

#include <gtest/gtest.h>

namespace lorad {
namespace {

TEST(LrScheduleTest, WarmupStartsAtZeroAsHf) {
  // warmup 4 of 10: positions 0..3 → 0, .25, .5, .75; step 1 uses position 0.
  LrSchedule s(LrScheduler::kLinear, 1e-3, 4, 10);
  EXPECT_DOUBLE_EQ(s.RateForStep(1), 0.0);
  EXPECT_DOUBLE_EQ(s.RateForStep(2), 1e-3 * 0.25);
  EXPECT_DOUBLE_EQ(s.RateForStep(4), 1e-3 * 0.75);
  // Position 4 = end of warmup: linear gives (10-4)/(10-4) = 1.
  EXPECT_DOUBLE_EQ(s.RateForStep(5), 1e-3);
  // Position 7: (10-7)/6 = 0.5.
  EXPECT_DOUBLE_EQ(s.RateForStep(8), 1e-3 * 0.5);
}

TEST(LrScheduleTest, CosineMatchesHandComputedValues) {
  // warmup 2, total 10: position 6 → progress (6-2)/8 = 0.5 → 0.5(1+cos(pi/2)) = 0.5.
  EXPECT_NEAR(LrLambda(LrScheduler::kCosine, 6, 2, 10), 0.5, 1e-15);
  // Position 2 → progress 0 → 1; position 10 → progress 1 → 0.
  EXPECT_DOUBLE_EQ(LrLambda(LrScheduler::kCosine, 2, 2, 10), 1.0);
  EXPECT_NEAR(LrLambda(LrScheduler::kCosine, 10, 2, 10), 0.0, 1e-15);
  // Position 4 → progress 0.25 → 0.5(1+cos(pi/4)) = 0.853553390593...
  EXPECT_NEAR(LrLambda(LrScheduler::kCosine, 4, 2, 10), 0.5 * (1 + std::sqrt(0.5)), 1e-15);
  // Warmup position 1 of 2 → 0.5.
  EXPECT_DOUBLE_EQ(LrLambda(LrScheduler::kCosine, 1, 2, 10), 0.5);
}

TEST(LrScheduleTest, ConstantWithWarmup) {
  EXPECT_DOUBLE_EQ(LrLambda(LrScheduler::kConstant, 0, 3, 10), 0.0);
  EXPECT_DOUBLE_EQ(LrLambda(LrScheduler::kConstant, 2, 3, 10), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(LrLambda(LrScheduler::kConstant, 3, 3, 10), 1.0);
  EXPECT_DOUBLE_EQ(LrLambda(LrScheduler::kConstant, 9, 0, 10), 1.0);
}

TEST(LrScheduleTest, LinearNeverNegativePastTheEnd) {
  EXPECT_DOUBLE_EQ(LrLambda(LrScheduler::kLinear, 12, 0, 10), 0.0);
}

TEST(LrScheduleTest, WarmupRatioIsCeilOfRatioTimesTotal) {
  EXPECT_EQ(ResolveWarmupSteps(-1, 0.1, 25), 3);   // ceil(2.5)
  EXPECT_EQ(ResolveWarmupSteps(-1, 0.1, 30), 3);   // ceil(3.0)
  EXPECT_EQ(ResolveWarmupSteps(5, 0.5, 100), 5);   // steps win
  EXPECT_EQ(ResolveWarmupSteps(-1, -1, 100), 0);
}

TEST(LrScheduleTest, TotalStepsAsHfTrainer) {
  EXPECT_EQ(UpdateStepsPerEpoch(10, 4), 3);  // 4 + 4 + 2
  EXPECT_EQ(UpdateStepsPerEpoch(8, 4), 2);
  EXPECT_EQ(UpdateStepsPerEpoch(0, 4), 1);
  EXPECT_EQ(TotalTrainingSteps(0, 2.0, 3), 6);
  EXPECT_EQ(TotalTrainingSteps(0, 1.5, 3), 5);  // ceil(4.5)
  EXPECT_EQ(TotalTrainingSteps(7, 2.0, 3), 7);  // max_steps wins
}

}  // namespace
}  // namespace lorad
