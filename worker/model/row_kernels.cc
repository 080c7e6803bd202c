#include "worker/model/row_kernels.h"

#include <bit>

#include "worker/model/row_kernels_isa.h"

namespace lorad::row_kernels {

// Chosen once: the widest build this CPU runs.
const KernelTable& Table() {
  static const KernelTable& table = []() -> const KernelTable& {
#if defined(LORAD_ROW_KERNELS_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
      return avx512::kTable;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2::kTable;
#endif
    return generic::kTable;
  }();
  return table;
}

float Bf16ToFloat(uint16_t v) { return std::bit_cast<float>(static_cast<uint32_t>(v) << 16); }

uint16_t FloatToBf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // NaN, as c10::BFloat16
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

void RmsNormForward(Elem elem, const void* x, const void* w, void* out, float* rstd,
                    int64_t row_begin, int64_t row_end, int64_t width, float eps) {
  Table().rms_norm_forward(elem, x, w, out, rstd, row_begin, row_end, width, eps);
}

void RmsNormBackward(Elem elem, const void* dy, const void* x, const void* w, const float* rstd,
                     void* dx, int64_t row_begin, int64_t row_end, int64_t width) {
  Table().rms_norm_backward(elem, dy, x, w, rstd, dx, row_begin, row_end, width);
}

void SwiGluForward(Elem elem, const void* gate, const void* up, void* out, int64_t begin,
                   int64_t end) {
  Table().swiglu_forward(elem, gate, up, out, begin, end);
}

void SwiGluBackward(Elem elem, const void* dy, const void* gate, const void* up, void* d_gate,
                    void* d_up, int64_t begin, int64_t end) {
  Table().swiglu_backward(elem, dy, gate, up, d_gate, d_up, begin, end);
}

void Rope(Elem elem, const void* x, const void* cos, const void* sin, void* out, int64_t row_begin,
          int64_t row_end, int64_t heads, int64_t dim, bool transpose) {
  Table().rope(elem, x, cos, sin, out, row_begin, row_end, heads, dim, transpose);
}

}  // namespace lorad::row_kernels

namespace lorad::attention_kernels {

using row_kernels::Table;

void SoftmaxBlockForward(const Block& b, const uint16_t* scores, float* row_max, float* row_sum,
                         float* corr, uint16_t* probs, bool first, int64_t r0, int64_t r1) {
  Table().softmax_block_forward(b, scores, row_max, row_sum, corr, probs, first, r0, r1);
}

void AccumulateBlock(float* acc, const float* corr, const uint16_t* pv, int64_t d, bool first,
                     int64_t r0, int64_t r1) {
  Table().accumulate_block(acc, corr, pv, d, first, r0, r1);
}

void FinalizeBlock(const float* acc, const float* row_max, const float* row_sum, int64_t nq,
                   int64_t d, uint16_t* out, Strided out_view, float* lse, int64_t lse_matrix_stride,
                   int64_t r0, int64_t r1) {
  Table().finalize_block(acc, row_max, row_sum, nq, d, out, out_view, lse, lse_matrix_stride, r0, r1);
}

void RecomputeProbs(const Block& b, const uint16_t* scores, const float* lse,
                    int64_t lse_matrix_stride, uint16_t* probs, float* probs32, int64_t r0,
                    int64_t r1) {
  Table().recompute_probs(b, scores, lse, lse_matrix_stride, probs, probs32, r0, r1);
}

void SoftmaxGradBlock(const Block& b, const float* probs32, const uint16_t* dprobs,
                      const float* delta, int64_t delta_matrix_stride, uint16_t* dscores,
                      int64_t r0, int64_t r1) {
  Table().softmax_grad_block(b, probs32, dprobs, delta, delta_matrix_stride, dscores, r0, r1);
}

void AddBlock(float* dst, Strided dst_view, const uint16_t* src, int64_t rows, int64_t cols,
              int64_t r0, int64_t r1) {
  Table().add_block(dst, dst_view, src, rows, cols, r0, r1);
}

void RowDots(const uint16_t* a, const uint16_t* b, float* out, int64_t width, int64_t r0,
             int64_t r1) {
  Table().row_dots(a, b, out, width, r0, r1);
}

}  // namespace lorad::attention_kernels

namespace lorad::row_kernels {

void ToBf16(const float* src, uint16_t* dst, int64_t begin, int64_t end) {
  Table().to_bf16(src, dst, begin, end);
}

void ToFloat(const uint16_t* src, float* dst, int64_t begin, int64_t end) {
  Table().to_float(src, dst, begin, end);
}

const char* KernelIsa() {
  const KernelTable* t = &Table();
#if defined(LORAD_ROW_KERNELS_X86)
  if (t == &avx512::kTable) return "avx512";
  if (t == &avx2::kTable) return "avx2";
#endif
  return t == &generic::kTable ? "generic" : "unknown";
}

}  // namespace lorad::row_kernels
