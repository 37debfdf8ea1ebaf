#pragma once
// Security groups changed in place (design.md 17.4): the VPC filter of net/domain/sg_policy.h
// grows as ENIs + rules (a chain per group and direction holding the group's rules once,
// a chain per ENI and direction jumping to its groups' chains, verdict maps from an
// address to its ENI's chains), so a rule or membership change is a few commands, not the
// whole table.
#include <string>

#include "net/domain/sg_policy.h"

namespace kecs::net {

// The commands that turn the table BuildVpcFilter(before) into BuildVpcFilter(after) in
// place, in one transaction: elements added to and deleted from sets and maps, the chains
// that changed flushed and refilled, new ones added, gone ones deleted. Empty when there
// is nothing to change, or when the change needs the whole table replaced (its base
// chains changed: a subnet's bridge, the host exemption, the peered VPCs, load balancer
// nodes).
std::string BuildVpcFilterUpdate(const VpcPolicy& before, const VpcPolicy& after);

}  // namespace kecs::net
