// Server-side checks of a parsed job config (issue 4 submit validation, issue 11
// hostile input): paths confined to allowed roots, sizes bounded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "worker/config/train_config.h"

namespace lorad {

/// Refuses (INVALID_ARGUMENT, every problem on its own line with its key) a config
/// whose base_model, datasets[i].path, output_dir, lora_model_dir,
/// resume_from_checkpoint or dataset_prepared_path lies outside every root in
/// `allowed_roots` after resolving symlinks (weakly_canonical), so a symlink
/// pointing out of the roots is refused.  Empty `allowed_roots` = no restriction.
/// Always refuses an output_dir that overlaps base_model's directory (one inside
/// the other).
absl::Status CheckPathsUnderRoots(const TrainConfig& config,
                                  const std::vector<std::string>& allowed_roots);

/// The same check for one path named `key` (e.g. a merge's out_dir): absolute,
/// and inside a root when `allowed_roots` is not empty.  INVALID_ARGUMENT.
absl::Status CheckPathUnderRoots(const std::string& key, const std::string& path,
                                 const std::vector<std::string>& allowed_roots);

/// True when one path is the other or lies inside it, after resolving symlinks
/// (component-wise: /data2 does not overlap /data).  Two jobs whose output
/// dirs overlap would prune or overwrite each other's checkpoints.
bool PathsOverlap(const std::string& a, const std::string& b);

/// True when `inner` is `outer` or lies inside it, after resolving symlinks
/// (component-wise).  A merge may write into its adapter's directory's
/// subfolder, never into (or above) the adapter itself.
bool PathWithin(const std::string& inner, const std::string& outer);

/// Upper bounds against absurd sizes (ParseTrainConfig applies them too).
inline constexpr int64_t kMaxSequenceLen = 1'048'576;
inline constexpr int64_t kMaxLoraR = 4096;
inline constexpr int64_t kMaxMicroBatchSize = 4096;
inline constexpr int64_t kMaxGradientAccumulationSteps = 1'048'576;
inline constexpr int64_t kMaxEvalNewTokens = 65'536;

/// True when `s` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
bool IsValidUtf8(std::string_view s);
/// Length of the longest well-formed UTF-8 prefix of `s` (s.size() when valid).
size_t ValidUtf8PrefixLength(std::string_view s);

}  // namespace lorad
