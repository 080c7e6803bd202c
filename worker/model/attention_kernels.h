// Single-pass CPU kernels for the blockwise (online-softmax) attention's
// elementwise work in bf16 (issue 10).  With LibTorch ops alone each block
// pair cast its bf16 scores to fp32 and its fp32 probabilities back, and
// added bf16 matmul results into fp32 accumulators through a cast — LibTorch
// 1.13 converts bf16 one element at a time, and at sequence_len 512 those
// conversions took longer than the whole model's matmuls.  Here each step
// reads bf16, works in fp32 and writes once.  Torch-free (dispatched per ISA
// with row_kernels); blockwise_attention.cc owns tensors and threading.
//
// Every block is a batch of M = B·H row-major matrices; a "row range" is a
// half-open range of the flattened (matrix, row) index r = m·rows + i.
#pragma once

#include <cstdint>

namespace lorad::attention_kernels {

/// The most keys one block may hold (a row of them is buffered on the stack).
inline constexpr int64_t kMaxBlockKeys = 4096;

struct Block {
  int64_t matrices = 0;  // B·H
  int64_t heads = 1;     // H: matrix m belongs to batch row m / H (for the mask)
  int64_t nq = 0;        // query rows of the block
  int64_t nk = 0;        // key columns of the block
  /// [B or 1, nq, nk] 1 = may attend, or null when every pair may.
  const uint8_t* allowed = nullptr;
  int64_t allowed_batch_stride = 0;  // 0 when one mask serves the whole batch
};

/// A matrix batch view: element (m, i, j) at data[m·matrix_stride + i·row_stride + j].
struct Strided {
  int64_t matrix_stride = 0;
  int64_t row_stride = 0;
};

/// Online softmax over one key block.  scores bf16 [M, nq, nk] → probs bf16
/// (exp(s − new max), masked = 0), and per row: corr = exp(old max − new max)
/// (0 on the first block), row_sum = row_sum·corr + Σ probs (fp32, before
/// rounding), row_max = new max.  Stats are [M·nq] fp32.
void SoftmaxBlockForward(const Block& b, const uint16_t* scores, float* row_max, float* row_sum,
                         float* corr, uint16_t* probs, bool first, int64_t r0, int64_t r1);

/// acc fp32 [M, nq, d] = first ? pv : acc·corr[row] + pv  (pv bf16 [M, nq, d]).
void AccumulateBlock(float* acc, const float* corr, const uint16_t* pv, int64_t d, bool first,
                     int64_t r0, int64_t r1);

/// out (bf16, strided) = acc / row_sum and lse (fp32, strided by matrix, one per
/// row) = row_max + log(row_sum) for the rows of a query block of nq rows.
void FinalizeBlock(const float* acc, const float* row_max, const float* row_sum, int64_t nq,
                   int64_t d, uint16_t* out, Strided out_view, float* lse, int64_t lse_matrix_stride,
                   int64_t r0, int64_t r1);

/// The forward's probabilities again: p = exp(s − lse[row]) (masked = 0), as
/// bf16 (for the matmuls) and fp32 (for the softmax gradient); lse strided by matrix.
void RecomputeProbs(const Block& b, const uint16_t* scores, const float* lse,
                    int64_t lse_matrix_stride, uint16_t* probs, float* probs32, int64_t r0,
                    int64_t r1);

/// dS = P ⊙ (dP − delta[row]) → bf16 [M, nq, nk]; delta strided by matrix.
void SoftmaxGradBlock(const Block& b, const float* probs32, const uint16_t* dprobs,
                      const float* delta, int64_t delta_matrix_stride, uint16_t* dscores,
                      int64_t r0, int64_t r1);

/// dst (fp32, strided) += src (bf16 [M, rows, cols], contiguous).
void AddBlock(float* dst, Strided dst_view, const uint16_t* src, int64_t rows, int64_t cols,
              int64_t r0, int64_t r1);

/// out[r] = Σ_j a[r, j]·b[r, j] in fp32 over rows of `width` (bf16 inputs).
void RowDots(const uint16_t* a, const uint16_t* b, float* out, int64_t width, int64_t r0,
             int64_t r1);

}  // namespace lorad::attention_kernels
