// `lorad-worker serve`: dial the scheduler, say hello, heartbeat, run the
// assignments it sends one at a time.  SIGTERM = preemption: the running job
// checkpoints and goes back to the queue, then the worker exits.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"
#include "worker/base/file_util.h"
#include "worker/base/process_memory.h"
#include "worker/base/stderr_logging.h"
#include "worker/cli/commands.h"
#include "worker/serve/job_runner.h"
#include "worker/serve/scheduler_link.h"

namespace lorad {
namespace {

std::atomic<bool> g_terminate{false};
void OnTerminate(int) { g_terminate = true; }

struct ServeFlags {
  std::string scheduler;
  std::string startup_token;
  std::string worker_id;
  std::string worker_token_file;
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  bool insecure = false;
  std::string device = "auto";
  int threads = 0;
  int64_t lock_wait_ms = 30'000;
};

constexpr char kUsage[] =
    "usage: lorad-worker serve --scheduler ADDR [--worker-id ID] [--startup-token T]\n"
    "         [--worker-token-file F] [--tls-ca F [--tls-cert F --tls-key F]] [--insecure]\n"
    "         [--device auto|cpu|cuda] [--threads N]\n"
    "ADDR: unix:PATH (local) or HOST:PORT (TLS unless --insecure on loopback)\n";

std::shared_ptr<grpc::ChannelCredentials> Credentials(const ServeFlags& f) {
  if (absl::StartsWith(f.scheduler, "unix:") || f.insecure) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions opts;
  if (!f.tls_ca_file.empty()) opts.pem_root_certs = ReadFileToString(f.tls_ca_file, 1 << 20).value_or("");
  if (!f.tls_cert_file.empty()) {
    opts.pem_cert_chain = ReadFileToString(f.tls_cert_file, 1 << 20).value_or("");
    opts.pem_private_key = ReadFileToString(f.tls_key_file, 1 << 20).value_or("");
  }
  return grpc::SslCredentials(opts);
}

v1::WorkerHello MakeHello(const ServeFlags& f, const std::string& worker_token) {
  v1::WorkerHello h;
  h.set_worker_id(f.worker_id);
  h.set_startup_token(f.startup_token);
  h.set_worker_token(worker_token);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  h.set_hostname(host);
  h.set_pid(getpid());
  const char* cvd = std::getenv("CUDA_VISIBLE_DEVICES");
  std::string visible = cvd ? cvd : "";
  if (f.device != "cpu" && !visible.empty() && visible != "-1") {
    h.set_device_kind(v1::DEVICE_KIND_CUDA);
    int i = 0;
    for (absl::string_view d : absl::StrSplit(visible, ',')) {
      h.add_devices(absl::StrCat("cuda:", i++, " (", std::string(d), ")"));
    }
  } else {
    h.set_device_kind(v1::DEVICE_KIND_CPU);
    h.add_devices("cpu");
  }
  h.set_free_memory_bytes(ReadProcessMemory().available_bytes);
  h.set_version("0.1.0");
  return h;
}

absl::Status ParseFlags(int argc, char** argv, ServeFlags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(a, ": needs a value"));
      return std::string(argv[++i]);
    };
    absl::StatusOr<std::string> v = std::string();
    if (a == "--scheduler") { v = value(); if (v.ok()) f->scheduler = *v; }
    else if (a == "--startup-token") { v = value(); if (v.ok()) f->startup_token = *v; }
    else if (a == "--worker-id") { v = value(); if (v.ok()) f->worker_id = *v; }
    else if (a == "--worker-token-file") { v = value(); if (v.ok()) f->worker_token_file = *v; }
    else if (a == "--tls-ca") { v = value(); if (v.ok()) f->tls_ca_file = *v; }
    else if (a == "--tls-cert") { v = value(); if (v.ok()) f->tls_cert_file = *v; }
    else if (a == "--tls-key") { v = value(); if (v.ok()) f->tls_key_file = *v; }
    else if (a == "--device") { v = value(); if (v.ok()) f->device = *v; }
    else if (a == "--threads") { v = value(); if (v.ok()) f->threads = std::atoi(v->c_str()); }
    else if (a == "--insecure") f->insecure = true;
    else return absl::InvalidArgumentError(absl::StrCat("unknown argument ", a));
    if (!v.ok()) return v.status();
  }
  if (f->scheduler.empty()) return absl::InvalidArgumentError("--scheduler is required");
  if (f->worker_id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    f->worker_id = absl::StrCat(host, "-", getpid());
  }
  return absl::OkStatus();
}

}  // namespace

int ServeCommand(int argc, char** argv) {
  LogToStderr();
  ServeFlags flags;
  if (absl::Status s = ParseFlags(argc, argv, &flags); !s.ok()) {
    std::fprintf(stderr, "lorad-worker serve: %s\n%s", std::string(s.message()).c_str(), kUsage);
    return 2;
  }
  std::string worker_token;
  if (!flags.worker_token_file.empty()) {
    auto t = ReadFileToString(flags.worker_token_file, 4096);
    if (!t.ok()) {
      std::fprintf(stderr, "lorad-worker serve: %s\n", t.status().ToString().c_str());
      return 2;
    }
    worker_token = *t;
    while (!worker_token.empty() && (worker_token.back() == '\n' || worker_token.back() == ' ')) {
      worker_token.pop_back();
    }
  }
  struct sigaction sa = {};
  sa.sa_handler = OnTerminate;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  int64_t backoff_ms = 500;
  while (!g_terminate) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(8 << 20);
    auto channel = grpc::CreateCustomChannel(flags.scheduler, Credentials(flags), args);
    SchedulerLink link(channel);
    JobRunner runner([&link](const v1::WorkerMessage& m) { return link.Send(m); }, flags.device,
                     flags.threads, flags.lock_wait_ms);
    v1::WorkerMessage hello;
    *hello.mutable_hello() = MakeHello(flags, worker_token);
    std::atomic<bool> stream_open{link.Send(hello)};
    std::atomic<int64_t> heartbeat_ms{2000};
    std::atomic<bool> acked{false};
    std::thread reader([&] {
      v1::SchedulerMessage msg;
      while (link.Read(&msg)) {
        if (msg.has_hello_ack()) {
          heartbeat_ms = std::max<int64_t>(100, msg.hello_ack().heartbeat_interval_ms());
          acked = true;
          spdlog::info("worker {}: connected to {}", flags.worker_id, flags.scheduler);
        } else if (msg.has_assign()) {
          if (!runner.Start(msg.assign())) {
            spdlog::warn("assignment of job {} while busy: ignored", msg.assign().job_id());
          }
        } else if (msg.has_cancel()) {
          runner.Stop(msg.cancel().job_id(), msg.cancel().lease_epoch(), msg.cancel().requeue());
        }
      }
      stream_open = false;
    });
    auto next_beat = std::chrono::steady_clock::now();
    std::string last_job;
    const bool cuda_worker = hello.hello().device_kind() == v1::DEVICE_KIND_CUDA;
    while (stream_open && !(g_terminate && !runner.Busy())) {
      if (g_terminate) runner.StopAny(/*requeue=*/true);
      if (std::chrono::steady_clock::now() >= next_beat) {
        v1::WorkerMessage hb;
        auto [job, epoch] = runner.Current();
        hb.mutable_heartbeat()->set_job_id(job);
        hb.mutable_heartbeat()->set_lease_epoch(epoch);
        const ProcessMemory mem = ReadProcessMemory();
        hb.mutable_heartbeat()->set_free_memory_bytes(mem.available_bytes);
        // A CPU worker's device memory is its own resident set; the peak
        // restarts with each job.  (CUDA device memory is not reported yet.)
        if (job != last_job) {
          if (!job.empty()) ResetPeakRss();
          last_job = job;
        }
        if (!job.empty() && !cuda_worker) {
          hb.mutable_heartbeat()->set_device_memory_bytes(mem.rss_bytes);
          hb.mutable_heartbeat()->set_device_memory_peak_bytes(mem.peak_rss_bytes);
        }
        if (!link.Send(hb)) break;
        next_beat = std::chrono::steady_clock::now() + std::chrono::milliseconds(heartbeat_ms.load());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Lease lost (stream broken) or terminating: stop at the next step
    // boundary; the job's checkpoint lets the next attempt resume exactly.
    runner.StopAny(/*requeue=*/true);
    runner.Join();
    link.Cancel();
    reader.join();
    grpc::Status st = link.Finish();
    if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        st.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
        st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      spdlog::error("worker {}: scheduler refused the connection: {}", flags.worker_id,
                    st.error_message());
      return 1;
    }
    if (g_terminate) break;
    if (acked) backoff_ms = 500;
    spdlog::warn("worker {}: lost the scheduler ({}); reconnecting in {} ms", flags.worker_id,
                 st.error_message(), backoff_ms);
    for (int64_t waited = 0; waited < backoff_ms && !g_terminate; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min<int64_t>(backoff_ms * 2, 30'000);
  }
  return 0;
}

}  // namespace lorad
