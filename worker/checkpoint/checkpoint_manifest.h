// manifest.json of a checkpoint directory: written last, it lists every file
// with its size and SHA-256, so a reader can tell a complete checkpoint from a
// half-written or corrupted one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

inline constexpr const char* kCheckpointManifestFile = "manifest.json";
inline constexpr const char* kCheckpointManifestFormat = "lorad-checkpoint";
inline constexpr int kCheckpointFormatVersion = 1;

struct ManifestEntry {
  std::string name;  // relative path inside the checkpoint directory ('/'-separated)
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

struct CheckpointManifest {
  int format_version = kCheckpointFormatVersion;
  bool complete = false;
  std::string name;                  // the directory name it was written for, e.g. "checkpoint-40"
  std::vector<ManifestEntry> files;  // sorted by name
};

/// Parses and validates manifest.json text (names are safe relative paths,
/// no duplicates, hex digests).  `source` names the file in errors.
absl::StatusOr<CheckpointManifest> ParseCheckpointManifest(std::string_view json_text,
                                                           std::string_view source);
std::string CheckpointManifestToJson(const CheckpointManifest& manifest);

/// Lists every regular file under `dir` (recursively, except manifest.json)
/// with size and (when `with_checksums`) SHA-256.  Symlinks and other special
/// files are an error.
absl::StatusOr<std::vector<ManifestEntry>> ScanCheckpointFiles(const std::filesystem::path& dir,
                                                               bool with_checksums = true);

}  // namespace lorad
