#pragma once
// ECS network-configuration semantics for a task launch: which modes take a
// networkConfiguration, AwsVpcConfiguration's limits, assignPublicIp per launch type, and
// the ENI attachment a task starts with.
#include <string>
#include <vector>

#include "api/router.h"
#include "base/json.h"
#include "state/store.h"

namespace kecs::api::ecs {

struct NetworkPlan {
  std::string mode;                    // awsvpc, bridge, host, none
  std::vector<std::string> subnets;
  std::vector<std::string> security_groups;
  bool assign_public_ip = false;
  std::string vpc_id;
  std::string availability_zone;       // of the first subnet, when known
  std::vector<std::string> zones;      // of every listed subnet (placement's LOCATION check)

  Json ToJson() const;
  static NetworkPlan FromJson(const Json& j);
};

// Validates and resolves a task's network configuration in ECS's words. `explicit_launch`
// says whether the caller chose the launch type (or a capacity provider); in lenient mode
// only an explicit EC2 launch refuses assignPublicIp.
NetworkPlan PlanNetwork(state::Tx& tx, const RequestContext& ctx, const std::string& mode,
                        const std::string& launch_type, const Json& network_configuration,
                        bool explicit_launch);

}  // namespace kecs::api::ecs
