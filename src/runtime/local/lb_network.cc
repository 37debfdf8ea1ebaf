#include "runtime/local/lb_network.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <regex>

#include <fmt/format.h>

#include "base/log.h"
#include "model/elb.h"
#include "net/kernel/netlink.h"
#include "net/kernel/netns.h"
#include "net/kernel/nft.h"
#include "runtime/local/network.h"

namespace kecs::runtime::local {
namespace {

using model::LbProtocol;

constexpr const char* kTable = "ip kecs_lb";

// nft identifiers: ELB ids are 16 hex already; anything else becomes '_'.
std::string Ident(const std::string& id) {
  std::string out;
  for (char c : id) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string DnatChain(const std::string& lb_id) { return "lb_" + Ident(lb_id); }
std::string SnatChain(const std::string& lb_id) { return "lbs_" + Ident(lb_id); }
std::string Owner(const std::string& lb_id) { return "lb:" + lb_id; }
std::string Alias(const std::string& lb_id) { return "kecs:lb:" + lb_id; }
constexpr std::string_view kAliasPrefix = "kecs:lb:";

// The router's end of a node's veth: "l" and 14 hex of the ENI id (fmt, not operator+:
// see RouterVeth in network.cc).
std::string NodeVeth(const std::string& eni_id) {
  size_t dash = eni_id.rfind('-');
  std::string hex = dash == std::string::npos ? eni_id : eni_id.substr(dash + 1);
  return fmt::format("l{}", hex.substr(0, 14));
}

// The kernel forwards a network load balancer's TCP, UDP and TCP_UDP listeners (and
// passes QUIC through as UDP). TLS listeners terminate TLS, which the kernel cannot: they
// are the proxy's (lb_proxy.h); so are an application load balancer's HTTP and HTTPS.
std::vector<std::string> KernelProtocols(LbProtocol p) {
  switch (p) {
    case LbProtocol::kTcp: return {"tcp"};
    case LbProtocol::kUdp:
    case LbProtocol::kQuic: return {"udp"};
    case LbProtocol::kTcpUdp:
    case LbProtocol::kTcpQuic: return {"tcp", "udp"};
    default: return {};
  }
}

// The protocols of a listener's host port: what its clients speak.
std::vector<std::string> HostProtocols(LbProtocol p) {
  switch (p) {
    case LbProtocol::kUdp:
    case LbProtocol::kQuic: return {"udp"};
    case LbProtocol::kTcpUdp:
    case LbProtocol::kTcpQuic: return {"tcp", "udp"};
    default: return {"tcp"};
  }
}

NetworkSpec NodeNetwork(const LoadBalancerSpec& lb, const LbNodeSpec& node) {
  NetworkSpec n;
  n.mode = model::NetworkMode::kAwsvpc;
  n.eni_id = node.eni_id;
  n.mac = node.mac;
  n.ip = node.ip;
  n.prefix_len = node.prefix_len;
  n.gateway = node.gateway;
  n.subnet_id = node.subnet_id;
  n.subnet_cidr = node.subnet_cidr;
  n.vpc_id = lb.vpc_id;
  n.vpc_cidr = lb.vpc_cidr;
  n.vpc_cidrs = lb.vpc_cidrs;
  n.transit_slot = lb.transit_slot;
  n.dns_server = lb.dns_server;
  n.ipv6 = node.ipv6;
  n.ipv6_prefix = node.ipv6_prefix;
  // Nodes are not in the router's noegress set whatever their subnet: they only open
  // connections to targets (health checks, proxied requests), and an instance target's
  // address is the host's, reached through the router's uplink.
  n.internet_egress = true;
  return n;
}

// The host's addresses a client may connect to for a published listener: every IPv4
// address and every IPv6 address but link-local ones (which need a zone), except those of
// kecs's own links (names starting with `prefix`: the host bridge, the VPCs' transit
// links), which come and go with tasks and would change the certificate each time.
std::vector<std::string> HostAddresses(const std::string& prefix) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || (a->ifa_name && std::string(a->ifa_name).rfind(prefix, 0) == 0)) continue;
    char text[INET6_ADDRSTRLEN];
    if (a->ifa_addr->sa_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) out.push_back(text);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) continue;
      if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text)) out.push_back(text);
    }
  }
  freeifaddrs(list);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> RouterNamespaces(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(prefix + "-r-", 0) == 0) out.push_back(ns);
  }
  return out;
}

// The dispatch elements of the router's table, by map: key and owner comment. An absent
// table has none.
struct Dispatched {
  std::vector<net::nft::Element> nodes, snat;
};
Dispatched ReadDispatch(const std::string& router) {
  Dispatched d;
  if (auto e = net::nft::ListElements(router, fmt::format("list map {} nodes", kTable)); e.ok()) d.nodes = *e;
  if (auto e = net::nft::ListElements(router, fmt::format("list map {} snat_nodes", kTable)); e.ok()) d.snat = *e;
  return d;
}

}  // namespace

std::map<std::string, std::vector<LbTargetSpec>> TargetsInRotation(const LoadBalancerSpec& lb,
                                                                   const std::vector<TargetObservation>& observed) {
  std::map<std::string, std::vector<LbTargetSpec>> out;
  for (const auto& g : lb.target_groups) {
    std::vector<LbTargetSpec> live, healthy;
    for (const auto& t : g.targets) {
      if (t.draining) continue;
      live.push_back(t);
      for (const auto& o : observed) {
        if (o.target_group_id == g.id && o.target_id == t.id && o.port == t.port &&
            o.state == model::TargetHealthState::kHealthy) {
          healthy.push_back(t);
          break;
        }
      }
    }
    out[g.id] = healthy.empty() ? live : healthy;
  }
  return out;
}

namespace {

// A flow-hash seed from a target group's id (32-bit FNV-1a): stable across rewrites.
uint32_t HashSeed(const std::string& id) {
  uint32_t h = 2166136261u;
  for (unsigned char c : id) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

std::string RenderLbForwarding(const LoadBalancerSpec& lb,
                               const std::map<std::string, std::vector<LbTargetSpec>>& in_rotation,
                               const LbDispatch& stale) {
  const std::string dnat = DnatChain(lb.id);
  const std::string snat = SnatChain(lb.id);
  // The table's frame, repeated by every transaction (adding what exists is a no-op; the
  // base chains hold one rule each and are rebuilt), then this load balancer's chains.
  //
  // prerouting dispatches on the destination: a node's address jumps to its load
  // balancer's chain, where each listener DNATs to a target chosen by a hash of the
  // client's address and port (one flow, one target). The client's address is kept: the
  // target sees it and replies to it through the router, whose conntrack undoes the DNAT.
  // The VPC's security groups (inet kecs_sg, forward hook) see the packet after the DNAT,
  // from the client to the target: the target's groups must allow the client, or the
  // load balancer's group (a rule naming a group also matches a flow DNATed from a node
  // in it: net/domain/sg_policy.cc), as AWS requires of targets behind a network load
  // balancer that preserves client addresses.
  // The client's egress rules see the target's address, not the node's.
  //
  // postrouting undoes client address preservation where a target group turns it off:
  // flows DNATed from a node's address leave with the node's address as source.
  std::string s = fmt::format(
      "add table {t}\n"
      "add map {t} nodes {{ type ipv4_addr : verdict; comment \"kecs: network load balancer nodes\"; }}\n"
      "add map {t} snat_nodes {{ type ipv4_addr : verdict; comment \"kecs: nodes whose flows leave from "
      "them\"; }}\n"
      "add chain {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n"
      "add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
      "flush chain {t} prerouting\n"
      "flush chain {t} postrouting\n"
      "add rule {t} prerouting ip daddr vmap @nodes comment \"kecs: to a load balancer node\"\n"
      "add rule {t} postrouting ct status dnat ct original ip daddr vmap @snat_nodes comment \"kecs: from a load "
      "balancer node\"\n"
      "add chain {t} {dnat}\n"
      "flush chain {t} {dnat}\n"
      "add chain {t} {snat}\n"
      "flush chain {t} {snat}\n",
      fmt::arg("t", kTable), fmt::arg("dnat", dnat), fmt::arg("snat", snat));
  for (const auto& k : stale.nodes) s += fmt::format("delete element {} nodes {{ {} }}\n", kTable, k);
  for (const auto& k : stale.snat) s += fmt::format("delete element {} snat_nodes {{ {} }}\n", kTable, k);
  for (const auto& node : lb.nodes) {
    for (const auto& l : lb.listeners) {
      std::vector<std::string> protos = KernelProtocols(l.protocol);
      if (protos.empty()) continue;
      const LbTargetGroupSpec* g = ForwardGroup(lb, l);
      std::vector<LbTargetSpec> targets;
      if (g) {
        auto it = in_rotation.find(g->id);
        if (it != in_rotation.end()) targets = it->second;
        // Without cross-zone load balancing a node forwards to its own zone's targets.
        // When its zone has none in rotation, AWS takes the node out of the load
        // balancer's DNS answers so that no client reaches it; here a client may still
        // (a published port goes to the first node), so the node forwards to the other
        // zones' targets rather than drop the flow.
        if (!g->cross_zone.value_or(lb.cross_zone)) {
          std::vector<LbTargetSpec> local;
          for (const auto& t : targets) {
            if (t.zone == node.zone) local.push_back(t);
          }
          if (!local.empty()) targets = local;
        }
      }
      for (const auto& proto : protos) {
        std::string match = fmt::format("ip daddr {} {} dport {}", node.ip, proto, l.port);
        std::string what = fmt::format("lb:{} listener {} {}/{}", lb.id, l.id, proto, l.port);
        if (!g) {
          s += fmt::format("add rule {} {} {} drop comment \"{}: no target group\"\n", kTable, dnat, match, what);
          continue;
        }
        if (targets.empty()) {
          s += fmt::format("add rule {} {} {} drop comment \"{}: no target of {} in rotation\"\n", kTable, dnat, match,
                           what, g->id);
          continue;
        }
        std::vector<std::string> slots;
        for (size_t i = 0; i < targets.size(); ++i) {
          slots.push_back(fmt::format("{} : {} . {}", i, targets[i].address, targets[i].port));
        }
        // One flow, one target: a hash of the client's address and port; with source_ip
        // stickiness, of its address alone (every flow of a client, TCP and UDP alike,
        // goes to one target while the targets in rotation stay the same). The seed is the
        // group's, not one the kernel draws for each rule: the same client hashes the same
        // way on every node and protocol and after every rewrite of the chain.
        const bool sticky = g->stickiness && g->stickiness_type == "source_ip";
        const std::string key = sticky ? "ip saddr" : fmt::format("ip saddr . {} sport", proto);
        s += fmt::format("add rule {} {} {} dnat ip to jhash {} mod {} seed {:#010x} map {{ {} }} comment \"{} -> {}\"\n",
                         kTable, dnat, match, key, targets.size(), HashSeed(g->id), fmt::join(slots, ", "), what,
                         g->id);
        if (!g->preserve_client_ip) {
          s += fmt::format("add rule {} {} ct original ip daddr {} meta l4proto {} ct original proto-dst {} snat ip to {} "
                           "comment \"{}: {} does not preserve client addresses\"\n",
                           kTable, snat, node.ip, proto, l.port, node.ip, what, g->id);
        }
      }
    }
    s += fmt::format("add element {} nodes {{ {} comment \"{}\" : jump {} }}\n", kTable, node.ip, Owner(lb.id), dnat);
    s += fmt::format("add element {} snat_nodes {{ {} comment \"{}\" : jump {} }}\n", kTable, node.ip, Owner(lb.id),
                     snat);
  }
  return s;
}

std::string RenderLbForwardingRemoval(const std::string& lb_id, const LbDispatch& stale, bool has_chains) {
  std::string s;
  for (const auto& k : stale.nodes) s += fmt::format("delete element {} nodes {{ {} }}\n", kTable, k);
  for (const auto& k : stale.snat) s += fmt::format("delete element {} snat_nodes {{ {} }}\n", kTable, k);
  if (has_chains) {
    s += fmt::format("delete chain {} {}\n", kTable, DnatChain(lb_id));
    s += fmt::format("delete chain {} {}\n", kTable, SnatChain(lb_id));
  }
  return s;
}

const LbTargetGroupSpec* ForwardGroup(const LoadBalancerSpec& lb, const LbListenerSpec& l) {
  for (const auto& a : l.default_actions) {
    if (a.type != model::ActionType::kForward) continue;
    std::string arn = a.target_group_arn;
    if (arn.empty() && !a.forward.empty()) arn = a.forward.front().target_group_arn;
    std::string id = model::IdFromArn(arn, "targetgroup");
    for (const auto& g : lb.target_groups) {
      if (g.id == id) return &g;
    }
  }
  return nullptr;
}

CertificateNames CertificateNamesFor(const LoadBalancerSpec& lb, const std::vector<std::string>& host_addresses) {
  CertificateNames n;
  n.common_name = lb.dns_name;
  if (!lb.dns_name.empty()) n.dns_names.push_back(lb.dns_name);
  n.dns_names.push_back("localhost");
  auto add_ip = [&](const std::string& ip) {
    if (!ip.empty() && std::find(n.ips.begin(), n.ips.end(), ip) == n.ips.end()) n.ips.push_back(ip);
  };
  for (const auto& node : lb.nodes) {
    add_ip(node.ip);
    add_ip(node.ipv6);
  }
  add_ip("127.0.0.1");
  for (const auto& a : host_addresses) add_ip(a);
  return n;
}

std::string LbNetwork::NodeNetns(const std::string& eni_id) const {
  return network_.options().prefix + "-l-" + eni_id;
}

Status LbNetwork::SetUpNodes(const LoadBalancerSpec& lb) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> keep;
  for (const auto& node : lb.nodes) {
    std::string ns = NodeNetns(node.eni_id);
    RETURN_IF_ERROR(net::netns::Create(ns));
    RETURN_IF_ERROR(network_.AttachEni(NodeNetwork(lb, node), ns, NodeVeth(node.eni_id), Alias(lb.id)));
    keep.insert(ns);
  }
  // Nodes of subnets the load balancer left.
  return RemoveNodesWhere([&](const std::string& lb_id, const std::string& ns) {
    return lb_id == lb.id && !keep.count(ns);
  });
}

Status LbNetwork::RemoveNodesWhere(const std::function<bool(const std::string&, const std::string&)>& doomed) {
  const std::string& prefix = network_.options().prefix;
  const std::string node_prefix = prefix + "-l-";
  // Which load balancer each node namespace serves: the alias on its eth0.
  std::set<std::string> doomed_veths;
  std::vector<std::string> doomed_ns;
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(node_prefix, 0) != 0) continue;
    std::string owner;
    Status st = net::netns::Run(ns, [&]() -> Status {
      ASSIGN_OR_RETURN(auto nl, net::Netlink::Open());
      ASSIGN_OR_RETURN(auto links, nl->ListLinks());
      for (const auto& l : links) {
        if (l.name == "eth0" && l.alias.rfind(kAliasPrefix, 0) == 0) owner = l.alias.substr(kAliasPrefix.size());
      }
      return Status::Ok();
    });
    if (!st.ok()) {
      if (!net::netns::Exists(ns)) continue;
      return st;
    }
    if (!doomed(owner, ns)) continue;
    doomed_ns.push_back(ns);
    doomed_veths.insert(NodeVeth(ns.substr(node_prefix.size())));
  }
  // Their veths in the routers first (the kernel destroys a deleted namespace's links
  // asynchronously, and a router still listing one counts as used), with any veth of a
  // doomed load balancer whose namespace is already gone.
  std::set<std::string> node_veths;
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(node_prefix, 0) == 0) node_veths.insert(NodeVeth(ns.substr(node_prefix.size())));
  }
  std::vector<std::string> touched;
  for (const auto& router : RouterNamespaces(prefix)) {
    bool removed = false;
    RETURN_IF_ERROR(net::netns::Run(router, [&]() -> Status {
      ASSIGN_OR_RETURN(auto nl, net::Netlink::Open());
      ASSIGN_OR_RETURN(auto links, nl->ListLinks());
      for (const auto& l : links) {
        if (l.alias.rfind(kAliasPrefix, 0) != 0) continue;
        std::string owner = l.alias.substr(kAliasPrefix.size());
        // A veth whose namespace is gone goes when its load balancer's nodes do.
        bool gone = doomed_veths.count(l.name) > 0 || (!node_veths.count(l.name) && doomed(owner, ""));
        if (!gone) continue;
        KLOG_INFO("lb: removing node link {} ({}) in {}", l.name, l.alias, router);
        RETURN_IF_ERROR(nl->DeleteLink(l.name));
        removed = true;
      }
      return Status::Ok();
    }));
    if (removed) touched.push_back(router);
  }
  for (const auto& ns : doomed_ns) {
    KLOG_INFO("lb: removing node namespace {}", ns);
    RETURN_IF_ERROR(net::netns::Delete(ns));
  }
  for (const auto& router : touched) {
    RETURN_IF_ERROR(network_.RemoveRouterIfUnused(router.substr(prefix.size() + 3)));
  }
  return Status::Ok();
}

Status LbNetwork::Publish(const LoadBalancerSpec& lb) {
  std::vector<LocalNetwork::HostPublish> wants;
  if (!lb.nodes.empty()) {
    for (const auto& l : lb.listeners) {
      if (l.host_port <= 0) continue;
      for (const auto& proto : HostProtocols(l.protocol)) wants.push_back({proto, l.host_port, lb.nodes[0].ip, l.port});
    }
  }
  if (wants.empty()) return network_.UnpublishFor(Owner(lb.id));
  return network_.PublishFor(Owner(lb.id), wants);
}

Status LbNetwork::ApplyForwarding(const LoadBalancerSpec& lb,
                                  const std::map<std::string, std::vector<LbTargetSpec>>& in_rotation) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string router = network_.RouterNamespace(lb.vpc_id);
  if (lb.nodes.empty()) {
    // No node, nothing to forward to (and perhaps no router): what was forwarded goes.
    return net::netns::Exists(router) ? RemoveForwarding(router, lb.id) : Status::Ok();
  }
  if (!net::netns::Exists(router)) {
    return FailedPrecondition(fmt::format("load balancer {} has no VPC router (its nodes are not set up)", lb.id));
  }
  Dispatched now = ReadDispatch(router);
  auto stale_of = [&](const std::vector<net::nft::Element>& elems) {
    std::vector<std::string> out;
    for (const auto& e : elems) {
      bool at_node = false;
      for (const auto& n : lb.nodes) at_node = at_node || n.ip == e.text;
      if (e.comment == Owner(lb.id) || at_node) out.push_back(e.text);
    }
    return out;
  };
  LbDispatch stale{stale_of(now.nodes), stale_of(now.snat)};
  return net::nft::Apply(router, RenderLbForwarding(lb, in_rotation, stale));
}

Status LbNetwork::RemoveForwarding(const std::string& router, const std::string& lb_id) {
  auto table = net::nft::Query(router, fmt::format("list table {}", kTable));
  if (!table.ok()) return Status::Ok();  // no table: nothing forwarded
  Dispatched now = ReadDispatch(router);
  LbDispatch stale;
  for (const auto& e : now.nodes) {
    if (e.comment == Owner(lb_id)) stale.nodes.push_back(e.text);
  }
  for (const auto& e : now.snat) {
    if (e.comment == Owner(lb_id)) stale.snat.push_back(e.text);
  }
  bool has_chains = table->find("chain " + DnatChain(lb_id) + " {") != std::string::npos &&
                    table->find("chain " + SnatChain(lb_id) + " {") != std::string::npos;
  std::string script = RenderLbForwardingRemoval(lb_id, stale, has_chains);
  if (script.empty()) return Status::Ok();
  return net::nft::Apply(router, script);
}

Result<LbNetwork::Certificate> LbNetwork::CertificateFor(const LoadBalancerSpec& lb) {
  std::string path = fmt::format("{}/runtime/lb/{}/crt.pem", data_dir_, lb.id);
  ASSIGN_OR_RETURN(bool made, certs_.Ensure(path, CertificateNamesFor(lb, HostAddresses(network_.options().prefix))));
  if (made) KLOG_INFO("lb: made the certificate of {} for {}", lb.id, lb.dns_name);
  ASSIGN_OR_RETURN(std::string pem, Env::Default()->ReadFile(path));
  ASSIGN_OR_RETURN(std::string fingerprint, Fingerprint(pem));
  return Certificate{path, fingerprint};
}

Result<std::string> LbNetwork::CaPem() { return certs_.CaPem(); }

Status LbNetwork::Remove(const std::string& lb_id) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(network_.UnpublishFor(Owner(lb_id)));
  for (const auto& router : RouterNamespaces(network_.options().prefix)) {
    RETURN_IF_ERROR(RemoveForwarding(router, lb_id));
  }
  RETURN_IF_ERROR(RemoveNodesWhere([&](const std::string& owner, const std::string&) { return owner == lb_id; }));
  std::string dir = fmt::format("{}/runtime/lb/{}", data_dir_, lb_id);
  RETURN_IF_ERROR(Env::Default()->RemoveFile(dir + "/crt.pem"));
  // The directory is the proxy's too (lb_proxy.h); it goes when empty.
  (void)Env::Default()->RemoveFile(dir);
  return Status::Ok();
}

Status LbNetwork::GarbageCollect(const std::set<std::string>& live) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& owner : network_.PublishedOwners()) {
    if (owner.rfind("lb:", 0) == 0 && !live.count(owner.substr(3))) RETURN_IF_ERROR(network_.UnpublishFor(owner));
  }
  static const std::regex kChain("chain lb_([0-9A-Za-z_]+) \\{");
  for (const auto& router : RouterNamespaces(network_.options().prefix)) {
    auto table = net::nft::Query(router, fmt::format("list table {}", kTable));
    if (!table.ok()) continue;
    std::set<std::string> ids;
    for (std::sregex_iterator it(table->begin(), table->end(), kChain), end; it != end; ++it) ids.insert((*it)[1]);
    for (const auto& id : ids) {
      if (live.count(id)) continue;
      KLOG_INFO("gc: removing the forwarding of load balancer {} in {}", id, router);
      RETURN_IF_ERROR(RemoveForwarding(router, id));
    }
  }
  return RemoveNodesWhere([&](const std::string& owner, const std::string&) { return !live.count(owner); });
}

}  // namespace kecs::runtime::local
