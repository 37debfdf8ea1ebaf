#include "reconcile/lb_hooks.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "base/log.h"
#include "model/service.h"
#include "reconcile/task_address.h"
#include "state/records/elb.h"
#include "state/records/services.h"

namespace kecs::reconcile {
namespace {

Result<std::optional<model::TargetGroup>> GroupOf(state::Tx& tx, const std::string& region, const std::string& arn) {
  std::string id = model::IdFromArn(arn, "targetgroup");
  if (id.empty()) return std::optional<model::TargetGroup>();
  return state::records::GetTargetGroup(tx, region, id);
}

// The entry is the task's registration (not one an address's later owner made).
bool Owns(const model::TaskTarget& t, const model::Target& target) {
  return target.id == t.target_id && target.port == t.port && target.registered_at == t.registered_at;
}

model::Target* FindMutable(model::TargetGroup& group, const model::TaskTarget& t) {
  auto it = std::find_if(group.targets.begin(), group.targets.end(), [&](const model::Target& x) { return Owns(t, x); });
  return it == group.targets.end() ? nullptr : &*it;
}

// The host port the task got for `container`'s `container_port` (bridge: the dynamic
// port chosen at launch; host: the container port itself), 0 when it has none.
int HostPortOf(const model::Task& task, const std::string& container, int64_t container_port) {
  for (const auto& c : task.containers) {
    if (c.name != container) continue;
    for (const auto& b : c.network_bindings) {
      if (b.container_port == container_port && b.host_port > 0) return b.host_port;
    }
  }
  for (const auto& d : task.internal.containers) {
    if (d.name != container) continue;
    for (const auto& pm : d.port_mappings) {
      if (pm.container_port != container_port) continue;
      if (pm.host_port > 0) return pm.host_port;
      if (task.internal.network_mode == model::NetworkMode::kHost) return pm.container_port;
    }
  }
  return 0;
}

// ECS's service events for its target registrations (as DescribeServices shows them,
// e.g. "(service web) registered 1 targets in (target-group arn:aws:...)"; the same
// wording with "deregistered", followed by "(service web) has begun draining connections
// on 1 tasks.").
Status AddEvents(state::Tx& tx, const model::Task& task, double now, const std::vector<std::string>& messages) {
  if (messages.empty() || task.internal.service.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto service, state::records::GetService(tx, task.region, task.cluster, task.internal.service));
  if (!service) return Status::Ok();
  for (const auto& m : messages) model::AddServiceEvent(*service, now, fmt::format("(service {}) {}", service->name, m));
  return state::records::PutService(tx, *service);
}

}  // namespace

const model::Target* FindTaskTarget(const model::TargetGroup& group, const model::TaskTarget& t) {
  for (const auto& target : group.targets) {
    if (Owns(t, target)) return &target;
  }
  return nullptr;
}

Status RegisterTaskTargets(state::Tx& tx, model::Task& task, double now, const LbHookOptions& options) {
  if (task.internal.service.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto service, state::records::GetService(tx, task.region, task.cluster, task.internal.service));
  if (!service) return Status::Ok();
  // A task set's task registers in its task set's target groups (issue 18).
  const auto& load_balancers = model::LoadBalancersOf(*service, task.internal.deployment);
  if (load_balancers.empty()) return Status::Ok();
  std::vector<std::string> events;
  for (const auto& lb : load_balancers) {
    if (lb.target_group_arn.empty() || !lb.container_port) continue;
    ASSIGN_OR_RETURN(auto group, GroupOf(tx, task.region, lb.target_group_arn));
    if (!group) {
      KLOG_WARN("task {}: target group {} no longer exists; not registered", task.id, lb.target_group_arn);
      continue;
    }
    model::Target target;
    bool awsvpc = task.internal.network_mode == model::NetworkMode::kAwsvpc;
    // A task on an EC2 instance kecs runs is reached at the instance's address (issue 17).
    const std::string& host_ip = task.internal.network.instance ? task.internal.network.instance->ip : options.host_ip;
    if (group->target_type == model::TargetType::kIp) {
      target.id = awsvpc && task.internal.network.eni ? TaskPrivateIpv4(task) : host_ip;
      target.port = static_cast<int>(awsvpc ? *lb.container_port : HostPortOf(task, lb.container_name, *lb.container_port));
      target.address = target.id;
    } else if (group->target_type == model::TargetType::kInstance && options.instance_id) {
      ASSIGN_OR_RETURN(target.id, options.instance_id(tx, task));
      target.port = HostPortOf(task, lb.container_name, *lb.container_port);
      target.address = host_ip;
    }
    if (target.id.empty() || target.port <= 0) {
      KLOG_WARN("task {}: no {} target for container {} port {} in target group {}; not registered", task.id,
                model::ToString(group->target_type), lb.container_name, *lb.container_port, lb.target_group_arn);
      continue;
    }
    target.availability_zone = task.availability_zone;
    target.registered_at = now;
    target.state = model::TargetHealthState::kInitial;
    target.reason = model::kReasonRegistrationInProgress;
    target.description = model::TargetHealthDescription(target.reason);
    // A registration of an id and port the group already has (an address a stopped task
    // had) takes its place, as RegisterTargets does.
    auto same = std::find_if(group->targets.begin(), group->targets.end(),
                             [&](const model::Target& t) { return t.id == target.id && t.port == target.port; });
    if (same != group->targets.end()) {
      *same = target;
    } else {
      group->targets.push_back(target);
    }
    RETURN_IF_ERROR(state::records::PutTargetGroup(tx, *group));
    task.internal.targets.push_back({lb.target_group_arn, target.id, target.port, now});
    events.push_back(fmt::format("registered 1 targets in (target-group {})", lb.target_group_arn));
  }
  return AddEvents(tx, task, now, events);
}

Status DeregisterTaskTargets(state::Tx& tx, model::Task& task, double now) {
  std::vector<std::string> events;
  for (const auto& t : task.internal.targets) {
    ASSIGN_OR_RETURN(auto group, GroupOf(tx, task.region, t.target_group_arn));
    if (!group) continue;
    model::Target* target = FindMutable(*group, t);
    if (!target || target->drain_until) continue;  // gone, or draining already
    int delay = model::DeregistrationDelaySeconds(*group);
    if (delay == 0) {
      std::erase_if(group->targets, [&](const model::Target& x) { return Owns(t, x); });
    } else {
      target->state = model::TargetHealthState::kDraining;
      target->reason = model::kReasonDeregistrationInProgress;
      target->description = model::TargetHealthDescription(target->reason);
      target->drain_until = now + delay;
    }
    RETURN_IF_ERROR(state::records::PutTargetGroup(tx, *group));
    events.push_back(fmt::format("deregistered 1 targets in (target-group {})", t.target_group_arn));
  }
  if (!events.empty()) events.push_back("has begun draining connections on 1 tasks.");
  return AddEvents(tx, task, now, events);
}

Result<bool> TaskTargetsDrained(state::Tx& tx, const model::Task& task, double now, const LbHookOptions& options) {
  bool drained = true;
  for (const auto& t : task.internal.targets) {
    ASSIGN_OR_RETURN(auto group, GroupOf(tx, task.region, t.target_group_arn));
    if (!group) continue;
    const model::Target* target = FindTaskTarget(*group, t);
    if (!target) continue;
    // "If a deregistering target has no in-flight requests and no active connections,
    // Elastic Load Balancing immediately completes the deregistration process" (AWS's
    // Application Load Balancers User Guide, "Deregistration delay"): a group no load
    // balancer forwards to (its load balancer was deleted) has none.
    ASSIGN_OR_RETURN(auto users, state::records::LoadBalancersOfTargetGroup(tx, task.region, group->id));
    if (users.empty()) continue;
    double until = target->drain_until.value_or(task.stopping_at.value_or(now) + model::DeregistrationDelaySeconds(*group));
    if (now < until + options.drain_margin_s) {
      drained = false;
    } else {
      KLOG_WARN("task {}: target {}:{} is still in target group {} past its deregistration delay; moving on",
                task.id, t.target_id, t.port, t.target_group_arn);
    }
  }
  return drained;
}

Status ReleaseTaskTargets(state::Tx& tx, model::Task& task) {
  for (const auto& t : task.internal.targets) {
    ASSIGN_OR_RETURN(auto group, GroupOf(tx, task.region, t.target_group_arn));
    if (!group || !FindTaskTarget(*group, t)) continue;
    std::erase_if(group->targets, [&](const model::Target& x) { return Owns(t, x); });
    RETURN_IF_ERROR(state::records::PutTargetGroup(tx, *group));
  }
  task.internal.targets.clear();
  return Status::Ok();
}

}  // namespace kecs::reconcile
