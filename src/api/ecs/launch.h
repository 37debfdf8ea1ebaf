#pragma once
// Creating tasks: what RunTask and StartTask share (and the service scheduler will).
//
// Launch validates the request against the task definition in ECS's words, resolves the
// launch type and network configuration, places EC2 tasks on container instances, and
// inserts the task documents (lastStatus PROVISIONING for awsvpc, else PENDING) in the
// caller's transaction. The task controller takes them from there.
#include <optional>
#include <string>
#include <vector>

#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "base/json.h"
#include "state/store.h"

namespace kecs::api::ecs {

struct LaunchSpec {
  std::string cluster;
  std::string task_definition;
  int count = 1;
  std::optional<std::string> launch_type;
  Json capacity_provider_strategy;      // null when absent
  Json network_configuration;           // null when absent
  Json overrides = Json::object();
  std::string started_by;
  std::string group;
  Json tags = Json::array();
  std::string propagate_tags;           // "TASK_DEFINITION", "SERVICE" or ""
  bool enable_execute_command = false;
  std::string platform_version;
  Json placement_constraints = Json::array();
  Json placement_strategy = Json::array();
  std::vector<std::string> container_instances;  // StartTask: run on exactly these
  std::string service_name;                      // set by the service scheduler
  std::string deployment_id;                     // "ecs-svc/..." of the deployment
  Json service_tags = Json::array();
};

struct LaunchOutcome {
  Json tasks = Json::array();
  Json failures = Json::array();
};

LaunchOutcome Launch(state::Tx& tx, RequestContext& ctx, const EcsOptions& options,
                     const LaunchSpec& spec);

// Task ARN from its cluster and id.
std::string TaskArn(const RequestContext& ctx, const std::string& cluster, const std::string& id);

// The task as DescribeTasks shows it.
Json TaskView(const state::Object& task, bool include_tags);

}  // namespace kecs::api::ecs
