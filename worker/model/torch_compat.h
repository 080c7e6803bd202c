// The only place that knows which LibTorch it is compiled against: Debian's
// 1.13 (CPU) here, a CUDA LibTorch 2.x on GPU hosts.  Everything else in
// worker/model uses the stable C++ API plus what this header provides.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <mutex>
#include <vector>

#define LORAD_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||        \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace lorad::torch_compat {

/// Snapshot of the default generators that dropout draws from: the CPU one and,
/// when `device` is CUDA, that device's.  Used by gradient checkpointing to replay
/// dropout masks identically in the recomputation.
struct RngState {
  torch::Tensor cpu;
  torch::Tensor cuda;  // undefined unless the device is CUDA
  torch::Device device = torch::kCPU;
};

inline RngState SaveRngState(const torch::Device& device) {
  RngState state;
  state.device = device;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    state.cpu = gen.get_state();
  }
  if (device.is_cuda()) {
    auto gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    state.cuda = gen.get_state();
  }
  return state;
}

inline void RestoreRngState(const RngState& state) {
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.cpu);
  }
  if (state.cuda.defined()) {
    auto gen = at::globalContext().defaultGenerator(state.device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.cuda);
  }
}

/// A seeded CPU generator (for reproducible parameter init independent of the
/// global RNG).
inline torch::Generator MakeCpuGenerator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

/// True when this LibTorch has at::scaled_dot_product_attention (fused / flash
/// kernels on CUDA).  1.13 does not.
constexpr bool kHasScaledDotProductAttention = LORAD_TORCH_AT_LEAST(2, 0);

}  // namespace lorad::torch_compat
