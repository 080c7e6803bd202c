// The real lorad with real `lorad-worker serve` processes training a tiny
// model (issue 4 "Done when"): success with streamed steps/checkpoints, and a
// kill -9 of the worker mid-job followed by an exact resume whose final
// adapter is byte-identical to an uninterrupted run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;

std::string WorkerBinary() {
  for (const char* rel : {"/worker/cli/lorad-worker", "/bin/lorad-worker", "/lorad-worker"}) {
    std::string p = std::string(LORAD_BINARY_DIR) + rel;
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

int RunCommand(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DaemonWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = WorkerBinary();
#if !LORAD_REAL_WORKER_TESTS
    GTEST_SKIP() << "real-trainer integration tests are off (-DLORAD_REAL_WORKER_TESTS=ON)";
#endif
    if (worker_.empty()) GTEST_SKIP() << "lorad-worker is not built in " << LORAD_BINARY_DIR;
    dir_ = std::filesystem::temp_directory_path() /
           ("lorad-wit-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // This build's lorad-worker must have the serve command.
    if (RunCommand(worker_ + " serve --help >/dev/null 2>&1") == 2 &&
        RunCommand(worker_ + " help 2>&1 | grep -q serve") != 0) {
      GTEST_SKIP() << "lorad-worker was built without `serve`";
    }
    ASSERT_EQ(RunCommand(worker_ + " init-model --preset tiny --out " + (dir_ / "model").string() +
                         " >" + (dir_ / "init.log").string() + " 2>&1"),
              0)
        << ReadAll(dir_ / "init.log");
    std::ofstream data(dir_ / "data.jsonl");
    for (int i = 0; i < 64; ++i) {
      data << "{\"text\": \"the quick brown fox jumps over the lazy dog " << i % 4 << "\"}\n";
    }
    data.close();
    daemon_ = std::make_unique<Daemon>(
        dir_,
        "workers: cpu\nworker_binary: " + worker_ +
            "\nworker_args: [\"--threads\", \"1\"]\nheartbeat_interval_ms: 200\n"
            "heartbeat_timeout_ms: 5000\n",
        std::vector<std::string>{});
    daemon_->Start();
    stub_ = daemon_->JobStub();
  }
  void TearDown() override {
    if (daemon_) daemon_->Terminate(30s);
    daemon_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string Submit(const std::string& out) {
    v1::SubmitJobRequest req;
    auto* s = req.mutable_spec();
    s->set_config_dir(dir_.string());
    s->set_config_yaml(
        "base_model: ./model\ndatasets:\n  - path: ./data.jsonl\n    type: completion\n"
        "sequence_len: 32\nmicro_batch_size: 2\nlearning_rate: 0.001\nmax_steps: 12\n"
        "save_steps: 4\nlogging_steps: 1\nseed: 7\nlora_r: 4\nlora_alpha: 8\n"
        "lora_target_linear: true\noutput_dir: ./" + out + "\n");
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
  bool WaitFinal(const std::string& id, std::chrono::seconds timeout) {
    return WaitFor([&] {
      auto s = Get(id).state();
      return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED ||
             s == v1::JOB_STATE_CANCELLED;
    }, timeout);
  }

  std::string worker_;
  std::filesystem::path dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(DaemonWorkerTest, Kill9OfWorkerMidJobResumesExactly) {
  // Uninterrupted reference run.
  std::string ref = Submit("ref");
  Watcher ref_watch(*stub_, ref, 0);
  ASSERT_TRUE(WaitFinal(ref, 180s));
  ASSERT_EQ(Get(ref).state(), v1::JOB_STATE_SUCCEEDED) << Get(ref).error();
  ASSERT_TRUE(ref_watch.Wait(10s).ok());
  int steps = 0, checkpoints = 0;
  for (const auto& e : ref_watch.events()) {
    steps += e.has_step();
    checkpoints += e.has_checkpoint();
  }
  EXPECT_EQ(steps, 12);
  EXPECT_GE(checkpoints, 2);

  // Same job, worker killed after its first checkpoint.
  std::string id = Submit("interrupted");
  Watcher w(*stub_, id, 0);
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& e : w.events()) {
      if (e.has_checkpoint()) return true;
    }
    return false;
  }, 180s));
  grpc::ClientContext ctx;
  v1::ListWorkersResponse workers;
  ASSERT_TRUE(stub_->ListWorkers(&ctx, v1::ListWorkersRequest(), &workers).ok());
  ASSERT_EQ(workers.workers_size(), 1);
  ASSERT_GT(workers.workers(0).pid(), 0);
  ASSERT_EQ(kill(static_cast<pid_t>(workers.workers(0).pid()), SIGKILL), 0);
  ASSERT_TRUE(WaitFinal(id, 180s));
  v1::Job job = Get(id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_EQ(job.attempt(), 2);
  EXPECT_EQ(ReadAll(dir_ / "interrupted" / "adapter_model.safetensors"),
            ReadAll(dir_ / "ref" / "adapter_model.safetensors"));
  ASSERT_TRUE(w.Wait(10s).ok());
  auto events = w.events();
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq(), int64_t(i + 1));
  bool requeued_with_reason = false;
  for (const auto& e : events) {
    if (e.has_state_change() && e.state_change().to_state() == v1::JOB_STATE_QUEUED &&
        e.state_change().reason().find("lost") != std::string::npos) {
      requeued_with_reason = true;
    }
  }
  EXPECT_TRUE(requeued_with_reason);
}

}  // namespace
}  // namespace lorad::testing
