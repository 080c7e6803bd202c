// Ctrl-C handling.  SIGINT/SIGTERM are blocked in every thread (Install runs
// before gRPC starts its threads) and taken by one thread with sigwait, so the
// reaction is ordinary code, not async-signal-safe code:
//  - while a streaming call is registered (follow, wait): cancel it, so the
//    command returns CANCELLED → "detached", exit 130.  The job is never
//    cancelled: loractl only stops listening.
//  - otherwise: finish the terminal line and exit 130 at once.
#pragma once

#include <atomic>
#include <mutex>

namespace grpc {
class ClientContext;
}

namespace lorad {

class InterruptHandler {
 public:
  /// Blocks the signals and starts the waiting thread.  Call first in main.
  static void Install();

  /// True once SIGINT/SIGTERM arrived.
  static bool Interrupted();

  /// Set while a progress line is on the terminal: an immediate exit first
  /// ends that line so the shell prompt starts on a fresh one.
  static void SetLineOpen(bool open);

  /// Registers `context` for cancellation for the guard's lifetime.
  class CallGuard {
   public:
    explicit CallGuard(grpc::ClientContext* context);
    ~CallGuard();
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;
  };

  /// Sleeps up to `seconds`; returns false early if interrupted meanwhile.
  static bool SleepFor(double seconds);
};

}  // namespace lorad
