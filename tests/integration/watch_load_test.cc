// Issue 11 "Faults": watchers and floods against the real lorad while a job
// trains — watchers that never read (a 1 KiB HTTP/2 receive window, so lorad's
// writes stall at once; one on the running job, one replaying a finished job's
// 2,000-event history), 1,000 watchers at once on the running job,
// clients that disconnect mid-stream (cancelled streams, and loractl processes
// killed with SIGKILL), and a flood of submits past max_queued_jobs.  Bounds,
// each stated in its assertion:
//   - a normal watcher gets every event within kMaxLatencyMs of it being stored;
//   - the job's step rate stays at least kMinRateRatio of an unloaded run's;
//   - lorad's resident memory stays under kMaxRssMiB, and within kRssSlackMiB of
//     its unloaded level once the watchers have gone;
//   - every follower gets every event, gap-free; refused submits store nothing.
// The worker is fake-lorad-worker (the real serve code, a fake trainer with
// fixed step time), started by the test so that it can first write the long
// history fast: what is measured is the daemon, and a fixed step time makes any
// slowdown lorad's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>

#include "child_process.h"
#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int kWatchers = 1000;
constexpr int kChannels = 8;            // the 1,000 watchers share these connections
constexpr int kSteps = 100;
constexpr int kLoadSteps = 150;      // the flood must end while this job still runs
constexpr int kHistorySteps = 2000;  // far past a stream's queue (WatchStream::kMaxQueued)
constexpr char kStepMs[] = "50";
constexpr int kMaxQueued = 10;
constexpr int kFlood = 60;
constexpr int kCancelledStreams = 200;  // watchers that go away mid-stream
constexpr int kKilledClients = 10;      // loractl logs -f processes killed with SIGKILL
// Measured on the 2-core dev VM while six compilers ran beside it: max 1.9–2.6 s,
// p50 0.3–1.2 s (unloaded: < 40 ms); the bound leaves room for such a machine.
constexpr int64_t kMaxLatencyMs = 5000;
constexpr double kMinRateRatio = 0.7;
constexpr int64_t kMaxRssMiB = 200;  // measured: 22 MiB unloaded, 42–46 MiB peak
constexpr int64_t kRssSlackMiB = 64;
constexpr char kWorkerToken[] = "watch-load-worker-token-0123456789";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t EventMs(const v1::JobEvent& e) {
  return e.time().seconds() * 1000 + e.time().nanos() / 1'000'000;
}

// A follower on the callback API: a thousand of them need no thread each.
class Follower : public grpc::ClientReadReactor<v1::JobEvent> {
 public:
  Follower(v1::JobService::Stub& stub, const std::string& job_id, bool keep_latencies)
      : keep_latencies_(keep_latencies) {
    req_.set_job_id(job_id);
    req_.set_follow(true);
    stub.async()->WatchJob(&ctx_, &req_, this);
    StartRead(&ev_);
    StartCall();
  }
  ~Follower() override {
    // A reactor must outlive its call: end it first (a no-op once it is done).
    ctx_.TryCancel();
    WaitDone(30s);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const int64_t latency = NowMs() - EventMs(ev_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ev_.seq() != next_) gaps_ = true;
      next_ = ev_.seq() + 1;
      ++count_;
      max_latency_ = std::max(max_latency_, latency);
      if (keep_latencies_) latencies_.push_back(latency);
      if (ev_.has_step()) step_times_.push_back(EventMs(ev_));
    }
    StartRead(&ev_);
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }
  bool WaitDone(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  void Cancel() { ctx_.TryCancel(); }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  bool gaps() {
    std::lock_guard<std::mutex> lock(mu_);
    return gaps_;
  }
  grpc::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  int64_t max_latency() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_latency_;
  }
  std::vector<int64_t> latencies() {
    std::lock_guard<std::mutex> lock(mu_);
    return latencies_;
  }
  std::vector<int64_t> step_times() {
    std::lock_guard<std::mutex> lock(mu_);
    return step_times_;
  }

 private:
  const bool keep_latencies_;
  grpc::ClientContext ctx_;
  v1::WatchJobRequest req_;
  v1::JobEvent ev_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_ = 1;
  int count_ = 0;
  bool gaps_ = false;
  bool done_ = false;
  int64_t max_latency_ = 0;
  std::vector<int64_t> latencies_;
  std::vector<int64_t> step_times_;
  grpc::Status status_;
};

double StepsPerSecond(const std::vector<int64_t>& times) {
  if (times.size() < 2) return 0;
  return static_cast<double>(times.size() - 1) * 1000.0 /
         static_cast<double>(std::max<int64_t>(times.back() - times.front(), 1));
}

// "lorad_watchers N" from a /metrics scrape, -1 if absent.
int Watchers(const std::string& scrape) {
  const std::string name = "\nlorad_watchers ";
  auto at = scrape.find(name);
  return at == std::string::npos ? -1 : std::atoi(scrape.c_str() + at + name.size());
}

class WatchLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lorad-wload-" + std::to_string(getpid()));
    WriteStubJobDir(dir_, kWorkerToken);
    daemon_ = std::make_unique<Daemon>(
        dir_,
        "workers: none\nworker_token_file: " + (dir_ / "worker.token").string() +
            "\nheartbeat_interval_ms: 200\nheartbeat_timeout_ms: 5000\nmax_queued_jobs: " +
            std::to_string(kMaxQueued) + "\n",
        std::vector<std::string>{});
    daemon_->Start();
    stub_ = daemon_->JobStub();
  }
  void TearDown() override {
    worker_.reset();
    if (daemon_) daemon_->Terminate(30s);
    daemon_.reset();
    if (!dir_.empty() && !std::getenv("LORAD_KEEP_TEST_DIRS")) fs::remove_all(dir_);
  }
  grpc::Status Submit(const std::string& out, int steps, std::string* id) {
    v1::JobSpec spec;
    spec.set_config_dir(dir_.string());
    spec.set_config_yaml(
        "base_model: ./model\ndatasets:\n  - path: ./data.jsonl\nlearning_rate: 0.001\n"
        "lora_target_linear: true\nmax_steps: " + std::to_string(steps) +
        "\nsave_steps: 25\noutput_dir: ./" + out + "\n");
    return SubmitSpec(*stub_, spec, id);
  }
  v1::Job Get(const std::string& id) { return GetJob(*stub_, id); }
  int64_t RssMiB() const { return ProcStatusKiB(daemon_->pid(), "VmRSS") / 1024; }
  void StartWorker(const char* step_ms) {
    if (worker_) {
      EXPECT_EQ(worker_->Terminate(20s), 0);
    }
    worker_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{FakeWorkerBinary(), "serve", "--scheduler", daemon_->socket_address(),
                                 "--worker-token-file", (dir_ / "worker.token").string()},
        dir_ / "worker.log", std::map<std::string, std::string>{{"LORAD_FAKE_STEP_MS", step_ms}});
  }

  fs::path dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::JobService::Stub> stub_;
  std::unique_ptr<ChildProcess> worker_;
};

TEST_F(WatchLoadTest, SlowWatchersThousandsOfWatchersAndFloodsStayWithinBounds) {
  const auto t0 = std::chrono::steady_clock::now();
  // A finished job with a long history, written by a worker with 1 ms steps.
  StartWorker("1");
  std::string history;
  ASSERT_TRUE(Submit("history", kHistorySteps, &history).ok());
  ASSERT_TRUE(WaitFor([&] { return Get(history).state() == v1::JOB_STATE_SUCCEEDED; }, 120s));
  ASSERT_GT(Get(history).last_seq(), kHistorySteps);
  StartWorker(kStepMs);
  // Unloaded: one normal watcher on one job.
  std::string base;
  ASSERT_TRUE(Submit("base", kSteps, &base).ok());
  Follower base_watch(*stub_, base, true);
  ASSERT_TRUE(base_watch.WaitDone(120s));
  ASSERT_TRUE(base_watch.status().ok()) << base_watch.status().error_message();
  ASSERT_EQ(Get(base).state(), v1::JOB_STATE_SUCCEEDED);
  const double base_rate = StepsPerSecond(base_watch.step_times());
  const int64_t base_latency = base_watch.max_latency();
  const int64_t rss_before = RssMiB();
  ASSERT_GT(rss_before, 0);

  // Loaded: the same job with everything below going on at once.
  std::string load;
  ASSERT_TRUE(Submit("load", kLoadSteps, &load).ok());
  std::atomic<bool> sampling{true};
  std::atomic<int64_t> rss_peak{rss_before};
  std::thread sampler([&] {
    while (sampling.load()) {
      rss_peak = std::max(rss_peak.load(), RssMiB());
      std::this_thread::sleep_for(50ms);  // sampling period
    }
  });
  // Watchers that never read: 1 KiB of receive window, no Read() ever.
  grpc::ChannelArguments tiny_window;
  tiny_window.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  tiny_window.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  tiny_window.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stuck_stub = v1::JobService::NewStub(grpc::CreateCustomChannel(
      daemon_->socket_address(), grpc::InsecureChannelCredentials(), tiny_window));
  grpc::ClientContext stuck_ctx[2];
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> stuck[2];
  for (int i = 0; i < 2; ++i) {
    v1::WatchJobRequest req;
    req.set_job_id(i == 0 ? load : history);
    req.set_follow(true);
    stuck[i] = stuck_stub->WatchJob(&stuck_ctx[i], req);
  }
  // The normal watcher whose latency is bounded, then the crowd.
  Follower normal(*stub_, load, true);
  std::vector<std::unique_ptr<v1::JobService::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) stubs.push_back(daemon_->JobStub());
  std::vector<std::unique_ptr<Follower>> crowd;
  for (int i = 0; i < kWatchers; ++i) {
    crowd.push_back(std::make_unique<Follower>(*stubs[static_cast<size_t>(i % kChannels)], load, false));
  }
  ASSERT_TRUE(WaitFor([&] {
    for (auto& f : crowd) {
      if (f->count() == 0) return false;
    }
    return true;
  }, 60s)) << "1,000 watchers did not all attach within 60 s";
  // Watchers that go away mid-stream: cancelled streams, and killed processes.
  std::thread churn([&] {
    for (int i = 0; i < kCancelledStreams; ++i) {
      Follower f(*stubs[static_cast<size_t>(i % kChannels)], load, false);
      WaitFor([&] { return f.count() >= 2; }, 5s);
      f.Cancel();
      EXPECT_TRUE(f.WaitDone(10s));
    }
  });
  const std::string loractl = std::string(LORAD_BINARY_DIR) + "/client/loractl";
  std::thread killed_clients([&] {
    for (int i = 0; i < kKilledClients; ++i) {
      ChildProcess p({loractl, "--address", daemon_->socket_address(), "logs", load, "-f"},
                     dir_ / "loractl.log");
      std::this_thread::sleep_for(300ms);  // let it attach and read; then it dies abruptly
      p.Kill9();
    }
  });
  // The flood: submits past max_queued_jobs are refused and store nothing.
  int accepted = 0, refused = 0;
  std::vector<std::string> queued_ids;
  for (int i = 0; i < kFlood; ++i) {
    std::string id;
    grpc::Status st = Submit("flood-" + std::to_string(i), 5, &id);
    if (st.ok()) {
      ++accepted;
      queued_ids.push_back(id);
    } else {
      ASSERT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
      EXPECT_NE(st.error_message().find("max_queued_jobs"), std::string::npos) << st.error_message();
      ++refused;
    }
  }
  ASSERT_EQ(Get(load).state(), v1::JOB_STATE_RUNNING) << "the flood outlasted the load job";
  EXPECT_EQ(accepted, kMaxQueued) << "max_queued_jobs " << kMaxQueued << " with one job running";
  EXPECT_EQ(refused, kFlood - kMaxQueued);
  EXPECT_EQ(StoredJobCount(*stub_), 3 + kMaxQueued) << "a refused submit was stored";
  for (int i = 0; i < kFlood; ++i) {
    EXPECT_FALSE(fs::exists(dir_ / ("flood-" + std::to_string(i)))) << "a submit wrote its output_dir";
  }
  for (const auto& id : queued_ids) {
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    v1::Job j;
    EXPECT_TRUE(stub_->CancelJob(&ctx, req, &j).ok());
  }

  ASSERT_TRUE(normal.WaitDone(180s)) << "the load job did not end";
  ASSERT_EQ(Get(load).state(), v1::JOB_STATE_SUCCEEDED) << Get(load).error();
  churn.join();
  killed_clients.join();
  const int64_t last_seq = Get(load).last_seq();
  int complete = 0;
  int64_t crowd_latency = 0;
  for (auto& f : crowd) {
    ASSERT_TRUE(f->WaitDone(60s)) << "a follower never got the end of the job";
    EXPECT_TRUE(f->status().ok()) << f->status().error_message();
    EXPECT_FALSE(f->gaps());
    complete += f->count() == last_seq;
    crowd_latency = std::max(crowd_latency, f->max_latency());
  }
  EXPECT_EQ(complete, kWatchers) << "followers that missed events";
  ASSERT_TRUE(normal.status().ok());
  EXPECT_EQ(normal.count(), last_seq);
  EXPECT_FALSE(normal.gaps());
  // Bounds.
  const double load_rate = StepsPerSecond(normal.step_times());
  const int64_t normal_latency = normal.max_latency();
  auto lat = normal.latencies();
  std::sort(lat.begin(), lat.end());
  const int64_t p50 = lat.empty() ? 0 : lat[lat.size() / 2];
  EXPECT_LE(normal_latency, kMaxLatencyMs)
      << "a normal watcher must get each event within " << kMaxLatencyMs << " ms of it being stored";
  EXPECT_GE(load_rate, kMinRateRatio * base_rate)
      << "the step rate under load (" << load_rate << "/s) fell below " << kMinRateRatio
      << " of the unloaded rate (" << base_rate << "/s)";
  // A stuck watcher holds at most lorad's bounded queue: drop them, and the crowd.
  for (int i = 0; i < 2; ++i) {
    stuck_ctx[i].TryCancel();
    EXPECT_EQ(stuck[i]->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  crowd.clear();
  ASSERT_TRUE(WaitFor([&] { return Watchers(HttpGet(daemon_->metrics_address(), "/metrics")) == 0; }, 30s))
      << "lorad still counts watchers after every client left";
  sampling = false;
  sampler.join();
  // Freed memory may stay in the allocator a moment: allow it to settle.
  WaitFor([&] { return RssMiB() <= rss_before + kRssSlackMiB; }, 10s);
  const int64_t rss_after = RssMiB();
  const int64_t hwm = ProcStatusKiB(daemon_->pid(), "VmHWM") / 1024;
  EXPECT_LE(std::max<int64_t>(rss_peak, hwm), kMaxRssMiB)
      << "lorad's resident memory must stay under " << kMaxRssMiB << " MiB";
  EXPECT_LE(rss_after, rss_before + kRssSlackMiB)
      << "lorad's memory must return within " << kRssSlackMiB << " MiB of its unloaded level ("
      << rss_before << " MiB) once the watchers left";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("watchers", kWatchers);
  RecordProperty("cancelled_streams", kCancelledStreams);
  RecordProperty("killed_clients", kKilledClients);
  RecordProperty("flood_refused", refused);
  RecordProperty("events_per_watcher", static_cast<int>(last_seq));
  RecordProperty("max_latency_ms", static_cast<int>(normal_latency));
  RecordProperty("rate_ratio_percent", static_cast<int>(100 * load_rate / base_rate));
  RecordProperty("rss_before_mib", static_cast<int>(rss_before));
  RecordProperty("rss_peak_mib", static_cast<int>(std::max<int64_t>(rss_peak, hwm)));
  RecordProperty("rss_after_mib", static_cast<int>(rss_after));
  std::printf(
      "watch load: watchers=%d (+2 never reading, %d cancelled mid-stream, %d killed) "
      "events each=%lld flood accepted=%d refused=%d | normal watcher latency p50=%lld max=%lld ms "
      "(unloaded max %lld, crowd max %lld) | steps/s unloaded=%.1f loaded=%.1f (%.0f%%) | "
      "lorad RSS before=%lld peak=%lld after=%lld MiB | %.0f s\n",
      kWatchers, kCancelledStreams, kKilledClients, static_cast<long long>(last_seq), accepted,
      refused, static_cast<long long>(p50), static_cast<long long>(normal_latency),
      static_cast<long long>(base_latency), static_cast<long long>(crowd_latency), base_rate,
      load_rate, 100 * load_rate / base_rate, static_cast<long long>(rss_before),
      static_cast<long long>(std::max<int64_t>(rss_peak, hwm)), static_cast<long long>(rss_after),
      seconds);
}

}  // namespace
}  // namespace lorad::testing
