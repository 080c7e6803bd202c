#include "server/job_service.h"

#include <grpcpp/security/auth_context.h>

#include <exception>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/status_mapping.h"
#include "server/watch_stream.h"
#include "spdlog/spdlog.h"

namespace lorad {

JobServiceImpl::JobServiceImpl(Scheduler& scheduler, EventLoop& loop, SchedulerMetrics& metrics,
                               AccessPolicy access, std::string version, int schema_version)
    : scheduler_(scheduler),
      loop_(loop),
      metrics_(metrics),
      access_(std::move(access)),
      version_(std::move(version)),
      schema_version_(schema_version) {}

void JobServiceImpl::Count(const char* method, const absl::Status& status) {
  metrics_.grpc_requests
      .Add({{"method", method}, {"code", absl::StatusCodeToString(status.code())}})
      .Increment();
}

absl::StatusOr<Caller> JobServiceImpl::Authenticate(grpc::CallbackServerContext* ctx) {
  const std::string peer = ctx->peer();
  const bool unix_peer = absl::StartsWith(peer, "unix:");
  // A bearer token, when presented, must be valid wherever it arrives.
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    std::string value(it->second.data(), it->second.size());
    const std::string prefix = "Bearer ";
    if (!absl::StartsWith(value, prefix)) {
      metrics_.auth_failures.Add({{"reason", "malformed_token"}}).Increment();
      return absl::UnauthenticatedError("authorization metadata must be `Bearer TOKEN`");
    }
    if (auto caller = access_.tokens.Find(value.substr(prefix.size()))) return *caller;
    metrics_.auth_failures.Add({{"reason", "bad_token"}}).Increment();
    spdlog::warn("rejected a request from {}: unknown token", peer);
    return absl::UnauthenticatedError("unknown bearer token");
  }
  // A verified client certificate names the caller.
  auto auth = ctx->auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    for (const auto& v : auth->FindPropertyValues("x509_subject")) {
      return Caller{std::string(v.data(), v.size()), false};
    }
  }
  if (unix_peer && !access_.require_auth_on_unix) {
    // Access to the socket is governed by its file mode (0660).
    return Caller{"local", false};
  }
  if (!unix_peer && access_.tokens.empty()) {
    // TCP without tokens is only possible on an insecure loopback listener
    // (refused at startup otherwise) or with client certificates (above).
    return Caller{"local", false};
  }
  metrics_.auth_failures.Add({{"reason", "missing_credentials"}}).Increment();
  return absl::UnauthenticatedError("this listener needs a bearer token or a client certificate");
}

template <typename Fn>
grpc::ServerUnaryReactor* JobServiceImpl::Unary(grpc::CallbackServerContext* ctx,
                                                const char* method, Fn fn) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<Caller> caller = Authenticate(ctx);
  if (!caller.ok()) {
    Count(method, caller.status());
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }
  loop_.Post([this, reactor, method, fn = std::move(fn), c = *caller]() mutable {
    absl::Status s;
    try {
      s = fn(c);
    } catch (const std::exception& e) {  // no exception crosses a handler
      s = absl::InternalError(absl::StrCat(method, ": ", e.what()));
    }
    Count(method, s);
    reactor->Finish(ToGrpcStatus(s));
  });
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::SubmitJob(grpc::CallbackServerContext* ctx,
                                                    const v1::SubmitJobRequest* req,
                                                    v1::SubmitJobResponse* resp) {
  return Unary(ctx, "SubmitJob", [this, req, resp](const Caller& c) -> absl::Status {
    auto r = scheduler_.Submit(req->spec(), c);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::GetJob(grpc::CallbackServerContext* ctx,
                                                 const v1::GetJobRequest* req, v1::Job* resp) {
  return Unary(ctx, "GetJob", [this, req, resp](const Caller&) -> absl::Status {
    auto r = scheduler_.Get(req->job_id());
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::ListJobs(grpc::CallbackServerContext* ctx,
                                                   const v1::ListJobsRequest* req,
                                                   v1::ListJobsResponse* resp) {
  return Unary(ctx, "ListJobs", [this, req, resp](const Caller&) -> absl::Status {
    auto r = scheduler_.List(*req);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::CancelJob(grpc::CallbackServerContext* ctx,
                                                    const v1::CancelJobRequest* req,
                                                    v1::Job* resp) {
  return Unary(ctx, "CancelJob", [this, req, resp](const Caller& c) -> absl::Status {
    auto r = scheduler_.Cancel(req->job_id(), req->reason(), c);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::DeleteJob(grpc::CallbackServerContext* ctx,
                                                    const v1::DeleteJobRequest* req,
                                                    v1::DeleteJobResponse*) {
  return Unary(ctx, "DeleteJob", [this, req](const Caller& c) -> absl::Status {
    return scheduler_.Delete(req->job_id(), req->delete_files(), c);
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::RetryJob(grpc::CallbackServerContext* ctx,
                                                   const v1::RetryJobRequest* req, v1::Job* resp) {
  return Unary(ctx, "RetryJob", [this, req, resp](const Caller& c) -> absl::Status {
    auto r = scheduler_.Retry(req->job_id(), c);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::ListCheckpoints(grpc::CallbackServerContext* ctx,
                                                          const v1::ListCheckpointsRequest* req,
                                                          v1::ListCheckpointsResponse* resp) {
  return Unary(ctx, "ListCheckpoints", [this, req, resp](const Caller&) -> absl::Status {
    auto r = scheduler_.ListCheckpoints(req->job_id());
    if (!r.ok()) return r.status();
    for (auto& cp : *r) *resp->add_checkpoints() = std::move(cp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::ValidateJob(grpc::CallbackServerContext* ctx,
                                                      const v1::ValidateJobRequest* req,
                                                      v1::ValidateJobResponse* resp) {
  return Unary(ctx, "ValidateJob", [this, req, resp](const Caller& c) -> absl::Status {
    auto r = scheduler_.Validate(req->spec(), c);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::ListWorkers(grpc::CallbackServerContext* ctx,
                                                      const v1::ListWorkersRequest*,
                                                      v1::ListWorkersResponse* resp) {
  return Unary(ctx, "ListWorkers", [this, resp](const Caller&) -> absl::Status {
    for (auto& w : scheduler_.ListWorkers()) *resp->add_workers() = std::move(w);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobServiceImpl::GetVersion(grpc::CallbackServerContext* ctx,
                                                     const v1::GetVersionRequest*,
                                                     v1::GetVersionResponse* resp) {
  return Unary(ctx, "GetVersion", [this, resp](const Caller&) -> absl::Status {
    resp->set_version(version_);
    resp->set_api_version(1);
    resp->set_schema_version(schema_version_);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::JobEvent>* JobServiceImpl::WatchJob(grpc::CallbackServerContext* ctx,
                                                                 const v1::WatchJobRequest* req) {
  absl::StatusOr<Caller> caller = Authenticate(ctx);
  auto* reactor = new WatchStream(scheduler_, loop_);
  Count("WatchJob", caller.status());
  if (!caller.ok()) {
    reactor->FinishNow(caller.status());
    return reactor;
  }
  reactor->Start(req->job_id(), req->after_seq(), req->follow());
  return reactor;
}

}  // namespace lorad
