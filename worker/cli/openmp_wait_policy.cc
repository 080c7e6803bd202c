#include "worker/cli/openmp_wait_policy.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lorad {

void EnsurePassiveOpenMpWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Only reached when exec failed (no /proc, say): run on with the default
  // policy rather than not at all.
  std::fprintf(stderr, "lorad-worker: re-exec with OMP_WAIT_POLICY=PASSIVE failed (%s); "
                       "continuing with OpenMP's default wait policy\n",
               std::strerror(errno));
  ::unsetenv("OMP_WAIT_POLICY");
}

const char* OpenMpWaitPolicy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  return policy != nullptr ? policy : "default";
}

}  // namespace lorad
