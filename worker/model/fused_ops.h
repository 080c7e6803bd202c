// The decoder block's elementwise pieces as single autograd nodes (issue 10):
// the same forward values as the op-by-op expressions in the comments, but
// each saves only what its backward needs (no fp32 copy of the residual stream
// per norm, no SiLU output) and runs a handful of ops in the backward pass
// instead of autograd's chain — fewer ops per step (what bounds small models)
// and less activation memory (what bounds long sequences).  On contiguous CPU
// fp32/bf16 tensors each pass is one threaded single-pass kernel
// (row_kernels.h) that reads the activation dtype and computes in fp32.
#pragma once

#include <torch/types.h>

namespace lorad {

/// transformers' LlamaRMSNorm: weight * (x32 * rsqrt(mean(x32²) + eps)).to(x.dtype),
/// x32 = x in fp32 (fp64 stays fp64).  Saves x and the fp32 [.., 1] inverse RMS.
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

/// SwiGLU's product silu(gate) * up.  Saves gate and up only.
torch::Tensor SwiGlu(const torch::Tensor& gate, const torch::Tensor& up);

/// x.to(dtype) outside autograd, through row_kernels' converters for
/// contiguous CPU fp32 ↔ bf16 (LibTorch 1.13 converts one element at a time).
torch::Tensor CastTo(const torch::Tensor& x, torch::Dtype dtype);

/// Rotary embedding, transformers' x·cos + rotate_half(x)·sin, on x [B, T, H, D]
/// (the projection's own layout, before heads move in front of T) with cos/sin
/// [B, T, D] shared by the heads.  Saves only cos and sin.
torch::Tensor Rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace lorad
