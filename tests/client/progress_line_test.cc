#include "client/progress_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/table_printer.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

StepProgress Step(int64_t step, int64_t total, int attempt = 1) {
  StepProgress p;
  p.step = step;
  p.total_steps = total;
  p.loss = 1.23456;
  p.learning_rate = 2e-4;
  p.tokens_per_second = 1234;
  p.attempt = attempt;
  return p;
}

TEST(ProgressLineTest, RendersEveryField) {
  ProgressLine line;
  EXPECT_FALSE(line.has_step());
  line.Update(Step(10, 100), 5.0);
  line.Update(Step(20, 100), 10.0);  // 2 steps/s → 80 steps left = 40 s
  ASSERT_TRUE(line.EtaSeconds().has_value());
  EXPECT_DOUBLE_EQ(*line.EtaSeconds(), 40.0);
  const std::string s = line.Render(100);
  EXPECT_THAT(s, HasSubstr("step 20/100 "));
  EXPECT_THAT(s, HasSubstr(" 20%"));
  EXPECT_THAT(s, HasSubstr("loss 1.2346"));
  EXPECT_THAT(s, HasSubstr("lr 2.00e-04"));
  EXPECT_THAT(s, HasSubstr("1.2k tok/s"));
  EXPECT_THAT(s, HasSubstr("ETA 40s"));
  EXPECT_THAT(s, HasSubstr("█"));  // the bar
  EXPECT_LE(DisplayWidth(s), 100u);
}

TEST(ProgressLineTest, NarrowTerminalDropsTheBarThenCuts) {
  ProgressLine line;
  line.Update(Step(20, 100), 1);
  const std::string medium = line.Render(60);
  EXPECT_THAT(medium, Not(HasSubstr("█")));
  EXPECT_LE(DisplayWidth(medium), 60u);
  EXPECT_EQ(DisplayWidth(line.Render(20)), 20u);
}

TEST(ProgressLineTest, UnknownTotalHasNoBarNorEta) {
  ProgressLine line;
  line.Update(Step(5, 0), 1);
  line.Update(Step(6, 0), 2);
  EXPECT_FALSE(line.EtaSeconds().has_value());
  const std::string s = line.Render(120);
  EXPECT_THAT(s, HasSubstr("step 6 loss"));
  EXPECT_THAT(s, Not(HasSubstr("ETA")));
}

TEST(ProgressLineTest, NewAttemptResetsTheRateWindow) {
  ProgressLine line;
  line.Update(Step(10, 100), 0);
  line.Update(Step(20, 100), 100);  // slow: 0.1 step/s
  line.Update(Step(11, 100, 2), 200);  // resumed at step 11 on attempt 2
  EXPECT_FALSE(line.EtaSeconds().has_value());
  line.Update(Step(21, 100, 2), 210);  // 1 step/s now
  EXPECT_DOUBLE_EQ(*line.EtaSeconds(), 79.0);
  EXPECT_THAT(line.Render(120), HasSubstr("(attempt 2)"));
}

TEST(ProgressLineTest, Formatting) {
  EXPECT_EQ(FormatEta(45), "45s");
  EXPECT_EQ(FormatEta(192), "3m12s");
  EXPECT_EQ(FormatEta(7500), "2h05m");
  EXPECT_EQ(FormatEta(3 * 86400 + 4 * 3600), "3d04h");
  EXPECT_EQ(FormatCompact(950), "950");
  EXPECT_EQ(FormatCompact(1234), "1.2k");
  EXPECT_EQ(FormatCompact(56789), "57k");
  EXPECT_EQ(FormatCompact(3.4e6), "3.4M");
  EXPECT_EQ(RenderBar(0.5, 4), "██░░");
  EXPECT_EQ(RenderBar(0.0625, 2), "▏░");  // 1/8 of one cell
  EXPECT_EQ(RenderBar(1.5, 3), "███");
  EXPECT_EQ(DisplayWidth(RenderBar(0.37, 17)), 17u);
}

}  // namespace
}  // namespace lorad
