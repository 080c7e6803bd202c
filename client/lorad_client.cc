#include "client/lorad_client.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/interrupt_handler.h"
#include "client/rpc_error.h"
#include "client/spec_utf8.h"
#include "health/health.grpc.pb.h"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

using Clock = std::chrono::steady_clock;

// Reads a small credential file named by `flag`, bounded: these are PEM files
// and tokens, never large.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const std::string& flag) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", ec.message()));
  if (size > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", size,
                                                   " bytes is too large for a credential file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": cannot read"));
  return ss.str();
}

std::chrono::system_clock::time_point DeadlineIn(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             std::chrono::duration<double>(seconds));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoradClient>> LoradClient::Create(const ConnectionOptions& options,
                                                                 const std::string& cwd) {
  LORAD_ASSIGN_OR_RETURN(
      ServerAddress address,
      ResolveServerAddress(options.address, cwd, [](const std::string& p) {
        std::error_code ec;
        return std::filesystem::exists(p, ec);
      }));
  const bool tls = options.tls || !options.tls_ca_file.empty() || !options.tls_cert_file.empty();
  if (tls && address.is_unix) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS options need a HOST:PORT --address, not the socket ", address.display));
  }
  std::string token;
  if (!options.token_file.empty()) {
    LORAD_ASSIGN_OR_RETURN(token, ReadSmallFile(options.token_file, "--token-file"));
    token = std::string(absl::StripAsciiWhitespace(token));
    if (token.empty() || token.size() > 4096 || token.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token-file ", options.token_file, ": expected one line with the token"));
    }
    // A bearer token over plain TCP to another host could be read on the way.
    if (!tls && !address.is_loopback) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to send the token to ", address.display,
          " without TLS: add --tls (and --tls-ca if the server's certificate is private)"));
    }
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);  // a long job list with their YAML
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      LORAD_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadSmallFile(options.tls_ca_file, "--tls-ca"));
    }
    if (!options.tls_cert_file.empty()) {
      LORAD_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                             ReadSmallFile(options.tls_cert_file, "--tls-cert"));
      LORAD_ASSIGN_OR_RETURN(ssl.pem_private_key,
                             ReadSmallFile(options.tls_key_file, "--tls-key"));
    }
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  auto channel = grpc::CreateCustomChannel(address.target, creds, args);
  return std::unique_ptr<LoradClient>(new LoradClient(std::move(address), std::move(channel),
                                                      std::move(token),
                                                      options.request_timeout_seconds));
}

LoradClient::LoradClient(ServerAddress address, std::shared_ptr<grpc::Channel> channel,
                         std::string token, double timeout_seconds)
    : address_(std::move(address)),
      channel_(std::move(channel)),
      jobs_(v1::JobService::NewStub(channel_)),
      token_(std::move(token)),
      timeout_seconds_(timeout_seconds) {}

void LoradClient::Prepare(grpc::ClientContext& context, bool streaming) const {
  if (!streaming) context.set_deadline(DeadlineIn(timeout_seconds_));
  if (!token_.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token_));
}

absl::Status LoradClient::Check(const grpc::Status& status, const std::string& what) const {
  if (!status.ok() && InterruptHandler::Interrupted()) return absl::CancelledError("interrupted");
  return FromGrpcStatus(status, address_, what, timeout_seconds_);
}

// One unary call: context, guard for Ctrl-C, error conversion.
#define LORAD_UNARY_CALL_(method, request, response, what) \
  grpc::ClientContext context;                              \
  Prepare(context, false);                                  \
  InterruptHandler::CallGuard guard(&context);              \
  LORAD_RETURN_IF_ERROR(Check(jobs_->method(&context, request, &response), what))

absl::StatusOr<v1::SubmitJobResponse> LoradClient::SubmitJob(const v1::JobSpec& spec) {
  // Before sending: the server's refusal of non-UTF-8 text has no message.
  LORAD_RETURN_IF_ERROR(CheckStringFieldsAreUtf8(spec, "the job spec"));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse response;
  LORAD_UNARY_CALL_(SubmitJob, request, response, "the job");
  return response;
}

absl::StatusOr<v1::ValidateJobResponse> LoradClient::ValidateJob(const v1::JobSpec& spec) {
  // Before sending: the server's refusal of non-UTF-8 text has no message.
  LORAD_RETURN_IF_ERROR(CheckStringFieldsAreUtf8(spec, "the job spec"));
  v1::ValidateJobRequest request;
  *request.mutable_spec() = spec;
  v1::ValidateJobResponse response;
  LORAD_UNARY_CALL_(ValidateJob, request, response, "the job");
  return response;
}

absl::StatusOr<v1::Job> LoradClient::GetJob(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job response;
  LORAD_UNARY_CALL_(GetJob, request, response, absl::StrCat("job ", job_id));
  return response;
}

absl::StatusOr<std::vector<v1::Job>> LoradClient::ListJobs(const std::vector<v1::JobState>& states,
                                                           int limit) {
  std::vector<v1::Job> jobs;
  std::string token;
  for (int page = 0;; ++page) {
    v1::ListJobsRequest request;
    for (v1::JobState s : states) request.add_states(s);
    request.set_page_size(limit > 0 ? std::min(limit - static_cast<int>(jobs.size()), 1000) : 1000);
    request.set_page_token(token);
    v1::ListJobsResponse response;
    LORAD_UNARY_CALL_(ListJobs, request, response, "the job list");
    for (v1::Job& job : *response.mutable_jobs()) jobs.push_back(std::move(job));
    if (response.next_page_token().empty() || (limit > 0 && static_cast<int>(jobs.size()) >= limit))
      break;
    if (response.next_page_token() == token || page > 100000) {
      return absl::InternalError("lorad returned the same job-list page token twice");
    }
    token = response.next_page_token();
  }
  if (limit > 0 && static_cast<int>(jobs.size()) > limit) jobs.resize(limit);
  return jobs;
}

absl::StatusOr<v1::Job> LoradClient::CancelJob(const std::string& job_id,
                                               const std::string& reason) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  request.set_reason(reason);
  v1::Job response;
  LORAD_UNARY_CALL_(CancelJob, request, response, absl::StrCat("cancel job ", job_id));
  return response;
}

absl::Status LoradClient::DeleteJob(const std::string& job_id, bool delete_files) {
  v1::DeleteJobRequest request;
  request.set_job_id(job_id);
  request.set_delete_files(delete_files);
  v1::DeleteJobResponse response;
  LORAD_UNARY_CALL_(DeleteJob, request, response, absl::StrCat("delete job ", job_id));
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> LoradClient::RetryJob(const std::string& job_id) {
  v1::RetryJobRequest request;
  request.set_job_id(job_id);
  v1::Job response;
  LORAD_UNARY_CALL_(RetryJob, request, response, absl::StrCat("retry job ", job_id));
  return response;
}

absl::StatusOr<std::vector<v1::Checkpoint>> LoradClient::ListCheckpoints(
    const std::string& job_id) {
  v1::ListCheckpointsRequest request;
  request.set_job_id(job_id);
  v1::ListCheckpointsResponse response;
  LORAD_UNARY_CALL_(ListCheckpoints, request, response, absl::StrCat("checkpoints of job ", job_id));
  return std::vector<v1::Checkpoint>(response.checkpoints().begin(), response.checkpoints().end());
}

absl::StatusOr<std::vector<v1::Worker>> LoradClient::ListWorkers() {
  v1::ListWorkersRequest request;
  v1::ListWorkersResponse response;
  LORAD_UNARY_CALL_(ListWorkers, request, response, "the worker list");
  return std::vector<v1::Worker>(response.workers().begin(), response.workers().end());
}

absl::StatusOr<v1::GetVersionResponse> LoradClient::GetVersion() {
  v1::GetVersionRequest request;
  v1::GetVersionResponse response;
  LORAD_UNARY_CALL_(GetVersion, request, response, "the version");
  return response;
}

#undef LORAD_UNARY_CALL_

absl::StatusOr<std::string> LoradClient::CheckHealth(const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  Prepare(context, false);
  InterruptHandler::CallGuard guard(&context);
  LORAD_RETURN_IF_ERROR(Check(stub->Check(&context, request, &response), "the health check"));
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

absl::Status LoradClient::WatchJob(const std::string& job_id, int64_t after_seq, bool follow,
                                   const std::function<absl::Status(const v1::JobEvent&)>& on_event,
                                   double deadline_seconds, double reconnect_seconds) {
  const auto deadline = DeadlineIn(deadline_seconds);
  int64_t last_seq = after_seq;
  auto broken_since = Clock::now();
  bool reconnecting = false;
  while (true) {
    grpc::ClientContext context;
    Prepare(context, /*streaming=*/true);
    if (deadline_seconds > 0) context.set_deadline(deadline);
    InterruptHandler::CallGuard guard(&context);
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_after_seq(last_seq);
    request.set_follow(follow);
    auto reader = jobs_->WatchJob(&context, request);
    v1::JobEvent event;
    absl::Status callback_status;
    bool received = false;
    while (reader->Read(&event)) {
      received = true;
      if (event.seq() <= last_seq) continue;  // never hand an event over twice
      last_seq = event.seq();
      callback_status = on_event(event);
      if (!callback_status.ok()) {
        context.TryCancel();
        break;
      }
    }
    const grpc::Status status = reader->Finish();
    if (!callback_status.ok()) return callback_status;
    if (InterruptHandler::Interrupted()) return absl::CancelledError("interrupted");
    if (status.ok()) return absl::OkStatus();
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && deadline_seconds > 0) {
      return absl::DeadlineExceededError(absl::StrCat("timed out after ", deadline_seconds, "s"));
    }
    // A stream that was open and broke (lorad restarted, connection reset)
    // is re-opened from the last seq; a first connect that fails is reported.
    const bool was_open = received || reconnecting ||
                          status.error_message().find("failed to connect") == std::string::npos;
    if (!follow || status.error_code() != grpc::StatusCode::UNAVAILABLE || !was_open) {
      return Check(status, absl::StrCat("watch job ", job_id));
    }
    if (received || !reconnecting) broken_since = Clock::now();
    const double budget =
        reconnect_seconds - std::chrono::duration<double>(Clock::now() - broken_since).count();
    if (budget <= 0) return Check(status, absl::StrCat("watch job ", job_id));
    if (reconnect_notice_) {
      reconnect_notice_(absl::StrCat("lost the connection to lorad at ", address_.display,
                                     "; reconnecting from event ", last_seq, "..."));
    }
    reconnecting = true;
    // Wait for lorad to come back (or Ctrl-C) without holding a call open.
    const auto until = Clock::now() + std::chrono::duration<double>(std::min(budget, 1.0));
    while (Clock::now() < until && !InterruptHandler::Interrupted()) {
      if (channel_->WaitForConnected(DeadlineIn(0.2))) break;
    }
    if (InterruptHandler::Interrupted()) return absl::CancelledError("interrupted");
  }
}

}  // namespace lorad
