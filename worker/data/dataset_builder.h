// Builds the job's data set from its `datasets:` entries: read, format,
// truncate, split, cache, lay out rows.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "worker/config/train_config.h"
#include "worker/data/data_build_report.h"
#include "worker/data/tokenized_dataset.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {

/// The cache directory: dataset_prepared_path, or `.lorad-cache` in the
/// folder that holds output_dir (so jobs writing to sibling output dirs share
/// tokenized data, and deleting an output dir keeps it).
std::filesystem::path DataCacheDir(const TrainConfig& config);

/// Mixes the `datasets` entries in order, then:
///  - every sample is truncated to sequence_len (counted); samples with fewer
///    than 2 tokens or with no trained label after the shift are dropped
///    (counted) — they cannot contribute to the loss;
///  - val_set_size (a fraction: ceil(fraction × n); or a count) samples are
///    held out for evaluation, chosen by a permutation seeded with `seed`;
///  - rows: first-fit-decreasing packing with sample_packing, else one sample
///    a row.
/// A bad record fails with "file:line: reason" (INVALID_ARGUMENT) unless
/// skip_bad_lines, which skips and counts it.  The tokenized samples are
/// cached under DataCacheDir(config) by fingerprint; a corrupt cache file is
/// ignored and rewritten; failing to write the cache is only a warning.
/// `report` may be null.
absl::StatusOr<TokenizedDataset> BuildDataset(const TrainConfig& config, const Tokenizer& tokenizer,
                                              DataBuildReport* report);

}  // namespace lorad
