#include "worker/train/rng_state.h"

#include <cstring>
#include <mutex>

#include <ATen/CPUGeneratorImpl.h>

#include "absl/strings/str_cat.h"

namespace lorad {
namespace {

std::vector<uint8_t> StateBytes(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  at::Tensor t = gen.get_state().contiguous();
  std::vector<uint8_t> bytes(static_cast<size_t>(t.numel()));
  if (!bytes.empty()) std::memcpy(bytes.data(), t.data_ptr<uint8_t>(), bytes.size());
  return bytes;
}

absl::Status SetStateBytes(at::Generator gen, const std::vector<uint8_t>& bytes,
                           const std::string& what) {
  at::Tensor t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  try {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(t);
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat("cannot restore the ", what, " RNG state (",
                                            bytes.size(), " bytes): ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace

TorchRngState CaptureTorchRng() {
  TorchRngState state;
  state.cpu = StateBytes(at::detail::getDefaultCPUGenerator());
  if (torch::cuda::is_available()) {
    for (size_t i = 0; i < torch::cuda::device_count(); ++i) {
      state.cuda.push_back(StateBytes(at::globalContext().defaultGenerator(
          torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)))));
    }
  }
  return state;
}

absl::Status RestoreTorchRng(const TorchRngState& state) {
  if (state.cpu.empty()) return absl::DataLossError("checkpoint has no CPU RNG state");
  auto status = SetStateBytes(at::detail::getDefaultCPUGenerator(), state.cpu, "CPU");
  if (!status.ok()) return status;
  if (torch::cuda::is_available()) {
    const size_t n = std::min(state.cuda.size(), torch::cuda::device_count());
    for (size_t i = 0; i < n; ++i) {
      status = SetStateBytes(at::globalContext().defaultGenerator(torch::Device(
                                 torch::kCUDA, static_cast<c10::DeviceIndex>(i))),
                             state.cuda[i], absl::StrCat("CUDA:", i));
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

void SeedTorch(uint64_t seed) { torch::manual_seed(seed); }

}  // namespace lorad
