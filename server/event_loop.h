// One thread that runs every scheduling decision in order (Ray's event-loop
// idea): gRPC handlers post closures here instead of locking scheduler state.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace lorad {

class EventLoop {
 public:
  /// `tick` runs every `tick_ms` on the loop thread (timeouts, assignment).
  EventLoop(std::function<void()> tick, int64_t tick_ms);
  ~EventLoop();  // stops and joins

  void Post(std::function<void()> fn);
  /// Runs `fn` on the loop and waits for its result (main thread only).
  template <typename F>
  auto Call(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    Post([&task] { task(); });
    return result.get();
  }
  void Stop();

 private:
  void Run();

  std::function<void()> tick_;
  int64_t tick_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace lorad
