// The trainer's view of checkpoint directories: atomic writing, pruning and
// listing.  A thin seam over worker/checkpoint (manifest + checksums) so the
// trainer does not depend on its details.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lorad {

/// Creates `final_dir` atomically: `fill` writes into a temporary sibling, then
/// a manifest with checksums is written, the directory renamed into place and
/// the parent fsynced.  An existing `final_dir` is replaced.
absl::Status WriteDirAtomically(const std::filesystem::path& final_dir,
                                const std::function<absl::Status(const std::filesystem::path&)>& fill);

/// Keeps the newest `limit` checkpoint-N directories (and those in `keep`
/// whatever their age).
absl::Status PruneCheckpoints(const std::filesystem::path& output_dir, int64_t limit,
                              const std::vector<std::filesystem::path>& keep);

/// Renames checkpoint-N with N >= `from_step` to diverged-checkpoint-N, out of
/// reach of --resume auto but kept for inspection; returns the new paths.
absl::StatusOr<std::vector<std::filesystem::path>> SetAsideCheckpoints(
    const std::filesystem::path& output_dir, int64_t from_step);

/// checkpoint-N directories under `output_dir`, newest (highest N) first.
std::vector<std::pair<int64_t, std::filesystem::path>> ListCheckpointDirs(
    const std::filesystem::path& output_dir);

/// True when `dir` verifies (manifest present, every checksum matches).
absl::Status VerifyCheckpoint(const std::filesystem::path& dir);

}  // namespace lorad
