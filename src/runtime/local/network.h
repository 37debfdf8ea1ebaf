#pragma once
// The local data plane's networking: real namespaces, veths, bridges and nftables.
//
//   awsvpc  Each VPC gets a router namespace "<p>-r-<vpc>" holding one bridge per subnet
//           (the subnet's router address .1 on it) and forwarding between them, so VPCs
//           are isolated from each other and may overlap. A veth "up0" links the router to
//           the host (a /30 of 100.127.0.0/16 per VPC); the host routes the VPC's CIDRs
//           into it when they do not clash with another VPC. Each task gets a namespace
//           "<p>-t-<task>" whose eth0 carries the ENI's MAC and address, default route via
//           .1. Tasks in subnets that reach an internet gateway are masqueraded out
//           through the host; others get no new outbound connections past the VPC.
//   bridge  One host bridge "<p>0" (default 172.17.0.0/16, .1 on the bridge) and a
//           namespace per task, as the ECS agent's bridge network; masquerade out.
//   host    Nothing: the containers share the host's namespace.
//   none    A namespace with only lo.
// Published ports (bridge host ports, assignPublicIp host ports) are entries of the host
// table "ip <p>" maps, DNAT in prerouting and output (so 127.0.0.1 works). Every object
// carries its owner: namespace names, link aliases "kecs:task:<id>" / "kecs:vpc:<id>",
// and map-element comments "task:<id>" (load balancer nodes: "kecs:lb:<id>", "lb:<id>",
// lb_network.h). Thread-safe.
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "net/kernel/host_ports.h"
#include "net/domain/sg_policy.h"
#include "runtime/runtime.h"

namespace kecs::runtime::local {

struct NetworkOptions {
  std::string prefix = "kecs";          // names: <p>-t-..., <p>-r-..., <p>0, table ip <p>
  std::string bridge_cidr = "172.17.0.0/16";
  std::string transit_cidr = "100.127.0.0/16";
  std::string publish_address;          // "" = every host address
};

class LocalNetwork {
 public:
  explicit LocalNetwork(NetworkOptions options) : options_(std::move(options)) {}

  // Host-wide pieces: the nftables table, forwarding. Idempotent; called at start.
  Status Init();
  // The task's namespace and interfaces. Idempotent.
  Status SetUpTask(const TaskSpec& task);
  // Publishes the task's ports (bridge mappings and assignPublicIp host ports).
  Status Publish(const TaskSpec& task);
  Status Unpublish(const std::string& task_id);
  // Removes the task's namespace (its veth goes with it) and published ports.
  Status TearDownTask(const TaskSpec& task);
  // Removes namespaces, links and map elements of tasks not in `live`, and routers of
  // VPCs none of the live tasks use.
  Status GarbageCollect(const std::set<std::string>& live_tasks);
  // Replaces the VPC's packet filter (security groups, network ACLs) in its router, in one
  // transaction; a VPC without a router (no task here) is skipped. Returns whether it was
  // applied through `applied`. The policy is remembered: a router or subnet bridge made
  // later (a task's or a load balancer node's) gets it when it is made.
  Status ApplyPolicy(const net::VpcPolicy& policy, bool* applied = nullptr);
  // The paths allowed between peered VPCs (net/domain/peering.h): accepted between their
  // host links before kecs:vpc-isolation (chain "ip <p> peering", one transaction), and in
  // each router exempted from the masquerade and the private-subnet block. Remembered: a
  // router made later gets its part when it is made.
  Status ApplyPeerings(const std::vector<net::PeeringPath>& paths);
  // The container instance's group on the host bridge; nullptr removes the filter.
  Status ApplyInstancePolicy(const net::SecurityGroupPolicy* group,
                             const std::map<std::string, std::vector<std::string>>& members);
  // An awsvpc task's extra addresses (EniAddresses): each secondary IPv4 address as a /32
  // and each further IPv6 address as a /128 on the task's eth0 (replies leave by the
  // subnet's routes of the primary addresses), and in the router's noegress set when the
  // primary is. Extra addresses configured before and no longer listed are removed.
  // NotFound when no running task of the VPC carries the interface. Idempotent.
  Status ApplyEniAddresses(const EniAddresses& eni);

  // Removes every kecs object (the privileged tests' final cleanup).
  Status RemoveAll();

  // Puts the VPC resolver's address (task.network.dns_server, the VPC's base+2) on the
  // loopback of the task's VPC router, where the DNS server listens, and returns the
  // router's namespace. Tasks reach it through their gateway, or by the router's proxy ARP
  // when it lies in their subnet. Idempotent; the router must exist (SetUpTask).
  Result<std::string> EnsureResolverAddress(const TaskSpec& task);
  // The name of the VPC's router namespace (which may not exist).
  std::string RouterNamespace(const std::string& vpc_id) const { return RouterNetns(vpc_id); }

  // Attaches the existing namespace `ns` to its subnet in the VPC's router as an awsvpc
  // task's ENI is attached (the router and the subnet's bridge are made if needed): a veth
  // `router_veth` on the subnet's bridge in the router, alias `alias` on both ends, whose
  // other end is eth0 in `ns` with the ENI's MAC and address and a default route via the
  // gateway. Load balancer nodes (lb_network.h) use it too. Idempotent.
  Status AttachEni(const NetworkSpec& n, const std::string& ns, const std::string& router_veth,
                   const std::string& alias);
  // Removes a VPC's router namespace and host link once no task or load balancer node
  // uses them.
  Status RemoveRouterIfUnused(const std::string& vpc_id);

  // Host ports published for `owner` ("task:<id>", "lb:<id>"): each is an element of the
  // host table's publish map of its protocol (comment `owner`) forwarding to ip:port, with
  // a reservation socket. Replaces the owner's previous set (ports it no longer wants
  // are removed); a stale element of another owner at a wanted port is replaced.
  struct HostPublish {
    std::string protocol;  // tcp | udp
    int host_port = 0;
    std::string ip;
    int port = 0;
  };
  Status PublishFor(const std::string& owner, const std::vector<HostPublish>& wants);
  Status UnpublishFor(const std::string& owner);
  // The owners of the host table's publish elements (no table: none).
  std::set<std::string> PublishedOwners();

  std::string TaskNetns(const std::string& task_id) const;
  std::string NetnsPath(const TaskSpec& task) const;  // "" for host mode
  const NetworkOptions& options() const { return options_; }

 private:
  // Creates the VPC router and subnet bridge of an ENI if needed. Caller holds mu_.
  Status EnsureRouter(const NetworkSpec& n);
  Status EnsureHostBridge();
  Status ApplyPolicyLocked(const net::VpcPolicy& policy, bool* applied = nullptr);
  std::string RouterNetns(const std::string& vpc_id) const;
  std::string HostLinkName(char kind, const std::string& id) const;

  const NetworkOptions options_;
  std::mutex mu_;                        // serialises router and bridge creation
  std::set<std::string> routers_ready_;  // guarded by mu_
  net::HostPortReservations reservations_;
  bool bridge_ready_ = false;            // guarded by mu_
  std::map<std::string, net::VpcPolicy> policies_;  // guarded by mu_: the last per VPC
  std::vector<net::PeeringPath> peerings_;          // guarded by mu_: the last applied
  // The namespace of each awsvpc task's interface (eni id -> namespace), learnt in
  // SetUpTask or, after a restart, by looking for the interface's primary address.
  std::mutex enis_mu_;
  std::map<std::string, std::string> eni_netns_;  // guarded by enis_mu_
};

}  // namespace kecs::runtime::local
