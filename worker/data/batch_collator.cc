#include "worker/data/batch_collator.h"

#include <algorithm>
#include <numeric>

namespace lorad {

Batch BatchCollator::Collate(const std::vector<int64_t>& row_indices) const {
  Batch b;
  b.rows = static_cast<int64_t>(row_indices.size());
  for (int64_t r : row_indices) {
    int64_t len = 0;
    for (int64_t s : rows_[static_cast<size_t>(r)]) {
      len += static_cast<int64_t>(samples_[static_cast<size_t>(s)].input_ids.size());
    }
    b.cols = std::max(b.cols, len);
  }
  const size_t total = static_cast<size_t>(b.rows * b.cols);
  b.input_ids.assign(total, pad_id_);
  b.labels.assign(total, kIgnoreIndex);
  b.position_ids.assign(total, 0);
  b.segment_ids.assign(total, 0);
  for (int64_t i = 0; i < b.rows; ++i) {
    size_t at = static_cast<size_t>(i * b.cols);
    const size_t row_begin = at;
    int64_t segment = 0;
    for (int64_t s : rows_[static_cast<size_t>(row_indices[static_cast<size_t>(i)])]) {
      const Sample& sample = samples_[static_cast<size_t>(s)];
      ++segment;
      for (size_t t = 0; t < sample.input_ids.size(); ++t, ++at) {
        b.input_ids[at] = sample.input_ids[t];
        b.labels[at] = (packed_ && t == 0) ? kIgnoreIndex : sample.labels[t];
        b.position_ids[at] = static_cast<int64_t>(t);
        b.segment_ids[at] = segment;
      }
    }
    b.tokens += static_cast<int64_t>(at - row_begin);
    // The loss shifts labels left by one: position 0's label is never counted.
    for (size_t k = row_begin + 1; k < at; ++k) b.trained_tokens += b.labels[k] != kIgnoreIndex;
  }
  return b;
}

Batch BatchCollator::CollateRange(int64_t begin, int64_t end) const {
  begin = std::clamp<int64_t>(begin, 0, num_rows());
  end = std::clamp<int64_t>(end, begin, num_rows());
  std::vector<int64_t> idx(static_cast<size_t>(end - begin));
  std::iota(idx.begin(), idx.end(), begin);
  return Collate(idx);
}

}  // namespace lorad
