// Which attention implementation a training run uses (issue 10): the config's
// `attention: auto | eager | blockwise | sdpa` resolved for this device,
// LibTorch and sequence length, with the reason, which the worker logs and
// reports in its `start` and `dry_run` records.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/model/attention.h"

namespace lorad {

/// The config's spelling: "eager", "blockwise", "sdpa".
const char* AttentionBackendName(AttentionBackend backend);

struct AttentionChoice {
  AttentionBackend backend = AttentionBackend::kEager;
  std::string requested;  // as configured ("auto", ...)
  std::string reason;     // one sentence: why this backend
};

/// `auto`: on CUDA, SDPA where this LibTorch has it (fused flash /
/// memory-efficient kernels).  Elsewhere blockwise in bf16 at any length and
/// in fp32 from kFp32BlockwiseMinSequenceLen, eager in fp32 below it: measured
/// on CPU (bench/README.md, attention sweep), LibTorch 1.13's eager attention
/// in bf16 is 2–30× slower than blockwise, and in fp32 eager wins only while
/// its heads × T² scores are small.  `sdpa` on a LibTorch without it (1.13)
/// runs blockwise, saying so.  An unknown name is an error.
absl::StatusOr<AttentionChoice> ChooseAttention(const std::string& requested,
                                                int64_t sequence_len, const torch::Device& device,
                                                bool bf16);

inline constexpr int64_t kFp32BlockwiseMinSequenceLen = 1024;

}  // namespace lorad
