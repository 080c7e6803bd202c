// lorad.v1.JobService on gRPC's callback API.  Handlers authenticate the
// caller on the gRPC thread, then post the work to the scheduler's event loop
// and finish the reactor from there; nothing blocks a gRPC thread.
#pragma once

#include <memory>
#include <string>

#include "lorad/v1/lorad.grpc.pb.h"
#include "server/auth.h"
#include "server/event_loop.h"
#include "server/metrics.h"
#include "server/scheduler.h"

namespace lorad {

struct AccessPolicy {
  TokenTable tokens;           // empty = no bearer tokens configured
  bool require_auth_on_unix = false;
};

class JobServiceImpl final : public v1::JobService::CallbackService {
 public:
  JobServiceImpl(Scheduler& scheduler, EventLoop& loop, SchedulerMetrics& metrics,
                 AccessPolicy access, std::string version, int schema_version);

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* ctx,
                                      const v1::SubmitJobRequest* req,
                                      v1::SubmitJobResponse* resp) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest* req,
                                   v1::Job* resp) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const v1::ListJobsRequest* req,
                                     v1::ListJobsResponse* resp) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx,
                                      const v1::CancelJobRequest* req, v1::Job* resp) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* ctx,
                                      const v1::DeleteJobRequest* req,
                                      v1::DeleteJobResponse* resp) override;
  grpc::ServerUnaryReactor* RetryJob(grpc::CallbackServerContext* ctx,
                                     const v1::RetryJobRequest* req, v1::Job* resp) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchJobRequest* req) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* ctx,
                                            const v1::ListCheckpointsRequest* req,
                                            v1::ListCheckpointsResponse* resp) override;
  grpc::ServerUnaryReactor* ValidateJob(grpc::CallbackServerContext* ctx,
                                        const v1::ValidateJobRequest* req,
                                        v1::ValidateJobResponse* resp) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* ctx,
                                        const v1::ListWorkersRequest* req,
                                        v1::ListWorkersResponse* resp) override;
  grpc::ServerUnaryReactor* GetVersion(grpc::CallbackServerContext* ctx,
                                       const v1::GetVersionRequest* req,
                                       v1::GetVersionResponse* resp) override;

  /// Identity of the caller (bearer token, client certificate, or "local" on
  /// the Unix socket), or UNAUTHENTICATED.
  absl::StatusOr<Caller> Authenticate(grpc::CallbackServerContext* ctx);

 private:
  // Authenticates, then runs `fn` (returning absl::Status) on the loop and
  // finishes the reactor with its mapped status.
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const char* method, Fn fn);
  void Count(const char* method, const absl::Status& status);

  Scheduler& scheduler_;
  EventLoop& loop_;
  SchedulerMetrics& metrics_;
  AccessPolicy access_;
  std::string version_;
  int schema_version_;
};

}  // namespace lorad
