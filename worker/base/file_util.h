// Small, careful file-system helpers: whole-file reads with a size bound,
// durable (fsynced, atomically renamed) writes, directory fsync.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lorad {

/// Reads a whole file; refuses files larger than `max_bytes` before allocating.
absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path,
                                             uint64_t max_bytes = uint64_t{1} << 30);

/// Writes `data` to `path` durably: temp file in the same directory, fsync,
/// rename over `path`, fsync of the directory. Readers see old or new, never half.
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view data);

/// Writes `data` to a new file and fsyncs it (no rename).
absl::Status WriteFileDurably(const std::filesystem::path& path, std::string_view data);

/// fsyncs a directory so that renames/creations inside it are durable.
absl::Status FsyncDirectory(const std::filesystem::path& dir);

/// write(2) until all of `data` is written (EINTR retried); `path` names the
/// file in errors.
absl::Status WriteAllToFd(int fd, std::string_view data, const std::filesystem::path& path);

/// errno → absl::Status with the operation and path in the message.
absl::Status ErrnoToStatus(int err, std::string_view what, const std::filesystem::path& path);

}  // namespace lorad
