// A process the test starts itself and may kill -9 at any instant: a worker
// playing a remote host that dials in, so the test (not lorad's restart
// backoff) decides when the next one starts.  Its stderr goes to a log file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lorad::testing {

class ChildProcess {
 public:
  /// Starts argv[0] with argv, extra environment `env`, stdout+stderr to `log`.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
               const std::map<std::string, std::string>& env = {});
  ~ChildProcess();  // SIGKILL and reap if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// True until the process has exited (reaps it then).
  bool Running();
  /// SIGKILL and reap.
  void Kill9();
  /// SIGTERM, wait up to `timeout`, then SIGKILL; returns the waitpid status (-1 if killed).
  int Terminate(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
};

/// A "kB" field of /proc/PID/status (VmRSS, VmHWM, ...) in KiB; -1 when unreadable.
int64_t ProcStatusKiB(pid_t pid, const std::string& field);

}  // namespace lorad::testing
