#pragma once
// VPC peering connections (peering.cc), for the route tables' VpcPeeringConnectionId target.
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

}  // namespace kecs::api::ec2
