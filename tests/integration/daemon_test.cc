// The real lorad on a temp state dir and socket.  A test-controlled worker
// dials in over the real WorkerService (with the worker token), so the
// scheduler, store, streams, restarts and error codes are exercised end to end
// without depending on training speed.  daemon_worker_test.cc runs the real
// lorad-worker.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "absl/status/status.h"
#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kWorkerToken[] = "integration-worker-token-0123456789";

// A worker played by the test over a real Connect stream.
class TestWorker {
 public:
  TestWorker(const Daemon& d, const std::string& id, const std::string& token = kWorkerToken)
      : stub_(d.WorkerStub()) {
    stream_ = stub_->Connect(&ctx_);
    v1::WorkerMessage hello;
    hello.mutable_hello()->set_worker_id(id);
    hello.mutable_hello()->set_worker_token(token);
    hello.mutable_hello()->set_device_kind(v1::DEVICE_KIND_CPU);
    stream_->Write(hello);
  }
  ~TestWorker() {
    if (finished_) return;
    ctx_.TryCancel();
    v1::SchedulerMessage m;
    while (stream_->Read(&m)) {
    }
    (void)stream_->Finish();
  }
  // Next message that is not a hello_ack; false at end of stream.
  bool Next(v1::SchedulerMessage* m) {
    while (stream_->Read(m)) {
      if (!m->has_hello_ack()) return true;
    }
    return false;
  }
  grpc::Status Finish() {
    finished_ = true;
    return stream_->Finish();
  }
  void Record(const v1::JobAssignment& a, const std::string& json) {
    v1::WorkerMessage m;
    m.mutable_event()->set_job_id(a.job_id());
    m.mutable_event()->set_lease_epoch(a.lease_epoch());
    m.mutable_event()->set_record_json(json);
    stream_->Write(m);
  }
  void Steps(const v1::JobAssignment& a, int from, int to) {
    for (int i = from; i <= to; ++i) {
      Record(a, "{\"type\":\"step\",\"step\":" + std::to_string(i) + ",\"loss\":" +
                    std::to_string(3.0 / i) + ",\"tokens\":64,\"tokens_per_second\":640}");
    }
  }
  void Done(const v1::JobAssignment& a, absl::StatusCode code, bool preempted = false) {
    v1::WorkerMessage m;
    m.mutable_finished()->set_job_id(a.job_id());
    m.mutable_finished()->set_lease_epoch(a.lease_epoch());
    m.mutable_finished()->set_code(static_cast<int>(code));
    m.mutable_finished()->set_preempted(preempted);
    stream_->Write(m);
  }

 private:
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>> stream_;
  bool finished_ = false;
};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("lorad-it-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "model");
    std::ofstream(dir_ / "model" / "config.json") << "{}";
    std::ofstream(dir_ / "data.jsonl") << "{\"text\": \"hello\"}\n";
    std::ofstream(dir_ / "worker.token") << kWorkerToken << "\n";
    daemon_ = std::make_unique<Daemon>(
        dir_,
        "workers: none\nworker_token_file: " + (dir_ / "worker.token").string() +
            "\nheartbeat_interval_ms: 200\nheartbeat_timeout_ms: 3000\n",
        std::vector<std::string>{});
    daemon_->Start();
    stub_ = daemon_->JobStub();
  }
  void TearDown() override {
    daemon_.reset();
    if (!std::getenv("LORAD_KEEP_TEST_DIRS")) std::filesystem::remove_all(dir_);
  }

  std::string Yaml(const std::string& out = "out") {
    return "base_model: ./model\ndatasets:\n  - path: ./data.jsonl\n    type: completion\n"
           "learning_rate: 0.001\nlora_target_linear: true\nmax_steps: 5\noutput_dir: ./" + out + "\n";
  }
  v1::JobSpec Spec(const std::string& out = "out") {
    v1::JobSpec s;
    s.set_config_yaml(Yaml(out));
    s.set_config_dir(dir_.string());
    s.set_name(out);
    return s;
  }
  grpc::Status Submit(const v1::JobSpec& spec, v1::SubmitJobResponse* resp) {
    grpc::ClientContext ctx;
    v1::SubmitJobRequest req;
    *req.mutable_spec() = spec;
    return stub_->SubmitJob(&ctx, req, resp);
  }
  std::string SubmitOk(const v1::JobSpec& spec) {
    v1::SubmitJobResponse resp;
    grpc::Status s = Submit(spec, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.job().id();
  }
  v1::Job Get(const std::string& id, grpc::Status* status = nullptr) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::Job job;
    grpc::Status s = stub_->GetJob(&ctx, req, &job);
    if (status) *status = s;
    return job;
  }
  bool WaitState(const std::string& id, v1::JobState state) {
    return WaitFor([&] { return Get(id).state() == state; }, 10s);
  }
  static void ExpectGapFree(const std::vector<v1::JobEvent>& events, int64_t first) {
    for (size_t i = 0; i < events.size(); ++i) {
      ASSERT_EQ(events[i].seq(), first + static_cast<int64_t>(i)) << "gap or duplicate at " << i;
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(DaemonTest, SubmitRunToSuccessWithTwoWatchersAndMetrics) {
  std::string id = SubmitOk(Spec());
  ASSERT_EQ(Get(id).state(), v1::JOB_STATE_QUEUED);
  Watcher w1(*stub_, id, 0), w2(*stub_, id, 0);
  TestWorker worker(*daemon_, "fake-1");
  v1::SchedulerMessage m;
  ASSERT_TRUE(worker.Next(&m));
  ASSERT_TRUE(m.has_assign());
  const v1::JobAssignment a = m.assign();
  EXPECT_EQ(a.job_id(), id);
  EXPECT_EQ(a.attempt(), 1);
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_RUNNING));
  worker.Steps(a, 1, 3);
  worker.Record(a, R"({"type":"checkpoint","path":"/x/checkpoint-3","step":3,"seconds":0.01})");
  worker.Steps(a, 4, 5);
  ASSERT_TRUE(WaitFor([&] { return Get(id).last_step() == 5; }, 10s));
  // While running, the job's training series are exported.
  std::string scrape = HttpGet(daemon_->metrics_address(), "/metrics");
  EXPECT_NE(scrape.find("lorad_train_loss{job_id=\"" + id + "\"}"), std::string::npos) << scrape;
  EXPECT_NE(scrape.find("lorad_jobs{state=\"running\"} 1"), std::string::npos);
  worker.Done(a, absl::StatusCode::kOk);
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_SUCCEEDED));
  for (Watcher* w : {&w1, &w2}) {
    ASSERT_TRUE(w->Wait(10s).ok());
    auto events = w->events();
    ExpectGapFree(events, 1);
    int steps = 0, checkpoints = 0;
    for (const auto& e : events) {
      steps += e.has_step();
      checkpoints += e.has_checkpoint();
    }
    EXPECT_EQ(steps, 5);
    EXPECT_EQ(checkpoints, 1);
    EXPECT_EQ(events.back().state_change().to_state(), v1::JOB_STATE_SUCCEEDED);
  }
  scrape = HttpGet(daemon_->metrics_address(), "/metrics");
  EXPECT_EQ(scrape.find("lorad_train_loss{job_id=\"" + id + "\"}"), std::string::npos);
  EXPECT_NE(scrape.find("lorad_job_outcomes_total{outcome=\"succeeded\"} 1"), std::string::npos);
  grpc::ClientContext ctx;
  v1::ListCheckpointsRequest req;
  req.set_job_id(id);
  v1::ListCheckpointsResponse cps;
  ASSERT_TRUE(stub_->ListCheckpoints(&ctx, req, &cps).ok());
  ASSERT_EQ(cps.checkpoints_size(), 1);
  EXPECT_EQ(cps.checkpoints(0).step(), 3);
}

TEST_F(DaemonTest, ValidationErrorsIdempotencyAndCodes) {
  v1::SubmitJobResponse resp;
  v1::JobSpec bad = Spec();
  bad.set_config_yaml("base_model: ./missing-model\ndatasets:\n  - path: ./nope.jsonl\n"
                      "lora_r: 0\n");
  bad.set_device_count(2);
  grpc::Status s = Submit(bad, &resp);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (const char* field : {"device_count", "base_model", "datasets[0].path", "lora_r",
                            "learning_rate"}) {
    EXPECT_NE(s.error_message().find(field), std::string::npos) << field << "\n" << s.error_message();
  }
  v1::JobSpec relative = Spec();
  relative.set_config_dir("relative/dir");
  EXPECT_EQ(Submit(relative, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::JobSpec spec = Spec();
  spec.set_idempotency_key("key-1");
  std::string id = SubmitOk(spec);
  ASSERT_TRUE(Submit(spec, &resp).ok());
  EXPECT_TRUE(resp.existing());
  EXPECT_EQ(resp.job().id(), id);
  spec.set_priority(7);
  EXPECT_EQ(Submit(spec, &resp).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // Same output_dir as a queued job.
  EXPECT_EQ(Submit(Spec(), &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  grpc::Status st;
  Get("0000000000zz", &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext ctx;
    v1::DeleteJobRequest req;
    req.set_job_id(id);
    v1::DeleteJobResponse r;
    EXPECT_EQ(stub_->DeleteJob(&ctx, req, &r).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    v1::Job j;
    ASSERT_TRUE(stub_->CancelJob(&ctx, req, &j).ok());
    EXPECT_EQ(j.state(), v1::JOB_STATE_CANCELLED);
  }
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    v1::Job j;
    EXPECT_EQ(stub_->CancelJob(&ctx, req, &j).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  // A wrong worker token is refused.
  TestWorker intruder(*daemon_, "intruder", "wrong-token-wrong-token-wrong");
  v1::SchedulerMessage m;
  EXPECT_FALSE(intruder.Next(&m));
  EXPECT_EQ(intruder.Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(DaemonTest, CancelRunningThenRetryResumesThenDeleteWithFiles) {
  std::string id = SubmitOk(Spec("job-out"));
  TestWorker worker(*daemon_, "fake-1");
  v1::SchedulerMessage m;
  ASSERT_TRUE(worker.Next(&m));
  v1::JobAssignment a = m.assign();
  worker.Steps(a, 1, 2);
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    v1::Job j;
    ASSERT_TRUE(stub_->CancelJob(&ctx, req, &j).ok());
  }
  ASSERT_TRUE(worker.Next(&m));
  ASSERT_TRUE(m.has_cancel());
  EXPECT_EQ(m.cancel().lease_epoch(), a.lease_epoch());
  EXPECT_FALSE(m.cancel().requeue());
  worker.Record(a, R"({"type":"checkpoint","path":"/x/checkpoint-2","step":2})");
  worker.Done(a, absl::StatusCode::kCancelled);
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_CANCELLED));

  {
    grpc::ClientContext ctx;
    v1::RetryJobRequest req;
    req.set_job_id(id);
    v1::Job j;
    ASSERT_TRUE(stub_->RetryJob(&ctx, req, &j).ok());
  }
  ASSERT_TRUE(worker.Next(&m));
  ASSERT_TRUE(m.has_assign());
  EXPECT_EQ(m.assign().attempt(), 2);
  EXPECT_EQ(m.assign().resume(), "auto");
  worker.Steps(m.assign(), 3, 5);
  worker.Done(m.assign(), absl::StatusCode::kOk);
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_SUCCEEDED));

  std::filesystem::create_directories(dir_ / "job-out");
  std::ofstream(dir_ / "job-out" / "adapter_config.json") << "{}";
  {
    grpc::ClientContext ctx;
    v1::DeleteJobRequest req;
    req.set_job_id(id);
    req.set_delete_files(true);
    v1::DeleteJobResponse r;
    ASSERT_TRUE(stub_->DeleteJob(&ctx, req, &r).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "job-out"));
  grpc::Status st;
  Get(id, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DaemonTest, Kill9OfLoradMidJobLosesNothing) {
  std::string id = SubmitOk(Spec("a"));
  std::string queued = SubmitOk(Spec("b"));
  int64_t seen_seq = 0;
  {
    TestWorker worker(*daemon_, "fake-1");
    v1::SchedulerMessage m;
    ASSERT_TRUE(worker.Next(&m));
    const v1::JobAssignment a = m.assign();
    Watcher w(*stub_, id, 0);
    worker.Steps(a, 1, 3);
    worker.Record(a, R"({"type":"checkpoint","path":"/x/checkpoint-3","step":3})");
    ASSERT_TRUE(WaitFor([&] { return w.events().size() >= 6; }, 10s));
    seen_seq = w.events().back().seq();
    daemon_->Kill9();
    EXPECT_FALSE(w.Wait(10s).ok());  // the stream broke with the daemon
  }
  daemon_->Start();
  stub_ = daemon_->JobStub();
  v1::Job job = Get(id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_NE(job.state_reason().find("restarted"), std::string::npos);
  EXPECT_EQ(Get(queued).state(), v1::JOB_STATE_QUEUED);
  // The watcher reconnects with its last sequence number and misses nothing.
  Watcher resumed(*stub_, id, seen_seq);
  TestWorker worker(*daemon_, "fake-1");
  v1::SchedulerMessage m;
  ASSERT_TRUE(worker.Next(&m));
  ASSERT_EQ(m.assign().job_id(), id);
  EXPECT_EQ(m.assign().resume(), "auto");
  worker.Steps(m.assign(), 4, 5);
  worker.Done(m.assign(), absl::StatusCode::kOk);
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_SUCCEEDED));
  ASSERT_TRUE(resumed.Wait(10s).ok());
  auto tail = resumed.events();
  ASSERT_FALSE(tail.empty());
  ExpectGapFree(tail, seen_seq + 1);
  // The whole history replays without gaps.
  Watcher replay(*stub_, id, 0);
  ASSERT_TRUE(replay.Wait(10s).ok());
  auto all = replay.events();
  ExpectGapFree(all, 1);
  int steps = 0;
  std::set<int32_t> attempts;
  for (const auto& e : all) {
    steps += e.has_step();
    if (e.has_step()) attempts.insert(e.attempt());
  }
  EXPECT_EQ(steps, 5);
  EXPECT_EQ(attempts, (std::set<int32_t>{1, 2}));
}

TEST_F(DaemonTest, SigtermDrainsAndExitsInBound) {
  std::string id = SubmitOk(Spec());
  TestWorker worker(*daemon_, "fake-1");
  v1::SchedulerMessage m;
  ASSERT_TRUE(worker.Next(&m));
  const v1::JobAssignment a = m.assign();
  std::thread stopper([&] { EXPECT_EQ(daemon_->Terminate(20s), 0); });
  // Preemption request: checkpoint and give the job back.
  ASSERT_TRUE(worker.Next(&m));
  ASSERT_TRUE(m.has_cancel());
  EXPECT_TRUE(m.cancel().requeue());
  worker.Record(a, R"({"type":"checkpoint","path":"/x/checkpoint-1","step":1})");
  worker.Done(a, absl::StatusCode::kCancelled, /*preempted=*/true);
  stopper.join();
  daemon_->Start();
  stub_ = daemon_->JobStub();
  grpc::Status st;
  v1::Job job = Get(id, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_NE(job.state_reason().find("preempted"), std::string::npos) << job.state_reason();
}

}  // namespace
}  // namespace lorad::testing

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;

class CallCreds {
 public:
  static void Set(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", "Bearer " + token);
  }
};

TEST(DaemonAccessTest, TokensOwnershipAndRefusedListeners) {
  auto dir = std::filesystem::temp_directory_path() / ("lorad-it-access-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "model");
  std::ofstream(dir / "model" / "config.json") << "{}";
  std::ofstream(dir / "data.jsonl") << "{\"text\": \"hello\"}\n";
  std::ofstream(dir / "tokens") << "# name token [admin]\nalice alice-token-0123456789\n"
                                   "bob bob-token-0123456789abc\nops ops-token-0123456789abc admin\n";
  {
    // Plain TCP on a non-loopback address is refused at startup.
    Daemon refused(dir / "refused", "workers: none\ninsecure_tcp: true\n", {});
    EXPECT_EQ(refused.RunToExit({"--listen", "0.0.0.0:0"}), 2);
    Daemon unknown_key(dir / "unknown", "workers: none\nno_such_key: 1\n", {});
    EXPECT_EQ(unknown_key.RunToExit({}), 2);
  }
  Daemon d(dir / "d",
           "workers: none\ninsecure_tcp: true\ntoken_file: " + (dir / "tokens").string() + "\n",
           {"--listen", "127.0.0.1:0"});
  d.Start();
  ASSERT_FALSE(d.tcp_address().empty());
  auto tcp = v1::JobService::NewStub(
      FreshChannel(d.tcp_address()));
  v1::SubmitJobRequest req;
  req.mutable_spec()->set_config_dir(dir.string());
  req.mutable_spec()->set_config_yaml(
      "base_model: ./model\ndatasets:\n  - path: ./data.jsonl\nlearning_rate: 0.001\nlora_target_linear: true\n"
      "output_dir: ./out\n");
  v1::SubmitJobResponse resp;
  {
    grpc::ClientContext ctx;  // no token over TCP
    EXPECT_EQ(tcp->SubmitJob(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    CallCreds::Set(&ctx, "alice-token-0123456788");  // wrong token
    EXPECT_EQ(tcp->SubmitJob(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    CallCreds::Set(&ctx, "alice-token-0123456789");
    grpc::Status s = tcp->SubmitJob(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.job().owner(), "alice");
  }
  v1::CancelJobRequest cancel;
  cancel.set_job_id(resp.job().id());
  v1::Job job;
  {
    grpc::ClientContext ctx;
    CallCreds::Set(&ctx, "bob-token-0123456789abc");
    EXPECT_EQ(tcp->CancelJob(&ctx, cancel, &job).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;  // local caller on the socket is not alice either
    EXPECT_EQ(d.JobStub()->CancelJob(&ctx, cancel, &job).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    CallCreds::Set(&ctx, "ops-token-0123456789abc");  // admin
    ASSERT_TRUE(tcp->CancelJob(&ctx, cancel, &job).ok());
    EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  }
  std::string scrape = HttpGet(d.metrics_address(), "/metrics");
  EXPECT_NE(scrape.find("lorad_auth_failures_total{reason=\"bad_token\"} 1"), std::string::npos);
  // The socket is group-accessible only.
  auto perms = std::filesystem::status(dir / "d" / "lorad.sock").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read | std::filesystem::perms::group_write);
  EXPECT_EQ(d.Terminate(20s), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lorad::testing

namespace lorad::testing {
namespace {

TEST(DaemonNotifyTest, SendsReadyOnceListening) {
  auto dir = std::filesystem::temp_directory_path() / ("lorad-it-notify-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "notify.sock").string();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Daemon d(dir / "d", "workers: none\n", {});
  d.SetEnv("NOTIFY_SOCKET", path);
  d.Start();
  char buf[512] = {};
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(buf, static_cast<size_t>(n)).find("READY=1"), std::string::npos);
  // By then the socket accepts calls.
  grpc::ClientContext ctx;
  v1::GetVersionResponse version;
  EXPECT_TRUE(d.JobStub()->GetVersion(&ctx, v1::GetVersionRequest(), &version).ok());
  EXPECT_EQ(version.api_version(), 1);
  close(fd);
  EXPECT_EQ(d.Terminate(std::chrono::seconds(20)), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lorad::testing
