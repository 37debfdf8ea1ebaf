#pragma once
// Security groups and network ACLs as one VPC's packet filter.
//
// VpcPolicy is what the data plane must enforce for a VPC: its ENIs (address, groups,
// subnet), the rules of every group, and each subnet's network ACL. BuildVpcFilter turns it
// into one nftables script for the VPC's router namespace, where every packet between the
// VPC's tasks (and from the host) is routed: the script replaces the whole table in one
// atomic transaction, so a change never leaves a half-applied state, and conntrack entries
// of established flows survive it; net/domain/sg_filter_update.h changes it in place. The
// text is deterministic, so golden-file tests check it without root. Every rule carries a
// comment naming its ENI, group, rule or ACL.
//
//   forward: network ACLs (stateless, only across a subnet boundary, lowest rule number
//            first), then established/related accept, then the sender ENI's egress chain;
//   forward_ingress (next priority): established/related accept, the host exemption, then
//            the receiver ENI's ingress chain. An ENI's chain jumps to its groups' chains
//            (each group's rules once, design.md 17.4), where a rule that allows accepts
//            (ending that base chain only); what no group allows is dropped.
//   Ingress is denied unless a rule allows it; egress is allowed only by rules (every
//   group starts with the allow-all egress rule). A rule naming a group matches every
//   ENI that carries it (a named set of their addresses).
#include <map>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "state/store.h"

namespace kecs::net {

struct SgRule {
  std::string id;        // sgr-...
  bool egress = false;
  std::string protocol;  // "-1", "tcp", "udp", "icmp", "icmpv6", or a number
  int from = -1;         // port range, or ICMP type
  int to = -1;           // or ICMP code
  std::string cidr4;
  std::string cidr6;
  std::string group;     // referenced group id
  std::string prefix_list;
};

struct SecurityGroupPolicy {
  std::string id;
  std::vector<SgRule> rules;
};

struct EniPolicy {
  std::string id;        // eni-...
  std::string ip;
  std::string ipv6;
  std::string subnet_id;
  std::vector<std::string> groups;
  // Secondary private IPv4 addresses and further IPv6 addresses (AssignPrivateIpAddresses,
  // AssignIpv6Addresses): the interface's groups govern them as its primary ones, and
  // they are members of its groups' address sets.
  std::vector<std::string> secondary_ips;
  std::vector<std::string> secondary_ipv6;
  // A load balancer node without security groups (a network load balancer made without
  // them): AWS filters nothing there, the targets' groups decide.
  bool unfiltered = false;
  // A network load balancer's node. The router DNATs its listeners' traffic to the
  // targets before the forward hook, so its ingress rules are applied before that, in a
  // prerouting chain, to new flows addressed to it.
  bool nlb_node = false;
};

struct NaclEntry {
  int number = 0;
  bool egress = false;
  std::string protocol;  // "-1", "6", "17", "1", "58" (numbers, as the API stores them)
  int from = -1, to = -1;        // port range
  int icmp_type = -1, icmp_code = -1;
  std::string cidr4;
  std::string cidr6;
  bool allow = false;
};

struct SubnetPolicy {
  std::string id;
  std::string bridge;    // the subnet's bridge in the router namespace
  std::string acl_id;
  std::vector<NaclEntry> entries;
};

struct VpcPolicy {
  std::string vpc_id;
  std::vector<EniPolicy> enis;
  std::vector<SecurityGroupPolicy> groups;
  std::vector<SubnetPolicy> subnets;
  // Traffic from the host (the router's uplink) skips ENI ingress rules: kecs's lenient
  // convenience, so the host can reach tasks directly. False in --strict mode.
  bool host_exempt = true;
  // The IPv4 CIDRs of actively peered VPCs (net/domain/peering.h): their packets arrive
  // through the uplink as the host's do, but the host exemption does not cover them.
  std::vector<std::string> peer_sources;
  std::string uplink = "up0";
};

// The whole "inet kecs_sg" table for the VPC's router namespace, including the commands
// that replace an existing one.
std::string BuildVpcFilter(const VpcPolicy& policy);

// The container instance's security group, for bridge-mode tasks (AWS applies the
// instance's groups to bridge and host networking): its ingress rules govern new
// connections into the host bridge `bridge`, its egress rules those out of it. A table
// "inet <table>" in the host's namespace, replaced in one transaction. `members` gives the
// addresses of groups the rules reference.
std::string BuildInstanceFilter(const std::string& table, const std::string& bridge,
                                const SecurityGroupPolicy& group,
                                const std::map<std::string, std::vector<std::string>>& members);

// Reads a policy from the store documents of the VPC model (net/vpc.h): every ENI with an
// address, every group of the VPC, every subnet with its ACL. Bridge names are left empty.
VpcPolicy PolicyFromDocs(const std::string& vpc_id, const std::vector<Json>& enis,
                         const std::vector<Json>& groups, const std::vector<Json>& subnets,
                         const std::vector<Json>& acls);

// PolicyFromDocs over what the store holds for VPC `vpc_id` in `region`, inside the
// caller's transaction: the ENIs of its subnets, its groups, its subnets and ACLs. A VPC
// that does not exist gives an empty policy.
Result<VpcPolicy> ReadVpcPolicy(state::Tx& tx, const std::string& region, const std::string& vpc_id);

}  // namespace kecs::net
