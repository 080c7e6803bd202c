// How the CPU kernels (row_kernels.h, attention_kernels.h) are spread over
// LibTorch's intra-op threads: ranges of rows (or elements, width 1) with
// about 16k elements per task at least — below that a task is all overhead.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

namespace lorad {

inline constexpr int64_t kKernelGrainElements = 16384;

/// f(begin, end) over [0, rows) in parallel, rows of `width` elements each.
template <typename F>
void ForRows(int64_t rows, int64_t width, const F& f) {
  at::parallel_for(0, rows, std::max<int64_t>(1, kKernelGrainElements / std::max<int64_t>(1, width)),
                   f);
}

}  // namespace lorad
