#include "worker/train/probe_io.h"

#include <cstring>
#include <span>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "worker/base/status_macros.h"
#include "worker/formats/safetensors.h"

namespace lorad {
namespace {

// A probe batch is a handful of rows: bound what we accept from disk.
constexpr int64_t kMaxProbeElements = int64_t{1} << 24;

}  // namespace

absl::Status WriteProbeBatch(const std::filesystem::path& dir, const Batch& batch) {
  std::vector<TensorBlob> blobs;
  auto add = [&](const char* name, const std::vector<int64_t>& v) {
    if (v.empty()) return;
    TensorBlob b;
    b.name = name;
    b.dtype = DType::kI64;
    b.shape = {batch.rows, batch.cols};
    b.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()),
                                      v.size() * sizeof(int64_t));
    blobs.push_back(b);
  };
  add("input_ids", batch.input_ids);
  add("labels", batch.labels);
  add("position_ids", batch.position_ids);
  add("segment_ids", batch.segment_ids);
  return WriteSafetensors(dir / kProbeBatchFile, blobs, {{"format", "lorad-probe"}});
}

absl::StatusOr<Batch> ReadProbeBatch(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kProbeBatchFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path.string(), " does not exist"));
  }
  LORAD_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  Batch b;
  auto read = [&](const char* name, std::vector<int64_t>& out, bool required) -> absl::Status {
    const TensorInfo* info = file->Find(name);
    if (info == nullptr) {
      return required ? absl::DataLossError(absl::StrCat(path.string(), ": no '", name, "'"))
                      : absl::OkStatus();
    }
    if (info->dtype != DType::kI64 || info->shape.size() != 2 || info->numel() > kMaxProbeElements) {
      return absl::DataLossError(absl::StrCat(path.string(), ": '", name, "' is not a 2-D I64 array"));
    }
    if (b.rows == 0) {
      b.rows = info->shape[0];
      b.cols = info->shape[1];
    } else if (info->shape[0] != b.rows || info->shape[1] != b.cols) {
      return absl::DataLossError(absl::StrCat(path.string(), ": '", name, "' has another shape"));
    }
    auto span = file->Data(*info);
    out.resize(static_cast<size_t>(info->numel()));
    std::memcpy(out.data(), span.data(), span.size());
    return absl::OkStatus();
  };
  LORAD_RETURN_IF_ERROR(read("input_ids", b.input_ids, true));
  LORAD_RETURN_IF_ERROR(read("labels", b.labels, true));
  LORAD_RETURN_IF_ERROR(read("position_ids", b.position_ids, false));
  LORAD_RETURN_IF_ERROR(read("segment_ids", b.segment_ids, false));
  for (size_t i = 0; i < b.labels.size(); ++i) {
    if (b.segment_ids.empty() ? true : b.segment_ids[i] != 0) ++b.tokens;
  }
  // Counted tokens: labels after the shift by one, per row.
  for (int64_t r = 0; r < b.rows; ++r) {
    for (int64_t c = 1; c < b.cols; ++c) {
      if (b.labels[static_cast<size_t>(r * b.cols + c)] != -100) ++b.trained_tokens;
    }
  }
  return b;
}

}  // namespace lorad
