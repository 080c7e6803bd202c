// Scheduler: worker half (connect, leases, records, heartbeats, requeue) and
// the event fan-out to watchers.
#include <google/protobuf/util/time_util.h>
#include <signal.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/record_event.h"
#include "server/scheduler.h"
#include "spdlog/spdlog.h"

namespace lorad {

using google::protobuf::util::TimeUtil;

namespace {

// Failures that would fail again the same way: bad config or data, a refused
// resume, out of memory.
bool IsDeterministic(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

bool Fits(v1::DeviceKind want, v1::DeviceKind have) {
  return want == v1::DEVICE_KIND_UNSPECIFIED || want == have;
}

constexpr int kFeedChunk = 256;

// A merge's `merge_progress` record (one per shard written) as the job's
// progress, so `loractl list` shows shards done / shards.
void NoteMergeProgress(v1::Job& job, const std::string& record_json) {
  nlohmann::json j = nlohmann::json::parse(record_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j["type"] != "merge_progress") return;
  auto count = [&](const char* key) -> int64_t {
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  const int64_t shard = count("shard"), shards = count("num_shards");
  if (shard < 1 || shards < shard) return;
  job.set_last_step(shard);
  job.set_total_steps(shards);
}

// The trainer's `divergence` records (a step judged divergent: the job fails,
// or the step's update is skipped) counted by action for the alert rules.
void CountDivergence(SchedulerMetrics& metrics, const std::string& record_json) {
  if (record_json.find("divergence") == std::string::npos) return;  // cheap pre-check
  nlohmann::json j = nlohmann::json::parse(record_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("type", "") != "divergence") return;
  const std::string action = j.value("action", "");
  if (action != "fail" && action != "skip_step") return;  // bounded label values
  metrics.train_divergences.Add({{"action", action}}).Increment();
}

}  // namespace

absl::StatusOr<std::string> Scheduler::ConnectWorker(std::shared_ptr<WorkerLink> link,
                                                     const v1::WorkerHello& hello) {
  const std::string& id = hello.worker_id();
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError("hello: worker_id must be 1..128 characters");
  }
  bool local = pool_ && pool_->IsLocal(id);
  if (local) {
    if (!pool_->Register(id, hello.startup_token(), hello.pid())) {
      metrics_.auth_failures.Add({{"reason", "startup_token"}}).Increment();
      return absl::UnauthenticatedError(absl::StrCat("worker ", id, ": wrong or stale startup token"));
    }
  } else if (options_.worker_token.empty() ||
             !ConstantTimeEquals(hello.worker_token(), options_.worker_token)) {
    metrics_.auth_failures.Add({{"reason", "worker_token"}}).Increment();
    return absl::UnauthenticatedError(absl::StrCat("worker ", id, ": wrong worker token"));
  }
  if (workers_.count(id)) WorkerLost(id, "replaced by a new connection with the same worker id");
  WorkerEntry& w = workers_[id];
  w.link = std::move(link);
  w.last_heartbeat_ms = clock_.NowMs();
  w.info.set_id(id);
  w.info.set_local(local);
  w.info.set_hostname(hello.hostname());
  w.info.set_pid(hello.pid());
  w.info.set_device_kind(hello.device_kind() == v1::DEVICE_KIND_UNSPECIFIED ? v1::DEVICE_KIND_CPU
                                                                            : hello.device_kind());
  *w.info.mutable_devices() = hello.devices();
  w.info.set_free_memory_bytes(hello.free_memory_bytes());
  w.info.set_version(hello.version());
  v1::SchedulerMessage ack;
  ack.mutable_hello_ack()->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  ack.mutable_hello_ack()->set_heartbeat_timeout_ms(options_.heartbeat_timeout_ms);
  w.link->Send(ack);
  spdlog::info("worker {} connected ({}, pid {}, {})", id, local ? "local" : "remote", hello.pid(),
               v1::DeviceKind_Name(w.info.device_kind()));
  UpdateGauges();
  TryAssign();
  return id;
}

void Scheduler::OnWorkerMessage(const std::string& worker_id, const v1::WorkerMessage& msg) {
  auto wit = workers_.find(worker_id);
  if (wit == workers_.end()) return;
  WorkerEntry& w = wit->second;
  w.last_heartbeat_ms = clock_.NowMs();  // any message proves the worker alive
  auto lease_ok = [&](const std::string& job_id, int64_t epoch) -> JobEntry* {
    JobEntry* e = Find(job_id);
    if (!e || e->job.state() != v1::JOB_STATE_RUNNING || e->lease_epoch != epoch ||
        e->job.worker_id() != worker_id) {
      spdlog::warn("worker {}: message for job {} with stale lease {} ignored", worker_id, job_id,
                   epoch);
      return nullptr;
    }
    return e;
  };
  switch (msg.msg_case()) {
    case v1::WorkerMessage::kHeartbeat: {
      const auto& hb = msg.heartbeat();
      w.info.set_free_memory_bytes(hb.free_memory_bytes());
      *w.info.mutable_last_heartbeat() = TimeUtil::MillisecondsToTimestamp(clock_.NowMs());
      if (JobEntry* e = Find(w.job_id); e && e->metrics) {
        e->metrics->device_memory.Set(static_cast<double>(hb.device_memory_bytes()));
        e->metrics->device_memory_peak.Set(static_cast<double>(hb.device_memory_peak_bytes()));
      }
      break;
    }
    case v1::WorkerMessage::kEvent:
      if (JobEntry* e = lease_ok(msg.event().job_id(), msg.event().lease_epoch())) {
        OnRecord(*e, msg.event());
      }
      break;
    case v1::WorkerMessage::kFinished: {
      const auto& f = msg.finished();
      if (JobEntry* e = lease_ok(f.job_id(), f.lease_epoch())) {
        w.job_id.clear();
        absl::Status result(static_cast<absl::StatusCode>(f.code()), f.message());
        EndAttempt(*e, result, f.preempted(), f.deterministic());
      }
      if (w.job_id == f.job_id()) w.job_id.clear();
      UpdateGauges();
      TryAssign();
      break;
    }
    default:
      break;
  }
}

void Scheduler::OnRecord(JobEntry& e, const v1::WorkerJobEvent& msg) {
  v1::JobEvent ev = NewEvent();
  bool durable = true;
  if (msg.has_log()) {
    *ev.mutable_log() = msg.log();
    durable = false;
  } else {
    if (msg.record_json().size() > (1u << 20)) return;  // bounded: a record is small
    auto parsed = EventFromRecordJson(msg.record_json());
    if (!parsed.ok()) {
      spdlog::warn("job {}: {}", e.job.id(), parsed.status().ToString());
      return;
    }
    parsed->mutable_time()->CopyFrom(ev.time());
    ev = std::move(*parsed);
  }
  JobMetrics* m = e.metrics.get();
  if (ev.has_step()) {
    durable = false;  // batched by the WAL; made durable by the next durable commit
    const auto& s = ev.step();
    e.job.set_last_step(s.step());
    e.job.set_last_loss(s.loss());
    if (s.total_steps() > 0) e.job.set_total_steps(s.total_steps());
    if (m) {
      m->loss.Set(s.loss());
      m->learning_rate.Set(s.learning_rate());
      m->grad_norm.Set(s.grad_norm());
      m->step.Set(static_cast<double>(s.step()));
      m->total_steps.Set(static_cast<double>(e.job.total_steps()));
      m->tokens.Increment(static_cast<double>(s.tokens()));
      if (s.tokens_per_second() > 0) {
        m->step_duration.Observe(static_cast<double>(s.tokens()) / s.tokens_per_second());
      }
    }
  } else if (ev.has_checkpoint() && m) {
    m->checkpoints.Increment();
    m->checkpoint_duration.Observe(ev.checkpoint().seconds());
  } else if (ev.has_eval() && m) {
    m->eval_loss.Set(ev.eval().eval_loss());
  } else if (ev.event_case() == v1::JobEvent::kRecordJson) {
    CountDivergence(metrics_, ev.record_json());
    if (IsMergeJob(e.job)) NoteMergeProgress(e.job, ev.record_json());
  }
  std::vector<v1::JobEvent> events{std::move(ev)};
  (void)CommitEvents(e, std::move(events), durable);
}

void Scheduler::EndAttempt(JobEntry& e, const absl::Status& result, bool preempted,
                           bool deterministic) {
  std::string code = absl::StatusCodeToString(result.code());
  if (result.ok()) {
    (void)Transition(e, v1::JOB_STATE_SUCCEEDED,
                     IsMergeJob(e.job) ? "merge finished" : "training finished");
  } else if (e.cancel_requested) {
    (void)Transition(e, v1::JOB_STATE_CANCELLED, e.cancel_reason, "CANCELLED");
  } else if (e.timed_out) {
    (void)Transition(e, v1::JOB_STATE_FAILED,
                     absl::StrCat("max_runtime of ", e.job.spec().max_runtime().seconds(),
                                  " s exceeded"),
                     "DEADLINE_EXCEEDED");
  } else if (preempted || result.code() == absl::StatusCode::kCancelled) {
    Requeue(e, absl::StrCat("preempted: ", result.message()), /*counts_as_attempt=*/false);
  } else if (deterministic || IsDeterministic(result.code())) {
    (void)Transition(e, v1::JOB_STATE_FAILED, std::string(result.message()), code);
  } else {
    Requeue(e, absl::StrCat("attempt ", e.job.attempt(), " failed: ", result.message()),
            /*counts_as_attempt=*/true);
  }
}

void Scheduler::Requeue(JobEntry& e, const std::string& reason, bool counts_as_attempt) {
  if (!counts_as_attempt) ++e.attempts_base;
  int used = e.job.attempt() - e.attempts_base;
  int max = e.job.spec().max_attempts() > 0 ? e.job.spec().max_attempts()
                                            : options_.default_max_attempts;
  if (counts_as_attempt && used >= max) {
    (void)Transition(e, v1::JOB_STATE_FAILED,
                     absl::StrCat(reason, "; all ", max, " attempts used"), "ABORTED");
    return;
  }
  e.resume = "auto";
  metrics_.requeues.Add({{"reason", counts_as_attempt ? "failure" : "preemption"}}).Increment();
  // A merge starts over (its output appears only once complete).
  (void)Transition(e, v1::JOB_STATE_QUEUED,
                   absl::StrCat(reason, IsMergeJob(e.job)
                                            ? "; requeued"
                                            : "; requeued to resume from the newest checkpoint"));
}

void Scheduler::WorkerLost(const std::string& worker_id, const std::string& reason) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  std::string job_id = it->second.job_id;
  workers_.erase(it);
  spdlog::warn("worker {} lost: {}", worker_id, reason);
  if (JobEntry* e = Find(job_id); e && e->job.state() == v1::JOB_STATE_RUNNING &&
                                  e->job.worker_id() == worker_id) {
    if (e->cancel_requested) {
      (void)Transition(*e, v1::JOB_STATE_CANCELLED,
                       absl::StrCat(e->cancel_reason, " (worker lost before confirming)"),
                       "CANCELLED");
    } else if (draining_) {
      Requeue(*e, absl::StrCat("worker ", worker_id, " stopped during shutdown"), false);
    } else {
      Requeue(*e, absl::StrCat("worker ", worker_id, " lost: ", reason), true);
    }
  }
  UpdateGauges();
}

void Scheduler::OnWorkerDisconnected(const std::string& worker_id, const std::string& reason) {
  WorkerLost(worker_id, reason);
  TryAssign();
}

void Scheduler::TryAssign() {
  if (draining_) return;
  for (auto& [wid, w] : workers_) {
    if (!w.job_id.empty()) continue;
    for (auto it = queue_.begin(); it != queue_.end();) {
      JobEntry& e = jobs_.at(it->second);
      ++it;  // StartJob may erase the entry
      if (!Fits(e.job.spec().device_kind(), w.info.device_kind())) continue;
      if (StartJob(e, w)) break;
    }
  }
}

bool Scheduler::StartJob(JobEntry& e, WorkerEntry& w) {
  if (e.required_disk_bytes > 0 || options_.min_free_disk_bytes > 0) {
    int64_t need = e.required_disk_bytes + options_.min_free_disk_bytes;
    auto free = options_.free_disk_bytes(e.job.output_dir());
    if (free.ok() && *free < need) {
      (void)Transition(e, v1::JOB_STATE_FAILED,
                       absl::StrCat("not enough disk space for output_dir ", e.job.output_dir(),
                                    ": ", *free, " bytes free, ", need,
                                    " needed (checkpoints x retention + margin)"),
                       "RESOURCE_EXHAUSTED");
      return false;
    }
  }
  int64_t now = clock_.NowMs();
  last_epoch_ = std::max(last_epoch_ + 1, now);  // unique across restarts
  e.lease_epoch = last_epoch_;
  e.job.set_attempt(e.job.attempt() + 1);
  e.job.set_worker_id(w.info.id());
  e.started_ms = now;
  metrics_.queue_wait.Add({}, prometheus::Histogram::BucketBoundaries{})
      .Observe(static_cast<double>(now - e.queued_ms) / 1000.0);
  w.job_id = e.job.id();
  e.metrics = std::make_unique<JobMetrics>(metrics_, e.job.id());
  if (e.job.total_steps() > 0) e.metrics->total_steps.Set(static_cast<double>(e.job.total_steps()));
  std::string resume = IsMergeJob(e.job) ? "" : e.job.attempt() > 1 ? "auto" : e.resume;
  if (!Transition(e, v1::JOB_STATE_RUNNING,
                  absl::StrCat("attempt ", e.job.attempt(), " on worker ", w.info.id(),
                               resume.empty() ? "" : absl::StrCat(" (resume: ", resume, ")")))
           .ok()) {
    w.job_id.clear();
    return false;
  }
  v1::SchedulerMessage m;
  auto* a = m.mutable_assign();
  a->set_job_id(e.job.id());
  a->set_attempt(e.job.attempt());
  a->set_lease_epoch(e.lease_epoch);
  *a->mutable_spec() = e.job.spec();
  a->set_resume(resume);
  if (IsMergeJob(e.job)) *a->mutable_merge() = e.job.merge();
  w.link->Send(m);
  UpdateGauges();
  return true;
}

void Scheduler::Tick() {
  int64_t now = clock_.NowMs();
  std::vector<std::string> silent;
  for (const auto& [id, w] : workers_) {
    if (now - w.last_heartbeat_ms > options_.heartbeat_timeout_ms) silent.push_back(id);
  }
  for (const auto& id : silent) {
    workers_.at(id).link->Close(absl::UnavailableError("heartbeat timeout"));
    WorkerLost(id, absl::StrCat("no heartbeat for ", options_.heartbeat_timeout_ms, " ms"));
    if (pool_ && pool_->IsLocal(id)) pool_->Kill(id, SIGKILL);  // hung: the pool restarts it
  }
  for (auto& [id, e] : jobs_) {
    int64_t limit = e.job.spec().max_runtime().seconds() * 1000;
    if (e.job.state() == v1::JOB_STATE_RUNNING && limit > 0 && !e.timed_out &&
        now - e.started_ms > limit) {
      e.timed_out = true;
      if (auto w = workers_.find(e.job.worker_id()); w != workers_.end()) {
        v1::SchedulerMessage m;
        m.mutable_cancel()->set_job_id(id);
        m.mutable_cancel()->set_lease_epoch(e.lease_epoch);
        m.mutable_cancel()->set_reason("max_runtime exceeded");
        w->second.link->Send(m);
      }
    }
  }
  if (pool_) {
    for (const auto& id : pool_->Tick()) WorkerLost(id, "worker process exited");
  }
  if (options_.event_retention_ms > 0 && now - last_prune_ms_ > 3600'000) {
    last_prune_ms_ = now;
    auto n = store_.PruneEvents(now - options_.event_retention_ms);
    if (n.ok() && *n > 0) spdlog::info("retention: removed {} events of old finished jobs", *n);
  }
  TryAssign();
}

void Scheduler::Drain() {
  if (draining_) return;
  draining_ = true;
  for (auto& [id, e] : jobs_) {
    if (e.job.state() != v1::JOB_STATE_RUNNING) continue;
    if (auto w = workers_.find(e.job.worker_id()); w != workers_.end()) {
      v1::SchedulerMessage m;
      m.mutable_cancel()->set_job_id(id);
      m.mutable_cancel()->set_lease_epoch(e.lease_epoch);
      m.mutable_cancel()->set_reason("lorad is shutting down");
      m.mutable_cancel()->set_requeue(true);
      w->second.link->Send(m);
    }
  }
}

int Scheduler::RunningJobs() const {
  int n = 0;
  for (const auto& [id, e] : jobs_) n += e.job.state() == v1::JOB_STATE_RUNNING;
  return n;
}

std::vector<v1::Worker> Scheduler::ListWorkers() const {
  std::vector<v1::Worker> out;
  for (const auto& [id, w] : workers_) {
    v1::Worker info = w.info;
    info.set_state(w.job_id.empty() ? "IDLE" : "BUSY");
    info.set_job_id(w.job_id);
    if (pool_) info.set_restarts(pool_->Restarts(id));
    out.push_back(std::move(info));
  }
  return out;
}

// --- watchers ---------------------------------------------------------------

absl::Status Scheduler::Watch(const std::string& job_id, int64_t after_seq, bool follow,
                              std::shared_ptr<JobWatcher> watcher) {
  const JobEntry* e = Find(job_id);
  if (!e) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  JobWatcher* key = watcher.get();
  WatchState& ws = watchers_[key];
  ws.watcher = std::move(watcher);
  ws.job_id = job_id;
  ws.next_seq = std::max<int64_t>(after_seq, 0) + 1;
  ws.end_seq = follow ? -1 : e->job.last_seq();
  Feed(ws);
  UpdateGauges();
  return absl::OkStatus();
}

void Scheduler::Feed(WatchState& ws) {
  JobWatcher* key = ws.watcher.get();
  const JobEntry* e = Find(ws.job_id);
  if (!e) return;
  ws.lagging = false;
  while (ws.next_seq <= e->job.last_seq() && (ws.end_seq < 0 || ws.next_seq <= ws.end_seq)) {
    auto events = store_.ReadEvents(ws.job_id, ws.next_seq - 1, kFeedChunk);
    if (!events.ok()) {
      ws.watcher->OnEnd(events.status());
      watchers_.erase(key);
      return;
    }
    if (events->empty()) {
      // Pruned by retention: skip to what exists.
      ws.next_seq = e->job.last_seq() + 1;
      break;
    }
    for (const auto& ev : *events) {
      if (ws.end_seq >= 0 && ev.seq() > ws.end_seq) break;
      if (!ws.watcher->OnEvent(ev)) {
        ws.lagging = true;
        return;
      }
      ws.next_seq = ev.seq() + 1;
    }
  }
  EndWatchersIfDone(*e);
}

void Scheduler::Dispatch(const JobEntry& e, const std::vector<v1::JobEvent>& events) {
  for (auto& [key, ws] : watchers_) {
    if (ws.job_id != e.job.id() || ws.lagging) continue;
    for (const auto& ev : events) {
      if (ev.seq() != ws.next_seq) continue;  // already sent, or a gap to fill from the store
      if (ws.end_seq >= 0 && ev.seq() > ws.end_seq) break;
      if (!ws.watcher->OnEvent(ev)) {
        ws.lagging = true;
        break;
      }
      ++ws.next_seq;
    }
  }
}

void Scheduler::EndWatchersIfDone(const JobEntry& e) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    WatchState& ws = it->second;
    bool done = ws.job_id == e.job.id() && !ws.lagging &&
                ((ws.end_seq >= 0 && ws.next_seq > ws.end_seq) ||
                 (IsFinal(e.job.state()) && ws.next_seq > e.job.last_seq()));
    if (done) {
      ws.watcher->OnEnd(absl::OkStatus());
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
  metrics_.watchers.Add({}).Set(static_cast<double>(watchers_.size()));
}

void Scheduler::ResumeWatcher(JobWatcher* watcher) {
  auto it = watchers_.find(watcher);
  if (it != watchers_.end() && it->second.lagging) Feed(it->second);
}

void Scheduler::Unwatch(JobWatcher* watcher) {
  watchers_.erase(watcher);
  metrics_.watchers.Add({}).Set(static_cast<double>(watchers_.size()));
}

}  // namespace lorad
