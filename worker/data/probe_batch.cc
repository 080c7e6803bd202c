#include "worker/data/probe_batch.h"

#include <algorithm>
#include <array>

#include "worker/base/sha256.h"
#include "worker/data/batch_collator.h"

namespace lorad {
namespace {

void HashI64(Sha256* h, int64_t v) {
  std::array<uint8_t, 8> b;
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
  h->Update(b.data(), b.size());
}

}  // namespace

std::string BatchFingerprint(const Batch& batch) {
  Sha256 h;
  h.Update("lorad-probe-batch-v1");
  HashI64(&h, batch.rows);
  HashI64(&h, batch.cols);
  for (const auto* array : {&batch.input_ids, &batch.labels, &batch.position_ids, &batch.segment_ids}) {
    HashI64(&h, static_cast<int64_t>(array->size()));
    for (int64_t v : *array) HashI64(&h, v);
  }
  return h.FinishHex();
}

ProbeBatch MakeProbeBatch(const TokenizedDataset& dataset, int64_t max_rows) {
  BatchCollator collator(dataset.train, dataset.train_rows, dataset.pad_id, dataset.packed);
  ProbeBatch probe;
  probe.batch = collator.CollateRange(0, std::min<int64_t>(max_rows, collator.num_rows()));
  probe.fingerprint = BatchFingerprint(probe.batch);
  return probe;
}

}  // namespace lorad
