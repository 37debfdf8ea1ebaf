#include "api/ecs/launch.h"

#include <algorithm>

#include <limits>
#include <regex>

#include <fmt/format.h>

#include "api/ecs/capacity_scaling.h"
#include "api/ecs/common.h"
#include "api/ecs/placement.h"
#include "api/ecs/task_definition_rules.h"
#include "base/host.h"
#include "base/ids.h"
#include "model/arn.h"
#include "net/domain/vpc.h"
#include "net/kernel/host_ports.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

std::string ResolveLaunchType(state::Tx& tx, RequestContext& ctx, const state::Object& cluster,
                              const LaunchSpec& spec, const std::string& mode, bool has_netcfg,
                              std::string* capacity_provider) {
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
    // The first provider with weight (or base) decides the launch type and network; Launch
    // spreads the tasks over the strategy's providers (SplitByStrategy).
    const Json* pick = &strategy.front();
    for (const auto& s : strategy) {
      if (JInt(s, "base") > 0 || JInt(s, "weight") > 0) {
        pick = &s;
        break;
      }
    }
    std::string cp = JStr(*pick, "capacityProvider");
    bool fargate = false, asg = false;
    for (const auto& s : strategy) {
      std::string name = JStr(s, "capacityProvider");
      bool built_in = name == "FARGATE" || name == "FARGATE_SPOT";
      fargate = fargate || built_in;
      if (!built_in) {
        auto row = Check(tx.Get(kCapacityProvider, ctx.region, name));
        asg = asg || (row && row->doc.contains("autoScalingGroupProvider"));
      }
      if (!has_strategy) continue;
      bool associated = built_in;
      for (const auto& n : cluster.doc.value("capacityProviders", Json::array())) {
        associated = associated || n == name;
      }
      if (!associated) {
        throw InvalidParameter(fmt::format(
            "The specified capacity provider strategy cannot contain a capacity provider that "
            "is not associated with the cluster. Associate the capacity provider with the "
            "cluster or specify a valid capacity provider and try again."));
      }
    }
    if (fargate && asg) {
      // ECS's words, as Terraform users quote them (terraform-aws-modules/terraform-aws-ecs#68).
      throw InvalidParameter(
          "A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups "
          "and Fargate providers. Specify one or the other and try again.");
    }
    *capacity_provider = cp;
    return (cp == "FARGATE" || cp == "FARGATE_SPOT") ? "FARGATE" : "EC2";
  }
  // Lenient: an awsvpc task run with a network configuration and no launch type runs as
  // on Fargate (its own ENI, public IP allowed), which is what the KECS flows expect.
  if (!ctx.strict && mode == "awsvpc" && has_netcfg) return "FARGATE";
  return "EC2";
}

// The task's cpu and memory: the request's task-level override, else the task
// definition's, else the sum over its containers; Fargate's smallest size by default.
void ResolveSize(const Json& td, const Json& task_ov, ResolvedLaunch& r) {
  if (auto c = JOptStr(task_ov, "cpu")) r.cpu = ParseCpu(*c).value_or(0);
  else if (auto tc = JOptStr(td, "cpu")) r.cpu = ParseCpu(*tc).value_or(0);
  else for (const auto& c : r.containers) r.cpu += JInt(c, "cpu");
  if (auto m = JOptStr(task_ov, "memory")) r.memory = ParseMemory(*m).value_or(0);
  else if (auto tm = JOptStr(td, "memory")) r.memory = ParseMemory(*tm).value_or(0);
  else for (const auto& c : r.containers) r.memory += JInt(c, "memory", JInt(c, "memoryReservation"));
  if (r.fargate() && !JGet(td, "cpu") && !JGet(task_ov, "cpu")) r.cpu = 256;
  if (r.fargate() && !JGet(td, "memory") && !JGet(task_ov, "memory")) r.memory = 512;
}

// What each task of the launch asks of a container instance.
PlacementRequest PlacementRequestFor(const LaunchSpec& spec, const ResolvedLaunch& r) {
  PlacementRequest req;
  req.needs.cpu = r.cpu;
  req.needs.memory = r.memory;
  req.needs.eni = r.mode == "awsvpc";
  if (r.mode == "awsvpc") req.needs.zones = r.net.zones;
  req.needs.group = r.group;
  for (const auto& a : r.task_definition.value("requiresAttributes", Json::array())) {
    req.needs.required_attributes.push_back(JStr(a, "name"));
  }
  if (r.mode == "bridge" || r.mode == "host") {
    for (const auto& c : r.containers) {
      for (const auto& pm : c.value("portMappings", Json::array())) {
        int64_t hp = JInt(pm, "hostPort", r.mode == "host" ? JInt(pm, "containerPort") : 0);
        if (hp > 0) req.needs.static_ports.push_back({JStr(pm, "protocol", "tcp"), hp});
      }
    }
  }
  req.constraints = r.task_definition.value("placementConstraints", Json::array());
  for (const auto& c : spec.placement_constraints) req.constraints.push_back(c);
  req.strategy = spec.placement_strategy;
  return req;
}

// What the runtime needs of one container definition: an AWS ContainerDefinition (task
// definitions are still stored in AWS's shape) with the request's overrides applied and its
// host ports resolved. `subject` names the task definition in errors.
model::ContainerDefinition DefinitionOf(const Json& c, const std::string& subject) {
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    for (const auto& v : c.value(key, Json::array())) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
    return out;
  };
  model::ContainerDefinition d;
  d.name = JStr(c, "name");
  d.image = JStr(c, "image");
  d.entry_point = strings("entryPoint");
  d.command = strings("command");
  for (const auto& e : c.value("environment", Json::array())) {
    d.environment.push_back({JStr(e, "name"), JStr(e, "value")});
  }
  d.working_directory = JStr(c, "workingDirectory");
  d.user = JStr(c, "user");
  d.cpu = JInt(c, "cpu");
  if (JGet(c, "memory")) d.memory = JInt(c, "memory");
  if (JGet(c, "memoryReservation")) d.memory_reservation = JInt(c, "memoryReservation");
  d.essential = JBool(c, "essential", true);
  d.readonly_root_filesystem = JBool(c, "readonlyRootFilesystem");
  for (const auto& u : c.value("ulimits", Json::array())) {
    d.ulimits.push_back({JStr(u, "name"), JInt(u, "softLimit"), JInt(u, "hardLimit")});
  }
  if (JGet(c, "stopTimeout")) d.stop_timeout = static_cast<int>(JInt(c, "stopTimeout"));
  d.hostname = JStr(c, "hostname");
  d.dns_servers = strings("dnsServers");
  d.dns_search_domains = strings("dnsSearchDomains");
  for (const auto& h : c.value("extraHosts", Json::array())) {
    d.extra_hosts.push_back({JStr(h, "hostname"), JStr(h, "ipAddress")});
  }
  for (const auto& pm : c.value("portMappings", Json::array())) {
    d.port_mappings.push_back({static_cast<int>(JInt(pm, "containerPort")),
                               static_cast<int>(JInt(pm, "hostPort")), JStr(pm, "protocol", "tcp")});
  }
  // Issue 12's members, read as the store reads them (validated at registration).
  Check(state::records::ReadContainerSettings(subject, c, d));
  // The container's id in its task metadata URIs: random and unguessable (128 bits from
  // the CSPRNG of base/ids.h), since the URI is all a caller presents.
  d.metadata_id = RandomHex(32);
  return d;
}

// Each container as the task shows it, with its networkBindings.
std::vector<model::Container> ContainersOf(const RequestContext& ctx, const ResolvedLaunch& r,
                                           const model::Task& task) {
  std::vector<model::Container> out;
  for (const auto& d : task.internal.containers) {
    model::Container c;
    c.container_arn = model::EcsArn(ctx.region, ctx.account_id,
                                    fmt::format("container/{}/{}/{}", task.cluster, task.id, Uuid4()));
    c.task_arn = task.task_arn;
    c.name = d.name;
    c.image = d.image;
    c.cpu = std::to_string(d.cpu);
    if (d.memory) c.memory = std::to_string(*d.memory);
    if (d.memory_reservation) c.memory_reservation = std::to_string(*d.memory_reservation);
    if (r.mode == "bridge" || r.mode == "host") {
      for (const auto& pm : d.port_mappings) {
        c.network_bindings.push_back({"0.0.0.0", pm.container_port,
                                      r.mode == "bridge" ? pm.host_port : pm.container_port, pm.protocol});
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

// What a task placed on `instance` holds of it.
model::TaskPlacement PlacementOf(const ResolvedLaunch& r, const state::Object& instance,
                                 const std::vector<model::ContainerDefinition>& defs) {
  model::TaskPlacement p;
  p.instance = instance.id;
  p.cpu = r.cpu;
  p.memory = r.memory;
  p.eni = r.mode == "awsvpc";
  if (r.mode == "bridge" || r.mode == "host") {
    for (const auto& d : defs) {
      for (const auto& pm : d.port_mappings) {
        p.ports.push_back({pm.protocol, r.mode == "bridge" ? pm.host_port : pm.container_port});
      }
    }
  }
  return p;
}

// An IAM role as a task definition or an override names it: its ARN, or its short name.
const std::regex kRoleArnRe(R"(^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$)");
const std::regex kRoleNameRe(R"(^[\w+=,.@-]{1,64}$)");

// The role's ARN: a short name is the caller's account's role, as ECS reads it.
std::string RoleArnOf(const RequestContext& ctx, const std::string& role) {
  if (role.empty() || role.starts_with("arn:")) return role;
  return fmt::format("arn:aws:iam::{}:role/{}", ctx.account_id, role);
}

// overrides.taskRoleArn and executionRoleArn name a role (the model only says "String").
// No source quotes ECS refusing a malformed one; the wording is kecs's.
void ValidateRoleOverrides(const Json& overrides) {
  for (const char* member : {"taskRoleArn", "executionRoleArn"}) {
    const Json* v = JGet(overrides, member);
    if (!v) continue;
    std::string role = v->is_string() ? v->get<std::string>() : "";
    if (!std::regex_match(role, kRoleArnRe) && !std::regex_match(role, kRoleNameRe)) {
      throw InvalidParameter(fmt::format(
          "overrides.{} should be the ARN or the name of an IAM role.", member));
    }
  }
}

// The request's overrides as the task shows them: one containerOverrides entry per container.
Json TaskOverrides(const Json& task_ov, const Json& defs) {
  Json container_overrides = Json::array();
  for (const auto& c : defs) {
    Json ov = {{"name", JStr(c, "name")}};
    for (const auto& o : task_ov.value("containerOverrides", Json::array())) {
      if (JStr(o, "name") == JStr(c, "name")) ov = o;
    }
    container_overrides.push_back(ov);
  }
  Json overrides = task_ov;
  overrides["containerOverrides"] = container_overrides;
  if (!overrides.contains("inferenceAcceleratorOverrides")) overrides["inferenceAcceleratorOverrides"] = Json::array();
  return overrides;
}

}  // namespace

// ---- PortProbe ----------------------------------------------------------------------------

PortProbe PortProbe::Live(FreeFn free_fn) {
  PortProbe p;
  p.live_ = std::move(free_fn);
  return p;
}

PortProbe PortProbe::Gather(const std::map<std::string, int>& want, int64_t first, int64_t last,
                            const std::set<HostPort>& books, const FreeFn& free_fn) {
  PortProbe p;
  for (const auto& [proto, n] : want) {
    int found = 0;
    int64_t port = first;
    for (; port <= last && found < n; ++port) {
      // A port in kecs's books is skipped inside the transaction whatever the probe says;
      // it is probed anyway, so that it is known if its task stops meanwhile.
      if (!free_fn(proto, port)) {
        p.busy_.insert({proto, port});
      } else if (!books.count({proto, port})) {
        ++found;
      }
    }
    p.probed_through_[proto] = found < n ? last : port - 1;
  }
  return p;
}

PortProbe::Answer PortProbe::Ask(const std::string& protocol, int64_t port) const {
  if (live_) return live_(protocol, port) ? Answer::kFree : Answer::kBusy;
  auto it = probed_through_.find(protocol);
  if (it == probed_through_.end() || port > it->second) return Answer::kUnknown;
  return busy_.count({protocol, port}) ? Answer::kBusy : Answer::kFree;
}

// ---- Stage 1: resolve ---------------------------------------------------------------------

Json ApplyContainerOverrides(const Json& defs, const Json& overrides) {
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

ResolvedLaunch ResolveLaunch(state::Tx& tx, RequestContext& ctx, const LaunchSpec& spec) {
  if (spec.count < 1 || spec.count > 10) {
    throw InvalidParameter("count must be between 1 and 10.");
  }
  ResolvedLaunch r;
  r.cluster = spec.cluster;
  state::Object cluster = RequireCluster(tx, ctx, spec.cluster);
  if (spec.task_definition_doc.is_object()) {
    r.task_definition = spec.task_definition_doc;
  } else {
    auto td_obj = FindTaskDefinition(tx, ctx, spec.task_definition);
    if (!td_obj) throw ClientException("TaskDefinition not found.");
    // A deregistered revision runs no new standalone task; a service whose deployment uses
    // it keeps replacing its tasks, as on AWS.
    if (td_obj->status != "ACTIVE" && spec.service_name.empty()) {
      throw ClientException("TaskDefinition is inactive");
    }
    r.task_definition = std::move(td_obj->doc);
  }
  const Json& td = r.task_definition;

  bool has_netcfg = spec.network_configuration.is_object() &&
                    JGet(spec.network_configuration, "awsvpcConfiguration");
  r.mode = NetworkModeOf(td);
  if (!JGet(td, "networkMode") && has_netcfg && !ctx.strict) r.mode = "awsvpc";

  r.launch_type = ResolveLaunchType(tx, ctx, cluster, spec, r.mode, has_netcfg, &r.capacity_provider);
  if (r.fargate()) {
    bool compatible = false;
    for (const auto& c : td.value("compatibilities", Json::array())) compatible = compatible || c == "FARGATE";
    if (!compatible && (ctx.strict || r.mode != "awsvpc")) {
      throw InvalidParameter("Task definition does not support launch_type FARGATE.");
    }
  } else if (!spec.platform_version.empty() && spec.platform_version != "LATEST" && r.launch_type == "EC2") {
    throw InvalidParameter("The platform version must be null when specifying an EC2 launch type.");
  }

  r.net = PlanNetwork(tx, ctx, r.mode, r.launch_type, spec.network_configuration,
                      /*explicit_launch_type=*/spec.launch_type.has_value() ||
                          !r.capacity_provider.empty());
  ValidateRoleOverrides(spec.overrides);
  r.containers = ApplyContainerOverrides(td.at("containerDefinitions"), spec.overrides);
  ResolveSize(td, spec.overrides, r);
  r.group = spec.group.empty() ? "family:" + JStr(td, "family") : spec.group;
  r.tags = spec.tags;
  if (spec.propagate_tags == "TASK_DEFINITION") r.tags = MergeTags(td.value("kecs:tags", Json::array()), r.tags);
  if (spec.propagate_tags == "SERVICE") r.tags = MergeTags(spec.service_tags, r.tags);
  return r;
}

// ---- Stage 2: place -----------------------------------------------------------------------

PlacedTasks PlaceTasks(state::Tx& tx, const RequestContext& ctx, const LaunchSpec& spec,
                       const ResolvedLaunch& r) {
  PlacedTasks out;
  if (r.fargate()) {
    out.instances.resize(static_cast<size_t>(spec.count));
    return out;
  }
  // EC2 and EXTERNAL tasks take a container instance.
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
    // "Only instances connected to an agent can accept task placement requests" (ECS API
    // reference, ContainerInstance.agentConnected): a stopped EC2 instance's, issue 17.
    // An Auto Scaling group provider's tasks go to its own instances (capacity_scaling.h).
    ProviderPlacement pp = ProviderPlacementOf(tx, ctx.region, r.capacity_provider);
    for (auto& o : Check(tx.List({kInstance, ctx.region, spec.cluster}))) {
      if (pp.own_instances && JStr(o.doc, "capacityProviderName") != r.capacity_provider) continue;
      if (o.status == "ACTIVE" && JBool(o.doc, "agentConnected", true)) candidates.push_back(std::move(o));
    }
    // A provider with managed scaling and no instance yet: its tasks wait (Launch), once
    // their constraints are known to parse (placement would refuse them later, review 30).
    if (candidates.empty() && pp.waits) {
      ValidatePlacementConstraints(PlacementRequestFor(spec, r).constraints);
      return out;
    }
    // "No Container Instances were found in your capacity provider." when the provider owns
    // its instances (aws/containers-roadmap#653 quotes it).
    if (candidates.empty() && pp.own_instances) {
      throw InvalidParameter("No Container Instances were found in your capacity provider.");
    }
    if (candidates.empty()) throw InvalidParameter("No Container Instances were found in your cluster.");
  }
  PlacementRequest req = PlacementRequestFor(spec, r);
  // Only a static host port reads this host's books: HostPortsInUse reads every live task.
  std::set<HostPort> host_ports;
  if (!req.needs.static_ports.empty()) host_ports = HostPortsInUse(tx);
  req.host_ports = &host_ports;
  // This host's ports do not limit a static port on an EC2 instance kecs runs (its own
  // ports, the PORTS resource of its container instance, do).
  std::set<std::string> ec2_backed;
  for (const auto& c : candidates) {
    if (OnEc2Instance(tx, ctx.region, c)) ec2_backed.insert(c.id);
  }
  req.own_host_ports = &ec2_backed;
  auto usage = UsageByInstance(tx, ctx.region, spec.cluster, PlacementReadsGroups(req));
  std::vector<std::string> chosen;
  if (!spec.container_instances.empty()) {
    // StartTask: one task on each named instance (the same one may be named twice).
    for (const auto& inst : candidates) {
      req.count = 1;
      PlacementResult p = PlaceInto({inst}, usage, req);
      for (const auto& f : p.failures) {
        // One entry per instance and reason, as for RunTask.
        if (std::find(out.failures.begin(), out.failures.end(), f) == out.failures.end()) {
          out.failures.push_back(f);
        }
      }
      for (const auto& id : p.instances) chosen.push_back(id);
    }
  } else {
    req.count = spec.count;
    PlacementResult p = PlaceInto(candidates, usage, req);
    for (const auto& f : p.failures) out.failures.push_back(f);
    chosen = p.instances;
  }
  for (const auto& id : chosen) {
    auto it = std::find_if(candidates.begin(), candidates.end(),
                           [&](const state::Object& o) { return o.id == id; });
    out.instances.push_back(*it);
  }
  return out;
}

// ---- Stage 3: allocate ports --------------------------------------------------------------

namespace {
// Whether AllocateDynamicPorts has a port to pick in `containers` (a mapping without a host
// port); without one it reads nothing of the books it is given.
bool HasDynamicPorts(const Json& containers) {
  for (const auto& c : containers) {
    const Json* pms = JGet(c, "portMappings");
    if (!pms) continue;
    for (const auto& pm : *pms) {
      if (JInt(pm, "hostPort") == 0) return true;
    }
  }
  return false;
}
}  // namespace

PortAllocation AllocateDynamicPorts(Json& containers, std::set<HostPort>& taken, int64_t first,
                                    int64_t last, const PortProbe& probe) {
  std::set<HostPort> mine = taken;
  Json out = containers;
  for (auto& c : out) {
    if (!c.contains("portMappings")) continue;
    for (auto& pm : c["portMappings"]) {
      if (JInt(pm, "hostPort") != 0) continue;
      std::string proto = JStr(pm, "protocol", "tcp");
      int64_t hp = 0;
      for (int64_t p = first; p <= last && hp == 0; ++p) {
        if (mine.count({proto, p})) continue;  // kecs's books
        switch (probe.Ask(proto, p)) {
          case PortProbe::Answer::kFree: hp = p; break;
          case PortProbe::Answer::kBusy: break;  // another program holds it
          case PortProbe::Answer::kUnknown: return PortAllocation::kUnprobed;
        }
      }
      if (hp == 0) return PortAllocation::kExhausted;
      mine.insert({proto, hp});
      pm["hostPort"] = hp;
    }
  }
  containers = std::move(out);
  taken = std::move(mine);
  return PortAllocation::kAllocated;
}

std::map<std::string, int> DynamicPortDemand(state::Tx& tx, const RequestContext& ctx,
                                             const LaunchSpec& spec) {
  std::map<std::string, int> want;
  auto td = FindTaskDefinition(tx, ctx, spec.task_definition);
  if (!td || NetworkModeOf(td->doc) != "bridge") return want;
  int tasks = spec.container_instances.empty() ? spec.count : static_cast<int>(spec.container_instances.size());
  for (const auto& c : td->doc.value("containerDefinitions", Json::array())) {
    for (const auto& pm : c.value("portMappings", Json::array())) {
      if (JInt(pm, "hostPort") == 0) want[JStr(pm, "protocol", "tcp")] += std::clamp(tasks, 1, 10);
    }
  }
  return want;
}

// ---- Stage 4: build -----------------------------------------------------------------------

model::Task BuildTask(const RequestContext& ctx, const EcsOptions& options,
                      const LaunchSpec& spec, const ResolvedLaunch& r,
                      const std::optional<state::Object>& instance, const Json& containers) {
  const Json& td = r.task_definition;
  model::Task t;
  t.region = ctx.region;
  t.id = RandomHex(32);
  t.cluster = spec.cluster;
  t.family = JStr(td, "family");
  t.task_arn = TaskArn(ctx, spec.cluster, t.id);
  t.cluster_arn = ClusterArn(ctx, spec.cluster);
  t.task_definition_arn = JStr(td, "taskDefinitionArn");

  // kecs's own part first: the containers as shown derive from it.
  t.internal.network_mode = model::ParseNetworkMode(r.mode).value_or(model::NetworkMode::kBridge);
  const std::string subject = "task definition " + JStr(td, "taskDefinitionArn");
  for (const auto& c : containers) t.internal.containers.push_back(DefinitionOf(c, subject));
  t.internal.volumes = Check(state::records::ReadVolumes(subject, td));
  t.internal.pid_mode = JStr(td, "pidMode");
  t.internal.ipc_mode = JStr(td, "ipcMode");
  // The request's overrides win over the task definition's roles, as on ECS.
  t.internal.task_role_arn = RoleArnOf(ctx, JStr(spec.overrides, "taskRoleArn", JStr(td, "taskRoleArn")));
  t.internal.execution_role_arn =
      RoleArnOf(ctx, JStr(spec.overrides, "executionRoleArn", JStr(td, "executionRoleArn")));
  // The task's credentials id (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI): 128 random bits.
  t.internal.credentials_id = RandomHex(32);
  t.internal.network.subnets = r.net.subnets;
  t.internal.network.security_groups = r.net.security_groups;
  t.internal.network.assign_public_ip = r.net.assign_public_ip;
  t.internal.network.vpc_id = r.net.vpc_id;
  t.internal.network.availability_zone = r.net.availability_zone;
  t.internal.service = spec.service_name;
  t.internal.deployment = spec.deployment_id;
  if (instance) t.internal.placement = PlacementOf(r, *instance, t.internal.containers);

  if (r.mode == "awsvpc") {
    // One PRECREATED ENI attachment with only its subnet, as RunTask returns it.
    model::Attachment a;
    a.id = Uuid4();
    a.type = "ElasticNetworkInterface";
    a.status = model::AttachmentStatus::kPrecreated;
    if (!r.net.subnets.empty()) a.details.push_back({"subnetId", r.net.subnets.front()});
    t.attachments.push_back(std::move(a));
  }
  t.attributes = {{"ecs.cpu-architecture", Host().arch}};
  t.availability_zone = ctx.region + options.availability_zone_suffix;
  if (instance) {
    for (const auto& a : instance->doc.value("attributes", Json::array())) {
      if (JStr(a, "name") == "ecs.availability-zone") t.availability_zone = JStr(a, "value");
    }
    t.container_instance_arn = JStr(instance->doc, "containerInstanceArn");
    // An instance whose own agent has connected (DiscoverPollEndpoint) runs its tasks
    // itself: kecs's task controller leaves them to the agent's reports (agent.cc).
    t.internal.agent = JBool(instance->doc, "kecs:agent");
  }
  if (!r.net.availability_zone.empty()) t.availability_zone = r.net.availability_zone;
  if (!r.capacity_provider.empty()) t.capacity_provider_name = r.capacity_provider;
  t.containers = ContainersOf(ctx, r, t);
  t.cpu = std::to_string(r.cpu);
  t.memory = std::to_string(r.memory);
  t.created_at = Ts(ctx);
  t.desired_status = model::TaskStatus::kRunning;
  t.last_status = r.mode == "awsvpc" ? model::TaskStatus::kProvisioning : model::TaskStatus::kPending;
  t.enable_execute_command = spec.enable_execute_command;
  t.group = r.group;
  t.launch_type = model::ParseLaunchType(r.launch_type).value_or(model::LaunchType::kEc2);
  t.overrides = TaskOverrides(spec.overrides, containers);
  for (const auto& tag : r.tags) t.tags.push_back({JStr(tag, "key"), JStr(tag, "value")});
  if (!spec.started_by.empty()) t.started_by = spec.started_by;
  if (r.fargate()) {
    t.platform_version = spec.platform_version.empty() || spec.platform_version == "LATEST"
                             ? "1.4.0" : spec.platform_version;
    t.platform_family = "Linux";
    t.ephemeral_storage_gib = 20;
  }
  return t;
}

// ---- The four stages ----------------------------------------------------------------------

std::vector<std::pair<std::string, int>> SplitByStrategy(const Json& strategy, int count,
                                                         const std::map<std::string, int>& existing) {
  std::vector<std::pair<std::string, int>> out;
  std::vector<int64_t> have;  // tasks each provider has: `existing`, then this split's
  for (const auto& s : strategy) {
    std::string name = JStr(s, "capacityProvider");
    auto it = existing.find(name);
    have.push_back(it == existing.end() ? 0 : it->second);
    out.push_back({std::move(name), 0});
  }
  int left = count;
  // base first, in the strategy's order (only one provider may set one), less what it has
  for (size_t i = 0; i < out.size() && left > 0; ++i) {
    int base = static_cast<int>(std::clamp<int64_t>(JInt(strategy[i], "base") - have[i], 0, left));
    out[i].second += base;
    have[i] += base;
    left -= base;
  }
  // then the rest by weight: each task to the provider furthest below its share of the
  // tasks beyond the bases
  auto beyond_base = [&](size_t i) { return std::max<int64_t>(0, have[i] - JInt(strategy[i], "base")); };
  for (; left > 0; --left) {
    int best = -1;
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t w = JInt(strategy[i], "weight");
      if (w <= 0) continue;
      if (best < 0 || (beyond_base(i) + 1) * JInt(strategy[best], "weight") < (beyond_base(best) + 1) * w) {
        best = static_cast<int>(i);
      }
    }
    if (best < 0) best = 0;  // no weight at all: the first provider
    ++have[best];
    ++out[best].second;
  }
  std::erase_if(out, [](const auto& p) { return p.second == 0; });
  return out;
}

namespace {

// Tasks of `cluster` waiting for capacity now.
int WaitingCount(state::Tx& tx, const std::string& region, const std::string& cluster) {
  state::Query q{kTask, region, cluster};
  q.status = "PROVISIONING";
  int n = 0;
  for (const auto& t : Check(state::records::ListTasks(tx, q))) n += reconcile::AwaitingCapacity(t) ? 1 : 0;
  return n;
}

}  // namespace

LaunchOutcome Launch(state::Tx& tx, RequestContext& ctx, const EcsOptions& options,
                     const LaunchSpec& spec, const PortProbe* probe) {
  LaunchOutcome out;
  const ResolvedLaunch resolved = ResolveLaunch(tx, ctx, spec);
  // The capacity provider strategy spreads the tasks over its providers, base first, then
  // by weight (ECS's "Capacity provider strategies"); one placement per provider.
  std::vector<std::pair<std::string, int>> split = {{resolved.capacity_provider, spec.count}};
  if (!resolved.capacity_provider.empty() && !resolved.fargate() && spec.container_instances.empty()) {
    bool has_strategy = spec.capacity_provider_strategy.is_array() && !spec.capacity_provider_strategy.empty();
    Json strategy = has_strategy ? spec.capacity_provider_strategy
                                 : RequireCluster(tx, ctx, spec.cluster).doc.value("defaultCapacityProviderStrategy", Json::array());
    // A service's tasks that are not STOPPED count toward the split (ECS's rule); a service
    // launches one task at a time, so its weights hold over the whole service.
    std::map<std::string, int> existing;
    if (strategy.size() > 1 && !spec.service_name.empty()) {
      state::Query q{kTask, ctx.region, spec.cluster};
      q.internal_equals = {{"service", spec.service_name}};
      for (const auto& t : Check(state::records::ListTasks(tx, q))) {
        if (t.last_status != model::TaskStatus::kStopped && t.desired_status != model::TaskStatus::kStopped &&
            t.capacity_provider_name) {
          ++existing[*t.capacity_provider_name];
        }
      }
    }
    if (strategy.size() > 1) split = SplitByStrategy(strategy, spec.count, existing);
  }
  int waiting = -1;  // tasks of the cluster waiting for capacity, counted on first need
  bool overflowed = false;  // some tasks found neither an instance nor room to wait

  std::set<HostPort> host_ports;
  // No probe: every port is unknown, so a bridge task with dynamic ports asks the caller
  // for one (NeedPortProbe). Nothing probes host sockets under the store's write lock.
  static const PortProbe kNone;
  if (!probe) probe = &kNone;
  // Only a dynamic host port (AllocateDynamicPorts) reads this host's books, which take a
  // read of every live task: a launch with none skips them.
  if (resolved.mode == "bridge" && HasDynamicPorts(resolved.containers)) host_ports = HostPortsInUse(tx);
  // On an EC2 instance kecs runs, dynamic ports come from that instance's own books and
  // need no probe of this host's sockets.
  static const PortProbe kNoHostSockets = PortProbe::Live([](const std::string&, int64_t) { return true; });
  std::map<std::string, std::set<HostPort>> instance_ports;  // container instance -> its ports
  for (const auto& [provider, count] : split) {
    ResolvedLaunch r = resolved;
    r.capacity_provider = provider;
    LaunchSpec part = spec;
    part.count = count;
    PlacedTasks placed = PlaceTasks(tx, ctx, part, r);
    // Tasks that found no room wait for the provider's group to grow, while the cluster has
    // fewer than kMaxWaitingTasksPerCluster waiting; beyond, they fail as without it.
    int unplaced = spec.container_instances.empty() ? count - static_cast<int>(placed.instances.size()) : 0;
    if (unplaced > 0 && ProviderPlacementOf(tx, ctx.region, provider).waits) {
      if (waiting < 0) waiting = WaitingCount(tx, ctx.region, spec.cluster);
      int room = std::max(0, kMaxWaitingTasksPerCluster - waiting);
      int n = std::min(unplaced, room);
      for (int i = 0; i < n; ++i) placed.instances.push_back(std::nullopt);
      waiting += n;
      if (n == unplaced) placed.failures = Json::array();
      if (n < unplaced && placed.failures.empty()) {
        // The tasks that could wait do; the rest are failures (review 30). No source found
        // for ECS's words here (it has no such limit); kecs's wording.
        placed.failures.push_back(
            {{"arn", model::EcsArn(ctx.region, ctx.account_id, "capacity-provider/" + provider)},
             {"reason", "CAPACITY_PROVIDER"},
             {"detail", fmt::format("{} tasks of the cluster already wait for capacity; {} more could not.",
                                    kMaxWaitingTasksPerCluster, unplaced - n)}});
        overflowed = true;
      }
    }
    for (const auto& f : placed.failures) out.failures.push_back(f);
    for (const auto& instance : placed.instances) {
      Json containers = r.containers;
      if (r.mode == "bridge" && instance) {
        bool own = OnEc2Instance(tx, ctx.region, *instance);
        if (own && !instance_ports.count(instance->id)) instance_ports[instance->id] = HostPortsOn(tx, instance->id);
        // This task's dynamic ports first: with none left it fails placement
        // (RESOURCE:PORTS) on its own, and the request's other tasks still run.
        switch (AllocateDynamicPorts(containers, own ? instance_ports[instance->id] : host_ports,
                                     options.ephemeral_port_first, options.ephemeral_port_last,
                                     own ? kNoHostSockets : *probe)) {
          case PortAllocation::kAllocated: break;
          case PortAllocation::kUnprobed: throw NeedPortProbe{};
          case PortAllocation::kExhausted:
            out.failures.push_back({{"arn", JStr(instance->doc, "containerInstanceArn")},
                                    {"reason", "RESOURCE:PORTS"}});
            continue;
        }
      }
      model::Task task = BuildTask(ctx, options, part, r, instance, containers);
      // No instance for an EC2 task: it waits for capacity in PROVISIONING, with no
      // container instance, as ECS shows it (its host ports are given when it is placed).
      if (!instance && !r.fargate()) task.last_status = model::TaskStatus::kProvisioning;
      Check(state::records::InsertTask(tx, task));
      out.tasks.push_back(state::records::TaskToAws(task, true));
    }
  }
  // Not one task placed or waiting: the request fails as it does without managed scaling.
  bool only_overflow = overflowed && out.tasks.empty();
  for (const auto& f : out.failures) only_overflow = only_overflow && JStr(f, "reason") == "CAPACITY_PROVIDER";
  if (only_overflow) {
    throw InvalidParameter("No Container Instances were found in your capacity provider.");
  }
  return out;
}

void WriteWithPortProbe(state::Store& store, const RequestContext& ctx, const EcsOptions& options,
                        const LaunchSpec& spec,
                        const std::function<void(state::Tx&, const PortProbe&)>& fn) {
  auto free_on_host = [](const std::string& proto, int64_t port) {
    return net::HostPortFree(proto, static_cast<int>(port));
  };
  std::map<std::string, int> demand;
  constexpr int kAttempts = 4;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::set<HostPort> books;
    Check(store.Read([&](state::Tx& tx) {
      if (attempt == 0) {
        demand = DynamicPortDemand(tx, ctx, spec);
        // Outside the write lock, with the other readers: the placement facts of the
        // cluster's committed tasks, so that placement inside the transaction decodes only
        // those committed since (placement.h, WarmPlacements).
        if (Check(tx.Count({kInstance, ctx.region, spec.cluster})) > 0) WarmPlacements(tx, ctx.region, spec.cluster);
      }
      if (!demand.empty()) books = HostPortsInUse(tx);
      return Status::Ok();
    }));
    // Twice what this launch needs, and more on each retry: room for the launches that
    // run between this probe and the transaction. The last attempt probes the whole
    // range, so that only a range really exhausted can fail (RESOURCE:PORTS).
    std::map<std::string, int> want;
    for (const auto& [proto, n] : demand) want[proto] = n * (2 << attempt);
    if (attempt + 1 == kAttempts) {
      for (const char* proto : {"tcp", "udp"}) want[proto] = std::numeric_limits<int>::max();
    }
    std::optional<PortProbe> probe = PortProbe::Gather(
        want, options.ephemeral_port_first, options.ephemeral_port_last, books, free_on_host);
    try {
      Check(store.Write([&](state::Tx& tx) {
        fn(tx, *probe);
        return Status::Ok();
      }));
      return;
    } catch (const NeedPortProbe&) {
      // The demand read before the transaction was short (the task definition changed
      // meanwhile): probe for the largest launch there is.
      for (auto& [proto, n] : demand) n = std::max(n, 1);
      if (demand.empty()) demand["tcp"] = 1;
    }
  }
  // The last attempt probed every port of both protocols, so no port can be unknown.
  throw AwsError("ServerException", "Could not allocate host ports; try again.", 500);
}

// ---- RunTask's clientToken ----------------------------------------------------------------

namespace {

// One row per (cluster, token): its id is "<cluster>/<token>" (cluster names hold no "/").
// No API shows it, so all of it is kecs's own part: the row's `internal` column holds
// {"request", "taskArns", "failures", "createdAt"} and its AWS document is empty.
constexpr const char* kRunTaskToken = "ecs:run-task-token";
constexpr double kClientTokenLifetime = 24 * 3600;

std::string TokenKey(const std::string& cluster, const std::string& token) {
  return cluster + "/" + token;
}

}  // namespace

void ValidateClientToken(const std::string& token) {
  bool ok = !token.empty() && token.size() <= 64;
  for (unsigned char ch : token) ok = ok && ch >= 33 && ch <= 126;
  // The API model's constraint; ECS's own wording for a violation is not documented.
  if (!ok) {
    throw InvalidParameter(
        "clientToken: up to 64 characters are allowed, in the range of 33-126, inclusive.");
  }
}

std::optional<LaunchOutcome> ReplayClientToken(state::Tx& tx, const RequestContext& ctx,
                                               const std::string& cluster, const std::string& token,
                                               const Json& request) {
  auto rec = Check(tx.Get(kRunTaskToken, ctx.region, TokenKey(cluster, token)));
  if (!rec || Ts(ctx) - rec->internal.value("createdAt", 0.0) > kClientTokenLifetime) return std::nullopt;
  const Json arns = rec->internal.value("taskArns", Json::array());
  if (rec->internal.value("request", Json::object()) != request) {
    // ECS: "The provided clientToken is already in use with a different RunTask request";
    // its ConflictException also lists the tasks (resourceIds), which kecs's error
    // members (strings only) cannot carry yet.
    throw AwsError("ConflictException",
                   "The RunTask request could not be processed due to conflicts. The provided "
                   "clientToken is already in use with a different RunTask request.");
  }
  LaunchOutcome out;
  out.failures = rec->internal.value("failures", Json::array());
  for (const auto& arn : arns) {
    auto task = Check(state::records::GetTask(tx, ctx.region, IdFromArnOrId(arn.get<std::string>())));
    if (task) out.tasks.push_back(state::records::TaskToAws(*task, true));
  }
  // The token lives no longer than its tasks: once retention has removed them all, the
  // token runs a new RunTask.
  if (!arns.empty() && out.tasks.empty()) return std::nullopt;
  return out;
}

void RecordClientToken(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                       const std::string& token, const Json& request, const LaunchOutcome& outcome) {
  // Expired tokens go a few at a time, oldest first, so that no RunTask pays for many.
  state::Query q{kRunTaskToken, ctx.region, cluster};
  q.limit = 8;
  for (const auto& old : Check(tx.List(q))) {
    if (Ts(ctx) - old.internal.value("createdAt", 0.0) > kClientTokenLifetime) {
      Check(tx.Delete(kRunTaskToken, ctx.region, old.id));
    }
  }
  Json arns = Json::array();
  for (const auto& t : outcome.tasks) arns.push_back(JStr(t, "taskArn"));
  Json internal = {{"request", request}, {"taskArns", arns}, {"failures", outcome.failures},
                   {"createdAt", Ts(ctx)}};
  Check(tx.Put({kRunTaskToken, ctx.region, TokenKey(cluster, token), cluster, token, "ACTIVE", 0,
                Json::object(), internal}));
}

std::string TaskArn(const RequestContext& ctx, const std::string& cluster, const std::string& id) {
  return model::EcsArn(ctx.region, ctx.account_id, fmt::format("task/{}/{}", cluster, id));
}


}  // namespace kecs::api::ecs
