#include "worker/train/runtime_env.h"

#include <sched.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace lorad {
namespace {

std::set<std::string> CpuFlags() {
  std::set<std::string> flags;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    std::string w;
    while (words >> w) flags.insert(w);
    break;  // every core lists the same flags
  }
  return flags;
}

std::string IsaName(const std::set<std::string>& flags) {
  if (flags.count("amx_bf16")) return "amx_bf16";
  if (flags.count("avx512_bf16")) return "avx512_bf16";
  if (flags.count("avx512f")) return "avx512";
  if (flags.count("avx2")) return "avx2";
  return "generic";
}

}  // namespace

int AffinityCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

bool CpuHasNativeBf16() {
  const auto flags = CpuFlags();
  return flags.count("avx512_bf16") > 0 || flags.count("amx_bf16") > 0;
}

absl::StatusOr<RuntimeEnv> ResolveRuntimeEnv(const std::string& device, int threads,
                                             Bf16Mode bf16) {
  RuntimeEnv env;
  env.torch_version = TORCH_VERSION;
  env.cpu_isa = IsaName(CpuFlags());
  const bool cuda_ok = torch::cuda::is_available();
  if (device.empty() || device == "auto") {
    env.device = cuda_ok ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  } else if (device == "cpu") {
    env.device = torch::kCPU;
  } else if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    if (!cuda_ok) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--device ", device, ": this LibTorch has no CUDA support or no GPU is visible"));
    }
    int index = 0;
    if (device.size() > 5 && !absl::SimpleAtoi(device.substr(5), &index)) {
      return absl::InvalidArgumentError(absl::StrCat("--device ", device, ": bad CUDA index"));
    }
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count())) {
      return absl::InvalidArgumentError(absl::StrCat("--device ", device, ": only ",
                                                     torch::cuda::device_count(), " GPU(s)"));
    }
    env.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--device '", device, "': expected auto, cpu, cuda or cuda:N"));
  }
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  env.threads = threads > 0 ? threads : AffinityCpuCount();
  at::set_num_threads(env.threads);

  switch (bf16) {
    case Bf16Mode::kOn:
      env.bf16 = true;
      env.bf16_reason = "bf16: true in the config";
      break;
    case Bf16Mode::kOff:
      env.bf16 = false;
      env.bf16_reason = "bf16: false in the config";
      break;
    case Bf16Mode::kAuto:
      if (env.device.is_cuda()) {
        // Ampere and later (compute capability >= 8) have native bf16; the
        // portable way to ask across LibTorch versions is to try a bf16 matmul.
        env.bf16 = false;
        try {
          auto a = torch::ones({8, 8}, torch::TensorOptions().dtype(torch::kBFloat16).device(env.device));
          env.bf16 = torch::matmul(a, a).sum().item<float>() == 512.0f;
        } catch (const c10::Error&) {
          env.bf16 = false;
        }
        env.bf16_reason = env.bf16 ? "bf16: auto, the GPU supports bf16" : "bf16: auto, no GPU bf16";
      } else {
        env.bf16 = CpuHasNativeBf16();
        env.bf16_reason = env.bf16 ? "bf16: auto, CPU has avx512_bf16/amx_bf16"
                                   : "bf16: auto, CPU lacks native bf16 (avx512_bf16/amx_bf16)";
      }
      break;
  }
  return env;
}

nlohmann::json AttentionRecord(const AttentionChoice& choice) {
  return {{"backend", AttentionBackendName(choice.backend)},
          {"requested", choice.requested},
          {"reason", choice.reason}};
}

}  // namespace lorad
