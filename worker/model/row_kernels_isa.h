// The per-ISA builds of row_kernels_impl.inc and the table row_kernels.cc
// dispatches through.  Internal to row_kernels.
#pragma once

#include "worker/model/attention_kernels.h"
#include "worker/model/row_kernels.h"

namespace lorad::row_kernels {

struct KernelTable {
  decltype(&RmsNormForward) rms_norm_forward;
  decltype(&RmsNormBackward) rms_norm_backward;
  decltype(&SwiGluForward) swiglu_forward;
  decltype(&SwiGluBackward) swiglu_backward;
  decltype(&Rope) rope;
  decltype(&attention_kernels::SoftmaxBlockForward) softmax_block_forward;
  decltype(&attention_kernels::AccumulateBlock) accumulate_block;
  decltype(&attention_kernels::FinalizeBlock) finalize_block;
  decltype(&attention_kernels::RecomputeProbs) recompute_probs;
  decltype(&attention_kernels::SoftmaxGradBlock) softmax_grad_block;
  decltype(&attention_kernels::AddBlock) add_block;
  decltype(&attention_kernels::RowDots) row_dots;
  decltype(&ToBf16) to_bf16;
  decltype(&ToFloat) to_float;
};

/// The table of the widest build this CPU runs (chosen once).
const KernelTable& Table();

namespace generic {
extern const KernelTable kTable;
}
#if defined(LORAD_ROW_KERNELS_X86)
namespace avx2 {  // AVX2 + FMA (Haswell and later)
extern const KernelTable kTable;
}
namespace avx512 {  // AVX-512 F/BW/VL/DQ (Skylake-SP and later)
extern const KernelTable kTable;
}
#endif

}  // namespace lorad::row_kernels
