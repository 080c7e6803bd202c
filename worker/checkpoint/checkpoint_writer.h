// Atomic checkpoint directories: a crash at any instant leaves either the
// previous complete checkpoint or the new complete one, never a half-written
// directory under the final name.
#pragma once

#include <filesystem>
#include <functional>

#include "absl/status/status.h"

namespace lorad {

/// Prefix of every temporary sibling this module creates (writes in progress
/// and checkpoints being deleted); RemoveStaleCheckpointTemps cleans them up.
inline constexpr const char* kCheckpointTempPrefix = ".tmp-checkpoint-";

/// Writes `final_dir` (e.g. OUTPUT/checkpoint-40) atomically:
///   1. creates the temporary sibling `.tmp-checkpoint-40-<pid>-<random>`,
///   2. calls `fill(tmp_dir)` to write the files (adapter, training state, ...),
///   3. fsyncs every file and directory in it,
///   4. writes manifest.json (names, sizes, SHA-256, complete: true) last and fsyncs it,
///   5. renames the directory into place (never replacing an existing one) and
///      fsyncs the parent.
/// On any error the temporary directory is removed and nothing appears under
/// `final_dir`.  An existing `final_dir` is refused (ALREADY_EXISTS).
absl::Status WriteCheckpointDir(
    const std::filesystem::path& final_dir,
    const std::function<absl::Status(const std::filesystem::path&)>& fill);

}  // namespace lorad
