// The probe batch stored beside every adapter we write (probe_batch.safetensors,
// I64 arrays), so that continuing the adapter later can recompute its probe
// loss on exactly the batch it was recorded on, whatever the new data is.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "worker/data/batch.h"

namespace lorad {

inline constexpr const char* kProbeBatchFile = "probe_batch.safetensors";

absl::Status WriteProbeBatch(const std::filesystem::path& dir, const Batch& batch);
/// NOT_FOUND when the file is absent; DATA_LOSS when malformed.
absl::StatusOr<Batch> ReadProbeBatch(const std::filesystem::path& dir);

}  // namespace lorad
