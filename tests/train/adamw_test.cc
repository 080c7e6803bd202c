// AdamW against torch.optim.AdamW's update written out by hand in doubles.
#include "worker/train/adamw.h"

#include <cmath>

#include <gtest/gtest.h>

namespace lorad {
namespace {

TEST(AdamWTest, TwoStepsMatchHandComputation) {
  torch::Tensor p = torch::tensor({0.5f, -1.0f, 2.0f}).requires_grad_(true);
  AdamWOptions opt;
  opt.weight_decay = 0.1;
  AdamW adam({{"p", p}}, opt);
  const double lr = 0.01;
  double w[3] = {0.5, -1.0, 2.0};
  double m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  const double grads[2][3] = {{0.3, -0.2, 1.5}, {-0.1, 0.4, 0.05}};
  for (int t = 1; t <= 2; ++t) {
    p.mutable_grad() = torch::tensor({static_cast<float>(grads[t - 1][0]),
                                      static_cast<float>(grads[t - 1][1]),
                                      static_cast<float>(grads[t - 1][2])});
    adam.Step(lr);
    for (int i = 0; i < 3; ++i) {
      const double g = static_cast<float>(grads[t - 1][i]);
      w[i] *= 1 - lr * opt.weight_decay;
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double mhat_scale = lr / (1 - std::pow(0.9, t));
      const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8;
      w[i] -= mhat_scale * m[i] / denom;
    }
  }
  EXPECT_EQ(adam.step_count(), 2);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i].item<double>(), w[i], 1e-6) << i;
  // Each step moves a weight by up to about lr (Adam normalises it), so the
  // two updates must be visible, not a no-op.
  EXPECT_GT(std::abs(p[0].item<double>() - 0.5), 0.01);
}

TEST(AdamWTest, StateRoundTripsAndContinuesIdentically) {
  auto make = [] { return torch::tensor({1.0f, 2.0f, -3.0f, 0.25f}).requires_grad_(true); };
  torch::Tensor a = make(), b = make();
  AdamW opt_a({{"w", a}}, {}), opt_b({{"w", b}}, {});
  a.mutable_grad() = torch::tensor({0.1f, 0.2f, 0.3f, -0.4f});
  opt_a.Step(1e-2);
  // b gets a's weights and state, then both take the same second step.
  {
    torch::NoGradGuard g;
    b.copy_(a);
  }
  ASSERT_TRUE(opt_b.ImportState(opt_a.ExportState(), opt_a.step_count()).ok());
  for (auto* t : {&a, &b}) t->mutable_grad() = torch::tensor({-0.5f, 0.1f, 0.0f, 0.7f});
  opt_a.Step(1e-2);
  opt_b.Step(1e-2);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(opt_b.ImportState({}, 1).ok());
}

TEST(AdamWTest, ClipGradNormReturnsNormBeforeClipping) {
  torch::Tensor x = torch::zeros({2}).requires_grad_(true);
  torch::Tensor y = torch::zeros({1}).requires_grad_(true);
  x.mutable_grad() = torch::tensor({3.0f, 0.0f});
  y.mutable_grad() = torch::tensor({4.0f});
  const double norm = ClipGradNorm({x, y}, 1.0);
  EXPECT_NEAR(norm, 5.0, 1e-6);
  const double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_NEAR(x.grad()[0].item<double>(), 3.0 * coef, 1e-6);
  EXPECT_NEAR(y.grad()[0].item<double>(), 4.0 * coef, 1e-6);
  // Below the limit: unchanged (coefficient clamped to 1).
  x.mutable_grad() = torch::tensor({0.3f, 0.4f});
  EXPECT_NEAR(ClipGradNorm({x}, 1.0), 0.5, 1e-6);
  EXPECT_NEAR(x.grad()[1].item<double>(), 0.4, 1e-7);
}

}  // namespace
}  // namespace lorad
