#pragma once
// A controller's thread: runs `pass` every `resync`, and soon after Notify(). Start()
// once; Stop() is idempotent and joins the thread (the destructor stops it). Thread-safe.
//
// Notifications are coalesced: a pass starts at least `min_gap` after the previous one
// started, so the store's commits (every one notifies every controller) cost a controller
// at most one pass per min_gap however many arrive; a notification never waits longer.
// The daemon controller uses it; the older controllers keep their own copies of the loop.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace kecs::reconcile {

class PassLoop {
 public:
  static constexpr std::chrono::milliseconds kDefaultMinGap{20};

  PassLoop(std::chrono::milliseconds resync, std::function<void()> pass,
           std::chrono::milliseconds min_gap = kDefaultMinGap)
      : resync_(resync), min_gap_(min_gap), pass_(std::move(pass)) {}
  ~PassLoop() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dirty_ = true;
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::chrono::steady_clock::time_point last_start{};  // long ago: the first pass waits for nothing
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, resync_, [&] { return dirty_ || stopping_; });
        if (stopping_) return;
        if (dirty_) {
          // Notifications that arrive until then share this pass.
          cv_.wait_until(lock, last_start + min_gap_, [&] { return stopping_; });
          if (stopping_) return;
        }
        dirty_ = false;
      }
      last_start = std::chrono::steady_clock::now();
      pass_();
    }
  }

  const std::chrono::milliseconds resync_;
  const std::chrono::milliseconds min_gap_;
  const std::function<void()> pass_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kecs::reconcile
