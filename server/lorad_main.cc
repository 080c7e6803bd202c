// lorad: the scheduler daemon.  Wires the store, scheduler, worker pool,
// metrics and gRPC services together; owns process-level concerns (signals,
// logging, readiness, shutdown).
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/config_job_validator.h"
#include "server/event_loop.h"
#include "server/job_service.h"
#include "server/scheduler.h"
#include "server/server_config.h"
#include "server/sqlite_job_store.h"
#include "server/worker_service.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "worker/base/file_util.h"

#ifndef LORAD_VERSION
#define LORAD_VERSION "0.0.0"
#endif

namespace lorad {
namespace {

constexpr char kUsage[] =
    "usage: lorad [--config FILE] [--state-dir DIR] [--listen ADDR]... [--metrics-address HOST:PORT]\n"
    "             [--workers auto|cpu|none|N|LIST] [--worker-binary PATH] [--log-level LEVEL]\n"
    "ADDR is unix:PATH or HOST:PORT (port 0 = any free port). Bound addresses are logged and\n"
    "written to STATE_DIR/lorad.addr. See deploy/lorad.yaml for every config key.\n";

void SetupLogging(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
      isatty(STDERR_FILENO) ? spdlog::color_mode::automatic : spdlog::color_mode::never);
  auto logger = std::make_shared<spdlog::logger>("lorad", sink);
  // journald stamps every line itself.
  const char* journal = std::getenv("JOURNAL_STREAM");
  logger->set_pattern(journal && *journal ? "[%l] %v" : "%Y-%m-%d %H:%M:%S.%e [%l] %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

bool IsLoopbackHost(const std::string& addr) {
  return absl::StartsWith(addr, "127.") || absl::StartsWith(addr, "localhost:") ||
         absl::StartsWith(addr, "[::1]:");
}

std::string FindWorkerBinary(const ServerConfig& c) {
  if (!c.worker_binary.empty()) return c.worker_binary;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  auto dir = exe.parent_path();
  for (const auto& cand : {dir / "lorad-worker", dir / ".." / "worker" / "cli" / "lorad-worker",
                           dir / ".." / "bin" / "lorad-worker"}) {
    if (std::filesystem::exists(cand, ec)) return cand.lexically_normal().string();
  }
  return (dir / "lorad-worker").string();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(const ServerConfig& c,
                                                                        const std::string& addr) {
  if (!c.tls.cert_file.empty()) {
    grpc::SslServerCredentialsOptions opts;
    auto cert = ReadFileToString(c.tls.cert_file, 1 << 20);
    auto key = ReadFileToString(c.tls.key_file, 1 << 20);
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    opts.pem_key_cert_pairs.push_back({*key, *cert});
    if (!c.tls.client_ca_file.empty()) {
      auto ca = ReadFileToString(c.tls.client_ca_file, 1 << 20);
      if (!ca.ok()) return ca.status();
      opts.pem_root_certs = *ca;
      opts.client_certificate_request =
          c.tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                    : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    return grpc::SslServerCredentials(opts);
  }
  if (c.insecure_tcp && IsLoopbackHost(addr)) return grpc::InsecureServerCredentials();
  return absl::InvalidArgumentError(absl::StrCat(
      "listen ", addr, ": TCP needs tls.cert_file/tls.key_file (plain TCP is allowed only with "
      "insecure_tcp: true on a loopback address)"));
}

int Run(int argc, char** argv) {
  // Block the stop signals before any thread exists (gRPC, civetweb, the
  // loop inherit the mask); main waits for them with sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (std::string(argv[i]) == "--version") {
      std::cout << "lorad " << LORAD_VERSION << "\n";
      return 0;
    }
  }
  ServerConfig config;
  std::string config_file;
  {
    ServerConfig probe;
    if (auto s = ApplyServerFlags(argc, argv, &probe, &config_file); !s.ok()) {
      std::cerr << "lorad: " << s.message() << "\n" << kUsage;
      return 2;
    }
  }
  if (!config_file.empty()) {
    auto text = ReadFileToString(config_file, 1 << 20);
    if (!text.ok()) {
      std::cerr << "lorad: --config: " << text.status().message() << "\n";
      return 2;
    }
    auto parsed = ParseServerConfig(*text, config_file);
    if (!parsed.ok()) {
      std::cerr << "lorad: " << parsed.status().message() << "\n";
      return 2;
    }
    config = *parsed;
  }
  if (auto s = ApplyServerFlags(argc, argv, &config, &config_file); !s.ok()) {
    std::cerr << "lorad: " << s.message() << "\n";
    return 2;
  }
  ResolveServerDefaults(&config);
  SetupLogging(config.log_level);

  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) {
    spdlog::critical("cannot create state dir {}: {}", config.state_dir, ec.message());
    return 1;
  }
  // One lorad per state dir: a second one would be a second writer of the store.
  std::string lock_path = config.state_dir + "/lorad.lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::critical("another lorad is running with state dir {}", config.state_dir);
    return 1;
  }

  auto store = SqliteJobStore::Open(config.state_dir + "/lorad.db");
  if (!store.ok()) {
    spdlog::critical("{}", store.status().ToString());
    return 1;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  SchedulerMetrics metrics = BuildSchedulerMetrics(*registry, LORAD_VERSION);
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string metrics_bound;
  if (!config.metrics_address.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(config.metrics_address);
      exposer->RegisterCollectable(registry);
      auto ports = exposer->GetListeningPorts();
      std::string host = config.metrics_address.substr(0, config.metrics_address.rfind(':'));
      metrics_bound = absl::StrCat(host, ":", ports.empty() ? 0 : ports[0]);
    } catch (const std::exception& e) {
      spdlog::critical("metrics_address {}: {}", config.metrics_address, e.what());
      return 1;
    }
  }

  auto workers = ParseWorkers(config.workers, CountGpus());
  if (!workers.ok()) {
    spdlog::critical("{}", workers.status().ToString());
    return 2;
  }
  std::string unix_addr;
  for (const auto& a : config.listen) {
    if (absl::StartsWith(a, "unix:") && unix_addr.empty()) unix_addr = a;
  }
  if (!workers->empty() && unix_addr.empty()) {
    spdlog::critical("local workers need a unix: listen address to dial");
    return 2;
  }

  RealClock clock;
  PosixProcessLauncher launcher;
  WorkerPoolOptions pool_opts;
  pool_opts.worker_binary = FindWorkerBinary(config);
  pool_opts.scheduler_address = unix_addr;
  pool_opts.extra_args = config.worker_args;
  pool_opts.registration_timeout_ms = config.worker_registration_timeout_ms;
  WorkerPool pool(launcher, clock, &metrics, pool_opts);
  ConfigJobValidator validator(config.allowed_roots);
  SchedulerOptions sched_opts;
  sched_opts.max_queued_jobs = config.max_queued_jobs;
  sched_opts.default_max_attempts = config.default_max_attempts;
  sched_opts.heartbeat_interval_ms = config.heartbeat_interval_ms;
  sched_opts.heartbeat_timeout_ms = config.heartbeat_timeout_ms;
  sched_opts.event_retention_ms = config.event_retention_days * 24 * 3600 * 1000;
  if (!config.worker_token_file.empty()) {
    auto tok = ReadFileToString(config.worker_token_file, 4096);
    if (!tok.ok()) {
      spdlog::critical("worker_token_file: {}", tok.status().ToString());
      return 2;
    }
    std::string t = *tok;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    sched_opts.worker_token = t;
  }
  AccessPolicy access;
  if (!config.token_file.empty()) {
    auto table = TokenTable::Load(config.token_file);
    if (!table.ok()) {
      spdlog::critical("token_file: {}", table.status().ToString());
      return 2;
    }
    access.tokens = *table;
  }

  Scheduler scheduler(**store, clock, validator, metrics, &pool, sched_opts);
  if (auto s = scheduler.Recover(); !s.ok()) {
    spdlog::critical("recovering jobs: {}", s.ToString());
    return 1;
  }

  EventLoop loop([&scheduler] { scheduler.Tick(); }, 200);
  JobServiceImpl job_service(scheduler, loop, metrics, access, LORAD_VERSION,
                             (*store)->SchemaVersion());
  WorkerServiceImpl worker_service(scheduler, loop);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::vector<std::pair<std::string, std::unique_ptr<int>>> bound;
  for (const auto& addr : config.listen) {
    if (absl::StartsWith(addr, "unix:")) {
      std::string path = addr.substr(5);
      std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
      struct stat st;
      if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
      builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
      bound.emplace_back(addr, nullptr);
    } else {
      auto creds = TcpCredentials(config, addr);
      if (!creds.ok()) {
        spdlog::critical("{}", creds.status().ToString());
        return 2;
      }
      auto port = std::make_unique<int>(0);
      builder.AddListeningPort(addr, *creds, port.get());
      bound.emplace_back(addr, std::move(port));
    }
  }
  builder.RegisterService(&job_service);
  builder.RegisterService(&worker_service);
  builder.SetMaxReceiveMessageSize(8 << 20);
  mode_t old_umask = umask(0117);  // sockets are born 0660, no window with wider access
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  umask(old_umask);
  if (!server) {
    spdlog::critical("cannot listen on the configured addresses");
    return 1;
  }
  std::string addr_file;
  for (const auto& [addr, port] : bound) {
    std::string actual = addr;
    if (port) {
      if (*port == 0) {
        spdlog::critical("cannot listen on {}", addr);
        return 1;
      }
      actual = absl::StrCat(addr.substr(0, addr.rfind(':')), ":", *port);
    } else {
      mode_t mode = static_cast<mode_t>(std::strtol(config.socket_mode.c_str(), nullptr, 8));
      chmod(addr.substr(5).c_str(), mode);
    }
    spdlog::info("listening on {}", actual);
    addr_file += "grpc " + actual + "\n";
  }
  if (!metrics_bound.empty()) {
    spdlog::info("metrics on http://{}/metrics", metrics_bound);
    addr_file += "metrics " + metrics_bound + "\n";
  }
  if (auto s = WriteFileAtomically(config.state_dir + "/lorad.addr", addr_file); !s.ok()) {
    spdlog::warn("{}", s.ToString());
  }
  loop.Call([&] {
    pool.Start(*workers);
    return 0;
  });
  sd_notify(0, "READY=1\nSTATUS=listening");
  spdlog::info("lorad {} ready (state dir {}, {} local workers)", LORAD_VERSION, config.state_dir,
               workers->size());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}: draining (running jobs checkpoint and go back to the queue)",
               strsignal(sig));
  sd_notify(0, "STOPPING=1\nSTATUS=draining");
  loop.Call([&] {
    scheduler.Drain();
    return 0;
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.shutdown_timeout_ms);
  timespec poll{0, 100'000'000};
  while (std::chrono::steady_clock::now() < deadline &&
         loop.Call([&] { return scheduler.RunningJobs(); }) > 0) {
    // A second signal skips the wait.
    if (sigtimedwait(&stop_signals, nullptr, &poll) > 0) break;
  }
  loop.Call([&] {
    pool.Shutdown(SIGTERM);
    return 0;
  });
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  auto exit_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < exit_deadline &&
         !loop.Call([&] {
           pool.Tick();
           return pool.AllExited();
         })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  loop.Stop();
  spdlog::info("lorad stopped");
  return 0;
}

}  // namespace
}  // namespace lorad

int main(int argc, char** argv) {
  absl::InitializeSymbolizer(argv[0]);
  absl::FailureSignalHandlerOptions options;
  absl::InstallFailureSignalHandler(options);
  std::set_terminate([] {
    spdlog::critical("lorad: terminate called (uncaught exception)");
    std::abort();
  });
  try {
    return lorad::Run(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("lorad: {}", e.what());
    return 1;
  }
}
