#include "worker/checkpoint/checkpoint_writer.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "absl/strings/str_cat.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/checkpoint_manifest.h"

namespace lorad {
namespace fs = std::filesystem;
namespace {

absl::Status FsyncFile(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open for fsync", p);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoToStatus(err, "fsync", p);
  return absl::OkStatus();
}

// Every file and directory below `dir`, children before parents so that the
// directory entries are durable once their contents are.
absl::Status FsyncTree(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    fs::file_status st = it->symlink_status(ec);
    if (fs::is_directory(st)) {
      dirs.push_back(it->path());
    } else if (fs::is_regular_file(st)) {
      LORAD_RETURN_IF_ERROR(FsyncFile(it->path()));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("listing ", dir.string(), ": ", ec.message()));
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) LORAD_RETURN_IF_ERROR(FsyncDirectory(*it));
  return FsyncDirectory(dir);
}

// rename(2) silently replaces an empty directory; RENAME_NOREPLACE does not.
absl::Status RenameNoReplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return absl::OkStatus();
  }
  if (errno != EINVAL && errno != ENOSYS) return ErrnoToStatus(errno, "rename into place", to);
  // File systems without RENAME_NOREPLACE: check, then rename (the output-dir
  // lock keeps other writers out, so the window is only against ourselves).
  std::error_code ec;
  if (fs::exists(to, ec)) return ErrnoToStatus(EEXIST, "rename into place", to);
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoToStatus(errno, "rename into place", to);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteCheckpointDir(const fs::path& final_dir,
                                const std::function<absl::Status(const fs::path&)>& fill) {
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(final_dir.string(), " already exists; a checkpoint is never overwritten"));
  }
  fs::path parent = final_dir.parent_path();
  if (parent.empty()) parent = ".";
  std::random_device rd;
  std::string base = final_dir.filename().string();
  if (base.rfind("checkpoint-", 0) == 0) base = base.substr(11);
  fs::path tmp = parent / absl::StrCat(kCheckpointTempPrefix, base, "-", ::getpid(), "-", rd());
  if (!fs::create_directory(tmp, ec)) {
    return absl::InternalError(
        absl::StrCat("create ", tmp.string(), ": ", ec ? ec.message() : "already exists"));
  }
  auto body = [&]() -> absl::Status {
    LORAD_RETURN_IF_ERROR(fill(tmp));
    LORAD_RETURN_IF_ERROR(FsyncTree(tmp));
    CheckpointManifest m;
    m.complete = true;
    m.name = final_dir.filename().string();
    LORAD_ASSIGN_OR_RETURN(m.files, ScanCheckpointFiles(tmp));
    LORAD_RETURN_IF_ERROR(
        WriteFileDurably(tmp / kCheckpointManifestFile, CheckpointManifestToJson(m)));
    LORAD_RETURN_IF_ERROR(FsyncDirectory(tmp));
    LORAD_RETURN_IF_ERROR(RenameNoReplace(tmp, final_dir));
    return FsyncDirectory(parent);
  };
  absl::Status s = body();
  if (!s.ok()) fs::remove_all(tmp, ec);
  return s;
}

}  // namespace lorad
