// lorad.v1.WorkerService: one ServerBidiReactor per connected worker.  Reads
// are forwarded to the scheduler's loop in order; writes go through a queue
// with one write in flight.  The same code path serves local workers (Unix
// socket, startup token) and remote ones (TLS, worker token).
#pragma once

#include "lorad/v1/lorad.grpc.pb.h"
#include "server/event_loop.h"
#include "server/scheduler.h"

namespace lorad {

class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  WorkerServiceImpl(Scheduler& scheduler, EventLoop& loop) : scheduler_(scheduler), loop_(loop) {}
  grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;

 private:
  Scheduler& scheduler_;
  EventLoop& loop_;
};

}  // namespace lorad
