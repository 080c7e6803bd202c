// safetensors files without LibTorch: header parsing and validation (as the
// reference implementation does), read-only mmap access, and a writer.  The
// LibTorch glue (tensor views over the mapping) lives in worker/model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

enum class DType { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64,
                   kF8E4M3, kF8E5M2 };

/// "F32" ↔ DType.  Unknown names are an error.
absl::StatusOr<DType> ParseDType(std::string_view name);
std::string_view DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offset of the data, relative to the data section
  uint64_t end = 0;
  int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // 8 + header length
};

/// Validates like the reference implementation: header length ≤ 100,000,000 and
/// inside the file, JSON object, no duplicates, known dtypes, non-negative shape,
/// numel × size == end − begin (overflow-checked), offsets contiguous from 0,
/// data_offset + last end == file_size.  `source` names the file in errors.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::span<const uint8_t> file_bytes,
                                                         std::string_view source);

/// A read-only, mmapped safetensors file.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const SafetensorsHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  /// nullptr if absent.
  const TensorInfo* Find(std::string_view name) const;
  /// The tensor's bytes inside the mapping (valid while this object lives).
  std::span<const uint8_t> Data(const TensorInfo& info) const;
  /// Drops this process's resident pages of the tensor's bytes (they stay in
  /// the page cache and are read again on the next access).  A streaming reader (merge) calls it after each tensor so
  /// its resident set stays near one tensor, not the whole file.  Tensors viewing
  /// the mapping stay valid.
  void ReleasePages(const TensorInfo& info) const;

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;
};

/// One model's weights over one file or a sharded set (model.safetensors.index.json).
class SafetensorsCollection {
 public:
  /// Opens MODEL_DIR/model.safetensors or the sharded index; a directory with only
  /// pytorch_model.bin / *.pt is a clear error (pickle is never loaded).
  static absl::StatusOr<std::unique_ptr<SafetensorsCollection>> OpenModelDir(
      const std::filesystem::path& dir);
  /// Opens a single file.
  static absl::StatusOr<std::unique_ptr<SafetensorsCollection>> OpenFile(
      const std::filesystem::path& path);

  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  /// nullptr-file entry if absent.
  Entry Find(std::string_view name) const;
  std::vector<std::string> Names() const;
  uint64_t TotalBytes() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry, std::less<>> entries_;
};

/// A tensor to write: bytes must be numel × DTypeSize(dtype), little-endian, row-major.
struct TensorBlob {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};

/// Serialises tensors (sorted by name, header padded to 8 bytes like the reference).
std::string SerializeSafetensors(const std::vector<TensorBlob>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});
/// Writes the file and fsyncs it (not atomic by itself; the checkpoint writer renames dirs).
absl::Status WriteSafetensors(const std::filesystem::path& path,
                              const std::vector<TensorBlob>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace lorad
