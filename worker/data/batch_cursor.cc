#include "worker/data/batch_cursor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/data/seeded_shuffle.h"

namespace lorad {

nlohmann::json BatchCursor::State::ToJson() const {
  // The seed is written as a string: JSON numbers above 2^53 lose bits in
  // many readers.
  return {{"epoch", epoch}, {"position", position}, {"seed", std::to_string(seed)}};
}

absl::StatusOr<BatchCursor::State> BatchCursor::State::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("data cursor: not a JSON object");
  State s;
  for (const char* key : {"epoch", "position"}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("data cursor: '", key, "' must be a non-negative integer"));
    }
  }
  s.epoch = j["epoch"].get<int64_t>();
  s.position = j["position"].get<int64_t>();
  auto seed = j.find("seed");
  if (seed == j.end() || !seed->is_string() || seed->get<std::string>().empty()) {
    return absl::InvalidArgumentError("data cursor: 'seed' must be a decimal string");
  }
  const std::string text = seed->get<std::string>();
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) {
      return absl::InvalidArgumentError(
          absl::StrCat("data cursor: 'seed' is not a 64-bit decimal: '", text, "'"));
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  s.seed = v;
  return s;
}

BatchCursor::BatchCursor(const TokenizedDataset& dataset, int64_t micro_batch_size, uint64_t seed)
    : collator_(dataset.train, dataset.train_rows, dataset.pad_id, dataset.packed),
      micro_batch_size_(std::max<int64_t>(micro_batch_size, 1)) {
  state_.seed = seed;
}

void BatchCursor::StartEpochIfDone() {
  if (state_.position >= rows_per_epoch()) {
    ++state_.epoch;
    state_.position = 0;
  }
  if (order_epoch_ != state_.epoch) {
    order_ = SeededPermutation(rows_per_epoch(), state_.seed, static_cast<uint64_t>(state_.epoch));
    order_epoch_ = state_.epoch;
  }
}

Batch BatchCursor::Next() {
  StartEpochIfDone();
  const int64_t end = std::min(state_.position + micro_batch_size_, rows_per_epoch());
  std::vector<int64_t> rows(order_.begin() + state_.position, order_.begin() + end);
  state_.position = end;
  return collator_.Collate(rows);
}

std::vector<Batch> BatchCursor::NextStep(int64_t gradient_accumulation_steps) {
  StartEpochIfDone();
  const int64_t ga = std::max<int64_t>(gradient_accumulation_steps, 1);
  std::vector<Batch> out;
  // Stop at the epoch boundary: a step never mixes two epochs (HF Trainer).
  while (static_cast<int64_t>(out.size()) < ga && state_.position < rows_per_epoch()) {
    out.push_back(Next());
  }
  return out;
}

absl::Status BatchCursor::Restore(const State& state) {
  if (state.position > rows_per_epoch()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data cursor position ", state.position, " is beyond this data set's ", rows_per_epoch(),
        " rows per epoch: the data changed since the checkpoint"));
  }
  state_ = state;
  order_epoch_ = -1;
  return absl::OkStatus();
}

double BatchCursor::epoch_float() const {
  if (rows_per_epoch() == 0) return static_cast<double>(state_.epoch);
  return static_cast<double>(state_.epoch) +
         static_cast<double>(state_.position) / static_cast<double>(rows_per_epoch());
}

int64_t BatchCursor::micro_batches_per_epoch() const {
  return (rows_per_epoch() + micro_batch_size_ - 1) / micro_batch_size_;
}

int64_t BatchCursor::StepsPerEpoch(int64_t rows, int64_t micro_batch_size,
                                   int64_t gradient_accumulation_steps) {
  const int64_t mbs = std::max<int64_t>(micro_batch_size, 1);
  const int64_t ga = std::max<int64_t>(gradient_accumulation_steps, 1);
  const int64_t micro_batches = (rows + mbs - 1) / mbs;
  return std::max<int64_t>((micro_batches + ga - 1) / ga, 1);
}

}  // namespace lorad
