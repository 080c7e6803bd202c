// Single-pass CPU kernels for the decoder block's elementwise work (issue 10).
//
// LibTorch 1.13 runs RMSNorm, RoPE and SwiGLU as 6–10 separate ATen passes
// each (casts to fp32 and back, pow, mean, rsqrt, mul, cat, neg, silu, …),
// and in bf16 every pass rounds and re-reads its input: at sequence_len 512
// that was about half of a bf16 training step, more than the matmuls.  These
// kernels read bf16 (or fp32), compute in fp32 and round once on the store.
//
// Torch-free on purpose: plain loops over raw rows that GCC vectorises,
// built for AVX-512, AVX2+FMA and baseline x86-64 and picked once at run time
// (row_kernels_impl.inc), called from
// fused_ops.cc, which owns the tensors, the autograd nodes and the threading
// (each call takes a half-open row or element range).  All pointers address
// contiguous row-major data of the stated element type.
#pragma once

#include <cstdint>

namespace lorad::row_kernels {

enum class Elem { kF32, kBf16 };

/// out[r] = w ⊙ bf16?(x[r] · rstd[r]),  rstd[r] = 1/√(mean(x[r]²) + eps), in fp32
/// (transformers' LlamaRMSNorm: the normalised row is rounded to the
/// activation dtype before the weight multiplies it).  x, w, out: elem; rstd: fp32.
void RmsNormForward(Elem elem, const void* x, const void* w, void* out, float* rstd,
                    int64_t row_begin, int64_t row_end, int64_t width, float eps);

/// dx[r] = rstd·(g − x·rstd²·mean(g ⊙ x)),  g = dy ⊙ w  (gradient of the input only:
/// the norm weights are frozen in LoRA training).
void RmsNormBackward(Elem elem, const void* dy, const void* x, const void* w, const float* rstd,
                     void* dx, int64_t row_begin, int64_t row_end, int64_t width);

/// out = silu(gate) ⊙ up over elements [begin, end).
void SwiGluForward(Elem elem, const void* gate, const void* up, void* out, int64_t begin,
                   int64_t end);

/// d_gate = dy ⊙ up ⊙ σ(g)(1 + g(1 − σ(g))),  d_up = dy ⊙ silu(g).  Either output may be null.
void SwiGluBackward(Elem elem, const void* dy, const void* gate, const void* up, void* d_gate,
                    void* d_up, int64_t begin, int64_t end);

/// Rotary embedding, transformers' x·cos + rotate_half(x)·sin, on rows of
/// `heads` vectors of `dim` (x as the projection writes it, [B·T, heads, dim]);
/// cos/sin hold one `dim` vector per row ([B·T, dim]).  `transpose` applies the
/// adjoint (the backward pass: dy ↦ dx).
void Rope(Elem elem, const void* x, const void* cos, const void* sin, void* out, int64_t row_begin,
          int64_t row_end, int64_t heads, int64_t dim, bool transpose);

/// dst[i] = bf16(src[i]) / float(src[i]) for i in [begin, end): LibTorch 1.13
/// converts between bf16 and fp32 one element at a time (~5 ns each here).
void ToBf16(const float* src, uint16_t* dst, int64_t begin, int64_t end);
void ToFloat(const uint16_t* src, float* dst, int64_t begin, int64_t end);

/// The instruction set the kernels run with here: "avx512", "avx2" or "generic".
const char* KernelIsa();

/// fp32 ↔ bf16 as c10::BFloat16 converts (round to nearest even, NaN kept).
float Bf16ToFloat(uint16_t v);
uint16_t FloatToBf16(float f);

}  // namespace lorad::row_kernels
