// The probe batch (continue-training issue): a fixed small batch of the
// training data, in dataset order, whose eval-mode loss every saved adapter
// records so that a later continue can prove the adapter really loaded.
#pragma once

#include <cstdint>
#include <string>

#include "worker/data/batch.h"
#include "worker/data/tokenized_dataset.h"

namespace lorad {

struct ProbeBatch {
  Batch batch;
  std::string fingerprint;  // hex SHA-256 of the batch's shape and arrays
};

/// The first min(max_rows, train rows) rows of the unshuffled training set.
ProbeBatch MakeProbeBatch(const TokenizedDataset& dataset, int64_t max_rows = 4);

/// SHA-256 over rows, cols, input_ids, labels, position_ids and segment_ids
/// (little-endian int64): equal batches, equal fingerprints.
std::string BatchFingerprint(const Batch& batch);

}  // namespace lorad
