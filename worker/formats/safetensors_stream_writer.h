// Writing a safetensors file one tensor at a time, so a writer holds one
// tensor in memory instead of the whole file (the merge streams a model shard
// by shard this way).  The layout is the one SerializeSafetensors produces.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/formats/safetensors.h"

namespace lorad {

/// A tensor's name, dtype and shape, without its bytes.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
};

/// Where the bytes of the tensors of a file we write go: data contiguous in
/// name order, preceded by the header (8-byte little-endian length, then the
/// JSON padded with spaces to a multiple of 8 bytes, as the reference writer
/// does, so readers that map the file can view aligned data without copying).
struct SafetensorsLayout {
  std::vector<TensorSpec> order;  // sorted by name
  std::vector<uint64_t> sizes;    // bytes of each tensor, in `order`
  std::string header;             // every byte before the data section
  uint64_t data_bytes = 0;

  /// Errors: an empty, duplicate or "__metadata__" name, a negative shape, a
  /// size that overflows.  Empty `metadata` writes {"format": "pt"}, which
  /// transformers requires.
  static absl::StatusOr<SafetensorsLayout> Make(
      std::vector<TensorSpec> tensors, const std::map<std::string, std::string>& metadata = {});
};

/// Creates (truncates) `path`, writes the header, then takes each tensor's
/// bytes in layout order.  The file is complete only after Finish(); a writer
/// destroyed before that leaves a partial file (callers write into a temporary
/// directory).
class SafetensorsStreamWriter {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsStreamWriter>> Create(
      const std::filesystem::path& path, std::vector<TensorSpec> tensors,
      const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsStreamWriter();
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  /// The order in which Write must be called.
  const std::vector<TensorSpec>& order() const { return layout_.order; }
  /// The next tensor's bytes: `name` must be order()[i] for the i-th call and
  /// `data` exactly its size.
  absl::Status Write(std::string_view name, std::span<const uint8_t> data);
  /// Checks that every tensor was written, fsyncs and closes the file.
  absl::Status Finish();

 private:
  SafetensorsStreamWriter() = default;

  std::filesystem::path path_;
  SafetensorsLayout layout_;
  size_t next_ = 0;
  int fd_ = -1;
};

}  // namespace lorad
