#include "reconcile/service_controller.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "base/ids.h"
#include "base/log.h"
#include "model/kinds.h"

namespace kecs::reconcile {
namespace {

using model::kInstance;
using model::kService;
using model::kTask;

std::string ShortId(const std::string& task_arn_or_id) {
  size_t slash = task_arn_or_id.rfind('/');
  return slash == std::string::npos ? task_arn_or_id : task_arn_or_id.substr(slash + 1);
}

double StartedAt(const Json& task_doc) {  // epoch seconds
  const Json* p = JGet(task_doc, "startedAt");
  return p && p->is_number() ? p->get<double>() : 0;
}

struct DeploymentTasks {
  std::vector<state::Object*> running, pending;
  int young = 0;  // running for less than Options::settle: not yet healthy
  int failed = 0;  // stopped on their own (not by a user or the scheduler)
};

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
  std::vector<std::pair<std::string, std::string>> keys;  // region, id
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{kService};
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
        ASSIGN_OR_RETURN(auto s, tx.Get(kService, region, id));
        if (!s || (s->status != "ACTIVE" && s->status != "DRAINING")) return Status::Ok();
        Json before = s->doc;
        std::string status_before = s->status;
        RETURN_IF_ERROR(Reconcile(tx, *s));
        if (s->doc == before && s->status == status_before) return Status::Ok();
        return tx.Put(*s);
      });
    } catch (const std::exception& e) {
      w = Internal(e.what());
    }
    if (!w.ok()) KLOG_WARN("service {}: {}", id, w.message());
  }
}

Status ServiceController::Reconcile(state::Tx& tx, state::Object& svc) {
  double now = clock_.Now();
  Json& doc = svc.doc;
  std::string name = svc.name;
  std::string cluster = svc.parent;
  std::string tag = fmt::format("(service {})", name);
  Json& deployments = doc["deployments"];
  if (!deployments.is_array() || deployments.empty()) return Status::Ok();

  const double settle_ms = static_cast<double>(options_.settle.count());
  // 1. The service's tasks, per deployment.
  ASSIGN_OR_RETURN(auto tasks, tx.List({kTask, svc.region, cluster}));
  std::map<std::string, DeploymentTasks> by_dep;
  std::set<std::string> draining_instances;
  ASSIGN_OR_RETURN(auto instances, tx.List({kInstance, svc.region, cluster}));
  int active_instances = 0;
  for (const auto& i : instances) {
    if (i.status == "DRAINING") draining_instances.insert(i.id);
    if (i.status == "ACTIVE") ++active_instances;
  }
  std::vector<state::Object*> on_draining;
  for (auto& t : tasks) {
    if (JStr(t.internal, "service") != name) continue;
    std::string dep = JStr(t.internal, "deployment");
    DeploymentTasks& d = by_dep[dep];
    if (t.status == "STOPPED" || JStr(t.doc, "desiredStatus") == "STOPPED") {
      std::string code = JStr(t.doc, "stopCode");
      if (t.status == "STOPPED" && code != "UserInitiated" && code != "ServiceSchedulerInitiated" &&
          !JBool(t.internal, "counted")) {
        ++d.failed;
      }
      continue;
    }
    (t.status == "RUNNING" ? d.running : d.pending).push_back(&t);
    if (t.status == "RUNNING" && (now - StartedAt(t.doc)) * 1000 < settle_ms) ++d.young;
    const Json* p = JGet(t.internal, "placement");
    if (p && draining_instances.count(JStr(*p, "instance"))) on_draining.push_back(&t);
  }

  Json& primary = deployments[0];
  std::string primary_id = JStr(primary, "id");
  bool daemon = JStr(doc, "schedulingStrategy", "REPLICA") == "DAEMON";
  int desired = svc.status == "DRAINING" ? 0 : static_cast<int>(JInt(doc, "desiredCount"));
  if (daemon && svc.status != "DRAINING") {
    // A daemon service wants one task per ACTIVE instance, and says so.
    desired = active_instances;
    if (JInt(doc, "desiredCount") != desired) doc["desiredCount"] = desired;
  }
  const Json& cfg = doc.value("deploymentConfiguration", Json::object());
  int max_pct = static_cast<int>(JInt(cfg, "maximumPercent", 200));
  int min_pct = static_cast<int>(JInt(cfg, "minimumHealthyPercent", 100));
  int max_total = std::max(desired, static_cast<int>(std::floor(desired * max_pct / 100.0)));
  int min_healthy = static_cast<int>(std::ceil(desired * min_pct / 100.0));

  int total = 0, healthy = 0;
  for (const auto& [dep, d] : by_dep) {
    total += static_cast<int>(d.running.size() + d.pending.size());
    healthy += static_cast<int>(d.running.size()) - d.young;
  }
  DeploymentTasks& prim = by_dep[primary_id];
  // PRIMARY tasks on DRAINING instances are leaving: they do not count toward desired, so
  // replacements start (within maximumPercent) before they stop (within
  // minimumHealthyPercent), as ECS drains an instance.
  std::set<state::Object*> leaving;
  for (auto* t : on_draining) {
    if (JStr(t->internal, "deployment") == primary_id) leaving.insert(t);
  }
  int prim_active = static_cast<int>(prim.running.size() + prim.pending.size() - leaving.size());

  auto stop_task = [&](state::Object* t, const std::string& reason) {
    t->doc["desiredStatus"] = "STOPPED";
    t->doc["stopCode"] = "ServiceSchedulerInitiated";
    t->doc["stoppedReason"] = reason;
    t->doc["stoppingAt"] = EpochMillis(now);
    t->doc["version"] = JInt(t->doc, "version") + 1;
    return tx.Put(*t);
  };

  // 4. The deployment circuit breaker (checked before launching more).
  const Json& breaker = cfg.value("deploymentCircuitBreaker", Json::object());
  if (JStr(primary, "rolloutState") == "IN_PROGRESS") {
    int failed = static_cast<int>(JInt(primary, "failedTasks")) + prim.failed;
    // Count each failed task once: mark it.
    for (auto& t : tasks) {
      if (JStr(t.internal, "service") == name && JStr(t.internal, "deployment") == primary_id &&
          t.status == "STOPPED" && !JBool(t.internal, "counted")) {
        std::string code = JStr(t.doc, "stopCode");
        if (code != "UserInitiated" && code != "ServiceSchedulerInitiated") {
          t.internal["counted"] = true;
          RETURN_IF_ERROR(tx.Put(t));
        }
      }
    }
    primary["failedTasks"] = failed;
    if (JBool(breaker, "enable") && failed >= CircuitBreakerThreshold(std::max(desired, 1))) {
      primary["rolloutState"] = "FAILED";
      primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start.";
      primary["updatedAt"] = EpochMillis(now);
      AddServiceEvent(doc, now, fmt::format("{} (deployment {}) deployment failed: tasks failed to start.", tag, primary_id));
      if (JBool(breaker, "rollback")) {
        // Back to the last deployment that completed (copied: the array changes below).
        std::optional<Json> good;
        for (size_t i = 1; i < deployments.size() && !good; ++i) {
          if (JStr(deployments[i], "rolloutState") == "COMPLETED") good = deployments[i];
        }
        if (!good) {
          for (const auto& d : doc.value("kecs:completedDeployments", Json::array())) good = d;
        }
        if (good) {
          Json rollback = *good;
          std::string new_id = "ecs-svc/" + std::to_string(RandomU64() % 9000000000000000000ULL + 1000000000000000000ULL);
          rollback["id"] = new_id;
          rollback["status"] = "PRIMARY";
          rollback["rolloutState"] = "IN_PROGRESS";
          rollback["rolloutStateReason"] = "ECS deployment " + new_id + " in progress.";
          rollback["failedTasks"] = 0;
          rollback["createdAt"] = EpochMillis(now);
          rollback["updatedAt"] = EpochMillis(now);
          rollback["desiredCount"] = JInt(doc, "desiredCount");
          for (auto& d : deployments) d["status"] = "ACTIVE";
          deployments.insert(deployments.begin(), rollback);
          doc["taskDefinition"] = rollback["taskDefinition"];
          AddServiceEvent(doc, now, fmt::format("{} rolling back to deployment {}.", tag, JStr(*good, "id")));
          return Status::Ok();  // the next pass works the new primary
        }
      }
    }
  }
  bool primary_failed = JStr(primary, "rolloutState") == "FAILED";

  // 3a. Surplus PRIMARY tasks (scale-in), pending ones first.
  std::vector<std::string> stopped_ids;
  if (prim_active > desired) {
    int surplus = prim_active - desired;
    std::vector<state::Object*> order;
    for (auto* t : prim.pending) {
      if (!leaving.count(t)) order.push_back(t);
    }
    for (auto* t : prim.running) {
      if (!leaving.count(t)) order.push_back(t);
    }
    for (int i = 0; i < surplus && i < static_cast<int>(order.size()); ++i) {
      bool was_running = order[static_cast<size_t>(i)]->status == "RUNNING";
      RETURN_IF_ERROR(stop_task(order[static_cast<size_t>(i)],
                                fmt::format("Scaling activity initiated by (deployment {})", primary_id)));
      stopped_ids.push_back(order[static_cast<size_t>(i)]->id);
      --total;
      --prim_active;
      if (was_running) --healthy;
    }
  }

  // 3b. Older deployments' tasks, and tasks on DRAINING instances, without going below
  // minimumHealthyPercent of RUNNING tasks.
  std::vector<state::Object*> old_pending, old_running;
  for (auto& [dep, d] : by_dep) {
    if (dep == primary_id) continue;
    old_pending.insert(old_pending.end(), d.pending.begin(), d.pending.end());
    old_running.insert(old_running.end(), d.running.begin(), d.running.end());
  }
  for (auto* t : leaving) {
    (t->status == "RUNNING" ? old_running : old_pending).push_back(t);
  }
  for (auto* t : old_pending) {
    RETURN_IF_ERROR(stop_task(t, fmt::format("Scaling activity initiated by (deployment {})", primary_id)));
    stopped_ids.push_back(t->id);
    --total;
  }
  for (auto* t : old_running) {
    // Even when the new deployment failed: the old tasks are what still serves.
    if (healthy - 1 < min_healthy) break;
    if (JStr(t->doc, "desiredStatus") == "STOPPED") continue;
    RETURN_IF_ERROR(stop_task(t, fmt::format("Scaling activity initiated by (deployment {})", primary_id)));
    stopped_ids.push_back(t->id);
    --total;
    --healthy;
  }
  if (!stopped_ids.empty()) {
    std::string list;
    for (const auto& id : stopped_ids) list += " (task " + ShortId(id) + ")";
    AddServiceEvent(doc, now, fmt::format("{} has stopped {} running tasks:{}.", tag, stopped_ids.size(), list));
  }

  // 2. Start PRIMARY tasks, within maximumPercent.
  int need = desired - prim_active;
  int room = max_total - total;
  int start = primary_failed ? 0 : std::max(0, std::min(need, room));
  if (start > 0) {
    LaunchedTasks launched = launcher_.LaunchServiceTasks(tx, svc, primary, start, now);
    if (!launched.task_ids.empty()) {
      std::string list;
      for (const auto& id : launched.task_ids) list += " (task " + id + ")";
      AddServiceEvent(doc, now, fmt::format("{} has started {} tasks:{}.", tag, launched.task_ids.size(), list));
    }
    if (!launched.failure.empty()) {
      AddServiceEvent(doc, now, fmt::format("{} was unable to place a task. Reason: {}", tag, launched.failure));
    }
    prim_active += static_cast<int>(launched.task_ids.size());
  }

  // 5. Completion.
  bool others_empty = true;
  for (const auto& [dep, d] : by_dep) {
    if (dep != primary_id && (!d.running.empty() || !d.pending.empty())) others_empty = false;
  }
  // Recount: tasks stopped above still show as running until they are gone.
  int prim_running_now = 0;
  for (auto* t : prim.running) {
    if (JStr(t->doc, "desiredStatus") == "RUNNING") ++prim_running_now;
  }
  bool steady = prim_running_now == desired && prim.pending.empty() && prim.young == 0 && others_empty &&
                prim_active == desired && stopped_ids.empty();
  if (steady && JStr(primary, "rolloutState") == "IN_PROGRESS") {
    primary["rolloutState"] = "COMPLETED";
    primary["rolloutStateReason"] = "ECS deployment " + primary_id + " completed.";
    primary["updatedAt"] = EpochMillis(now);
    // Remember it: a later deployment's rollback returns to it.
    doc["kecs:completedDeployments"] = Json::array({primary});
    Json kept = Json::array({primary});
    deployments = kept;
    AddServiceEvent(doc, now, fmt::format("{} (deployment {}) deployment completed.", tag, primary_id));
  }
  if (steady && !JBool(doc, "kecs:steady")) {
    doc["kecs:steady"] = true;
    AddServiceEvent(doc, now, fmt::format("{} has reached a steady state.", tag));
  } else if (!steady) {
    doc["kecs:steady"] = false;
  }
  // Old deployments with nothing left go.
  if (deployments.size() > 1) {
    Json kept = Json::array();
    for (const auto& d : deployments) {
      const auto it = by_dep.find(JStr(d, "id"));
      bool empty = it == by_dep.end() || (it->second.running.empty() && it->second.pending.empty());
      if (JStr(d, "id") == primary_id || !empty) kept.push_back(d);
    }
    deployments = kept;
  }

  // 6. A deleted service ends when its last task is gone.
  if (svc.status == "DRAINING" && total == 0) {
    svc.status = "INACTIVE";
    doc["status"] = "INACTIVE";
  }
  return Status::Ok();
}

void AddServiceEvent(Json& doc, double now, const std::string& message) {
  Json events = doc.value("events", Json::array());
  // The same message twice in a row says nothing new.
  if (!events.empty() && JStr(events[0], "message") == message) return;
  events.insert(events.begin(), Json{{"id", Uuid4()}, {"createdAt", EpochMillis(now)}, {"message", message}});
  if (events.size() > 100) events.erase(events.begin() + 100, events.end());
  doc["events"] = events;
}

}  // namespace kecs::reconcile
