// The scheduler: job state machine, queue, leases, watchers and workers.
// Every method runs on ONE thread (the event loop; the test thread in unit
// tests), so its state needs no locks (Ray's event-loop design).  Every job
// transition is one store transaction that also appends the event.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "lorad/v1/lorad.pb.h"
#include "server/auth.h"
#include "server/clock.h"
#include "server/job_id.h"
#include "server/job_store.h"
#include "server/job_validator.h"
#include "server/metrics.h"
#include "server/worker_link.h"
#include "server/worker_pool.h"

namespace lorad {

inline bool IsFinal(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED ||
         s == v1::JOB_STATE_CANCELLED;
}

/// A job that merges an adapter (spec.kind MERGE) rather than training one.
inline bool IsMergeJob(const v1::Job& job) { return job.spec().kind() == v1::JOB_KIND_MERGE; }

struct SchedulerOptions {
  int max_queued_jobs = 1000;
  int default_max_attempts = 3;
  int64_t heartbeat_interval_ms = 2'000;
  int64_t heartbeat_timeout_ms = 20'000;
  std::string worker_token;                  // remote workers; "" = none accepted
  int64_t event_retention_ms = 30LL * 24 * 3600 * 1000;  // 0 = keep forever
  int64_t min_free_disk_bytes = 64LL << 20;  // beyond the checkpoints' estimate
  /// Free bytes on the file system holding `path` (injected for tests).
  std::function<absl::StatusOr<int64_t>(const std::string& path)> free_disk_bytes;
};

class Scheduler {
 public:
  Scheduler(JobStore& store, const Clock& clock, JobValidator& validator,
            SchedulerMetrics& metrics, WorkerPool* pool, SchedulerOptions options);
  ~Scheduler();

  /// Loads every job; RUNNING ones (lorad died under them) are requeued to
  /// resume from their newest checkpoint.
  absl::Status Recover();

  // --- JobService ---------------------------------------------------------
  absl::StatusOr<v1::SubmitJobResponse> Submit(const v1::JobSpec& spec, const Caller& caller);
  absl::StatusOr<v1::ValidateJobResponse> Validate(const v1::JobSpec& spec, const Caller& caller);
  absl::StatusOr<v1::Job> Get(const std::string& job_id) const;
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& req) const;
  absl::StatusOr<v1::Job> Cancel(const std::string& job_id, const std::string& reason,
                                 const Caller& caller);
  absl::Status Delete(const std::string& job_id, bool delete_files, const Caller& caller);
  absl::StatusOr<v1::Job> Retry(const std::string& job_id, const Caller& caller);
  absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(const std::string& job_id);
  std::vector<v1::Worker> ListWorkers() const;

  /// Streams events with seq > after_seq to `watcher`; with `follow` until the
  /// job ends, else up to the events stored now.
  absl::Status Watch(const std::string& job_id, int64_t after_seq, bool follow,
                     std::shared_ptr<JobWatcher> watcher);
  /// The watcher drained its buffer after refusing an event: refill from the store.
  void ResumeWatcher(JobWatcher* watcher);
  /// The watcher went away (client cancelled).
  void Unwatch(JobWatcher* watcher);

  // --- WorkerService ------------------------------------------------------
  /// Authenticates a hello (startup token of a local worker, or the worker
  /// token) and registers the link.  Returns the worker id.
  absl::StatusOr<std::string> ConnectWorker(std::shared_ptr<WorkerLink> link,
                                            const v1::WorkerHello& hello);
  void OnWorkerMessage(const std::string& worker_id, const v1::WorkerMessage& msg);
  void OnWorkerDisconnected(const std::string& worker_id, const std::string& reason);

  /// Timeouts (heartbeats, max_runtime, worker registration), process restarts,
  /// retention, assignment.  Called periodically by the loop.
  void Tick();

  /// SIGTERM: stop assigning; ask running jobs to checkpoint and go back to
  /// the queue.
  void Drain();
  int RunningJobs() const;
  int WatcherCount() const { return static_cast<int>(watchers_.size()); }

 private:
  struct JobEntry {
    v1::Job job;
    int64_t lease_epoch = 0;
    bool cancel_requested = false;
    std::string cancel_reason;
    bool timed_out = false;
    std::string resume;         // RunOptions.resume for the next attempt
    int32_t attempts_base = 0;  // attempts that do not count against max_attempts
    int64_t queued_ms = 0;
    int64_t started_ms = 0;
    int64_t required_disk_bytes = 0;
    std::unique_ptr<JobMetrics> metrics;
  };
  struct WorkerEntry {
    std::shared_ptr<WorkerLink> link;
    v1::Worker info;
    int64_t last_heartbeat_ms = 0;
    std::string job_id;
  };
  struct WatchState {
    std::shared_ptr<JobWatcher> watcher;
    std::string job_id;
    int64_t next_seq = 1;
    int64_t end_seq = -1;  // !follow: last seq to send
    bool lagging = false;
  };

  absl::Status CommitEvents(JobEntry& e, std::vector<v1::JobEvent> events, bool durable);
  absl::Status Transition(JobEntry& e, v1::JobState to, const std::string& reason,
                          const std::string& error_code = "");
  void Requeue(JobEntry& e, const std::string& reason, bool counts_as_attempt);
  void EndAttempt(JobEntry& e, const absl::Status& result, bool preempted, bool deterministic);
  void WorkerLost(const std::string& worker_id, const std::string& reason);
  void TryAssign();
  bool StartJob(JobEntry& e, WorkerEntry& w);
  void OnRecord(JobEntry& e, const v1::WorkerJobEvent& msg);
  void Dispatch(const JobEntry& e, const std::vector<v1::JobEvent>& events);
  void Feed(WatchState& ws);      // from the store
  void EndWatchersIfDone(const JobEntry& e);
  absl::Status CheckOwner(const JobEntry& e, const Caller& caller) const;
  absl::Status CheckOutputDirFree(const std::string& dir, const std::string& except_id) const;
  // Submit-time checks by kind; every problem of the request at once.
  absl::StatusOr<ValidatedSpec> ValidateSpec(const v1::JobSpec& spec, const Caller& caller);
  absl::StatusOr<ValidatedSpec> ValidateTrainSpec(const v1::JobSpec& spec,
                                                  std::vector<std::string> problems);
  // scheduler_merge.cc: merge jobs.
  absl::StatusOr<ValidatedSpec> ValidateMergeSpec(const v1::JobSpec& spec, const Caller& caller,
                                                  std::vector<std::string> problems);
  /// FAILED_PRECONDITION when an active merge job reads from `dir` or below it
  /// (writing or deleting there would pull its inputs away).
  absl::Status CheckNotMergeInput(const std::string& dir, const std::string& except_id) const;
  void UpdateGauges();
  v1::JobEvent NewEvent() const;
  JobEntry* Find(const std::string& id);
  const JobEntry* Find(const std::string& id) const;

  JobStore& store_;
  const Clock& clock_;
  JobValidator& validator_;
  SchedulerMetrics& metrics_;
  WorkerPool* pool_;
  SchedulerOptions options_;
  JobIdGenerator ids_;
  std::map<std::string, JobEntry> jobs_;                 // id order = submit order
  std::set<std::pair<int64_t, std::string>> queue_;      // (-priority, id)
  std::map<std::string, std::string> idempotency_;       // key → job id
  std::map<std::string, WorkerEntry> workers_;
  std::map<JobWatcher*, WatchState> watchers_;
  int64_t last_epoch_ = 0;
  int64_t last_prune_ms_ = 0;
  bool draining_ = false;
};

}  // namespace lorad
