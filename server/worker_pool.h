// Local worker processes, Ray WorkerPool style: each is spawned through the
// injected launcher with a fresh startup token, must register back (Connect +
// hello with that token) within a timeout, and is restarted with exponential
// backoff when it exits.  Called only from the scheduler's loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "server/clock.h"
#include "server/metrics.h"
#include "server/process_launcher.h"

namespace lorad {

struct LocalWorkerSpec {
  std::string worker_id;             // e.g. "local-0"
  std::string cuda_visible_devices;  // "" = CPU worker
};

struct WorkerPoolOptions {
  std::string worker_binary;         // lorad-worker
  std::string scheduler_address;     // unix:... the workers dial
  std::vector<std::string> extra_args;
  int64_t registration_timeout_ms = 60'000;
  int64_t backoff_initial_ms = 1'000;
  int64_t backoff_max_ms = 60'000;
  int64_t stable_after_ms = 60'000;  // a worker up this long resets its backoff
};

class WorkerPool {
 public:
  WorkerPool(ProcessLauncher& launcher, const Clock& clock, SchedulerMetrics* metrics,
             WorkerPoolOptions options);

  /// Launches one process per spec.
  void Start(const std::vector<LocalWorkerSpec>& specs);
  /// Whether `token` is the current startup token of local worker `worker_id`
  /// (constant-time).  On success the worker counts as registered.
  bool Register(const std::string& worker_id, const std::string& token, int64_t pid);
  /// Reaps exited processes, kills those that did not register in time,
  /// relaunches after backoff.  Returns the ids of workers whose process ended
  /// (the scheduler treats their jobs as lost).
  std::vector<std::string> Tick();
  /// Stops restarting and sends `signal` to every process.
  void Shutdown(int signal);
  /// Kills one worker process (tests, heartbeat loss of a hung process).
  void Kill(const std::string& worker_id, int signal);
  bool AllExited() const;
  int64_t Pid(const std::string& worker_id) const;
  int32_t Restarts(const std::string& worker_id) const;
  bool IsLocal(const std::string& worker_id) const { return procs_.count(worker_id) > 0; }

 private:
  struct Proc {
    LocalWorkerSpec spec;
    std::string token;
    int64_t pid = 0;              // 0 = not running
    int64_t launched_ms = 0;
    bool registered = false;
    int64_t restart_at_ms = 0;    // when pid == 0
    int64_t backoff_ms = 0;
    int32_t restarts = 0;
  };
  void Launch(Proc& p);

  ProcessLauncher& launcher_;
  const Clock& clock_;
  SchedulerMetrics* metrics_;
  WorkerPoolOptions options_;
  std::map<std::string, Proc> procs_;
  bool shutting_down_ = false;
};

/// 128 random bits as hex (startup tokens).
std::string RandomToken();

}  // namespace lorad
