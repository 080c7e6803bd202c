#include "client/loss_plot.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include "absl/strings/str_split.h"

#include "client/table_printer.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

// Column (in display cells) of the first non-blank plot character in a row,
// after the "LABEL ┤" prefix.
int FirstMarkColumn(const std::string& row) {
  const size_t bar = row.find("┤") != std::string::npos ? row.find("┤") : row.find("│");
  const std::string plot = row.substr(bar + 3);  // the bar is 3 UTF-8 bytes
  size_t col = 0;
  for (size_t i = 0; i < plot.size();) {
    const unsigned char c = plot[i];
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    if (c != ' ') return static_cast<int>(col);
    i += len;
    ++col;
  }
  return -1;
}

TEST(LossPlotTest, DecreasingCurveGoesFromTopLeftToBottomRight) {
  LossPlot plot;
  for (int s = 1; s <= 100; ++s) plot.AddTrain(s, 3.0 * std::exp(-s / 30.0));
  const std::string out = plot.Render(60, 10);
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 13u);  // 10 rows + axis + step labels + legend
  for (int r = 0; r < 10; ++r) EXPECT_EQ(DisplayWidth(lines[r]), 60u) << lines[r];
  // Highest loss at step 1: the top row's first mark is at the left edge;
  // the lowest loss (step 100) is in the bottom row at the right.
  EXPECT_EQ(FirstMarkColumn(lines[0]), 0);
  EXPECT_GT(FirstMarkColumn(lines[9]), 30);
  EXPECT_THAT(lines[0], HasSubstr("2.9"));   // top label ≈ max loss (3e^{-1/30})
  EXPECT_THAT(lines[9], HasSubstr("0.107"));  // bottom label = min loss
  EXPECT_THAT(lines[11], HasSubstr("step 1"));
  EXPECT_THAT(lines[11], HasSubstr("100"));
  EXPECT_THAT(lines[12], HasSubstr("100 points"));
  // Braille characters are used for the curve.
  EXPECT_THAT(out, HasSubstr("\xE2\xA0"));  // U+28xx prefix
}

TEST(LossPlotTest, EvalPointsAreMarked) {
  LossPlot plot;
  for (int s = 1; s <= 20; ++s) plot.AddTrain(s, 2.0);
  plot.AddEval(10, 1.0);
  plot.AddEval(20, 0.5);
  const std::string out = plot.Render(50, 8);
  const auto lines = Lines(out);
  // Lowest value (0.5, eval at the last step) is in the bottom row, at the right edge.
  EXPECT_THAT(lines[7], HasSubstr("●"));
  EXPECT_THAT(out, HasSubstr("eval loss (last 0.5)"));
  int marks = 0;
  for (size_t p = out.find("●"); p != std::string::npos; p = out.find("●", p + 1)) ++marks;
  EXPECT_EQ(marks, 3);  // two points + the legend
}

TEST(LossPlotTest, SkipsNonFiniteAndHandlesFlatAndEmpty) {
  LossPlot empty;
  EXPECT_EQ(empty.Render(40, 5), "no loss recorded yet\n");
  LossPlot flat;
  flat.AddTrain(1, 1.0);
  flat.AddTrain(2, NAN);
  flat.AddTrain(3, INFINITY);
  EXPECT_EQ(flat.train_points(), 1u);
  const std::string out = flat.Render(40, 5);
  EXPECT_THAT(out, HasSubstr("2 non-finite skipped"));
  EXPECT_THAT(out, HasSubstr("\xE2\xA0"));
}

}  // namespace
}  // namespace lorad
