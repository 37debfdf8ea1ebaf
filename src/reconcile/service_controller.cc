#include "reconcile/service_controller.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "base/log.h"
#include "base/strings.h"
#include "model/elb.h"
#include "model/kinds.h"
#include "model/task.h"
#include "reconcile/deployment_history.h"
#include "reconcile/lb_hooks.h"
#include "reconcile/traffic_shift.h"
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

  std::vector<Task> tasks;  // the service's tasks but those STOPPED and counted (ListServiceTasks)
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

// ECS's event for the tasks the pass stopped.
void AnnounceStopped(Pass& p) {
  if (p.stopped_ids.empty()) return;
  std::string list;
  for (const auto& id : p.stopped_ids) list += " (task " + id + ")";
  model::AddServiceEvent(p.svc, p.now,
                         fmt::format("{} has stopped {} running tasks:{}.", p.tag, p.stopped_ids.size(), list));
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

// Step 1, for each task that is neither stopped nor stopping: stops it if it is unhealthy
// (returns false), else files it under its deployment's running or pending tasks, running
// ones not yet healthy counted as young.
Result<bool> Classify(Pass& p, Task& t, DeploymentTasks& d, double settle_seconds) {
  ASSIGN_OR_RETURN(bool unhealthy, StopIfUnhealthy(p, t, d));
  if (unhealthy) return false;
  bool running = t.last_status == TaskStatus::kRunning;
  (running ? d.running : d.pending).push_back(&t);
  if (running) {
    ASSIGN_OR_RETURN(bool healthy, Healthy(p, t, settle_seconds));
    if (!healthy) ++d.young;
  }
  return true;
}

// The service's tasks that can change a decision (not STOPPED, or a failure not yet
// counted), from an index, not every task of the cluster (issue 19).
Status ReadTasks(Pass& p) {
  ASSIGN_OR_RETURN(auto mine, state::records::ListServiceTasks(p.tx, p.svc.region, p.svc.cluster, p.svc.name));
  for (auto& t : mine) p.tasks.push_back(std::move(t));
  return Status::Ok();
}

// Step 1.
Status CountTasks(Pass& p, double settle_seconds) {
  Service& svc = p.svc;
  RETURN_IF_ERROR(ReadTasks(p));
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
    ASSIGN_OR_RETURN(bool kept, Classify(p, t, d, settle_seconds));
    if (!kept) continue;
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
// Adds the PRIMARY deployment's tasks that failed since the last pass to its failedTasks,
// each task once (it is marked counted).
Status CountFailures(Pass& p) {
  p.svc.Primary()->failed_tasks += p.primary().failed;
  p.primary().failed = 0;
  for (auto& t : p.tasks) {
    if (t.internal.deployment == p.primary_id && StoppedOnItsOwn(t) && !t.internal.counted) {
      t.internal.counted = true;
      RETURN_IF_ERROR(state::records::PutTask(p.tx, t));
    }
  }
  return Status::Ok();
}

// Names of the deployment alarms in ALARM (kecs's alarm source, reconcile/traffic_shift.h).
Result<std::vector<std::string>> FiringAlarms(Pass& p) {
  std::vector<std::string> out;
  const auto& alarms = p.svc.deployment_configuration.alarms;
  if (!alarms || !alarms->enable) return out;
  for (const auto& name : alarms->alarm_names) {
    ASSIGN_OR_RETURN(bool firing, AlarmFiring(p.tx, p.svc.region, name));
    if (firing) out.push_back(name);
  }
  return out;
}

// Why the PRIMARY deployment fails this pass, if it does.
struct Failure {
  std::string reason;        // the deployment's rolloutStateReason
  bool rollback = false;     // the configuration asks for a rollback
  std::string alarm_reason;  // "" for the circuit breaker; the reason when alarms fired
};

// The deployment circuit breaker, then the deployment alarms (DeploymentAlarms: "When the
// alarms are generated, Amazon ECS sets the service deployment to failed", for rolling
// updates as for the traffic-shifting strategies). Counts the failures first (CountFailures).
Result<std::optional<Failure>> DetectFailure(Pass& p) {
  Service& svc = p.svc;
  RETURN_IF_ERROR(CountFailures(p));
  const auto& cfg = svc.deployment_configuration;
  if (cfg.circuit_breaker_enable && svc.Primary()->failed_tasks >= CircuitBreakerThreshold(std::max(p.desired, 1))) {
    return std::optional<Failure>(
        Failure{"ECS deployment circuit breaker: tasks failed to start.", cfg.circuit_breaker_rollback, ""});
  }
  ASSIGN_OR_RETURN(auto firing, FiringAlarms(p));
  if (firing.empty()) return std::optional<Failure>();
  // A rollback is not failed by the alarms that started it (else a firing alarm would roll
  // back each rollback, pass after pass): kecs's rule, no AWS source says otherwise.
  ASSIGN_OR_RETURN(auto record, FindServiceDeployment(p.tx, svc, p.primary_id));
  if (record && record->rollback_deployment_id == p.primary_id) return std::optional<Failure>();
  std::string names;
  for (const auto& n : firing) names += (names.empty() ? "" : ", ") + n;
  // kecs's wording (ECS's alarm-based rollback reason text was not found).
  std::string reason = fmt::format("Deployment alarms in ALARM: {}.", names);
  return std::optional<Failure>(Failure{reason, cfg.alarms->rollback, reason});
}

// ECS's event for a failed deployment: the circuit breaker's words, else kecs's for alarms.
void AnnounceFailure(Pass& p, const std::string& deployment, const Failure& f) {
  model::AddServiceEvent(p.svc, p.now,
                         f.alarm_reason.empty()
                             ? fmt::format("{} (deployment {}) deployment failed: tasks failed to start.", p.tag, deployment)
                             : fmt::format("{} (deployment {}) deployment failed: {}", p.tag, deployment, f.reason));
}

Result<bool> CheckCircuitBreaker(Pass& p) {
  Service& svc = p.svc;
  model::Deployment& primary = *svc.Primary();
  if (primary.rollout_state != RolloutState::kInProgress) return false;
  ASSIGN_OR_RETURN(auto failure, DetectFailure(p));
  if (!failure) return false;
  primary.rollout_state = RolloutState::kFailed;
  primary.rollout_state_reason = failure->reason;
  primary.updated_at = EpochMillis(p.now);
  AnnounceFailure(p, p.primary_id, *failure);
  const int failed_tasks = primary.failed_tasks;
  const std::string& alarm_reason = failure->alarm_reason;
  if (!failure->rollback) {
    RETURN_IF_ERROR(
        RecordDeploymentFailed(p.tx, svc, p.primary_id, failed_tasks, nullptr, nullptr, p.now, alarm_reason));
    return false;
  }
  // Back to the last deployment that completed.
  std::optional<model::Deployment> good;
  for (size_t i = 1; i < svc.deployments.size() && !good; ++i) {
    if (svc.deployments[i].rollout_state == RolloutState::kCompleted) good = svc.deployments[i];
  }
  if (!good) good = svc.internal.last_completed;
  if (!good) {
    RETURN_IF_ERROR(
        RecordDeploymentFailed(p.tx, svc, p.primary_id, failed_tasks, nullptr, nullptr, p.now, alarm_reason));
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
  RETURN_IF_ERROR(
      RecordDeploymentFailed(p.tx, svc, p.primary_id, failed_tasks, &rollback, &*good, p.now, alarm_reason));
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
  AnnounceStopped(p);
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

// ---- Task sets (EXTERNAL and CODE_DEPLOY services) -------------------------------------
// Such a service has no deployments: each task set is kept at its computedDesiredCount
// (model::RecomputeTaskSetCounts) of tasks whose internal.deployment is the set's id,
// launched as a deployment of the set's task definition and network would be. Surplus
// tasks stop (pending first, scale-in protection honoured as in StopTasks), tasks of no
// task set stop, a DRAINING task set leaves the service once its last task is gone, and
// each set's stabilityStatus says whether it runs its count of healthy tasks.

model::Deployment DeploymentOf(const model::TaskSet& ts) {
  model::Deployment d;
  d.id = ts.id;
  d.status = ts.status == model::TaskSetStatus::kPrimary ? DeploymentStatus::kPrimary : DeploymentStatus::kActive;
  d.task_definition = ts.task_definition;
  d.desired_count = ts.computed_desired_count;
  d.launch_type = ts.launch_type;
  d.platform_version = ts.platform_version;
  d.capacity_provider_strategy = ts.capacity_provider_strategy;
  d.network_configuration = ts.network_configuration;
  return d;
}

Status ReconcileTaskSets(Pass& p, TaskLauncher& launcher, double settle_seconds) {
  Service& svc = p.svc;
  model::RecomputeTaskSetCounts(svc, EpochMillis(p.now));
  RETURN_IF_ERROR(ReadTasks(p));
  for (auto& t : p.tasks) {
    DeploymentTasks& d = p.by_dep[t.internal.deployment];
    if (t.last_status == TaskStatus::kStopped || t.desired_status == TaskStatus::kStopped) continue;
    ASSIGN_OR_RETURN(bool kept, Classify(p, t, d, settle_seconds));
    if (!kept) continue;
  }
  const bool honour_protection = svc.status != ServiceStatus::kDraining;
  std::set<std::string> set_ids;
  std::vector<std::string> started;
  std::string failure;
  for (auto& ts : svc.task_sets) {
    set_ids.insert(ts.id);
    DeploymentTasks& d = p.by_dep[ts.id];
    int active = static_cast<int>(d.running.size() + d.pending.size());
    const size_t stopped_before = p.stopped_ids.size();
    size_t launched_now = 0;
    for (auto* list : {&d.pending, &d.running}) {
      for (auto* t : *list) {
        if (active <= ts.computed_desired_count) break;
        if (honour_protection && model::ProtectedAt(*t, p.now)) continue;
        RETURN_IF_ERROR(SchedulerStops(
            p, *t, fmt::format("Scaling activity initiated by (deployment {})", ts.id)));
        --active;
      }
    }
    if (active < ts.computed_desired_count) {
      LaunchedTasks launched =
          launcher.LaunchServiceTasks(p.tx, svc, DeploymentOf(ts), ts.computed_desired_count - active, p.now);
      started.insert(started.end(), launched.task_ids.begin(), launched.task_ids.end());
      launched_now = launched.task_ids.size();
      if (!launched.failure.empty()) failure = launched.failure;
      active += static_cast<int>(launched.task_ids.size());
    }
    int running_healthy = 0;
    for (auto* t : d.running) {
      if (t->desired_status == TaskStatus::kRunning) ++running_healthy;
    }
    running_healthy -= d.young;
    // The TaskSet shape's rule: runningCount == computedDesiredCount, nothing pending,
    // every task healthy (health checks, targets); and the pass changed nothing.
    bool steady = p.stopped_ids.size() == stopped_before && launched_now == 0 && d.pending.empty() &&
                  running_healthy == ts.computed_desired_count;
    auto want = steady ? model::StabilityStatus::kSteadyState : model::StabilityStatus::kStabilizing;
    if (ts.stability_status != want) {
      ts.stability_status = want;
      ts.stability_status_at = EpochMillis(p.now);
    }
    p.total += active;
  }
  // Tasks of no task set (left by a task set that is gone) stop.
  for (auto& [dep, d] : p.by_dep) {
    if (set_ids.count(dep)) continue;
    for (auto* list : {&d.pending, &d.running}) {
      for (auto* t : *list) {
        RETURN_IF_ERROR(SchedulerStops(p, *t, fmt::format("Scaling activity initiated by (deployment {})", dep)));
      }
    }
  }
  // A DRAINING task set whose tasks are all gone leaves the service.
  std::erase_if(svc.task_sets, [&](const model::TaskSet& ts) {
    if (ts.status != model::TaskSetStatus::kDraining) return false;
    const DeploymentTasks& d = p.by_dep[ts.id];
    return d.running.empty() && d.pending.empty();
  });
  AnnounceStopped(p);
  if (!started.empty()) {
    std::string list;
    for (const auto& id : started) list += " (task " + id + ")";
    model::AddServiceEvent(svc, p.now, fmt::format("{} has started {} tasks:{}.", p.tag, started.size(), list));
  }
  if (!failure.empty()) {
    model::AddServiceEvent(svc, p.now, fmt::format("{} was unable to place a task. Reason: {}", p.tag, failure));
  }
  bool steady = p.stopped_ids.empty() && started.empty();
  for (const auto& ts : svc.task_sets) steady = steady && ts.stability_status == model::StabilityStatus::kSteadyState;
  if (steady && !svc.internal.steady) {
    svc.internal.steady = true;
    model::AddServiceEvent(svc, p.now, fmt::format("{} has reached a steady state.", p.tag));
  } else if (!steady) {
    svc.internal.steady = false;
  }
  // Tasks stopped this pass are still on their way out.
  p.total += static_cast<int>(p.stopped_ids.size());
  FinishDraining(p);
  return Status::Ok();
}


// ---- Traffic-shifting deployments (BLUE_GREEN, LINEAR, CANARY; issue 18) ---------------
// A new deployment of a service whose strategy shifts traffic, behind load balancers with
// an advancedConfiguration, runs through ECS's lifecycle stages (the model's
// ServiceDeploymentLifecycleStage, in its order) instead of the rolling steps 2-5:
//   RECONCILE_SERVICE (hooks; only with more than one older revision still running),
//   PRE_SCALE_UP (hooks), SCALE_UP (green starts desiredCount tasks in the other target
//   group and waits for them healthy), POST_SCALE_UP (hooks), TEST_TRAFFIC_SHIFT (the test
//   listener rule sends all its traffic to green; hooks), POST_TEST_TRAFFIC_SHIFT (hooks),
//   PRODUCTION_TRAFFIC_SHIFT (per step: PRE_PRODUCTION_TRAFFIC_SHIFT hooks, the step -- all
//   at once, stepPercent more, or canaryPercent then the rest --, PRODUCTION_TRAFFIC_SHIFT
//   hooks, the step's bake time), POST_PRODUCTION_TRAFFIC_SHIFT (hooks), BAKE_TIME
//   (bakeTimeInMinutes with blue still running), CLEAN_UP (blue's tasks stop).
// The service deployment record shows the stage and each hook run (lifecycleHookDetails).
// A PAUSE hook waits for ContinueServiceDeployment (or its timeout, 1440 minutes unless
// timeoutConfiguration says otherwise, then its timeoutAction, ROLLBACK by default); an
// AWS_LAMBDA hook fails (kecs runs no Lambda) and the deployment rolls back. A rollback
// (a hook's, ContinueServiceDeployment ROLLBACK, StopServiceDeployment, the circuit
// breaker with rollback, an alarm with rollback) puts all traffic back on blue at once,
// stops green's tasks and makes blue the PRIMARY deployment again; the rolling steps then
// complete it (ROLLBACK_SUCCESSFUL). Minutes are Options::minute_seconds long.

using model::kShiftStages;

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Deployments no longer in the service leave internal.alternate_deployments.
void DropGoneAlternates(Service& svc) {
  std::erase_if(svc.internal.alternate_deployments, [&](const std::string& id) {
    return std::none_of(svc.deployments.begin(), svc.deployments.end(),
                        [&](const model::Deployment& d) { return d.id == id; });
  });
}

// The service shifts traffic between target groups on its deployments.
bool ShiftsTraffic(const Service& svc) {
  if (svc.UsesTaskSets() || !svc.deployment_configuration.ShiftsTraffic()) return false;
  for (const auto& lb : svc.load_balancers) {
    if (lb.advanced && !lb.advanced->alternate_target_group_arn.empty()) return true;
  }
  return false;
}

enum class Step { kNext, kWait, kRollback };

struct ShiftPass {
  Pass& p;
  TaskLauncher& launcher;
  double minute;  // seconds
  model::TrafficShift& t;
  std::optional<model::ServiceDeployment> record;  // green's
  bool record_changed = false;

  const model::DeploymentConfiguration& cfg() const { return p.svc.deployment_configuration; }

  // Production (and test) traffic: `green_percent` of production, `test_percent` of test.
  Status SetWeights(double green_percent, double test_percent) {
    bool blue_alt = Has(p.svc.internal.alternate_deployments, t.blue);
    for (const auto& lb : p.svc.load_balancers) {
      if (!lb.advanced || lb.advanced->alternate_target_group_arn.empty()) continue;
      const std::string& alt = lb.advanced->alternate_target_group_arn;
      const std::string& blue_tg = blue_alt ? alt : lb.target_group_arn;
      const std::string& green_tg = blue_alt ? lb.target_group_arn : alt;
      RETURN_IF_ERROR(SetRuleWeights(p.tx, p.svc.region, lb.advanced->production_listener_rule, blue_tg, green_tg,
                                     green_percent));
      if (!lb.advanced->test_listener_rule.empty()) {
        RETURN_IF_ERROR(
            SetRuleWeights(p.tx, p.svc.region, lb.advanced->test_listener_rule, blue_tg, green_tg, test_percent));
      }
    }
    return Status::Ok();
  }

  void Enter(std::string_view stage) {
    t.stage = std::string(stage);
    t.stage_at = p.now;
    t.hook = 0;
    t.step_phase = 0;
    if (record) {
      record->lifecycle_stage = stage;
      record->updated_at = EpochMillis(p.now);
      record_changed = true;
    }
  }

  Json* Detail(const std::string& hook_id) {
    if (!record) return nullptr;
    for (auto& d : record->lifecycle_hook_details) {
      if (JStr(d, "hookId") == hook_id) return &d;
    }
    return nullptr;
  }

  void AddDetail(Json d) {
    if (!record) return;
    record->lifecycle_hook_details.push_back(std::move(d));
    record->updated_at = EpochMillis(p.now);
    record_changed = true;
  }

  // Runs the hooks of `stage` from t.hook on.
  Step RunHooks(const std::string& stage) {
    std::vector<const model::DeploymentLifecycleHook*> hooks;
    if (cfg().lifecycle_hooks) {
      for (const auto& h : *cfg().lifecycle_hooks) {
        if (Has(h.lifecycle_stages, stage)) hooks.push_back(&h);
      }
    }
    while (t.hook < static_cast<int>(hooks.size())) {
      const auto& h = *hooks[static_cast<size_t>(t.hook)];
      if (h.TargetType() == "AWS_LAMBDA") {
        // kecs runs no Lambda: the invocation fails as it would for a function that does
        // not exist (Lambda's ResourceNotFoundException, "Function not found: <arn>").
        Json d = {{"hookId", model::NewServiceDeploymentId()}, {"targetType", "AWS_LAMBDA"},
                  {"targetArn", h.hook_target_arn}, {"status", "FAILED"}};
        AddDetail(std::move(d));
        t.reason = fmt::format("Lifecycle hook {} failed at {}: Function not found: {}", h.hook_target_arn, stage,
                               h.hook_target_arn);
        return Step::kRollback;
      }
      const Json& timeout = h.timeout_configuration;
      if (t.paused_hook.empty()) {
        t.paused_hook = model::NewServiceDeploymentId();
        double minutes = timeout.is_object() ? static_cast<double>(JInt(timeout, "timeoutInMinutes", 1440)) : 1440;
        t.expires_at = EpochMillis(p.now + minutes * minute);
        t.timeout_action = timeout.is_object() ? JStr(timeout, "action", "ROLLBACK") : "ROLLBACK";
        Json d = {{"hookId", t.paused_hook},
                  {"targetType", "PAUSE"},
                  {"status", "AWAITING_ACTION"},
                  {"expiresAt", t.expires_at},
                  {"timeoutAction", t.timeout_action}};
        AddDetail(std::move(d));
        // kecs's wording (no ECS event text for a paused deployment was found).
        model::AddServiceEvent(p.svc, p.now,
                               fmt::format("{} (deployment {}) paused at lifecycle stage {} (hook {}).", p.tag,
                                           t.green, stage, t.paused_hook));
        return Step::kWait;
      }
      Json* d = Detail(t.paused_hook);
      std::string action = t.action;
      if (action.empty()) {
        // The shift's own copy of the expiry first: the record may be gone (a shift kept
        // from before the copy, without its record, counts as expired).
        double expires = t.expires_at > 0 ? t.expires_at : (d ? d->value("expiresAt", 0.0) : 0.0);
        if (p.now < expires) return Step::kWait;
        action = !t.timeout_action.empty() ? t.timeout_action : d ? JStr(*d, "timeoutAction", "ROLLBACK") : "ROLLBACK";
        if (d) (*d)["status"] = "TIMED_OUT";
      } else if (d) {
        (*d)["status"] = "SUCCEEDED";
      }
      record_changed = true;
      t.paused_hook.clear();
      t.action.clear();
      t.expires_at = 0;
      t.timeout_action.clear();
      if (action == "ROLLBACK") {
        if (t.reason.empty()) t.reason = fmt::format("Rollback requested at lifecycle stage {}.", stage);
        return Step::kRollback;
      }
      ++t.hook;
    }
    t.hook = 0;
    return Step::kNext;
  }

  double NextPercent() const {
    const std::string strategy = cfg().Strategy();
    if (strategy == "LINEAR") {
      double step = cfg().linear ? cfg().linear->step_percent.value_or(10.0) : 10.0;
      return std::min(100.0, t.green_percent + step);
    }
    if (strategy == "CANARY" && t.green_percent <= 0) {
      return cfg().canary ? cfg().canary->canary_percent.value_or(5.0) : 5.0;
    }
    return 100.0;
  }

  double StepBakeMinutes() const {
    const std::string strategy = cfg().Strategy();
    // The model's defaults: 6 minutes a linear step, 10 for the canary.
    if (strategy == "LINEAR") return cfg().linear ? cfg().linear->step_bake_time_in_minutes.value_or(6) : 6;
    if (strategy == "CANARY") return cfg().canary ? cfg().canary->canary_bake_time_in_minutes.value_or(10) : 10;
    return 0;
  }

  Step ProductionShift() {
    while (true) {
      if (t.step_phase == 0) {
        Step s = RunHooks("PRE_PRODUCTION_TRAFFIC_SHIFT");
        if (s != Step::kNext) return s;
        t.green_percent = NextPercent();
        t.step_phase = 1;
        // kecs's wording.
        model::AddServiceEvent(p.svc, p.now,
                               fmt::format("{} (deployment {}) shifted {}% of production traffic.", p.tag, t.green,
                                           t.green_percent));
      }
      if (t.step_phase == 1) {
        Step s = RunHooks("PRODUCTION_TRAFFIC_SHIFT");
        if (s != Step::kNext) return s;
        if (t.green_percent >= 100) return Step::kNext;
        t.step_phase = 2;
        t.stage_at = p.now;
      }
      if (p.now < t.stage_at + StepBakeMinutes() * minute) return Step::kWait;
      t.step_phase = 0;
    }
  }

  Result<Step> RunStage() {
    const std::string& stage = t.stage;
    DeploymentTasks& green = p.by_dep[t.green];
    if (stage == "RECONCILE_SERVICE") {
      if (p.svc.deployments.size() <= 2) return Step::kNext;
      return RunHooks(stage);
    }
    if (stage == "SCALE_UP") {
      int healthy = 0;
      for (auto* task : green.running) {
        if (task->desired_status == TaskStatus::kRunning) ++healthy;
      }
      healthy -= green.young;
      return healthy >= p.desired && green.pending.empty() ? Step::kNext : Step::kWait;
    }
    if (stage == "TEST_TRAFFIC_SHIFT") {
      RETURN_IF_ERROR(SetWeights(t.green_percent, 100));
      return RunHooks(stage);
    }
    if (stage == "PRODUCTION_TRAFFIC_SHIFT") {
      Step s = ProductionShift();
      RETURN_IF_ERROR(SetWeights(t.green_percent, 100));
      return s;
    }
    if (stage == "BAKE_TIME") {
      double bake = static_cast<double>(cfg().bake_time_in_minutes.value_or(0));
      return p.now >= t.stage_at + bake * minute ? Step::kNext : Step::kWait;
    }
    if (stage == "CLEAN_UP") {
      bool left = false;
      for (auto& [dep, d] : p.by_dep) {
        if (dep == t.green) continue;
        for (auto* list : {&d.pending, &d.running}) {
          for (auto* task : *list) {
            if (task->desired_status == TaskStatus::kStopped) {
              left = true;
              continue;
            }
            if (model::ProtectedAt(*task, p.now)) {
              left = true;
              continue;
            }
            RETURN_IF_ERROR(SchedulerStops(p, *task, fmt::format("Scaling activity initiated by (deployment {})", t.green)));
            left = true;
          }
        }
      }
      return left ? Step::kWait : Step::kNext;
    }
    return RunHooks(stage);  // the hook-only stages
  }

  // The deployment ends while a PAUSE hook waits: the hook gets no action, and its detail
  // ends FAILED (kecs's choice of the model's DeploymentLifecycleHookStatus).
  void EndPause() {
    if (t.paused_hook.empty()) return;
    if (Json* d = Detail(t.paused_hook); d && JStr(*d, "status") == "AWAITING_ACTION") {
      (*d)["status"] = "FAILED";
      record_changed = true;
    }
    t.paused_hook.clear();
    t.action.clear();
    t.expires_at = 0;
    t.timeout_action.clear();
  }

  // Stops green's tasks (blue's deployment stops them, in ECS's words).
  Status StopGreen() {
    DeploymentTasks& d = p.by_dep[t.green];
    for (auto* list : {&d.pending, &d.running}) {
      for (auto* task : *list) {
        if (task->desired_status == TaskStatus::kStopped) continue;
        RETURN_IF_ERROR(SchedulerStops(p, *task, fmt::format("Scaling activity initiated by (deployment {})", t.blue)));
      }
    }
    return Status::Ok();
  }

  Status Rollback() {
    Service& svc = p.svc;
    EndPause();
    RETURN_IF_ERROR(SetWeights(0, 0));
    const std::string reason = t.reason.empty() ? "Rollback requested." : t.reason;
    RETURN_IF_ERROR(StopGreen());
    auto blue_it = std::find_if(svc.deployments.begin(), svc.deployments.end(),
                                [&](const model::Deployment& d) { return d.id == t.blue; });
    for (auto& d : svc.deployments) {
      d.status = DeploymentStatus::kActive;
      if (d.id == t.green) {
        d.rollout_state = RolloutState::kFailed;
        d.rollout_state_reason = reason;
        d.updated_at = EpochMillis(p.now);
      }
    }
    if (blue_it != svc.deployments.end()) {
      model::Deployment blue = *blue_it;
      svc.deployments.erase(blue_it);
      blue.status = DeploymentStatus::kPrimary;
      blue.rollout_state = RolloutState::kInProgress;
      blue.rollout_state_reason = "ECS deployment " + blue.id + " in progress.";
      blue.desired_count = svc.desired_count;
      blue.updated_at = EpochMillis(p.now);
      svc.deployments.insert(svc.deployments.begin(), blue);
      svc.task_definition = blue.task_definition;
      // As the circuit breaker's rollback words its event.
      model::AddServiceEvent(svc, p.now, fmt::format("{} rolling back to deployment {}.", p.tag, blue.id));
      if (record) {
        ASSIGN_OR_RETURN(std::string revision, RevisionArnOf(p.tx, svc, blue.id));
        StartRollback(*record, blue, revision, reason, p.now);
        record_changed = true;
      }
    }
    std::erase(svc.internal.alternate_deployments, t.green);
    svc.internal.steady = false;
    AnnounceStopped(p);
    return Status::Ok();
  }
};

// Runs a traffic-shifting deployment; returns true when it handled the pass (the rolling
// steps 2-5 are skipped).
Result<bool> RunTrafficShift(Pass& p, TaskLauncher& launcher, double minute_seconds) {
  Service& svc = p.svc;
  auto& in = svc.internal;
  model::Deployment& primary = *svc.Primary();
  if (!in.shift) {
    if (svc.status != ServiceStatus::kActive || primary.rollout_state != RolloutState::kInProgress ||
        primary.id == in.shifted) {
      return false;
    }
    const DeploymentTasks& own = p.by_dep[primary.id];
    if (!own.running.empty() || !own.pending.empty()) return false;
    // Blue: the deployment that serves (the last completed one when it still runs).
    std::string blue;
    for (size_t i = 1; i < svc.deployments.size(); ++i) {
      const std::string& id = svc.deployments[i].id;
      if (p.by_dep[id].running.empty()) continue;
      if (blue.empty() || (in.last_completed && in.last_completed->id == id)) blue = id;
    }
    if (blue.empty()) return false;  // nothing serves yet: a plain first deployment
    model::TrafficShift t;
    t.green = primary.id;
    t.blue = blue;
    in.shifted = primary.id;
    std::erase(in.alternate_deployments, t.green);
    if (!Has(in.alternate_deployments, blue)) in.alternate_deployments.push_back(t.green);
    DropGoneAlternates(svc);
    in.shift = t;
  }
  model::TrafficShift& t = *in.shift;
  if (t.green != primary.id) {
    // A newer deployment superseded the shift: traffic goes back to blue, and the newer one
    // starts its own shift from it on a later pass.
    ShiftPass back{p, launcher, minute_seconds, t, std::nullopt};
    RETURN_IF_ERROR(back.SetWeights(0, 0));
    in.shift.reset();
    return true;
  }
  if (t.failed) return true;  // blue serves until a newer deployment (see below)
  ShiftPass sp{p, launcher, minute_seconds, t, std::nullopt};
  ASSIGN_OR_RETURN(sp.record, FindServiceDeployment(p.tx, svc, t.green));
  if (sp.record && sp.record->deployment_id != t.green) sp.record.reset();
  svc.internal.steady = false;
  if (t.stage.empty()) {
    RETURN_IF_ERROR(sp.SetWeights(0, 0));
    sp.Enter(kShiftStages[0]);
  }
  ASSIGN_OR_RETURN(auto failure, DetectFailure(p));
  if (failure && !failure->alarm_reason.empty() && sp.record) {
    sp.record->alarms_status = "TRIGGERED";
    sp.record_changed = true;
  }
  if (failure && !failure->rollback) {
    // Failed without rollback: the deployment stops where it is. Blue keeps (or gets back)
    // all the traffic and keeps its tasks; green's tasks stop; the shift stays, failed, so
    // the rolling steps do not drain blue toward a green nothing routes to, until a newer
    // deployment supersedes it (or the service is deleted).
    t.green_percent = 0;
    t.failed = true;
    sp.EndPause();
    RETURN_IF_ERROR(sp.SetWeights(0, 0));
    RETURN_IF_ERROR(sp.StopGreen());
    primary.rollout_state = RolloutState::kFailed;
    primary.rollout_state_reason = failure->reason;
    primary.updated_at = EpochMillis(p.now);
    AnnounceFailure(p, t.green, *failure);
    AnnounceStopped(p);
    if (sp.record && sp.record_changed) RETURN_IF_ERROR(state::records::PutServiceDeployment(p.tx, *sp.record));
    RETURN_IF_ERROR(RecordDeploymentFailed(p.tx, svc, t.green, primary.failed_tasks, nullptr, nullptr, p.now,
                                           failure->alarm_reason));
    return true;
  }
  Step step = Step::kWait;
  if (failure) {
    t.reason = failure->reason;
    step = Step::kRollback;
  } else if (t.action == "ROLLBACK" && t.paused_hook.empty()) {
    step = Step::kRollback;  // StopServiceDeployment
  } else {
    // Stages advance as far as they can in one pass.
    for (size_t guard = 0; guard < 4 * kShiftStages.size(); ++guard) {
      ASSIGN_OR_RETURN(step, sp.RunStage());
      if (step != Step::kNext) break;
      if (t.stage == kShiftStages.back()) break;
      auto it = std::find_if(kShiftStages.begin(), kShiftStages.end(), [&](std::string_view s) { return t.stage == s; });
      sp.Enter(*(it + 1));
      if (t.stage == "SCALE_UP") {
        // Green starts its tasks in full, whatever maximumPercent says (blue keeps serving).
        p.max_total = p.total + p.desired;
        StartTasks(p, launcher);
      }
    }
  }
  bool finished = step == Step::kNext && t.stage == kShiftStages.back();
  if (step == Step::kRollback) {
    RETURN_IF_ERROR(sp.Rollback());
    in.shift.reset();
  } else if (!finished) {
    // Old deployments other than blue stop; green keeps desiredCount once scaled up.
    for (auto& [dep, d] : p.by_dep) {
      if (dep == t.green || dep == t.blue) continue;
      for (auto* list : {&d.pending, &d.running}) {
        for (auto* task : *list) {
          if (task->desired_status != TaskStatus::kStopped) RETURN_IF_ERROR(StopTask(p, *task));
        }
      }
    }
    auto at = std::find_if(kShiftStages.begin(), kShiftStages.end(), [&](std::string_view s) { return t.stage == s; });
    if (at - kShiftStages.begin() >= 2) {
      p.max_total = p.total + p.desired;
      StartTasks(p, launcher);
    }
    AnnounceStopped(p);
  } else {
    // Blue is gone: green serves from its target groups, and the rolling steps complete it.
    std::erase(in.alternate_deployments, t.blue);
    in.shift.reset();
  }
  if (sp.record && sp.record_changed) RETURN_IF_ERROR(state::records::PutServiceDeployment(p.tx, *sp.record));
  return !finished;
}

// A shift of a service that no longer shifts traffic (DeleteService made it DRAINING, or
// UpdateService changed its strategy or load balancers) ends here, and the pass with it:
// with production already all on green, as a finished shift ends (the rolling steps then
// stop blue); else production goes back to blue, green's tasks stop and green moves into
// blue's target group, where the rolling steps start it again. Either way the rule
// forwards to the group the remaining tasks register in.
Status AbandonShift(Pass& p, TaskLauncher& launcher, double minute_seconds) {
  auto& in = p.svc.internal;
  model::TrafficShift t = *in.shift;
  in.shift.reset();
  in.steady = false;
  ShiftPass sp{p, launcher, minute_seconds, t, std::nullopt};
  ASSIGN_OR_RETURN(sp.record, FindServiceDeployment(p.tx, p.svc, t.green));
  if (sp.record && sp.record->deployment_id != t.green) sp.record.reset();
  sp.EndPause();
  if (t.green_percent >= 100 && !t.failed) {
    std::erase(in.alternate_deployments, t.blue);
  } else {
    RETURN_IF_ERROR(sp.SetWeights(0, 0));
    RETURN_IF_ERROR(sp.StopGreen());
    std::erase(in.alternate_deployments, t.green);
    if (Has(in.alternate_deployments, t.blue)) in.alternate_deployments.push_back(t.green);
    AnnounceStopped(p);
  }
  if (sp.record && sp.record_changed) RETURN_IF_ERROR(state::records::PutServiceDeployment(p.tx, *sp.record));
  return Status::Ok();
}

// While no shift runs, names the alternate target group at weight 0 beside the serving one
// in the production and test listener rules that forward to only one of the two: the load
// balancer then has both groups before a deployment starts, and the shift's steps are only
// new weights, which the data plane takes without a reload (runtime/local/lb_proxy.h). A
// rule forwarding elsewhere is left alone, and so is an alternate group that another load
// balancer forwards to (ELBv2 allows a group behind one load balancer only: the shift
// itself then fails as on AWS, not the service's creation).
Status NameBothGroups(Pass& p) {
  if (p.svc.internal.shift) return Status::Ok();
  for (const auto& lb : p.svc.load_balancers) {
    if (!lb.advanced || lb.advanced->alternate_target_group_arn.empty()) continue;
    const std::string& alt = lb.advanced->alternate_target_group_arn;
    ASSIGN_OR_RETURN(auto users, state::records::LoadBalancersOfTargetGroup(p.tx, p.svc.region,
                                                                            model::IdFromArn(alt, "targetgroup")));
    for (const std::string* rule : {&lb.advanced->production_listener_rule, &lb.advanced->test_listener_rule}) {
      if (rule->empty()) continue;
      // ".../listener-rule/app/<name>/<load balancer id>/..." (or ".../listener/...").
      std::vector<std::string> parts = Split(*rule, '/');
      if (parts.size() < 4 || std::any_of(users.begin(), users.end(),
                                          [&](const std::string& id) { return id != parts[3]; })) {
        continue;
      }
      ASSIGN_OR_RETURN(auto ref, FindListenerRule(p.tx, p.svc.region, *rule));
      if (!ref) continue;
      std::vector<std::string> groups = ForwardTargetGroups(*ref);
      if (groups.size() != 1 || (groups[0] != lb.target_group_arn && groups[0] != alt)) continue;
      const std::string& other = groups[0] == alt ? lb.target_group_arn : alt;
      RETURN_IF_ERROR(SetRuleWeights(p.tx, p.svc.region, *rule, groups[0], other, 0));
    }
  }
  return Status::Ok();
}

// True when the production listener rule of the service's (first) traffic-shifting load
// balancer sends more of its traffic to the alternate target group than to targetGroupArn.
Result<bool> AlternateServes(Pass& p) {
  for (const auto& lb : p.svc.load_balancers) {
    if (!lb.advanced || lb.advanced->alternate_target_group_arn.empty()) continue;
    const std::string& alt = lb.advanced->alternate_target_group_arn;
    ASSIGN_OR_RETURN(auto ref, FindListenerRule(p.tx, p.svc.region, lb.advanced->production_listener_rule));
    if (!ref) return false;
    int64_t to_alt = 0, to_main = 0;
    for (const auto& a : ref->Actions()) {
      if (a.type != model::ActionType::kForward) continue;
      if (!a.target_group_arn.empty()) (a.target_group_arn == alt ? to_alt : to_main) += 1;
      for (const auto& w : a.forward) {
        if (w.target_group_arn == alt) to_alt += w.weight;
        if (w.target_group_arn == lb.target_group_arn) to_main += w.weight;
      }
    }
    return to_alt > to_main;
  }
  return false;
}

// A PRIMARY deployment that runs without a shift (the rolling strategy, a first
// deployment, one with nothing older left running) registers its tasks in the target
// group production traffic goes to now: after a completed shift that is the alternate
// group. Decided while it has no live task (so no target moves); deployments no longer
// in the service leave the list.
Status JoinServingGroup(Pass& p) {
  auto& in = p.svc.internal;
  DropGoneAlternates(p.svc);
  const DeploymentTasks& own = p.primary();
  if (in.shift || !own.running.empty() || !own.pending.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(bool alternate, AlternateServes(p));
  if (alternate == Has(in.alternate_deployments, p.primary_id)) return Status::Ok();
  if (alternate) {
    in.alternate_deployments.push_back(p.primary_id);
  } else {
    std::erase(in.alternate_deployments, p.primary_id);
  }
  return Status::Ok();
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
  if (svc.UsesTaskSets()) {
    Pass p(tx, svc, clock_.Now());
    return ReconcileTaskSets(p, launcher_, static_cast<double>(options_.settle.count()) / 1000.0);
  }
  if (svc.deployments.empty()) return Status::Ok();
  Pass p(tx, svc, clock_.Now());
  RETURN_IF_ERROR(CountTasks(p, static_cast<double>(options_.settle.count()) / 1000.0));
  if (svc.internal.shift && (svc.status != ServiceStatus::kActive || !ShiftsTraffic(svc))) {
    return AbandonShift(p, launcher_, options_.minute_seconds);
  }
  if (ShiftsTraffic(svc)) {
    RETURN_IF_ERROR(NameBothGroups(p));
    ASSIGN_OR_RETURN(bool handled, RunTrafficShift(p, launcher_, options_.minute_seconds));
    if (handled) return Status::Ok();
  }
  RETURN_IF_ERROR(JoinServingGroup(p));
  ASSIGN_OR_RETURN(bool rolled_back, CheckCircuitBreaker(p));
  if (rolled_back) return Status::Ok();
  RETURN_IF_ERROR(StopTasks(p));
  StartTasks(p, launcher_);
  RETURN_IF_ERROR(CheckCompletion(p));
  FinishDraining(p);
  return Status::Ok();
}

}  // namespace kecs::reconcile
