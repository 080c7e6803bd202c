// Blockwise (memory-efficient) attention equals the eager reference, forward
// and backward, with GQA, segments, sliding window, padding and ragged blocks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "worker/model/attention.h"
#include "worker/model/attention_choice.h"
#include "worker/model/blockwise_attention.h"
#include "worker/model/torch_compat.h"

namespace lorad {
namespace {

struct AttnCase {
  std::string name;
  int64_t window = 0;
  bool segments = false;
  bool padding = false;
  int64_t bq = 3, bk = 4;
};

class BlockwiseAttentionTest : public ::testing::TestWithParam<AttnCase> {};

// The case's mask for b = 2 rows of t = 11 positions.
AttentionMask CaseMask(const AttnCase& c, int64_t b, int64_t t) {
  AttentionMask mask;
  mask.sliding_window = c.window;
  if (c.segments) {
    mask.segment_ids = torch::tensor({1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                      2, 2},
                                     torch::kInt64)
                           .view({b, t});
  }
  if (c.padding) {
    mask.key_padding = torch::zeros({b, t}, torch::kBool);
    mask.key_padding.index_put_({1, torch::indexing::Slice(0, 3)}, true);  // left padding
  }
  return mask;
}

TEST_P(BlockwiseAttentionTest, MatchesEagerForwardAndBackward) {
  const AttnCase& c = GetParam();
  torch::Generator gen = torch_compat::MakeCpuGenerator(3);
  const int64_t b = 2, nh = 4, nkv = 2, t = 11, hd = 6;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor q = torch::randn({b, nh, t, hd}, gen, f64).requires_grad_(true);
  torch::Tensor k = torch::randn({b, nkv, t, hd}, gen, f64).requires_grad_(true);
  torch::Tensor v = torch::randn({b, nkv, t, hd}, gen, f64).requires_grad_(true);
  torch::Tensor dout = torch::randn({b, nh, t, hd}, gen, f64);
  AttentionMask mask = CaseMask(c, b, t);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  PrepareAttentionMask(mask, t, t, torch::kCPU);
  torch::Tensor eager = Attend(q, k, v, mask, scale, AttentionBackend::kEager);
  auto g_eager = torch::autograd::grad({eager}, {q, k, v}, {dout});
  torch::Tensor block = BlockwiseAttention(q, k, v, mask, scale, c.bq, c.bk);
  auto g_block = torch::autograd::grad({block}, {q, k, v}, {dout});
  EXPECT_TRUE(torch::allclose(block, eager, 1e-10, 1e-12));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(g_block[i], g_eager[i], 1e-9, 1e-11)) << "grad " << i;
  }
  // The default backend choice gives the same values through Attend.
  torch::Tensor via = Attend(q, k, v, mask, scale, AttentionBackend::kBlockwise);
  EXPECT_TRUE(torch::allclose(via, eager, 1e-10, 1e-12));
}

// bf16 on the CPU runs the blocks through the single-pass kernels
// (attention_kernels.h): every mask kind, GQA and ragged blocks against the
// fp64 eager attention of the same (bf16-rounded) inputs.
TEST_P(BlockwiseAttentionTest, Bf16KernelsMatchFp64EagerForwardAndBackward) {
  const AttnCase& c = GetParam();
  torch::Generator gen = torch_compat::MakeCpuGenerator(5);
  const int64_t b = 2, nh = 4, nkv = 2, t = 11, hd = 16;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto round = [](torch::Tensor x) { return x.to(torch::kBFloat16).to(torch::kFloat64); };
  torch::Tensor q64 = round(torch::randn({b, nh, t, hd}, gen, f64)).requires_grad_(true);
  torch::Tensor k64 = round(torch::randn({b, nkv, t, hd}, gen, f64)).requires_grad_(true);
  torch::Tensor v64 = round(torch::randn({b, nkv, t, hd}, gen, f64)).requires_grad_(true);
  torch::Tensor dout = round(torch::randn({b, nh, t, hd}, gen, f64));
  torch::Tensor q = q64.detach().to(torch::kBFloat16).requires_grad_(true);
  torch::Tensor k = k64.detach().to(torch::kBFloat16).requires_grad_(true);
  torch::Tensor v = v64.detach().to(torch::kBFloat16).requires_grad_(true);
  AttentionMask mask = CaseMask(c, b, t);
  const double scale = 0.5;  // exact in bf16, so q·scale rounds nothing
  PrepareAttentionMask(mask, t, t, torch::kCPU);
  torch::Tensor eager = Attend(q64, k64, v64, mask, scale, AttentionBackend::kEager);
  auto g_eager = torch::autograd::grad({eager}, {q64, k64, v64}, {dout});
  torch::Tensor block = BlockwiseAttention(q, k, v, mask, scale, c.bq, c.bk);
  ASSERT_EQ(block.scalar_type(), torch::kBFloat16);
  auto g_block = torch::autograd::grad({block}, {q, k, v}, {dout.to(torch::kBFloat16)});
  auto rel = [](const torch::Tensor& a, const torch::Tensor& want) {
    return (a.to(torch::kFloat64) - want).abs().max().item<double>() /
           want.abs().max().item<double>();
  };
  // The yardstick is the same recurrence through LibTorch ops (identical
  // rounding points: bf16 scores and block products, fp32 statistics and
  // accumulators); small blocks round each partial product, so both sit a few
  // times above bf16 eager attention's own error here.
  torch::Tensor qo = q.detach().requires_grad_(true), ko = k.detach().requires_grad_(true),
                vo = v.detach().requires_grad_(true);
  torch::Tensor ops = BlockwiseAttention(qo, ko, vo, mask, scale, c.bq, c.bk,
                                         BlockwiseImpl::kLibTorchOps);
  auto g_ops = torch::autograd::grad({ops}, {qo, ko, vo}, {dout.to(torch::kBFloat16)});
  EXPECT_LE(rel(block, eager), 1.25 * rel(ops, eager) + 1e-3) << "LibTorch ops: " << rel(ops, eager);
  EXPECT_LT(rel(block, eager), 2e-2);

  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(g_block[i].scalar_type(), torch::kBFloat16);
    EXPECT_LE(rel(g_block[i], g_eager[i]), 1.25 * rel(g_ops[i], g_eager[i]) + 1e-3)
        << "grad " << i << ", LibTorch ops: " << rel(g_ops[i], g_eager[i]);
    EXPECT_LT(rel(g_block[i], g_eager[i]), 5e-2) << "grad " << i;
  }
}

// The test above would also pass if bf16 silently fell back to LibTorch's ops
// (it would compare ops with ops).  The kernels' exp differs from LibTorch's in
// the last fp32 bits, which shows in some bf16 output of a layer-sized block:
// the paths must differ somewhere, deterministically (fixed seed).
TEST(BlockwiseAttentionTest, Bf16OnTheCpuRunsTheKernels) {
  torch::Generator gen = torch_compat::MakeCpuGenerator(9);
  auto bf = torch::TensorOptions().dtype(torch::kBFloat16);
  torch::Tensor q = torch::randn({1, 4, 300, 64}, gen, bf);
  torch::Tensor k = torch::randn({1, 4, 300, 64}, gen, bf);
  torch::Tensor v = torch::randn({1, 4, 300, 64}, gen, bf);
  AttentionMask mask;
  torch::Tensor kernels = BlockwiseAttention(q, k, v, mask, 0.125);
  torch::Tensor ops = BlockwiseAttention(q, k, v, mask, 0.125, 0, 0, BlockwiseImpl::kLibTorchOps);
  EXPECT_FALSE(torch::equal(kernels, ops)) << "bf16 on the CPU did not run the attention kernels";
  EXPECT_LT((kernels.to(torch::kFloat32) - ops.to(torch::kFloat32)).abs().max().item<float>(), 0.05f);
}

INSTANTIATE_TEST_SUITE_P(
    Masks, BlockwiseAttentionTest,
    ::testing::Values(AttnCase{"causal"}, AttnCase{"window", 3}, AttnCase{"segments", 0, true},
                      AttnCase{"padding", 0, false, true},
                      AttnCase{"all", 4, true, true, 2, 5},
                      AttnCase{"one_block", 0, true, false, 64, 64}),
    [](const auto& info) { return info.param.name; });

TEST(BlockwiseAttentionTest, Bf16CloseToEager) {
  torch::Generator gen = torch_compat::MakeCpuGenerator(4);
  auto bf = torch::TensorOptions().dtype(torch::kBFloat16);
  torch::Tensor q = torch::randn({1, 2, 40, 8}, gen, bf);
  torch::Tensor k = torch::randn({1, 2, 40, 8}, gen, bf);
  torch::Tensor v = torch::randn({1, 2, 40, 8}, gen, bf);
  AttentionMask mask;
  PrepareAttentionMask(mask, 40, 40, torch::kCPU);
  torch::Tensor eager = Attend(q, k, v, mask, 0.35, AttentionBackend::kEager);
  torch::Tensor block = BlockwiseAttention(q, k, v, mask, 0.35, 16, 16);
  EXPECT_EQ(block.scalar_type(), torch::kBFloat16);
  EXPECT_LT((block.to(torch::kFloat32) - eager.to(torch::kFloat32)).abs().max().item<float>(),
            0.05f);
}

TEST(AttentionChoiceTest, AutoPicksByDeviceDtypeAndLength) {
  auto short_fp32 = ChooseAttention("auto", 512, torch::kCPU, false);
  ASSERT_TRUE(short_fp32.ok());
  EXPECT_EQ(short_fp32->backend, AttentionBackend::kEager);
  EXPECT_EQ(short_fp32->requested, "auto");
  EXPECT_NE(short_fp32->reason.find("sequence_len 512"), std::string::npos) << short_fp32->reason;
  auto long_fp32 = ChooseAttention("auto", kFp32BlockwiseMinSequenceLen, torch::kCPU, false);
  ASSERT_TRUE(long_fp32.ok());
  EXPECT_EQ(long_fp32->backend, AttentionBackend::kBlockwise);
  auto short_bf16 = ChooseAttention("auto", 128, torch::kCPU, true);
  ASSERT_TRUE(short_bf16.ok());
  EXPECT_EQ(short_bf16->backend, AttentionBackend::kBlockwise);
  EXPECT_NE(short_bf16->reason.find("bf16"), std::string::npos) << short_bf16->reason;
  auto cuda = ChooseAttention("auto", 512, torch::Device(torch::kCUDA, 0), false);
  ASSERT_TRUE(cuda.ok());
  EXPECT_EQ(cuda->backend, torch_compat::kHasScaledDotProductAttention ? AttentionBackend::kSdpa
                                                                       : AttentionBackend::kEager);
  // Explicit choices win whatever the length and dtype.
  EXPECT_EQ(ChooseAttention("eager", 4096, torch::kCPU, true)->backend, AttentionBackend::kEager);
  EXPECT_EQ(ChooseAttention("blockwise", 16, torch::kCPU, false)->backend,
            AttentionBackend::kBlockwise);
  auto sdpa = ChooseAttention("sdpa", 16, torch::kCPU, false);
  ASSERT_TRUE(sdpa.ok());
  if (torch_compat::kHasScaledDotProductAttention) {
    EXPECT_EQ(sdpa->backend, AttentionBackend::kSdpa);
  } else {
    EXPECT_EQ(sdpa->backend, AttentionBackend::kBlockwise);
    EXPECT_NE(sdpa->reason.find("no scaled_dot_product_attention"), std::string::npos);
  }
  auto bad = ChooseAttention("flash", 16, torch::kCPU, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("\"flash\""), std::string::npos);
  EXPECT_STREQ(AttentionBackendName(AttentionBackend::kBlockwise), "blockwise");
}

// SDPA (or, on LibTorch 1.13, its blockwise stand-in) equals eager too.
TEST(AttentionChoiceTest, SdpaMatchesEager) {
  torch::Generator gen = torch_compat::MakeCpuGenerator(5);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  for (bool segments : {false, true}) {
    torch::Tensor q = torch::randn({1, 4, 10, 8}, gen, f64);
    torch::Tensor k = torch::randn({1, 2, 10, 8}, gen, f64);
    torch::Tensor v = torch::randn({1, 2, 10, 8}, gen, f64);
    AttentionMask mask;
    if (segments) {
      mask.segment_ids = torch::tensor({1, 1, 1, 2, 2, 2, 2, 3, 3, 3}, torch::kInt64).view({1, 10});
    }
    PrepareAttentionMask(mask, 10, 10, torch::kCPU);
    torch::Tensor eager = Attend(q, k, v, mask, 1.0 / std::sqrt(8.0), AttentionBackend::kEager);
    torch::Tensor sdpa = Attend(q, k, v, mask, 1.0 / std::sqrt(8.0), AttentionBackend::kSdpa);
    EXPECT_TRUE(torch::allclose(sdpa, eager, 1e-10, 1e-12)) << "segments " << segments;
  }
}

}  // namespace
}  // namespace lorad
