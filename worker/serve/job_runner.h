// Runs one assignment on a training thread through the training core
// (lorad::RunTrainingJob), or a merge job through RunMergeJob, and forwards
// every record to the scheduler.  No LibTorch in here: training_job.h and
// merge_job.h are torch-free.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {

class JobRunner {
 public:
  /// `send` delivers a message to the scheduler (false if the stream is gone).
  using SendFn = std::function<bool(const v1::WorkerMessage&)>;
  JobRunner(SendFn send, std::string device, int threads, int64_t lock_wait_ms);
  ~JobRunner();

  /// Starts the assignment unless one is running (then returns false).
  bool Start(const v1::JobAssignment& assignment);
  /// Asks the running job to stop at the next step boundary (it checkpoints).
  /// `requeue`: preemption — the job goes back to the queue.
  void Stop(const std::string& job_id, int64_t lease_epoch, bool requeue);
  void StopAny(bool requeue);
  bool Busy() const { return busy_.load(); }
  void Join();
  /// (job_id, lease_epoch) of the running job, or ("", 0).
  std::pair<std::string, int64_t> Current();

 private:
  void Run(v1::JobAssignment a);
  absl::Status Train(const v1::JobAssignment& a);
  absl::Status Merge(const v1::JobAssignment& a);

  SendFn send_;
  std::string device_;
  int threads_;
  int64_t lock_wait_ms_;
  std::mutex mu_;
  std::thread thread_;
  std::atomic<bool> busy_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> requeue_{false};
  std::string job_id_;
  int64_t lease_epoch_ = 0;
};

}  // namespace lorad
