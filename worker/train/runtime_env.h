// Where and how a run computes: device, threads, bf16, and the facts that make
// a run bit-reproducible (threads, CPU instruction set, LibTorch version).
#pragma once

#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/config/train_config.h"
#include "worker/model/attention_choice.h"

namespace lorad {

struct RuntimeEnv {
  torch::Device device = torch::kCPU;
  int threads = 1;
  bool bf16 = false;
  std::string bf16_reason;  // why bf16 is on/off (for the log)
  std::string cpu_isa;      // e.g. "avx512_bf16" / "avx512" / "avx2" / "generic"
  std::string torch_version;
  AttentionChoice attention;  // resolved by ChooseAttention for the run's device and length
};

/// Resolves --device (auto | cpu | cuda | cuda:N), --threads (0 = CPUs in this
/// process's affinity mask) and the config's bf16 mode; applies the thread count
/// (at::set_num_threads: Debian's LibTorch may start with 1).
absl::StatusOr<RuntimeEnv> ResolveRuntimeEnv(const std::string& device, int threads,
                                             Bf16Mode bf16);

/// {"backend", "requested", "reason"} for the start and dry_run records.
nlohmann::json AttentionRecord(const AttentionChoice& choice);

/// CPUs this process may run on (sched_getaffinity), at least 1.
int AffinityCpuCount();

/// True when /proc/cpuinfo lists avx512_bf16 or amx_bf16.
bool CpuHasNativeBf16();

}  // namespace lorad
