// Issue 11 "Faults": lorad is kill -9ed at seeded random instants while jobs
// run and clients submit and watch, and restarted on the same state dir.
// Clients submit with idempotency keys (retrying each submit until it is
// answered) and follow their jobs, reconnecting with their last sequence
// number.  Afterwards: every submit that was answered OK exists, and exactly
// once; every job's history is gap-free 1..last_seq and matches what the
// clients saw; every job SUCCEEDED with the expected adapter; and no two
// workers ever trained one job at once — worker events only while the job is
// RUNNING (stale leases are dropped), and the output_dir's writer log shows one
// process at a time (the output-dir lock).
//
// The workers are fake-lorad-worker (the REAL `lorad-worker serve` code with a
// fast fake trainer): the properties are the daemon's and the serve code's, not
// the trainer's, and the fake makes 8+ kills fit in seconds.  One worker is
// lorad's own (it dies with lorad through the parent-death signal) and one dials
// in like a remote host (it outlives lorad, stops its job at the broken lease
// and reconnects).  LORAD_SOAK_RUNS=N runs N rounds (3 jobs per client, 6
// burst submits and 8 kills each) instead of 1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "child_process.h"
#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr char kWorkerToken[] = "lorad-soak-worker-token-0123456789";
constexpr int kClients = 3;   // each submits a job, follows it to its end, then the next
constexpr int kBurstJobs = 6;  // one more client submits these without waiting, then follows them
constexpr int kMaxSteps = 40;
constexpr char kStepMs[] = "30";

bool Transient(grpc::StatusCode c) {
  return c == grpc::StatusCode::UNAVAILABLE || c == grpc::StatusCode::DEADLINE_EXCEEDED ||
         c == grpc::StatusCode::CANCELLED || c == grpc::StatusCode::UNKNOWN;
}

// What one client thread did and saw.
struct ClientLog {
  std::map<std::string, std::string> ids;               // idempotency key → job id answered OK
  std::map<std::string, std::vector<v1::JobEvent>> seen;  // job id → events, in order received
  int submit_retries = 0;
  int existing_answers = 0;  // a retried submit answered with the job stored by the lost one
  int watch_reconnects = 0;
  std::string failure;       // first thing that went wrong, "" if none
};

class LoradKillSoakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad-lsoak-" + std::to_string(getpid()));
    WriteStubJobDir(dir_, kWorkerToken);
    daemon_ = std::make_unique<Daemon>(
        dir_,
        "workers: cpu\nworker_binary: " + FakeWorkerBinary() + "\nworker_token_file: " +
            (dir_ / "worker.token").string() +
            "\nheartbeat_interval_ms: 200\nheartbeat_timeout_ms: 3000\n",
        std::vector<std::string>{});
    daemon_->SetEnv("LORAD_FAKE_STEP_MS", kStepMs);  // inherited by lorad's own worker
    daemon_->Start();
    remote_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{FakeWorkerBinary(), "serve", "--scheduler",
                                 daemon_->socket_address(), "--worker-id", "remote-1",
                                 "--worker-token-file", (dir_ / "worker.token").string()},
        dir_ / "remote-1.log", std::map<std::string, std::string>{{"LORAD_FAKE_STEP_MS", kStepMs}});
  }
  void TearDown() override {
    if (remote_) remote_->Terminate(20s);
    if (daemon_) daemon_->Terminate(30s);
    daemon_.reset();
    if (!dir_.empty() && !std::getenv("LORAD_KEEP_TEST_DIRS")) fs::remove_all(dir_);
  }

  v1::JobSpec Spec(const std::string& out, const std::string& key) const {
    v1::JobSpec s;
    s.set_config_dir(dir_.string());
    s.set_config_yaml("base_model: ./model\ndatasets:\n  - path: ./data.jsonl\n"
                      "learning_rate: 0.001\nlora_target_linear: true\nmax_steps: " +
                      std::to_string(kMaxSteps) + "\nsave_steps: 5\noutput_dir: ./" + out + "\n");
    s.set_idempotency_key(key);
    // Restarts of lorad do not count; this bounds kills of the local worker with it.
    s.set_max_attempts(50);
    return s;
  }

  // Submits until answered; each try on a fresh channel (no reconnect backoff).
  static bool SubmitUntilAnswered(const std::string& target, const v1::JobSpec& spec,
                                  ClientLog& log) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    for (int tries = 0; std::chrono::steady_clock::now() < deadline; ++tries) {
      auto stub = v1::JobService::NewStub(FreshChannel(target));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      v1::SubmitJobRequest req;
      *req.mutable_spec() = spec;
      v1::SubmitJobResponse resp;
      grpc::Status st = stub->SubmitJob(&ctx, req, &resp);
      if (st.ok()) {
        log.ids[spec.idempotency_key()] = resp.job().id();
        log.submit_retries += tries;
        log.existing_answers += resp.existing();
        return true;
      }
      if (!Transient(st.error_code())) {
        log.failure = "submit " + spec.idempotency_key() + ": " + st.error_message();
        return false;
      }
      std::this_thread::sleep_for(50ms);  // lorad is restarting: poll again
    }
    log.failure = "submit " + spec.idempotency_key() + " never answered";
    return false;
  }

  // Follows a job to its end, reconnecting after each broken stream with the
  // last sequence number received; every event must be the next in sequence.
  static bool FollowToEnd(const std::string& target, const std::string& id, ClientLog& log) {
    auto& events = log.seen[id];
    const auto deadline = std::chrono::steady_clock::now() + 180s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto stub = v1::JobService::NewStub(FreshChannel(target));
      grpc::ClientContext ctx;
      v1::WatchJobRequest req;
      req.set_job_id(id);
      req.set_after_seq(events.empty() ? 0 : events.back().seq());
      req.set_follow(true);
      auto reader = stub->WatchJob(&ctx, req);
      v1::JobEvent ev;
      while (reader->Read(&ev)) {
        const int64_t want = events.empty() ? 1 : events.back().seq() + 1;
        if (ev.seq() != want) {
          log.failure = "job " + id + ": got seq " + std::to_string(ev.seq()) + ", wanted " +
                        std::to_string(want);
          return false;
        }
        events.push_back(ev);
      }
      grpc::Status st = reader->Finish();
      if (st.ok()) return true;
      if (!Transient(st.error_code())) {
        log.failure = "watch " + id + ": " + st.error_message();
        return false;
      }
      ++log.watch_reconnects;
      std::this_thread::sleep_for(50ms);
    }
    log.failure = "job " + id + " did not end in time";
    return false;
  }

  v1::Job Get(const std::string& id) { return GetJob(*daemon_->JobStub(), id); }

  fs::path dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<ChildProcess> remote_;
};

TEST_F(LoradKillSoakTest, KillNineOfLoradUnderClientsLosesNothingAndNeverDoublesAWriter) {
  const auto t0 = std::chrono::steady_clock::now();
  const char* env_runs = std::getenv("LORAD_SOAK_RUNS");
  const int rounds = env_runs != nullptr && std::atoi(env_runs) > 0 ? std::atoi(env_runs) : 1;
  const int jobs_per_client = 3 * rounds;
  const int max_kills = 8 * rounds;
  const std::string target = daemon_->socket_address();

  // Undisturbed reference for the adapter bytes.
  ClientLog ref_log;
  ASSERT_TRUE(SubmitUntilAnswered(target, Spec("ref", "ref"), ref_log)) << ref_log.failure;
  const std::string ref_id = ref_log.ids["ref"];
  ASSERT_TRUE(FollowToEnd(target, ref_id, ref_log)) << ref_log.failure;
  ASSERT_EQ(Get(ref_id).state(), v1::JOB_STATE_SUCCEEDED);
  const std::string reference = ReadFileBytes(dir_ / "ref" / "adapter_model.safetensors");
  ASSERT_FALSE(reference.empty());

  std::vector<ClientLog> logs(kClients + 1);
  std::atomic<int> clients_done{0};
  std::vector<std::thread> clients;
  // The burst client: submits through the kills, so that some meet a dead lorad.
  clients.emplace_back([&] {
    ClientLog& log = logs[kClients];
    std::mt19937 pace(999);
    std::vector<std::string> keys;
    for (int j = 0; j < kBurstJobs * rounds && log.failure.empty(); ++j) {
      // Client pacing (not synchronisation): submits spread over the kills.
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::uniform_int_distribution<int>(100, 900)(pace)));
      keys.push_back("key-burst-j" + std::to_string(j));
      if (!SubmitUntilAnswered(target, Spec("burst-j" + std::to_string(j), keys.back()), log)) break;
    }
    for (const auto& key : keys) {
      if (!log.failure.empty() || !FollowToEnd(target, log.ids[key], log)) break;
    }
    ++clients_done;
  });
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(1000 + c));
      ClientLog& log = logs[static_cast<size_t>(c)];
      for (int j = 0; j < jobs_per_client && log.failure.empty(); ++j) {
        const std::string name = "c" + std::to_string(c) + "-j" + std::to_string(j);
        if (!SubmitUntilAnswered(target, Spec(name, "key-" + name), log)) break;
        // Client pacing (not synchronisation): submits spread over the kills.
        std::this_thread::sleep_for(std::chrono::milliseconds(
            std::uniform_int_distribution<int>(0, 300)(rng)));
        if (!FollowToEnd(target, log.ids["key-" + name], log)) break;
      }
      ++clients_done;
    });
  }
  // The killer: lorad dies at random instants while any client is at work.
  std::mt19937 rng(424242);
  int kills = 0;
  while (clients_done.load() < kClients + 1 && kills < max_kills) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(150, 1500)(rng)));
    if (clients_done.load() == kClients + 1) break;
    daemon_->Kill9();
    ++kills;
    daemon_->Start();
    if (::testing::Test::HasFatalFailure()) break;
  }
  for (auto& t : clients) t.join();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  for (const auto& log : logs) ASSERT_TRUE(log.failure.empty()) << log.failure;

  // Every answered submit exists, exactly once.
  std::map<std::string, std::string> answered;  // id → key
  for (const auto& log : logs) {
    for (const auto& [key, id] : log.ids) answered[id] = key;
  }
  const int submitted = kClients * jobs_per_client + kBurstJobs * rounds;
  ASSERT_EQ(answered.size(), static_cast<size_t>(submitted));
  auto stub = daemon_->JobStub();
  {
    grpc::ClientContext ctx;
    v1::ListJobsRequest req;
    req.set_page_size(1000);
    v1::ListJobsResponse resp;
    ASSERT_TRUE(stub->ListJobs(&ctx, req, &resp).ok());
    std::set<std::string> keys;
    for (const auto& job : resp.jobs()) {
      EXPECT_TRUE(keys.insert(job.spec().idempotency_key()).second)
          << "two jobs for idempotency key " << job.spec().idempotency_key();
    }
    EXPECT_EQ(resp.jobs_size(), submitted + 1) << "a retried submit made a second job";
  }

  int restarted_requeues = 0, attempts = 0, writer_handovers = 0;
  for (const auto& [id, key] : answered) {
    const v1::Job job = Get(id);
    ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << key << ": " << job.error();
    const std::string out = job.output_dir();
    EXPECT_EQ(ReadFileBytes(fs::path(out) / "adapter_model.safetensors"), reference) << key;
    attempts += job.attempt();
    // The whole history: gap-free 1..last_seq, identical to what the client saw.
    Watcher replay(*stub, id, 0);
    ASSERT_TRUE(replay.Wait(30s).ok());
    const auto events = replay.events();
    ASSERT_EQ(static_cast<int64_t>(events.size()), job.last_seq()) << key;
    const std::vector<v1::JobEvent>* seen = nullptr;
    for (const auto& log : logs) {
      if (log.seen.count(id)) seen = &log.seen.at(id);
    }
    ASSERT_NE(seen, nullptr);
    ASSERT_EQ(seen->size(), events.size()) << key << ": the client missed or gained events";
    v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
    int32_t running_attempt = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      const v1::JobEvent& e = events[i];
      ASSERT_EQ(e.seq(), static_cast<int64_t>(i + 1)) << key << ": gap";
      EXPECT_EQ(e.SerializeAsString(), (*seen)[i].SerializeAsString()) << key << " seq " << e.seq();
      if (e.has_state_change()) {
        state = e.state_change().to_state();
        if (state == v1::JOB_STATE_RUNNING) {
          EXPECT_GT(e.attempt(), running_attempt) << key << ": an attempt ran twice";
          running_attempt = e.attempt();
        }
        restarted_requeues += e.state_change().reason().find("lorad restarted") != std::string::npos;
      } else {
        // A record from a worker: only from the current lease of a RUNNING job.
        EXPECT_EQ(state, v1::JOB_STATE_RUNNING) << key << " seq " << e.seq() << ": a record outside a lease";
        EXPECT_EQ(e.attempt(), running_attempt) << key << " seq " << e.seq();
      }
    }
    EXPECT_EQ(state, v1::JOB_STATE_SUCCEEDED);
    // The writer log: one training run at a time (two at once would interleave
    // their lines), each resuming at or before where the previous one stopped.
    std::ifstream writers(fs::path(out) / "fake-writers.log");
    std::set<std::string> finished_runs;
    std::string run, prev_run;
    int64_t step = 0, prev_step = 0;
    while (writers >> run >> step) {
      if (run != prev_run) {
        EXPECT_EQ(finished_runs.count(run), 0u)
            << key << ": run " << run << " wrote again after " << prev_run << " took over";
        if (!prev_run.empty()) {
          finished_runs.insert(prev_run);
          ++writer_handovers;
        }
        EXPECT_LE(step, prev_step + 1) << key << ": a run skipped steps";
      } else {
        EXPECT_EQ(step, prev_step + 1) << key << ": steps of one run out of order";
      }
      prev_run = run;
      prev_step = step;
    }
    EXPECT_EQ(prev_step, kMaxSteps) << key;
    EXPECT_TRUE(fs::exists(fs::path(out) / ".lorad.lock"));
  }
  int submit_retries = 0, existing = 0, reconnects = 0;
  for (const auto& log : logs) {
    submit_retries += log.submit_retries;
    existing += log.existing_answers;
    reconnects += log.watch_reconnects;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("lorad_kills", kills);
  RecordProperty("jobs", static_cast<int>(answered.size()));
  RecordProperty("submit_retries", submit_retries);
  RecordProperty("idempotent_existing_answers", existing);
  RecordProperty("watch_reconnects", reconnects);
  RecordProperty("requeued_by_restart", restarted_requeues);
  RecordProperty("attempts", attempts);
  RecordProperty("writer_handovers", writer_handovers);
  std::printf(
      "lorad kill soak: kills=%d jobs=%zu submit_retries=%d existing_answers=%d "
      "watch_reconnects=%d requeued_by_restart=%d attempts=%d writer_handovers=%d "
      "lost=0 gaps=0 seconds=%.0f\n",
      kills, answered.size(), submit_retries, existing, reconnects, restarted_requeues, attempts,
      writer_handovers, seconds);
  EXPECT_GE(kills, 4) << "the clients finished before lorad was killed 4 times";
  EXPECT_GE(reconnects, 1);
  EXPECT_GE(restarted_requeues, 1) << "no kill landed while a job ran";
}

}  // namespace
}  // namespace lorad::testing
