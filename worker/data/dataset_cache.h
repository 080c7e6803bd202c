// On-disk cache of tokenized samples, keyed by the data fingerprint, so a
// repeated or resumed job does not tokenize again.
//
// File DIR/<fingerprint>.tokens, little-endian:
//   "LORADTOK" | u32 version (1) | u32 0 | 64 bytes fingerprint (hex) |
//   u64 payload bytes | payload | 32 bytes SHA-256 of the payload
// payload: u64 n_counters, n × i64 (records, bad_lines_skipped, samples,
//   truncated, dropped_short, dropped_untrainable) | train split | eval split
// split: u64 n_samples, per sample: u32 length L, L × i32 input_ids, L × i32 labels
// Written atomically (temp + fsync + rename).  A file that does not verify
// (size, checksum, fingerprint, bounds) is treated as a miss and rebuilt.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/data/data_build_report.h"
#include "worker/data/sample.h"

namespace lorad {

struct CachedData {
  std::vector<Sample> train;
  std::vector<Sample> eval;
  DataBuildReport counters;  // records, bad_lines_skipped, samples, truncated, dropped_*
};

class DatasetCache {
 public:
  explicit DatasetCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::filesystem::path PathFor(const std::string& fingerprint) const;
  /// NOT_FOUND when absent; DATA_LOSS when present but corrupt or for another
  /// fingerprint (the caller rebuilds and overwrites it).
  absl::StatusOr<CachedData> Load(const std::string& fingerprint, int64_t max_sample_len) const;
  /// Creates the directory if needed.
  absl::Status Store(const std::string& fingerprint, const CachedData& data) const;

  /// Encoding, exposed for tests.
  static std::string Encode(const std::string& fingerprint, const CachedData& data);
  static absl::StatusOr<CachedData> Decode(const std::string& bytes, const std::string& fingerprint,
                                           int64_t max_sample_len);

 private:
  std::filesystem::path dir_;
};

}  // namespace lorad
