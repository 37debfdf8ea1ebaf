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
std::optional<int64_t> RegistryPort(const Json& registry, const Json& task_doc, bool host_ports) {
  if (auto p = JGet(registry, "port")) return p->get<int64_t>();
  auto name = JOptStr(registry, "containerName");
  const Json* want = JGet(registry, "containerPort");
  if (!name) return std::nullopt;
  for (const auto& c : task_doc.value("kecs:containers", Json::array())) {
    if (JStr(c, "name") != *name) continue;
    for (const auto& pm : c.value("portMappings", Json::array())) {
      if (want && JInt(pm, "containerPort") != want->get<int64_t>()) continue;
      if (!host_ports) return JInt(pm, "containerPort");
      // The binding the task got (a dynamic host port is only known now).
      for (const auto& rc : task_doc.value("containers", Json::array())) {
        if (JStr(rc, "name") != *name) continue;
        for (const auto& b : rc.value("networkBindings", Json::array())) {
          if (JInt(b, "containerPort") == JInt(pm, "containerPort")) return JInt(b, "hostPort");
        }
      }
      if (JInt(pm, "hostPort") > 0) return JInt(pm, "hostPort");
    }
  }
  return std::nullopt;
}

}  // namespace

Status RegisterServiceTask(state::Tx& tx, state::Object& task, double now, const DiscoveryHookOptions& options) {
  std::string service_name = JStr(task.doc, "kecs:service");
  if (service_name.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto service, tx.Get(model::kService, task.region, task.parent + "/" + service_name));
  if (!service) return Status::Ok();
  const Json registries = service->doc.value("serviceRegistries", Json::array());
  if (registries.empty()) return Status::Ok();

  auto arn = model::Arn::Parse(JStr(task.doc, "taskArn"));
  std::string account = arn ? arn->account : "000000000000";
  std::string mode = JStr(task.doc, "kecs:networkMode");
  const Json& eni = task.doc.value("kecs:network", Json::object()).value("eni", Json::object());
  std::string family = LastPart(JStr(task.doc, "taskDefinitionArn"));
  family = family.substr(0, family.rfind(':'));

  Json registered = Json::array();
  bool changed = false;
  for (const auto& r : registries) {
    std::string sd_id = net::discovery::IdFromArnOrId(JStr(r, "registryArn"));
    ASSIGN_OR_RETURN(auto sd, net::discovery::FindService(tx, task.region, sd_id));
    std::string failure;
    if (!sd) {
      failure = fmt::format("the service discovery registry {} does not exist", JStr(r, "registryArn"));
    } else {
      Json attrs = {{"AVAILABILITY_ZONE", JStr(task.doc, "availabilityZone")},
                    {"REGION", task.region},
                    {"ECS_CLUSTER_NAME", LastPart(JStr(task.doc, "clusterArn"))},
                    {"ECS_SERVICE_NAME", service_name},
                    {"ECS_TASK_DEFINITION_FAMILY", family}};
      if (mode == "awsvpc") {
        attrs["AWS_INSTANCE_IPV4"] = JStr(eni, "ip");
        if (auto v6 = JOptStr(eni, "ipv6")) attrs["AWS_INSTANCE_IPV6"] = *v6;
      } else {
        attrs["AWS_INSTANCE_IPV4"] = options.host_ip;
      }
      if (auto port = RegistryPort(r, task.doc, mode != "awsvpc")) attrs["AWS_INSTANCE_PORT"] = std::to_string(*port);
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
  task.doc["kecs:registries"] = registered;
  if (changed) RETURN_IF_ERROR(tx.Put(*service));
  return Status::Ok();
}

Status DeregisterServiceTask(state::Tx& tx, state::Object& task, double now) {
  const Json* registered = JGet(task.doc, "kecs:registries");
  if (!registered || registered->empty()) return Status::Ok();
  auto arn = model::Arn::Parse(JStr(task.doc, "taskArn"));
  std::string account = arn ? arn->account : "000000000000";
  for (const auto& id : *registered) {
    auto op = net::discovery::DeregisterInstance(tx, task.region, account, now, id.get<std::string>(), task.id);
    // Gone already: deregistered by hand, or its Cloud Map service was deleted.
    if (!op.ok() && op.status().code() != Code::kNotFound) return op.status();
  }
  task.doc["kecs:registries"] = Json::array();
  return Status::Ok();
}

}  // namespace kecs::reconcile
