// Gradient accumulation normalises by the counted tokens of the whole
// optimizer step (transformers PR #34191): two rows as one micro-batch or as
// two accumulated micro-batches give the same loss and the same gradients.
#include "worker/train/train_step.h"

#include <cmath>

#include <gtest/gtest.h>

#include "worker/formats/model_config.h"
#include "tests/train/tiny_run_fixture.h"

namespace lorad {
namespace {

Batch MakeBatch(const std::vector<std::vector<int64_t>>& rows) {
  Batch b;
  b.rows = static_cast<int64_t>(rows.size());
  for (const auto& r : rows) b.cols = std::max<int64_t>(b.cols, static_cast<int64_t>(r.size()));
  for (const auto& r : rows) {
    for (int64_t c = 0; c < b.cols; ++c) {
      const bool real = c < static_cast<int64_t>(r.size());
      b.input_ids.push_back(real ? r[static_cast<size_t>(c)] : 0);
      b.labels.push_back(real ? r[static_cast<size_t>(c)] : -100);
      b.position_ids.push_back(real ? c : 0);
      b.segment_ids.push_back(real ? 1 : 0);
      if (real) ++b.tokens;
      if (real && c > 0) ++b.trained_tokens;
    }
  }
  return b;
}

std::vector<torch::Tensor> Grads(CausalLm& m) {
  std::vector<torch::Tensor> g;
  for (auto& [name, t] : m->LoraParameters()) g.push_back(t.grad().clone());
  return g;
}

TEST(TrainStepTest, AccumulationNormalisesByTheStepsCountedTokens) {
  const auto dir = testing::TinyModelDir();
  auto mc = LoadModelConfig(dir);
  ASSERT_TRUE(mc.ok());
  auto model = LoadCausalLm(dir, *mc, {});
  ASSERT_TRUE(model.ok()) << model.status();
  LoraSettings lora;
  lora.r = 4;
  lora.alpha = 8;
  lora.target_modules = {"all-linear"};
  ASSERT_TRUE((*model)->AddLora(lora, 7).ok());
  {
    // Non-zero B so that A gets gradients too.
    torch::NoGradGuard g;
    torch::manual_seed(3);
    for (auto& [name, t] : (*model)->LoraParameters()) {
      if (name.find("lora_B") != std::string::npos) t.normal_(0, 0.05);
    }
  }
  CausalLm m = *model;
  m->train();
  const std::vector<int64_t> long_row = {5, 17, 42, 99, 3, 64, 8, 21, 77, 150, 33, 2};
  const std::vector<int64_t> short_row = {11, 200, 45, 6};
  const Batch both = MakeBatch({long_row, short_row});
  const Batch first = MakeBatch({long_row});
  const Batch second = MakeBatch({short_row});

  StepLoss one = ForwardBackwardStep(m, {both}, false, torch::kCPU);
  auto g_one = Grads(m);
  for (auto& [name, t] : m->LoraParameters()) t.mutable_grad() = torch::Tensor();
  StepLoss two = ForwardBackwardStep(m, {first, second}, false, torch::kCPU);
  auto g_two = Grads(m);

  EXPECT_EQ(one.trained_tokens, 11 + 3);
  EXPECT_EQ(two.trained_tokens, 11 + 3);
  EXPECT_EQ(two.tokens, 16);
  EXPECT_NEAR(one.loss, two.loss, 1e-6 * std::abs(one.loss));
  ASSERT_EQ(g_one.size(), g_two.size());
  // fp32 sums in a different order (one padded batch vs two): elements near
  // zero differ by rounding, so the absolute tolerance scales with the tensor.
  // A wrong normalisation would be off by tens of percent.
  for (size_t i = 0; i < g_one.size(); ++i) {
    const double scale = g_one[i].abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(g_one[i], g_two[i], 1e-4, 1e-5 * scale))
        << i << ": max diff " << (g_one[i] - g_two[i]).abs().max().item<double>() << ", max "
        << scale;
  }
  // The mean of per-micro-batch means weights the short row's tokens ~4× more:
  // a visibly different number, which is what the normalisation avoids.
  const double mean_of_means = 0.5 * (EvalLoss(m, {first}, false, torch::kCPU) +
                                      EvalLoss(m, {second}, false, torch::kCPU));
  EXPECT_GT(std::abs(mean_of_means - two.loss), 1e-3);
  // And the step loss is the token-weighted mean of the two.
  const double weighted = (11 * EvalLoss(m, {first}, false, torch::kCPU) +
                           3 * EvalLoss(m, {second}, false, torch::kCPU)) / 14.0;
  EXPECT_NEAR(weighted, two.loss, 1e-5 * std::abs(weighted));
}

}  // namespace
}  // namespace lorad
