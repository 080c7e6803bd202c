// The worker's end of WorkerService.Connect: one bidirectional stream, writes
// serialised by a mutex (the training thread sends records, the main thread
// heartbeats).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "lorad/v1/lorad.grpc.pb.h"

namespace lorad {

class SchedulerLink {
 public:
  SchedulerLink(std::shared_ptr<grpc::Channel> channel);
  /// Sends; false once the stream is broken.
  bool Send(const v1::WorkerMessage& msg);
  /// Blocks for the next message; false at the end of the stream.
  bool Read(v1::SchedulerMessage* msg);
  /// After Read returned false: the stream's final status.
  grpc::Status Finish();
  void Cancel() { ctx_.TryCancel(); }

 private:
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>> stream_;
  std::mutex write_mu_;
  bool broken_ = false;
};

}  // namespace lorad
