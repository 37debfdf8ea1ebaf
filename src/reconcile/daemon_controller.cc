#include "reconcile/daemon_controller.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "model/arn.h"
#include "model/daemon.h"
#include "model/kinds.h"
#include "model/task.h"
#include "state/records/tasks.h"

namespace kecs::reconcile {
namespace {

using model::StopCode;
using model::Task;
using model::TaskStatus;

bool Live(const Task& t) { return t.last_status != TaskStatus::kStopped; }

// Seconds a daemon task that failed keeps its instance from a new one (kecs's choice; AWS
// documents no delay for daemons).
constexpr double kRelaunchDelay = 5.0;

Status SchedulerStops(state::Tx& tx, Task& t, double now, std::string reason) {
  t.desired_status = TaskStatus::kStopped;
  t.stop_code = StopCode::kServiceSchedulerInitiated;
  t.stopped_reason = std::move(reason);
  t.stopping_at = EpochMillis(now);
  ++t.version;
  return state::records::PutTask(tx, t);
}

std::vector<std::string> Strings(const Json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& s : j) {
      if (s.is_string()) out.push_back(s.get<std::string>());
    }
  }
  return out;
}

// One daemon's pass (the steps in the header), inside `tx`.
class DaemonPass {
 public:
  DaemonPass(state::Tx& tx, state::Object& daemon, DaemonTaskLauncher& launcher, double now, double minute_seconds)
      : tx_(tx), d_(daemon), launcher_(launcher), now_(now), minute_seconds_(minute_seconds) {}

  Status Run() {
    const std::string region = d_.region;
    const std::string key = d_.id;  // CLUSTER/NAME
    ASSIGN_OR_RETURN(auto dep, tx_.Get(model::kDaemonDeployment, region,
                                       key + "/" + JStr(d_.internal, "deployment")));
    if (!dep) return Internal(fmt::format("daemon {}: its deployment is missing", key));
    dep_ = std::move(*dep);
    const Json dep_before = dep_.doc, dep_internal_before = dep_.internal;
    ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx_, {model::kTask, region, d_.parent}));
    for (auto& t : all) {
      if (t.group == model::DaemonTaskGroup(d_.name)) tasks_.push_back(std::move(t));
    }
    if (d_.status == "DELETE_IN_PROGRESS") {
      RETURN_IF_ERROR(Delete());
    } else {
      RETURN_IF_ERROR(Roll());
    }
    if (daemon_gone_) return Status::Ok();  // its deployments and revisions went with it
    if (dep_.doc != dep_before || dep_.internal != dep_internal_before) RETURN_IF_ERROR(tx_.Put(dep_));
    if (daemon_changed_) RETURN_IF_ERROR(tx_.Put(d_));
    return Status::Ok();
  }

  bool daemon_gone() const { return daemon_gone_; }

 private:
  void SetStatus(const char* status) {
    dep_.status = status;
    dep_.doc["status"] = status;
  }

  Status Delete() {
    bool any = false;
    for (auto& t : tasks_) {
      if (!Live(t)) continue;
      any = true;
      if (t.desired_status != TaskStatus::kStopped) {
        RETURN_IF_ERROR(SchedulerStops(tx_, t, now_, fmt::format("Daemon {} deleted", d_.name)));
      }
    }
    if (dep_.status == model::kDaemonDeploymentPending) {
      SetStatus(model::kDaemonDeploymentInProgress);
      dep_.doc["startedAt"] = now_;
    }
    if (any) return Status::Ok();
    SetStatus(model::kDaemonDeploymentSuccessful);
    dep_.doc["finishedAt"] = now_;
    dep_.doc.erase("statusReason");
    daemon_gone_ = true;
    // The daemon's deployments and revisions go with it, as DeleteService deletes a
    // service's deployment history (service-deployment.html); DescribeDaemonDeployments
    // and DescribeDaemonRevisions then answer MISSING for them.
    for (const char* kind : {model::kDaemonDeployment, model::kDaemonRevision}) {
      ASSIGN_OR_RETURN(auto rows, tx_.List({kind, d_.region, d_.id}));
      for (const auto& r : rows) RETURN_IF_ERROR(tx_.Delete(kind, d_.region, r.id).status());
    }
    return tx_.Delete(model::kDaemon, d_.region, d_.id).status();
  }

  // The circuit breaker tripped (failureCount reached its threshold): back to the revision
  // the deployment replaces, or, with none (the daemon's first deployment), no rollback and
  // no more launches. The model's DaemonDeploymentStatus has no FAILED: its rollback states
  // are used, as ECS's service deployments roll back on a tripped breaker.
  Status Trip(int64_t failed) {
    Json& cb = dep_.doc["circuitBreaker"];
    cb["status"] = "TRIGGERED";
    std::optional<state::Object> back;
    for (const auto& s : dep_.internal.value("sources", Json::array())) {
      if (back || !s.is_string()) continue;
      ASSIGN_OR_RETURN(back, tx_.Get(model::kDaemonRevision, d_.region, d_.id + "/" + s.get<std::string>()));
    }
    dep_.internal["batch"] = Json::array();
    dep_.internal.erase("stepDoneAt");
    if (!back) {
      SetStatus(model::kDaemonDeploymentRollbackFailed);
      dep_.doc["finishedAt"] = now_;
      dep_.doc["statusReason"] = fmt::format(
          "The deployment circuit breaker was triggered after {} daemon tasks failed; there is no earlier daemon "
          "revision to roll back to.", failed);
      return Status::Ok();
    }
    auto arn = model::Arn::Parse(JStr(d_.doc, "daemonArn"));
    Json cps = Json::array();
    for (const auto& cp : Strings(back->internal.value("capacityProviders", Json::array()))) {
      cps.push_back(model::EcsArn(d_.region, arn ? arn->account : "000000000000", "capacity-provider/" + cp));
    }
    const std::string reason = fmt::format("The deployment circuit breaker was triggered after {} daemon tasks failed.", failed);
    SetStatus(model::kDaemonDeploymentRollbackInProgress);
    dep_.doc["statusReason"] = reason;
    dep_.doc["rollback"] = {{"reason", reason},
                            {"startedAt", now_},
                            {"rollbackTargetDaemonRevisionArn", JStr(back->doc, "daemonRevisionArn")},
                            {"rollbackCapacityProviders", cps}};
    dep_.internal["rollbackTo"] = back->name;
    dep_.internal["rollbackFailureBase"] = failed;
    d_.internal["revision"] = back->name;  // the daemon runs the old revision again
    daemon_changed_ = true;
    return Status::Ok();
  }

  Status Roll() {
    if (dep_.status == model::kDaemonDeploymentRollbackFailed) return Status::Ok();  // nothing to run
    const bool rollback = dep_.status == model::kDaemonDeploymentRollbackInProgress ||
                          dep_.status == model::kDaemonDeploymentRollbackSuccessful;
    const std::string target = JStr(dep_.internal, rollback ? "rollbackTo" : "target");
    ASSIGN_OR_RETURN(auto rev, tx_.Get(model::kDaemonRevision, d_.region, d_.id + "/" + target));
    if (!rev) return Internal(fmt::format("daemon {}: revision {} is missing", d_.id, target));
    const std::vector<std::string> providers = Strings(rev->internal.value("capacityProviders", Json::array()));
    if (providers.empty()) return Internal(fmt::format("daemon {}: revision {} has no capacity provider", d_.id, target));

    // Covered instances and the provider each runs its daemon task for.
    ASSIGN_OR_RETURN(auto instances, tx_.List({model::kInstance, d_.region, d_.parent}));
    std::map<std::string, std::string> covered;  // instance id -> capacity provider
    std::vector<std::string> active;             // covered ACTIVE instances, in registration order
    for (const auto& i : instances) {
      if (i.status != "ACTIVE" && i.status != "DRAINING") continue;
      std::string cp = JStr(i.doc, "capacityProviderName");
      if (cp.empty()) {
        cp = providers.front();
      } else if (std::find(providers.begin(), providers.end(), cp) == providers.end()) {
        continue;
      }
      covered[i.id] = cp;
      if (i.status == "ACTIVE") active.push_back(i.id);
    }

    if (dep_.status == model::kDaemonDeploymentPending) {
      SetStatus(model::kDaemonDeploymentInProgress);
      dep_.doc["startedAt"] = now_;
      // The circuit breaker watches the deployment with ECS's service threshold (half the
      // instances, at least 3, at most 200) over the covered instances.
      if (dep_.doc.contains("circuitBreaker")) {
        dep_.doc["circuitBreaker"]["status"] = "MONITORING";
        dep_.doc["circuitBreaker"]["threshold"] = CircuitBreakerThreshold(static_cast<int>(active.size()));
      }
    }
    const bool rolling = dep_.status == model::kDaemonDeploymentInProgress ||
                         dep_.status == model::kDaemonDeploymentRollbackInProgress;

    // Step 3, and the daemon's live tasks per covered instance.
    std::map<std::string, std::vector<Task*>> on;
    for (auto& t : tasks_) {
      if (!Live(t)) continue;
      const std::string inst = t.internal.placement ? t.internal.placement->instance : "";
      if (!covered.count(inst)) {
        if (t.desired_status != TaskStatus::kStopped) {
          RETURN_IF_ERROR(SchedulerStops(tx_, t, now_, "Container instance is not covered by the daemon's capacity providers"));
        }
        continue;
      }
      on[inst].push_back(&t);
    }
    // Target-revision tasks that stopped on their own count as failures (once each), and
    // hold their instance's replacement back for kRelaunchDelay, so that a task that
    // cannot start (an image that does not pull) is not relaunched in a tight loop.
    int failures = 0;
    std::set<std::string> cooling;
    for (auto& t : tasks_) {
      if (Live(t) || t.internal.deployment != target) continue;
      if (t.stop_code == StopCode::kServiceSchedulerInitiated || t.stop_code == StopCode::kUserInitiated) continue;
      if (t.internal.placement && t.stopped_at.value_or(0) > now_ - kRelaunchDelay) {
        cooling.insert(t.internal.placement->instance);
      }
      if (t.internal.counted) continue;
      t.internal.counted = true;
      ++t.version;
      RETURN_IF_ERROR(state::records::PutTask(tx_, t));
      ++failures;
    }
    if (failures > 0 && dep_.doc.contains("circuitBreaker")) {
      Json& cb = dep_.doc["circuitBreaker"];
      const int64_t count = JInt(cb, "failureCount") + failures;
      cb["failureCount"] = count;
      const int64_t threshold = JInt(cb, "threshold");
      if (JStr(cb, "status") == "MONITORING" && threshold > 0 && count >= threshold &&
          dep_.status == model::kDaemonDeploymentInProgress) {
        return Trip(count);
      }
      if (dep_.status == model::kDaemonDeploymentRollbackInProgress && threshold > 0 &&
          count - JInt(dep_.internal, "rollbackFailureBase") >= threshold) {
        // The old revision fails too: the rollback fails, and nothing more is launched.
        SetStatus(model::kDaemonDeploymentRollbackFailed);
        dep_.doc["finishedAt"] = now_;
        dep_.doc["statusReason"] = fmt::format("The rollback failed: {} daemon tasks of the earlier revision failed.",
                                               count - JInt(dep_.internal, "rollbackFailureBase"));
        return Status::Ok();
      }
    }

    std::vector<std::string> candidates, empty;
    std::set<std::string> done;  // instances running a RUNNING target task and nothing else
    bool old_left = false;
    for (const auto& inst : active) {
      Task* fresh = nullptr;
      std::vector<Task*> old;
      for (Task* t : on[inst]) {
        if (t->internal.deployment == target && t->desired_status == TaskStatus::kRunning && !fresh) {
          fresh = t;
        } else {
          old.push_back(t);
        }
      }
      bool old_running = false;
      for (Task* t : old) {
        old_left = true;
        // A surplus task beside a running target task goes at once.
        if (fresh && fresh->last_status == TaskStatus::kRunning && t->desired_status != TaskStatus::kStopped) {
          RETURN_IF_ERROR(SchedulerStops(tx_, *t, now_, Reason()));
        }
        old_running = old_running || t->desired_status != TaskStatus::kStopped;
      }
      if (fresh) {
        if (fresh->last_status == TaskStatus::kRunning && old.empty()) done.insert(inst);
      } else if (old.empty()) {
        empty.push_back(inst);
      } else if (old_running) {
        candidates.push_back(inst);
      }
    }
    // A DRAINING instance keeps its task, of whatever revision, until it goes: that task
    // does not hold the deployment back (it is never replaced, so it would hold it forever).

    // Step 4: the rolling batch.
    std::vector<std::string> batch = Strings(dep_.internal.value("batch", Json::array()));
    std::erase_if(batch, [&](const std::string& i) { return done.count(i) || !covered.count(i); });
    const double bake = minute_seconds_ * static_cast<double>(JInt(dep_.doc.value("deploymentConfiguration", Json::object()),
                                                         "bakeTimeInMinutes"));
    std::optional<double> step_done;
    if (const Json* s = JGet(dep_.internal, "stepDoneAt"); s && s->is_number()) step_done = s->get<double>();
    if (batch.empty() && !Strings(dep_.internal.value("batch", Json::array())).empty() && !step_done) {
      step_done = now_;  // the batch just finished: the bake time starts
    }
    const bool baked = !step_done || now_ >= *step_done + bake;
    if (rolling && batch.empty() && !candidates.empty() && baked) {
      const double drain = dep_.doc.value("deploymentConfiguration", Json::object()).value("drainPercent", 25.0);
      int size = DaemonBatchSize(drain, static_cast<int>(active.size()));
      for (int k = 0; k < size && k < static_cast<int>(candidates.size()); ++k) {
        const std::string& inst = candidates[static_cast<size_t>(k)];
        for (Task* t : on[inst]) {
          if (t->desired_status != TaskStatus::kStopped) RETURN_IF_ERROR(SchedulerStops(tx_, *t, now_, Reason()));
        }
        batch.push_back(inst);
      }
      step_done.reset();
    }
    dep_.internal["batch"] = batch;
    if (step_done) {
      dep_.internal["stepDoneAt"] = *step_done;
    } else {
      dep_.internal.erase("stepDoneAt");
    }

    // New instances, and replaced ones whose old task has stopped, get the target task.
    std::string failure;
    for (const auto& inst : empty) {
      if (cooling.count(inst)) continue;
      DaemonLaunch l;
      l.region = d_.region;
      auto arn = model::Arn::Parse(JStr(d_.doc, "daemonArn"));
      l.account = arn ? arn->account : "000000000000";
      l.cluster = d_.parent;
      l.daemon = d_.name;
      l.revision = target;
      l.task_definition = rev->internal.value("taskDefinition", Json::object());
      l.capacity_provider = covered[inst];
      l.instance = inst;
      if (JStr(rev->doc, "propagateTags") == "DAEMON") l.tags = d_.doc.value("tags", Json::array());
      l.enable_execute_command = JBool(rev->doc, "enableExecuteCommand");
      LaunchedTasks r = launcher_.LaunchDaemonTask(tx_, l, now_);
      if (!r.failure.empty()) failure = r.failure;
    }
    if (!failure.empty()) {
      dep_.doc["statusReason"] = failure;
    }

    // Step 5.
    if (rolling && done.size() == active.size() && !old_left && batch.empty() && empty.empty() && baked) {
      SetStatus(rollback ? model::kDaemonDeploymentRollbackSuccessful : model::kDaemonDeploymentSuccessful);
      dep_.doc["finishedAt"] = now_;
      dep_.doc.erase("statusReason");
      if (dep_.doc.contains("circuitBreaker") && JStr(dep_.doc["circuitBreaker"], "status") == "MONITORING") {
        dep_.doc["circuitBreaker"]["status"] = "MONITORING_COMPLETE";
      }
      if (dep_.doc.contains("alarms") && JStr(dep_.doc["alarms"], "status") == "MONITORING") {
        dep_.doc["alarms"]["status"] = "MONITORING_COMPLETE";
      }
      dep_.internal.erase("batch");
      dep_.internal.erase("stepDoneAt");
    }
    return Status::Ok();
  }

  std::string Reason() const {
    return fmt::format("Daemon deployment {} replaced this task", JStr(dep_.doc, "daemonDeploymentArn"));
  }

  state::Tx& tx_;
  state::Object& d_;
  DaemonTaskLauncher& launcher_;
  const double now_;
  const double minute_seconds_;
  state::Object dep_;
  std::vector<Task> tasks_;
  bool daemon_gone_ = false;
  bool daemon_changed_ = false;
};

// A daemon task definition DELETE_IN_PROGRESS becomes DELETED once no daemon's deployment
// targets it and no live task runs it.
Status SweepTaskDefinitions(state::Tx& tx) {
  state::Query q{model::kDaemonTaskDef};
  q.any_region = true;
  q.status = "DELETE_IN_PROGRESS";
  ASSIGN_OR_RETURN(auto deleting, tx.List(q));
  if (deleting.empty()) return Status::Ok();
  std::set<std::string> used;
  state::Query dq{model::kDaemon};
  dq.any_region = true;
  ASSIGN_OR_RETURN(auto daemons, tx.List(dq));
  for (const auto& d : daemons) {
    ASSIGN_OR_RETURN(auto rev, tx.Get(model::kDaemonRevision, d.region, d.id + "/" + JStr(d.internal, "revision")));
    if (rev) used.insert(JStr(rev->doc, "daemonTaskDefinitionArn"));
  }
  for (auto& td : deleting) {
    const std::string arn = JStr(td.doc, "daemonTaskDefinitionArn");
    if (used.count(arn)) continue;
    state::Query tq{model::kTask, td.region};
    tq.status_not = "STOPPED";
    tq.doc_equals = {{"taskDefinitionArn", arn}};
    ASSIGN_OR_RETURN(auto running, tx.List(tq));
    if (!running.empty()) continue;
    td.status = "DELETED";
    td.doc["status"] = "DELETED";
    RETURN_IF_ERROR(tx.Put(td));
  }
  return Status::Ok();
}

}  // namespace

int DaemonBatchSize(double drain_percent, int instances) {
  if (instances <= 0) return 1;
  int n = static_cast<int>(std::ceil(std::clamp(drain_percent, 0.0, 100.0) * instances / 100.0));
  return std::clamp(n, 1, instances);
}

DaemonController::DaemonController(state::Store& store, DaemonTaskLauncher& launcher, Options options,
                                   Clock& clock)
    : store_(store), launcher_(launcher), clock_(clock), options_(options), loop_(options.resync, [this] { RunOnce(); }) {}

void DaemonController::RunOnce() {
  std::vector<std::pair<std::string, std::string>> keys;  // region, id
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{model::kDaemon};
    q.any_region = true;
    ASSIGN_OR_RETURN(auto all, tx.List(q));
    for (const auto& d : all) keys.emplace_back(d.region, d.id);
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("daemons: {}", st.message());
    return;
  }
  for (const auto& [region, id] : keys) {
    Status w;
    try {
      w = store_.Write([&](state::Tx& tx) {
        ASSIGN_OR_RETURN(auto row, tx.Get(model::kDaemon, region, id));
        if (!row) return Status::Ok();
        DaemonPass pass(tx, *row, launcher_, clock_.Now(), options_.minute_seconds);
        return pass.Run();
      });
    } catch (const std::exception& e) {
      w = Internal(e.what());
    }
    if (!w.ok()) KLOG_WARN("daemon {}: {}", id, w.message());
  }
  Status s = store_.Write([&](state::Tx& tx) { return SweepTaskDefinitions(tx); });
  if (!s.ok()) KLOG_WARN("daemon task definitions: {}", s.message());
}

}  // namespace kecs::reconcile
