#include "server/event_loop.h"

#include <chrono>
#include <exception>

#include "spdlog/spdlog.h"

namespace lorad {

EventLoop::EventLoop(std::function<void()> tick, int64_t tick_ms)
    : tick_(std::move(tick)), tick_ms_(tick_ms), thread_([this] { Run(); }) {}

EventLoop::~EventLoop() { Stop(); }

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void EventLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void EventLoop::Run() {
  auto next_tick = std::chrono::steady_clock::now();
  while (true) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, next_tick, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      if (!queue_.empty()) {
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    // Nothing may escape into the loop thread: one bad closure must not stop
    // scheduling for everyone.
    try {
      if (fn) fn();
      if (std::chrono::steady_clock::now() >= next_tick) {
        next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(tick_ms_);
        if (tick_) tick_();
      }
    } catch (const std::exception& e) {
      spdlog::error("event loop: unexpected exception: {}", e.what());
    }
  }
}

}  // namespace lorad
