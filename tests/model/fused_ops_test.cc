// The decoder's fused elementwise nodes (RmsNorm, SwiGlu, Rope) against the
// op-by-op LibTorch expressions that define them (transformers' Llama), in fp32
// and bf16, forward and gradient, on shapes large enough that the CPU kernels
// split across threads; and the fallbacks (fp64, non-contiguous) that keep
// LibTorch's path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "worker/model/fused_ops.h"
#include "worker/model/row_kernels.h"

namespace lorad {
namespace {

torch::Tensor RmsNormRef(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  torch::Tensor x32 = x.to(x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
  torch::Tensor r = torch::rsqrt(x32.pow(2).mean(-1, true) + eps);
  return w * (x32 * r).to(x.scalar_type());
}

torch::Tensor SwiGluRef(const torch::Tensor& g, const torch::Tensor& u) { return torch::silu(g) * u; }

torch::Tensor RopeRef(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t h = x.size(-1) / 2;
  torch::Tensor rot = torch::cat({x.narrow(-1, h, h).neg(), x.narrow(-1, 0, h)}, -1);
  return x * cos.unsqueeze(-2) + rot * sin.unsqueeze(-2);
}

// Largest |a − b| relative to max |b| (both in fp64).
double RelErr(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
  return (a64 - b64).abs().max().item<double>() / std::max(1e-30, b64.abs().max().item<double>());
}

// Gradients of sum(f(inputs) ⊙ probe) w.r.t. the inputs at dtype, next to the
// same of the reference in fp64 from the same values.
template <typename F, typename R>
void ExpectSameGradients(F fused, R ref, std::vector<torch::Tensor> inputs, torch::Dtype dtype,
                         double tol, const char* what) {
  std::vector<torch::Tensor> at_dtype, at_64;
  for (const auto& t : inputs) {
    at_dtype.push_back(t.to(dtype).detach().requires_grad_(true));
    at_64.push_back(at_dtype.back().detach().to(torch::kFloat64).requires_grad_(true));
  }
  torch::Tensor out = fused(at_dtype);
  torch::Tensor probe = torch::randn(out.sizes(), torch::kFloat64);
  (out.to(torch::kFloat64) * probe).sum().backward();
  (ref(at_64) * probe).sum().backward();
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(at_dtype[i].grad().defined()) << what << " input " << i;
    EXPECT_EQ(at_dtype[i].grad().scalar_type(), dtype);
    EXPECT_LT(RelErr(at_dtype[i].grad(), at_64[i].grad()), tol) << what << " input " << i;
  }
}

class FusedOpsTest : public ::testing::TestWithParam<torch::Dtype> {
 protected:
  void SetUp() override { torch::manual_seed(7); }
  torch::Dtype dtype() const { return GetParam(); }
  bool bf16() const { return dtype() == torch::kBFloat16; }
};

TEST_P(FusedOpsTest, RmsNormMatchesTransformersForwardAndGradient) {
  // 300 rows of 768: more rows than one kernel task holds, so threads split it.
  torch::Tensor x = torch::randn({3, 100, 768}) * 3;
  torch::Tensor w = torch::rand({768}) + 0.5;
  torch::Tensor xd = x.to(dtype()), wd = w.to(dtype());
  torch::Tensor got = RmsNorm(xd, wd, 1e-5), want = RmsNormRef(xd, wd, 1e-5);
  EXPECT_EQ(got.scalar_type(), dtype());
  // bf16: the normalised row and the product are each rounded once, as in
  // transformers; a different summation order may move a value by one ulp.
  EXPECT_LT(RelErr(got, want), bf16() ? 1.6e-2 : 2e-6);
  EXPECT_LT(RelErr(got, RmsNormRef(x.to(torch::kFloat64), w.to(torch::kFloat64), 1e-5)),
            bf16() ? 2e-2 : 2e-6);
  // The frozen weight (LoRA): the input's gradient only.
  ExpectSameGradients([&](const auto& in) { return RmsNorm(in[0], wd, 1e-5); },
                      [&](const auto& in) { return RmsNormRef(in[0], wd.to(torch::kFloat64), 1e-5); },
                      {x}, dtype(), bf16() ? 3e-2 : 1e-5, "rmsnorm");
}

TEST_P(FusedOpsTest, RmsNormTrainedWeightGetsItsGradientToo) {
  torch::Tensor x = torch::randn({4, 64}).to(dtype());
  torch::Tensor w = (torch::rand({64}) + 0.5).to(dtype()).requires_grad_(true);
  torch::Tensor w64 = w.detach().to(torch::kFloat64).requires_grad_(true);
  torch::Tensor probe = torch::randn({4, 64}, torch::kFloat64);
  (RmsNorm(x, w, 1e-6).to(torch::kFloat64) * probe).sum().backward();
  (RmsNormRef(x.to(torch::kFloat64), w64, 1e-6) * probe).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_LT(RelErr(w.grad(), w64.grad()), bf16() ? 3e-2 : 1e-5);
}

TEST_P(FusedOpsTest, SwiGluMatchesSiluTimesUpForwardAndGradient) {
  // Gates far into both tails check the exp range (sigmoid → 0 and → 1).
  torch::Tensor g = torch::randn({2, 97, 2048}) * 4;
  g.index_put_({0, 0, 0}, -120.0);
  g.index_put_({0, 0, 1}, 95.0);
  torch::Tensor u = torch::randn({2, 97, 2048});
  torch::Tensor got = SwiGlu(g.to(dtype()), u.to(dtype()));
  EXPECT_LT(RelErr(got, SwiGluRef(g.to(torch::kFloat64), u.to(torch::kFloat64))),
            bf16() ? 1e-2 : 2e-6);
  EXPECT_FALSE(torch::isnan(got).any().item<bool>());
  ExpectSameGradients([](const auto& in) { return SwiGlu(in[0], in[1]); },
                      [](const auto& in) { return SwiGluRef(in[0], in[1]); }, {g, u}, dtype(),
                      bf16() ? 1e-2 : 2e-6, "swiglu");
}

TEST_P(FusedOpsTest, RopeMatchesRotateHalfForwardAndGradient) {
  const int64_t b = 2, t = 80, heads = 6, d = 64;
  torch::Tensor x = torch::randn({b, t, heads, d});
  torch::Tensor angle = torch::rand({b, t, d}) * 6.28;
  torch::Tensor cos = angle.cos().to(dtype()), sin = angle.sin().to(dtype());
  torch::Tensor got = Rope(x.to(dtype()), cos, sin);
  EXPECT_LT(RelErr(got, RopeRef(x.to(torch::kFloat64), cos.to(torch::kFloat64),
                                sin.to(torch::kFloat64))),
            bf16() ? 1e-2 : 2e-6);
  ExpectSameGradients([&](const auto& in) { return Rope(in[0], cos, sin); },
                      [&](const auto& in) {
                        return RopeRef(in[0], cos.to(torch::kFloat64), sin.to(torch::kFloat64));
                      },
                      {x}, dtype(), bf16() ? 1e-2 : 2e-6, "rope");
}

TEST_P(FusedOpsTest, NonContiguousInputsTakeLibTorchsPathWithTheSameResult) {
  torch::Tensor x = torch::randn({8, 4, 2, 32}).to(dtype());
  torch::Tensor xt = x.transpose(0, 1).contiguous().transpose(0, 1);  // same values, other strides
  ASSERT_FALSE(xt.is_contiguous());
  torch::Tensor angle = torch::rand({8, 4, 32});
  torch::Tensor cos = angle.cos().to(dtype()), sin = angle.sin().to(dtype());
  const double tol = bf16() ? 1e-2 : 1e-6;
  EXPECT_LT(RelErr(Rope(xt, cos, sin), Rope(x, cos, sin)), tol);
  torch::Tensor w = torch::ones({32}).to(dtype());
  EXPECT_LT(RelErr(RmsNorm(xt, w, 1e-5), RmsNorm(x, w, 1e-5)), tol);
  EXPECT_LT(RelErr(SwiGlu(xt, xt), SwiGlu(x, x)), tol);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, FusedOpsTest, ::testing::Values(torch::kFloat32, torch::kBFloat16),
                         [](const auto& info) {
                           return info.param == torch::kFloat32 ? std::string("fp32")
                                                                : std::string("bf16");
                         });

// The nodes above must really run the kernels on contiguous CPU bf16 (the
// tolerance tests alone would pass on LibTorch's path too): their outputs are
// bitwise those of a direct single-threaded kernel call on the raw buffers.
TEST(FusedOpsKernelPathTest, Bf16NodesAreTheKernelsBitForBit) {
  torch::manual_seed(11);
  auto bf = torch::TensorOptions().dtype(torch::kBFloat16);
  using row_kernels::Elem;
  torch::Tensor x = torch::randn({37, 96}, bf), w = torch::rand({96}, bf);
  torch::Tensor out = torch::empty_like(x), rstd = torch::empty({37}, torch::kFloat32);
  row_kernels::RmsNormForward(Elem::kBf16, x.data_ptr(), w.data_ptr(), out.data_ptr(),
                              rstd.data_ptr<float>(), 0, 37, 96, 1e-5f);
  EXPECT_TRUE(torch::equal(RmsNorm(x, w, 1e-5), out));
  torch::Tensor g = torch::randn({37, 96}, bf), u = torch::randn({37, 96}, bf);
  torch::Tensor sw = torch::empty_like(g);
  row_kernels::SwiGluForward(Elem::kBf16, g.data_ptr(), u.data_ptr(), sw.data_ptr(), 0, g.numel());
  EXPECT_TRUE(torch::equal(SwiGlu(g, u), sw));
  torch::Tensor q = torch::randn({1, 5, 3, 16}, bf);
  torch::Tensor angle = torch::rand({1, 5, 16});
  torch::Tensor cos = angle.cos().to(torch::kBFloat16), sin = angle.sin().to(torch::kBFloat16);
  torch::Tensor ro = torch::empty_like(q);
  row_kernels::Rope(Elem::kBf16, q.data_ptr(), cos.data_ptr(), sin.data_ptr(), ro.data_ptr(), 0, 5, 3,
                    16, /*transpose=*/false);
  EXPECT_TRUE(torch::equal(Rope(q, cos, sin), ro));
  // And the kernels are not LibTorch's expressions in disguise: one rounding
  // instead of several shows somewhere in 37×96 SwiGLU values.
  EXPECT_FALSE(torch::equal(sw, SwiGluRef(g, u)));
}

TEST(FusedOpsFp64Test, Fp64KeepsTheExactLibTorchExpressions) {
  torch::Tensor x = torch::randn({5, 3, 16}, torch::kFloat64);
  torch::Tensor w = torch::rand({16}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(RmsNorm(x, w, 1e-6), RmsNormRef(x, w, 1e-6)));
  EXPECT_TRUE(torch::equal(SwiGlu(x, w.expand_as(x)), SwiGluRef(x, w.expand_as(x))));
  torch::Tensor angle = torch::rand({5, 16}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(Rope(x, angle.cos(), angle.sin()), RopeRef(x, angle.cos(), angle.sin())));
}

TEST(FusedOpsCastTest, CastToIsBitwiseLibTorchsConversion) {
  torch::Tensor x = torch::randn({3, 1000}) * 100;
  x.index_put_({0, 0}, std::numeric_limits<float>::infinity());
  x.index_put_({0, 1}, 1.00390625f);  // a tie: rounds to even
  torch::Tensor b = CastTo(x, torch::kBFloat16);
  EXPECT_EQ(b.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(b, x.to(torch::kBFloat16)));
  torch::Tensor back = CastTo(b, torch::kFloat32);
  EXPECT_TRUE(torch::equal(back, b.to(torch::kFloat32)));
  EXPECT_TRUE(CastTo(x, torch::kFloat32).is_same(x));  // same dtype: no copy, as .to()
  // Tracked by autograd: LibTorch's differentiable conversion.
  torch::Tensor p = x.clone().requires_grad_(true);
  CastTo(p, torch::kBFloat16).to(torch::kFloat32).sum().backward();
  ASSERT_TRUE(p.grad().defined());
  EXPECT_TRUE(torch::equal(p.grad(), torch::ones_like(x)));
}

TEST(RowKernelsTest, Bf16ConversionsMatchLibTorchsRounding) {
  const float specials[] = {0.0f,     -0.0f,   1.0f,      1.00390625f, 1.0078125f, 1.01171875f,
                            3.14159f, -2.7e-3f, 1e-40f,   3.39e38f,    3.4e38f,    -1e-45f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN()};
  torch::Tensor values = torch::cat({torch::tensor(std::vector<float>(std::begin(specials),
                                                                      std::end(specials))),
                                     torch::randn({4096}) * 1000});
  torch::Tensor want = values.to(torch::kBFloat16);
  const float* v = values.data_ptr<float>();
  const auto* w = reinterpret_cast<const uint16_t*>(want.data_ptr<at::BFloat16>());
  for (int64_t i = 0; i < values.numel(); ++i) {
    if (std::isnan(v[i])) {
      EXPECT_TRUE(std::isnan(row_kernels::Bf16ToFloat(row_kernels::FloatToBf16(v[i]))));
      continue;
    }
    ASSERT_EQ(row_kernels::FloatToBf16(v[i]), w[i]) << "value " << v[i];
    EXPECT_EQ(row_kernels::Bf16ToFloat(w[i]), static_cast<float>(want[i].item<float>()));
  }
}

}  // namespace
}  // namespace lorad
