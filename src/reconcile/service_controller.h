#pragma once
// The service scheduler: keeps each ECS service's tasks in line with its deployments.
//
// A service's `deployments` are newest first: the PRIMARY one (the current task
// definition and network configuration) and ACTIVE ones being replaced. Each pass, in one
// transaction per service, the scheduler:
//   1. counts the service's tasks per deployment (running, pending, stopping);
//   2. starts PRIMARY tasks up to desiredCount, never exceeding maximumPercent of
//      desiredCount in total (REPLICA; DAEMON runs one task per ACTIVE instance);
//   3. stops tasks of older deployments (pending ones first), and surplus PRIMARY tasks,
//      never letting RUNNING tasks fall below minimumHealthyPercent of desiredCount;
//      tasks on DRAINING container instances are replaced the same way;
//   4. counts PRIMARY tasks that failed (stopped on their own before the deployment
//      completed); with the deployment circuit breaker on, reaching its threshold marks the
//      deployment FAILED and, with rollback, starts a new deployment of the last COMPLETED
//      one;
//   5. marks the deployment COMPLETED and drops the old ones once PRIMARY runs
//      desiredCount tasks and nothing else remains ("has reached a steady state.");
//   6. takes a DRAINING service (DeleteService) to INACTIVE when its last task is gone.
// Every action is recorded in the service's events in AWS's words. Tasks are launched
// through a TaskLauncher (the API layer's RunTask path), so they are placed and validated
// exactly as RunTask's are. Thread-safe; one thread works the services.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "state/store.h"

namespace kecs::reconcile {

struct LaunchedTasks {
  std::vector<std::string> task_ids;
  std::string failure;  // why some or all could not be placed, in ECS's words ("" if none)
};

class TaskLauncher {
 public:
  virtual ~TaskLauncher() = default;
  // Launches `count` tasks for `deployment` of `service` inside `tx`.
  virtual LaunchedTasks LaunchServiceTasks(state::Tx& tx, const state::Object& service,
                                           const Json& deployment, int count, double now) = 0;
};

class ServiceController {
 public:
  struct Options {
    std::chrono::milliseconds resync{1000};
    // A task counts as healthy once it has been RUNNING this long: the old deployment's
    // tasks are not stopped for, and a deployment does not complete on, a task that is
    // about to crash (its failure then counts toward the circuit breaker).
    std::chrono::milliseconds settle{3000};
  };
  ServiceController(state::Store& store, TaskLauncher& launcher, Options options,
                    Clock& clock = Clock::Real());
  ~ServiceController();

  void Start();
  void Stop();
  void Notify();
  // One pass over every service (tests drive it directly).
  void RunOnce();

 private:
  void Loop();
  Status Reconcile(state::Tx& tx, state::Object& service);

  state::Store& store_;
  TaskLauncher& launcher_;
  const Options options_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

// The failure threshold of the deployment circuit breaker for `desired` tasks: half of
// them, at least 3 and at most 200 (AWS's documented rule).
int CircuitBreakerThreshold(int desired);

// Adds a service event (newest first, at most 100 kept; a repeat of the newest is dropped).
void AddServiceEvent(Json& doc, double now, const std::string& message);

}  // namespace kecs::reconcile
