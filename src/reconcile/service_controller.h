#pragma once
// The service scheduler: keeps each ECS service's tasks in line with its deployments.
//
// A service's `deployments` are newest first: the PRIMARY one (the current task
// definition and network configuration) and ACTIVE ones being replaced. Each pass, in one
// transaction per service, the scheduler works these steps, in this order (one function
// each in service_controller.cc):
//   1. CountTasks: the service's tasks per deployment (running, pending, not yet healthy,
//      failed), and what the counts allow: desiredCount (DAEMON: one task per ACTIVE
//      instance), maximumPercent and minimumHealthyPercent of it. A RUNNING task is healthy
//      by its container health checks when it has them (healthStatus HEALTHY), else once it
//      has run for Options::settle; a task registered in target groups (reconcile/lb_hooks.h)
//      is healthy only once each of its targets is `healthy` there as well (the ELB checks
//      then stand in for the settle time). A RUNNING task that is UNHEALTHY, or has a
//      target that is `unhealthy`, once healthCheckGracePeriodSeconds after its start are
//      over is stopped here (ServiceSchedulerInitiated, "Task failed container health
//      checks" or "Task failed ELB health checks in (target-group ARN)", with ECS's events
//      "(service S) (task T) failed container health checks." and "(service S) (task T)
//      (port P) is unhealthy in (target-group ARN) due to (reason ...)"), counts as a
//      failure for the circuit breaker, and is replaced in step 4;
//   2. CheckCircuitBreaker: counts PRIMARY tasks that failed (stopped on their own before
//      the deployment completed); with the deployment circuit breaker on, reaching
//      CircuitBreakerThreshold marks the deployment FAILED and, with rollback, starts a new
//      deployment of the last COMPLETED one (the pass ends there); so does a deployment
//      alarm in ALARM (deploymentConfiguration.alarms; reconcile/traffic_shift.h), with the
//      alarms' rollback, except for a deployment that is itself a rollback;
//   3. StopTasks: surplus PRIMARY tasks (pending ones first), then tasks of older
//      deployments and PRIMARY tasks on DRAINING container instances, never letting
//      healthy RUNNING tasks fall below minimumHealthyPercent of desiredCount;
//   4. StartTasks: PRIMARY tasks up to desiredCount, never more than maximumPercent of
//      desiredCount in total (none for a FAILED deployment);
//   5. CheckCompletion: marks the deployment COMPLETED and drops the old ones once PRIMARY
//      runs desiredCount healthy tasks (by their health checks and targets, as in step 1)
//      and nothing else remains ("has reached a steady state."), and drops older
//      deployments with no task left;
//   6. FinishDraining: takes a DRAINING service (DeleteService) to INACTIVE once none of
//      its tasks is left running or pending (the last ones may still be stopping).
// A service whose deploymentConfiguration.strategy is BLUE_GREEN, LINEAR or CANARY, behind
// load balancers with an advancedConfiguration, runs a new deployment (once an older one
// serves) through ECS's lifecycle stages instead of steps 2-5, shifting traffic between
// its two target groups (service_controller.cc "Traffic-shifting deployments";
// reconcile/traffic_shift.h); a rollback or the end of the shift hands back to the steps.
// A shift of a service that no longer shifts (deleted, or its strategy or load balancers
// changed) ends at once; a deployment that runs without a shift registers its tasks in the
// target group production traffic goes to.
// A service with the EXTERNAL or CODE_DEPLOY deployment controller has task sets instead
// of deployments (model::TaskSet, issue 18): each pass keeps each task set at its
// computedDesiredCount (surplus tasks stop, pending first; missing ones start), stops
// tasks of no task set, sets each set's stabilityStatus, drops DRAINING sets whose tasks
// are gone, and takes a DRAINING service to INACTIVE as step 6 does.
// Every action is recorded in the service's events in AWS's words. Tasks are launched
// through a TaskLauncher (the API layer's RunTask path), so they are placed and validated
// exactly as RunTask's are. A failed store write fails the whole pass of that service:
// nothing of it commits, and the next pass starts again from the store. Thread-safe; one
// thread works the services.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "model/service.h"
#include "state/store.h"

namespace kecs::reconcile {

struct LaunchedTasks {
  std::vector<std::string> task_ids;
  std::string failure;  // why some or all could not be placed, in ECS's words ("" if none)
};

class TaskLauncher {
 public:
  virtual ~TaskLauncher() = default;
  // Launches up to `count` tasks for `deployment` of `service` inside `tx` (written
  // there, PENDING, with internal.service and internal.deployment set). Tasks that cannot
  // be placed are not an error: `failure` says why.
  virtual LaunchedTasks LaunchServiceTasks(state::Tx& tx, const model::Service& service,
                                           const model::Deployment& deployment, int count, double now) = 0;
  // Called at the start of every pass, outside any transaction: work that must not run
  // under the store's write lock (probing host ports for bridge tasks) happens here.
  virtual void BeforePass() {}
};

class ServiceController {
 public:
  struct Options {
    std::chrono::milliseconds resync{1000};
    // A task without container health checks counts as healthy once it has been RUNNING
    // this long: the old deployment's tasks are not stopped for, and a deployment does not
    // complete on, a task that is about to crash (its failure then counts toward the
    // circuit breaker). A task with health checks is healthy when its healthStatus is.
    std::chrono::milliseconds settle{3000};
    // How many seconds a "minute" of a deployment's bake times and hook timeouts lasts
    // (issue 18): 60, as ECS's; the daemon takes KECS_DEPLOYMENT_MINUTE_SECONDS at start so
    // tests can shorten them.
    double minute_seconds = 60;
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
  // The six steps above, for one service, inside `tx`.
  Status Reconcile(state::Tx& tx, model::Service& service);

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

}  // namespace kecs::reconcile
