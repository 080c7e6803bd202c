#include "client/interrupt_handler.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <thread>

#include <grpcpp/client_context.h>

namespace lorad {
namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_line_open{false};
std::mutex g_mu;
std::condition_variable g_cv;
grpc::ClientContext* g_context = nullptr;  // guarded by g_mu

void WaitForSignals(sigset_t set) {
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    g_interrupted = true;
    std::lock_guard<std::mutex> lock(g_mu);
    g_cv.notify_all();
    if (g_context != nullptr) {
      g_context->TryCancel();
      continue;  // the command reports the detach and exits 130
    }
    if (g_line_open) {
      const char nl = '\n';
      (void)!write(STDERR_FILENO, &nl, 1);
    }
    _exit(130);
  }
}

}  // namespace

void InterruptHandler::Install() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(WaitForSignals, set).detach();
}

bool InterruptHandler::Interrupted() { return g_interrupted; }

void InterruptHandler::SetLineOpen(bool open) { g_line_open = open; }

InterruptHandler::CallGuard::CallGuard(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_context = context;
  if (g_interrupted) context->TryCancel();  // Ctrl-C came between calls
}

InterruptHandler::CallGuard::~CallGuard() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_context = nullptr;
}

bool InterruptHandler::SleepFor(double seconds) {
  std::unique_lock<std::mutex> lock(g_mu);
  return !g_cv.wait_for(lock, std::chrono::duration<double>(seconds),
                        [] { return g_interrupted.load(); });
}

}  // namespace lorad
