// fake-lorad-worker: `serve` from worker/serve with the fake trainer
// (fake_training_job.cc).  Test-only binary.
#include <cstdio>
#include <string>

#include "worker/cli/commands.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "serve") return lorad::ServeCommand(argc - 1, argv + 1);
  std::fprintf(stderr, "fake-lorad-worker: only `serve` is supported\n");
  return 2;
}
