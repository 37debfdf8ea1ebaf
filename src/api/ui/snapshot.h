#pragma once
// The topology page's picture of the world (issue 15): every VPC with its subnets (and
// their address usage), the security groups and the edges their ingress rules make, the
// tasks with their ENIs, addresses and published host ports, the services with their
// deployments and Cloud Map names, the load balancers with their target groups' health,
// and the Cloud Map services with their instances.
//
// BuildSnapshot reads it all in the caller's one read transaction, so the page never shows
// a half-applied change; SnapshotToJson is the one place it becomes JSON (what /ui/events
// streams and /ui/snapshot.json answers). Stopped tasks are left out. Plain values;
// BuildSnapshot is as thread-safe as the transaction it is given.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "net/domain/flow_log.h"
#include "state/store.h"

namespace kecs::api::ui {

struct SubnetNode {
  std::string id;
  std::string cidr;          // "" for an IPv6-only subnet
  std::string zone;
  std::string name;          // its Name tag, or ""
  int64_t total = 0;         // usable addresses (the block less AWS's five)
  int64_t available = 0;     // AvailableIpAddressCount
};

struct VpcNode {
  std::string region;
  std::string id;
  std::string cidr;
  std::string name;
  bool is_default = false;
  std::vector<SubnetNode> subnets;
};

struct GroupNode {
  std::string id;
  std::string name;
  std::string vpc_id;
};

// Per-edge traffic from the flow logs (filled by the flow-log reader once it exists;
// until then absent, and the page draws the edge without a count).
struct FlowCount {
  int64_t packets = 0;
  int64_t bytes = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
};

// One ingress permission: group `to` admits `from` (a group id, or a CIDR) on a protocol
// and port range. Protocol "-1" is every protocol (ports -1).
struct GroupEdge {
  std::string from;          // "sg-..." or a CIDR ("0.0.0.0/0", "::/0") or a prefix list id
  std::string from_kind;     // "group" | "cidr" | "prefix-list"
  std::string to;            // the admitting group
  std::string protocol;      // "tcp", "udp", "icmp", "-1", ...
  int64_t from_port = -1;
  int64_t to_port = -1;
  std::optional<FlowCount> flows;
};

struct EniNode {
  std::string id;
  std::string subnet_id;
  std::string vpc_id;
  std::string private_ip;
  std::optional<std::string> ipv6;
  std::optional<std::string> public_ip;
  std::vector<std::string> security_groups;
};

struct HostPort {
  std::string container;
  std::string protocol;
  int container_port = 0;
  int host_port = 0;
  std::string bind_ip;
};

struct TaskNode {
  std::string region;
  std::string id;
  std::string arn;
  std::string cluster;
  std::string family;
  std::string task_definition_arn;
  std::string last_status;
  std::string desired_status;
  std::string health;
  std::string launch_type;
  std::string network_mode;
  std::string group;         // "service:NAME", "family:NAME", ...
  std::string service;       // the service's name for a service's task, else ""
  std::optional<std::string> bridge_ip;
  std::optional<EniNode> eni;
  std::vector<HostPort> host_ports;
  std::vector<std::string> containers;
  std::optional<double> started_at;
};

struct DeploymentNode {
  std::string id;
  std::string status;
  std::string task_definition;
  std::string rollout_state;
  int desired = 0;
  int running = 0;
};

struct ServiceNode {
  std::string region;
  std::string name;
  std::string arn;
  std::string cluster;
  std::string status;
  int desired = 0;
  int running = 0;           // its RUNNING tasks in this snapshot
  int pending = 0;           // its tasks on their way to RUNNING
  std::vector<DeploymentNode> deployments;
  std::vector<std::string> security_groups;
  std::vector<std::string> subnets;
  std::vector<std::string> dns_names;      // its Cloud Map registries' names
  std::vector<std::string> target_groups;  // ARNs
};

struct TargetNode {
  std::string id;
  int port = 0;
  std::string state;
  std::string reason;
};

struct TargetGroupNode {
  std::string id;
  std::string arn;
  std::string name;
  std::string protocol;
  int port = 0;
  std::vector<TargetNode> targets;
};

struct LoadBalancerNode {
  std::string region;
  std::string id;
  std::string arn;
  std::string name;
  std::string dns_name;
  std::string type;
  std::string scheme;
  std::string state;
  std::string vpc_id;
  std::vector<std::string> security_groups;
  std::vector<TargetGroupNode> target_groups;  // those its listeners and rules forward to
};

struct DiscoveryInstance {
  std::string id;
  std::string ipv4;
  std::string port;
  std::string health;
};

struct DiscoveryNode {
  std::string region;
  std::string id;
  std::string arn;
  std::string name;
  std::string namespace_name;
  std::string dns_name;      // NAME.NAMESPACE
  std::vector<DiscoveryInstance> instances;
};

struct Snapshot {
  std::vector<VpcNode> vpcs;
  std::vector<GroupNode> groups;
  std::vector<GroupEdge> edges;
  std::vector<TaskNode> tasks;
  std::vector<ServiceNode> services;
  std::vector<LoadBalancerNode> load_balancers;
  std::vector<DiscoveryNode> discovery;
};

// Everything of every region, read in `tx`.
Result<Snapshot> BuildSnapshot(state::Tx& tx);

// Adds each observed flow to every edge that admits it: the receiving task ENI carries the
// edge's group (in the same VPC), the protocol and port fall in its rule, and the sender is
// a task ENI in the edge's source group or an address in its source CIDR. An edge that no
// flow crossed keeps `flows` empty. IPv4 only.
void AddFlowsToEdges(Snapshot& s, const std::vector<net::ObservedFlow>& flows);
// The page's JSON (camelCase members; absent optionals are null).
Json SnapshotToJson(const Snapshot& s);

}  // namespace kecs::api::ui
