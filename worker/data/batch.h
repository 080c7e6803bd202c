// A micro-batch as the trainer consumes it (row-major [rows, cols] arrays).
#pragma once

#include <cstdint>
#include <vector>

namespace lorad {

/// Rows are right-padded to the longest row of the micro-batch.
///  - input_ids: pad id on padding (tokenizer pad, else eos, else 0).
///  - labels: aligned with input_ids (NOT shifted); -100 on padding, masked
///    prompt tokens and the first token of every packed sample.
///  - position_ids: restart at 0 for every sample (packed or not); 0 on padding.
///  - segment_ids: 1, 2, ... for the samples of a row in order, 0 on padding.
///    Attention from query q to key k is allowed iff k <= q and
///    segment_ids[k] == segment_ids[q] != 0 (block-diagonal causal mask).  A
///    padding query attends to nothing: let it attend to itself (or zero it),
///    its label is -100 anyway.
struct Batch {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;
  std::vector<int64_t> position_ids;
  std::vector<int64_t> segment_ids;
  int64_t tokens = 0;          // non-padding input tokens
  int64_t trained_tokens = 0;  // labels != -100 after the shift by one (what the loss counts)
};

}  // namespace lorad
