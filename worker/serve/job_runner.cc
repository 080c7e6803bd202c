#include "worker/serve/job_runner.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"
#include "worker/config/config_loader.h"
#include "worker/serve/merge_job.h"
#include "worker/serve/output_dir_lock.h"
#include "worker/train/training_job.h"

namespace lorad {
namespace {

// Forwards each trainer record as a WorkerJobEvent.
class ForwardingObserver : public TrainerObserver {
 public:
  ForwardingObserver(JobRunner::SendFn& send, std::string job_id, int64_t epoch)
      : send_(send), job_id_(std::move(job_id)), epoch_(epoch) {}
  void OnRecord(const nlohmann::json& record) override {
    v1::WorkerMessage m;
    auto* ev = m.mutable_event();
    ev->set_job_id(job_id_);
    ev->set_lease_epoch(epoch_);
    ev->set_record_json(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    send_(m);  // a broken stream drops records; the step loop stops on lease loss
  }

 private:
  JobRunner::SendFn& send_;
  std::string job_id_;
  int64_t epoch_;
};

// While a job runs, the worker's log lines (info and above) also go to the
// job's event stream, so `loractl logs` shows what the worker said.  One sink
// for the process, registered once; the job it feeds is swapped under its lock
// (the logger's sink list itself is never touched while threads log).
class JobLogSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void Attach(JobRunner::SendFn* send, std::string job_id, int64_t epoch) {
    std::lock_guard<std::mutex> lock(mutex_);
    send_ = send;
    job_id_ = std::move(job_id);
    epoch_ = epoch;
  }
  void Detach() {
    std::lock_guard<std::mutex> lock(mutex_);
    send_ = nullptr;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {  // mutex_ held
    if (send_ == nullptr || msg.level < spdlog::level::info) return;
    v1::WorkerMessage m;
    auto* ev = m.mutable_event();
    ev->set_job_id(job_id_);
    ev->set_lease_epoch(epoch_);
    auto level = spdlog::level::to_string_view(msg.level);
    ev->mutable_log()->set_level(std::string(level.data(), level.size()));
    ev->mutable_log()->set_text(std::string(msg.payload.data(), msg.payload.size()));
    (*send_)(m);
  }
  void flush_() override {}

 private:
  JobRunner::SendFn* send_ = nullptr;
  std::string job_id_;
  int64_t epoch_ = 0;
};

JobLogSink& LogSink() {
  static auto* sink = [] {
    auto s = std::make_shared<JobLogSink>();
    spdlog::default_logger()->sinks().push_back(s);
    return s.get();  // owned by the default logger for the process lifetime
  }();
  return *sink;
}

bool Deterministic(absl::StatusCode c) {
  // ABORTED: the run diverged (divergence_policy fail); resuming from its last
  // good checkpoint replays the same steps into the same divergence.
  return c == absl::StatusCode::kInvalidArgument || c == absl::StatusCode::kNotFound ||
         c == absl::StatusCode::kFailedPrecondition || c == absl::StatusCode::kUnimplemented ||
         c == absl::StatusCode::kResourceExhausted || c == absl::StatusCode::kAborted;
}

}  // namespace

JobRunner::JobRunner(SendFn send, std::string device, int threads, int64_t lock_wait_ms)
    : send_(std::move(send)), device_(std::move(device)), threads_(threads),
      lock_wait_ms_(lock_wait_ms) {
  LogSink();  // registered before any training thread logs
}

JobRunner::~JobRunner() {
  StopAny(true);
  Join();
}

bool JobRunner::Start(const v1::JobAssignment& assignment) {
  std::lock_guard<std::mutex> lock(mu_);
  if (busy_.load()) return false;
  if (thread_.joinable()) thread_.join();
  busy_ = true;
  stop_ = false;
  requeue_ = false;
  job_id_ = assignment.job_id();
  lease_epoch_ = assignment.lease_epoch();
  thread_ = std::thread([this, assignment] { Run(assignment); });
  return true;
}

void JobRunner::Stop(const std::string& job_id, int64_t lease_epoch, bool requeue) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!busy_.load() || job_id != job_id_ || lease_epoch != lease_epoch_) return;
  requeue_ = requeue;
  stop_ = true;
}

void JobRunner::StopAny(bool requeue) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!busy_.load() || stop_.load()) return;
  requeue_ = requeue;
  stop_ = true;
}

void JobRunner::Join() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

std::pair<std::string, int64_t> JobRunner::Current() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!busy_.load()) return {"", 0};
  return {job_id_, lease_epoch_};
}

absl::Status JobRunner::Train(const v1::JobAssignment& a) {
  const v1::JobSpec& spec = a.spec();
  std::vector<std::string> overrides(spec.set_overrides().begin(), spec.set_overrides().end());
  auto loaded = ParseTrainConfig(spec.config_yaml(), spec.config_dir(), overrides);
  if (!loaded.ok()) return loaded.status();
  auto lock = OutputDirLock::Acquire(loaded->config.output_dir, lock_wait_ms_);
  if (!lock.ok()) return lock.status();
  RunOptions options;
  options.resume = a.resume();
  options.device = device_;
  options.threads = threads_;
  ForwardingObserver observer(send_, a.job_id(), a.lease_epoch());
  spdlog::info("job {} attempt {}: training into {} (resume: {})", a.job_id(), a.attempt(),
               loaded->config.output_dir, a.resume().empty() ? "no" : a.resume());
  return RunTrainingJob(loaded->config, options, observer, stop_);
}

absl::Status JobRunner::Merge(const v1::JobAssignment& a) {
  ForwardingObserver observer(send_, a.job_id(), a.lease_epoch());
  return RunMergeJob(
      a.merge(), a.attempt(), [&](const nlohmann::json& r) { observer.OnRecord(r); }, stop_,
      lock_wait_ms_);
}

void JobRunner::Run(v1::JobAssignment a) {
  absl::Status result;
  LogSink().Attach(&send_, a.job_id(), a.lease_epoch());
  try {
    result = a.spec().kind() == v1::JOB_KIND_MERGE ? Merge(a) : Train(a);
  } catch (const std::exception& e) {  // the core should not throw; never let it escape
    result = absl::InternalError(absl::StrCat("training thread: ", e.what()));
  }
  spdlog::info("job {} attempt {}: {}", a.job_id(), a.attempt(), result.ToString());
  LogSink().Detach();
  v1::WorkerMessage m;
  auto* f = m.mutable_finished();
  f->set_job_id(a.job_id());
  f->set_lease_epoch(a.lease_epoch());
  f->set_code(static_cast<int>(result.code()));
  f->set_message(std::string(result.message()));
  f->set_preempted(requeue_.load() && result.code() == absl::StatusCode::kCancelled);
  f->set_deterministic(Deterministic(result.code()));
  send_(m);
  std::lock_guard<std::mutex> lock(mu_);
  busy_ = false;
}

}  // namespace lorad
