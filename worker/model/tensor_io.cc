#include "worker/model/tensor_io.h"

#include <torch/torch.h>

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lorad {

absl::StatusOr<torch::Dtype> TorchDtypeFor(DType dtype) {
  switch (dtype) {
    case DType::kF32: return torch::kFloat32;
    case DType::kF16: return torch::kFloat16;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kF64: return torch::kFloat64;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("dtype ", std::string(DTypeName(dtype)),
                       " is not a model dtype (F32, F16, BF16, F64)"));
  }
}

absl::StatusOr<DType> SafetensorsDtypeFor(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return DType::kF32;
    case torch::kFloat16: return DType::kF16;
    case torch::kBFloat16: return DType::kBF16;
    case torch::kFloat64: return DType::kF64;
    case torch::kInt64: return DType::kI64;
    case torch::kInt32: return DType::kI32;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("torch dtype ", std::string(c10::toString(dtype)),
                       " has no safetensors mapping here"));
  }
}

absl::StatusOr<torch::Tensor> LoadTensor(const SafetensorsFile& file, const TensorInfo& info,
                                         std::optional<torch::Dtype> convert_to) {
  auto dtype_or = TorchDtypeFor(info.dtype);
  if (!dtype_or.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", info.name, "' in ",
                                                   file.path().string(), ": ",
                                                   dtype_or.status().message()));
  }
  const torch::Dtype stored = *dtype_or;
  std::span<const uint8_t> bytes = file.Data(info);
  const size_t elem = DTypeSize(info.dtype);
  if (bytes.size() != static_cast<size_t>(info.numel()) * elem) {
    return absl::DataLossError(absl::StrCat("tensor '", info.name, "' in ", file.path().string(),
                                            ": byte span does not match its shape"));
  }
  try {
    std::vector<int64_t> shape = info.shape;
    auto opts = torch::TensorOptions().dtype(stored);
    // from_blob needs a mutable pointer; the mapping is read-only and the
    // tensor is documented as never written (frozen base weights).
    void* ptr = const_cast<uint8_t*>(bytes.data());
    const bool aligned = reinterpret_cast<uintptr_t>(ptr) % elem == 0;
    if (info.numel() == 0) return torch::empty(shape, opts.dtype(convert_to.value_or(stored)));
    if (aligned) {
      torch::Tensor view = torch::from_blob(ptr, shape, opts);
      if (!convert_to || *convert_to == stored) return view;
      return view.to(*convert_to);
    }
    // Unaligned data (a writer that did not pad its header): copy bytewise first.
    torch::Tensor owned = torch::empty(shape, opts);
    std::memcpy(owned.data_ptr(), bytes.data(), bytes.size());
    if (convert_to && *convert_to != stored) return owned.to(*convert_to);
    return owned;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("loading tensor '", info.name, "' from ",
                                            file.path().string(), ": ", e.what_without_backtrace()));
  }
}

absl::StatusOr<TensorBlobs> MakeTensorBlobs(
    const std::vector<std::pair<std::string, torch::Tensor>>& named,
    std::optional<torch::Dtype> convert_to) {
  TensorBlobs out;
  out.storage.reserve(named.size());
  out.blobs.reserve(named.size());
  try {
    for (const auto& [name, tensor] : named) {
      if (!tensor.defined()) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is undefined"));
      }
      torch::Tensor t = tensor.detach().to(torch::kCPU);
      if (convert_to) t = t.to(*convert_to);
      t = t.contiguous();
      auto dtype = SafetensorsDtypeFor(t.scalar_type());
      if (!dtype.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", name, "': ", dtype.status().message()));
      }
      out.storage.push_back(t);
      TensorBlob blob;
      blob.name = name;
      blob.dtype = *dtype;
      blob.shape = t.sizes().vec();
      blob.data = std::span<const uint8_t>(static_cast<const uint8_t*>(t.data_ptr()),
                                           static_cast<size_t>(t.nbytes()));
      out.blobs.push_back(std::move(blob));
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("preparing tensors for writing: ",
                                            e.what_without_backtrace()));
  }
  return out;
}

}  // namespace lorad
