#pragma once
// The daemon scheduler (ECS managed daemons, issue 18): keeps one task of each daemon on
// every container instance its capacity providers cover, and rolls them from revision to
// revision.
//
// Desired state: a daemon row (model::kDaemon, status ACTIVE or DELETE_IN_PROGRESS) names
// its latest deployment (internal.deployment), whose target revision (internal.target)
// holds the launchable task definition and the capacity providers. Observed state: the
// daemon's tasks (group "daemon:NAME", internal.deployment = the revision id they run) and
// the cluster's container instances.
//
// Which instances a daemon covers. On AWS a daemon runs on the EC2 instances its Managed
// Instances capacity providers launch. A kecs container instance carries a
// `capacityProviderName` only when its registration named one; the host's own instance
// names none and stands for whatever capacity the cluster's providers describe (kecs runs
// every task on this host: launch.cc's capacity provider strategy does the same). So an
// ACTIVE instance is covered when its capacityProviderName is one of the daemon's
// providers, or when it has none (then its daemon task runs for the daemon's first
// provider). DRAINING instances keep their daemon task but get no new one; tasks on
// instances that are gone or no longer covered are stopped.
//
// Each pass, per daemon, in one transaction:
//   1. DELETE_IN_PROGRESS: stop every task of the daemon; once none is left, the
//      deployment is SUCCESSFUL and the daemon row goes (DescribeDaemon then answers
//      DaemonNotFoundException).
//   2. PENDING deployment -> IN_PROGRESS (startedAt).
//   3. Stop tasks on instances not covered.
//   4. Per covered ACTIVE instance: no task at all -> launch one of the target revision
//      (a new instance, or one whose old task has stopped); a task of an older revision ->
//      a replacement candidate. Replacements go in batches of drainPercent of the covered
//      instances (at least one; AWS's default 25, docs "Creating and managing daemons"):
//      the batch's old tasks are stopped, and new ones start on those instances once the
//      old ones are STOPPED (stop old, start new, per instance, as AWS drains an instance
//      before the updated daemon runs there). The next batch waits until every instance
//      of the batch runs its new task RUNNING and bakeTimeInMinutes has passed.
//   5. Every covered ACTIVE instance runs a RUNNING task of the target revision and
//      nothing else of the daemon -> the deployment is SUCCESSFUL (finishedAt), once the
//      bake time after its last batch has passed. (A DRAINING instance's task, of any
//      revision, does not count: it is never replaced.)
// The circuit breaker: failed target-revision tasks (below) count in failureCount; at the
// threshold (CircuitBreakerThreshold of the covered instances) the deployment rolls back
// to the revision it replaces (ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL, or
// ROLLBACK_FAILED if that one fails as often), or, on a daemon's first deployment,
// ROLLBACK_FAILED at once; a ROLLBACK_FAILED deployment launches nothing more.
// A target-revision task that stops on its own is replaced on its instance (after 5
// seconds, so that a task that cannot start does not loop) and counted in the
// deployment's circuitBreaker.failureCount. A failed launch leaves its reason in
// the deployment's statusReason. Tasks launch through a DaemonTaskLauncher (the API's
// RunTask path), so they are placed, validated and run as RunTask's are. Thread-safe; one
// thread works the daemons.
#include <chrono>
#include <string>

#include "base/clock.h"
#include "base/json.h"
#include "reconcile/pass_loop.h"
#include "reconcile/service_controller.h"
#include "state/store.h"

namespace kecs::reconcile {

struct DaemonLaunch {
  std::string region;
  std::string account;
  std::string cluster;
  std::string daemon;        // the daemon's name
  std::string revision;      // the revision id the task runs
  Json task_definition;      // launchable (api/ecs/daemons.h DaemonLaunchDefinition)
  std::string capacity_provider;
  std::string instance;      // the container instance id
  Json tags = Json::array(); // propagated to the task (propagateTags DAEMON)
  bool enable_execute_command = false;
};

class DaemonTaskLauncher {
 public:
  virtual ~DaemonTaskLauncher() = default;
  // Launches one task of `launch` on its instance inside `tx`. A task that cannot be
  // placed or validated is not an error: `failure` says why, in ECS's words.
  virtual LaunchedTasks LaunchDaemonTask(state::Tx& tx, const DaemonLaunch& launch, double now) = 0;
};

class DaemonController {
 public:
  struct Options {
    std::chrono::milliseconds resync{1000};
    // Seconds in a deployment minute (bakeTimeInMinutes): 60, as ECS's; the daemon takes
    // KECS_DEPLOYMENT_MINUTE_SECONDS, as the service scheduler's.
    double minute_seconds = 60;
  };
  DaemonController(state::Store& store, DaemonTaskLauncher& launcher, Options options,
                   Clock& clock = Clock::Real());

  void Start() { loop_.Start(); }
  void Stop() { loop_.Stop(); }
  void Notify() { loop_.Notify(); }
  // One pass over every daemon (tests drive it directly).
  void RunOnce();

 private:
  state::Store& store_;
  DaemonTaskLauncher& launcher_;
  Clock& clock_;
  const Options options_;
  PassLoop loop_;  // last: its thread uses the members above
};

// How many instances one batch of a rolling daemon deployment replaces: drainPercent of
// `instances`, rounded up, at least 1.
int DaemonBatchSize(double drain_percent, int instances);

}  // namespace kecs::reconcile
