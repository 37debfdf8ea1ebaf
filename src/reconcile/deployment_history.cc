#include "reconcile/deployment_history.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "base/clock.h"
#include "model/arn.h"
#include "model/kinds.h"
#include "model/task.h"
#include "reconcile/service_controller.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::reconcile {
namespace {

using model::ServiceDeployment;
using model::ServiceDeploymentStatus;
using model::ServiceRevision;

std::string Account(const model::Service& svc) {
  auto arn = model::Arn::Parse(svc.arn);
  return arn ? arn->account : "000000000000";
}

// The store key ("<cluster>/<service>/<id>") of a service-revision ARN ("" if it is not one).
std::string RevisionKey(const std::string& arn) {
  auto a = model::Arn::Parse(arn);
  const std::string prefix = "service-revision/";
  if (!a || a->resource.rfind(prefix, 0) != 0) return "";
  return a->resource.substr(prefix.size());
}

// The task definition's containers as containerImages (digests come later, from tasks).
Result<Json> ContainerImages(state::Tx& tx, const model::Service& svc, const std::string& td_arn) {
  Json out = Json::array();
  auto a = model::Arn::Parse(td_arn);
  const std::string prefix = "task-definition/";
  if (!a || a->resource.rfind(prefix, 0) != 0) return out;
  ASSIGN_OR_RETURN(auto td, tx.Get(model::kTaskDef, svc.region, a->resource.substr(prefix.size())));
  if (!td) return out;
  for (const auto& c : td->doc.value("containerDefinitions", Json::array())) {
    out.push_back({{"containerName", JStr(c, "name")}, {"image", JStr(c, "image")}});
  }
  return out;
}

Result<ServiceRevision> NewRevision(state::Tx& tx, const model::Service& svc, const model::Deployment& dep,
                                    double now) {
  ServiceRevision v;
  v.region = svc.region;
  v.cluster = svc.cluster;
  v.service = svc.name;
  v.id = model::NewServiceRevisionId();
  v.arn = model::EcsArn(svc.region, Account(svc), fmt::format("service-revision/{}/{}/{}", svc.cluster, svc.name, v.id));
  v.service_arn = svc.arn;
  v.cluster_arn = svc.cluster_arn;
  v.task_definition = dep.task_definition;
  v.capacity_provider_strategy = dep.capacity_provider_strategy;
  v.launch_type = dep.launch_type;
  v.platform_version = dep.platform_version;
  v.platform_family = svc.platform_family;
  v.load_balancers = svc.load_balancers;
  v.service_registries = svc.service_registries;
  v.network_configuration = dep.network_configuration;
  ASSIGN_OR_RETURN(v.container_images, ContainerImages(tx, svc, dep.task_definition));
  v.created_at = EpochMillis(now);
  RETURN_IF_ERROR(state::records::PutServiceRevision(tx, v));
  return v;
}

// The revision of `dep`: from the history, else a new one recorded from the deployment.
Result<std::string> RevisionOrNew(state::Tx& tx, const model::Service& svc, const model::Deployment& dep, double now) {
  ASSIGN_OR_RETURN(std::string arn, RevisionArnOf(tx, svc, dep.id));
  if (!arn.empty()) return arn;
  ASSIGN_OR_RETURN(auto v, NewRevision(tx, svc, dep, now));
  return v.arn;
}

// Keeps the newest kMaxServiceDeploymentsKept records, and the revisions they name.
Status Prune(state::Tx& tx, const model::Service& svc) {
  ASSIGN_OR_RETURN(auto all, state::records::ListServiceDeployments(tx, svc.region, svc.cluster, svc.name));
  if (all.size() <= model::kMaxServiceDeploymentsKept) return Status::Ok();
  size_t drop = all.size() - model::kMaxServiceDeploymentsKept;
  std::set<std::string> named;
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& d = all[i];
    if (i < drop && !model::IsOngoing(d.status)) {
      RETURN_IF_ERROR(tx.Delete(model::kServiceDeployment, svc.region, d.Key()).status());
      continue;
    }
    named.insert(d.target_revision.arn);
    for (const auto& s : d.source_revisions) named.insert(s.arn);
    if (d.rollback) named.insert(d.rollback->service_revision_arn);
  }
  ASSIGN_OR_RETURN(auto revisions, state::records::ListServiceRevisions(tx, svc.region, svc.cluster, svc.name));
  for (const auto& v : revisions) {
    if (!named.count(v.arn)) {
      RETURN_IF_ERROR(tx.Delete(model::kServiceRevision, svc.region, RevisionKey(v.arn)).status());
    }
  }
  return Status::Ok();
}

void Finish(ServiceDeployment& d, ServiceDeploymentStatus status, double now) {
  d.status = status;
  d.finished_at = EpochMillis(now);
  d.updated_at = EpochMillis(now);
  if (d.circuit_breaker_status == "MONITORING") d.circuit_breaker_status = "MONITORING_COMPLETE";
}

}  // namespace

Result<std::map<std::string, DeploymentTaskCounts>> CountServiceTasks(state::Tx& tx, const model::Service& svc) {
  state::Query q{model::kTask, svc.region, svc.cluster};
  q.internal_equals.emplace_back("service", svc.name);
  ASSIGN_OR_RETURN(auto tasks, state::records::ListTasks(tx, q));
  std::map<std::string, DeploymentTaskCounts> out;
  for (const auto& t : tasks) {
    if (t.internal.service != svc.name || t.desired_status != model::TaskStatus::kRunning) continue;
    if (t.last_status == model::TaskStatus::kRunning) {
      ++out[t.internal.deployment].running;
    } else if (t.last_status != model::TaskStatus::kStopped) {
      ++out[t.internal.deployment].pending;
    }
  }
  return out;
}

void FillLiveCounts(ServiceDeployment& d, const model::Service& svc,
                    const std::map<std::string, DeploymentTaskCounts>& counts) {
  if (!model::IsOngoing(d.status)) return;
  auto tasks_of = [&](const std::string& dep) {
    auto it = counts.find(dep);
    return it == counts.end() ? DeploymentTaskCounts{} : it->second;
  };
  bool rolling_back = d.rollback.has_value();
  auto target = tasks_of(d.deployment_id);
  d.target_revision.requested_task_count = rolling_back ? 0 : svc.desired_count;
  d.target_revision.running_task_count = target.running;
  d.target_revision.pending_task_count = target.pending;
  for (size_t i = 0; i < d.source_revisions.size(); ++i) {
    auto& s = d.source_revisions[i];
    DeploymentTaskCounts c = i < d.source_deployment_ids.size() ? tasks_of(d.source_deployment_ids[i])
                                                                : DeploymentTaskCounts{};
    bool back_to_it = rolling_back && s.arn == d.rollback->service_revision_arn;
    if (back_to_it) {
      auto r = tasks_of(d.rollback_deployment_id);
      c.running += r.running;
      c.pending += r.pending;
    }
    s.requested_task_count = back_to_it ? svc.desired_count : 0;
    s.running_task_count = c.running;
    s.pending_task_count = c.pending;
  }
  for (const auto& dep : svc.deployments) {
    if (dep.id == d.deployment_id) d.failure_count = dep.failed_tasks;
  }
}

Result<std::optional<ServiceDeployment>> FindServiceDeployment(state::Tx& tx, const model::Service& svc,
                                                              const std::string& deployment_id) {
  ASSIGN_OR_RETURN(auto all, state::records::ListServiceDeployments(tx, svc.region, svc.cluster, svc.name));
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->deployment_id == deployment_id || it->rollback_deployment_id == deployment_id) {
      return std::optional<ServiceDeployment>(std::move(*it));
    }
  }
  return std::optional<ServiceDeployment>();
}

Result<std::string> RevisionArnOf(state::Tx& tx, const model::Service& svc, const std::string& deployment_id) {
  ASSIGN_OR_RETURN(auto all, state::records::ListServiceDeployments(tx, svc.region, svc.cluster, svc.name));
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->deployment_id == deployment_id) return it->target_revision.arn;
    if (it->rollback && it->rollback_deployment_id == deployment_id) return it->rollback->service_revision_arn;
    for (size_t i = 0; i < it->source_deployment_ids.size() && i < it->source_revisions.size(); ++i) {
      if (it->source_deployment_ids[i] == deployment_id) return it->source_revisions[i].arn;
    }
  }
  return std::string();
}

Result<ServiceDeployment> RecordDeploymentStarted(state::Tx& tx, const model::Service& svc, double now) {
  const model::Deployment& dep = svc.deployments.front();
  ServiceDeployment d;
  d.region = svc.region;
  d.cluster = svc.cluster;
  d.service = svc.name;
  d.id = model::NewServiceDeploymentId();
  d.arn = model::EcsArn(svc.region, Account(svc),
                        fmt::format("service-deployment/{}/{}/{}", svc.cluster, svc.name, d.id));
  d.service_arn = svc.arn;
  d.cluster_arn = svc.cluster_arn;
  d.status = ServiceDeploymentStatus::kInProgress;
  d.created_at = EpochMillis(now);
  d.started_at = EpochMillis(now);
  d.updated_at = EpochMillis(now);
  d.deployment_configuration = svc.deployment_configuration;
  d.deployment_id = dep.id;
  for (size_t i = 1; i < svc.deployments.size(); ++i) {
    ASSIGN_OR_RETURN(std::string arn, RevisionOrNew(tx, svc, svc.deployments[i], now));
    d.source_revisions.push_back({arn, 0, 0, 0});
    d.source_deployment_ids.push_back(svc.deployments[i].id);
  }
  ASSIGN_OR_RETURN(auto revision, NewRevision(tx, svc, dep, now));
  d.target_revision = {revision.arn, svc.desired_count, 0, 0};
  const auto& cfg = svc.deployment_configuration;
  d.circuit_breaker_status = cfg.circuit_breaker_enable ? "MONITORING" : "DISABLED";
  d.threshold = CircuitBreakerThreshold(std::max(svc.desired_count, 1));
  // kecs evaluates no CloudWatch alarms, so their check is DISABLED whatever the
  // configuration asks (the model: "Amazon ECS is not using alarms for service deployment
  // failures when the status is DISABLED").
  d.alarms_status = "DISABLED";

  // A newer deployment supersedes the ongoing ones; their counts stay as they were.
  ASSIGN_OR_RETURN(auto counts, CountServiceTasks(tx, svc));
  ASSIGN_OR_RETURN(auto all, state::records::ListServiceDeployments(tx, svc.region, svc.cluster, svc.name));
  for (auto& old : all) {
    if (!model::IsOngoing(old.status)) continue;
    FillLiveCounts(old, svc, counts);
    Finish(old, ServiceDeploymentStatus::kStopped, now);
    // No AWS wording for a superseded deployment's statusReason was found; kecs's own.
    old.status_reason = "Superseded by service deployment " + d.arn + ".";
    RETURN_IF_ERROR(state::records::PutServiceDeployment(tx, old));
  }
  RETURN_IF_ERROR(state::records::PutServiceDeployment(tx, d));
  RETURN_IF_ERROR(Prune(tx, svc));
  return d;
}

Status RecordDeploymentCompleted(state::Tx& tx, const model::Service& svc, const model::Deployment& dep, double now,
                                 const std::map<std::string, std::string>& image_digests) {
  ASSIGN_OR_RETURN(auto found, FindServiceDeployment(tx, svc, dep.id));
  if (!found || !model::IsOngoing(found->status)) return Status::Ok();
  ServiceDeployment& d = *found;
  ASSIGN_OR_RETURN(auto counts, CountServiceTasks(tx, svc));
  FillLiveCounts(d, svc, counts);
  bool rollback = d.rollback_deployment_id == dep.id;
  Finish(d, rollback ? ServiceDeploymentStatus::kRollbackSuccessful : ServiceDeploymentStatus::kSuccessful, now);
  RETURN_IF_ERROR(state::records::PutServiceDeployment(tx, d));
  // The revision keeps the digests its tasks run ("Amazon ECS resolves container image
  // names and any image tags ... to container image digests", the model's ContainerImage).
  const std::string arn = rollback ? d.rollback->service_revision_arn : d.target_revision.arn;
  ASSIGN_OR_RETURN(auto revision, state::records::GetServiceRevision(tx, svc.region, RevisionKey(arn)));
  if (!revision) return Status::Ok();
  bool changed = false;
  for (auto& image : revision->container_images) {
    auto it = image_digests.find(JStr(image, "containerName"));
    if (it != image_digests.end() && JStr(image, "imageDigest") != it->second) {
      image["imageDigest"] = it->second;
      changed = true;
    }
  }
  return changed ? state::records::PutServiceRevision(tx, *revision) : Status::Ok();
}

void StartRollback(ServiceDeployment& d, const model::Deployment& rollback, const std::string& revision_arn,
                   const std::string& reason, double now) {
  d.status = ServiceDeploymentStatus::kRollbackInProgress;
  d.status_reason = reason;
  d.rollback = model::ServiceDeploymentRollback{reason, EpochMillis(now), revision_arn};
  d.rollback_deployment_id = rollback.id;
  d.updated_at = EpochMillis(now);
}

Status RecordDeploymentFailed(state::Tx& tx, const model::Service& svc, const std::string& failed_id,
                              int failed_tasks, const model::Deployment* rollback, const model::Deployment* good,
                              double now, const std::string& alarm_reason) {
  ASSIGN_OR_RETURN(auto found, FindServiceDeployment(tx, svc, failed_id));
  if (!found || !model::IsOngoing(found->status)) return Status::Ok();
  ServiceDeployment& d = *found;
  ASSIGN_OR_RETURN(auto counts, CountServiceTasks(tx, svc));
  FillLiveCounts(d, svc, counts);
  d.failure_count = failed_tasks;
  const bool by_alarms = !alarm_reason.empty();
  (by_alarms ? d.alarms_status : d.circuit_breaker_status) = "TRIGGERED";
  // The deployment's rolloutStateReason, in ECS's words (containers-roadmap #1488) for the
  // circuit breaker.
  const std::string reason = by_alarms ? alarm_reason : "ECS deployment circuit breaker: tasks failed to start.";
  if (d.rollback_deployment_id == failed_id) {
    // The rollback itself failed: the record ends there (a further rollback the scheduler
    // starts is not part of it).
    Finish(d, ServiceDeploymentStatus::kRollbackFailed, now);
    d.status_reason = reason;
  } else if (rollback && good) {
    ASSIGN_OR_RETURN(std::string arn, RevisionOrNew(tx, svc, *good, now));
    StartRollback(d, *rollback, arn, reason, now);
  } else {
    const auto& cfg = svc.deployment_configuration;
    bool wanted = by_alarms ? cfg.alarms && cfg.alarms->rollback : cfg.circuit_breaker_rollback;
    Finish(d, wanted ? ServiceDeploymentStatus::kRollbackFailed : ServiceDeploymentStatus::kStopped, now);
    if (!wanted) d.stopped_at = EpochMillis(now);
    // No AWS wording for a rollback with no completed deployment to return to was found.
    d.status_reason = wanted ? reason + " No completed deployment to roll back to." : reason;
  }
  return state::records::PutServiceDeployment(tx, d);
}

Status DeleteServiceHistory(state::Tx& tx, const model::Service& svc) {
  ASSIGN_OR_RETURN(auto all, state::records::ListServiceDeployments(tx, svc.region, svc.cluster, svc.name));
  for (const auto& d : all) RETURN_IF_ERROR(tx.Delete(model::kServiceDeployment, svc.region, d.Key()).status());
  ASSIGN_OR_RETURN(auto revisions, state::records::ListServiceRevisions(tx, svc.region, svc.cluster, svc.name));
  for (const auto& v : revisions) {
    RETURN_IF_ERROR(tx.Delete(model::kServiceRevision, svc.region, RevisionKey(v.arn)).status());
  }
  return Status::Ok();
}

}  // namespace kecs::reconcile
