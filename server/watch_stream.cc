#include "server/watch_stream.h"

#include "server/status_mapping.h"

namespace lorad {

WatchStream::WatchStream(Scheduler& scheduler, EventLoop& loop)
    : scheduler_(scheduler), loop_(loop), sink_(std::make_shared<Sink>(this)) {}

void WatchStream::Start(const std::string& job_id, int64_t after_seq, bool follow) {
  std::shared_ptr<Sink> sink = sink_;
  // Not `this`: a client can cancel, and OnDone delete the reactor, before the
  // loop runs this (AddressSanitizer caught it under watch_load_test's 200
  // cancelled streams).  The sink outlives the reactor; a Watch registered
  // after OnDone is undone by the Unwatch OnDone posts behind it.
  loop_.Post([sched = &scheduler_, sink, job_id, after_seq, follow] {
    absl::Status s = sched->Watch(job_id, after_seq, follow, sink);
    if (!s.ok()) sink->OnEnd(s);
  });
}

void WatchStream::FinishNow(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(sink_->mu);
  FinishLocked(status);
}

void WatchStream::FinishLocked(const absl::Status& status) {
  if (sink_->finished) return;
  sink_->finished = true;
  Finish(ToGrpcStatus(status));
}

bool WatchStream::Sink::OnEvent(const v1::JobEvent& event) {
  std::lock_guard<std::mutex> lock(mu);
  if (stream_ == nullptr || finished) return true;  // gone: swallow
  if (queue.size() >= kMaxQueued) {
    refused = true;
    return false;
  }
  queue.push_back(event);
  if (!writing) {
    writing = true;
    stream_->StartWrite(&queue.front());
  }
  return true;
}

void WatchStream::Sink::OnEnd(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu);
  if (stream_ == nullptr) return;
  if (!writing) {
    stream_->FinishLocked(status);
  } else {
    end = status;
  }
}

void WatchStream::OnWriteDone(bool ok) {
  bool refill = false;
  {
    std::lock_guard<std::mutex> lock(sink_->mu);
    if (!sink_->queue.empty()) sink_->queue.pop_front();
    if (!ok) {
      sink_->writing = false;
      FinishLocked(absl::CancelledError("watcher went away"));
      return;
    }
    if (!sink_->queue.empty()) {
      StartWrite(&sink_->queue.front());
      return;
    }
    sink_->writing = false;
    if (sink_->end) {
      FinishLocked(*sink_->end);
      return;
    }
    if (sink_->refused) {
      sink_->refused = false;
      refill = true;
    }
  }
  if (refill) {
    std::shared_ptr<Sink> sink = sink_;
    loop_.Post([this_sched = &scheduler_, sink] { this_sched->ResumeWatcher(sink.get()); });
  }
}

void WatchStream::OnCancel() {
  std::shared_ptr<Sink> sink = sink_;
  loop_.Post([this_sched = &scheduler_, sink] { this_sched->Unwatch(sink.get()); });
  std::lock_guard<std::mutex> lock(sink_->mu);
  FinishLocked(absl::CancelledError("watch cancelled"));
}

void WatchStream::OnDone() {
  {
    std::lock_guard<std::mutex> lock(sink_->mu);
    sink_->stream_ = nullptr;
  }
  std::shared_ptr<Sink> sink = sink_;
  loop_.Post([this_sched = &scheduler_, sink] { this_sched->Unwatch(sink.get()); });
  delete this;
}

}  // namespace lorad
