// The real lorad spawning and supervising real `lorad-worker serve` processes
// (fake-lorad-worker: the serve code with a fast fake trainer): startup
// tokens, heartbeats, records, log forwarding, cancel with checkpoint, and a
// kill -9 of the worker mid-job followed by a restart with backoff and an
// exact resume whose final adapter equals an uninterrupted run's.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;

class LocalWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("lorad-lw-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "model");
    std::ofstream(dir_ / "model" / "config.json") << "{}";
    std::ofstream(dir_ / "data.jsonl") << "{\"text\": \"hello\"}\n";
    daemon_ = std::make_unique<Daemon>(
        dir_,
        "workers: cpu\nworker_binary: " + FakeWorkerBinary() +
            "\nheartbeat_interval_ms: 200\n"
            "heartbeat_timeout_ms: 5000\n",
        std::vector<std::string>{});
    daemon_->Start();
    stub_ = daemon_->JobStub();
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->Terminate(30s), 0);
    }
    daemon_.reset();
    if (!std::getenv("LORAD_KEEP_TEST_DIRS")) std::filesystem::remove_all(dir_);
  }
  std::string Submit(const std::string& out) {
    v1::SubmitJobRequest req;
    req.mutable_spec()->set_config_dir(dir_.string());
    req.mutable_spec()->set_config_yaml(
        "base_model: ./model\ndatasets:\n  - path: ./data.jsonl\nlearning_rate: 0.001\n"
        "lora_target_linear: true\nmax_steps: 12\nsave_steps: 4\noutput_dir: ./" + out + "\n");
    v1::SubmitJobResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->SubmitJob(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.job().id();
  }
  v1::Job Get(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::Job job;
    (void)stub_->GetJob(&ctx, req, &job);
    return job;
  }
  bool WaitState(const std::string& id, v1::JobState s, std::chrono::seconds t = 60s) {
    return WaitFor([&] { return Get(id).state() == s; }, t);
  }
  v1::Worker OnlyWorker() {
    grpc::ClientContext ctx;
    v1::ListWorkersResponse resp;
    EXPECT_TRUE(stub_->ListWorkers(&ctx, v1::ListWorkersRequest(), &resp).ok());
    return resp.workers_size() == 1 ? resp.workers(0) : v1::Worker();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(LocalWorkerTest, SpawnedWorkerRunsJobAndStreamsRecordsAndLogs) {
  ASSERT_TRUE(WaitFor([&] { return OnlyWorker().id() == "local-0"; }, 30s));
  EXPECT_TRUE(OnlyWorker().local());
  EXPECT_GT(OnlyWorker().pid(), 0);
  std::string id = Submit("out");
  Watcher w(*stub_, id, 0);
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_SUCCEEDED)) << Get(id).error();
  ASSERT_TRUE(w.Wait(10s).ok());
  int steps = 0, checkpoints = 0, logs = 0, finals = 0;
  for (const auto& e : w.events()) {
    steps += e.has_step();
    checkpoints += e.has_checkpoint();
    logs += e.has_log();
    finals += e.has_final_result();
  }
  EXPECT_EQ(steps, 12);
  EXPECT_EQ(checkpoints, 3);
  EXPECT_GE(logs, 1);
  EXPECT_EQ(finals, 1);
  EXPECT_EQ(Get(id).last_step(), 12);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / ".lorad.lock"));
}

TEST_F(LocalWorkerTest, CancelStopsAtStepBoundaryWithCheckpoint) {
  std::string id = Submit("out");
  ASSERT_TRUE(WaitFor([&] { return Get(id).last_step() >= 2; }, 60s));
  grpc::ClientContext ctx;
  v1::CancelJobRequest req;
  req.set_job_id(id);
  v1::Job job;
  ASSERT_TRUE(stub_->CancelJob(&ctx, req, &job).ok());
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_CANCELLED));
  int64_t stopped_at = Get(id).last_step();
  EXPECT_LT(stopped_at, 12);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / ("checkpoint-" + std::to_string(stopped_at))));
}

TEST_F(LocalWorkerTest, Kill9OfWorkerMidJobRestartsAndResumesExactly) {
  std::string ref = Submit("ref");
  ASSERT_TRUE(WaitState(ref, v1::JOB_STATE_SUCCEEDED));
  std::string id = Submit("interrupted");
  Watcher w(*stub_, id, 0);
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& e : w.events()) {
      if (e.has_checkpoint()) return true;
    }
    return false;
  }, 60s));
  v1::Worker before = OnlyWorker();
  ASSERT_GT(before.pid(), 0);
  ASSERT_EQ(kill(static_cast<pid_t>(before.pid()), SIGKILL), 0);
  ASSERT_TRUE(WaitState(id, v1::JOB_STATE_SUCCEEDED, 90s)) << Get(id).error();
  v1::Job job = Get(id);
  EXPECT_EQ(job.attempt(), 2);
  EXPECT_EQ(ReadFileBytes(dir_ / "interrupted" / "adapter_model.safetensors"),
            ReadFileBytes(dir_ / "ref" / "adapter_model.safetensors"));
  v1::Worker after = OnlyWorker();
  EXPECT_NE(after.pid(), before.pid());
  EXPECT_EQ(after.restarts(), 1);
  ASSERT_TRUE(w.Wait(10s).ok());
  auto events = w.events();
  bool requeued = false, resumed = false;
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].seq(), static_cast<int64_t>(i + 1));
    const auto& e = events[i];
    if (e.has_state_change() && e.state_change().to_state() == v1::JOB_STATE_QUEUED &&
        e.state_change().reason().find("lost") != std::string::npos) {
      requeued = true;
    }
    if (e.has_resume() && e.attempt() == 2 && e.resume().step() >= 4) resumed = true;
  }
  EXPECT_TRUE(requeued);
  EXPECT_TRUE(resumed);
}

}  // namespace
}  // namespace lorad::testing
