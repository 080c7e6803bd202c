// The real lorad with real `lorad-worker serve` processes training a tiny
// model (issue 4 "Done when"): success streamed to two watchers, then delete;
// cancel, then retry resuming exactly; kill -9 of the worker and kill -9 of
// lorad mid-job, each followed by an exact resume whose final adapter is
// byte-identical to an uninterrupted run, with gap-free event sequences.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/sanitizers/sanitizer_build.h"
#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;

int RunCommand(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

class DaemonWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = RealWorkerBinary();
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
        << ReadFileBytes(dir_ / "init.log");
    std::ofstream data(dir_ / "data.jsonl");
    for (int i = 0; i < 64; ++i) {
      data << "{\"text\": \"the quick brown fox jumps over the lazy dog " << i % 4 << "\"}\n";
    }
    data.close();
    // Rows of ~250 tokens: steps of ~1k tokens take long enough (~0.1 s) for a
    // cancel or a kill to land mid-job.
    std::ofstream long_data(dir_ / "long.jsonl");
    for (int i = 0; i < 32; ++i) {
      std::string text;
      for (int k = 0; k < 20; ++k) text += "the quick brown fox jumps over the lazy dog " + std::to_string((i + k) % 7) + ". ";
      long_data << "{\"text\": \"" << text << "\"}\n";
    }
    long_data.close();
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
    return SubmitYaml(
        "base_model: ./model\ndatasets:\n  - path: ./data.jsonl\n    type: completion\n"
        "sequence_len: 32\nmicro_batch_size: 2\nlearning_rate: 0.001\nmax_steps: 12\n"
        "save_steps: 4\nlogging_steps: 1\nseed: 7\nlora_r: 4\nlora_alpha: 8\n"
        "eval_steps: 6\neval_prompts: [\"the quick brown\"]\neval_max_new_tokens: 4\n"
        "lora_target_linear: true\noutput_dir: ./" + out + "\n");
  }
  /// A job of ~50 slower steps with dropout (so RNG state matters on resume).
  std::string SubmitLong(const std::string& out) {
    return SubmitYaml(
        "base_model: ./model\ndatasets:\n  - path: ./long.jsonl\n    type: completion\n"
        "sequence_len: 128\nmicro_batch_size: 8\nlearning_rate: 0.002\nmax_steps: 48\n"
        "save_steps: 4\nlogging_steps: 1\nseed: 11\nlora_r: 4\nlora_alpha: 8\n"
        "lora_dropout: 0.1\nlora_target_linear: true\noutput_dir: ./" + out + "\n");
  }
  std::string SubmitYaml(const std::string& yaml) {
    v1::SubmitJobRequest req;
    auto* s = req.mutable_spec();
    s->set_config_dir(dir_.string());
    s->set_config_yaml(yaml);
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
  static bool SawCheckpoint(Watcher& w) {
    for (const auto& e : w.events()) {
      if (e.has_checkpoint()) return true;
    }
    return false;
  }
  static void ExpectGapFree(const std::vector<v1::JobEvent>& events, int64_t first) {
    for (size_t i = 0; i < events.size(); ++i) {
      ASSERT_EQ(events[i].seq(), first + static_cast<int64_t>(i)) << "event " << i;
    }
  }
  /// The uninterrupted run of SubmitLong, for byte comparisons.
  std::string ReferenceAdapter() {
    const std::string id = SubmitLong("ref");
    EXPECT_TRUE(WaitFinal(id, 300s));
    EXPECT_EQ(Get(id).state(), v1::JOB_STATE_SUCCEEDED) << Get(id).error();
    return ReadFileBytes(dir_ / "ref" / "adapter_model.safetensors");
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
  EXPECT_EQ(ReadFileBytes(dir_ / "interrupted" / "adapter_model.safetensors"),
            ReadFileBytes(dir_ / "ref" / "adapter_model.safetensors"));
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

TEST_F(DaemonWorkerTest, SuccessStreamsToTwoWatchersThenDeleteRemovesTheFiles) {
  const std::string id = Submit("out");
  Watcher a(*stub_, id, 0);
  Watcher b(*stub_, id, 0);
  ASSERT_TRUE(WaitFinal(id, 180s));
  ASSERT_EQ(Get(id).state(), v1::JOB_STATE_SUCCEEDED) << Get(id).error();
  ASSERT_TRUE(a.Wait(10s).ok());
  ASSERT_TRUE(b.Wait(10s).ok());
  const auto ea = a.events();
  const auto eb = b.events();
  ExpectGapFree(ea, 1);
  ASSERT_EQ(ea.size(), eb.size());
  int steps = 0, checkpoints = 0, finals = 0, samples = 0;
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].SerializeAsString(), eb[i].SerializeAsString()) << "event " << i;
    if (ea[i].record_json().find("\"type\":\"sample\"") != std::string::npos) {
      ++samples;
      EXPECT_NE(ea[i].record_json().find("the quick brown"), std::string::npos);
    }
    steps += ea[i].has_step();
    checkpoints += ea[i].has_checkpoint();
    finals += ea[i].has_final_result();
    if (ea[i].has_step()) {
      EXPECT_EQ(ea[i].step().total_steps(), 12);
    }
  }
  EXPECT_EQ(steps, 12);
  EXPECT_EQ(checkpoints, 3);  // steps 4, 8, 12
  EXPECT_EQ(finals, 1);
  EXPECT_EQ(samples, 2);  // eval_prompts sampled at steps 6 and 12
  EXPECT_EQ(ea.back().state_change().to_state(), v1::JOB_STATE_SUCCEEDED);
  ASSERT_TRUE(std::filesystem::exists(dir_ / "out" / "adapter_model.safetensors"));

  grpc::ClientContext ctx;
  v1::DeleteJobRequest req;
  req.set_job_id(id);
  req.set_delete_files(true);
  v1::DeleteJobResponse resp;
  ASSERT_TRUE(stub_->DeleteJob(&ctx, req, &resp).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out"));
  grpc::ClientContext ctx2;
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job gone;
  EXPECT_EQ(stub_->GetJob(&ctx2, get, &gone).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DaemonWorkerTest, CancelStopsWithACheckpointThenRetryResumesExactly) {
  const std::string reference = ReferenceAdapter();
  const std::string id = SubmitLong("job");
  Watcher w(*stub_, id, 0);
  ASSERT_TRUE(WaitFor([&] { return SawCheckpoint(w); }, 180s));
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    v1::Job j;
    ASSERT_TRUE(stub_->CancelJob(&ctx, req, &j).ok());
  }
  ASSERT_TRUE(WaitFinal(id, 180s));
  ASSERT_EQ(Get(id).state(), v1::JOB_STATE_CANCELLED) << "the job ended before the cancel landed";
  const int64_t stopped_at = Get(id).last_step();
  EXPECT_LT(stopped_at, 48);
  // The cancel checkpointed where it stopped; no final adapter yet.
  EXPECT_TRUE(std::filesystem::exists(dir_ / "job" / ("checkpoint-" + std::to_string(stopped_at))));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "job" / "adapter_model.safetensors"));
  {
    grpc::ClientContext ctx;
    v1::RetryJobRequest req;
    req.set_job_id(id);
    v1::Job j;
    ASSERT_TRUE(stub_->RetryJob(&ctx, req, &j).ok());
  }
  ASSERT_TRUE(WaitFinal(id, 300s));
  v1::Job job = Get(id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_EQ(job.attempt(), 2);
  EXPECT_EQ(ReadFileBytes(dir_ / "job" / "adapter_model.safetensors"), reference);
  Watcher all(*stub_, id, 0);
  ASSERT_TRUE(all.Wait(10s).ok());
  ExpectGapFree(all.events(), 1);
  bool exact = false;
  for (const auto& e : all.events()) {
    if (e.has_resume() && e.resume().record_json().find("\"exact\"") != std::string::npos) {
      exact = e.resume().step() == stopped_at;
    }
  }
  EXPECT_TRUE(exact) << "attempt 2 did not resume exactly from step " << stopped_at;
}

TEST_F(DaemonWorkerTest, Kill9OfLoradMidJobLosesNothingAndResumesExactly) {
  const std::string reference = ReferenceAdapter();
  const std::string id = SubmitLong("job");
  int64_t seen_seq = 0;
  int64_t old_worker = 0;
  {
    Watcher w(*stub_, id, 0);
    ASSERT_TRUE(WaitFor([&] { return SawCheckpoint(w); }, 180s));
    grpc::ClientContext ctx;
    v1::ListWorkersResponse workers;
    ASSERT_TRUE(stub_->ListWorkers(&ctx, v1::ListWorkersRequest(), &workers).ok());
    ASSERT_EQ(workers.workers_size(), 1);
    old_worker = workers.workers(0).pid();
    seen_seq = w.events().back().seq();
    daemon_->Kill9();
    EXPECT_FALSE(w.Wait(10s).ok());  // the stream broke with the daemon
  }
  // The orphaned worker is told to stop (parent-death signal), checkpoints and
  // exits; it never trains alongside the next attempt.
  ASSERT_TRUE(WaitFor([&] { return kill(static_cast<pid_t>(old_worker), 0) != 0; }, 60s))
      << "the old worker " << old_worker << " outlived lorad";
  daemon_->Start();
  stub_ = daemon_->JobStub();
  Watcher resumed(*stub_, id, seen_seq);
  ASSERT_TRUE(WaitFinal(id, 300s));
  v1::Job job = Get(id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_EQ(job.attempt(), 2);
  EXPECT_EQ(ReadFileBytes(dir_ / "job" / "adapter_model.safetensors"), reference);
  ASSERT_TRUE(resumed.Wait(10s).ok());
  ASSERT_FALSE(resumed.events().empty());
  ExpectGapFree(resumed.events(), seen_seq + 1);
  Watcher replay(*stub_, id, 0);
  ASSERT_TRUE(replay.Wait(10s).ok());
  ExpectGapFree(replay.events(), 1);
}

TEST_F(DaemonWorkerTest, OutOfMemoryFailsTheJobWithoutRetryAndTheNextJobRuns) {
  if (lorad::testing::kAddressSanitizer) GTEST_SKIP() << lorad::testing::kNoAddressLimitUnderAsan;
  // The same daemon, its worker limited to 2.4 GB of address space.
  daemon_->Terminate(30s);
  const auto wrapper = dir_ / "limited-worker.sh";
  std::ofstream(wrapper) << "#!/bin/sh\nulimit -v 2500000\nexec " << worker_ << " \"$@\"\n";
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  daemon_ = std::make_unique<Daemon>(
      dir_,
      "workers: cpu\nworker_binary: " + wrapper.string() +
          "\nworker_args: [\"--threads\", \"1\"]\nheartbeat_interval_ms: 200\n"
          "heartbeat_timeout_ms: 5000\n",
      std::vector<std::string>{});
  daemon_->Start();
  stub_ = daemon_->JobStub();
  // 64 rows × 2048 tokens of long.jsonl repeated: fp32 attention scores of one layer are 4 GiB.
  std::ofstream big(dir_ / "big.jsonl");
  for (int i = 0; i < 48; ++i) {
    std::string text;
    for (int k = 0; k < 300; ++k) text += "one two three four five six seven eight nine ten ";
    big << "{\"text\": \"" << text << "\"}\n";
  }
  big.close();
  const std::string oom = SubmitYaml(
      "base_model: ./model\ndatasets:\n  - path: ./big.jsonl\n    type: completion\n"
      "sequence_len: 2048\nmicro_batch_size: 64\nlearning_rate: 0.001\nmax_steps: 2\n"
      "bf16: false\nlora_r: 4\nlora_target_linear: true\nmax_attempts: 3\noutput_dir: ./oom\n");
  ASSERT_TRUE(WaitFinal(oom, 180s));
  v1::Job failed = Get(oom);
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.attempt(), 1) << "an out-of-memory job must not be retried";
  EXPECT_NE(failed.error().find("out of memory"), std::string::npos) << failed.error();
  EXPECT_NE(failed.error().find("micro_batch_size 64"), std::string::npos) << failed.error();
  // The worker goes on serving: the next job trains to the end.
  const std::string next = Submit("after");
  ASSERT_TRUE(WaitFinal(next, 180s));
  EXPECT_EQ(Get(next).state(), v1::JOB_STATE_SUCCEEDED) << Get(next).error();
}

}  // namespace
}  // namespace lorad::testing
