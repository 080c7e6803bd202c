#include "server/worker_pool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/auth.h"
#include "spdlog/spdlog.h"

namespace lorad {

std::string RandomToken() {
  unsigned char buf[16] = {};
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool ok = fd >= 0 && read(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf);
  if (fd >= 0) close(fd);
  if (!ok) {
    std::random_device rd;
    for (auto& b : buf) b = static_cast<unsigned char>(rd());
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

WorkerPool::WorkerPool(ProcessLauncher& launcher, const Clock& clock, SchedulerMetrics* metrics,
                       WorkerPoolOptions options)
    : launcher_(launcher), clock_(clock), metrics_(metrics), options_(std::move(options)) {}

void WorkerPool::Start(const std::vector<LocalWorkerSpec>& specs) {
  for (const auto& s : specs) {
    Proc& p = procs_[s.worker_id];
    p.spec = s;
    p.backoff_ms = options_.backoff_initial_ms;
    Launch(p);
  }
}

void WorkerPool::Launch(Proc& p) {
  p.token = RandomToken();
  LaunchSpec ls;
  ls.binary = options_.worker_binary;
  ls.args = {"serve", "--scheduler", options_.scheduler_address, "--startup-token", p.token,
             "--worker-id", p.spec.worker_id};
  ls.args.insert(ls.args.end(), options_.extra_args.begin(), options_.extra_args.end());
  // Each GPU worker sees only its own device; a CPU worker sees none.
  ls.env["CUDA_VISIBLE_DEVICES"] = p.spec.cuda_visible_devices;
  // The worker would re-exec itself to get this (worker/cli/openmp_wait_policy.h);
  // setting it here saves a second LibTorch start-up.  An operator's choice wins.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) ls.env["OMP_WAIT_POLICY"] = "PASSIVE";
  p.registered = false;
  p.launched_ms = clock_.NowMs();
  auto pid = launcher_.Launch(ls);
  if (!pid.ok()) {
    spdlog::error("worker {}: cannot start {}: {}", p.spec.worker_id, ls.binary,
                  pid.status().ToString());
    p.pid = 0;
    p.restart_at_ms = clock_.NowMs() + p.backoff_ms;
    p.backoff_ms = std::min(p.backoff_ms * 2, options_.backoff_max_ms);
    return;
  }
  p.pid = *pid;
  spdlog::info("worker {}: started pid {} ({})", p.spec.worker_id, p.pid,
               p.spec.cuda_visible_devices.empty()
                   ? std::string("cpu")
                   : "CUDA_VISIBLE_DEVICES=" + p.spec.cuda_visible_devices);
}

bool WorkerPool::Register(const std::string& worker_id, const std::string& token, int64_t pid) {
  auto it = procs_.find(worker_id);
  if (it == procs_.end() || it->second.pid == 0 || it->second.token.empty()) return false;
  if (!ConstantTimeEquals(token, it->second.token)) return false;
  it->second.registered = true;
  return true;
}

std::vector<std::string> WorkerPool::Tick() {
  std::vector<std::string> ended;
  int64_t now = clock_.NowMs();
  for (auto [pid, status] : launcher_.Reap()) {
    for (auto& [id, p] : procs_) {
      if (p.pid != pid) continue;
      std::string how = WIFSIGNALED(status) ? absl::StrCat("killed by signal ", WTERMSIG(status))
                                            : absl::StrCat("exited with code ", WEXITSTATUS(status));
      ended.push_back(id);
      p.pid = 0;
      p.token.clear();
      if (shutting_down_) {
        spdlog::info("worker {}: {}", id, how);
        continue;
      }
      if (now - p.launched_ms >= options_.stable_after_ms) p.backoff_ms = options_.backoff_initial_ms;
      p.restart_at_ms = now + p.backoff_ms;
      spdlog::warn("worker {}: {}; restarting in {} ms", id, how, p.backoff_ms);
      p.backoff_ms = std::min(p.backoff_ms * 2, options_.backoff_max_ms);
    }
  }
  for (auto& [id, p] : procs_) {
    if (shutting_down_) break;
    if (p.pid == 0 && now >= p.restart_at_ms) {
      ++p.restarts;
      if (metrics_) metrics_->worker_restarts.Add({}).Increment();
      Launch(p);
    } else if (p.pid != 0 && !p.registered &&
               now - p.launched_ms > options_.registration_timeout_ms) {
      spdlog::warn("worker {}: did not register within {} ms; killing pid {}", id,
                   options_.registration_timeout_ms, p.pid);
      launcher_.Signal(p.pid, SIGKILL);
      p.token.clear();  // a late hello with the old token is refused
    }
  }
  return ended;
}

void WorkerPool::Shutdown(int signal) {
  shutting_down_ = true;
  for (auto& [id, p] : procs_) {
    if (p.pid != 0) launcher_.Signal(p.pid, signal);
  }
}

void WorkerPool::Kill(const std::string& worker_id, int signal) {
  auto it = procs_.find(worker_id);
  if (it != procs_.end() && it->second.pid != 0) launcher_.Signal(it->second.pid, signal);
}

bool WorkerPool::AllExited() const {
  return std::all_of(procs_.begin(), procs_.end(), [](const auto& kv) { return kv.second.pid == 0; });
}

int64_t WorkerPool::Pid(const std::string& worker_id) const {
  auto it = procs_.find(worker_id);
  return it == procs_.end() ? 0 : it->second.pid;
}

int32_t WorkerPool::Restarts(const std::string& worker_id) const {
  auto it = procs_.find(worker_id);
  return it == procs_.end() ? 0 : it->second.restarts;
}

}  // namespace lorad
