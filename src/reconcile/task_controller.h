#pragma once
// The task controller: moves every task from the state the API wrote toward its desired
// status, through the Runtime, off the request path.
//
// Desired versus observed. The API sets desiredStatus (RUNNING at RunTask, STOPPED at
// StopTask); lastStatus is what the controller has made true. The order of work for a
// task that should run is AWS's:
//   PROVISIONING  awsvpc tasks only: the ENI and its address (TaskHooks::provision) and
//                 the runtime's sandbox
//   PENDING       other modes take their network resources and sandbox here; then the
//                 image pull (pullStartedAt/pullStoppedAt) and the containers start
//   ACTIVATING    connectivity established (connectivityAt)
//   RUNNING       startedAt; then Inspect each resync, and an essential container's exit
//                 turns desiredStatus to STOPPED with stopCode EssentialContainerExited
// and for a task that should stop:
//   DEACTIVATING -> STOPPING (containers get SIGTERM, then SIGKILL after stopTimeout;
//   executionStoppedAt) -> DEPROVISIONING (sandbox deleted, resources released) -> STOPPED
//   (stoppedAt). A task that never started goes straight to DEPROVISIONING.
// Every transition is one transaction that re-reads the task, so a StopTask that lands
// while a runtime call is under way is never lost; `version` grows with every status
// change, StopTask, and container change seen while RUNNING. A hook that fails has its
// writes rolled back (a savepoint), so a failed allocation leaves nothing behind.
// A task is worked on by one thread at a time. A daemon restart resumes each task where
// its stored lastStatus says, and the runtime's idempotent calls adopt what already runs.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::reconcile {

// Work the controller does inside a task's transactions, supplied by the layers that own
// those resources (network allocation today; service discovery will use running and
// stopping). Each hook runs in the write transaction of the transition it belongs to.
struct TaskHooks {
  // PROVISIONING: allocate the task's network resources and record them in the document
  // ("kecs:network"); a failure stops the task with the Status message as its reason.
  std::function<Status(state::Tx&, state::Object& task)> provision;
  // When the task reaches RUNNING.
  std::function<Status(state::Tx&, state::Object& task)> running;
  // When the task starts to stop (desired STOPPED observed).
  std::function<Status(state::Tx&, state::Object& task)> stopping;
  // DEPROVISIONING -> STOPPED: release everything provision took.
  std::function<Status(state::Tx&, state::Object& task)> release;
  // Outside any transaction, after the sandbox exists and before the containers start
  // (the task's security groups are enforced by then).
  std::function<Status(const state::Object& task, const runtime::TaskSpec& spec)> before_start;
};

class TaskController {
 public:
  struct Options {
    int workers = 4;
    std::chrono::milliseconds resync{500};
    double stopped_retention_s = 3600;  // STOPPED tasks stay visible this long, as on AWS
  };

  TaskController(state::Store& store, runtime::Runtime& runtime, TaskHooks hooks, Options options,
                 Clock& clock = Clock::Real());
  ~TaskController();

  // Garbage-collects runtime objects of tasks that are gone, then starts the threads.
  void Start();
  // Lets in-flight steps finish and joins the threads. Idempotent.
  void Stop();
  // Wakes the controller (called after every store commit).
  void Notify();

 private:
  struct Key {
    std::string region;
    std::string id;
    bool operator<(const Key& o) const { return std::tie(region, id) < std::tie(o.region, o.id); }
  };

  void ScanLoop();
  void Scan();
  void WorkerLoop();
  void Process(const Key& key);
  // One step; returns true when another step should follow at once.
  bool Step(const Key& key);

  // Re-reads the task in a write transaction and applies `fn`; bumps version when fn
  // changes lastStatus. Returns false when the task is gone.
  bool Update(const Key& key, const std::function<Status(state::Tx&, state::Object&)>& fn);
  void FailToStart(const Key& key, const std::string& reason);

  state::Store& store_;
  runtime::Runtime& runtime_;
  TaskHooks hooks_;
  const Options options_;
  Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;        // workers wait for queue_
  std::condition_variable scan_cv_;   // the scanner waits for Notify or the resync period
  std::deque<Key> queue_;             // guarded by mu_
  std::set<Key> queued_or_running_;   // guarded by mu_
  bool dirty_ = false;                // guarded by mu_
  // StopContainers calls in flight, one per STOPPING task; guarded by mu_. They run beside
  // the workers: each may wait out its containers' stopTimeout (30 s by default), and a
  // worker doing that would hold up every other task.
  std::map<Key, std::future<Result<runtime::TaskState>>> stops_;
  bool stopping_ = false;             // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace kecs::reconcile
