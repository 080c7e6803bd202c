// lorad service benchmark (not a ctest): SubmitJob / GetJob throughput and
// latency percentiles, and step → watcher latency with N concurrent watchers.
//
//   lorad --state-dir /tmp/lb --listen unix:/tmp/lb/lorad.sock --workers none
//         --config bench/service/bench-lorad.yaml &      (one line)
//   lorad_service_bench --socket unix:/tmp/lb/lorad.sock --worker-token-file /tmp/lb/worker.token
//
// It plays the worker itself (dialling in with the worker token), so the
// figures measure lorad, not training.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lorad/v1/lorad.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void Report(const char* what, std::vector<double> lat_s, double wall_s) {
  std::sort(lat_s.begin(), lat_s.end());
  auto pct = [&](double p) {
    return lat_s.empty() ? 0.0 : lat_s[std::min(lat_s.size() - 1, size_t(p * lat_s.size()))] * 1e3;
  };
  std::printf("%-24s n=%-6zu %8.0f/s   p50 %7.3f ms  p90 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n",
              what, lat_s.size(), lat_s.size() / wall_s, pct(0.5), pct(0.9), pct(0.99),
              lat_s.empty() ? 0.0 : lat_s.back() * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, token_file;
  int jobs = 2000, threads = 8, watchers = 100, steps = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--socket") socket = argv[i + 1];
    else if (a == "--worker-token-file") token_file = argv[i + 1];
    else if (a == "--jobs") jobs = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--watchers") watchers = std::atoi(argv[i + 1]);
    else if (a == "--steps") steps = std::atoi(argv[i + 1]);
  }
  if (socket.empty() || token_file.empty()) {
    std::fprintf(stderr, "usage: lorad_service_bench --socket unix:PATH --worker-token-file F "
                         "[--jobs N] [--threads T] [--watchers W] [--steps S]\n");
    return 2;
  }
  std::string token;
  std::ifstream(token_file) >> token;
  auto dir = std::filesystem::temp_directory_path() / ("lorad-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "model");
  std::ofstream(dir / "model" / "config.json") << "{}";
  std::ofstream(dir / "data.jsonl") << "{\"text\": \"x\"}\n";

  auto channel = grpc::CreateChannel(socket, grpc::InsecureChannelCredentials());
  auto stub = lorad::v1::JobService::NewStub(channel);

  // 1. SubmitJob throughput/latency (each job its own output_dir).
  std::vector<std::vector<double>> submit_lat(threads), get_lat(threads);
  std::vector<std::string> ids(jobs);
  std::atomic<int> next{0}, failures{0};
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i; (i = next++) < jobs;) {
        lorad::v1::SubmitJobRequest req;
        auto* s = req.mutable_spec();
        s->set_config_dir(dir.string());
        s->set_config_yaml("base_model: ./model\ndatasets:\n  - path: ./data.jsonl\n"
                           "learning_rate: 0.001\nlora_target_linear: true\noutput_dir: ./out-" + std::to_string(getpid()) +
                           "-" + std::to_string(i) + "\n");
        lorad::v1::SubmitJobResponse resp;
        grpc::ClientContext ctx;
        auto a = Clock::now();
        if (!stub->SubmitJob(&ctx, req, &resp).ok()) ++failures;
        submit_lat[t].push_back(Seconds(Clock::now() - a));
        ids[i] = resp.job().id();
      }
    });
  }
  for (auto& th : pool) th.join();
  double submit_wall = Seconds(Clock::now() - t0);
  pool.clear();
  next = 0;
  t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i; (i = next++) < jobs;) {
        lorad::v1::GetJobRequest req;
        req.set_job_id(ids[i]);
        lorad::v1::Job job;
        grpc::ClientContext ctx;
        auto a = Clock::now();
        if (!stub->GetJob(&ctx, req, &job).ok()) ++failures;
        get_lat[t].push_back(Seconds(Clock::now() - a));
      }
    });
  }
  for (auto& th : pool) th.join();
  double get_wall = Seconds(Clock::now() - t0);
  std::vector<double> all_submit, all_get;
  for (auto& v : submit_lat) all_submit.insert(all_submit.end(), v.begin(), v.end());
  for (auto& v : get_lat) all_get.insert(all_get.end(), v.begin(), v.end());
  std::printf("lorad service benchmark: %d jobs, %d client threads, %d failures\n", jobs, threads,
              failures.load());
  Report("SubmitJob", all_submit, submit_wall);
  Report("GetJob", all_get, get_wall);

  // 2. Step -> watcher latency: play the worker, W watchers on the job it runs.
  auto wstub = lorad::v1::WorkerService::NewStub(channel);
  grpc::ClientContext wctx;
  auto stream = wstub->Connect(&wctx);
  lorad::v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id("bench-worker");
  hello.mutable_hello()->set_worker_token(token);
  stream->Write(hello);
  lorad::v1::SchedulerMessage m;
  while (stream->Read(&m) && !m.has_assign()) {
  }
  if (!m.has_assign()) {
    std::fprintf(stderr, "no assignment (worker token wrong?)\n");
    return 1;
  }
  const auto a = m.assign();
  const auto base = Clock::now();
  std::mutex lat_mu;
  std::vector<double> step_lat;
  std::atomic<int> ready{0};
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::thread> ws;
  for (int w = 0; w < watchers; ++w) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    ws.emplace_back([&, w] {
      lorad::v1::WatchJobRequest req;
      req.set_job_id(a.job_id());
      req.set_after_seq(0);
      req.set_follow(true);
      auto reader = stub->WatchJob(ctxs[w].get(), req);
      lorad::v1::JobEvent ev;
      bool counted = false;
      while (reader->Read(&ev)) {
        if (!counted) {
          ++ready;
          counted = true;
        }
        if (ev.has_step()) {
          // The worker put its send time (seconds since `base`) in elapsed_seconds.
          double now = Seconds(Clock::now() - base);
          std::lock_guard<std::mutex> lock(lat_mu);
          step_lat.push_back(now - ev.step().elapsed_seconds());
        }
      }
      (void)reader->Finish();
    });
  }
  while (ready.load() < watchers) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  t0 = Clock::now();
  for (int s = 1; s <= steps; ++s) {
    lorad::v1::WorkerMessage ev;
    ev.mutable_event()->set_job_id(a.job_id());
    ev.mutable_event()->set_lease_epoch(a.lease_epoch());
    char buf[160];
    std::snprintf(buf, sizeof buf, "{\"type\":\"step\",\"step\":%d,\"loss\":1.0,\"elapsed_seconds\":%.9f}",
                  s, Seconds(Clock::now() - base));
    ev.mutable_event()->set_record_json(buf);
    stream->Write(ev);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a (very fast) step rate: 200/s
  }
  lorad::v1::WorkerMessage done;
  done.mutable_finished()->set_job_id(a.job_id());
  done.mutable_finished()->set_lease_epoch(a.lease_epoch());
  done.mutable_finished()->set_code(0);
  stream->Write(done);
  for (auto& th : ws) th.join();
  double step_wall = Seconds(Clock::now() - t0);
  char what[64];
  std::snprintf(what, sizeof what, "step->watcher (%d w.)", watchers);
  Report(what, step_lat, step_wall);
  wctx.TryCancel();
  std::filesystem::remove_all(dir);
  return 0;
}
