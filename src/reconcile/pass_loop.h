#pragma once
// A controller's thread: runs `pass` every `resync`, and at once after Notify(). Start()
// once; Stop() is idempotent and joins the thread (the destructor stops it). Thread-safe.
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
  PassLoop(std::chrono::milliseconds resync, std::function<void()> pass)
      : resync_(resync), pass_(std::move(pass)) {}
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
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, resync_, [&] { return dirty_ || stopping_; });
        if (stopping_) return;
        dirty_ = false;
      }
      pass_();
    }
  }

  const std::chrono::milliseconds resync_;
  const std::function<void()> pass_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kecs::reconcile
