// One WatchJob stream: a ServerWriteReactor with a bounded queue and at most
// one write in flight.  When the queue is full the scheduler stops feeding it
// (the event stays in the store); once the client has drained the queue the
// stream asks the scheduler to refill it from the store, so a slow watcher
// never holds events in memory nor slows anyone else.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "lorad/v1/lorad.grpc.pb.h"
#include "server/event_loop.h"
#include "server/scheduler.h"

namespace lorad {

class WatchStream : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  static constexpr size_t kMaxQueued = 256;

  WatchStream(Scheduler& scheduler, EventLoop& loop);
  void Start(const std::string& job_id, int64_t after_seq, bool follow);
  void FinishNow(const absl::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // The scheduler's handle on this stream; outlives the reactor if needed.
  class Sink : public JobWatcher {
   public:
    explicit Sink(WatchStream* stream) : stream_(stream) {}
    bool OnEvent(const v1::JobEvent& event) override;
    void OnEnd(const absl::Status& status) override;

    std::mutex mu;
    WatchStream* stream_;             // null once the reactor is done
    std::deque<v1::JobEvent> queue;   // front = in flight when writing
    bool writing = false;
    bool refused = false;             // refused an event: ask for a refill when drained
    bool finished = false;
    std::optional<absl::Status> end;  // finish after the queue drains
  };
  // With sink->mu held.
  void FinishLocked(const absl::Status& status);

  Scheduler& scheduler_;
  EventLoop& loop_;
  std::shared_ptr<Sink> sink_;
};

}  // namespace lorad
