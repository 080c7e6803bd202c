#include "tests/client/fake_lorad.h"

#include <chrono>
#include <thread>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lorad::testing {

FakeLorad::FakeLorad(const std::string& socket_path, std::string token) : token_(std::move(token)) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
}

FakeLorad::~FakeLorad() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

grpc::Status FakeLorad::Authorize(grpc::ServerContext* ctx) const {
  if (token_.empty()) return grpc::Status::OK;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end() || std::string(it->second.data(), it->second.size()) != "Bearer " + token_) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or unknown bearer token");
  }
  return grpc::Status::OK;
}

v1::JobEvent& FakeLorad::AppendEvent(const std::string& id) {
  auto& list = events_[id];
  v1::JobEvent& e = list.emplace_back();
  e.set_job_id(id);
  e.set_seq(static_cast<int64_t>(list.size()));
  e.set_attempt(1);
  e.mutable_time()->set_seconds(1764448201 + static_cast<int64_t>(list.size()));
  jobs_[id].set_last_seq(e.seq());
  return e;
}

void FakeLorad::AddFinishedJob(const std::string& id, int steps, v1::JobState final_state) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Job& job = jobs_[id];
  job.set_id(id);
  job.mutable_spec()->set_name("fake-" + id);
  job.mutable_spec()->set_config_yaml("base_model: m\n");
  RunJobLocked(id, steps, final_state);
}

void FakeLorad::RunJobLocked(const std::string& id, int steps, v1::JobState final_state) {
  v1::Job& job = jobs_[id];
  job.set_state(final_state);
  job.set_attempt(1);
  job.set_total_steps(steps);
  job.set_last_step(steps);
  job.set_output_dir("/out/" + id);
  job.mutable_create_time()->set_seconds(1764448201);
  if (final_state != v1::JOB_STATE_SUCCEEDED) job.set_error("stopped on purpose");
  auto& sc = *AppendEvent(id).mutable_state_change();
  sc.set_from_state(v1::JOB_STATE_QUEUED);
  sc.set_to_state(v1::JOB_STATE_RUNNING);
  for (int s = 1; s <= steps; ++s) {
    auto& st = *AppendEvent(id).mutable_step();
    st.set_step(s);
    st.set_total_steps(steps);
    st.set_loss(3.0 / s);
    st.set_learning_rate(1e-3);
    st.set_tokens_per_second(1000);
    st.set_elapsed_seconds(0.5 * s);
    job.set_last_loss(st.loss());
    if (s == steps / 2) {
      auto& c = *AppendEvent(id).mutable_checkpoint();
      c.set_step(s);
      c.set_path(absl::StrCat("/out/", id, "/checkpoint-", s));
      auto& ev = *AppendEvent(id).mutable_eval();
      ev.set_step(s);
      ev.set_eval_loss(2.0);
    }
  }
  auto& f = *AppendEvent(id).mutable_final_result();
  f.set_state(final_state);
  f.set_step(steps);
  auto& end = *AppendEvent(id).mutable_state_change();
  end.set_from_state(v1::JOB_STATE_RUNNING);
  end.set_to_state(final_state);
}

void FakeLorad::AddHangingJob(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Job& job = jobs_[id];
  job.set_id(id);
  job.set_state(v1::JOB_STATE_RUNNING);
  auto& st = *AppendEvent(id).mutable_step();
  st.set_step(1);
  st.set_total_steps(100);
  hanging_[id] = true;
}

v1::JobSpec FakeLorad::last_spec() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_spec_;
}

int FakeLorad::cancel_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancel_calls_;
}

grpc::Status FakeLorad::SubmitJob(grpc::ServerContext* ctx, const v1::SubmitJobRequest* req,
                                  v1::SubmitJobResponse* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  last_spec_ = req->spec();
  if (req->spec().kind() != v1::JOB_KIND_MERGE &&
      !absl::StartsWith(req->spec().config_dir(), "/")) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "config_dir: must be absolute");
  }
  if (absl::StrContains(req->spec().config_yaml(), "missing_on_server")) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "base_model: /srv/missing_on_server does not exist");
  }
  const std::string id = absl::StrCat("job-", next_id_++);
  v1::Job& job = jobs_[id];
  job.set_id(id);
  *job.mutable_spec() = req->spec();
  job.set_state(v1::JOB_STATE_QUEUED);
  auto& sc = *AppendEvent(id).mutable_state_change();
  sc.set_to_state(v1::JOB_STATE_QUEUED);
  *resp->mutable_job() = job;
  resp->add_warnings("fake warning");
  // Jobs named "auto-*" run to their end at once, for `submit --follow`.
  if (req->spec().name() == "auto-succeed") RunJobLocked(id, 6, v1::JOB_STATE_SUCCEEDED);
  if (req->spec().name() == "auto-fail") RunJobLocked(id, 6, v1::JOB_STATE_FAILED);
  return grpc::Status::OK;
}

grpc::Status FakeLorad::ValidateJob(grpc::ServerContext* ctx, const v1::ValidateJobRequest* req,
                                    v1::ValidateJobResponse* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  resp->set_output_dir(req->spec().config_dir() + "/out");
  resp->set_estimated_steps(80);
  resp->set_estimated_checkpoint_bytes(3 << 20);
  return grpc::Status::OK;
}

grpc::Status FakeLorad::GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* req,
                               v1::Job* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(req->job_id());
  if (it == jobs_.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("job ", req->job_id(), " not found"));
  }
  *resp = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeLorad::ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req,
                                 v1::ListJobsResponse* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  // Two jobs per page, to exercise paging.
  int skip = req->page_token().empty() ? 0 : std::stoi(req->page_token());
  int index = 0, added = 0;
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    bool match = req->states().empty();
    for (int s : req->states()) match = match || s == it->second.state();
    if (!match || index++ < skip) continue;
    if (added == 2) {
      resp->set_next_page_token(std::to_string(skip + 2));
      break;
    }
    *resp->add_jobs() = it->second;
    ++added;
  }
  return grpc::Status::OK;
}

grpc::Status FakeLorad::CancelJob(grpc::ServerContext* ctx, const v1::CancelJobRequest* req,
                                  v1::Job* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  ++cancel_calls_;
  auto it = jobs_.find(req->job_id());
  if (it == jobs_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "job not found");
  const v1::JobState st = it->second.state();
  if (st == v1::JOB_STATE_SUCCEEDED || st == v1::JOB_STATE_FAILED || st == v1::JOB_STATE_CANCELLED) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("job ", req->job_id(), " already finished"));
  }
  it->second.set_state(v1::JOB_STATE_CANCELLED);
  it->second.set_error(req->reason());
  *resp = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeLorad::DeleteJob(grpc::ServerContext* ctx, const v1::DeleteJobRequest* req,
                                  v1::DeleteJobResponse*) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (jobs_.erase(req->job_id()) == 0) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("job ", req->job_id(), " not found"));
  }
  return grpc::Status::OK;
}

grpc::Status FakeLorad::RetryJob(grpc::ServerContext* ctx, const v1::RetryJobRequest* req,
                                 v1::Job* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(req->job_id());
  if (it == jobs_.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("job ", req->job_id(), " not found"));
  }
  it->second.set_state(v1::JOB_STATE_QUEUED);
  it->second.set_attempt(it->second.attempt() + 1);
  *resp = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeLorad::WatchJob(grpc::ServerContext* ctx, const v1::WatchJobRequest* req,
                                 grpc::ServerWriter<v1::JobEvent>* writer) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::vector<v1::JobEvent> events;
  bool hang = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!jobs_.count(req->job_id())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("job ", req->job_id(), " not found"));
    }
    for (const auto& e : events_[req->job_id()]) {
      if (e.seq() > req->after_seq()) events.push_back(e);
    }
    hang = req->follow() && hanging_.count(req->job_id());
  }
  for (const auto& e : events) writer->Write(e);
  // A job that never ends: hold the stream open until the client leaves.
  while (hang && !ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return grpc::Status::OK;
}

grpc::Status FakeLorad::ListCheckpoints(grpc::ServerContext* ctx,
                                        const v1::ListCheckpointsRequest* req,
                                        v1::ListCheckpointsResponse* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (!jobs_.count(req->job_id())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("job ", req->job_id(), " not found"));
  }
  for (const auto& e : events_[req->job_id()]) {
    if (!e.has_checkpoint()) continue;
    v1::Checkpoint* c = resp->add_checkpoints();
    c->set_job_id(req->job_id());
    c->set_path(e.checkpoint().path());
    c->set_step(e.checkpoint().step());
    c->set_attempt(1);
    c->set_exists(true);
  }
  return grpc::Status::OK;
}

grpc::Status FakeLorad::ListWorkers(grpc::ServerContext* ctx, const v1::ListWorkersRequest*,
                                    v1::ListWorkersResponse* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  v1::Worker* w = resp->add_workers();
  w->set_id("w0");
  w->set_state("IDLE");
  w->set_local(true);
  w->set_device_kind(v1::DEVICE_KIND_CPU);
  w->add_devices("cpu");
  w->set_pid(4242);
  return grpc::Status::OK;
}

grpc::Status FakeLorad::GetVersion(grpc::ServerContext* ctx, const v1::GetVersionRequest*,
                                   v1::GetVersionResponse* resp) {
  if (auto s = Authorize(ctx); !s.ok()) return s;
  resp->set_version("9.8.7");
  resp->set_api_version(1);
  resp->set_schema_version(3);
  return grpc::Status::OK;
}

}  // namespace lorad::testing
