// Sample packing: first-fit-decreasing of sample lengths into rows of at most
// sequence_len tokens (Axolotl's sample_packing).
#pragma once

#include <cstdint>
#include <vector>

namespace lorad {

/// Returns the rows, each the indices of the samples placed in it, in
/// placement order (longest first; ties by index).  Deterministic.  Every
/// length must be in [1, capacity].  O(n log n): a max-segment-tree over the
/// bins finds the first bin with room.
std::vector<std::vector<int64_t>> PackFirstFitDecreasing(const std::vector<int64_t>& lengths,
                                                         int64_t capacity);

/// One row per sample, in order (no packing).
std::vector<std::vector<int64_t>> OneSamplePerRow(int64_t num_samples);

}  // namespace lorad
