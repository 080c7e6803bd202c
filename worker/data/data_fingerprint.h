// The data fingerprint: one SHA-256 over everything that decides the
// tokenized data set (file contents, tokenizer, formats and their options,
// sequence_len, packing, the validation split).  It keys the on-disk cache
// and lets an exact resume refuse changed data.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/config/train_config.h"
#include "worker/tokenizer/tokenizer.h"

namespace lorad {

/// `format_descriptions[i]` is PromptFormat::Describe() of config.datasets[i].
/// File paths are not part of it (moving a file keeps the fingerprint); their
/// contents are, streamed through SHA-256.
absl::StatusOr<std::string> ComputeDataFingerprint(
    const TrainConfig& config, const Tokenizer& tokenizer,
    const std::vector<std::string>& format_descriptions);

}  // namespace lorad
