#pragma once
// ECS service discovery: a service's tasks in its Cloud Map registries.
//
// As ECS does, a task of a service with serviceRegistries is registered in each registry
// (instance id = the task id) when it reaches RUNNING and deregistered as soon as it
// starts to stop, so DNS names follow the tasks. Attributes are ECS's:
// AWS_INSTANCE_IPV4 (the ENI's address for awsvpc, the host's for bridge and host mode),
// AWS_INSTANCE_IPV6 when the ENI has one, AWS_INSTANCE_PORT (the registry's port, or the
// containerName/containerPort mapping: the container port for awsvpc, its host port for
// bridge and host), AVAILABILITY_ZONE, REGION, ECS_CLUSTER_NAME, ECS_SERVICE_NAME,
// ECS_TASK_DEFINITION_FAMILY, and AWS_INIT_HEALTH_STATUS=HEALTHY when the Cloud Map
// service has a custom health check.
//
// Health: ECS keeps a task's instances in step with the task's health through Cloud Map's
// custom health status (UpdateInstanceCustomHealthStatus): HEALTHY or UNHEALTHY as the
// task's healthStatus turns, so DNS stops answering an unhealthy task. Cloud Map keeps a
// custom status only for a service with HealthCheckCustomConfig; a service without a
// health check answers for its instances whatever their health, as Cloud Map documents.
//
// A registration that Cloud Map refuses (a registry deleted since, a port missing for an
// SRV record) does not fail the task: ECS reports it as a service event, and so do we.
#include <string>

#include "base/status.h"
#include "model/task.h"
#include "state/store.h"

namespace kecs::reconcile {

struct DiscoveryHookOptions {
  std::string host_ip;  // AWS_INSTANCE_IPV4 of bridge and host mode tasks
};

// hooks.running: registers a service task in its service's registries.
Status RegisterServiceTask(state::Tx& tx, model::Task& task, double now, const DiscoveryHookOptions& options);
// hooks.health_changed: sets the task's instances' custom health status to the task's
// healthStatus (UNKNOWN changes nothing). Registries gone since, or without
// HealthCheckCustomConfig, are left alone.
Status UpdateServiceTaskHealth(state::Tx& tx, const model::Task& task);
// hooks.stopping and hooks.release: removes the task from every registry it is in.
Status DeregisterServiceTask(state::Tx& tx, model::Task& task, double now);

}  // namespace kecs::reconcile
