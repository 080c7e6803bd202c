#include "worker/checkpoint/checkpoint_reader.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/sha256.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/checkpoint_writer.h"

namespace lorad {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kMaxManifestBytes = 16ull << 20;

std::optional<int64_t> ParseCheckpointStep(const std::string& name) {
  constexpr std::string_view kPrefix = "checkpoint-";
  if (name.size() <= kPrefix.size() || name.size() > kPrefix.size() + 18 ||
      name.compare(0, kPrefix.size(), kPrefix) != 0) {
    return std::nullopt;
  }
  int64_t step = 0;
  for (size_t i = kPrefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

bool SamePath(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (a.empty() || b.empty()) return false;
  bool eq = fs::equivalent(a, b, ec);
  if (!ec) return eq;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

}  // namespace

absl::StatusOr<CheckpointManifest> VerifyCheckpointDir(const fs::path& dir,
                                                       const std::vector<std::string>& required) {
  fs::path mpath = dir / kCheckpointManifestFile;
  std::error_code ec;
  if (!fs::exists(mpath, ec)) {
    return absl::DataLossError(
        absl::StrCat(dir.string(), ": no ", kCheckpointManifestFile, " (incomplete checkpoint)"));
  }
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(mpath, kMaxManifestBytes));
  auto m = ParseCheckpointManifest(text, mpath.string());
  if (!m.ok()) return absl::DataLossError(m.status().message());
  if (!m->complete) {
    return absl::DataLossError(absl::StrCat(mpath.string(), ": not marked complete"));
  }
  std::set<std::string> listed;
  for (const ManifestEntry& e : m->files) {
    listed.insert(e.name);
    fs::path p = dir / e.name;
    fs::file_status st = fs::symlink_status(p, ec);
    if (!fs::is_regular_file(st)) {
      return absl::DataLossError(
          absl::StrCat(dir.string(), ": ", e.name, " is listed in the manifest but ",
                       fs::exists(st) ? "is not a regular file" : "missing"));
    }
    uint64_t size = fs::file_size(p, ec);
    if (ec || size != e.size) {
      return absl::DataLossError(absl::StrCat(dir.string(), ": ", e.name, " is ", size,
                                              " bytes, the manifest says ", e.size));
    }
    LORAD_ASSIGN_OR_RETURN(std::string sha, Sha256File(p));
    if (sha != e.sha256) {
      return absl::DataLossError(
          absl::StrCat(dir.string(), ": ", e.name, " checksum mismatch (corrupted)"));
    }
  }
  for (const std::string& r : required) {
    if (!listed.count(r)) {
      return absl::DataLossError(absl::StrCat(dir.string(), ": required file ", r, " is missing"));
    }
  }
  LORAD_ASSIGN_OR_RETURN(auto present, ScanCheckpointFiles(dir, /*with_checksums=*/false));
  for (const ManifestEntry& e : present) {
    if (!listed.count(e.name)) {
      return absl::DataLossError(
          absl::StrCat(dir.string(), ": ", e.name, " is not listed in the manifest"));
    }
  }
  return m;
}

absl::StatusOr<std::vector<CheckpointRef>> ListCheckpoints(const fs::path& output_dir) {
  std::vector<CheckpointRef> out;
  std::error_code ec;
  if (!fs::exists(output_dir, ec)) return out;
  for (fs::directory_iterator it(output_dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto step = ParseCheckpointStep(it->path().filename().string());
    if (!step || !it->is_directory(ec)) continue;
    out.push_back({*step, it->path()});
  }
  if (ec) return ErrnoToStatus(ec.value(), "list", output_dir);
  std::sort(out.begin(), out.end(), [](const CheckpointRef& a, const CheckpointRef& b) {
    return a.step < b.step || (a.step == b.step && a.path < b.path);
  });
  return out;
}

absl::StatusOr<std::optional<CheckpointRef>> FindNewestValidCheckpoint(
    const fs::path& output_dir, std::vector<std::string>* warnings,
    const std::vector<std::string>& required) {
  LORAD_ASSIGN_OR_RETURN(auto all, ListCheckpoints(output_dir));
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    auto v = VerifyCheckpointDir(it->path, required);
    if (v.ok()) return std::optional<CheckpointRef>(*it);
    if (warnings) {
      warnings->push_back(
          absl::StrCat("skipping ", it->path.filename().string(), ": ", v.status().message()));
    }
  }
  return std::optional<CheckpointRef>();
}

absl::StatusOr<std::vector<fs::path>> RemoveStaleCheckpointTemps(const fs::path& output_dir) {
  std::vector<fs::path> removed;
  std::error_code ec;
  if (!fs::exists(output_dir, ec)) return removed;
  const std::string prefix = kCheckpointTempPrefix;
  std::vector<fs::path> candidates;
  for (fs::directory_iterator it(output_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // Name: PREFIX<what>-<pid>-<random>; the pid is the second-last field.
    size_t last = name.rfind('-');
    size_t before =
        last == std::string::npos || last == 0 ? std::string::npos : name.rfind('-', last - 1);
    int64_t pid = 0;
    if (before != std::string::npos &&
        absl::SimpleAtoi(name.substr(before + 1, last - before - 1), &pid) && pid > 0 &&
        pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) == 0) {
      continue;  // its writer is still running
    }
    candidates.push_back(it->path());
  }
  if (ec) return ErrnoToStatus(ec.value(), "list", output_dir);
  for (const fs::path& p : candidates) {
    fs::remove_all(p, ec);
    if (ec) return ErrnoToStatus(ec.value(), "remove", p);
    removed.push_back(p);
  }
  return removed;
}

absl::StatusOr<std::vector<fs::path>> ApplySaveTotalLimit(const fs::path& output_dir, int64_t limit,
                                                          const fs::path& protect_dir) {
  return ApplySaveTotalLimit(output_dir, limit, std::vector<fs::path>{protect_dir});
}

absl::StatusOr<std::vector<fs::path>> ApplySaveTotalLimit(
    const fs::path& output_dir, int64_t limit, const std::vector<fs::path>& protect_dirs) {
  std::vector<fs::path> removed;
  if (limit <= 0) return removed;
  LORAD_ASSIGN_OR_RETURN(auto all, ListCheckpoints(output_dir));
  if (static_cast<int64_t>(all.size()) <= limit) return removed;
  std::random_device rd;
  size_t drop = all.size() - static_cast<size_t>(limit);
  for (size_t i = 0; i < drop; ++i) {
    const fs::path& p = all[i].path;
    if (std::any_of(protect_dirs.begin(), protect_dirs.end(),
                    [&](const fs::path& keep) { return SamePath(p, keep); })) {
      continue;
    }
    fs::path doomed = output_dir / absl::StrCat(kCheckpointTempPrefix, "delete-", all[i].step, "-",
                                                ::getpid(), "-", rd());
    if (::rename(p.c_str(), doomed.c_str()) != 0) return ErrnoToStatus(errno, "rename", p);
    LORAD_RETURN_IF_ERROR(FsyncDirectory(output_dir));
    std::error_code ec;
    fs::remove_all(doomed, ec);
    if (ec) return ErrnoToStatus(ec.value(), "remove", doomed);
    removed.push_back(p);
  }
  return removed;
}

}  // namespace lorad
