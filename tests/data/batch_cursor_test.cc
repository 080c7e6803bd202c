#include "worker/data/batch_cursor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "worker/data/seeded_shuffle.h"
#include "worker/data/sequence_packer.h"

namespace lorad {
namespace {

TokenizedDataset Dataset(int n) {
  TokenizedDataset ds;
  for (int i = 0; i < n; ++i) {
    // Distinct first token per sample identifies it in batches.
    ds.train.push_back({{1000 + i, 1, 2}, {1000 + i, 1, 2}});
  }
  ds.train_rows = OneSamplePerRow(n);
  ds.sequence_len = 8;
  return ds;
}

std::vector<int64_t> FirstTokens(const Batch& b) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < b.rows; ++r) out.push_back(b.input_ids[static_cast<size_t>(r * b.cols)]);
  return out;
}

TEST(SplitMix64, MatchesTheReferenceSequence) {
  // Reference outputs of splitmix64.c (Vigna) for state 0.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.Next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(rng.Next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(rng.Next(), 0x06C45D188009454FULL);
}

TEST(SeededPermutation, IsAPermutationDeterministicAndSeedDependent) {
  auto a = SeededPermutation(100, 42, 0);
  auto b = SeededPermutation(100, 42, 0);
  auto c = SeededPermutation(100, 42, 1);
  auto d = SeededPermutation(100, 43, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(100);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
}

TEST(BatchCursor, EachEpochVisitsEveryRowOnceInASeededOrder) {
  TokenizedDataset ds = Dataset(10);
  BatchCursor cursor(ds, /*micro_batch_size=*/3, /*seed=*/7);
  EXPECT_EQ(cursor.micro_batches_per_epoch(), 4);
  std::vector<int64_t> epoch0, epoch1;
  for (int i = 0; i < 4; ++i) {
    Batch b = cursor.Next();
    EXPECT_EQ(b.rows, i < 3 ? 3 : 1);  // drop_last=False
    for (int64_t t : FirstTokens(b)) epoch0.push_back(t);
  }
  EXPECT_DOUBLE_EQ(cursor.epoch_float(), 1.0);
  for (int i = 0; i < 4; ++i) {
    for (int64_t t : FirstTokens(cursor.Next())) epoch1.push_back(t);
  }
  EXPECT_EQ(cursor.state().epoch, 1);
  EXPECT_NE(epoch0, epoch1);
  std::sort(epoch0.begin(), epoch0.end());
  std::sort(epoch1.begin(), epoch1.end());
  EXPECT_EQ(epoch0, epoch1);
  EXPECT_EQ(epoch0.front(), 1000);
  EXPECT_EQ(epoch0.back(), 1009);
}

TEST(BatchCursor, RestoringMidEpochContinuesTheExactSequence) {
  TokenizedDataset ds = Dataset(11);
  BatchCursor straight(ds, 2, 1234);
  std::vector<std::vector<int64_t>> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(straight.Next().input_ids);

  BatchCursor first(ds, 2, 1234);
  for (int i = 0; i < 9; ++i) first.Next();  // into the second epoch
  nlohmann::json saved = nlohmann::json::parse(first.state().ToJson().dump());
  auto state = BatchCursor::State::FromJson(saved);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, first.state());

  BatchCursor resumed(ds, 2, /*seed=*/999);  // the saved seed wins
  ASSERT_TRUE(resumed.Restore(*state).ok());
  EXPECT_DOUBLE_EQ(resumed.epoch_float(), first.epoch_float());
  for (int i = 9; i < 20; ++i) EXPECT_EQ(resumed.Next().input_ids, expected[i]) << "batch " << i;
}

TEST(BatchCursor, StateJsonValidated) {
  EXPECT_FALSE(BatchCursor::State::FromJson({{"epoch", -1}, {"position", 0}, {"seed", "1"}}).ok());
  EXPECT_FALSE(BatchCursor::State::FromJson({{"epoch", 0}, {"position", 0}, {"seed", 1}}).ok());
  EXPECT_FALSE(
      BatchCursor::State::FromJson({{"epoch", 0}, {"position", 0}, {"seed", "99999999999999999999"}})
          .ok());
  auto s = BatchCursor::State::FromJson({{"epoch", 2}, {"position", 5}, {"seed", "18446744073709551615"}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->seed, UINT64_MAX);
  TokenizedDataset ds = Dataset(4);
  BatchCursor c(ds, 1, 0);
  EXPECT_EQ(c.Restore({0, 5, 0}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(BatchCursor, OptimizerStepsGroupMicroBatchesWithinAnEpoch) {
  // 10 rows, mbs 3 → 4 micro-batches; GA 3 → steps of 3 and 1 micro-batches.
  EXPECT_EQ(BatchCursor::StepsPerEpoch(10, 3, 3), 2);
  EXPECT_EQ(BatchCursor::StepsPerEpoch(10, 3, 2), 2);
  EXPECT_EQ(BatchCursor::StepsPerEpoch(10, 3, 8), 1);
  EXPECT_EQ(BatchCursor::StepsPerEpoch(12, 3, 4), 1);
  TokenizedDataset ds = Dataset(10);
  BatchCursor cursor(ds, 3, 5);
  EXPECT_EQ(cursor.NextStep(3).size(), 3u);
  EXPECT_EQ(cursor.NextStep(3).size(), 1u);  // partial last group of epoch 0
  EXPECT_EQ(cursor.state().epoch, 0);
  EXPECT_EQ(cursor.NextStep(3).size(), 3u);  // epoch 1 starts a fresh group
  EXPECT_EQ(cursor.state().epoch, 1);
}

}  // namespace
}  // namespace lorad
