// `lorad-worker version`: this build and the LibTorch it runs on.
#include <cstdio>

#include <torch/torch.h>

#include "worker/cli/commands.h"
#include "worker/cli/openmp_wait_policy.h"

#ifndef LORAD_VERSION
#define LORAD_VERSION "unknown"
#endif

namespace lorad {

int VersionCommand(int /*argc*/, char** /*argv*/) {
  std::printf("lorad-worker %s (LibTorch %s, CUDA %s, OMP_WAIT_POLICY=%s)\n", LORAD_VERSION,
              TORCH_VERSION, torch::cuda::is_available() ? "available" : "not available",
              OpenMpWaitPolicy());
  return 0;
}

}  // namespace lorad
