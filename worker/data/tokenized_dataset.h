// The training and evaluation data of a job, tokenized, split and laid out
// into rows (packed or one sample a row).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/data/sample.h"

namespace lorad {

struct TokenizedDataset {
  std::vector<Sample> train;
  std::vector<Sample> eval;  // the val_set_size hold-out (may be empty)
  /// Each row lists the indices (into train / eval) of its samples, in order.
  std::vector<std::vector<int64_t>> train_rows;
  std::vector<std::vector<int64_t>> eval_rows;
  int64_t sequence_len = 0;
  bool packed = false;
  int32_t pad_id = 0;  // tokenizer pad, else eos, else 0
  /// Hex SHA-256 of everything that determines the data above (see
  /// data_fingerprint.h); exact resume refuses a different one.
  std::string fingerprint;
};

}  // namespace lorad
