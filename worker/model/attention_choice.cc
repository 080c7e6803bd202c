#include "worker/model/attention_choice.h"

#include "absl/strings/str_cat.h"
#include "worker/model/torch_compat.h"

namespace lorad {

const char* AttentionBackendName(AttentionBackend backend) {
  switch (backend) {
    case AttentionBackend::kEager: return "eager";
    case AttentionBackend::kBlockwise: return "blockwise";
    case AttentionBackend::kSdpa: return "sdpa";
  }
  return "eager";
}

absl::StatusOr<AttentionChoice> ChooseAttention(const std::string& requested,
                                                int64_t sequence_len, const torch::Device& device,
                                                bool bf16) {
  AttentionChoice c;
  c.requested = requested;
  const bool has_sdpa = torch_compat::kHasScaledDotProductAttention;
  if (requested == "eager") {
    c.backend = AttentionBackend::kEager;
    c.reason = "configured (attention: eager): transformers' eager attention, op for op";
  } else if (requested == "blockwise") {
    c.backend = AttentionBackend::kBlockwise;
    c.reason = "configured (attention: blockwise): blocks with an online softmax, no T×T scores";
  } else if (requested == "sdpa") {
    if (has_sdpa) {
      c.backend = AttentionBackend::kSdpa;
      c.reason = "configured (attention: sdpa): torch's scaled_dot_product_attention";
    } else {
      c.backend = AttentionBackend::kBlockwise;
      c.reason = absl::StrCat("attention: sdpa asked for, but LibTorch ", TORCH_VERSION,
                              " has no scaled_dot_product_attention (2.0+): blockwise, the same "
                              "exact attention without T×T scores");
    }
  } else if (requested == "auto") {
    if (device.is_cuda() && has_sdpa) {
      c.backend = AttentionBackend::kSdpa;
      c.reason = "auto: CUDA with LibTorch 2.x: scaled_dot_product_attention's fused kernels";
    } else if (bf16) {
      c.backend = AttentionBackend::kBlockwise;
      c.reason = "auto: bf16: blockwise is faster at every length (eager's bf16 T² scores are "
                 "slow) and keeps no heads × T² scores";
    } else if (sequence_len >= kFp32BlockwiseMinSequenceLen) {
      c.backend = AttentionBackend::kBlockwise;
      c.reason = absl::StrCat("auto: fp32, sequence_len ", sequence_len, " >= ",
                              kFp32BlockwiseMinSequenceLen,
                              ": blockwise is faster there and keeps no heads × T² scores");
    } else {
      c.backend = AttentionBackend::kEager;
      c.reason = absl::StrCat("auto: fp32, sequence_len ", sequence_len, " < ",
                              kFp32BlockwiseMinSequenceLen,
                              ": eager is faster at this length (its T² scores are small)");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: unknown backend \"", requested, "\" (supported: auto, eager, blockwise, sdpa)"));
  }
  return c;
}

}  // namespace lorad
