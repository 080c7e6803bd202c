#include "server/worker_service.h"

#include <deque>
#include <mutex>

#include "server/status_mapping.h"
#include "spdlog/spdlog.h"

namespace lorad {
namespace {

class ConnectReactor;

// The scheduler's WorkerLink for one stream.  Shared with the scheduler; it
// stops touching the reactor once the reactor is done.
class StreamLink : public WorkerLink {
 public:
  explicit StreamLink(ConnectReactor* r) : reactor_(r) {}
  void Send(const v1::SchedulerMessage& msg) override;
  void Close(const absl::Status& status) override;
  void Detach();
  // Loop thread only.
  std::string worker_id;
  bool hello_done = false;
  bool gone = false;

 private:
  friend class ConnectReactor;
  std::mutex mu_;
  ConnectReactor* reactor_;
  std::deque<v1::SchedulerMessage> out_;
  bool writing_ = false;
  bool finished_ = false;
};

class ConnectReactor : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage> {
 public:
  ConnectReactor(Scheduler& scheduler, EventLoop& loop)
      : scheduler_(scheduler), loop_(loop), link_(std::make_shared<StreamLink>(this)) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    std::shared_ptr<StreamLink> link = link_;
    if (!ok) {
      loop_.Post([s = &scheduler_, link] {
        if (link->hello_done && !link->gone) {
          link->gone = true;
          s->OnWorkerDisconnected(link->worker_id, "stream closed");
        }
      });
      link->Close(absl::OkStatus());
      return;
    }
    v1::WorkerMessage msg = std::move(in_);
    in_.Clear();
    loop_.Post([s = &scheduler_, link, msg = std::move(msg)] {
      if (link->gone) return;
      if (!link->hello_done) {
        if (!msg.has_hello()) {
          link->Close(absl::FailedPreconditionError("the first message must be a hello"));
          link->gone = true;
          return;
        }
        auto id = s->ConnectWorker(link, msg.hello());
        if (!id.ok()) {
          spdlog::warn("worker hello refused: {}", id.status().ToString());
          link->Close(id.status());
          link->gone = true;
          return;
        }
        link->worker_id = *id;
        link->hello_done = true;
        return;
      }
      s->OnWorkerMessage(link->worker_id, msg);
    });
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(link_->mu_);
    if (!link_->out_.empty()) link_->out_.pop_front();
    if (ok && !link_->out_.empty() && !link_->finished_) {
      StartWrite(&link_->out_.front());
    } else {
      link_->writing_ = false;
    }
  }

  void OnDone() override {
    link_->Detach();
    std::shared_ptr<StreamLink> link = link_;
    loop_.Post([s = &scheduler_, link] {
      if (link->hello_done && !link->gone) {
        link->gone = true;
        s->OnWorkerDisconnected(link->worker_id, "stream ended");
      }
    });
    delete this;
  }

 private:
  friend class StreamLink;
  Scheduler& scheduler_;
  EventLoop& loop_;
  std::shared_ptr<StreamLink> link_;
  v1::WorkerMessage in_;
};

void StreamLink::Send(const v1::SchedulerMessage& msg) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reactor_ == nullptr || finished_) return;
  out_.push_back(msg);
  if (!writing_) {
    writing_ = true;
    reactor_->StartWrite(&out_.front());
  }
}

void StreamLink::Close(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reactor_ == nullptr || finished_) return;
  finished_ = true;
  reactor_->Finish(ToGrpcStatus(status));
}

void StreamLink::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  reactor_ = nullptr;
}

}  // namespace

grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>* WorkerServiceImpl::Connect(
    grpc::CallbackServerContext*) {
  return new ConnectReactor(scheduler_, loop_);
}

}  // namespace lorad
