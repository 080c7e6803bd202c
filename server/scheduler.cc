// Scheduler: job API half (submit, list, cancel, retry, delete, transitions).
// The worker/watcher half is in scheduler_workers.cc.
#include "server/scheduler.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "worker/base/status_macros.h"
#include "worker/config/config_path_policy.h"

namespace lorad {

using google::protobuf::util::TimeUtil;

namespace {

const char* StateLabel(v1::JobState s) {
  switch (s) {
    case v1::JOB_STATE_QUEUED: return "queued";
    case v1::JOB_STATE_RUNNING: return "running";
    case v1::JOB_STATE_SUCCEEDED: return "succeeded";
    case v1::JOB_STATE_FAILED: return "failed";
    case v1::JOB_STATE_CANCELLED: return "cancelled";
    default: return "unspecified";
  }
}

absl::StatusOr<int64_t> RealFreeDiskBytes(const std::string& path) {
  // The output dir may not exist yet: measure its nearest existing ancestor.
  std::filesystem::path p(path);
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec)) p = p.parent_path();
  if (p.empty()) p = "/";
  auto info = std::filesystem::space(p, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("statfs ", p.string(), ": ", ec.message()));
  return static_cast<int64_t>(info.available);
}

}  // namespace

Scheduler::Scheduler(JobStore& store, const Clock& clock, JobValidator& validator,
                     SchedulerMetrics& metrics, WorkerPool* pool, SchedulerOptions options)
    : store_(store),
      clock_(clock),
      validator_(validator),
      metrics_(metrics),
      pool_(pool),
      options_(std::move(options)) {
  if (!options_.free_disk_bytes) options_.free_disk_bytes = RealFreeDiskBytes;
}

Scheduler::~Scheduler() = default;

Scheduler::JobEntry* Scheduler::Find(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}
const Scheduler::JobEntry* Scheduler::Find(const std::string& id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

v1::JobEvent Scheduler::NewEvent() const {
  v1::JobEvent ev;
  *ev.mutable_time() = TimeUtil::MillisecondsToTimestamp(clock_.NowMs());
  return ev;
}

absl::Status Scheduler::Recover() {
  LORAD_ASSIGN_OR_RETURN(std::vector<v1::Job> jobs, store_.LoadJobs());
  std::string last_id;
  for (v1::Job& job : jobs) {
    last_id = std::max(last_id, job.id());
    JobEntry& e = jobs_[job.id()];
    e.job = std::move(job);
    e.queued_ms = clock_.NowMs();
    if (!e.job.spec().idempotency_key().empty()) {
      idempotency_[e.job.spec().idempotency_key()] = e.job.id();
    }
    if (e.job.state() == v1::JOB_STATE_QUEUED) {
      e.resume = e.job.attempt() > 0 ? "auto" : e.job.spec().resume_from();
      queue_.insert({-int64_t{e.job.spec().priority()}, e.job.id()});
    } else if (e.job.state() == v1::JOB_STATE_RUNNING) {
      // Not the job's fault: does not count against max_attempts.
      Requeue(e, "lorad restarted while the job was running", /*counts_as_attempt=*/false);
    }
  }
  ids_ = JobIdGenerator(last_id);
  UpdateGauges();
  spdlog::info("recovered {} jobs ({} queued)", jobs_.size(), queue_.size());
  return absl::OkStatus();
}

absl::Status Scheduler::CommitEvents(JobEntry& e, std::vector<v1::JobEvent> events,
                                     bool durable) {
  *e.job.mutable_update_time() = TimeUtil::MillisecondsToTimestamp(clock_.NowMs());
  auto t0 = std::chrono::steady_clock::now();
  auto stored = store_.Commit(&e.job, std::move(events), durable);
  metrics_.store_commit.Add({}, prometheus::Histogram::BucketBoundaries{})
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!stored.ok()) {
    spdlog::error("job {}: store commit failed: {}", e.job.id(), stored.status().ToString());
    return stored.status();
  }
  Dispatch(e, *stored);
  return absl::OkStatus();
}

absl::Status Scheduler::Transition(JobEntry& e, v1::JobState to, const std::string& reason,
                                   const std::string& error_code) {
  v1::JobState from = e.job.state();
  int64_t now = clock_.NowMs();
  e.job.set_state(to);
  e.job.set_state_reason(reason);
  if (to == v1::JOB_STATE_RUNNING) {
    *e.job.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(now);
    e.job.clear_end_time();
    e.job.clear_error();
    e.job.clear_error_code();
  }
  if (to != v1::JOB_STATE_RUNNING) e.job.clear_worker_id();
  if (IsFinal(to)) {
    *e.job.mutable_end_time() = TimeUtil::MillisecondsToTimestamp(now);
    if (to != v1::JOB_STATE_SUCCEEDED) {
      e.job.set_error(reason);
      e.job.set_error_code(error_code);
    }
    metrics_.outcomes.Add({{"outcome", StateLabel(to)}}).Increment();
  }
  if (to == v1::JOB_STATE_QUEUED) {
    e.queued_ms = now;
    queue_.insert({-int64_t{e.job.spec().priority()}, e.job.id()});
  } else {
    queue_.erase({-int64_t{e.job.spec().priority()}, e.job.id()});
  }
  if (from == v1::JOB_STATE_RUNNING && to != v1::JOB_STATE_RUNNING) {
    metrics_.run_time.Add({}, prometheus::Histogram::BucketBoundaries{})
        .Observe(static_cast<double>(now - e.started_ms) / 1000.0);
    e.metrics.reset();
  }
  v1::JobEvent ev = NewEvent();
  auto* sc = ev.mutable_state_change();
  sc->set_from_state(from);
  sc->set_to_state(to);
  sc->set_reason(reason);
  sc->set_worker_id(e.job.worker_id());
  std::vector<v1::JobEvent> events{std::move(ev)};
  absl::Status s = CommitEvents(e, std::move(events), /*durable=*/true);
  spdlog::info("job {}: {} -> {}: {}", e.job.id(), StateLabel(from), StateLabel(to), reason);
  UpdateGauges();
  EndWatchersIfDone(e);
  return s;
}

void Scheduler::UpdateGauges() {
  std::map<std::string, int> counts{
      {"queued", 0}, {"running", 0}, {"succeeded", 0}, {"failed", 0}, {"cancelled", 0}};
  for (const auto& [id, e] : jobs_) ++counts[StateLabel(e.job.state())];
  for (const auto& [state, n] : counts) metrics_.jobs.Add({{"state", state}}).Set(n);
  std::map<std::string, int> w{{"starting", 0}, {"idle", 0}, {"busy", 0}};
  for (const auto& [id, we] : workers_) ++w[we.job_id.empty() ? "idle" : "busy"];
  for (const auto& [state, n] : w) metrics_.workers.Add({{"state", state}}).Set(n);
  metrics_.watchers.Add({}).Set(static_cast<double>(watchers_.size()));
}

absl::Status Scheduler::CheckOwner(const JobEntry& e, const Caller& caller) const {
  if (caller.admin || caller.identity == e.job.owner()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("job ", e.job.id(), " belongs to ",
                                                  e.job.owner(), ", not to ", caller.identity));
}

absl::Status Scheduler::CheckOutputDirFree(const std::string& dir,
                                           const std::string& except_id) const {
  // Nested output dirs collide too: one job's --overwrite, pruning or delete
  // would remove the other's checkpoints.
  for (const auto& [id, e] : jobs_) {
    if (id == except_id || IsFinal(e.job.state())) continue;
    if (PathsOverlap(e.job.output_dir(), dir)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "output_dir: ", dir,
          e.job.output_dir() == dir ? " is used by job " : " overlaps the output_dir of job ", id,
          " (", v1::JobState_Name(e.job.state()), ", ", e.job.output_dir(),
          "); choose another output_dir"));
    }
  }
  return CheckNotMergeInput(dir, except_id);
}

absl::StatusOr<ValidatedSpec> Scheduler::ValidateSpec(const v1::JobSpec& spec,
                                                     const Caller& caller) {
  // Every problem at once: the scheduler's own fields, then the kind's.
  std::vector<std::string> problems;
  if (spec.device_count() > 1) {
    problems.push_back(absl::StrCat("device_count: ", spec.device_count(),
                                    " devices per job is not supported yet (use 1)"));
  }
  if (spec.device_count() < 0) problems.push_back("device_count: must not be negative");
  if (spec.max_attempts() < 0) problems.push_back("max_attempts: must not be negative");
  if (spec.max_runtime().seconds() < 0) problems.push_back("max_runtime: must not be negative");
  if (spec.name().size() > 256) problems.push_back("name: longer than 256 characters");
  if (spec.idempotency_key().size() > 256) {
    problems.push_back("idempotency_key: longer than 256 characters");
  }
  switch (spec.kind()) {
    case v1::JOB_KIND_UNSPECIFIED:
    case v1::JOB_KIND_TRAIN:
      return ValidateTrainSpec(spec, std::move(problems));
    case v1::JOB_KIND_MERGE:
      return ValidateMergeSpec(spec, caller, std::move(problems));
    default:
      problems.push_back(absl::StrCat("kind: unknown job kind ", static_cast<int>(spec.kind())));
      return absl::InvalidArgumentError(
          absl::StrCat("invalid job spec:\n", absl::StrJoin(problems, "\n")));
  }
}

absl::StatusOr<ValidatedSpec> Scheduler::ValidateTrainSpec(const v1::JobSpec& spec,
                                                           std::vector<std::string> problems) {
  if (spec.config_yaml().empty()) problems.push_back("config_yaml: empty");
  if (spec.config_yaml().size() > (4u << 20)) problems.push_back("config_yaml: larger than 4 MiB");
  if (spec.has_merge()) problems.push_back("merge: only for a job of kind JOB_KIND_MERGE");
  absl::StatusOr<ValidatedSpec> validated = absl::InternalError("not validated");
  if (spec.config_yaml().size() <= (4u << 20)) validated = validator_.Validate(spec);
  if (!validated.ok() && !spec.config_yaml().empty() && spec.config_yaml().size() <= (4u << 20)) {
    if (validated.status().code() != absl::StatusCode::kInvalidArgument) return validated.status();
    problems.push_back(std::string(validated.status().message()));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid job spec:\n", absl::StrJoin(problems, "\n")));
  }
  return validated;
}

absl::StatusOr<v1::SubmitJobResponse> Scheduler::Submit(const v1::JobSpec& spec,
                                                        const Caller& caller) {
  if (draining_) return absl::UnavailableError("lorad is shutting down; submit again later");
  const std::string& key = spec.idempotency_key();
  if (!key.empty()) {
    if (auto it = idempotency_.find(key); it != idempotency_.end()) {
      const JobEntry& old = jobs_.at(it->second);
      if (!google::protobuf::util::MessageDifferencer::Equals(old.job.spec(), spec)) {
        return absl::AlreadyExistsError(absl::StrCat("idempotency_key ", key,
                                                     " was used for job ", old.job.id(),
                                                     " with a different spec"));
      }
      v1::SubmitJobResponse resp;
      *resp.mutable_job() = old.job;
      resp.set_existing(true);
      return resp;
    }
  }
  absl::StatusOr<ValidatedSpec> validated = ValidateSpec(spec, caller);
  if (!validated.ok()) return validated.status();
  LORAD_RETURN_IF_ERROR(CheckOutputDirFree(validated->output_dir, ""));
  int queued = 0;
  for (const auto& [id, e] : jobs_) queued += e.job.state() == v1::JOB_STATE_QUEUED;
  if (queued >= options_.max_queued_jobs) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the queue is full (max_queued_jobs = ", options_.max_queued_jobs, "); try again later"));
  }

  int64_t now = clock_.NowMs();
  std::string id = ids_.Next(now);
  JobEntry& e = jobs_[id];
  e.job.set_id(id);
  *e.job.mutable_spec() = spec;
  // spec.max_attempts stays as submitted (0 = the server default, applied at
  // requeue) so an idempotent resubmit compares equal.
  e.job.set_owner(caller.identity);
  e.job.set_output_dir(validated->output_dir);
  e.job.set_total_steps(validated->estimated_steps);
  if (IsMergeJob(e.job)) *e.job.mutable_merge() = validated->merge;
  *e.job.mutable_create_time() = TimeUtil::MillisecondsToTimestamp(now);
  e.job.set_state(v1::JOB_STATE_UNSPECIFIED);
  e.resume = spec.resume_from();
  e.required_disk_bytes =
      validated->estimated_checkpoint_bytes * std::max<int64_t>(1, validated->checkpoints_kept + 1);
  absl::Status s = Transition(e, v1::JOB_STATE_QUEUED, absl::StrCat("submitted by ", caller.identity));
  if (!s.ok()) {
    queue_.erase({-int64_t{spec.priority()}, id});
    jobs_.erase(id);
    return s;
  }
  if (!key.empty()) idempotency_[key] = id;
  metrics_.submissions.Add({}).Increment();
  v1::SubmitJobResponse resp;
  for (const auto& w : validated->warnings) resp.add_warnings(w);
  TryAssign();
  *resp.mutable_job() = jobs_.at(id).job;
  return resp;
}

absl::StatusOr<v1::ValidateJobResponse> Scheduler::Validate(const v1::JobSpec& spec,
                                                            const Caller& caller) {
  LORAD_ASSIGN_OR_RETURN(ValidatedSpec v, ValidateSpec(spec, caller));
  v1::ValidateJobResponse resp;
  resp.set_resolved_config_json(v.resolved_config_json);
  resp.set_output_dir(v.output_dir);
  resp.set_estimated_steps(v.estimated_steps);
  resp.set_estimated_checkpoint_bytes(v.estimated_checkpoint_bytes);
  for (const auto& w : v.warnings) resp.add_warnings(w);
  if (absl::Status busy = CheckOutputDirFree(v.output_dir, ""); !busy.ok()) {
    resp.add_warnings(std::string(busy.message()));
  }
  return resp;
}

absl::StatusOr<v1::Job> Scheduler::Get(const std::string& job_id) const {
  const JobEntry* e = Find(job_id);
  if (!e) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  return e->job;
}

absl::StatusOr<v1::ListJobsResponse> Scheduler::List(const v1::ListJobsRequest& req) const {
  int limit = req.page_size() <= 0 ? 100 : std::min(req.page_size(), 1000);
  std::set<int> states(req.states().begin(), req.states().end());
  v1::ListJobsResponse resp;
  // Newest first; the page token is the last id returned.
  auto it = req.page_token().empty() ? jobs_.end() : jobs_.lower_bound(req.page_token());
  while (it != jobs_.begin()) {
    --it;
    const v1::Job& j = it->second.job;
    if (!states.empty() && !states.count(j.state())) continue;
    if (resp.jobs_size() == limit) {
      resp.set_next_page_token(resp.jobs(limit - 1).id());
      break;
    }
    *resp.add_jobs() = j;
  }
  return resp;
}

absl::StatusOr<v1::Job> Scheduler::Cancel(const std::string& job_id, const std::string& reason,
                                          const Caller& caller) {
  JobEntry* e = Find(job_id);
  if (!e) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  LORAD_RETURN_IF_ERROR(CheckOwner(*e, caller));
  std::string why = absl::StrCat("cancelled by ", caller.identity,
                                 reason.empty() ? "" : ": ", reason);
  switch (e->job.state()) {
    case v1::JOB_STATE_QUEUED:
      LORAD_RETURN_IF_ERROR(Transition(*e, v1::JOB_STATE_CANCELLED, why, "CANCELLED"));
      break;
    case v1::JOB_STATE_RUNNING: {
      // The worker stops at the next step boundary, checkpoints, then reports.
      e->cancel_requested = true;
      e->cancel_reason = why;
      if (auto w = workers_.find(e->job.worker_id()); w != workers_.end()) {
        v1::SchedulerMessage m;
        m.mutable_cancel()->set_job_id(job_id);
        m.mutable_cancel()->set_lease_epoch(e->lease_epoch);
        m.mutable_cancel()->set_reason(why);
        w->second.link->Send(m);
      }
      break;
    }
    default:
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", job_id, " is already ", v1::JobState_Name(e->job.state()), "; nothing to cancel"));
  }
  return e->job;
}

absl::Status Scheduler::Delete(const std::string& job_id, bool delete_files,
                               const Caller& caller) {
  JobEntry* e = Find(job_id);
  if (!e) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  LORAD_RETURN_IF_ERROR(CheckOwner(*e, caller));
  if (!IsFinal(e->job.state())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " is ", v1::JobState_Name(e->job.state()), "; cancel it before deleting"));
  }
  std::string dir = e->job.output_dir();
  if (delete_files && !dir.empty()) {
    LORAD_RETURN_IF_ERROR(CheckNotMergeInput(dir, job_id));
    std::filesystem::path p(dir);
    if (!p.is_absolute() || p == p.root_path()) {
      return absl::FailedPreconditionError(absl::StrCat("refusing to delete output_dir ", dir));
    }
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("deleting ", dir, ": ", ec.message()));
    }
  }
  LORAD_RETURN_IF_ERROR(store_.DeleteJob(job_id));
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->second.job_id == job_id) {
      it->second.watcher->OnEnd(absl::NotFoundError(absl::StrCat("job ", job_id, " was deleted")));
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
  if (!e->job.spec().idempotency_key().empty()) idempotency_.erase(e->job.spec().idempotency_key());
  jobs_.erase(job_id);
  spdlog::info("job {}: deleted by {}{}", job_id, caller.identity, delete_files ? " with its files" : "");
  UpdateGauges();
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> Scheduler::Retry(const std::string& job_id, const Caller& caller) {
  JobEntry* e = Find(job_id);
  if (!e) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  LORAD_RETURN_IF_ERROR(CheckOwner(*e, caller));
  if (e->job.state() != v1::JOB_STATE_FAILED && e->job.state() != v1::JOB_STATE_CANCELLED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " is ", v1::JobState_Name(e->job.state()),
        "; only FAILED or CANCELLED jobs can be retried"));
  }
  LORAD_RETURN_IF_ERROR(CheckOutputDirFree(e->job.output_dir(), job_id));
  e->cancel_requested = false;
  e->timed_out = false;
  e->resume = "auto";  // from the newest checkpoint, if any
  e->attempts_base = e->job.attempt();
  LORAD_RETURN_IF_ERROR(Transition(
      *e, v1::JOB_STATE_QUEUED,
      absl::StrCat("retried by ", caller.identity,
                   IsMergeJob(e->job) ? "" : "; resumes from the newest checkpoint")));
  TryAssign();
  return e->job;
}

absl::StatusOr<std::vector<v1::Checkpoint>> Scheduler::ListCheckpoints(const std::string& job_id) {
  if (!Find(job_id)) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  LORAD_ASSIGN_OR_RETURN(auto cps, store_.ListCheckpoints(job_id));
  for (auto& cp : cps) {
    std::error_code ec;
    cp.set_exists(std::filesystem::exists(cp.path(), ec));
  }
  return cps;
}

}  // namespace lorad
