#include "reconcile/discovery_hooks.h"

#include <optional>

#include <fmt/format.h>

#include "model/arn.h"
#include "model/service.h"
#include "model/task.h"
#include "net/domain/discovery.h"
#include "reconcile/task_address.h"
#include "state/records/services.h"

namespace kecs::reconcile {
namespace {

// What follows the last '/' of an ARN ("my-cluster", "web:3").
std::string LastPart(const std::string& arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string::npos ? arn : arn.substr(slash + 1);
}

std::string AccountOf(const model::Task& task) {
  auto arn = model::Arn::Parse(task.task_arn);
  return arn ? arn->account : "000000000000";
}

// The task's port for a registry: its own port, or the named container's mapping of
// containerPort (the host port when the task publishes on the host).
std::optional<int64_t> RegistryPort(const model::ServiceRegistry& registry, const model::Task& task, bool host_ports) {
  if (registry.port) return registry.port;
  if (!registry.container_name) return std::nullopt;
  const std::string& name = *registry.container_name;
  for (const auto& c : task.internal.containers) {
    if (c.name != name) continue;
    for (const auto& pm : c.port_mappings) {
      if (registry.container_port && pm.container_port != *registry.container_port) continue;
      if (!host_ports) return pm.container_port;
      // The binding the task got (a dynamic host port is only known now).
      for (const auto& rc : task.containers) {
        if (rc.name != name) continue;
        for (const auto& b : rc.network_bindings) {
          if (b.container_port == pm.container_port) return b.host_port;
        }
      }
      if (pm.host_port > 0) return pm.host_port;
    }
  }
  return std::nullopt;
}

}  // namespace

Status RegisterServiceTask(state::Tx& tx, model::Task& task, double now, const DiscoveryHookOptions& options) {
  const std::string& service_name = task.internal.service;
  if (service_name.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto service, state::records::GetService(tx, task.region, task.cluster, service_name));
  // A task set's task registers in its task set's registries (issue 18).
  if (!service || model::RegistriesOf(*service, task.internal.deployment).empty()) return Status::Ok();

  bool awsvpc = task.internal.network_mode == model::NetworkMode::kAwsvpc;
  net::discovery::EcsTaskInstance instance;
  instance.task_id = task.id;
  instance.availability_zone = task.availability_zone;
  instance.region = task.region;
  instance.cluster_name = LastPart(task.cluster_arn);
  instance.service_name = service_name;
  for (const auto& ts : service->task_sets) {
    if (ts.id == task.internal.deployment) instance.task_set_external_id = ts.external_id;
  }
  std::string family = LastPart(task.task_definition_arn);
  instance.task_definition_family = family.substr(0, family.rfind(':'));
  if (awsvpc) {
    const auto& eni = task.internal.network.eni;
    instance.ipv4 = TaskPrivateIpv4(task);
    if (eni) instance.ipv6 = eni->ipv6;
  } else {
    // A task on an EC2 instance kecs runs is reached at the instance's address (issue 17).
    const auto& on = task.internal.network.instance;
    instance.ipv4 = on ? on->ip : options.host_ip;
  }

  std::vector<std::string> registered;
  bool changed = false;
  for (const auto& r : model::RegistriesOf(*service, task.internal.deployment)) {
    instance.port = RegistryPort(r, task, !awsvpc);
    auto op = net::discovery::RegisterEcsTaskInstance(tx, AccountOf(task), now, r.registry_arn, instance);
    if (op.ok()) {
      registered.push_back(net::discovery::IdFromArnOrId(r.registry_arn));
      continue;
    }
    std::string failure = op.status().code() == Code::kNotFound
                              ? fmt::format("the service discovery registry {} does not exist", r.registry_arn)
                              : op.status().message();
    model::AddServiceEvent(*service, now,
                           fmt::format("(service {}) failed to register task {} in service discovery: {}",
                                       service_name, task.id, failure));
    changed = true;
  }
  task.internal.registries = registered;
  if (changed) RETURN_IF_ERROR(state::records::PutService(tx, *service));
  return Status::Ok();
}

Status UpdateServiceTaskHealth(state::Tx& tx, const model::Task& task) {
  if (task.health_status == model::HealthStatus::kUnknown) return Status::Ok();
  std::string status(model::ToString(task.health_status));
  for (const auto& id : task.internal.registries) {
    Status st = net::discovery::SetInstanceHealth(tx, task.region, id, task.id, status);
    // Gone (deregistered by hand, service deleted), or no custom health check to keep.
    if (!st.ok() && st.code() != Code::kNotFound && st.code() != Code::kFailedPrecondition) return st;
  }
  return Status::Ok();
}

Status DeregisterServiceTask(state::Tx& tx, model::Task& task, double now) {
  if (task.internal.registries.empty()) return Status::Ok();
  for (const auto& id : task.internal.registries) {
    auto op = net::discovery::DeregisterInstance(tx, task.region, AccountOf(task), now, id, task.id);
    // Gone already: deregistered by hand, or its Cloud Map service was deleted.
    if (!op.ok() && op.status().code() != Code::kNotFound) return op.status();
  }
  task.internal.registries.clear();
  return Status::Ok();
}

}  // namespace kecs::reconcile
