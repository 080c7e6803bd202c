#include "worker/data/sequence_packer.h"

#include <algorithm>
#include <numeric>

namespace lorad {

std::vector<std::vector<int64_t>> PackFirstFitDecreasing(const std::vector<int64_t>& lengths,
                                                         int64_t capacity) {
  const size_t n = lengths.size();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  // n items never need more than n bins; unopened bins hold the full
  // capacity, so "leftmost bin with room" opens a new bin exactly when no open
  // bin fits — first fit.
  size_t leaves = 1;
  while (leaves < std::max<size_t>(n, 1)) leaves <<= 1;
  std::vector<int64_t> tree(2 * leaves, capacity);
  std::vector<std::vector<int64_t>> rows;
  for (int64_t item : order) {
    const int64_t len = lengths[static_cast<size_t>(item)];
    size_t node = 1;
    while (node < leaves) node = tree[2 * node] >= len ? 2 * node : 2 * node + 1;
    const size_t bin = node - leaves;
    if (bin >= rows.size()) rows.resize(bin + 1);
    rows[bin].push_back(item);
    tree[node] -= len;
    for (node >>= 1; node >= 1; node >>= 1) tree[node] = std::max(tree[2 * node], tree[2 * node + 1]);
  }
  return rows;
}

std::vector<std::vector<int64_t>> OneSamplePerRow(int64_t num_samples) {
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(num_samples));
  for (int64_t i = 0; i < num_samples; ++i) rows[static_cast<size_t>(i)] = {i};
  return rows;
}

}  // namespace lorad
