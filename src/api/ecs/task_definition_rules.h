#pragma once
// RegisterTaskDefinition's validation and the defaults ECS fills in, as pure functions so
// they are unit-tested without a store. Every refusal is ECS's ClientException with its
// own message.
#include <optional>
#include <string>

#include "api/router.h"
#include "base/json.h"
#include "state/store.h"

namespace kecs::api::ecs {

// Validates a RegisterTaskDefinition request and returns the task definition document
// (without ARN, revision, status and registration fields) as DescribeTaskDefinition shows
// it: container defaults filled, cpu/memory as unit strings, hostPort set under
// awsvpc/host, compatibilities and requiresAttributes derived.
// In lenient mode (strict false) a container with no memory setting is accepted on EC2
// too, as the KECS flows register them; strict mode refuses it as AWS does.
Json NormalizeTaskDefinition(const Json& in, bool strict = true);

// "256" / "1 vCPU" / ".25 vcpu" -> CPU units; nullopt when unparseable.
std::optional<int64_t> ParseCpu(const std::string& s);
// "512" / "1GB" / "0.5 GB" -> MiB.
std::optional<int64_t> ParseMemory(const std::string& s);
// Whether (cpu, memory) is one of Fargate's valid combinations.
bool FargateSizeValid(int64_t cpu, int64_t memory);

// The task definition a request names (family, family:revision or ARN): family alone
// means its latest ACTIVE revision. nullopt when there is none.
std::optional<state::Object> FindTaskDefinition(state::Tx& tx, const RequestContext& ctx,
                                                const std::string& ref);

// The network mode a task definition runs with ("bridge" when it names none).
std::string NetworkModeOf(const Json& td);

}  // namespace kecs::api::ecs
