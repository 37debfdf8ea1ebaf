#pragma once
// The task controller: moves every task from the state the API wrote toward its desired
// status, through the Runtime, off the request path.
//
// Desired versus observed. The API sets desiredStatus (RUNNING at RunTask, STOPPED at
// StopTask); lastStatus is what the controller has made true. The controller is a
// transition table over model::TaskStatus with one function per state; each looks at the
// desired status and does one state's work. For a task that should run, AWS's order:
//   PROVISIONING  awsvpc tasks only: the ENI and its address (TaskHooks::provision) and
//                 the runtime's sandbox; the ENI attachment becomes ATTACHED
//   PENDING       other modes take their network resources and sandbox here; then the
//                 task's secrets and registry credentials resolve (task_secrets.h; a
//                 failure stops the task with ResourceInitializationError), the
//                 image pull (pullStartedAt/pullStoppedAt) and the containers start, in
//                 waves by their dependsOn (below)
//   ACTIVATING    connectivity established (connectivityAt)
//   RUNNING       startedAt; then Inspect each resync, and an essential container's exit
//                 turns desiredStatus to STOPPED with stopCode EssentialContainerExited (a
//                 non-essential one may exit and the task runs on)
// and for a task that should stop:
//   DEACTIVATING (stoppingAt) -> STOPPING (containers get SIGTERM, then SIGKILL after their
//   stopTimeout; executionStoppedAt) -> DEPROVISIONING (sandbox deleted, resources
//   released) -> STOPPED (stoppedAt). A task that never started (PROVISIONING or PENDING)
//   goes straight to DEPROVISIONING. A failure to start (provisioning, sandbox, pull,
//   start) sets desiredStatus STOPPED with stopCode TaskFailedToStart and AWS's reason.
//
// dependsOn. In PENDING, after the pull, each step Inspects the containers and starts (one
// StartContainers call per wave) every container not yet started whose dependencies are
// met: START (the dependency has started), COMPLETE (it exited), SUCCESS (it exited 0),
// HEALTHY (its health check says HEALTHY). A container's start request is recorded
// (internal.progress[].created_at) before the runtime is asked, so a restart resumes the
// waves without running the pre-start work again. The task stays PENDING until every
// container has been started (steps return false while waiting; the resync wakes the task
// again), then goes ACTIVATING. As the ECS agent does (dependencygraph/graph.go), a
// dependency that can never be met (SUCCESS on a container that exited non-zero, a
// dependency that will never start, COMPLETE/SUCCESS/HEALTHY past the dependency's
// startTimeout, HEALTHY on a container that exited) stops the waiting container with exit
// code 143 and "CannotStartContainerError: dependency graph: ..."; an essential one stops
// the task (EssentialContainerExited).
//
// Health. Each Inspect records the containers' healthStatus, the task's healthStatus (over
// its essential containers with a health check, as ECS aggregates it) and the containers'
// timestamps and last check (internal.progress). A change of the task's health runs
// TaskHooks::health_changed (Cloud Map follows it). A task run by hand keeps running when
// UNHEALTHY, as on ECS; the service scheduler replaces its unhealthy tasks.
//
// Writes. Every transition is one transaction that re-reads the task and applies the step
// only when its lastStatus is still the one the step began from, so a StopTask that lands
// while a runtime call is under way is never lost. `version` grows with every status
// change, StopTask, and container change seen while RUNNING. A hook that fails has its
// writes rolled back (a savepoint), so a failed allocation leaves nothing behind. Every
// write's result is checked: when a write fails, the step ends there and the task stays in
// its state; the step is tried again later (the runtime's calls are idempotent), and never
// moves on as if the write had happened.
//
// Threads. A task is worked on by one thread at a time. StopContainers (which may wait
// out stopTimeout) runs beside the workers, one per STOPPING task. A daemon restart resumes
// each task where its stored lastStatus says, and the runtime's idempotent calls adopt what
// already runs. STOPPED tasks stay visible for Options::stopped_retention_s, then the scan
// loop deletes them.
//
// Tests drive the controller without threads: Recover, StepForTest, RunPending and
// SweepRetention do what the threads would, deterministically.
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
#include "model/task.h"
#include "reconcile/secret_source.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::reconcile {

// Work the controller does inside a task's transactions, supplied by the layers that own
// those resources (network allocation, service discovery). Each hook runs in the write
// transaction of the transition it belongs to and may change the task it is given.
struct TaskHooks {
  // PROVISIONING (awsvpc) or PENDING (other modes): allocate the task's network resources
  // and record them in task.internal.network; a failure stops the task with the Status
  // message as its reason.
  std::function<Status(state::Tx&, model::Task& task)> provision;
  // When the task reaches RUNNING; a failure fails that write (the step is retried).
  std::function<Status(state::Tx&, model::Task& task)> running;
  // When the task starts to stop (desired STOPPED observed while ACTIVATING or RUNNING).
  std::function<Status(state::Tx&, model::Task& task)> stopping;
  // DEPROVISIONING -> STOPPED: release everything provision took.
  std::function<Status(state::Tx&, model::Task& task)> release;
  // Outside any transaction, after the sandbox exists and before the containers start
  // (the task's security groups are enforced by then). A failure stops the task as a
  // ResourceInitializationError, or, when its message already begins
  // "CannotStartContainerError: ", with that reason on its containers too.
  std::function<Status(const model::Task& task, const runtime::TaskSpec& spec)> before_start;
  // Outside any transaction, in DEPROVISIONING just before the runtime deletes the
  // sandbox: whatever holds the task's namespace (the metadata listener) lets go of it.
  std::function<void(const model::Task& task, const runtime::TaskSpec& spec)> before_delete;
  // At Recover (daemon start), for each task not STOPPED whose sandbox may exist (PENDING
  // to DEPROVISIONING): take up again what before_start set up (the metadata listener).
  std::function<void(const model::Task& task, const runtime::TaskSpec& spec)> adopt;
  // In the write transaction that records a change of the task's healthStatus while it is
  // ACTIVATING or RUNNING (and at RUNNING when it is already UNHEALTHY): the task's Cloud
  // Map instances follow its health. A failure fails that write (the step is retried).
  std::function<Status(state::Tx&, model::Task& task)> health_changed;
  // DEACTIVATING: whether the task may move on to STOPPING. A service task behind a load
  // balancer waits here until its targets have drained (the target group's
  // deregistration delay), as ECS does; unset or true: move on at once. Runs in the
  // step's write transaction; a failure is logged and the step retried.
  std::function<Result<bool>(state::Tx&, const model::Task& task)> deactivated;
};

// The task's healthStatus as ECS aggregates its containers' (API HealthCheck, "Determining
// task health using container health checks"): over the essential containers that have a
// health check (over the others with one when no essential container has one): any
// UNHEALTHY -> UNHEALTHY, else any UNKNOWN -> UNKNOWN, else HEALTHY; UNKNOWN when no
// container has a health check.
model::HealthStatus TaskHealth(const model::Task& task);

class TaskController {
 public:
  struct Options {
    int workers = 4;
    std::chrono::milliseconds resync{500};
    double stopped_retention_s = 3600;  // STOPPED tasks stay visible this long, as on AWS
    double retention_sweep_s = 30;      // how often the scan loop deletes expired ones
    // StopContainers runs beside the workers (its own thread per stop); false runs it
    // inside the step, which tests use.
    bool stop_beside_workers = true;
    // Where the tasks' secrets come from (issue 14); unset: a task that names a secret
    // fails to start as if the secret did not exist. Must outlive the controller.
    SecretSource* secrets = nullptr;
  };

  TaskController(state::Store& store, runtime::Runtime& runtime, TaskHooks hooks, Options options,
                 Clock& clock);
  ~TaskController();

  // Recover, then starts the threads.
  void Start();
  // Lets in-flight steps finish and joins the threads. Idempotent.
  void Stop();
  // Wakes the controller (called after every store commit).
  void Notify();

  // ---- Deterministic entry points (used by Start's threads and by tests) ----
  // Garbage-collects runtime objects of tasks that are gone and publishes the ports of
  // running tasks again (reservations die with a process).
  void Recover();
  // One step of the task; true when another step should follow at once.
  bool StepForTest(const std::string& region, const std::string& id);
  // Steps every task that is not STOPPED, waiting for stops in flight, until a round
  // changes nothing (at most max_rounds). Returns the number of rounds run.
  int RunPending(int max_rounds = 100);
  // Deletes STOPPED tasks whose stoppedAt is older than the retention.
  Status SweepRetention();

 private:
  struct Key {
    std::string region;
    std::string id;
    bool operator<(const Key& o) const { return std::tie(region, id) < std::tie(o.region, o.id); }
    bool operator==(const Key&) const = default;
  };
  enum class Applied { kWritten, kGone, kMoved };
  using Mutation = std::function<Status(state::Tx&, model::Task&)>;
  using StateStep = bool (TaskController::*)(model::Task&);

  void ScanLoop();
  std::vector<Key> LiveTasks();
  void Scan();
  void WorkerLoop();
  void Process(const Key& key);
  bool Step(const Key& key);

  // The transition table's entries: one per non-final state.
  bool Provisioning(model::Task& t);
  bool Pending(model::Task& t);
  bool Activating(model::Task& t);
  bool Running(model::Task& t);
  bool Deactivating(model::Task& t);
  bool Stopping(model::Task& t);
  bool Deprovisioning(model::Task& t);
  // Shared by the states' desired-STOPPED branches.
  bool NeverStarted(model::Task& t);
  bool BeginStopping(model::Task& t);
  // Runs the provision hook (rolled back on failure, which marks the task failed to start).
  // False when the step must end (a failed write, a failed hook, or the task moved).
  bool Provision(model::Task& t);
  bool FailToStart(model::Task& t, const std::string& reason);
  // PENDING's container starts, wave by wave (dependsOn); true when a step should follow.
  bool StartWaves(model::Task& t);
  bool StartFailed(model::Task& t, const Status& st);
  // SpecFromTask(t) with the task's secrets resolved (task_secrets.h), in memory only; the
  // error's message is the task's stoppedReason.
  Result<runtime::TaskSpec> ResolvedSpec(const model::Task& t);

  // Re-reads the task in a write transaction; when its lastStatus is still t's, applies fn
  // and writes the result if it changed (bumping version when lastStatus changed), and t
  // becomes the stored record. An error means nothing was written.
  Result<Applied> Update(model::Task& t, const Mutation& fn);
  // Update, logging a failed write; true only when the step may go on.
  bool Apply(model::Task& t, const Mutation& fn);
  double Now() const;

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
  std::set<Key> unreadable_;          // tasks whose read failure was logged; guarded by mu_
  // RUNNING tasks that should run, with their spec and what their last step saw and wrote:
  // the resync inspects them and takes a step (reading the store) only when the runtime
  // says something else. Derived: filled after a step's commit, dropped by every commit
  // scan that finds the task with a step to take; empty after a restart. Guarded by mu_.
  std::map<Key, std::pair<runtime::TaskSpec, runtime::TaskState>> steady_;
  uint64_t commit_scans_ = 0;         // commit scans so far; guarded by mu_
  // RUNNING tasks whose step could not make their steady_ entry (a commit scan came
  // between): stepped again at the next resync. Guarded by mu_.
  std::set<Key> recheck_;
  std::vector<std::thread> threads_;
};

}  // namespace kecs::reconcile
