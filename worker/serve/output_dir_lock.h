// An exclusive flock on OUTPUT_DIR/.lorad.lock while a worker trains into it,
// so two attempts of a job (an old worker still stopping, a new one starting)
// can never write the same output_dir at once.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace lorad {

class OutputDirLock {
 public:
  /// Creates `dir` if needed and takes the lock, waiting up to `wait_ms` for a
  /// previous holder to let go.  UNAVAILABLE if it stays held.
  static absl::StatusOr<OutputDirLock> Acquire(const std::string& dir, int64_t wait_ms);
  /// The lock of a directory that must hold nothing but its result until the
  /// result is complete (a merge's out_dir): DIR/../.NAME.lorad.lock, beside it.
  /// The parent is created if needed.
  static absl::StatusOr<OutputDirLock> AcquireBeside(const std::string& dir, int64_t wait_ms);
  OutputDirLock(OutputDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  OutputDirLock& operator=(OutputDirLock&& other) noexcept;
  OutputDirLock(const OutputDirLock&) = delete;
  ~OutputDirLock();

 private:
  explicit OutputDirLock(int fd) : fd_(fd) {}
  static absl::StatusOr<OutputDirLock> LockFile(const std::string& path, const std::string& dir,
                                                int64_t wait_ms);
  int fd_;
};

}  // namespace lorad
