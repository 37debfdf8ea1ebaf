// ECS services: CreateService, DescribeServices, ListServices, ListServicesByNamespace,
// UpdateService, DeleteService, and the TaskLauncher the service scheduler starts tasks
// through (reconcile/service_controller.h).
#include <regex>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/launch.h"
#include "api/ecs/network.h"
#include "api/ecs/task_definition_rules.h"
#include "api/pagination.h"
#include "base/ids.h"
#include "model/arn.h"
#include "net/domain/vpc.h"

namespace kecs::api::ecs {
namespace {

const std::regex kServiceName("^[a-zA-Z0-9_-]{1,255}$");

std::string ServiceArn(const RequestContext& ctx, const std::string& cluster, const std::string& name) {
  return model::EcsArn(ctx.region, ctx.account_id, fmt::format("service/{}/{}", cluster, name));
}

std::string ServiceKey(const std::string& cluster, const std::string& name) { return cluster + "/" + name; }

std::string NewDeploymentId() {
  return "ecs-svc/" + std::to_string(RandomU64() % 9000000000000000000ULL + 1000000000000000000ULL);
}

constexpr const char* kDaemonDesiredCount =
    "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again";

// AWS's defaults: 200/100 for REPLICA; DAEMON replaces each task in place (100/0) and
// cannot run more tasks than instances.
Json DefaultDeploymentConfiguration(const Json& given, bool daemon) {
  Json cfg = given.is_object() ? given : Json::object();
  if (!cfg.contains("maximumPercent")) cfg["maximumPercent"] = daemon ? 100 : 200;
  if (!cfg.contains("minimumHealthyPercent")) cfg["minimumHealthyPercent"] = daemon ? 0 : 100;
  if (daemon && JInt(cfg, "maximumPercent") > 100) {
    throw InvalidParameter("The daemon scheduling strategy does not support values above 100 for maximumPercent on a "
                           "deployment configuration. Change the value and try again.");
  }
  if (!cfg.contains("deploymentCircuitBreaker")) {
    cfg["deploymentCircuitBreaker"] = {{"enable", false}, {"rollback", false}};
  }
  return cfg;
}

Json NewDeployment(const RequestContext& ctx, const Json& svc) {
  std::string id = NewDeploymentId();
  Json d = {{"id", id},
            {"status", "PRIMARY"},
            {"taskDefinition", svc["taskDefinition"]},
            {"desiredCount", svc.value("desiredCount", 0)},
            {"pendingCount", 0},
            {"runningCount", 0},
            {"failedTasks", 0},
            {"createdAt", Ts(ctx)},
            {"updatedAt", Ts(ctx)},
            {"rolloutState", "IN_PROGRESS"},
            {"rolloutStateReason", "ECS deployment " + id + " in progress."}};
  if (JGet(svc, "launchType")) d["launchType"] = svc["launchType"];
  if (JGet(svc, "capacityProviderStrategy")) d["capacityProviderStrategy"] = svc["capacityProviderStrategy"];
  if (JGet(svc, "networkConfiguration")) d["networkConfiguration"] = svc["networkConfiguration"];
  if (JGet(svc, "platformVersion")) d["platformVersion"] = svc["platformVersion"];
  return d;
}

state::Object RequireService(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                             const std::string& ref, bool active_only) {
  std::string name = model::NameFromArnOrName(ref);
  auto o = Check(tx.Get(kService, ctx.region, ServiceKey(cluster, name)));
  if (!o) throw AwsError("ServiceNotFoundException", "Service not found.");
  if (active_only && o->status != "ACTIVE") throw AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
  return *o;
}

// Checks a service's network configuration the way RunTask would for its tasks. In
// lenient mode it also records what RunTask would infer, so DescribeServices shows what
// the tasks get: the launch type (FARGATE for awsvpc with a network configuration) and
// the default subnet when none was listed.
void ResolveNetwork(state::Tx& tx, RequestContext& ctx, const Json& td, Json& svc) {
  std::string mode = NetworkModeOf(td);
  Json net = svc.value("networkConfiguration", Json());
  bool has_net = net.is_object() && JGet(net, "awsvpcConfiguration");
  if (!JGet(td, "networkMode") && has_net && !ctx.strict) mode = "awsvpc";
  bool explicit_launch = JGet(svc, "launchType") || JGet(svc, "capacityProviderStrategy");
  std::string launch = JStr(svc, "launchType", (!ctx.strict && mode == "awsvpc" && has_net) ? "FARGATE" : "EC2");
  NetworkPlan plan = PlanNetwork(tx, ctx, mode, launch, net, explicit_launch);
  if (ctx.strict) return;
  if (!explicit_launch) {
    svc["launchType"] = launch;
    if (launch == "FARGATE") {
      svc["platformVersion"] = "LATEST";
      svc["platformFamily"] = "Linux";
    }
  }
  if (has_net && !plan.subnets.empty()) {
    Json& vpc = svc["networkConfiguration"]["awsvpcConfiguration"];
    if (!vpc.contains("subnets") || vpc["subnets"].empty()) vpc["subnets"] = plan.subnets;
  }
}

// Registry ARNs must name Cloud Map services that exist.
void ValidateRegistries(state::Tx& tx, const RequestContext& ctx, const Json& registries) {
  for (const auto& r : registries) {
    std::string arn = JStr(r, "registryArn");
    std::string id = model::NameFromArnOrName(arn);
    auto o = Check(tx.Get("sd:service", ctx.region, id));
    if (!o) {
      throw InvalidParameter(fmt::format("The service discovery registry {} was not found.", arn));
    }
  }
}

}  // namespace

Json EcsApi::ServiceView(state::Tx& tx, const RequestContext& ctx, const state::Object& svc, bool tags) {
  Json doc = Public(svc.doc);
  int running = 0, pending = 0;
  std::map<std::string, std::pair<int, int>> per_dep;
  for (const auto& t : Check(tx.List({kTask, ctx.region, svc.parent}))) {
    if (JStr(t.doc, "kecs:service") != svc.name || JStr(t.doc, "desiredStatus") != "RUNNING") continue;
    auto& c = per_dep[JStr(t.doc, "kecs:deployment")];
    if (t.status == "RUNNING") {
      ++running;
      ++c.first;
    } else if (t.status != "STOPPED") {
      ++pending;
      ++c.second;
    }
  }
  doc["runningCount"] = running;
  doc["pendingCount"] = pending;
  for (auto& d : doc["deployments"]) {
    auto it = per_dep.find(JStr(d, "id"));
    d["runningCount"] = it == per_dep.end() ? 0 : it->second.first;
    d["pendingCount"] = it == per_dep.end() ? 0 : it->second.second;
    if (JStr(d, "status") == "PRIMARY") d["desiredCount"] = JInt(doc, "desiredCount");
    else d["desiredCount"] = 0;
  }
  if (!tags) doc.erase("tags");
  return doc;
}

Json EcsApi::CreateService(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string name = JStr(in, "serviceName");
  if (!std::regex_match(name, kServiceName)) {
    throw InvalidParameter("Service names can have up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.");
  }
  std::string strategy = JStr(in, "schedulingStrategy", "REPLICA");
  if (strategy == "REPLICA" && !JGet(in, "desiredCount")) {
    throw InvalidParameter("The desired count must be specified when the scheduling strategy is REPLICA.");
  }
  if (JInt(in, "desiredCount") < 0) throw InvalidParameter("desiredCount must be greater than or equal to 0.");
  if (strategy == "DAEMON") {
    if (JGet(in, "desiredCount")) throw InvalidParameter(kDaemonDesiredCount);
    // Fargate has no instances to run one task each on.
    if (JStr(in, "launchType") == "FARGATE") {
      throw InvalidParameter("The daemon scheduling strategy is not supported with the FARGATE launch type.");
    }
  }
  if (JGet(in, "launchType") && JGet(in, "capacityProviderStrategy") && !in["capacityProviderStrategy"].empty()) {
    throw InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.");
  }
  std::string controller = JStr(in.value("deploymentController", Json::object()), "type", "ECS");
  if (controller != "ECS") {
    throw InvalidParameter("kecs runs services with the ECS deployment controller only.");
  }
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  Check(regions_.Ensure(store_, ctx.region, ctx.account_id, ctx.now));
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    EnsureCluster(tx, ctx, cluster, [&](state::Tx& t, RequestContext& c, const std::string& n) {
      return CreateClusterRecord(t, c, n, Json::object());
    });
    auto td = FindTaskDefinition(tx, ctx, JStr(in, "taskDefinition"));
    if (!td) throw ClientException("TaskDefinition not found.");
    if (td->status != "ACTIVE") throw ClientException("TaskDefinition is inactive");
    Json svc = {
        {"serviceArn", ServiceArn(ctx, cluster, name)},
        {"serviceName", name},
        {"clusterArn", ClusterArn(ctx, cluster)},
        {"loadBalancers", in.value("loadBalancers", Json::array())},
        {"serviceRegistries", in.value("serviceRegistries", Json::array())},
        {"status", "ACTIVE"},
        {"desiredCount", strategy == "DAEMON" ? 0 : JInt(in, "desiredCount")},
        {"runningCount", 0},
        {"pendingCount", 0},
    };
    if (JGet(in, "launchType")) svc["launchType"] = in["launchType"];
    if (JGet(in, "capacityProviderStrategy")) svc["capacityProviderStrategy"] = in["capacityProviderStrategy"];
    if (JStr(svc, "launchType") == "FARGATE") {
      svc["platformVersion"] = JStr(in, "platformVersion", "LATEST");
      svc["platformFamily"] = "Linux";
    }
    svc["taskDefinition"] = JStr(td->doc, "taskDefinitionArn");
    svc["deploymentConfiguration"] = DefaultDeploymentConfiguration(in.value("deploymentConfiguration", Json()), strategy == "DAEMON");
    if (JGet(in, "networkConfiguration")) svc["networkConfiguration"] = in["networkConfiguration"];
    ResolveNetwork(tx, ctx, td->doc, svc);
    ValidateRegistries(tx, ctx, svc["serviceRegistries"]);
    svc["placementConstraints"] = in.value("placementConstraints", Json::array());
    svc["placementStrategy"] = in.value("placementStrategy", Json::array());
    if (JGet(in, "healthCheckGracePeriodSeconds")) svc["healthCheckGracePeriodSeconds"] = in["healthCheckGracePeriodSeconds"];
    svc["schedulingStrategy"] = strategy;
    svc["deploymentController"] = {{"type", "ECS"}};
    svc["tags"] = tags;
    svc["createdBy"] = fmt::format("arn:aws:iam::{}:root", ctx.account_id);
    svc["enableECSManagedTags"] = JBool(in, "enableECSManagedTags");
    svc["propagateTags"] = JStr(in, "propagateTags", "NONE");
    svc["enableExecuteCommand"] = JBool(in, "enableExecuteCommand");
    svc["createdAt"] = Ts(ctx);
    svc["kecs:strict"] = ctx.strict;  // its tasks launch under the rules it was created with
    svc["events"] = Json::array();
    svc["deployments"] = Json::array({NewDeployment(ctx, svc)});

    auto existing = Check(tx.Get(kService, ctx.region, ServiceKey(cluster, name)));
    if (existing && existing->status != "INACTIVE") {
      // A retry with the clientToken that created the service gets it back; anything else
      // names a service that exists.
      auto token = JOptStr(in, "clientToken");
      if (token && existing->status == "ACTIVE" && JStr(existing->doc, "kecs:clientToken") == *token) {
        out = {{"service", ServiceView(tx, ctx, *existing, true)}};
        return Status::Ok();
      }
      throw InvalidParameter("Creation of service was not idempotent.");
    }
    if (auto token = JOptStr(in, "clientToken")) svc["kecs:clientToken"] = *token;
    state::Object o{kService, ctx.region, ServiceKey(cluster, name), cluster, name, "ACTIVE", 0, svc};
    Check(tx.Put(o));
    out = {{"service", ServiceView(tx, ctx, o, true)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeServices(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& refs = in.at("services");
  if (refs.empty()) throw InvalidParameter("Services cannot be empty.");
  if (refs.size() > 10) throw InvalidParameter("services can have at most 10 items.");
  bool tags = false;
  for (const auto& i : in.value("include", Json::array())) tags = tags || i == "TAGS";
  Json list = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& r : refs) {
      std::string name = model::NameFromArnOrName(r.get<std::string>());
      auto o = Check(tx.Get(kService, ctx.region, ServiceKey(cluster, name)));
      if (!o) {
        failures.push_back({{"arn", ServiceArn(ctx, cluster, name)}, {"reason", "MISSING"}});
        continue;
      }
      list.push_back(ServiceView(tx, ctx, *o, tags));
    }
    return Status::Ok();
  }));
  return {{"services", list}, {"failures", failures}};
}

Json EcsApi::ListServices(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  size_t max = MaxResults(in, 10, 100);
  std::optional<std::string> launch = JOptStr(in, "launchType"), strategy = JOptStr(in, "schedulingStrategy");
  std::vector<std::string> keys, arns;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& o : Check(tx.List({kService, ctx.region, cluster}))) {
      // A DRAINING service is no longer listed (DeleteService's documentation).
      if (o.status != "ACTIVE") continue;
      if (launch && JStr(o.doc, "launchType") != *launch) continue;
      if (strategy && JStr(o.doc, "schedulingStrategy") != *strategy) continue;
      keys.push_back(SeqKey(o.seq));
      arns.push_back(JStr(o.doc, "serviceArn"));
    }
    return Status::Ok();
  }));
  return ArnsPage("serviceArns", keys, arns, in, max);
}

Json EcsApi::ListServicesByNamespace(RequestContext& ctx, const Json& in) {
  std::string ns_ref = JStr(in, "namespace");
  size_t max = MaxResults(in, 10, 100);
  std::vector<std::string> keys, arns;
  Check(store_.Read([&](state::Tx& tx) {
    // The namespace by ARN, id or name.
    std::string ns_id;
    for (const auto& ns : Check(tx.List({"sd:namespace", ctx.region}))) {
      if (JStr(ns.doc, "Arn") == ns_ref || ns.id == ns_ref || JStr(ns.doc, "Name") == ns_ref) ns_id = ns.id;
    }
    if (ns_id.empty()) throw AwsError("NamespaceNotFoundException", "Namespace not found.");
    for (const auto& o : Check(tx.List({kService, ctx.region}))) {
      if (o.status == "INACTIVE") continue;
      bool in_ns = false;
      for (const auto& r : o.doc.value("serviceRegistries", Json::array())) {
        auto sd = Check(tx.Get("sd:service", ctx.region, model::NameFromArnOrName(JStr(r, "registryArn"))));
        in_ns = in_ns || (sd && JStr(sd->doc, "NamespaceId") == ns_id);
      }
      if (!in_ns) continue;
      keys.push_back(SeqKey(o.seq));
      arns.push_back(JStr(o.doc, "serviceArn"));
    }
    return Status::Ok();
  }));
  return ArnsPage("serviceArns", keys, arns, in, max);
}

Json EcsApi::UpdateService(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    state::Object o = RequireService(tx, ctx, cluster, JStr(in, "service"), true);
    Json& svc = o.doc;
    bool redeploy = JBool(in, "forceNewDeployment");
    if (auto dc = JOptInt(in, "desiredCount")) {
      if (*dc < 0) throw InvalidParameter("desiredCount must be greater than or equal to 0.");
      if (JStr(svc, "schedulingStrategy") == "DAEMON") {
        throw InvalidParameter(kDaemonDesiredCount);
      }
      svc["desiredCount"] = *dc;
    }
    if (auto ref = JOptStr(in, "taskDefinition")) {
      auto td = FindTaskDefinition(tx, ctx, *ref);
      if (!td) throw ClientException("TaskDefinition not found.");
      if (td->status != "ACTIVE") throw ClientException("TaskDefinition is inactive");
      if (JStr(td->doc, "taskDefinitionArn") != JStr(svc, "taskDefinition")) redeploy = true;
      svc["taskDefinition"] = JStr(td->doc, "taskDefinitionArn");
    }
    if (const Json* n = JGet(in, "networkConfiguration")) {
      if (*n != svc.value("networkConfiguration", Json())) redeploy = true;
      svc["networkConfiguration"] = *n;
    }
    if (const Json* c = JGet(in, "deploymentConfiguration")) {
      Json merged = svc.value("deploymentConfiguration", Json::object());
      for (auto it = c->begin(); it != c->end(); ++it) merged[it.key()] = it.value();
      svc["deploymentConfiguration"] = DefaultDeploymentConfiguration(merged, JStr(svc, "schedulingStrategy") == "DAEMON");
    }
    for (const char* k : {"placementConstraints", "placementStrategy", "healthCheckGracePeriodSeconds",
                          "enableExecuteCommand", "enableECSManagedTags", "propagateTags", "loadBalancers"}) {
      if (JGet(in, k)) svc[k] = in[k];
    }
    if (const Json* r = JGet(in, "serviceRegistries")) {
      ValidateRegistries(tx, ctx, *r);
      svc["serviceRegistries"] = *r;
      redeploy = true;
    }
    if (const Json* cp = JGet(in, "capacityProviderStrategy")) {
      svc["capacityProviderStrategy"] = *cp;
      redeploy = true;
    }
    if (auto pv = JOptStr(in, "platformVersion")) {
      svc["platformVersion"] = *pv;
      redeploy = true;
    }
    auto td = FindTaskDefinition(tx, ctx, JStr(svc, "taskDefinition"));
    if (td) ResolveNetwork(tx, ctx, td->doc, svc);
    Json& deps = svc["deployments"];
    if (redeploy) {
      for (auto& d : deps) d["status"] = "ACTIVE";
      deps.insert(deps.begin(), NewDeployment(ctx, svc));
      svc["kecs:steady"] = false;
    } else if (!deps.empty()) {
      deps[0]["desiredCount"] = svc["desiredCount"];
      deps[0]["updatedAt"] = Ts(ctx);
      // A changed desiredCount is new work for the deployment.
      if (JGet(in, "desiredCount")) svc["kecs:steady"] = false;
    }
    Check(tx.Put(o));
    out = {{"service", ServiceView(tx, ctx, o, false)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteService(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    state::Object o = RequireService(tx, ctx, cluster, JStr(in, "service"), false);
    if (o.status == "INACTIVE") throw AwsError("ServiceNotFoundException", "Service not found.");
    if (o.status == "ACTIVE") {
      bool replica = JStr(o.doc, "schedulingStrategy", "REPLICA") == "REPLICA";
      if (replica && JInt(o.doc, "desiredCount") > 0 && !JBool(in, "force")) {
        throw InvalidParameter("The service cannot be stopped while it is scaled above 0.");
      }
      o.doc["desiredCount"] = 0;
      o.status = "DRAINING";
      o.doc["status"] = "DRAINING";
      Check(tx.Put(o));
    }
    out = {{"service", ServiceView(tx, ctx, o, false)}};
    return Status::Ok();
  }));
  return out;
}

reconcile::LaunchedTasks EcsApi::LaunchServiceTasks(state::Tx& tx, const state::Object& service,
                                                    const Json& deployment, int count, double now) {
  reconcile::LaunchedTasks out;
  const Json& svc = service.doc;
  RequestContext ctx;
  ctx.region = service.region;
  auto arn = model::Arn::Parse(JStr(svc, "serviceArn"));
  ctx.account_id = arn ? arn->account : "000000000000";
  ctx.now = now;
  ctx.strict = JBool(svc, "kecs:strict");
  LaunchSpec spec;
  spec.cluster = service.parent;
  spec.task_definition = JStr(deployment, "taskDefinition");
  spec.launch_type = JOptStr(deployment, "launchType");
  spec.capacity_provider_strategy = deployment.value("capacityProviderStrategy", Json());
  spec.network_configuration = deployment.value("networkConfiguration", Json());
  spec.started_by = JStr(deployment, "id");
  spec.group = "service:" + service.name;
  spec.placement_constraints = svc.value("placementConstraints", Json::array());
  spec.placement_strategy = svc.value("placementStrategy", Json::array());
  spec.service_name = service.name;
  spec.deployment_id = JStr(deployment, "id");
  spec.propagate_tags = JStr(svc, "propagateTags") == "NONE" ? "" : JStr(svc, "propagateTags");
  spec.service_tags = svc.value("tags", Json::array());
  spec.enable_execute_command = JBool(svc, "enableExecuteCommand");
  bool daemon = JStr(svc, "schedulingStrategy") == "DAEMON";
  // Tasks go one at a time so that one that cannot be placed does not hold back the rest.
  for (int i = 0; i < count; ++i) {
    spec.count = 1;
    if (daemon) {
      // One task per ACTIVE instance that has none of this service yet.
      spec.container_instances.clear();
      std::set<std::string> busy;
      for (const auto& t : Check(tx.List({kTask, ctx.region, service.parent}))) {
        const Json* p = JGet(t.doc, "kecs:placement");
        if (p && t.status != "STOPPED" && JStr(t.doc, "kecs:service") == service.name &&
            JStr(t.doc, "desiredStatus") == "RUNNING") {
          busy.insert(JStr(*p, "instance"));
        }
      }
      for (const auto& inst : Check(tx.List({kInstance, ctx.region, service.parent}))) {
        if (inst.status == "ACTIVE" && !busy.count(inst.id)) {
          spec.container_instances.push_back(inst.id);
          break;
        }
      }
      if (spec.container_instances.empty()) break;
    }
    try {
      LaunchOutcome r = Launch(tx, ctx, options_, spec);
      for (const auto& t : r.tasks) out.task_ids.push_back(IdFromArnOrId(JStr(t, "taskArn")));
      if (!r.failures.empty()) {
        const Json& f = r.failures.front();
        out.failure = fmt::format(
            "No Container Instances were found in your cluster that met all of its requirements. The "
            "closest matching container-instance {} encountered error \"{}\".",
            IdFromArnOrId(JStr(f, "arn")), JStr(f, "reason"));
        break;
      }
    } catch (const AwsError& e) {
      out.failure = e.message();
      break;
    }
  }
  return out;
}

}  // namespace kecs::api::ecs
