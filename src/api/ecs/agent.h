#pragma once
// The agent-facing ECS operations' helpers shared with the container instance views
// (agent.cc): how an UpdateContainerAgent in progress shows in a container instance.
// Stateless; thread-safe.
#include "base/json.h"

namespace kecs::api::ecs {

// The agent version kecs's container instances run unless registered with another
// (RegisterContainerInstance's default versionInfo): UpdateContainerAgent has nothing newer.
inline constexpr const char* kLatestAgentVersion = "1.82.0";

// `view` (a container instance as the API shows it, from `stored`) with the agent update
// UpdateContainerAgent started, as it stands at `now` (epoch seconds): agentUpdateStatus,
// and versionInfo.agentVersion once UPDATED. No update started: `view` is left as it is.
void ShowAgentUpdate(const Json& stored, double now, Json& view);

}  // namespace kecs::api::ecs
