// Durable job state: jobs, their events (per-job gap-free sequence numbers)
// and checkpoints.  The scheduler is the only writer and calls it from its one
// event-loop thread, so implementations need no internal locking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {

class JobStore {
 public:
  virtual ~JobStore() = default;

  /// Every stored job (startup recovery; the scheduler keeps them in memory).
  virtual absl::StatusOr<std::vector<v1::Job>> LoadJobs() = 0;

  /// In ONE transaction: upserts `job` and appends `events` to its stream,
  /// assigning each the next sequence number (job_id, seq and attempt are
  /// filled in).  `job->last_seq` is updated.  A checkpoint event also records
  /// the checkpoint.  `durable` = fsync before returning (state changes,
  /// checkpoints); non-durable commits (step records) become durable with the
  /// next durable one, in order, so every event before a checkpoint is durable
  /// once the checkpoint event is.
  virtual absl::StatusOr<std::vector<v1::JobEvent>> Commit(v1::Job* job,
                                                           std::vector<v1::JobEvent> events,
                                                           bool durable) = 0;

  /// Events of `job_id` with seq > after_seq, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& job_id,
                                                               int64_t after_seq,
                                                               int limit) = 0;

  virtual absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(
      const std::string& job_id) = 0;

  /// Removes a job with its events and checkpoint rows.
  virtual absl::Status DeleteJob(const std::string& job_id) = 0;

  /// Drops the events of jobs that ended before `cutoff_ms` (retention).
  /// Returns the number of events removed.
  virtual absl::StatusOr<int64_t> PruneEvents(int64_t cutoff_ms) = 0;

  virtual int SchemaVersion() const = 0;
};

}  // namespace lorad
