#include "api/ecs/launch.h"

#include <algorithm>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/network.h"
#include "api/ecs/placement.h"
#include "api/ecs/task_definition_rules.h"
#include "base/host.h"
#include "base/ids.h"
#include "net/kernel/host_ports.h"
#include "model/arn.h"

namespace kecs::api::ecs {
namespace {

// The container definitions with the request's containerOverrides applied.
Json ApplyOverrides(const Json& defs, const Json& overrides) {
  Json out = defs;
  for (const auto& ov : overrides.value("containerOverrides", Json::array())) {
    std::string name = JStr(ov, "name");
    bool found = false;
    for (auto& c : out) {
      if (JStr(c, "name") != name) continue;
      found = true;
      if (const Json* cmd = JGet(ov, "command")) c["command"] = *cmd;
      for (const char* k : {"cpu", "memory", "memoryReservation"}) {
        if (JGet(ov, k)) c[k] = ov[k];
      }
      if (const Json* env = JGet(ov, "environment")) {
        Json merged = c.value("environment", Json::array());
        for (const auto& e : *env) {
          bool replaced = false;
          for (auto& m : merged) {
            if (JStr(m, "name") == JStr(e, "name")) {
              m["value"] = JStr(e, "value");
              replaced = true;
            }
          }
          if (!replaced) merged.push_back(e);
        }
        c["environment"] = merged;
      }
    }
    if (!found) {
      throw InvalidParameter(fmt::format(
          "Override for container named {} is not a container in the TaskDefinition.", name));
    }
  }
  return out;
}

std::string ResolveLaunchType(state::Tx& tx, RequestContext& ctx, const state::Object& cluster,
                              const LaunchSpec& spec, const std::string& mode, bool has_netcfg,
                              std::string* capacity_provider) {
  (void)tx;
  bool has_strategy = spec.capacity_provider_strategy.is_array() &&
                      !spec.capacity_provider_strategy.empty();
  if (spec.launch_type && has_strategy) {
    throw InvalidParameter(
        "Specifying both a launch type and capacity provider strategy is not supported. Remove "
        "one and try again.");
  }
  if (spec.launch_type) return *spec.launch_type;
  Json strategy = has_strategy ? spec.capacity_provider_strategy
                               : cluster.doc.value("defaultCapacityProviderStrategy", Json::array());
  if (!strategy.empty()) {
    // The first provider with weight (or base) wins; kecs runs every task on this host.
    const Json* pick = &strategy.front();
    for (const auto& s : strategy) {
      if (JInt(s, "base") > 0 || JInt(s, "weight") > 0) {
        pick = &s;
        break;
      }
    }
    std::string cp = JStr(*pick, "capacityProvider");
    if (has_strategy) {
      bool associated = cp == "FARGATE" || cp == "FARGATE_SPOT";
      for (const auto& n : cluster.doc.value("capacityProviders", Json::array())) {
        associated = associated || n == cp;
      }
      if (!associated) {
        throw InvalidParameter(fmt::format(
            "The specified capacity provider strategy cannot contain a capacity provider that "
            "is not associated with the cluster. Associate the capacity provider with the "
            "cluster or specify a valid capacity provider and try again."));
      }
    }
    *capacity_provider = cp;
    return (cp == "FARGATE" || cp == "FARGATE_SPOT") ? "FARGATE" : "EC2";
  }
  // Lenient: an awsvpc task run with a network configuration and no launch type runs as
  // on Fargate (its own ENI, public IP allowed), which is what the KECS flows expect.
  if (!ctx.strict && mode == "awsvpc" && has_netcfg) return "FARGATE";
  return "EC2";
}

}  // namespace

std::string TaskArn(const RequestContext& ctx, const std::string& cluster, const std::string& id) {
  return model::EcsArn(ctx.region, ctx.account_id, fmt::format("task/{}/{}", cluster, id));
}

Json TaskView(const state::Object& task, bool include_tags) {
  Json v = Public(task.doc);
  if (!include_tags) v.erase("tags");
  return v;
}

LaunchOutcome Launch(state::Tx& tx, RequestContext& ctx, const EcsOptions& options,
                     const LaunchSpec& spec) {
  LaunchOutcome out;
  if (spec.count < 1 || spec.count > 10) {
    throw InvalidParameter("count must be between 1 and 10.");
  }
  state::Object cluster = RequireCluster(tx, ctx, spec.cluster);
  auto td_obj = FindTaskDefinition(tx, ctx, spec.task_definition);
  if (!td_obj) throw ClientException("TaskDefinition not found.");
  const Json& td = td_obj->doc;
  // A deregistered revision runs no new standalone task; a service whose deployment uses
  // it keeps replacing its tasks, as on AWS.
  if (td_obj->status != "ACTIVE" && spec.service_name.empty()) {
    throw ClientException("TaskDefinition is inactive");
  }

  bool has_netcfg = spec.network_configuration.is_object() &&
                    JGet(spec.network_configuration, "awsvpcConfiguration");
  std::string mode = NetworkModeOf(td);
  if (!JGet(td, "networkMode") && has_netcfg && !ctx.strict) mode = "awsvpc";

  std::string capacity_provider;
  std::string launch_type = ResolveLaunchType(tx, ctx, cluster, spec, mode, has_netcfg, &capacity_provider);
  bool fargate = launch_type == "FARGATE";
  if (fargate) {
    bool compatible = false;
    for (const auto& c : td.value("compatibilities", Json::array())) compatible = compatible || c == "FARGATE";
    if (!compatible && (ctx.strict || mode != "awsvpc")) {
      throw InvalidParameter("Task definition does not support launch_type FARGATE.");
    }
  } else if (!spec.platform_version.empty() && spec.platform_version != "LATEST" && launch_type == "EC2") {
    throw InvalidParameter("The platform version must be null when specifying an EC2 launch type.");
  }

  NetworkPlan net = PlanNetwork(tx, ctx, mode, launch_type, spec.network_configuration,
                                /*explicit_launch_type=*/spec.launch_type.has_value() ||
                                    !capacity_provider.empty());

  Json containers_def = ApplyOverrides(td.at("containerDefinitions"), spec.overrides);
  const Json& task_ov = spec.overrides;
  int64_t cpu = 0, memory = 0;
  if (auto c = JOptStr(task_ov, "cpu")) cpu = ParseCpu(*c).value_or(0);
  else if (auto tc = JOptStr(td, "cpu")) cpu = ParseCpu(*tc).value_or(0);
  else for (const auto& c : containers_def) cpu += JInt(c, "cpu");
  if (auto m = JOptStr(task_ov, "memory")) memory = ParseMemory(*m).value_or(0);
  else if (auto tm = JOptStr(td, "memory")) memory = ParseMemory(*tm).value_or(0);
  else for (const auto& c : containers_def) memory += JInt(c, "memory", JInt(c, "memoryReservation"));
  if (fargate && !JGet(td, "cpu") && !JGet(task_ov, "cpu")) cpu = 256;
  if (fargate && !JGet(td, "memory") && !JGet(task_ov, "memory")) memory = 512;

  // Where each task goes: EC2 and EXTERNAL tasks take a container instance.
  std::vector<std::string> instance_ids;
  int to_launch = spec.count;
  if (!fargate) {
    std::vector<state::Object> candidates;
    if (!spec.container_instances.empty()) {
      for (const auto& ref : spec.container_instances) {
        auto o = Check(tx.Get(kInstance, ctx.region, IdFromArnOrId(ref)));
        if (!o || o->parent != spec.cluster) {
          out.failures.push_back({{"arn", ref}, {"reason", "MISSING"}});
          continue;
        }
        candidates.push_back(*o);
      }
    } else {
      for (auto& o : Check(tx.List({kInstance, ctx.region, spec.cluster}))) {
        if (o.status == "ACTIVE") candidates.push_back(std::move(o));
      }
      if (candidates.empty()) throw InvalidParameter("No Container Instances were found in your cluster.");
    }
    std::set<std::pair<std::string, int64_t>> host_ports = HostPortsInUse(tx);
    PlacementRequest req;
    req.host_ports = &host_ports;
    req.needs.cpu = cpu;
    req.needs.memory = memory;
    req.needs.eni = mode == "awsvpc";
    if (mode == "awsvpc") req.needs.zones = net.zones;
    req.needs.group = spec.group.empty() ? "family:" + JStr(td, "family") : spec.group;
    for (const auto& a : td.value("requiresAttributes", Json::array())) {
      req.needs.required_attributes.push_back(JStr(a, "name"));
    }
    if (mode == "bridge" || mode == "host") {
      for (const auto& c : containers_def) {
        for (const auto& pm : c.value("portMappings", Json::array())) {
          int64_t hp = JInt(pm, "hostPort", mode == "host" ? JInt(pm, "containerPort") : 0);
          if (hp > 0) req.needs.static_ports.push_back({JStr(pm, "protocol", "tcp"), hp});
        }
      }
    }
    req.constraints = td.value("placementConstraints", Json::array());
    for (const auto& c : spec.placement_constraints) req.constraints.push_back(c);
    req.strategy = spec.placement_strategy;
    auto usage = UsageByInstance(tx, ctx.region, spec.cluster);
    if (!spec.container_instances.empty()) {
      // StartTask: one task on each named instance (the same one may be named twice).
      for (const auto& inst : candidates) {
        req.count = 1;
        PlacementResult r = PlaceInto({inst}, usage, req);
        for (const auto& f : r.failures) {
          // One entry per instance and reason, as for RunTask.
          if (std::find(out.failures.begin(), out.failures.end(), f) == out.failures.end()) {
            out.failures.push_back(f);
          }
        }
        for (const auto& id : r.instances) instance_ids.push_back(id);
      }
    } else {
      req.count = spec.count;
      PlacementResult r = PlaceInto(candidates, usage, req);
      for (const auto& f : r.failures) out.failures.push_back(f);
      instance_ids = r.instances;
    }
    to_launch = static_cast<int>(instance_ids.size());
  }

  // Dynamic bridge host ports come from the ephemeral range, free on the whole host.
  std::set<std::pair<std::string, int64_t>> host_ports = HostPortsInUse(tx);
  Json tags = spec.tags;
  if (spec.propagate_tags == "TASK_DEFINITION") tags = MergeTags(td.value("kecs:tags", Json::array()), tags);
  if (spec.propagate_tags == "SERVICE") tags = MergeTags(spec.service_tags, tags);

  for (int i = 0; i < to_launch; ++i) {
    std::string id = RandomHex(32);
    std::string task_arn = TaskArn(ctx, spec.cluster, id);
    std::string instance_id = fargate ? "" : instance_ids[static_cast<size_t>(i)];
    std::optional<state::Object> inst;
    if (!instance_id.empty()) inst = Check(tx.Get(kInstance, ctx.region, instance_id));

    Json placement_ports = Json::array();
    Json containers = Json::array();
    Json container_overrides = Json::array();
    Json resolved_defs = containers_def;
    if (mode == "bridge") {
      // Pick this task's dynamic ports first: with none left it fails placement
      // (RESOURCE:PORTS) on its own, and the request's other tasks still run.
      bool exhausted = false;
      std::set<std::pair<std::string, int64_t>> taken = host_ports;
      for (auto& c : resolved_defs) {
        Json pms = c.value("portMappings", Json::array());
        for (auto& pm : pms) {
          if (JInt(pm, "hostPort") != 0) continue;
          std::string proto = JStr(pm, "protocol", "tcp");
          int64_t hp = 0;
          for (int64_t p = options.ephemeral_port_first; p <= options.ephemeral_port_last; ++p) {
            // Free in kecs's books and on the host (another program may hold it).
            if (!taken.count({proto, p}) && net::HostPortFree(proto, static_cast<int>(p))) {
              hp = p;
              break;
            }
          }
          if (hp == 0) {
            exhausted = true;
            break;
          }
          taken.insert({proto, hp});
          pm["hostPort"] = hp;
        }
        c["portMappings"] = pms;
        if (exhausted) break;
      }
      if (exhausted) {
        out.failures.push_back({{"arn", inst ? JStr(inst->doc, "containerInstanceArn") : ""},
                                {"reason", "RESOURCE:PORTS"}});
        continue;
      }
      host_ports = taken;
    }
    for (auto& c : resolved_defs) {
      Json bindings = Json::array();
      Json pms = c.value("portMappings", Json::array());
      for (auto& pm : pms) {
        std::string proto = JStr(pm, "protocol", "tcp");
        int64_t cport = JInt(pm, "containerPort");
        if (mode == "bridge") {
          int64_t hp = JInt(pm, "hostPort");
          placement_ports.push_back({{"protocol", proto}, {"port", hp}});
          bindings.push_back({{"bindIP", "0.0.0.0"}, {"containerPort", cport}, {"hostPort", hp},
                              {"protocol", proto}});
        } else if (mode == "host") {
          placement_ports.push_back({{"protocol", proto}, {"port", cport}});
          bindings.push_back({{"bindIP", "0.0.0.0"}, {"containerPort", cport}, {"hostPort", cport},
                              {"protocol", proto}});
        }
      }
      c["portMappings"] = pms;
      Json container = {
          {"containerArn", model::EcsArn(ctx.region, ctx.account_id,
                                         fmt::format("container/{}/{}/{}", spec.cluster, id, Uuid4()))},
          {"taskArn", task_arn},
          {"name", JStr(c, "name")},
          {"image", JStr(c, "image")},
          {"lastStatus", "PENDING"},
          {"networkInterfaces", Json::array()},
          {"healthStatus", "UNKNOWN"},
          {"cpu", std::to_string(JInt(c, "cpu"))},
      };
      if (JGet(c, "memory")) container["memory"] = std::to_string(JInt(c, "memory"));
      if (JGet(c, "memoryReservation")) container["memoryReservation"] = std::to_string(JInt(c, "memoryReservation"));
      if (!bindings.empty()) container["networkBindings"] = bindings;
      containers.push_back(container);
      Json ov = {{"name", JStr(c, "name")}};
      for (const auto& o : task_ov.value("containerOverrides", Json::array())) {
        if (JStr(o, "name") == JStr(c, "name")) ov = o;
      }
      container_overrides.push_back(ov);
    }
    Json overrides = task_ov;
    overrides["containerOverrides"] = container_overrides;
    if (!overrides.contains("inferenceAcceleratorOverrides")) overrides["inferenceAcceleratorOverrides"] = Json::array();

    std::string az = ctx.region + options.availability_zone_suffix;
    if (inst) {
      for (const auto& a : inst->doc.value("attributes", Json::array())) {
        if (JStr(a, "name") == "ecs.availability-zone") az = JStr(a, "value");
      }
    }
    if (!net.availability_zone.empty()) az = net.availability_zone;

    Json task = {
        {"attachments", net.AttachmentsAtLaunch()},
        {"attributes", Json::array({{{"name", "ecs.cpu-architecture"}, {"value", Host().arch}}})},
        {"availabilityZone", az},
        {"clusterArn", ClusterArn(ctx, spec.cluster)},
        {"containers", containers},
        {"cpu", std::to_string(cpu)},
        {"createdAt", Ts(ctx)},
        {"desiredStatus", "RUNNING"},
        {"enableExecuteCommand", spec.enable_execute_command},
        {"group", spec.group.empty() ? "family:" + JStr(td, "family") : spec.group},
        {"healthStatus", "UNKNOWN"},
        {"lastStatus", mode == "awsvpc" ? "PROVISIONING" : "PENDING"},
        {"launchType", launch_type},
        {"memory", std::to_string(memory)},
        {"overrides", overrides},
        {"tags", tags},
        {"taskArn", task_arn},
        {"taskDefinitionArn", JStr(td, "taskDefinitionArn")},
        {"version", 1},
    };
    if (inst) task["containerInstanceArn"] = JStr(inst->doc, "containerInstanceArn");
    if (!capacity_provider.empty()) task["capacityProviderName"] = capacity_provider;
    if (!spec.started_by.empty()) task["startedBy"] = spec.started_by;
    if (fargate) {
      task["platformVersion"] = spec.platform_version.empty() || spec.platform_version == "LATEST"
                                    ? "1.4.0" : spec.platform_version;
      task["platformFamily"] = "Linux";
      task["ephemeralStorage"] = {{"sizeInGiB", 20}};
    }
    task["kecs:networkMode"] = mode;
    task["kecs:containers"] = resolved_defs;
    task["kecs:network"] = net.ToJson();
    if (!spec.service_name.empty()) task["kecs:service"] = spec.service_name;
    if (!spec.deployment_id.empty()) task["kecs:deployment"] = spec.deployment_id;
    if (inst) {
      task["kecs:placement"] = {{"instance", instance_id}, {"cpu", cpu}, {"memory", memory},
                                {"ports", placement_ports}, {"eni", mode == "awsvpc"}};
    }
    Check(tx.Insert({kTask, ctx.region, id, spec.cluster, JStr(td, "family"),
                     JStr(task, "lastStatus"), 0, task}));
    out.tasks.push_back(Public(task));
  }
  return out;
}

}  // namespace kecs::api::ecs
