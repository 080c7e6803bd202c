// Merging a LoRA adapter into its base model: W' = W + scaling · B·A for every
// adapted linear (scaling = alpha/r, alpha/√r with rsLoRA), written as a
// Hugging Face model directory that loads anywhere a model does.  Streams: one
// input tensor is read (from the mmapped shards) and one output tensor written
// at a time, so memory stays near the largest tensor, not the model.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/base/byte_size.h"  // ParseByteSize for --max-shard-size
#include "worker/formats/safetensors.h"

namespace lorad {

/// transformers' save_pretrained default.
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

struct MergeOptions {
  std::filesystem::path model_dir;
  std::filesystem::path adapter_dir;
  std::filesystem::path out_dir;
  /// F32, BF16 or F16; unset = the base model's dtype (config.json torch_dtype).
  std::optional<DType> dtype;
  /// Shards hold at most this many bytes of tensor data (a larger tensor gets a
  /// shard of its own), as transformers' max_shard_size.
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
  /// Write into an existing, non-empty out_dir (its files of the same names are
  /// replaced, stale model*.safetensors and the index removed).
  bool force = false;
  /// Set by another thread to stop the merge (CANCELLED) before the next
  /// tensor; the temporary directory is removed and out_dir left as it was.
  const std::atomic<bool>* stop = nullptr;
};

struct MergeProgress {
  int shard = 0;  // 1-based
  int num_shards = 0;
  std::filesystem::path file;
  uint64_t bytes = 0;  // tensor bytes in this shard
};

struct MergeReport {
  int64_t merged_modules = 0;  // linears that received B·A
  int64_t tensors = 0;         // tensors written
  uint64_t total_bytes = 0;    // tensor data written
  DType dtype = DType::kF32;
  std::vector<std::string> weight_files;  // in out_dir
  std::vector<std::string> copied_files;  // config, tokenizer, generation config
};

/// Errors, all before anything is written: missing model or adapter files,
/// an adapter that does not fit the model (every problem listed), PEFT options
/// the reader refuses, an out_dir equal to an input or non-empty without
/// `force` (FAILED_PRECONDITION), a dtype other than F32/BF16/F16.  CANCELLED
/// when `stop` is set during the merge.  The output
/// is assembled in a temporary sibling of out_dir and moved into place at the
/// end, so a failure never leaves a half-written out_dir.
absl::StatusOr<MergeReport> MergeAdapter(
    const MergeOptions& options, const std::function<void(const MergeProgress&)>& on_shard = {});

}  // namespace lorad
