// ECS cluster auto scaling (issue 17): tasks waiting for capacity, and managed scaling of
// the capacity providers' Auto Scaling groups (capacity_scaling.h, reconcile/
// capacity_controller.h). Auto Scaling is reached only through its public operations
// (DescribeAutoScalingGroups, SetDesiredCapacity, SetInstanceProtection), as ECS reaches it.
#include "api/ecs/capacity_scaling.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/launch.h"
#include "api/ecs/placement.h"
#include "api/ecs/task_definition_rules.h"
#include "base/clock.h"
#include "base/log.h"
#include "model/instance_types.h"
#include "net/domain/vpc.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {

// ---- The arithmetic -----------------------------------------------------------------------

ManagedScalingConfig ManagedScalingOf(const Json& provider_doc) {
  ManagedScalingConfig c;
  const Json asg = provider_doc.value("autoScalingGroupProvider", Json::object());
  const Json ms = asg.value("managedScaling", Json::object());
  c.enabled = JStr(ms, "status") == "ENABLED";
  c.target_capacity = static_cast<int>(JInt(ms, "targetCapacity", 100));
  c.minimum_step = static_cast<int>(JInt(ms, "minimumScalingStepSize", 1));
  c.maximum_step = static_cast<int>(JInt(ms, "maximumScalingStepSize", 10000));
  c.instance_warmup_seconds = static_cast<int>(JInt(ms, "instanceWarmupPeriod", 300));
  return c;
}

Json ManagedScalingWithDefaults(const Json& given) {
  Json ms = given.is_object() ? given : Json::object();
  if (!ms.contains("status")) ms["status"] = "DISABLED";
  if (!ms.contains("targetCapacity")) ms["targetCapacity"] = 100;
  if (!ms.contains("minimumScalingStepSize")) ms["minimumScalingStepSize"] = 1;
  if (!ms.contains("maximumScalingStepSize")) ms["maximumScalingStepSize"] = 10000;
  if (!ms.contains("instanceWarmupPeriod")) ms["instanceWarmupPeriod"] = 300;
  return ms;
}

double CapacityProviderReservation(int needed, int current) {
  if (current == 0) return needed == 0 ? 100 : 200;
  return 100.0 * needed / current;
}

int TargetInstances(int needed, int target_capacity) {
  if (needed <= 0) return 0;
  return static_cast<int>((int64_t{needed} * 100 + target_capacity - 1) / std::max(target_capacity, 1));
}

ScalingStep DecideScaling(const ScalingInput& in) {
  ScalingStep out;
  out.desired = in.desired;
  int target = std::clamp(TargetInstances(in.needed, in.config.target_capacity), in.min_size,
                          std::max(in.min_size, in.max_size));
  if (target > in.desired) {
    if (in.warming > 0) return out;  // the last step's instances are still on their way
    int step = std::clamp(target - in.desired, in.config.minimum_step, in.config.maximum_step);
    out.desired = std::min(in.desired + step, in.max_size);
  } else if (target < in.desired) {
    out.low = true;
    // Only instances that run nothing go, and only after the scale-in wait.
    if (in.low_long_enough) out.desired = std::max(target, in.desired - std::max(in.idle, 0));
  }
  out.desired = std::clamp(out.desired, in.min_size, std::max(in.min_size, in.max_size));
  return out;
}

std::string AsgNameOf(const std::string& arn_or_name) {
  static const std::string kMarker = ":autoScalingGroupName/";
  auto at = arn_or_name.find(kMarker);
  return at == std::string::npos ? arn_or_name : arn_or_name.substr(at + kMarker.size());
}

ProviderPlacement ProviderPlacementOf(state::Tx& tx, const std::string& region, const std::string& provider) {
  ProviderPlacement out;
  if (provider.empty() || provider == "FARGATE" || provider == "FARGATE_SPOT") return out;
  auto o = Check(tx.Get(kCapacityProvider, region, provider));
  if (!o || o->status != "ACTIVE" || !o->doc.contains("autoScalingGroupProvider") || !JBool(o->internal, "asgKnown")) {
    return out;
  }
  out.own_instances = true;
  out.waits = ManagedScalingOf(o->doc).enabled;
  return out;
}

// ---- Auto Scaling, through its API --------------------------------------------------------

Json EcsApi::AutoScalingCall(const char* op, const RequestContext& ctx, const Json& in) {
  const OperationFn* fn = autoscaling_ ? autoscaling_->Find(op) : nullptr;
  if (!fn) throw AwsError("ServerException", fmt::format("{} is not available on this server.", op), 500);
  RequestContext c = ctx;
  c.service = "autoscaling";
  c.operation = op;
  return (*fn)(c, in);
}

GroupLookup EcsApi::DescribeGroup(const RequestContext& ctx, const std::string& arn_or_name) {
  GroupLookup out;
  if (!autoscaling_ || !autoscaling_->Find("DescribeAutoScalingGroups")) return out;
  std::string name = AsgNameOf(arn_or_name);
  Json r = AutoScalingCall("DescribeAutoScalingGroups", ctx, {{"AutoScalingGroupNames", Json::array({name})}});
  out.answered = true;
  for (const auto& g : r.value("AutoScalingGroups", Json::array())) {
    bool arn_matches = !arn_or_name.starts_with("arn:") || JStr(g, "AutoScalingGroupARN") == arn_or_name;
    if (JStr(g, "AutoScalingGroupName") == name && arn_matches) out.group = g;
  }
  return out;
}

namespace {

constexpr const char* kDaemonGroupPrefix = "daemon:";  // model::DaemonTaskGroup

std::string AccountOfArn(const std::string& arn) {
  // arn:aws:ecs:<region>:<account>:...
  size_t pos = 0;
  for (int i = 0; i < 4 && pos != std::string::npos; ++i) pos = arn.find(':', pos + 1);
  if (pos == std::string::npos) return "";
  size_t end = arn.find(':', pos + 1);
  return arn.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
}

std::optional<std::string> AttributeOf(const Json& inst, const std::string& name) {
  for (const auto& a : inst.value("attributes", Json::array())) {
    if (JStr(a, "name") == name) return JStr(a, "value");
  }
  return std::nullopt;
}

bool BridgeDynamic(const model::Task& t) {
  if (t.internal.network_mode != model::NetworkMode::kBridge) return false;
  for (const auto& d : t.internal.containers) {
    for (const auto& pm : d.port_mappings) {
      if (pm.host_port == 0) return true;
    }
  }
  return false;
}

// What a waiting task asks of an instance: RunTask's request, rebuilt from the task and its
// task definition (the request's own placementConstraints and strategy are not kept).
PlacementRequest WaitingRequest(state::Tx& tx, const RequestContext& ctx, const model::Task& t, bool resources_only) {
  PlacementRequest req;
  req.count = 1;
  req.needs.cpu = std::atoll(t.cpu.c_str());
  req.needs.memory = std::atoll(t.memory.c_str());
  req.needs.group = t.group;
  req.needs.eni = t.internal.network_mode == model::NetworkMode::kAwsvpc;
  bool host = t.internal.network_mode == model::NetworkMode::kHost;
  if (host || t.internal.network_mode == model::NetworkMode::kBridge) {
    for (const auto& d : t.internal.containers) {
      for (const auto& pm : d.port_mappings) {
        int64_t hp = host ? pm.container_port : pm.host_port;
        if (hp > 0) req.needs.static_ports.push_back({pm.protocol, hp});
      }
    }
  }
  if (resources_only) return req;
  if (req.needs.eni) {
    for (const auto& s : t.internal.network.subnets) {
      if (auto row = Check(tx.Get(net::kSubnet, ctx.region, s))) {
        req.needs.zones.push_back(JStr(row->doc, "AvailabilityZone"));
      }
    }
  }
  if (auto td = FindTaskDefinition(tx, ctx, t.task_definition_arn)) {
    for (const auto& a : td->doc.value("requiresAttributes", Json::array())) {
      req.needs.required_attributes.push_back(JStr(a, "name"));
    }
    req.constraints = td->doc.value("placementConstraints", Json::array());
  }
  return req;
}

// Gives the task's dynamic bridge ports from `taken` (the instance's books); false when
// none is left.
bool AllocateTaskPorts(model::Task& t, std::set<HostPort>& taken, const EcsOptions& options) {
  Json defs = Json::array();
  for (const auto& d : t.internal.containers) {
    Json pms = Json::array();
    for (const auto& pm : d.port_mappings) pms.push_back({{"hostPort", pm.host_port}, {"protocol", pm.protocol}});
    defs.push_back({{"portMappings", pms}});
  }
  static const PortProbe kNoHostSockets = PortProbe::Live([](const std::string&, int64_t) { return true; });
  if (AllocateDynamicPorts(defs, taken, options.ephemeral_port_first, options.ephemeral_port_last, kNoHostSockets) !=
      PortAllocation::kAllocated) {
    return false;
  }
  for (size_t i = 0; i < t.internal.containers.size(); ++i) {
    auto& d = t.internal.containers[i];
    for (size_t j = 0; j < d.port_mappings.size(); ++j) {
      int port = static_cast<int>(JInt(defs[i]["portMappings"][j], "hostPort"));
      if (d.port_mappings[j].host_port != 0) continue;
      d.port_mappings[j].host_port = port;
      // The container's networkBindings follow its port mappings, one for one (launch.cc).
      for (auto& c : t.containers) {
        if (c.name != d.name || j >= c.network_bindings.size()) continue;
        c.network_bindings[j].host_port = port;
      }
    }
  }
  return true;
}

// Places `t` on `inst`: the books (its placement), its container instance and zone, and
// PENDING unless its ENI comes first (awsvpc stays PROVISIONING), as RunTask builds it.
void PlaceTask(model::Task& t, const state::Object& inst) {
  model::TaskPlacement p;
  p.instance = inst.id;
  p.cpu = std::atoll(t.cpu.c_str());
  p.memory = std::atoll(t.memory.c_str());
  p.eni = t.internal.network_mode == model::NetworkMode::kAwsvpc;
  bool host = t.internal.network_mode == model::NetworkMode::kHost;
  if (host || t.internal.network_mode == model::NetworkMode::kBridge) {
    for (const auto& d : t.internal.containers) {
      for (const auto& pm : d.port_mappings) p.ports.push_back({pm.protocol, host ? pm.container_port : pm.host_port});
    }
  }
  t.internal.placement = p;
  t.container_instance_arn = JStr(inst.doc, "containerInstanceArn");
  if (t.internal.network.availability_zone.empty()) {
    if (auto az = AttributeOf(inst.doc, "ecs.availability-zone")) t.availability_zone = *az;
  }
  t.internal.agent = JBool(inst.doc, "kecs:agent");
  if (t.internal.network_mode != model::NetworkMode::kAwsvpc) t.last_status = model::TaskStatus::kPending;
  ++t.version;
}

// The waiting tasks of one cluster (of `provider` only when given), oldest first.
std::vector<model::Task> WaitingTasks(state::Tx& tx, const std::string& region, const std::string& cluster,
                                      const std::string& provider = "") {
  state::Query q{kTask, region, cluster};
  q.status = "PROVISIONING";
  if (!provider.empty()) q.doc_equals = {{"capacityProviderName", provider}};
  auto tasks = Check(state::records::ListTasks(tx, q));
  std::erase_if(tasks, [](const model::Task& t) { return !reconcile::AwaitingCapacity(t); });
  std::stable_sort(tasks.begin(), tasks.end(), [](const model::Task& a, const model::Task& b) {
    return a.created_at.value_or(0) < b.created_at.value_or(0);
  });
  return tasks;
}

}  // namespace

// ---- Pass 1: the tasks waiting for capacity -----------------------------------------------

void EcsApi::PlaceWaitingTasks(double now) {
  std::set<std::pair<std::string, std::string>> clusters;  // (region, cluster)
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{kTask};
    q.any_region = true;
    q.status = "PROVISIONING";
    ASSIGN_OR_RETURN(auto tasks, state::records::ListTasks(tx, q));
    for (const auto& t : tasks) {
      if (reconcile::AwaitingCapacity(t)) clusters.insert({t.region, t.cluster});
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("capacity: {}", st.message());
    return;
  }
  const double wait_limit = kWaitingTaskMinutes * options_.minute_seconds;
  for (const auto& [region, cluster] : clusters) {
    try {
      Check(store_.Write([&](state::Tx& tx) {
        auto tasks = WaitingTasks(tx, region, cluster);
        if (tasks.empty()) return Status::Ok();
        RequestContext ctx;
        ctx.region = region;
        ctx.account_id = AccountOfArn(tasks.front().cluster_arn);
        ctx.now = now;
        std::vector<state::Object> instances;
        for (auto& o : Check(tx.List({kInstance, region, cluster}))) {
          if (o.status == "ACTIVE" && JBool(o.doc, "agentConnected", true) &&
              !JStr(o.doc, "capacityProviderName").empty()) {
            instances.push_back(std::move(o));
          }
        }
        auto usage = UsageByInstance(tx, region, cluster);
        std::set<HostPort> host_ports = HostPortsInUse(tx);
        std::set<std::string> ec2_backed;
        for (const auto& i : instances) {
          if (OnEc2Instance(tx, region, i)) ec2_backed.insert(i.id);
        }
        std::map<std::string, std::set<HostPort>> instance_ports;  // their own books, this pass
        for (auto& t : tasks) {
          if (t.desired_status == model::TaskStatus::kStopped) continue;  // the task controller stops it
          const std::string cp = t.capacity_provider_name.value_or("");
          auto fail = [&](const std::string& reason) {
            t.desired_status = model::TaskStatus::kStopped;
            t.stop_code = model::StopCode::kTaskFailedToStart;
            t.stopped_reason = reason;
            t.stopping_at = EpochMillis(now);
            ++t.version;
            Check(state::records::PutTask(tx, t));
          };
          if (now - t.created_at.value_or(now) > wait_limit) {
            // No source found for ECS's stoppedReason here; kecs's wording.
            fail(fmt::format("The task waited {} minutes for capacity from capacity provider {}.",
                             kWaitingTaskMinutes, cp));
            continue;
          }
          PlacementRequest req = WaitingRequest(tx, ctx, t, false);
          try {
            // A task placement refuses (its task definition's memberOf expression does not
            // parse) stops alone; the cluster's other waiting tasks still place (review 30).
            ValidatePlacementConstraints(req.constraints);
          } catch (const AwsError& e) {
            fail(e.what());
            continue;
          }
          bool dynamic = BridgeDynamic(t);
          std::vector<state::Object> candidates;
          for (const auto& i : instances) {
            // Dynamic host ports come from an EC2 instance's own books (no host probe here).
            if (JStr(i.doc, "capacityProviderName") == cp && (!dynamic || ec2_backed.count(i.id))) {
              candidates.push_back(i);
            }
          }
          if (candidates.empty()) continue;
          req.host_ports = &host_ports;
          req.own_host_ports = &ec2_backed;
          // Placed on a copy of the books: they take the task only once its dynamic ports
          // are given too (review 30).
          auto trial = usage;
          std::set<HostPort> trial_host_ports = host_ports;
          req.host_ports = &trial_host_ports;
          PlacementResult placed;
          try {
            placed = PlaceInto(candidates, trial, req);
          } catch (const AwsError& e) {
            fail(e.what());
            continue;
          }
          if (placed.instances.empty()) continue;
          const state::Object& inst =
              *std::find_if(candidates.begin(), candidates.end(),
                            [&](const state::Object& o) { return o.id == placed.instances.front(); });
          if (dynamic) {
            if (!instance_ports.count(inst.id)) instance_ports[inst.id] = HostPortsOn(tx, inst.id);
            std::set<HostPort> before = instance_ports[inst.id];
            if (!AllocateTaskPorts(t, instance_ports[inst.id], options_)) continue;
            // The ports just given are the instance's: a later static hostPort in the range
            // fails RESOURCE:PORTS there.
            for (const auto& p : instance_ports[inst.id]) {
              if (!before.count(p)) trial[inst.id].ports.insert(p);
            }
          }
          usage = std::move(trial);
          host_ports = std::move(trial_host_ports);
          PlaceTask(t, inst);
          Check(state::records::PutTask(tx, t));
          KLOG_INFO("task {}: placed on container instance {} of capacity provider {}", t.id, inst.id, cp);
        }
        return Status::Ok();
      }));
    } catch (const std::exception& e) {
      KLOG_WARN("capacity: cluster {}: {}", cluster, e.what());
    }
  }
}

// ---- Pass 2: managed scaling ----------------------------------------------------------------

void EcsApi::ScaleCapacityProviders(double now) {
  std::vector<state::Object> providers;
  std::set<std::pair<std::string, std::string>> associated;  // (region, provider) a cluster names
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{kCapacityProvider};
    q.any_region = true;
    ASSIGN_OR_RETURN(providers, tx.List(q));
    state::Query c{kCluster};
    c.any_region = true;
    c.status = "ACTIVE";
    ASSIGN_OR_RETURN(auto clusters, tx.List(c));
    for (const auto& cl : clusters) {
      for (const auto& n : cl.doc.value("capacityProviders", Json::array())) {
        if (n.is_string()) associated.insert({cl.region, n.get<std::string>()});
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("capacity: {}", st.message());
    return;
  }
  for (const auto& p : providers) {
    if (p.status != "ACTIVE") continue;
    RequestContext ctx;
    ctx.region = p.region;
    ctx.account_id = AccountOfArn(JStr(p.doc, "capacityProviderArn"));
    ctx.now = now;
    try {
      if (JStr(p.doc, "updateStatus") == "DELETE_IN_PROGRESS") {
        // The deletion ends: INACTIVE, still describable by name (DescribeCapacityProviders).
        Check(store_.Write([&](state::Tx& tx) {
          auto o = Check(tx.Get(kCapacityProvider, p.region, p.id));
          if (!o || o->status != "ACTIVE" || JStr(o->doc, "updateStatus") != "DELETE_IN_PROGRESS") return Status::Ok();
          o->status = "INACTIVE";
          o->doc["status"] = "INACTIVE";
          o->doc["updateStatus"] = "DELETE_COMPLETE";
          return tx.Put(*o);
        }));
        continue;
      }
      if (!p.doc.contains("autoScalingGroupProvider") || !JBool(p.internal, "asgKnown")) continue;
      if (!ManagedScalingOf(p.doc).enabled) continue;
      // ECS manages the groups of providers associated with a cluster only ("For each Auto
      // Scaling group capacity provider that's associated with a cluster", cluster auto
      // scaling, ECS developer guide).
      if (!associated.count({p.region, p.name})) continue;
      ScaleProvider(ctx, p, now);
    } catch (const std::exception& e) {
      KLOG_WARN("capacity provider {}: {}", p.name, e.what());
    }
  }
}

namespace {

// The instance type the group launches: one of its instances', else its launch
// configuration's or launch template's (through their APIs), else `fallback`.
std::string GroupInstanceType(const Json& group, const std::function<Json(const char*, const Json&)>& autoscaling,
                              const std::function<Json(const char*, const Json&)>& ec2, const std::string& fallback) {
  for (const auto& i : group.value("Instances", Json::array())) {
    if (!JStr(i, "InstanceType").empty()) return JStr(i, "InstanceType");
  }
  try {
    if (auto lc = JOptStr(group, "LaunchConfigurationName")) {
      Json r = autoscaling("DescribeLaunchConfigurations", {{"LaunchConfigurationNames", Json::array({*lc})}});
      for (const auto& c : r.value("LaunchConfigurations", Json::array())) return JStr(c, "InstanceType", fallback);
    }
    Json lt = group.value("LaunchTemplate", Json::object());
    Json mixed = group.value("MixedInstancesPolicy", Json::object());
    if (lt.empty()) {
      Json spec = mixed.value("LaunchTemplate", Json::object());
      for (const auto& o : spec.value("Overrides", Json::array())) {
        if (!JStr(o, "InstanceType").empty()) return JStr(o, "InstanceType");
      }
      lt = spec.value("LaunchTemplateSpecification", Json::object());
    }
    if (!lt.empty()) {
      Json in = {{"Versions", Json::array({JStr(lt, "Version", "$Default")})}};
      if (auto id = JOptStr(lt, "LaunchTemplateId")) in["LaunchTemplateId"] = *id;
      else in["LaunchTemplateName"] = JStr(lt, "LaunchTemplateName");
      Json r = ec2("DescribeLaunchTemplateVersions", in);
      for (const auto& v : r.value("LaunchTemplateVersions", Json::array())) {
        return JStr(v.value("LaunchTemplateData", Json::object()), "InstanceType", fallback);
      }
    }
  } catch (const std::exception& e) {
    KLOG_WARN("capacity: the instance type of group {}: {}", JStr(group, "AutoScalingGroupName"), e.what());
  }
  return fallback;
}

// An empty instance of `type`, as a container instance of it registers (placement's view).
state::Object VirtualInstance(const std::string& type, int n) {
  const model::InstanceType* t = model::FindInstanceType(type);
  if (!t) t = model::FindInstanceType("m5.large");
  state::Object o;
  o.id = fmt::format("virtual-{}", n);
  o.status = "ACTIVE";
  o.doc = {{"containerInstanceArn", o.id},
           {"registeredResources", Json::array({{{"name", "CPU"}, {"integerValue", int64_t{t->vcpus} * 1024}},
                                                {{"name", "MEMORY"}, {"integerValue", AgentMemoryMib(*t)}}})},
           {"kecs:eniLimit", EniTaskLimit(type, false)}};
  return o;
}

// The EC2 instances of `by_cluster` (cluster -> its container instances of the group)
// running tasks that count. "Tasks that are run by a service that uses the DAEMON
// scheduling strategy are ignored" (managed termination protection, ECS developer guide),
// as are managed daemons' tasks.
std::set<std::string> BusyInstances(state::Tx& tx, const std::string& region,
                                    const std::map<std::string, std::vector<state::Object>>& by_cluster) {
  std::set<std::string> busy;
  for (const auto& [cluster, cis] : by_cluster) {
    std::map<std::string, std::string> ec2_of;  // container instance id -> EC2 instance id
    for (const auto& ci : cis) ec2_of[ci.id] = JStr(ci.doc, "ec2InstanceId");
    std::set<std::string> daemon_services;
    state::records::ServiceQuery sq;
    sq.region = region;
    sq.cluster = cluster;
    for (const auto& svc : Check(state::records::ListServices(tx, sq))) {
      if (svc.scheduling_strategy == model::SchedulingStrategy::kDaemon) daemon_services.insert(svc.name);
    }
    for (const auto& t : Check(state::records::ListTasks(tx, state::Query{kTask, region, cluster}))) {
      if (!t.internal.placement || t.last_status == model::TaskStatus::kStopped) continue;
      auto it = ec2_of.find(t.internal.placement->instance);
      if (it == ec2_of.end()) continue;
      if (t.group.starts_with(kDaemonGroupPrefix)) continue;
      if (!t.internal.service.empty() && daemon_services.count(t.internal.service)) continue;
      busy.insert(it->second);
    }
  }
  return busy;
}

}  // namespace

void EcsApi::ScaleProvider(const RequestContext& ctx, const state::Object& provider, double now) {
  const std::string& name = provider.name;
  GroupLookup g = DescribeGroup(ctx, JStr(provider.doc["autoScalingGroupProvider"], "autoScalingGroupArn"));
  if (!g.group) return;  // gone: nothing to scale (the provider stays, as on AWS)
  const Json& group = *g.group;
  const std::string group_name = JStr(group, "AutoScalingGroupName");
  const ManagedScalingConfig cfg = ManagedScalingOf(provider.doc);
  const bool mtp = JStr(provider.doc["autoScalingGroupProvider"], "managedTerminationProtection") == "ENABLED";
  auto as_call = [&](const char* op, const Json& in) { return AutoScalingCall(op, ctx, in); };
  auto ec2_call = [&](const char* op, const Json& in) { return PeerCall(express_.ec2, op, ctx, in); };
  const std::string type = GroupInstanceType(group, as_call, ec2_call, options_.instance_type);

  // The group's instances that count (not on their way out).
  std::map<std::string, bool> protected_now;  // instance id -> ProtectedFromScaleIn
  for (const auto& i : group.value("Instances", Json::array())) {
    std::string state = JStr(i, "LifecycleState");
    if (state.starts_with("Terminat") || state.starts_with("Detach") || state == "Standby") continue;
    protected_now[JStr(i, "InstanceId")] = JBool(i, "ProtectedFromScaleIn");
  }

  int busy = 0, warming = 0, virtuals = 0;
  std::set<std::string> busy_ids, registered_ids;
  std::map<std::string, std::vector<state::Object>> registered;  // cluster -> the group's instances
  // One transaction: the container instances of the group carry the provider's name, and
  // the picture is read from the books as they are.
  Check(store_.Write([&](state::Tx& tx) {
    busy = warming = virtuals = 0;
    busy_ids.clear();
    registered_ids.clear();
    std::map<std::string, std::vector<state::Object>> by_cluster;  // cluster -> registered instances
    for (const auto& [ec2_id, prot] : protected_now) {
      state::Query q{kInstance, ctx.region};
      q.doc_equals = {{"ec2InstanceId", ec2_id}};
      bool registered = false;
      for (auto& ci : Check(tx.List(q))) {
        if (ci.status != "ACTIVE" && ci.status != "DRAINING") continue;
        registered = true;
        if (JStr(ci.doc, "capacityProviderName") != name) {
          ci.doc["capacityProviderName"] = name;
          Check(tx.Put(ci));
        }
        by_cluster[ci.parent].push_back(ci);
      }
      if (registered) {
        registered_ids.insert(ec2_id);
        continue;
      }
      auto inst = Check(tx.Get(net::kEc2Instance, ctx.region, ec2_id));
      double launched = inst ? inst->doc.value("LaunchTime", now) : now;
      if (now - launched < cfg.instance_warmup_seconds) ++warming;
    }
    std::map<std::string, std::string> ec2_of;  // container instance id -> EC2 instance id
    for (const auto& [cluster, cis] : by_cluster) {
      for (const auto& ci : cis) ec2_of[ci.id] = JStr(ci.doc, "ec2InstanceId");
    }
    busy_ids = BusyInstances(tx, ctx.region, by_cluster);
    registered = by_cluster;
    // The waiting tasks: first on the group's registered instances as placement would put
    // them, then on new instances of the group's type, packed.
    std::vector<state::Object> fresh;
    std::map<std::string, InstanceUsage> fresh_usage;
    for (const auto& c : Check(tx.List({kCluster, ctx.region}))) {
      if (c.status != "ACTIVE") continue;
      auto tasks = WaitingTasks(tx, ctx.region, c.id, name);
      if (tasks.empty()) continue;
      std::vector<state::Object> cis;
      for (const auto& ci : by_cluster[c.id]) {
        if (ci.status == "ACTIVE" && JBool(ci.doc, "agentConnected", true)) cis.push_back(ci);
      }
      auto usage = UsageByInstance(tx, ctx.region, c.id);
      for (const auto& t : tasks) {
        if (t.desired_status == model::TaskStatus::kStopped) continue;
        PlacementRequest req = WaitingRequest(tx, ctx, t, false);
        PlacementResult on_existing;
        try {
          on_existing = PlaceInto(cis, usage, req);
        } catch (const AwsError&) {
          continue;  // placement refuses it: pass 1 stops it, and it asks for no instance
        }
        if (!on_existing.instances.empty()) {
          busy_ids.insert(ec2_of[on_existing.instances.front()]);
          continue;
        }
        PlacementRequest bare = WaitingRequest(tx, ctx, t, true);
        if (!PlaceInto(fresh, fresh_usage, bare).instances.empty()) continue;
        fresh.push_back(VirtualInstance(type, static_cast<int>(fresh.size())));
        if (PlaceInto({fresh.back()}, fresh_usage, bare).instances.empty()) {
          fresh.pop_back();  // fits no instance of the type: no instance would help
        }
      }
    }
    busy = static_cast<int>(busy_ids.size());
    virtuals = static_cast<int>(fresh.size());
    return Status::Ok();
  }));

  const int needed = busy + virtuals;
  const int current = static_cast<int>(protected_now.size()) - warming;
  const int idle = std::max(0, current - busy);
  const double reservation = CapacityProviderReservation(needed, current);

  // Managed termination protection: instances running tasks are protected from scale-in,
  // idle registered ones are not ("Control the instances Amazon ECS terminates", ECS
  // developer guide). Only changes are sent.
  if (mtp) {
    Json protect = Json::array(), release = Json::array();
    for (const auto& [id, prot] : protected_now) {
      if (!registered_ids.count(id)) continue;  // not yet an ECS instance: as the group launched it
      bool want = busy_ids.count(id) > 0;
      if (want && !prot) protect.push_back(id);
      if (!want && prot) release.push_back(id);
    }
    auto set = [&](const Json& ids, bool flag) {
      if (ids.empty()) return;
      AutoScalingCall("SetInstanceProtection", ctx,
                      {{"AutoScalingGroupName", group_name}, {"InstanceIds", ids}, {"ProtectedFromScaleIn", flag}});
    };
    set(protect, true);
    set(release, false);
  }

  ScalingInput in;
  in.config = cfg;
  in.needed = needed;
  in.desired = static_cast<int>(JInt(group, "DesiredCapacity"));
  in.min_size = static_cast<int>(JInt(group, "MinSize"));
  in.max_size = static_cast<int>(JInt(group, "MaxSize"));
  in.warming = warming;
  in.idle = idle;
  const Json low_since = provider.internal.value("lowSince", Json());
  in.low_long_enough = low_since.is_number() && now - low_since.get<double>() >= kScaleInMinutes * options_.minute_seconds;
  ScalingStep step = DecideScaling(in);
  if (step.desired < in.desired) {
    // A task placed since the books were read makes its instance busy: protect it and keep
    // it before the group chooses what to terminate (ECS protects before it places; review 30).
    std::set<std::string> now_busy;
    Check(store_.Read([&](state::Tx& tx) {
      now_busy = BusyInstances(tx, ctx.region, registered);
      return Status::Ok();
    }));
    Json protect = Json::array();
    for (const auto& id : now_busy) {
      if (busy_ids.insert(id).second && mtp && protected_now.count(id)) protect.push_back(id);
    }
    if (!protect.empty()) {
      AutoScalingCall("SetInstanceProtection", ctx,
                      {{"AutoScalingGroupName", group_name}, {"InstanceIds", protect}, {"ProtectedFromScaleIn", true}});
    }
    in.idle = std::max(0, current - static_cast<int>(busy_ids.size()));
    step = DecideScaling(in);
  }
  if (step.desired != in.desired) {
    KLOG_INFO("capacity provider {}: reservation {:.0f}% (N={}, M={}): desired capacity of {} {} -> {}", name,
              reservation, needed, current, group_name, in.desired, step.desired);
    AutoScalingCall("SetDesiredCapacity", ctx,
                    {{"AutoScalingGroupName", group_name}, {"DesiredCapacity", step.desired}, {"HonorCooldown", false}});
  }
  // What the next pass needs to know: since when the reservation has been low (a scale-in
  // restarts the wait), and the reservation, for the log and tests.
  Check(store_.Write([&](state::Tx& tx) {
    auto o = Check(tx.Get(kCapacityProvider, provider.region, provider.id));
    if (!o || o->status != "ACTIVE") return Status::Ok();
    Json internal = o->internal;
    bool scaled_in = step.desired < in.desired;
    if (step.low && !scaled_in) {
      if (!internal.value("lowSince", Json()).is_number()) internal["lowSince"] = now;
    } else {
      internal.erase("lowSince");
    }
    internal["reservation"] = reservation;
    if (internal == o->internal) return Status::Ok();
    o->internal = internal;
    return tx.Put(*o);
  }));
}

}  // namespace kecs::api::ecs
