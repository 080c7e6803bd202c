#include "worker/serve/scheduler_link.h"

namespace lorad {

SchedulerLink::SchedulerLink(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::WorkerService::NewStub(channel)) {
  stream_ = stub_->Connect(&ctx_);
}

bool SchedulerLink::Send(const v1::WorkerMessage& msg) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (broken_) return false;
  if (!stream_->Write(msg)) broken_ = true;
  return !broken_;
}

bool SchedulerLink::Read(v1::SchedulerMessage* msg) { return stream_->Read(msg); }

grpc::Status SchedulerLink::Finish() {
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    broken_ = true;
  }
  return stream_->Finish();
}

}  // namespace lorad
