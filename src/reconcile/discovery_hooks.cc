#include "reconcile/discovery_hooks.h"

#include <optional>

#include <fmt/format.h>

#include "model/arn.h"
#include "model/kinds.h"
#include "net/domain/discovery.h"
#include "reconcile/service_controller.h"

namespace kecs::reconcile {
namespace {

// What follows the last '/' of an ARN ("my-cluster", "web:3").
std::string LastPart(const std::string& arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string::npos ? arn : arn.substr(slash + 1);
}

// The task's port for a registry: its own port, or the named container's mapping of
// containerPort (the host port when the task publishes on the host).
std::optional<int64_t> RegistryPort(const Json& registry, const model::Task& task, bool host_ports) {
  if (auto p = JGet(registry, "port")) return p->get<int64_t>();
  auto name = JOptStr(registry, "containerName");
  const Json* want = JGet(registry, "containerPort");
  if (!name) return std::nullopt;
  for (const auto& c : task.internal.containers) {
    if (c.name != *name) continue;
    for (const auto& pm : c.port_mappings) {
      if (want && pm.container_port != want->get<int64_t>()) continue;
      if (!host_ports) return pm.container_port;
      // The binding the task got (a dynamic host port is only known now).
      for (const auto& rc : task.containers) {
        if (rc.name != *name) continue;
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
  ASSIGN_OR_RETURN(auto service, tx.Get(model::kService, task.region, task.cluster + "/" + service_name));
  if (!service) return Status::Ok();
  const Json registries = service->doc.value("serviceRegistries", Json::array());
  if (registries.empty()) return Status::Ok();

  auto arn = model::Arn::Parse(task.task_arn);
  std::string account = arn ? arn->account : "000000000000";
  bool awsvpc = task.internal.network_mode == model::NetworkMode::kAwsvpc;
  const auto& eni = task.internal.network.eni;
  std::string family = LastPart(task.task_definition_arn);
  family = family.substr(0, family.rfind(':'));

  std::vector<std::string> registered;
  bool changed = false;
  for (const auto& r : registries) {
    std::string sd_id = net::discovery::IdFromArnOrId(JStr(r, "registryArn"));
    ASSIGN_OR_RETURN(auto sd, net::discovery::FindService(tx, task.region, sd_id));
    std::string failure;
    if (!sd) {
      failure = fmt::format("the service discovery registry {} does not exist", JStr(r, "registryArn"));
    } else {
      Json attrs = {{"AVAILABILITY_ZONE", task.availability_zone},
                    {"REGION", task.region},
                    {"ECS_CLUSTER_NAME", LastPart(task.cluster_arn)},
                    {"ECS_SERVICE_NAME", service_name},
                    {"ECS_TASK_DEFINITION_FAMILY", family}};
      if (awsvpc) {
        attrs["AWS_INSTANCE_IPV4"] = eni ? eni->ip : "";
        if (eni && eni->ipv6) attrs["AWS_INSTANCE_IPV6"] = *eni->ipv6;
      } else {
        attrs["AWS_INSTANCE_IPV4"] = options.host_ip;
      }
      if (auto port = RegistryPort(r, task, !awsvpc)) attrs["AWS_INSTANCE_PORT"] = std::to_string(*port);
      if (JGet(sd->doc, "HealthCheckCustomConfig")) attrs["AWS_INIT_HEALTH_STATUS"] = "HEALTHY";
      auto op = net::discovery::RegisterInstance(tx, task.region, account, now, sd->id, task.id, attrs, "");
      if (op.ok()) {
        registered.push_back(sd->id);
        continue;
      }
      failure = op.status().message();
    }
    AddServiceEvent(service->doc, now,
                    fmt::format("(service {}) failed to register task {} in service discovery: {}", service_name,
                                task.id, failure));
    changed = true;
  }
  task.internal.registries = std::move(registered);
  if (changed) RETURN_IF_ERROR(tx.Put(*service));
  return Status::Ok();
}

Status DeregisterServiceTask(state::Tx& tx, model::Task& task, double now) {
  if (task.internal.registries.empty()) return Status::Ok();
  auto arn = model::Arn::Parse(task.task_arn);
  std::string account = arn ? arn->account : "000000000000";
  for (const auto& id : task.internal.registries) {
    auto op = net::discovery::DeregisterInstance(tx, task.region, account, now, id, task.id);
    // Gone already: deregistered by hand, or its Cloud Map service was deleted.
    if (!op.ok() && op.status().code() != Code::kNotFound) return op.status();
  }
  task.internal.registries.clear();
  return Status::Ok();
}

}  // namespace kecs::reconcile
