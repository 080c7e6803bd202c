// `lorad-worker version`: this build and the LibTorch it runs on.
#include <cstdio>

#include <torch/torch.h>

#include "worker/cli/commands.h"

#ifndef LORAD_VERSION
#define LORAD_VERSION "unknown"
#endif

namespace lorad {

int VersionCommand(int /*argc*/, char** /*argv*/) {
  std::printf("lorad-worker %s (LibTorch %s, CUDA %s)\n", LORAD_VERSION, TORCH_VERSION,
              torch::cuda::is_available() ? "available" : "not available");
  return 0;
}

}  // namespace lorad
