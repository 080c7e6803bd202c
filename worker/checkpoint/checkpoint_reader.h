// Finding, verifying and pruning checkpoint directories under an output_dir.
// Callers hold the output-dir lock (one writer per output_dir).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/checkpoint/checkpoint_manifest.h"

namespace lorad {

struct CheckpointRef {
  int64_t step = 0;
  std::filesystem::path path;  // OUTPUT_DIR/checkpoint-STEP
};

/// Checks DIR/manifest.json (present, parseable, complete) and every listed
/// file (present, regular, size and SHA-256 match); any file not listed is an
/// error too (a checkpoint holds exactly what its writer wrote).  Files in
/// `required` must be listed.  The error names the first problem found.
absl::StatusOr<CheckpointManifest> VerifyCheckpointDir(
    const std::filesystem::path& dir, const std::vector<std::string>& required = {});

/// Directories named `checkpoint-<N>` (N decimal, no sign) under output_dir,
/// sorted by N ascending.  A missing output_dir is an empty list.
absl::StatusOr<std::vector<CheckpointRef>> ListCheckpoints(const std::filesystem::path& output_dir);

/// The newest checkpoint that verifies; each newer one that does not is
/// skipped with a line in `warnings` naming it and the reason.  nullopt when
/// none is valid (a fresh start).
absl::StatusOr<std::optional<CheckpointRef>> FindNewestValidCheckpoint(
    const std::filesystem::path& output_dir, std::vector<std::string>* warnings,
    const std::vector<std::string>& required = {});

/// Removes `.tmp-checkpoint-*` siblings left by writers that died (their pid
/// is no longer alive on this host).  Returns the removed paths.
absl::StatusOr<std::vector<std::filesystem::path>> RemoveStaleCheckpointTemps(
    const std::filesystem::path& output_dir);

/// Keeps the newest `limit` checkpoints (by step) and deletes older ones, never
/// `protect_dir` (the one being resumed from).  limit ≤ 0 keeps all.  Each
/// deletion first renames the directory to a temporary name, so a crash never
/// leaves a partly deleted `checkpoint-N`.  Returns the deleted paths.
absl::StatusOr<std::vector<std::filesystem::path>> ApplySaveTotalLimit(
    const std::filesystem::path& output_dir, int64_t limit,
    const std::filesystem::path& protect_dir = {});
/// The same with several protected directories (the one resumed from, the
/// best-eval checkpoint that keep_best keeps).
absl::StatusOr<std::vector<std::filesystem::path>> ApplySaveTotalLimit(
    const std::filesystem::path& output_dir, int64_t limit,
    const std::vector<std::filesystem::path>& protect_dirs);

}  // namespace lorad
