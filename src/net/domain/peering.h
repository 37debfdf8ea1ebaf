#pragma once
// VPC peering connections as the data plane sees them.
//
// A peering connection is a store object of kind kVpcPeering (api/ec2/peering.cc keeps it).
// Traffic between two peered VPCs flows only where AWS lets it: the connection is active,
// the sender's subnet's route table sends the receiver's address to the connection, and the
// receiver's subnet's route table sends the sender's address back through it (AWS needs
// both directions routed). ComputePeeringPaths turns that into the set of allowed
// (source VPC, source CIDR, destination VPC, destination CIDR) paths; it is symmetric (a
// path's reverse is in the set too), so replies pass. Pure and deterministic (sorted).
//
// The local runtime renders the paths into nftables (BuildHostPeeringRules,
// BuildRouterPeeringRules): accepted between the two VPCs' transit links on the host
// before kecs:vpc-isolation drops the rest, and in each router exempted from the
// masquerade and the private-subnet egress block, so the receiver sees the sender's own
// address. Security groups still apply in the receiver's router (PeerSources).
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "state/store.h"

namespace kecs::net {

inline constexpr const char* kVpcPeering = "ec2:pcx";

struct PeeringPath {
  std::string src_vpc;
  std::string src_cidr;
  std::string dst_vpc;
  std::string dst_cidr;
  auto operator<=>(const PeeringPath&) const = default;
};

// An active peering connection between two VPCs.
struct ActivePeering {
  std::string id;  // pcx-...
  std::string vpc_a, vpc_b;
};

// A subnet with the IPv4 routes of its route table that target a peering connection
// (active routes only).
struct SubnetPeeringRoutes {
  std::string vpc_id;
  std::string cidr;
  std::vector<std::pair<std::string, std::string>> routes;  // destination CIDR, pcx id
};

std::vector<PeeringPath> ComputePeeringPaths(const std::vector<ActivePeering>& peerings,
                                             const std::vector<SubnetPeeringRoutes>& subnets);

// Every region's active peerings and the subnets of their VPCs, read inside the caller's
// transaction, then ComputePeeringPaths.
Result<std::vector<PeeringPath>> ReadPeeringPaths(state::Tx& tx);

// The IPv4 CIDRs of every VPC actively peered with `vpc_id` in `region`: packets from them
// arrive through the router's uplink but are not the host's, so the lenient host
// exemption of the VPC's filter must not cover them.
Result<std::vector<std::string>> PeerSources(state::Tx& tx, const std::string& region, const std::string& vpc_id);

// The host side: one nft script that replaces the rules of chain "ip <table> peering"
// (jumped to from the forward chain before kecs:vpc-isolation) with an accept per path,
// keyed by the two VPCs' host links (`links`: vpc id -> link name; a path whose VPC has no
// link here is left out). One transaction.
std::string BuildHostPeeringRules(const std::string& table, const std::vector<PeeringPath>& paths,
                                  const std::map<std::string, std::string>& links);

// One VPC router's side: replaces the chains "ip kecs_router peering" (forward: before
// the private-subnet block) and "ip kecs_router peering_nat" (postrouting: before the
// masquerade) with an accept per path leaving `vpc_id`. One transaction.
std::string BuildRouterPeeringRules(const std::string& vpc_id, const std::vector<PeeringPath>& paths);

}  // namespace kecs::net
