// ECS's deployment history: ListServiceDeployments, DescribeServiceDeployments,
// DescribeServiceRevisions and StopServiceDeployment over the records the service API and
// the service scheduler keep (reconcile/deployment_history.h).
//
// Sources for what is not in the model's documentation (third_party/aws-models/ecs): the
// developer guide's service-deployment.html (states, 90-day history, deletion with the
// service) and stop-service-deployment.html (which states a stop accepts and what each
// does); the AWS CLI's examples describe-service-deployments.rst and
// describe-service-revisions.rst (the shapes as ECS fills them). Messages no AWS source
// gives are marked as kecs's own where they are thrown.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/pagination.h"
#include "model/arn.h"
#include "reconcile/deployment_history.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

constexpr size_t kMaxDescribeArns = 20;  // "You can specify a maximum of 20 ARNs." (the model)

AwsError ServiceNotFound() { return AwsError("ServiceNotFoundException", "Service not found."); }

// The store key "<cluster>/<service>/<id>" of an ARN of `kind` ("service-deployment" or
// "service-revision") in the request's region and account; "" when it is not one.
std::string RecordKey(const RequestContext& ctx, const std::string& arn, const std::string& kind) {
  auto a = model::Arn::Parse(arn);
  if (!a || a->service != "ecs" || a->region != ctx.region || a->account != ctx.account_id) return "";
  const std::string prefix = kind + "/";
  if (a->resource.rfind(prefix, 0) != 0) return "";
  std::string key = a->resource.substr(prefix.size());
  if (std::count(key.begin(), key.end(), '/') != 2) return "";
  return key;
}

// The service deployment the ARN names (StopServiceDeployment, ContinueServiceDeployment).
std::optional<model::ServiceDeployment> RequireServiceDeployment(state::Tx& tx, const RequestContext& ctx,
                                                                 const std::string& arn) {
  std::string key = RecordKey(ctx, arn, "service-deployment");
  std::optional<model::ServiceDeployment> d;
  if (!key.empty()) d = Check(state::records::GetServiceDeployment(tx, ctx.region, key));
  // kecs's wording; the model names the error ("The service deploy ARN that you specified
  // ... doesn't exist").
  if (!d) throw AwsError("ServiceDeploymentNotFoundException", "Service deployment not found.");
  return d;
}

const Json& ArnList(const Json& in, const char* member) {
  const Json* arns = JGet(in, member);
  // No AWS wording for an empty or oversized list was found; worded as DescribeServices'.
  if (!arns || !arns->is_array() || arns->empty()) throw InvalidParameter(fmt::format("{} cannot be empty.", member));
  if (arns->size() > kMaxDescribeArns) {
    throw InvalidParameter(fmt::format("{} can have at most {} items.", member, kMaxDescribeArns));
  }
  for (const auto& a : *arns) {
    if (!a.is_string()) throw InvalidParameter(fmt::format("{} must be a list of strings.", member));
  }
  return *arns;
}

// The services the records belong to, read once per request, with their task counts.
class ServiceCache {
 public:
  ServiceCache(state::Tx& tx, const RequestContext& ctx) : tx_(tx), ctx_(ctx) {}

  struct Entry {
    std::optional<model::Service> service;
    std::map<std::string, reconcile::DeploymentTaskCounts> counts;
  };
  const Entry& Get(const std::string& cluster, const std::string& name) {
    auto key = cluster + "/" + name;
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    Entry e;
    e.service = Check(state::records::GetService(tx_, ctx_.region, cluster, name));
    if (e.service) e.counts = Check(reconcile::CountServiceTasks(tx_, *e.service));
    return cache_.emplace(key, std::move(e)).first->second;
  }

 private:
  state::Tx& tx_;
  const RequestContext& ctx_;
  std::map<std::string, Entry> cache_;
};

model::ServiceDeployment Live(ServiceCache& services, model::ServiceDeployment d) {
  const auto& e = services.Get(d.cluster, d.service);
  if (e.service) reconcile::FillLiveCounts(d, *e.service, e.counts);
  return d;
}

// Statuses the caller filters on; InvalidParameterException for one ECS does not have.
std::set<model::ServiceDeploymentStatus> StatusFilter(const Json& in) {
  std::set<model::ServiceDeploymentStatus> out;
  const Json* list = JGet(in, "status");
  if (!list) return out;
  if (!list->is_array()) throw InvalidParameter("status must be a list.");
  for (const auto& s : *list) {
    auto st = s.is_string() ? model::ParseServiceDeploymentStatus(s.get<std::string>()) : std::nullopt;
    // kecs's wording: no AWS message for an unknown status was found.
    if (!st) throw InvalidParameter(fmt::format("Invalid status: {}.", s.is_string() ? s.get<std::string>() : s.dump()));
    out.insert(*st);
  }
  return out;
}

std::optional<double> Timestamp(const Json& created_at, const char* member) {
  const Json* v = JGet(created_at, member);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw InvalidParameter(fmt::format("createdAt.{} must be a timestamp.", member));
  return v->get<double>();
}

}  // namespace

Json EcsApi::ListServiceDeployments(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string service_ref = JStr(in, "service");
  // The model requires `service`; no AWS message for its absence was found.
  if (service_ref.empty()) throw InvalidParameter("service must be specified.");
  // "This value can be between 1 and 100. If this parameter isn't used, then
  // ListServiceDeployments returns up to 20 results" (the model).
  size_t max = MaxResults(in, 20, 100);
  auto statuses = StatusFilter(in);
  std::optional<double> before, after;
  if (const Json* c = JGet(in, "createdAt")) {
    before = Timestamp(*c, "before");
    after = Timestamp(*c, "after");
  }
  std::vector<std::string> keys;
  Json briefs = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto svc = Check(state::records::GetService(tx, ctx.region, cluster, model::NameFromArnOrName(service_ref)));
    if (!svc || svc->status == model::ServiceStatus::kInactive) throw ServiceNotFound();
    auto all = Check(state::records::ListServiceDeployments(tx, ctx.region, cluster, svc->name));
    // Newest first.
    std::reverse(all.begin(), all.end());
    for (const auto& d : all) {
      if (!statuses.empty() && !statuses.count(d.status)) continue;
      if (before && !(d.created_at < *before)) continue;
      if (after && !(d.created_at > *after)) continue;
      keys.push_back(SeqKey(d.seq));
      briefs.push_back(state::records::ServiceDeploymentBriefToAws(d));
    }
    return Status::Ok();
  }));
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max, /*descending=*/true);
  if (!page) BadToken();
  Json out = {{"serviceDeployments", Json::array()}};
  for (size_t i = page->begin; i < page->end; ++i) out["serviceDeployments"].push_back(briefs[i]);
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

Json EcsApi::DescribeServiceDeployments(RequestContext& ctx, const Json& in) {
  const Json& arns = ArnList(in, "serviceDeploymentArns");
  Json list = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    ServiceCache services(tx, ctx);
    for (const auto& a : arns) {
      const std::string arn = a.get<std::string>();
      std::string key = RecordKey(ctx, arn, "service-deployment");
      std::optional<model::ServiceDeployment> d;
      if (!key.empty()) d = Check(state::records::GetServiceDeployment(tx, ctx.region, key));
      // An ARN ECS has no deployment for is a failure with reason MISSING (the model's
      // failures member: a deployment it cannot describe fails "with the reason set to
      // MISSING"), as DescribeServices reports an unknown service.
      if (!d) {
        failures.push_back({{"arn", arn}, {"reason", "MISSING"}});
        continue;
      }
      list.push_back(state::records::ServiceDeploymentToAws(Live(services, std::move(*d))));
    }
    return Status::Ok();
  }));
  return {{"serviceDeployments", list}, {"failures", failures}};
}

Json EcsApi::DescribeServiceRevisions(RequestContext& ctx, const Json& in) {
  const Json& arns = ArnList(in, "serviceRevisionArns");
  Json list = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& a : arns) {
      const std::string arn = a.get<std::string>();
      std::string key = RecordKey(ctx, arn, "service-revision");
      std::optional<model::ServiceRevision> v;
      if (!key.empty()) v = Check(state::records::GetServiceRevision(tx, ctx.region, key));
      if (!v) {
        failures.push_back({{"arn", arn}, {"reason", "MISSING"}});
        continue;
      }
      // Digests not yet kept (the revision's deployment has not completed): from a task of
      // the revision that has pulled its images.
      bool missing = std::any_of(v->container_images.begin(), v->container_images.end(),
                                 [](const Json& i) { return !JGet(i, "imageDigest"); });
      if (missing) {
        state::Query q{kTask, ctx.region, v->cluster};
        q.internal_equals.emplace_back("service", v->service);
        for (const auto& t : Check(state::records::ListTasks(tx, q))) {
          if (t.task_definition_arn != v->task_definition) continue;
          for (const auto& c : t.containers) {
            if (!c.image_digest) continue;
            for (auto& i : v->container_images) {
              if (JStr(i, "containerName") == c.name && !JGet(i, "imageDigest")) i["imageDigest"] = *c.image_digest;
            }
          }
        }
      }
      Json rev = state::records::ServiceRevisionToAws(*v);
      AddExpressManagedResources(tx, ctx, *v, rev);
      list.push_back(rev);
    }
    return Status::Ok();
  }));
  return {{"serviceRevisions", list}, {"failures", failures}};
}

Json EcsApi::StopServiceDeployment(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "serviceDeploymentArn");
  // "The valid values are ROLLBACK." (the model's stopType; ABORT is in the enum but not
  // documented as one ECS accepts). ROLLBACK is also what a stop without a type does: the
  // developer guide lists it as the one stop type.
  const std::string stop_type = JStr(in, "stopType", "ROLLBACK");
  if (stop_type != "ROLLBACK") {
    throw InvalidParameter(fmt::format("Invalid stopType {}: the valid value is ROLLBACK.", stop_type));
  }
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto d = RequireServiceDeployment(tx, ctx, arn);
    out = {{"serviceDeploymentArn", d->arn}};
    using S = model::ServiceDeploymentStatus;
    // STOP_REQUESTED, ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS: "The service deployment
    // continues to stop" / "continues the rollback operation" (stop-service-deployment.html).
    if (d->status == S::kStopRequested || d->status == S::kRollbackRequested || d->status == S::kRollbackInProgress) {
      return Status::Ok();
    }
    // A finished deployment cannot be stopped: the guide lists only the states above and
    // PENDING and IN_PROGRESS. The model gives StopServiceDeployment a ConflictException
    // ("conflict in the current state of the resource"); the message is kecs's own.
    if (!model::IsOngoing(d->status)) {
      throw AwsError("ConflictException",
                     fmt::format("The service deployment is {} and cannot be stopped.", model::ToString(d->status)));
    }
    auto svc = Check(state::records::GetService(tx, ctx.region, d->cluster, d->service));
    if (!svc || svc->status != model::ServiceStatus::kActive || !svc->Primary() ||
        svc->Primary()->id != d->deployment_id) {
      throw AwsError("ConflictException", "The service deployment is no longer the service's current deployment.");
    }
    // A BLUE_GREEN, LINEAR or CANARY deployment rolls back by its traffic shift: the
    // scheduler puts all traffic back on blue and stops green (reconcile/traffic_shift.h);
    // the record shows ROLLBACK_REQUESTED until it does.
    if (svc->internal.shift && svc->internal.shift->green == d->deployment_id) {
      // A PAUSE hook it waits at will get no action: its detail ends FAILED (kecs's choice
      // of the model's DeploymentLifecycleHookStatus; no AWS source says which).
      for (auto& h : d->lifecycle_hook_details) {
        if (!svc->internal.shift->paused_hook.empty() && JStr(h, "hookId") == svc->internal.shift->paused_hook &&
            JStr(h, "status") == "AWAITING_ACTION") {
          h["status"] = "FAILED";
        }
      }
      svc->internal.shift->action = "ROLLBACK";
      svc->internal.shift->paused_hook.clear();
      svc->internal.shift->reason = "Rollback requested with StopServiceDeployment.";
      Check(state::records::PutService(tx, *svc));
      d->status = model::ServiceDeploymentStatus::kRollbackRequested;
      d->updated_at = Ts(ctx);
      Check(state::records::PutServiceDeployment(tx, *d));
      return Status::Ok();
    }
    // "ROLLBACK - This option rolls back the service deployment to the previous service
    // revision." The first deployment of a service has none (kecs's wording).
    if (d->source_revisions.empty()) {
      throw AwsError("ConflictException",
                     "The service deployment has no previous service revision to roll back to.");
    }
    // Of several sources (the deployment superseded one that had not completed), the one
    // the service last completed is what still serves; else the newest.
    size_t back = 0;
    for (size_t i = 0; i < d->source_deployment_ids.size() && i < d->source_revisions.size(); ++i) {
      if (svc->internal.last_completed && d->source_deployment_ids[i] == svc->internal.last_completed->id) back = i;
    }
    const std::string revision_arn = d->source_revisions[back].arn;
    auto rev = Check(state::records::GetServiceRevision(tx, ctx.region, RecordKey(ctx, revision_arn, "service-revision")));
    if (!rev) {
      throw AwsError("ConflictException", "The previous service revision of the service deployment is no longer kept.");
    }
    // The service goes back to the revision's configuration, in a new deployment as the
    // circuit breaker's rollback starts one.
    svc->task_definition = rev->task_definition;
    svc->launch_type = rev->launch_type;
    svc->capacity_provider_strategy = rev->capacity_provider_strategy;
    svc->platform_version = rev->platform_version;
    svc->network_configuration = rev->network_configuration;
    svc->load_balancers = rev->load_balancers;
    svc->service_registries = rev->service_registries;
    model::Deployment rollback = NewDeployment(ctx, *svc);
    for (auto& dep : svc->deployments) dep.status = model::DeploymentStatus::kActive;
    svc->deployments.insert(svc->deployments.begin(), rollback);
    svc->internal.steady = false;
    const std::string back_to = back < d->source_deployment_ids.size() ? d->source_deployment_ids[back] : rev->id;
    // As the circuit breaker's rollback words its event.
    model::AddServiceEvent(*svc, ctx.now, fmt::format("(service {}) rolling back to deployment {}.", svc->name, back_to));
    Check(state::records::PutService(tx, *svc));
    // No AWS wording for a user's rollback reason was found; kecs's own.
    reconcile::StartRollback(*d, rollback, revision_arn, "Rollback requested with StopServiceDeployment.", ctx.now);
    Check(state::records::PutServiceDeployment(tx, *d));
    return Status::Ok();
  }));
  return out;
}

// ContinueServiceDeployment (issue 18): the action for the PAUSE hook a BLUE_GREEN,
// LINEAR or CANARY deployment waits at (lifecycleHookDetails' AWAITING_ACTION hook). The
// scheduler takes it on its next pass (reconcile/service_controller.h). The model names the
// errors (ServiceDeploymentNotFoundException for an ARN that names no deployment;
// InvalidParameterException, ClientException); their messages are kecs's own, no AWS
// wording having been found.
Json EcsApi::ContinueServiceDeployment(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "serviceDeploymentArn");
  const std::string hook_id = JStr(in, "hookId");
  // "If no value is specified, the default action is CONTINUE." (the model)
  const std::string action = JStr(in, "action", "CONTINUE");
  if (action != "CONTINUE" && action != "ROLLBACK") {
    throw InvalidParameter(fmt::format("Invalid action {}: valid values are CONTINUE and ROLLBACK.", action));
  }
  if (hook_id.empty()) throw InvalidParameter("hookId must not be empty.");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto d = RequireServiceDeployment(tx, ctx, arn);
    const Json* hook = nullptr;
    for (const auto& h : d->lifecycle_hook_details) {
      if (JStr(h, "hookId") == hook_id) hook = &h;
    }
    if (!hook) {
      throw InvalidParameter(fmt::format("The lifecycle hook {} is not a hook of the service deployment.", hook_id));
    }
    auto svc = Check(state::records::GetService(tx, ctx.region, d->cluster, d->service));
    bool waiting = JStr(*hook, "status") == "AWAITING_ACTION" && svc && svc->internal.shift &&
                   svc->internal.shift->green == d->deployment_id && svc->internal.shift->paused_hook == hook_id &&
                   svc->internal.shift->action.empty();
    if (!waiting) {
      throw ClientException(fmt::format("The lifecycle hook {} is not awaiting action (status {}).", hook_id,
                                        JStr(*hook, "status")));
    }
    svc->internal.shift->action = action;
    if (action == "ROLLBACK") svc->internal.shift->reason = "Rollback requested with ContinueServiceDeployment.";
    Check(state::records::PutService(tx, *svc));
    out = {{"serviceDeploymentArn", d->arn}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace kecs::api::ecs
