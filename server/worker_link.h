// The scheduler's side of one connected worker (a WorkerService.Connect
// stream in production, a fake in tests).
#pragma once

#include "absl/status/status.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {

class WorkerLink {
 public:
  virtual ~WorkerLink() = default;
  /// Queues a message for the worker; never blocks.
  virtual void Send(const v1::SchedulerMessage& msg) = 0;
  /// Ends the stream (the worker sees `status`).
  virtual void Close(const absl::Status& status) = 0;
};

/// A consumer of one job's event stream (a WatchJob stream, a fake in tests).
class JobWatcher {
 public:
  virtual ~JobWatcher() = default;
  /// Called on the scheduler's thread, in sequence order.  Returns false when
  /// the watcher's buffer is full: the event is NOT taken, and the scheduler
  /// re-reads from the store after the watcher calls Scheduler::ResumeWatcher.
  virtual bool OnEvent(const v1::JobEvent& event) = 0;
  /// No more events: the stream is complete (OK) or failed.
  virtual void OnEnd(const absl::Status& status) = 0;
};

}  // namespace lorad
