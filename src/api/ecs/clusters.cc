// ECS clusters: CreateCluster, DescribeClusters, ListClusters, UpdateCluster,
// UpdateClusterSettings, PutClusterCapacityProviders, DeleteCluster.
#include <algorithm>
#include <regex>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/pagination.h"
#include "model/arn.h"
#include "model/daemon.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

const std::regex kNameRe("^[a-zA-Z0-9_-]{1,255}$");

bool Pending(const std::string& s) {
  // AWS counts every task that has not reached RUNNING and is not stopping as pending.
  return s == "PROVISIONING" || s == "PENDING" || s == "ACTIVATING";
}

void ValidateSettings(const Json& settings) {
  if (!settings.is_array()) return;
  for (const auto& s : settings) {
    if (JStr(s, "name") != "containerInsights") {
      throw InvalidParameter("Invalid setting 'name'");
    }
    std::string v = JStr(s, "value");
    if (v != "enabled" && v != "disabled" && v != "enhanced") {
      throw InvalidParameter("Invalid setting 'value'");
    }
  }
}

Json MergeSettings(const Json& current, const Json& updates) {
  Json out = current.is_array() ? current : Json::array();
  for (const auto& u : updates) {
    bool found = false;
    for (auto& c : out) {
      if (JStr(c, "name") == JStr(u, "name")) {
        c["value"] = JStr(u, "value");
        found = true;
      }
    }
    if (!found) out.push_back({{"name", JStr(u, "name")}, {"value", JStr(u, "value")}});
  }
  return out;
}

void ValidateCapacityProviders(state::Tx& tx, const RequestContext& ctx, const Json& names,
                               const Json& strategy) {
  auto known = [&](const std::string& n) {
    if (n == "FARGATE" || n == "FARGATE_SPOT") return true;
    auto o = Check(tx.Get(kCapacityProvider, ctx.region, n));
    return o.has_value() && o->status == "ACTIVE";
  };
  if (names.is_array()) {
    for (const auto& n : names) {
      std::string name = n.is_string() ? n.get<std::string>() : "";
      if (!known(name)) {
        throw InvalidParameter(fmt::format("The specified capacity provider '{}' is not in an ACTIVE state. Specify a valid capacity provider and try again.", name));
      }
    }
  }
  if (strategy.is_array()) {
    for (const auto& s : strategy) {
      std::string cp = JStr(s, "capacityProvider");
      bool listed = false;
      if (names.is_array()) {
        for (const auto& n : names) listed = listed || (n.is_string() && n.get<std::string>() == cp);
      }
      if (!listed) {
        throw InvalidParameter(fmt::format(
            "The specified capacity provider strategy cannot contain a capacity provider that is "
            "not associated with the cluster. Associate the capacity provider with the cluster "
            "or specify a valid capacity provider and try again."));
      }
    }
  }
}

}  // namespace

state::Object EcsApi::CreateClusterRecord(state::Tx& tx, RequestContext& ctx,
                                          const std::string& name, const Json& in) {
  Json settings = Json::array({{{"name", "containerInsights"}, {"value", "disabled"}}});
  if (const Json* s = JGet(in, "settings")) {
    ValidateSettings(*s);
    settings = MergeSettings(settings, *s);
  }
  Json cps = in.value("capacityProviders", Json::array());
  Json strategy = in.value("defaultCapacityProviderStrategy", Json::array());
  ValidateCapacityProviders(tx, ctx, cps, strategy);
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);

  Json doc = {
      {"clusterArn", ClusterArn(ctx, name)},
      {"clusterName", name},
      {"status", "ACTIVE"},
      {"statistics", Json::array()},
      {"tags", tags},
      {"settings", settings},
      {"capacityProviders", cps},
      {"defaultCapacityProviderStrategy", strategy},
  };
  if (const Json* c = JGet(in, "configuration")) doc["configuration"] = *c;
  if (const Json* c = JGet(in, "serviceConnectDefaults")) doc["serviceConnectDefaults"] = *c;
  state::Object o{kCluster, ctx.region, name, "", name, "ACTIVE", 0, doc};
  Check(tx.Put(o));
  // Lenient mode gives every cluster this host as a container instance, so EC2 tasks run
  // without any set-up; with --strict a cluster starts with none, as on AWS (issue 17):
  // instances join by registering (RunInstances with ECS_CLUSTER, RegisterContainerInstance).
  // With the kubernetes runtime the nodes are the cluster's instances instead, at once.
  if (!ctx.strict && options_.host_instance) NewContainerInstance(tx, ctx, name, /*managed=*/true, Json::object());
  if (nodes_) Check(nodes_->SyncCluster(tx, o, ctx.now));
  return o;
}

Json EcsApi::ClusterView(state::Tx& tx, const RequestContext& ctx, const state::Object& cluster,
                         const std::vector<std::string>& include) {
  auto has = [&](const char* what) {
    return std::find(include.begin(), include.end(), what) != include.end();
  };
  Json doc = Public(cluster.doc);
  int64_t running = 0, pending = 0, instances = 0, services = 0;
  int64_t running_ec2 = 0, running_fg = 0, pending_ec2 = 0, pending_fg = 0;
  int64_t active_ec2_svc = 0, active_fg_svc = 0, draining_ec2_svc = 0, draining_fg_svc = 0;
  if (cluster.status == "ACTIVE") {
    state::Query q{kTask, ctx.region, cluster.name};
    // A STOPPED task counts nowhere: its document is not read (issue 19: a cluster may
    // retain tens of thousands).
    q.status_not = "STOPPED";
    for (const auto& t : Check(tx.List(q))) {
      bool fargate = JStr(t.doc, "launchType") == "FARGATE";
      if (t.status == "RUNNING") {
        ++running;
        ++(fargate ? running_fg : running_ec2);
      } else if (Pending(t.status)) {
        ++pending;
        ++(fargate ? pending_fg : pending_ec2);
      }
    }
    for (const auto& i : Check(tx.List({kInstance, ctx.region, cluster.name}))) {
      if (i.status == "ACTIVE" || i.status == "DRAINING") ++instances;
    }
    for (const auto& s : Check(tx.List({kService, ctx.region, cluster.name}))) {
      bool fargate = JStr(s.doc, "launchType") == "FARGATE";
      if (s.status == "ACTIVE") {
        ++services;
        ++(fargate ? active_fg_svc : active_ec2_svc);
      } else if (s.status == "DRAINING") {
        ++(fargate ? draining_fg_svc : draining_ec2_svc);
      }
    }
  }
  Json out = {
      {"clusterArn", doc["clusterArn"]},
      {"clusterName", doc["clusterName"]},
      {"status", cluster.status},
      {"registeredContainerInstancesCount", instances},
      {"runningTasksCount", running},
      {"pendingTasksCount", pending},
      {"activeServicesCount", services},
      {"statistics", Json::array()},
      {"tags", Json::array()},
      {"capacityProviders", doc.value("capacityProviders", Json::array())},
      {"defaultCapacityProviderStrategy", doc.value("defaultCapacityProviderStrategy", Json::array())},
  };
  if (has("STATISTICS")) {
    auto kv = [](const char* n, int64_t v) { return Json{{"name", n}, {"value", std::to_string(v)}}; };
    out["statistics"] = Json::array({kv("runningEC2TasksCount", running_ec2),
                                     kv("runningFargateTasksCount", running_fg),
                                     kv("pendingEC2TasksCount", pending_ec2),
                                     kv("pendingFargateTasksCount", pending_fg),
                                     kv("activeEC2ServiceCount", active_ec2_svc),
                                     kv("activeFargateServiceCount", active_fg_svc),
                                     kv("drainingEC2ServiceCount", draining_ec2_svc),
                                     kv("drainingFargateServiceCount", draining_fg_svc)});
  }
  if (has("TAGS")) out["tags"] = doc.value("tags", Json::array());
  if (has("SETTINGS")) out["settings"] = doc.value("settings", Json::array());
  if (has("CONFIGURATIONS") && doc.contains("configuration")) out["configuration"] = doc["configuration"];
  if (has("ATTACHMENTS")) {
    out["attachments"] = doc.value("attachments", Json::array());
    if (doc.contains("attachmentsStatus")) out["attachmentsStatus"] = doc["attachmentsStatus"];
  }
  if (doc.contains("serviceConnectDefaults")) out["serviceConnectDefaults"] = doc["serviceConnectDefaults"];
  return out;
}

Json EcsApi::CreateCluster(RequestContext& ctx, const Json& in) {
  std::string name = JStr(in, "clusterName", "default");
  if (!std::regex_match(name, kNameRe)) {
    throw InvalidParameter(
        "Cluster name can have up to 255 characters: letters (uppercase and lowercase), "
        "numbers, underscores and hyphens.");
  }
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto existing = Check(tx.Get(kCluster, ctx.region, name));
    // CreateCluster is idempotent: an ACTIVE cluster of that name is returned as it is.
    state::Object o = (existing && existing->status == "ACTIVE")
                          ? *existing
                          : CreateClusterRecord(tx, ctx, name, in);
    out = {{"cluster", ClusterView(tx, ctx, o, {"SETTINGS", "TAGS", "CONFIGURATIONS"})}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeClusters(RequestContext& ctx, const Json& in) {
  std::vector<std::string> names;
  if (const Json* c = JGet(in, "clusters")) {
    for (const auto& n : *c) names.push_back(model::NameFromArnOrName(n.get<std::string>()));
  }
  if (names.empty()) names.push_back("default");
  std::vector<std::string> include;
  if (const Json* inc = JGet(in, "include")) {
    for (const auto& i : *inc) include.push_back(i.get<std::string>());
  }
  Json clusters = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& n : names) {
      auto o = Check(tx.Get(kCluster, ctx.region, n));
      if (!o) {
        failures.push_back({{"arn", ClusterArn(ctx, n)}, {"reason", "MISSING"}});
        continue;
      }
      clusters.push_back(ClusterView(tx, ctx, *o, include));
    }
    return Status::Ok();
  }));
  return {{"clusters", clusters}, {"failures", failures}};
}

Json EcsApi::ListClusters(RequestContext& ctx, const Json& in) {
  size_t max = MaxResults(in, 100, 100);
  std::vector<std::string> keys, arns;
  Check(store_.Read([&](state::Tx& tx) {
    // Only the seq and the ARN of the ACTIVE clusters, in seq order: Tx::List would decode
    // every cluster's document and internal object to take one member.
    state::Query q{kCluster, ctx.region};
    q.status = "ACTIVE";
    for (auto& [seq, arn] : Check(tx.ListMember(q, "clusterArn"))) {
      keys.push_back(SeqKey(seq));
      arns.push_back(std::move(arn));
    }
    return Status::Ok();
  }));
  return ArnsPage("clusterArns", keys, arns, in, max);
}

Json EcsApi::UpdateCluster(RequestContext& ctx, const Json& in) {
  std::string name = ClusterName(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = RequireCluster(tx, ctx, name);
    if (const Json* s = JGet(in, "settings")) {
      ValidateSettings(*s);
      o.doc["settings"] = MergeSettings(o.doc.value("settings", Json::array()), *s);
    }
    if (const Json* c = JGet(in, "configuration")) o.doc["configuration"] = *c;
    if (const Json* c = JGet(in, "serviceConnectDefaults")) o.doc["serviceConnectDefaults"] = *c;
    Check(tx.Put(o));
    out = {{"cluster", ClusterView(tx, ctx, o, {"SETTINGS", "CONFIGURATIONS", "TAGS"})}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::UpdateClusterSettings(RequestContext& ctx, const Json& in) {
  std::string name = ClusterName(in);
  const Json& settings = in.at("settings");
  ValidateSettings(settings);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = RequireCluster(tx, ctx, name);
    o.doc["settings"] = MergeSettings(o.doc.value("settings", Json::array()), settings);
    Check(tx.Put(o));
    out = {{"cluster", ClusterView(tx, ctx, o, {"SETTINGS"})}};
    return Status::Ok();
  }));
  return out;
}

namespace {

// A provider leaves a cluster only when no task that is not STOPPED (waiting ones included)
// runs on it and no ACTIVE or DRAINING service's strategy names it: "The specified capacity
// provider is in use and cannot be removed." (ResourceInUseException, quoted in
// pahud/cdk-fargate-patterns#71 and aws/containers-roadmap#631).
void RefuseRemovingProvidersInUse(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                                  const Json& before, const Json& after) {
  auto in_use = [] {
    return AwsError("ResourceInUseException", "The specified capacity provider is in use and cannot be removed.");
  };
  for (const auto& p : before) {
    if (!p.is_string() || std::find(after.begin(), after.end(), p) != after.end()) continue;
    const std::string name = p.get<std::string>();
    state::Query q{kTask, ctx.region, cluster};
    q.doc_equals = {{"capacityProviderName", name}};
    for (const auto& t : Check(state::records::ListTasks(tx, q))) {
      if (t.last_status != model::TaskStatus::kStopped) throw in_use();
    }
    state::records::ServiceQuery sq;
    sq.region = ctx.region;
    sq.cluster = cluster;
    for (const auto& svc : Check(state::records::ListServices(tx, sq))) {
      if (svc.status == model::ServiceStatus::kInactive || !svc.capacity_provider_strategy.is_array()) continue;
      for (const auto& item : svc.capacity_provider_strategy) {
        if (JStr(item, "capacityProvider") == name) throw in_use();
      }
    }
  }
}

}  // namespace

Json EcsApi::PutClusterCapacityProviders(RequestContext& ctx, const Json& in) {
  std::string name = ClusterName(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = RequireCluster(tx, ctx, name);
    ValidateCapacityProviders(tx, ctx, in.at("capacityProviders"),
                              in.at("defaultCapacityProviderStrategy"));
    RefuseRemovingProvidersInUse(tx, ctx, name, o.doc.value("capacityProviders", Json::array()),
                                 in.at("capacityProviders"));
    o.doc["capacityProviders"] = in.at("capacityProviders");
    o.doc["defaultCapacityProviderStrategy"] = in.at("defaultCapacityProviderStrategy");
    Check(tx.Put(o));
    out = {{"cluster", ClusterView(tx, ctx, o, {"SETTINGS"})}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteCluster(RequestContext& ctx, const Json& in) {
  std::string name = ClusterName(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto o = Check(tx.Get(kCluster, ctx.region, name));
    if (!o) throw ClusterNotFound();
    if (o->status != "ACTIVE") {
      // Deleting a deleted cluster returns it, INACTIVE, as AWS does.
      out = {{"cluster", ClusterView(tx, ctx, *o, {})}};
      return Status::Ok();
    }
    for (const auto& s : Check(tx.List({kService, ctx.region, name}))) {
      if (s.status == "ACTIVE" || s.status == "DRAINING") {
        throw AwsError("ClusterContainsServicesException",
                       "The Cluster cannot be deleted while Services are active.");
      }
    }
    // ACTIVE daemons would keep running tasks in an INACTIVE cluster. DeleteCluster's error
    // list has no daemon exception and no source says what ECS answers: kecs refuses with a
    // ClientException in the words of the services' refusal.
    for (const auto& d : Check(tx.List({model::kDaemon, ctx.region, name}))) {
      if (d.status == "ACTIVE") {
        throw ClientException("The Cluster cannot be deleted while Daemons are active.");
      }
    }
    for (const auto& t : Check(tx.List({kTask, ctx.region, name}))) {
      if (t.status != "STOPPED") {
        throw AwsError("ClusterContainsTasksException",
                       "The Cluster cannot be deleted while Tasks are active.");
      }
    }
    auto instances = Check(tx.List({kInstance, ctx.region, name}));
    for (const auto& i : instances) {
      bool managed = JBool(i.doc, "kecs:managed");
      if (!managed && (i.status == "ACTIVE" || i.status == "DRAINING")) {
        throw AwsError("ClusterContainsContainerInstancesException",
                       "The Cluster cannot be deleted while Container Instances are active or "
                       "draining.");
      }
    }
    // The host's own instance goes with its cluster.
    for (auto i : instances) {
      if (i.status == "INACTIVE") continue;
      i.status = "INACTIVE";
      i.doc["status"] = "INACTIVE";
      Check(tx.Put(i));
    }
    o->status = "INACTIVE";
    o->doc["status"] = "INACTIVE";
    Check(tx.Put(*o));
    out = {{"cluster", ClusterView(tx, ctx, *o, {"SETTINGS", "TAGS"})}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace kecs::api::ecs
