// Micro-batches over the training rows in a seeded order per epoch, with a
// small state that a checkpoint stores to continue the exact same sequence.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/data/batch.h"
#include "worker/data/batch_collator.h"
#include "worker/data/tokenized_dataset.h"

namespace lorad {

/// Epoch e visits the rows in SeededPermutation(rows, seed, e), in
/// micro-batches of micro_batch_size rows; the last micro-batch of an epoch
/// may be smaller (as a DataLoader with drop_last=False).
///
/// Optimizer steps group gradient_accumulation_steps micro-batches, counted
/// from the start of each epoch; a partial last group still makes a step (as
/// the HF Trainer since 4.46: steps per epoch = ceil(micro-batches / GA)),
/// and its loss is normalised by its own counted tokens.
class BatchCursor {
 public:
  struct State {
    int64_t epoch = 0;
    int64_t position = 0;  // rows already consumed in `epoch`
    uint64_t seed = 0;

    nlohmann::json ToJson() const;
    /// INVALID_ARGUMENT naming the bad key.
    static absl::StatusOr<State> FromJson(const nlohmann::json& j);
    bool operator==(const State&) const = default;
  };

  /// `dataset` must outlive the cursor; it must have at least one train row.
  BatchCursor(const TokenizedDataset& dataset, int64_t micro_batch_size, uint64_t seed);

  /// The next micro-batch; after the last one of an epoch, starts the next epoch.
  Batch Next();
  /// The micro-batches of the next optimizer step (fewer than
  /// gradient_accumulation_steps at the end of an epoch).
  std::vector<Batch> NextStep(int64_t gradient_accumulation_steps);

  const State& state() const { return state_; }
  /// Continues from a saved state.  FAILED_PRECONDITION if it does not fit
  /// this data (position beyond the epoch's rows).
  absl::Status Restore(const State& state);

  /// epoch + position / rows_per_epoch, for records.
  double epoch_float() const;
  int64_t rows_per_epoch() const { return collator_.num_rows(); }
  int64_t micro_batches_per_epoch() const;
  /// Optimizer steps per epoch: max(ceil(ceil(rows / mbs) / ga), 1).
  static int64_t StepsPerEpoch(int64_t rows, int64_t micro_batch_size,
                               int64_t gradient_accumulation_steps);

 private:
  void StartEpochIfDone();

  BatchCollator collator_;
  int64_t micro_batch_size_;
  State state_;
  std::vector<int64_t> order_;  // permutation of the current epoch
  int64_t order_epoch_ = -1;
};

}  // namespace lorad
