// Builds Batch arrays from rows of samples: concatenation for packed rows,
// right padding to the longest row, position and segment ids, token counts.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/data/batch.h"
#include "worker/data/sample.h"

namespace lorad {

class BatchCollator {
 public:
  /// `samples` and `rows` must outlive the collator.  With `packed`, the first
  /// label of every sample in a row is set to -100, so that no position
  /// learns to predict across a sample boundary (the loss a sample sees is
  /// the same packed or not: its first label is never predicted unpacked
  /// either, because of the shift).
  BatchCollator(const std::vector<Sample>& samples, const std::vector<std::vector<int64_t>>& rows,
                int32_t pad_id, bool packed)
      : samples_(samples), rows_(rows), pad_id_(pad_id), packed_(packed) {}

  /// The batch of the given rows, in that order.
  Batch Collate(const std::vector<int64_t>& row_indices) const;
  /// Rows [begin, end) in dataset order (evaluation, probe batches).
  Batch CollateRange(int64_t begin, int64_t end) const;
  int64_t num_rows() const { return static_cast<int64_t>(rows_.size()); }

 private:
  const std::vector<Sample>& samples_;
  const std::vector<std::vector<int64_t>>& rows_;
  int32_t pad_id_;
  bool packed_;
};

}  // namespace lorad
