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
//   EC2 instances (issue 17): each is a namespace "<p>-i-<instance hex>" whose eth0 is its
//           primary ENI, attached to its subnet like a task's ENI (router veth "i<14 hex>",
//           alias "kecs:instance:<id>"). Bridge- and host-mode tasks placed on it (NetworkSpec::
//           instance_id) live behind its own bridge "<p>0" inside that namespace, or in the
//           namespace itself; their host ports are the map elements of its table
//           "ip kecs_host" (RenderInstanceHostTable), on the instance's address.
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

// The nftables script that (re)makes an instance namespace's table "ip kecs_host": maps
// publish_tcp/publish_udp (hostPort : bridge ip . containerPort, kept across calls, so
// its tasks' forwarding survives), DNAT of `instance_ip`'s host ports for traffic arriving
// (prerouting) and for the instance's own connections (output), masquerade of
// `bridge_cidr` leaving by any interface but `bridge`, and of a bridge task reaching
// another through the instance's address (hairpin). Pure: golden-tested without root.
// Whether `id` is an EC2 instance id ("i-" and hex digits): safe in a name or a path.
bool IsInstanceId(const std::string& id);

std::string RenderInstanceHostTable(const std::string& bridge, const std::string& bridge_cidr,
                                    const std::string& instance_ip);

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

  // ---- EC2 instances as hosts (issue 17) ----
  // The instance's namespace, its eth0 (the primary ENI, mode kAwsvpc) on its subnet's
  // bridge in the VPC router, and its table "ip kecs_host". Idempotent; adopts what a
  // previous daemon made.
  Status SetUpInstance(const InstanceHostSpec& host);
  // Removes instance `instance_id`'s namespace (the bridge and task veths inside go with
  // it), its router veth and noegress entries, and the router once unused. Succeeds when
  // gone.
  Status TearDownInstance(const std::string& instance_id);
  // TearDownInstance for every instance namespace or router veth of an instance not in
  // `live`.
  Status GarbageCollectInstances(const std::set<std::string>& live);
  // "<p>-i-<instance hex>".
  std::string InstanceNetns(const std::string& instance_id) const;
  // Whether the instance's namespace exists.
  bool InstanceExists(const std::string& instance_id) const;

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

  // The counters of every awsvpc task's interface on this host, from its veth in the VPC's
  // router (one link dump per router, no task namespace entered): what the router's end
  // received is the task's egress, what it sent the task's ingress. For /metrics.
  struct EniCounters {
    std::string eni_id;
    std::string vpc_id;
    uint64_t in_bytes = 0, in_packets = 0, in_dropped = 0;
    uint64_t out_bytes = 0, out_packets = 0, out_dropped = 0;
  };
  std::vector<EniCounters> ReadEniCounters();

  std::string TaskNetns(const std::string& task_id) const;
  std::string NetnsPath(const TaskSpec& task) const;  // "" for host mode
  const NetworkOptions& options() const { return options_; }

 private:
  // Creates the VPC router and subnet bridge of an ENI if needed. Caller holds mu_.
  Status EnsureRouter(const NetworkSpec& n);
  Status EnsureHostBridge();
  // The bridge "<p>0" with .1 of the bridge CIDR in namespace `ns` ("" = the host's).
  Status EnsureBridgeIn(const std::string& ns);
  // An ENI on namespace `ns` (AttachEni) and its noegress entry when its subnet has no
  // route to the internet; remembers the ENI's namespace for ApplyEniAddresses.
  Status AttachAwsvpc(const NetworkSpec& n, const std::string& ns, const std::string& router_veth,
                      const std::string& alias);
  // Undoes AttachAwsvpc in `router`: the addresses of `ns`'s eth0 (and `primary_ip`) leave
  // the noegress set, and the router's veth goes.
  Status DetachAwsvpc(const std::string& router, const std::string& ns, const std::string& router_veth,
                      const std::string& primary_ip);
  // The namespace a bridge- or host-mode task's network hangs off: "" (this host) or its
  // instance's. FailedPrecondition when the instance has no namespace here.
  Result<std::string> HostNamespaceOf(const TaskSpec& task) const;
  // Map elements of `owner` in table `table` (in `ns`): replaced by `wants`, with
  // reservation sockets when `reservations` is given. Caller holds mu_.
  Status ReplacePublished(const std::string& ns, const std::string& table, const std::string& owner,
                          const std::vector<HostPublish>& wants, net::HostPortReservations* reservations);
  Status RemovePublished(const std::string& ns, const std::string& table, const std::string& owner);
  Status ApplyPolicyLocked(const net::VpcPolicy& policy, bool* applied = nullptr);
  std::string RouterNetns(const std::string& vpc_id) const;
  std::string HostLinkName(char kind, const std::string& id) const;

  const NetworkOptions options_;
  std::mutex mu_;                        // serialises router and bridge creation
  std::set<std::string> routers_ready_;  // guarded by mu_
  net::HostPortReservations reservations_;
  bool bridge_ready_ = false;            // guarded by mu_
  std::map<std::string, net::VpcPolicy> policies_;  // guarded by mu_: the last per VPC
  std::map<std::string, net::VpcPolicy> filters_;   // guarded by mu_: as last put in its router
  std::vector<net::PeeringPath> peerings_;          // guarded by mu_: the last applied
  // The namespace of each awsvpc task's interface (eni id -> namespace), learnt in
  // SetUpTask or, after a restart, by looking for the interface's primary address.
  std::mutex enis_mu_;
  std::map<std::string, std::string> eni_netns_;  // guarded by enis_mu_
};

}  // namespace kecs::runtime::local
