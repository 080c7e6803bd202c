// Typed calls to lorad's JobService and health service.  Every failure comes
// back as an absl::Status with a human message (rpc_error.h); deadlines,
// credentials and Ctrl-C cancellation are applied here for every call.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "client/connection_options.h"
#include "client/server_address.h"
#include "lorad/v1/lorad.grpc.pb.h"

namespace lorad {

class LoradClient {
 public:
  /// Resolves the address and builds the channel (reads TLS files and the
  /// token file); does not contact the server yet.
  static absl::StatusOr<std::unique_ptr<LoradClient>> Create(const ConnectionOptions& options,
                                                             const std::string& cwd);

  const ServerAddress& address() const { return address_; }

  absl::StatusOr<v1::SubmitJobResponse> SubmitJob(const v1::JobSpec& spec);
  absl::StatusOr<v1::ValidateJobResponse> ValidateJob(const v1::JobSpec& spec);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  /// All jobs in `states` (empty = all), newest first, following pages; at
  /// most `limit` (0 = no limit).
  absl::StatusOr<std::vector<v1::Job>> ListJobs(const std::vector<v1::JobState>& states,
                                                int limit);
  absl::StatusOr<v1::Job> CancelJob(const std::string& job_id, const std::string& reason);
  absl::Status DeleteJob(const std::string& job_id, bool delete_files);
  absl::StatusOr<v1::Job> RetryJob(const std::string& job_id);
  absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(const std::string& job_id);
  absl::StatusOr<std::vector<v1::Worker>> ListWorkers();
  absl::StatusOr<v1::GetVersionResponse> GetVersion();
  /// grpc.health.v1 Check: the ServingStatus name ("SERVING", "NOT_SERVING", ...).
  absl::StatusOr<std::string> CheckHealth(const std::string& service);

  /// Streams the job's events with seq > after_seq to `on_event` (which may
  /// stop the stream by returning an error).  With `follow`, the stream lasts
  /// until the job ends; a dropped connection (lorad restarting) is re-opened
  /// from the last seq seen, so no event is missed or repeated, for up to
  /// `reconnect_seconds`.  `deadline_seconds` > 0 bounds the whole call
  /// (DEADLINE_EXCEEDED).  Ctrl-C ends it with CANCELLED.
  absl::Status WatchJob(const std::string& job_id, int64_t after_seq, bool follow,
                        const std::function<absl::Status(const v1::JobEvent&)>& on_event,
                        double deadline_seconds = 0, double reconnect_seconds = 60);

  /// Called with a message when the stream broke and is being re-opened.
  void set_reconnect_notice(std::function<void(const std::string&)> notice) {
    reconnect_notice_ = std::move(notice);
  }

 private:
  LoradClient(ServerAddress address, std::shared_ptr<grpc::Channel> channel, std::string token,
              double timeout_seconds);
  /// Deadline (unless `streaming`) and the bearer token.
  void Prepare(grpc::ClientContext& context, bool streaming) const;
  absl::Status Check(const grpc::Status& status, const std::string& what) const;

  ServerAddress address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::string token_;
  double timeout_seconds_;
  std::function<void(const std::string&)> reconnect_notice_;
};

}  // namespace lorad
