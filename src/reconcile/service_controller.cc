#include "reconcile/service_controller.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "base/log.h"
#include "model/elb.h"
#include "model/kinds.h"
#include "model/task.h"
#include "reconcile/deployment_history.h"
#include "reconcile/lb_hooks.h"
#include "state/records/elb.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::reconcile {
namespace {

using model::DeploymentStatus;
using model::RolloutState;
using model::Service;
using model::ServiceStatus;
using model::StopCode;
using model::Task;
using model::TaskStatus;

struct DeploymentTasks {
  std::vector<Task*> running, pending;
  int young = 0;   // running but not yet healthy (by its health checks, or Options::settle)
  int failed = 0;  // stopped on their own (not by a user or the scheduler), not yet counted
};

// A task that stopped on its own: what the circuit breaker counts.
bool StoppedOnItsOwn(const Task& t) {
  return t.last_status == TaskStatus::kStopped && t.stop_code != StopCode::kUserInitiated &&
         t.stop_code != StopCode::kServiceSchedulerInitiated;
}

// The task has container health checks: its healthStatus says whether it is healthy.
bool HasHealthChecks(const Task& t) {
  for (const auto& c : t.internal.containers) {
    if (c.health_check) return true;
  }
  return false;
}

// One service's pass: what step 1 counts, and what the later steps change.
struct Pass {
  Pass(state::Tx& t, Service& s, double n) : tx(t), svc(s), now(n), tag(fmt::format("(service {})", s.name)) {}

  state::Tx& tx;
  Service& svc;
  double now;
  std::string tag;  // "(service <name>)", as ECS's events start

  std::vector<Task> tasks;  // the service's tasks in the cluster, every status
  std::map<std::string, DeploymentTasks> by_dep;
  std::set<Task*> leaving;  // PRIMARY tasks on DRAINING instances
  std::string primary_id;
  int desired = 0;
  int max_total = 0;    // maximumPercent of desired
  int min_healthy = 0;  // minimumHealthyPercent of desired
  int total = 0;        // tasks not stopping, every deployment
  int healthy = 0;      // settled RUNNING tasks, every deployment
  int prim_active = 0;  // PRIMARY tasks that count toward desired
  std::vector<std::string> stopped_ids;
  int replaced_unhealthy = 0;  // tasks stopped this pass for failing their health checks
  // The target groups the service's tasks are registered in, read once per pass (nullopt:
  // the group no longer exists).
  std::map<std::string, std::optional<model::TargetGroup>> groups;

  DeploymentTasks& primary() { return by_dep[primary_id]; }
};

// A task's target as its group shows it now, with the group.
struct TargetSeen {
  const model::TaskTarget* target = nullptr;
  const model::TargetGroup* group = nullptr;
  const model::Target* entry = nullptr;  // nullptr: no longer in the group
};

Result<std::vector<TargetSeen>> TargetsOf(Pass& p, const Task& t) {
  std::vector<TargetSeen> out;
  for (const auto& target : t.internal.targets) {
    auto it = p.groups.find(target.target_group_arn);
    if (it == p.groups.end()) {
      std::string id = model::IdFromArn(target.target_group_arn, "targetgroup");
      std::optional<model::TargetGroup> group;
      if (!id.empty()) {
        ASSIGN_OR_RETURN(group, state::records::GetTargetGroup(p.tx, t.region, id));
      }
      it = p.groups.emplace(target.target_group_arn, std::move(group)).first;
    }
    if (!it->second) continue;  // the group is gone: nothing to wait for
    out.push_back({&target, &*it->second, FindTaskTarget(*it->second, target)});
  }
  return out;
}

// A RUNNING task counts as healthy: by its health checks when it has them (healthStatus
// HEALTHY), else once it has been RUNNING for the settle time; a task registered in
// target groups only once every one of its targets is `healthy` there too (and then the
// ELB's checks stand in for the settle time).
Result<bool> Healthy(Pass& p, const Task& t, double settle_seconds) {
  ASSIGN_OR_RETURN(auto targets, TargetsOf(p, t));
  for (const auto& seen : targets) {
    if (!seen.entry || seen.entry->state != model::TargetHealthState::kHealthy) return false;
  }
  if (HasHealthChecks(t)) return t.health_status == model::HealthStatus::kHealthy;
  if (!targets.empty()) return true;
  return p.now - t.started_at.value_or(0) >= settle_seconds;
}

// The scheduler stops `t` (ServiceSchedulerInitiated) for `reason`.
Status SchedulerStops(Pass& p, Task& t, std::string reason) {
  t.desired_status = TaskStatus::kStopped;
  t.stop_code = StopCode::kServiceSchedulerInitiated;
  t.stopped_reason = std::move(reason);
  t.stopping_at = EpochMillis(p.now);
  ++t.version;
  p.stopped_ids.push_back(t.id);
  return state::records::PutTask(p.tx, t);
}

Status StopTask(Pass& p, Task& t) {
  --p.total;
  return SchedulerStops(p, t, fmt::format("Scaling activity initiated by (deployment {})", p.primary_id));
}

// Step 1, for each RUNNING task: one that is UNHEALTHY once healthCheckGracePeriodSeconds
// (counted from its start) is over is stopped and replaced, as ECS does; the stop counts
// toward the deployment circuit breaker. Returns true when it stopped the task.
Result<bool> StopIfUnhealthy(Pass& p, Task& t, DeploymentTasks& d) {
  if (t.last_status != TaskStatus::kRunning) return false;
  double grace = static_cast<double>(p.svc.health_check_grace_period_seconds.value_or(0));
  if (p.now < t.started_at.value_or(0) + grace) return false;
  std::string reason, event;
  if (t.health_status == model::HealthStatus::kUnhealthy) {
    // ECS's words: the stoppedReason "Task failed container health checks" and the
    // service event "(service S) (task T) failed container health checks." (as
    // DescribeServices shows them; see the re:Post article "Why is my Amazon ECS task
    // stopped?").
    reason = "Task failed container health checks";
    event = fmt::format("{} (task {}) failed container health checks.", p.tag, t.id);
  } else {
    ASSIGN_OR_RETURN(auto targets, TargetsOf(p, t));
    for (const auto& seen : targets) {
      if (!seen.entry || seen.entry->state != model::TargetHealthState::kUnhealthy) continue;
      // ECS's words, as stopped tasks and DescribeServices show them: the stoppedReason
      // "Task failed ELB health checks in (target-group <arn>)" and the event "(service S)
      // (task T) (port P) is unhealthy in (target-group <arn>) due to (reason <the
      // target's health description>)", "(instance <id>)" for an instance target.
      const std::string& arn = seen.target->target_group_arn;
      reason = fmt::format("Task failed ELB health checks in (target-group {})", arn);
      std::string who = seen.group->target_type == model::TargetType::kInstance
                            ? fmt::format("(instance {})", seen.target->target_id)
                            : fmt::format("(task {})", t.id);
      const std::string why = seen.entry->description.empty()
                                  ? std::string(model::TargetHealthDescription(model::kReasonFailedHealthChecks))
                                  : seen.entry->description;
      event = fmt::format("{} {} (port {}) is unhealthy in (target-group {}) due to (reason {})", p.tag, who,
                          seen.target->port, arn, why);
      break;
    }
    if (reason.empty()) return false;
  }
  t.internal.counted = true;
  RETURN_IF_ERROR(SchedulerStops(p, t, std::move(reason)));
  model::AddServiceEvent(p.svc, p.now, event);
  ++p.replaced_unhealthy;
  ++d.failed;
  return true;
}

// Step 1.
Status CountTasks(Pass& p, double settle_seconds) {
  Service& svc = p.svc;
  ASSIGN_OR_RETURN(auto all, state::records::ListTasks(p.tx, {model::kTask, svc.region, svc.cluster}));
  for (auto& t : all) {
    if (t.internal.service == svc.name) p.tasks.push_back(std::move(t));
  }
  std::set<std::string> draining_instances;
  int active_instances = 0;
  ASSIGN_OR_RETURN(auto instances, p.tx.List({model::kInstance, svc.region, svc.cluster}));
  for (const auto& i : instances) {
    if (i.status == "DRAINING") draining_instances.insert(i.id);
    if (i.status == "ACTIVE") ++active_instances;
  }
  p.primary_id = svc.Primary()->id;
  std::vector<Task*> on_draining;
  for (auto& t : p.tasks) {
    DeploymentTasks& d = p.by_dep[t.internal.deployment];
    if (t.last_status == TaskStatus::kStopped || t.desired_status == TaskStatus::kStopped) {
      if (StoppedOnItsOwn(t) && !t.internal.counted) ++d.failed;
      continue;
    }
    ASSIGN_OR_RETURN(bool unhealthy, StopIfUnhealthy(p, t, d));
    if (unhealthy) continue;
    bool running = t.last_status == TaskStatus::kRunning;
    (running ? d.running : d.pending).push_back(&t);
    if (running) {
      ASSIGN_OR_RETURN(bool healthy, Healthy(p, t, settle_seconds));
      if (!healthy) ++d.young;
    }
    if (t.internal.placement && draining_instances.count(t.internal.placement->instance)) on_draining.push_back(&t);
  }

  bool draining = svc.status == ServiceStatus::kDraining;
  p.desired = draining ? 0 : svc.desired_count;
  if (svc.scheduling_strategy == model::SchedulingStrategy::kDaemon && !draining) {
    // A daemon service wants one task per ACTIVE instance, and says so.
    p.desired = active_instances;
    svc.desired_count = p.desired;
  }
  const auto& cfg = svc.deployment_configuration;
  p.max_total = std::max(p.desired, static_cast<int>(std::floor(p.desired * cfg.maximum_percent / 100.0)));
  p.min_healthy = static_cast<int>(std::ceil(p.desired * cfg.minimum_healthy_percent / 100.0));
  for (const auto& [dep, d] : p.by_dep) {
    p.total += static_cast<int>(d.running.size() + d.pending.size());
    p.healthy += static_cast<int>(d.running.size()) - d.young;
  }
  // PRIMARY tasks on DRAINING instances are leaving: they do not count toward desired, so
  // replacements start (within maximumPercent) before they stop (within
  // minimumHealthyPercent), as ECS drains an instance.
  for (auto* t : on_draining) {
    if (t->internal.deployment == p.primary_id) p.leaving.insert(t);
  }
  DeploymentTasks& prim = p.primary();
  p.prim_active = static_cast<int>(prim.running.size() + prim.pending.size() - p.leaving.size());
  return Status::Ok();
}

// Step 2. Returns true when it rolled back: the pass ends, the next one works the new
// PRIMARY deployment.
Result<bool> CheckCircuitBreaker(Pass& p) {
  Service& svc = p.svc;
  model::Deployment& primary = *svc.Primary();
  if (primary.rollout_state != RolloutState::kInProgress) return false;
  primary.failed_tasks += p.primary().failed;
  // Count each failed task once: mark it.
  for (auto& t : p.tasks) {
    if (t.internal.deployment == p.primary_id && StoppedOnItsOwn(t) && !t.internal.counted) {
      t.internal.counted = true;
      RETURN_IF_ERROR(state::records::PutTask(p.tx, t));
    }
  }
  const auto& cfg = svc.deployment_configuration;
  if (!cfg.circuit_breaker_enable || primary.failed_tasks < CircuitBreakerThreshold(std::max(p.desired, 1))) {
    return false;
  }
  primary.rollout_state = RolloutState::kFailed;
  primary.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start.";
  primary.updated_at = EpochMillis(p.now);
  model::AddServiceEvent(
      svc, p.now, fmt::format("{} (deployment {}) deployment failed: tasks failed to start.", p.tag, p.primary_id));
  const int failed_tasks = primary.failed_tasks;
  if (!cfg.circuit_breaker_rollback) {
    RETURN_IF_ERROR(RecordDeploymentFailed(p.tx, svc, p.primary_id, failed_tasks, nullptr, nullptr, p.now));
    return false;
  }
  // Back to the last deployment that completed.
  std::optional<model::Deployment> good;
  for (size_t i = 1; i < svc.deployments.size() && !good; ++i) {
    if (svc.deployments[i].rollout_state == RolloutState::kCompleted) good = svc.deployments[i];
  }
  if (!good) good = svc.internal.last_completed;
  if (!good) {
    RETURN_IF_ERROR(RecordDeploymentFailed(p.tx, svc, p.primary_id, failed_tasks, nullptr, nullptr, p.now));
    return false;
  }
  model::Deployment rollback = *good;
  rollback.id = model::NewDeploymentId();
  rollback.status = DeploymentStatus::kPrimary;
  rollback.rollout_state = RolloutState::kInProgress;
  rollback.rollout_state_reason = "ECS deployment " + rollback.id + " in progress.";
  rollback.failed_tasks = 0;
  rollback.created_at = EpochMillis(p.now);
  rollback.updated_at = EpochMillis(p.now);
  rollback.desired_count = svc.desired_count;
  for (auto& d : svc.deployments) d.status = DeploymentStatus::kActive;
  svc.deployments.insert(svc.deployments.begin(), rollback);
  svc.task_definition = rollback.task_definition;
  model::AddServiceEvent(svc, p.now, fmt::format("{} rolling back to deployment {}.", p.tag, good->id));
  RETURN_IF_ERROR(RecordDeploymentFailed(p.tx, svc, p.primary_id, failed_tasks, &rollback, &*good, p.now));
  return true;
}

// Step 3. Tasks under scale-in protection (issue 18) are not stopped to scale in or to
// replace them with a deployment's tasks, as ECS documents task scale-in protection ("Task
// scale-in protection" in the ECS Developer Guide: protected tasks are not terminated by
// scale-in events from service auto scaling or deployments); they stop on a later pass
// once their protection is unset or has expired. A DRAINING (deleted) service's tasks and
// tasks on a DRAINING instance are stopped regardless: ECS documents protection against
// scale-in and deployments only.
Status StopTasks(Pass& p) {
  DeploymentTasks& prim = p.primary();
  const bool honour_protection = p.svc.status != ServiceStatus::kDraining;
  auto is_protected = [&](const Task* t) { return honour_protection && model::ProtectedAt(*t, p.now); };
  int held = 0;  // tasks the pass would have stopped but for their protection
  // An older deployment's task that protection keeps (not one leaving a DRAINING instance).
  auto held_back = [&](Task* t) {
    if (p.leaving.count(t) || !is_protected(t)) return false;
    ++held;
    return true;
  };
  // Surplus PRIMARY tasks (scale-in), pending ones first.
  if (p.prim_active > p.desired) {
    int surplus = p.prim_active - p.desired;
    std::vector<Task*> order;
    int prim_protected = 0;
    for (auto* list : {&prim.pending, &prim.running}) {
      for (auto* t : *list) {
        if (p.leaving.count(t)) continue;
        if (is_protected(t)) {
          ++prim_protected;
          continue;
        }
        order.push_back(t);
      }
    }
    int short_by = surplus - static_cast<int>(order.size());
    if (short_by > 0) held += std::min(prim_protected, short_by);
    for (int i = 0; i < surplus && i < static_cast<int>(order.size()); ++i) {
      Task& t = *order[static_cast<size_t>(i)];
      bool was_running = t.last_status == TaskStatus::kRunning;
      RETURN_IF_ERROR(StopTask(p, t));
      --p.prim_active;
      if (was_running) --p.healthy;
    }
  }
  // Older deployments' tasks, and PRIMARY tasks on DRAINING instances, without going below
  // minimumHealthyPercent of RUNNING tasks.
  std::vector<Task*> old_pending, old_running;
  for (auto& [dep, d] : p.by_dep) {
    if (dep == p.primary_id) continue;
    old_pending.insert(old_pending.end(), d.pending.begin(), d.pending.end());
    old_running.insert(old_running.end(), d.running.begin(), d.running.end());
  }
  for (auto* t : p.leaving) {
    (t->last_status == TaskStatus::kRunning ? old_running : old_pending).push_back(t);
  }
  for (auto* t : old_pending) {
    if (!held_back(t)) RETURN_IF_ERROR(StopTask(p, *t));
  }
  for (auto* t : old_running) {
    if (held_back(t)) continue;
    // Even when the new deployment failed: the old tasks are what still serves.
    if (p.healthy - 1 < p.min_healthy) break;
    if (t->desired_status == TaskStatus::kStopped) continue;
    RETURN_IF_ERROR(StopTask(p, *t));
    --p.healthy;
  }
  if (!p.stopped_ids.empty()) {
    std::string list;
    for (const auto& id : p.stopped_ids) list += " (task " + id + ")";
    model::AddServiceEvent(p.svc, p.now,
                           fmt::format("{} has stopped {} running tasks:{}.", p.tag, p.stopped_ids.size(), list));
  }
  if (held > 0) {
    // kecs's wording: no ECS source for this event's text was found (the ECS Developer
    // Guide's service event messages list none for task protection).
    model::AddServiceEvent(
        p.svc, p.now, fmt::format("{} was unable to scale in due to (reason: {} tasks under protection).", p.tag, held));
  }
  return Status::Ok();
}

// Step 4.
void StartTasks(Pass& p, TaskLauncher& launcher) {
  const model::Deployment& primary = *p.svc.Primary();
  if (primary.rollout_state == RolloutState::kFailed) return;
  int start = std::max(0, std::min(p.desired - p.prim_active, p.max_total - p.total));
  if (start == 0) return;
  LaunchedTasks launched = launcher.LaunchServiceTasks(p.tx, p.svc, primary, start, p.now);
  if (!launched.task_ids.empty()) {
    std::string list;
    for (const auto& id : launched.task_ids) list += " (task " + id + ")";
    // As ECS words a replacement of unhealthy tasks (seen in DescribeServices' events).
    std::string replaced =
        p.replaced_unhealthy > 0
            ? fmt::format(" Amazon ECS replaced {} tasks due to an unhealthy status.", p.replaced_unhealthy)
            : "";
    model::AddServiceEvent(
        p.svc, p.now, fmt::format("{} has started {} tasks:{}.{}", p.tag, launched.task_ids.size(), list, replaced));
  }
  if (!launched.failure.empty()) {
    model::AddServiceEvent(p.svc, p.now, fmt::format("{} was unable to place a task. Reason: {}", p.tag, launched.failure));
  }
  p.prim_active += static_cast<int>(launched.task_ids.size());
}

// Step 5.
Status CheckCompletion(Pass& p) {
  Service& svc = p.svc;
  DeploymentTasks& prim = p.primary();
  bool others_empty = true;
  for (const auto& [dep, d] : p.by_dep) {
    if (dep != p.primary_id && (!d.running.empty() || !d.pending.empty())) others_empty = false;
  }
  // Recount: tasks stopped above still show as running until they are gone.
  int prim_running_now = 0;
  for (auto* t : prim.running) {
    if (t->desired_status == TaskStatus::kRunning) ++prim_running_now;
  }
  bool steady = prim_running_now == p.desired && prim.pending.empty() && prim.young == 0 && others_empty &&
                p.prim_active == p.desired && p.stopped_ids.empty();
  model::Deployment& primary = *svc.Primary();
  if (steady && primary.rollout_state == RolloutState::kInProgress) {
    primary.rollout_state = RolloutState::kCompleted;
    primary.rollout_state_reason = "ECS deployment " + p.primary_id + " completed.";
    primary.updated_at = EpochMillis(p.now);
    // Remember it: a later deployment's rollback returns to it.
    svc.internal.last_completed = primary;
    svc.deployments.resize(1);
    model::AddServiceEvent(svc, p.now, fmt::format("{} (deployment {}) deployment completed.", p.tag, p.primary_id));
    std::map<std::string, std::string> digests;
    for (const auto* t : prim.running) {
      for (const auto& c : t->containers) {
        if (c.image_digest) digests[c.name] = *c.image_digest;
      }
    }
    RETURN_IF_ERROR(RecordDeploymentCompleted(p.tx, svc, primary, p.now, digests));
  }
  if (steady && !svc.internal.steady) {
    svc.internal.steady = true;
    model::AddServiceEvent(svc, p.now, fmt::format("{} has reached a steady state.", p.tag));
  } else if (!steady) {
    svc.internal.steady = false;
  }
  // Old deployments with nothing left go.
  std::erase_if(svc.deployments, [&](const model::Deployment& d) {
    if (d.id == p.primary_id) return false;
    auto it = p.by_dep.find(d.id);
    return it == p.by_dep.end() || (it->second.running.empty() && it->second.pending.empty());
  });
  return Status::Ok();
}

// Step 6.
void FinishDraining(Pass& p) {
  if (p.svc.status == ServiceStatus::kDraining && p.total == 0) p.svc.status = ServiceStatus::kInactive;
}

}  // namespace

int CircuitBreakerThreshold(int desired) {
  int half = static_cast<int>(std::ceil(desired * 0.5));
  return std::min(200, std::max(3, half));
}

ServiceController::ServiceController(state::Store& store, TaskLauncher& launcher, Options options,
                                     Clock& clock)
    : store_(store), launcher_(launcher), options_(options), clock_(clock) {}

ServiceController::~ServiceController() { Stop(); }

void ServiceController::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ServiceController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ServiceController::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_one();
}

void ServiceController::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, options_.resync, [&] { return dirty_ || stopping_; });
      if (stopping_) return;
      dirty_ = false;
    }
    RunOnce();
  }
}

void ServiceController::RunOnce() {
  launcher_.BeforePass();
  std::vector<std::pair<std::string, std::string>> keys;  // region, id
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{model::kService};
    q.any_region = true;
    ASSIGN_OR_RETURN(auto all, tx.List(q));
    for (const auto& s : all) {
      if (s.status == "ACTIVE" || s.status == "DRAINING") keys.emplace_back(s.region, s.id);
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("services: {}", st.message());
    return;
  }
  for (const auto& [region, id] : keys) {
    Status w;
    try {
      w = store_.Write([&](state::Tx& tx) {
        ASSIGN_OR_RETURN(auto row, tx.Get(model::kService, region, id));
        if (!row || (row->status != "ACTIVE" && row->status != "DRAINING")) return Status::Ok();
        ASSIGN_OR_RETURN(Service svc, state::records::DecodeService(*row));
        RETURN_IF_ERROR(Reconcile(tx, svc));
        state::Object after = state::records::EncodeService(svc);
        if (after.doc == row->doc && after.internal == row->internal && after.status == row->status) {
          return Status::Ok();
        }
        return tx.Put(after);
      });
    } catch (const std::exception& e) {
      w = Internal(e.what());
    }
    if (!w.ok()) KLOG_WARN("service {}: {}", id, w.message());
  }
}

Status ServiceController::Reconcile(state::Tx& tx, Service& svc) {
  if (svc.deployments.empty()) return Status::Ok();
  Pass p(tx, svc, clock_.Now());
  RETURN_IF_ERROR(CountTasks(p, static_cast<double>(options_.settle.count()) / 1000.0));
  ASSIGN_OR_RETURN(bool rolled_back, CheckCircuitBreaker(p));
  if (rolled_back) return Status::Ok();
  RETURN_IF_ERROR(StopTasks(p));
  StartTasks(p, launcher_);
  RETURN_IF_ERROR(CheckCompletion(p));
  FinishDraining(p);
  return Status::Ok();
}

}  // namespace kecs::reconcile
