// The scheduler unit tests' fakes and fixture: in-memory SQLite store, fake
// clock, fake validator, fake worker links, watchers and process launcher.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/scheduler.h"
#include "server/sqlite_job_store.h"

namespace lorad {

class FakeValidator : public JobValidator {
 public:
  absl::StatusOr<ValidatedSpec> Validate(const v1::JobSpec& spec) override {
    if (spec.config_yaml().find("bad") != std::string::npos) {
      return absl::InvalidArgumentError("learning_rate: required\ndatasets[0].path: not found");
    }
    ValidatedSpec v;
    // "output_dir: X" on the first line names the output dir.
    auto pos = spec.config_yaml().find("output_dir: ");
    v.output_dir = pos == std::string::npos ? "/out/" + spec.name()
                                            : spec.config_yaml().substr(pos + 12);
    return v;
  }
  // The real one resolves the source job's config; here the base model is
  // /models/base and the adapter the source's output_dir.  dtype "int8" is
  // refused as the real one refuses it.
  absl::StatusOr<ValidatedSpec> ValidateMerge(const v1::MergeSpec& m,
                                              const v1::Job& source) override {
    if (m.dtype() == "int8") {
      return absl::InvalidArgumentError(
          "invalid merge request:\nmerge.dtype: expected bf16, f16 or f32, got \"int8\"");
    }
    ValidatedSpec v;
    v.output_dir = m.out_dir();
    v.estimated_checkpoint_bytes = 1000;
    v.checkpoints_kept = 0;
    v.merge.set_source_job_id(source.id());
    v.merge.set_model_dir("/models/base");
    v.merge.set_adapter_dir(source.output_dir());
    v.merge.set_out_dir(m.out_dir());
    v.merge.set_dtype(m.dtype());
    return v;
  }
};

class FakeLink : public WorkerLink {
 public:
  void Send(const v1::SchedulerMessage& m) override { sent.push_back(m); }
  void Close(const absl::Status& s) override { closed = s; }
  std::vector<v1::SchedulerMessage> sent;
  std::optional<absl::Status> closed;
  const v1::JobAssignment* LastAssign() const {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      if (it->has_assign()) return &it->assign();
    }
    return nullptr;
  }
};

class FakeWatcher : public JobWatcher {
 public:
  explicit FakeWatcher(size_t capacity = 1'000'000) : capacity(capacity) {}
  bool OnEvent(const v1::JobEvent& ev) override {
    if (buffered >= capacity) return false;
    ++buffered;
    events.push_back(ev);
    return true;
  }
  void OnEnd(const absl::Status& s) override { ended = s; }
  size_t capacity;
  size_t buffered = 0;
  std::vector<v1::JobEvent> events;
  std::optional<absl::Status> ended;
};

class FakeLauncher : public ProcessLauncher {
 public:
  absl::StatusOr<int64_t> Launch(const LaunchSpec& spec) override {
    launches.push_back(spec);
    return next_pid++;
  }
  std::vector<std::pair<int64_t, int>> Reap() override {
    auto out = std::move(exited);
    exited.clear();
    return out;
  }
  void Signal(int64_t pid, int sig) override { signals.emplace_back(pid, sig); }
  std::vector<LaunchSpec> launches;
  std::vector<std::pair<int64_t, int>> exited, signals;
  int64_t next_pid = 100;
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest()
      : registry_(std::make_shared<prometheus::Registry>()),
        metrics_(BuildSchedulerMetrics(*registry_, "test")) {
    store_ = std::move(SqliteJobStore::Open(":memory:").value());
    options_.worker_token = "remote-worker-token-0123456789";
    options_.free_disk_bytes = [this](const std::string&) -> absl::StatusOr<int64_t> {
      return free_disk_;
    };
    MakeScheduler();
  }
  void MakeScheduler(WorkerPool* pool = nullptr) {
    sched_ = std::make_unique<Scheduler>(*store_, clock_, validator_, metrics_, pool, options_);
    ASSERT_TRUE(sched_->Recover().ok());
  }

  v1::JobSpec Spec(const std::string& name, int priority = 0) {
    v1::JobSpec s;
    s.set_name(name);
    s.set_priority(priority);
    s.set_config_yaml("base_model: m\n");
    return s;
  }
  std::string Submit(const v1::JobSpec& s, const Caller& c = {"alice", false}) {
    auto r = sched_->Submit(s, c);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job().id() : "";
  }
  std::shared_ptr<FakeLink> Connect(const std::string& id,
                                    v1::DeviceKind kind = v1::DEVICE_KIND_CPU) {
    auto link = std::make_shared<FakeLink>();
    v1::WorkerHello h;
    h.set_worker_id(id);
    h.set_worker_token(options_.worker_token);
    h.set_device_kind(kind);
    auto r = sched_->ConnectWorker(link, h);
    EXPECT_TRUE(r.ok()) << r.status();
    return link;
  }
  void Record(const std::string& worker, const v1::JobAssignment& a, const std::string& json) {
    v1::WorkerMessage m;
    m.mutable_event()->set_job_id(a.job_id());
    m.mutable_event()->set_lease_epoch(a.lease_epoch());
    m.mutable_event()->set_record_json(json);
    sched_->OnWorkerMessage(worker, m);
  }
  void Finish(const std::string& worker, const v1::JobAssignment& a, absl::StatusCode code,
              bool preempted = false) {
    v1::WorkerMessage m;
    m.mutable_finished()->set_job_id(a.job_id());
    m.mutable_finished()->set_lease_epoch(a.lease_epoch());
    m.mutable_finished()->set_code(static_cast<int>(code));
    m.mutable_finished()->set_message("msg");
    m.mutable_finished()->set_preempted(preempted);
    sched_->OnWorkerMessage(worker, m);
  }
  v1::JobState State(const std::string& id) { return sched_->Get(id)->state(); }

  std::shared_ptr<prometheus::Registry> registry_;
  SchedulerMetrics metrics_;
  std::unique_ptr<SqliteJobStore> store_;
  FakeClock clock_;
  FakeValidator validator_;
  SchedulerOptions options_;
  int64_t free_disk_ = int64_t{1} << 40;
  std::unique_ptr<Scheduler> sched_;
};

}  // namespace lorad
