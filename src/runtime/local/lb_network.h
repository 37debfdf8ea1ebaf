#pragma once
// The network side of load balancers on the local data plane (issue 13).
//
//   nodes       Each LbNodeSpec is a namespace "<p>-l-<eni id>" whose eth0 carries the
//               ENI's MAC and address, attached to its subnet's bridge in the VPC router
//               exactly as a task's ENI is (veth "l<14 hex of the ENI id>" in the router,
//               alias "kecs:lb:<lb id>"), so the VPC's security groups (the load
//               balancer's groups are on its ENIs) govern traffic to and from it.
//   publishing  Each listener with a host_port is published on the host through the host
//               table's maps (element comment "lb:<lb id>"), to the first node's address,
//               with a reservation socket like a task's public port.
//   NLB         A network load balancer forwards in the kernel: the VPC router DNATs each
//               listener's node address and port to a target in rotation (flow hash), so
//               the target sees the client's address and replies through the router, for
//               TCP and UDP; without cross-zone, a node forwards only to its zone's
//               targets. Table "ip kecs_lb" in the router, one chain per load balancer,
//               replaced in one transaction.
//   certs       A certificate authority per data dir (<data>/elb/ca.pem, its key 0600) and
//               a certificate per load balancer for its DNS name and addresses.
// Thread-safe.
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/load_balancer.h"
#include "runtime/local/lb_certs.h"

namespace kecs::runtime::local {

class LocalNetwork;

// ---- Pure parts (golden-tested without root) ----

// The targets of each of `lb`'s target groups that take new flows, from the data plane's
// last observations: the healthy ones that are not draining; when none is healthy, every
// one that is not draining (fail open, as AWS does when no target is healthy).
std::map<std::string, std::vector<LbTargetSpec>> TargetsInRotation(const LoadBalancerSpec& lb,
                                                                   const std::vector<TargetObservation>& observed);

// The nftables script that replaces network load balancer `lb`'s forwarding in its VPC
// router's table "ip kecs_lb", in one transaction (see ApplyForwarding). `stale` lists
// the node addresses the table's dispatch maps hold now for `lb`, or for another load
// balancer at one of `lb`'s node addresses; they are deleted first.
struct LbDispatch {
  std::vector<std::string> nodes;  // keys of map "nodes" (DNAT dispatch)
  std::vector<std::string> snat;   // keys of map "snat_nodes"
};
std::string RenderLbForwarding(const LoadBalancerSpec& lb,
                               const std::map<std::string, std::vector<LbTargetSpec>>& in_rotation,
                               const LbDispatch& stale);
// The script that removes load balancer `lb_id`'s forwarding: its dispatch elements
// `stale` and, when `has_chains`, its chains.
std::string RenderLbForwardingRemoval(const std::string& lb_id, const LbDispatch& stale, bool has_chains);

// The target group network load balancer listener `l` forwards to: its default forward
// action's (an NLB forward names exactly one group); nullptr when the spec lacks it.
const LbTargetGroupSpec* ForwardGroup(const LoadBalancerSpec& lb, const LbListenerSpec& l);

// What `lb`'s certificate names: its DNS name, "localhost", its nodes' addresses and the
// host's (`host_addresses`), and 127.0.0.1.
CertificateNames CertificateNamesFor(const LoadBalancerSpec& lb, const std::vector<std::string>& host_addresses);

class LbNetwork {
 public:
  LbNetwork(LocalNetwork& network, std::string data_dir)
      : network_(network), data_dir_(std::move(data_dir)), certs_(data_dir_ + "/elb") {}

  // The nodes' namespaces and links (and the VPC router they attach to). Idempotent.
  Status SetUpNodes(const LoadBalancerSpec& lb);
  std::string NodeNetns(const std::string& eni_id) const;
  // Host publishing of the listeners with a host port.
  Status Publish(const LoadBalancerSpec& lb);
  // NLB forwarding: `in_rotation` maps a target group id to the targets that take new
  // flows (the healthy ones, or all of them when none is: fail open).
  Status ApplyForwarding(const LoadBalancerSpec& lb,
                         const std::map<std::string, std::vector<LbTargetSpec>>& in_rotation);
  // The PEM bundle (chain and key) for `lb`'s HTTPS listeners, made (or made again: new
  // names, a new authority, near expiry) if needed: its path,
  // <data>/runtime/lb/<lb id>/crt.pem, and its certificate's fingerprint.
  struct Certificate {
    std::string path;
    std::string fingerprint;
  };
  Result<Certificate> CertificateFor(const LoadBalancerSpec& lb);
  Result<std::string> CaPem();
  // Everything of load balancer `lb_id`; succeeds when gone.
  Status Remove(const std::string& lb_id);
  // Everything of load balancers not in `live`.
  Status GarbageCollect(const std::set<std::string>& live);

 private:
  // Removes the nodes for which `doomed(lb id, node namespace)` holds (the lb id is ""
  // for a namespace whose eth0 names none: left half-made), their veths in the VPC
  // routers first, then routers nothing uses any more. Caller holds mu_.
  Status RemoveNodesWhere(const std::function<bool(const std::string&, const std::string&)>& doomed);
  // Removes load balancer `lb_id`'s forwarding from router namespace `router`.
  Status RemoveForwarding(const std::string& router, const std::string& lb_id);

  LocalNetwork& network_;
  const std::string data_dir_;
  LbCertificates certs_;
  std::mutex mu_;  // serialises node and forwarding changes
};

}  // namespace kecs::runtime::local
