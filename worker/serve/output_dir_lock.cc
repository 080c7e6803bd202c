#include "worker/serve/output_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"

namespace lorad {

absl::StatusOr<OutputDirLock> OutputDirLock::Acquire(const std::string& dir, int64_t wait_ms) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("output_dir ", dir, ": ", ec.message()));
  return LockFile(dir + "/.lorad.lock", dir, wait_ms);
}

absl::StatusOr<OutputDirLock> OutputDirLock::AcquireBeside(const std::string& dir,
                                                           int64_t wait_ms) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "DIR/"
  std::error_code ec;
  std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("output_dir ", dir, ": parent ", p.parent_path().string(), ": ", ec.message()));
  }
  return LockFile((p.parent_path() / absl::StrCat(".", p.filename().string(), ".lorad.lock")).string(),
                  dir, wait_ms);
}

absl::StatusOr<OutputDirLock> OutputDirLock::LockFile(const std::string& path,
                                                      const std::string& dir, int64_t wait_ms) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK || std::chrono::steady_clock::now() >= deadline) {
      close(fd);
      return absl::UnavailableError(absl::StrCat(
          "output_dir ", dir, " is locked by another process (", path, "); another attempt of "
          "this job may still be stopping"));
    }
    // Polling a lock held by another process: there is nothing to wait on.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return OutputDirLock(fd);
}

OutputDirLock& OutputDirLock::operator=(OutputDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

OutputDirLock::~OutputDirLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

}  // namespace lorad
