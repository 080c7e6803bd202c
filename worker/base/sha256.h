// SHA-256 for checkpoint manifests and data fingerprints (no external crypto
// dependency in the training core).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace lorad {

/// Incremental SHA-256 (FIPS 180-4).
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  /// Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Finish();
  /// Finishes and returns lowercase hex.
  std::string FinishHex();

 private:
  void Block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Sha256Hex(std::string_view data);
/// Streams the file through SHA-256 (no whole-file buffer).
absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path);

}  // namespace lorad
