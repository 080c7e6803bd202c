// An in-process stand-in for lorad's JobService (and the standard health
// service) on a temporary unix socket, so the real loractl binary can be
// driven through every verb and error path without a daemon or a trainer.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "lorad/v1/lorad.grpc.pb.h"

namespace lorad::testing {

class FakeLorad final : public v1::JobService::Service {
 public:
  /// Listens on unix:`socket_path`.  A non-empty `token` must be presented.
  FakeLorad(const std::string& socket_path, std::string token = "");
  ~FakeLorad() override;

  /// Adds a finished job with `steps` step events, a checkpoint halfway, an
  /// eval and a final result in state `final_state`.
  void AddFinishedJob(const std::string& id, int steps, v1::JobState final_state);
  /// A RUNNING job whose followed stream sends one step, then stays open
  /// until the client goes away.
  void AddHangingJob(const std::string& id);

  v1::JobSpec last_spec() const;
  int cancel_calls() const;

  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*,
                         v1::SubmitJobResponse*) override;
  grpc::Status ValidateJob(grpc::ServerContext*, const v1::ValidateJobRequest*,
                           v1::ValidateJobResponse*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                        v1::ListJobsResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::Job*) override;
  grpc::Status DeleteJob(grpc::ServerContext*, const v1::DeleteJobRequest*,
                         v1::DeleteJobResponse*) override;
  grpc::Status RetryJob(grpc::ServerContext*, const v1::RetryJobRequest*, v1::Job*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::JobEvent>*) override;
  grpc::Status ListCheckpoints(grpc::ServerContext*, const v1::ListCheckpointsRequest*,
                               v1::ListCheckpointsResponse*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse*) override;
  grpc::Status GetVersion(grpc::ServerContext*, const v1::GetVersionRequest*,
                          v1::GetVersionResponse*) override;

 private:
  grpc::Status Authorize(grpc::ServerContext* ctx) const;
  v1::JobEvent& AppendEvent(const std::string& id);  // requires mu_
  void RunJobLocked(const std::string& id, int steps, v1::JobState final_state);  // requires mu_

  std::string token_;
  mutable std::mutex mu_;
  std::map<std::string, v1::Job> jobs_;
  std::map<std::string, std::vector<v1::JobEvent>> events_;
  std::map<std::string, bool> hanging_;
  v1::JobSpec last_spec_;
  int cancel_calls_ = 0;
  int next_id_ = 1;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace lorad::testing
