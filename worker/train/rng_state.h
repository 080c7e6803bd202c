// The LibTorch generator states a bit-exact resume must restore (dropout and
// any other random op draw from them).  Serialised as raw bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"

namespace lorad {

struct TorchRngState {
  std::vector<uint8_t> cpu;                // default CPU generator state
  std::vector<std::vector<uint8_t>> cuda;  // one per visible GPU (empty without CUDA)
};

TorchRngState CaptureTorchRng();
/// Restores the CPU state and, when both sides have them, the CUDA states.
absl::Status RestoreTorchRng(const TorchRngState& state);

/// Seeds every LibTorch generator (torch::manual_seed covers CPU and CUDA).
void SeedTorch(uint64_t seed);

}  // namespace lorad
