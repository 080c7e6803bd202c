// The trainer's seam over worker/checkpoint (atomic directories with a
// manifest of SHA-256 checksums, verification, pruning).
#include "worker/train/checkpoint_dir.h"

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/checkpoint_files.h"
#include "worker/checkpoint/checkpoint_reader.h"
#include "worker/checkpoint/checkpoint_writer.h"

namespace lorad {

absl::Status WriteDirAtomically(const std::filesystem::path& final_dir,
                                const std::function<absl::Status(const std::filesystem::path&)>& fill) {
  return WriteCheckpointDir(final_dir, fill);
}

std::vector<std::pair<int64_t, std::filesystem::path>> ListCheckpointDirs(
    const std::filesystem::path& output_dir) {
  std::vector<std::pair<int64_t, std::filesystem::path>> out;
  auto refs = ListCheckpoints(output_dir);
  if (!refs.ok()) return out;
  for (auto it = refs->rbegin(); it != refs->rend(); ++it) out.emplace_back(it->step, it->path);
  return out;
}

absl::Status PruneCheckpoints(const std::filesystem::path& output_dir, int64_t limit,
                              const std::vector<std::filesystem::path>& keep) {
  return ApplySaveTotalLimit(output_dir, limit, keep).status();
}

absl::StatusOr<std::vector<std::filesystem::path>> SetAsideCheckpoints(
    const std::filesystem::path& output_dir, int64_t from_step) {
  std::vector<std::filesystem::path> moved;
  for (const auto& [step, dir] : ListCheckpointDirs(output_dir)) {
    if (step < from_step) continue;
    const std::filesystem::path to =
        output_dir / absl::StrCat("diverged-", dir.filename().string());
    std::error_code ec;
    std::filesystem::remove_all(to, ec);  // from an earlier diverged attempt
    std::filesystem::rename(dir, to, ec);
    if (ec) return ErrnoToStatus(ec.value(), "rename", dir);
    moved.push_back(to);
  }
  if (!moved.empty()) LORAD_RETURN_IF_ERROR(FsyncDirectory(output_dir));
  return moved;
}

absl::Status VerifyCheckpoint(const std::filesystem::path& dir) {
  return VerifyCheckpointDir(dir, {kTrainingStateFile, kOptimizerStateFile, kAdapterWeightsFile})
      .status();
}

}  // namespace lorad
