// Spawns and supervises child processes (local workers).  Injected into the
// worker pool so tests can fake process lifetimes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace lorad {

struct LaunchSpec {
  std::string binary;
  std::vector<std::string> args;              // without argv[0]
  std::map<std::string, std::string> env;     // added to / overriding the inherited environment
};

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  /// Starts a process; returns its pid.
  virtual absl::StatusOr<int64_t> Launch(const LaunchSpec& spec) = 0;
  /// Processes that exited since the last call: (pid, wait status).
  virtual std::vector<std::pair<int64_t, int>> Reap() = 0;
  virtual void Signal(int64_t pid, int signal) = 0;
};

/// fork/exec.  The child gets PR_SET_PDEATHSIG(SIGTERM): if lorad dies, its
/// local workers checkpoint and exit instead of training on unsupervised.
class PosixProcessLauncher : public ProcessLauncher {
 public:
  absl::StatusOr<int64_t> Launch(const LaunchSpec& spec) override;
  std::vector<std::pair<int64_t, int>> Reap() override;
  void Signal(int64_t pid, int signal) override;

 private:
  std::vector<int64_t> children_;
};

}  // namespace lorad
