#pragma once
// The task metadata endpoint's documents, in the shapes the Amazon ECS container agent
// serves (amazon-ecs-agent: ecs-agent/tmds/handlers/v4/state/response.go, the v2
// ContainerResponse/TaskResponse it embeds, and Docker's StatsJSON for /stats), built from
// the typed task record. Versions: 4 (ECS_CONTAINER_METADATA_URI_V4) and 3
// (ECS_CONTAINER_METADATA_URI): v3 has no LaunchType, ContainerARN, LogDriver, ENI details
// (AttachmentIndex, MACAddress, ...), VPCID or ServiceName, and its stats carry no
// network_rate_stats. Pure functions; thread-safe.
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "model/task.h"
#include "runtime/runtime.h"

namespace kecs::api::metadata {

// What the documents need beyond the task record.
struct Context {
  int version = 4;  // 3 or 4
  // The host's clock state for v4's ClockDrift (adjtimex); none: the member is left out.
  struct Clock {
    double error_bound_ms = 0;
    bool synchronized = false;
    double reference = 0;  // epoch seconds
  };
  std::optional<Clock> clock;
};

// ${URI}: one container of the task.
Json ContainerDocument(const model::Task& task, const model::ContainerDefinition& def, const Context& ctx);
// ${URI}/task: the task and all its containers.
Json TaskDocument(const model::Task& task, const Context& ctx);
// The container's DockerId: the runtime's id when it has been created, else a stable id.
std::string DockerId(const model::Task& task, const std::string& container);

// One container's stats in Docker's format. `prev` is the sample before (precpu_stats,
// preread; Docker's zero values without one).
Json StatsDocument(const model::Task& task, const runtime::ContainerStats& now,
                   const std::optional<runtime::ContainerStats>& prev, int version);

// A task role's temporary credentials, as the agent's credentials endpoint returns them.
struct RoleCredentials {
  std::string role_arn;
  std::string access_key_id;
  std::string secret_access_key;
  std::string token;
  double expiration = 0;  // epoch seconds
};
Json CredentialsDocument(const RoleCredentials& c);

// ISO 8601 with whole seconds, as Expiration is spelled: "2026-12-04T23:00:00Z".
std::string Iso8601Seconds(double epoch_seconds);

}  // namespace kecs::api::metadata
