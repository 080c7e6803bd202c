#include "worker/data/data_profile.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lorad {
namespace {

std::vector<Sample> Samples(const std::vector<std::vector<int32_t>>& rows) {
  std::vector<Sample> out;
  for (const auto& r : rows) out.push_back({r, r});
  return out;
}

TEST(DataProfile, CountsTopKRemainderAndLengths) {
  auto p = ComputeDataProfile(Samples({{1, 1, 1, 2}, {2, 3}, {1, 4, 5, 6, 7, 8}}), "fp", 2);
  EXPECT_EQ(p.total_tokens, 12);
  EXPECT_EQ(p.distinct_tokens, 8);
  ASSERT_EQ(p.top_tokens.size(), 2u);
  EXPECT_EQ(p.top_tokens[0], std::make_pair(1, int64_t{4}));
  EXPECT_EQ(p.top_tokens[1], std::make_pair(2, int64_t{2}));
  EXPECT_EQ(p.remainder_tokens, 6);
  EXPECT_EQ(p.samples, 3);
  EXPECT_EQ(p.min_length, 2);
  EXPECT_EQ(p.max_length, 6);
  EXPECT_DOUBLE_EQ(p.mean_length, 4.0);
  EXPECT_EQ(p.p50_length, 4);
  EXPECT_EQ(p.p90_length, 6);
  EXPECT_EQ(p.fingerprint, "fp");
}

TEST(DataProfile, JsonRoundTripAndValidation) {
  auto p = ComputeDataProfile(Samples({{5, 6, 6}, {7}}), "abc");
  p.final_train_loss = 1.25;
  auto back = DataProfile::FromJson(nlohmann::json::parse(p.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(), p.ToJson());
  EXPECT_EQ(*back->final_train_loss, 1.25);
  EXPECT_FALSE(back->final_eval_loss.has_value());
  nlohmann::json broken = p.ToJson();
  broken["remainder_tokens"] = 3;  // counts no longer add up
  EXPECT_FALSE(DataProfile::FromJson(broken).ok());
  broken = p.ToJson();
  broken.erase("lengths");
  auto st = DataProfile::FromJson(broken);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("lengths"), std::string::npos);
}

TEST(JensenShannonDivergence, ZeroForSameDataOneForDisjointSymmetric) {
  auto a = ComputeDataProfile(Samples({{1, 2, 3, 3}}), "a");
  auto b = ComputeDataProfile(Samples({{3, 3, 2, 1}}), "b");
  auto c = ComputeDataProfile(Samples({{7, 8, 9, 9}}), "c");
  EXPECT_NEAR(JensenShannonDivergence(a, b), 0.0, 1e-12);
  EXPECT_NEAR(JensenShannonDivergence(a, c), 1.0, 1e-12);
  // p = (1/2, 1/2), q = (1, 0): JS = 1.5 − 0.75·log2(3) by hand.
  auto d = ComputeDataProfile(Samples({{1, 2}}), "d");
  auto e = ComputeDataProfile(Samples({{1, 1}}), "e");
  const double want = 1.5 - 0.75 * std::log2(3.0);
  EXPECT_NEAR(JensenShannonDivergence(d, e), want, 1e-12);
  EXPECT_NEAR(JensenShannonDivergence(e, d), want, 1e-12);
}

TEST(JensenShannonDivergence, ShuffledVocabularyLooksDifferent) {
  // The guardrails' scenario: the same text with token ids permuted.
  std::vector<std::vector<int32_t>> rows, shuffled;
  for (int i = 0; i < 50; ++i) {
    std::vector<int32_t> r, s;
    for (int t = 0; t < 20; ++t) {
      int32_t id = (i * 7 + t * t) % 40;
      r.push_back(id);
      s.push_back((id * 13 + 5) % 40 + 40);
    }
    rows.push_back(r);
    shuffled.push_back(s);
  }
  auto a = ComputeDataProfile(Samples(rows), "a");
  auto b = ComputeDataProfile(Samples(shuffled), "b");
  EXPECT_GT(JensenShannonDivergence(a, b), 0.9);
  EXPECT_LT(JensenShannonDivergence(a, ComputeDataProfile(Samples(rows), "a2")), 1e-12);
}

}  // namespace
}  // namespace lorad
