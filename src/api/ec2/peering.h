#pragma once
// VPC peering connections (peering.cc) and egress-only internet gateways, for the route
// tables' VpcPeeringConnectionId and EgressOnlyInternetGatewayId targets.
#include <string>

#include "api/ec2/ec2_api.h"

namespace kecs::api::ec2 {

// The peering connection `id` (InvalidVpcPeeringConnectionId.Malformed,
// InvalidVpcPeeringConnectionID.NotFound otherwise), as stored.
state::Object RequirePeering(state::Tx& tx, const std::string& region, const std::string& id);
// The state code of a peering connection ("active", "pending-acceptance", ...).
std::string PeeringState(const state::Object& pcx);
// Whether `vpc_id` is one of the connection's two VPCs.
bool PeeringHasVpc(const state::Object& pcx, const std::string& vpc_id);

// Egress-only internet gateways (egress_only_gateways.cc), kept under their VPC.
inline constexpr const char* kEgressOnlyGateway = "ec2:eigw";
// The gateway `id`; InvalidEgressOnlyInternetGatewayId.Malformed / .NotFound otherwise.
state::Object RequireEgressOnlyGateway(state::Tx& tx, const std::string& region, const std::string& id);

}  // namespace kecs::api::ec2
