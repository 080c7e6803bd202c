// Packing layout and the batch arrays built from it.
#include "worker/data/sequence_packer.h"

#include <gtest/gtest.h>

#include "worker/data/batch_collator.h"

namespace lorad {
namespace {

using Rows = std::vector<std::vector<int64_t>>;

TEST(PackFirstFitDecreasing, LongestFirstIntoTheFirstRowWithRoom) {
  // Sorted: 6(#1) 5(#3) 4(#0) 3(#4) 2(#2) 2(#5); capacity 8.
  // 6→row0 (2 left); 5→row1 (3 left); 4→row2 (4 left); 3→row1 (0 left);
  // 2(#2)→row0 (0 left); 2(#5)→row2 (2 left).
  Rows rows = PackFirstFitDecreasing({4, 6, 2, 5, 3, 2}, 8);
  EXPECT_EQ(rows, (Rows{{1, 2}, {3, 4}, {0, 5}}));
}

TEST(PackFirstFitDecreasing, EveryRowWithinCapacityAndEverySampleOnce) {
  std::vector<int64_t> lengths;
  for (int i = 0; i < 500; ++i) lengths.push_back(1 + (i * 37) % 64);
  Rows rows = PackFirstFitDecreasing(lengths, 64);
  std::vector<int> seen(lengths.size(), 0);
  int64_t total = 0;
  for (const auto& row : rows) {
    int64_t len = 0;
    for (int64_t s : row) {
      len += lengths[s];
      ++seen[s];
    }
    EXPECT_LE(len, 64);
    EXPECT_GT(len, 0);
    total += len;
  }
  for (int c : seen) EXPECT_EQ(c, 1);
  // FFD is within 11/9 OPT + 1 of the lower bound ceil(total / capacity).
  EXPECT_LE(static_cast<double>(rows.size()), 11.0 / 9.0 * ((total + 63) / 64) + 1);
}

TEST(PackFirstFitDecreasing, EmptyInput) { EXPECT_TRUE(PackFirstFitDecreasing({}, 16).empty()); }

std::vector<Sample> ThreeSamples() {
  return {
      {{10, 11, 12}, {10, 11, 12}},           // all trained
      {{20, 21}, {-100, 21}},                 // prompt masked
      {{30, 31, 32, 33}, {-100, -100, 32, 33}},
  };
}

TEST(BatchCollator, PackedRowsRestartPositionsSegmentPerSampleFirstLabelMasked) {
  std::vector<Sample> samples = ThreeSamples();
  Rows rows = {{0, 1}, {2}};
  BatchCollator c(samples, rows, /*pad_id=*/0, /*packed=*/true);
  Batch b = c.Collate({0, 1});
  ASSERT_EQ(b.rows, 2);
  ASSERT_EQ(b.cols, 5);
  EXPECT_EQ(b.input_ids, (std::vector<int64_t>{10, 11, 12, 20, 21, 30, 31, 32, 33, 0}));
  EXPECT_EQ(b.labels, (std::vector<int64_t>{-100, 11, 12, -100, 21, -100, -100, 32, 33, -100}));
  EXPECT_EQ(b.position_ids, (std::vector<int64_t>{0, 1, 2, 0, 1, 0, 1, 2, 3, 0}));
  EXPECT_EQ(b.segment_ids, (std::vector<int64_t>{1, 1, 1, 2, 2, 1, 1, 1, 1, 0}));
  EXPECT_EQ(b.tokens, 9);
  // Counted after the shift: row0 11,12,21; row1 32,33.
  EXPECT_EQ(b.trained_tokens, 5);
}

TEST(BatchCollator, UnpackedRowsPaddedToLongestWithPadIdAndMaskedLabels) {
  std::vector<Sample> samples = ThreeSamples();
  Rows rows = OneSamplePerRow(3);
  BatchCollator c(samples, rows, /*pad_id=*/99, /*packed=*/false);
  Batch b = c.Collate({1, 0});
  ASSERT_EQ(b.rows, 2);
  ASSERT_EQ(b.cols, 3);
  EXPECT_EQ(b.input_ids, (std::vector<int64_t>{20, 21, 99, 10, 11, 12}));
  EXPECT_EQ(b.labels, (std::vector<int64_t>{-100, 21, -100, 10, 11, 12}));
  EXPECT_EQ(b.position_ids, (std::vector<int64_t>{0, 1, 0, 0, 1, 2}));
  EXPECT_EQ(b.segment_ids, (std::vector<int64_t>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(b.tokens, 5);
  EXPECT_EQ(b.trained_tokens, 3);  // 21 | 11, 12 (labels[0] is never predicted)
}

TEST(BatchCollator, PackedAndUnpackedCountTheSameTrainedTokens) {
  // Packing changes throughput, not what is learned: same counted labels.
  std::vector<Sample> samples = ThreeSamples();
  Rows packed = PackFirstFitDecreasing({3, 2, 4}, 16);
  Rows unpacked = OneSamplePerRow(3);
  Batch p = BatchCollator(samples, packed, 0, true).CollateRange(0, 1);
  Batch u = BatchCollator(samples, unpacked, 0, false).CollateRange(0, 3);
  EXPECT_EQ(p.trained_tokens, u.trained_tokens);
  EXPECT_EQ(p.tokens, u.tokens);
}

}  // namespace
}  // namespace lorad
