// LibTorch glue for safetensors (worker/formats/safetensors.h): tensors over
// the mmapped bytes and blobs for writing.
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/formats/safetensors.h"

namespace lorad {

/// torch dtype ↔ safetensors dtype.  Only F32, F16, BF16 and F64 are model dtypes.
absl::StatusOr<torch::Dtype> TorchDtypeFor(DType dtype);
absl::StatusOr<DType> SafetensorsDtypeFor(torch::Dtype dtype);

/// Loads one tensor (BF16/F16/F32/F64; other dtypes are an error naming the tensor
/// and file).  Without conversion and when the bytes are aligned for the dtype the
/// result is a zero-copy, NON-OWNING, READ-ONLY view of the mapping: the caller
/// keeps `file` alive as long as the tensor and never writes to it.  Otherwise
/// (unaligned, or `convert_to` differs from the stored dtype) it is an owned copy.
absl::StatusOr<torch::Tensor> LoadTensor(const SafetensorsFile& file, const TensorInfo& info,
                                         std::optional<torch::Dtype> convert_to = std::nullopt);

/// Tensors prepared for WriteSafetensors: each is made a contiguous CPU tensor
/// (optionally converted), and the blobs point into `storage`, which must outlive
/// any use of the blobs.
struct TensorBlobs {
  std::vector<torch::Tensor> storage;
  std::vector<TensorBlob> blobs;
};
absl::StatusOr<TensorBlobs> MakeTensorBlobs(
    const std::vector<std::pair<std::string, torch::Tensor>>& named,
    std::optional<torch::Dtype> convert_to = std::nullopt);

}  // namespace lorad
