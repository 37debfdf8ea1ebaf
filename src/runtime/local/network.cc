#include "runtime/local/network.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include <fmt/format.h>

#include "base/json.h"
#include "base/log.h"
#include "base/metrics.h"
#include "net/domain/flow_log.h"
#include "net/domain/ip.h"
#include "net/domain/sg_filter_update.h"
#include "net/kernel/netlink.h"
#include "net/kernel/netns.h"
#include "net/kernel/nft.h"

namespace kecs::runtime::local {
namespace {

using net::Netlink;

// The router's end of an awsvpc task's veth pair. fmt, not `"t" + id.substr(...)`: a
// literal plus a temporary string trips GCC 12's -Wrestrict false positive (GCC bug
// 105329) in optimised builds.
std::string RouterVeth(const std::string& task_id) { return fmt::format("t{}", task_id.substr(0, 14)); }

std::string HexOf(const std::string& id) {
  size_t dash = id.rfind('-');
  return dash == std::string::npos ? id : id.substr(dash + 1);
}

// The router's end of an instance's primary ENI veth, and the alias both ends carry.
std::string InstanceVeth(const std::string& instance_id) {
  return fmt::format("i{}", HexOf(instance_id).substr(0, 14));
}
constexpr std::string_view kInstanceAlias = "kecs:instance:";
// The table of an instance's namespace (RenderInstanceHostTable).
constexpr const char* kInstanceTable = "kecs_host";

// What the bridge inside every router drops: frames from one ENI port to another, whatever
// their kind (tasks "t", load balancer nodes "l", instances "i").
std::string L2IsolationRules() {
  std::string out;
  for (const char* from : {"t", "l", "i"}) {
    for (const char* to : {"t", "l", "i"}) {
      out += fmt::format("add rule bridge kecs_l2 forward iifname \"{}*\" oifname \"{}*\" drop comment "
                         "\"kecs: tasks talk through the router\"\n", from, to);
    }
  }
  return out;
}

// Opens a Netlink in the calling thread's namespace and runs `fn` with it.
Status WithNetlink(const std::function<Status(Netlink&)>& fn) {
  auto nl = Netlink::Open();
  if (!nl.ok()) return nl.status();
  return fn(**nl);
}

Status InNs(const std::string& ns, const std::function<Status(Netlink&)>& fn) {
  return net::netns::Run(ns, [&]() { return WithNetlink(fn); });
}

class NsFd {
 public:
  explicit NsFd(const std::string& name) {
    fd_ = open((std::string(net::netns::kRunDir) + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~NsFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

struct Transit {
  std::string host_ip, router_ip;
};

Transit TransitOf(const std::string& cidr, int slot) {
  auto c = net::Ipv4Cidr::Parse(cidr);
  uint32_t base = c->base + static_cast<uint32_t>(slot) * 4u;
  return {net::Ipv4ToString(base + 1), net::Ipv4ToString(base + 2)};
}

std::string BridgeName(const std::string& subnet_id) { return "br-" + HexOf(subnet_id).substr(0, 12); }

// A fixed MAC for a bridge, derived from `key` (FNV-1a). A Linux bridge without a MAC of
// its own takes the lowest MAC among its ports and changes it when that port leaves; the
// other tasks' ARP entries for their gateway (the bridge's address) then point at a MAC
// nobody has until they expire. A MAC set on the bridge stays whatever its ports do.
// Locally administered unicast; the 06: prefix keeps it apart from ENI MACs (02:...).
std::string BridgeMac(const std::string& key) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("06:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", (h >> 32) & 0xff, (h >> 24) & 0xff,
                     (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

// Creates the bridge if needed and gives it its fixed MAC, also when it was made before
// bridges had one (setting it only when it differs leaves a running bridge alone).
Status EnsureBridge(Netlink& nl, const std::string& br, const std::string& alias, const std::string& mac) {
  if (!nl.LinkExists(br)) {
    // Tasks start in parallel: another one's start may make it between the check and here.
    Status made = nl.CreateBridge(br, alias);
    if (!made.ok() && !nl.LinkExists(br)) return made;
  }
  ASSIGN_OR_RETURN(std::string current, nl.GetMac(br));
  if (current != mac) RETURN_IF_ERROR(nl.SetMac(br, mac));
  return Status::Ok();
}

// Whether the router's noegress set holds `ip`.
bool NoEgressHas(const std::string& router, const std::string& ip) {
  auto elems = net::nft::ListElements(router, "list set ip kecs_router noegress");
  if (!elems.ok()) return false;
  for (const auto& e : *elems) {
    if (e.text == ip) return true;
  }
  return false;
}

}  // namespace

std::string LocalNetwork::TaskNetns(const std::string& task_id) const {
  return options_.prefix + "-t-" + task_id;
}

std::vector<LocalNetwork::EniCounters> LocalNetwork::ReadEniCounters() {
  std::map<std::string, std::string> eni_of_ns;
  {
    std::lock_guard<std::mutex> lock(enis_mu_);
    for (const auto& [eni, ns] : eni_netns_) eni_of_ns[ns] = eni;
  }
  std::set<std::string> vpcs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    vpcs = routers_ready_;
  }
  std::vector<EniCounters> out;
  constexpr std::string_view kTaskAlias = "kecs:task:";
  for (const auto& vpc : vpcs) {
    Status st = InNs(RouterNetns(vpc), [&](Netlink& nl) -> Status {
      ASSIGN_OR_RETURN(auto links, nl.ListLinks());
      for (const auto& l : links) {
        if (l.kind != "veth" || !l.alias.starts_with(kTaskAlias)) continue;
        auto it = eni_of_ns.find(TaskNetns(l.alias.substr(kTaskAlias.size())));
        if (it == eni_of_ns.end()) continue;
        out.push_back({it->second, vpc, l.tx_bytes, l.tx_packets, l.tx_dropped, l.rx_bytes, l.rx_packets,
                       l.rx_dropped});
      }
      return Status::Ok();
    });
    if (!st.ok()) KLOG_DEBUG("ENI counters of {}: {}", vpc, st.message());
  }
  return out;
}

std::string LocalNetwork::RouterNetns(const std::string& vpc_id) const {
  return options_.prefix + "-r-" + vpc_id;
}

std::string LocalNetwork::HostLinkName(char kind, const std::string& id) const {
  std::string name = options_.prefix + kind;
  std::string hex = HexOf(id);
  return name + hex.substr(0, std::min(hex.size(), 15 - name.size()));
}

std::string LocalNetwork::InstanceNetns(const std::string& instance_id) const {
  return options_.prefix + "-i-" + HexOf(instance_id);
}

bool LocalNetwork::InstanceExists(const std::string& instance_id) const {
  return net::netns::Exists(InstanceNetns(instance_id));
}

std::string LocalNetwork::NetnsPath(const TaskSpec& task) const {
  if (task.network.mode == model::NetworkMode::kHost) {
    // A host-mode task on an EC2 instance shares the instance's namespace.
    if (task.network.instance_id.empty()) return "";
    return std::string(net::netns::kRunDir) + "/" + InstanceNetns(task.network.instance_id);
  }
  return std::string(net::netns::kRunDir) + "/" + TaskNetns(task.task_id);
}

Result<std::string> LocalNetwork::HostNamespaceOf(const TaskSpec& task) const {
  const std::string& id = task.network.instance_id;
  if (id.empty()) return std::string();
  if (!InstanceExists(id)) {
    return FailedPrecondition(fmt::format("instance {} is not running on this host (no namespace {})", id, InstanceNetns(id)));
  }
  return InstanceNetns(id);
}

Status LocalNetwork::Init() {
  const std::string& p = options_.prefix;
  RETURN_IF_ERROR(net::netns::WriteSysctl("net/ipv4/ip_forward", "1"));
  std::string match = options_.publish_address.empty()
                          ? "fib daddr type local"
                          : fmt::format("ip daddr {}", options_.publish_address);
  // Maps keep their elements across restarts (forwarding of running tasks stays up);
  // chains are rebuilt.
  std::string script = fmt::format(R"(add table ip {p}
add map ip {p} publish_tcp {{ type inet_service : ipv4_addr . inet_service; }}
add map ip {p} publish_udp {{ type inet_service : ipv4_addr . inet_service; }}
add chain ip {p} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain ip {p} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {p} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add chain ip {p} forward {{ type filter hook forward priority filter; policy accept; }}
flush chain ip {p} prerouting
flush chain ip {p} output
flush chain ip {p} postrouting
flush chain ip {p} forward
add rule ip {p} prerouting {match} dnat ip to tcp dport map @publish_tcp comment "kecs:publish"
add rule ip {p} prerouting {match} dnat ip to udp dport map @publish_udp comment "kecs:publish"
add rule ip {p} output {match} dnat ip to tcp dport map @publish_tcp comment "kecs:publish"
add rule ip {p} output {match} dnat ip to udp dport map @publish_udp comment "kecs:publish"
add rule ip {p} postrouting ip saddr 127.0.0.0/8 ct status dnat masquerade comment "kecs:localhost"
add rule ip {p} postrouting ip saddr {bridge} oifname != "{p}0" masquerade comment "kecs:bridge"
add rule ip {p} postrouting ip saddr {transit} oifname != "{p}x*" masquerade comment "kecs:vpc-egress"
add chain ip {p} peering
add rule ip {p} forward iifname "{p}x*" oifname "{p}x*" jump peering comment "kecs:peering"
add rule ip {p} forward iifname "{p}x*" oifname "{p}x*" drop comment "kecs:vpc-isolation"
)",
                                   fmt::arg("p", p), fmt::arg("match", match),
                                   fmt::arg("bridge", options_.bridge_cidr),
                                   fmt::arg("transit", options_.transit_cidr));
  return net::nft::Apply("", script);
}

Status LocalNetwork::EnsureHostBridge() {
  std::lock_guard<std::mutex> lock(mu_);
  if (bridge_ready_) return Status::Ok();
  RETURN_IF_ERROR(EnsureBridgeIn(""));
  bridge_ready_ = true;
  return Status::Ok();
}

Status LocalNetwork::EnsureBridgeIn(const std::string& ns) {
  auto cidr = net::Ipv4Cidr::Parse(options_.bridge_cidr);
  if (!cidr) return InvalidArgument("bad bridge CIDR " + options_.bridge_cidr);
  std::string br = options_.prefix + "0";
  return InNs(ns, [&](Netlink& nl) -> Status {
    // Another interface on the same network (Docker's docker0 often has 172.17.0.0/16)
    // would take the traffic; refuse rather than half-work.
    ASSIGN_OR_RETURN(auto links, nl.ListLinks());
    for (const auto& l : links) {
      if (l.name == br) continue;
      ASSIGN_OR_RETURN(auto addrs, nl.ListAddresses(l.name));
      for (const auto& a : addrs) {
        auto other = net::Ipv4Cidr::Parse(a);
        if (other && other->Overlaps(*cidr)) {
          return FailedPrecondition(fmt::format(
              "the bridge network {} overlaps {} on {}{}; choose another with --bridge-cidr",
              options_.bridge_cidr, a, l.name, ns.empty() ? "" : " in " + ns));
        }
      }
    }
    RETURN_IF_ERROR(EnsureBridge(nl, br, "kecs:bridge", BridgeMac("kecs:bridge:" + br)));
    RETURN_IF_ERROR(nl.AddAddress(br, fmt::format("{}/{}", net::Ipv4ToString(cidr->router()), cidr->prefix)));
    RETURN_IF_ERROR(nl.SetUp(br));
    return net::netns::WriteSysctl("net/ipv4/conf/" + br + "/route_localnet", "1");
  });
}

Status LocalNetwork::EnsureRouter(const NetworkSpec& n) {
  if (n.vpc_id.empty() || n.transit_slot < 0) return InvalidArgument("ENI " + n.eni_id + " has no VPC link");
  std::string router = RouterNetns(n.vpc_id);
  std::string host_link = HostLinkName('x', n.vpc_id);
  Transit t = TransitOf(options_.transit_cidr, n.transit_slot);
  // A router or subnet bridge made here gets the VPC's last policy at once (ApplyPolicy
  // skipped what was not there yet, and its caller need not know it came).
  bool made = false;
  if (!routers_ready_.count(n.vpc_id) || !net::netns::Exists(router)) {
    made = true;
    RETURN_IF_ERROR(net::netns::Create(router));
    NsFd fd(router);
    RETURN_IF_ERROR(InNs("", [&](Netlink& nl) -> Status {
      if (!nl.LinkExists(host_link)) {
        RETURN_IF_ERROR(nl.CreateVeth(host_link, "up0", fd.get(), "kecs:vpc:" + n.vpc_id));
      }
      RETURN_IF_ERROR(nl.AddAddress(host_link, t.host_ip + "/30"));
      RETURN_IF_ERROR(nl.SetUp(host_link));
      RETURN_IF_ERROR(net::netns::WriteSysctl("net/ipv4/conf/" + host_link + "/route_localnet", "1"));
      for (const auto& c : n.vpc_cidrs) {
        Status st = nl.AddRoute(c, t.router_ip, host_link, /*replace=*/false);
        if (st.code() == Code::kAlreadyExists) {
          KLOG_WARN("network: {} of {} overlaps a route the host already has; its tasks are "
                    "not reachable from the host at their VPC addresses", c, n.vpc_id);
        } else if (!st.ok()) {
          return st;
        }
      }
      return Status::Ok();
    }));
    RETURN_IF_ERROR(InNs(router, [&](Netlink& nl) -> Status {
      RETURN_IF_ERROR(nl.SetUp("lo"));
      RETURN_IF_ERROR(nl.AddAddress("up0", t.router_ip + "/30"));
      RETURN_IF_ERROR(nl.SetUp("up0"));
      RETURN_IF_ERROR(nl.AddRoute("default", t.host_ip, "up0"));
      // Conntrack counts each flow's packets and bytes from its first packet, so a flow
      // log's ACCEPT records (design.md 18.2) are whole even for a flow that starts before
      // the collector opens the router's capture.
      RETURN_IF_ERROR(net::netns::WriteSysctl("net/netfilter/nf_conntrack_acct", "1"));
      return net::netns::WriteSysctl("net/ipv4/ip_forward", "1");
    }));
    // Tasks (veths "t..."), load balancer nodes ("l...") and instances ("i...") of a VPC
    // never talk to each
    // other directly on a bridge: the bridge drops port-to-port frames and the router
    // answers ARP for the whole subnet (private-VLAN proxy ARP), so every packet is routed
    // through the forward hook where the security groups and network ACLs (ApplyPolicy)
    // see it with full connection tracking, and through the NLB forwarding (lb_network.h).
    RETURN_IF_ERROR(net::nft::Apply(router, std::string(R"(add table bridge kecs_l2
add chain bridge kecs_l2 forward { type filter hook forward priority filter; policy accept; }
flush chain bridge kecs_l2 forward
)") + L2IsolationRules()));
    // The private-subnet drop is logged to the flow logs' NFLOG group (net/domain/flow_log.h).
    RETURN_IF_ERROR(net::nft::Apply(router, fmt::format(R"(add table ip kecs_router
add set ip kecs_router noegress {{ type ipv4_addr; comment "tasks in subnets without a route to the internet"; }}
add chain ip kecs_router forward {{ type filter hook forward priority filter; policy accept; }}
add chain ip kecs_router postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add chain ip kecs_router peering
add chain ip kecs_router peering_nat
flush chain ip kecs_router forward
flush chain ip kecs_router postrouting
add rule ip kecs_router forward oifname "up0" jump peering comment "kecs:peering"
add rule ip kecs_router forward oifname "up0" ip saddr @noegress ct state new {} drop comment "kecs:private-subnet"
add rule ip kecs_router postrouting oifname "up0" jump peering_nat comment "kecs:peering"
add rule ip kecs_router postrouting oifname "up0" masquerade comment "kecs:vpc-egress"
)", net::FlowDropLog({net::FlowDrop::Kind::kPrivateSubnet, ""}))));
    // Peered VPCs' traffic leaves without masquerade (ApplyPeerings).
    RETURN_IF_ERROR(net::nft::Apply(router, net::BuildRouterPeeringRules(n.vpc_id, peerings_)));
    routers_ready_.insert(n.vpc_id);
  }
  // The subnet's bridge, with the subnet's router address.
  std::string br = BridgeName(n.subnet_id);
  auto cidr = net::Ipv4Cidr::Parse(n.subnet_cidr);
  if (!cidr) return InvalidArgument("ENI " + n.eni_id + " has no subnet CIDR");
  RETURN_IF_ERROR(InNs(router, [&](Netlink& nl) -> Status {
    made = made || !nl.LinkExists(br);
    RETURN_IF_ERROR(EnsureBridge(nl, br, "kecs:subnet:" + n.subnet_id, BridgeMac("kecs:subnet:" + n.subnet_id)));
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"net/ipv4/conf/" + br + "/proxy_arp", "1"},
             {"net/ipv4/conf/" + br + "/proxy_arp_pvlan", "1"},
             {"net/ipv4/neigh/" + br + "/proxy_delay", "0"},
             {"net/ipv4/conf/" + br + "/send_redirects", "0"},
             {"net/ipv4/conf/all/send_redirects", "0"}}) {
      RETURN_IF_ERROR(net::netns::WriteSysctl(key, value));
    }
    // With br_netfilter loaded (Docker loads it; its sysctls are per namespace and start
    // at 1), IP's prerouting hooks also run on frames being bridged, and a frame the NLB
    // forwarding DNATs to a target of the same subnet is then bridged port to port (which
    // kecs_l2 drops) instead of routed. Routing needs none of it. Written for every
    // bridge: the module may have been loaded since the router was made.
    for (const char* key : {"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
                            "net/bridge/bridge-nf-call-arptables"}) {
      Status st = net::netns::WriteSysctl(key, "0");
      if (!st.ok() && st.code() != Code::kNotFound) return st;  // not loaded: nothing to turn off
    }
    RETURN_IF_ERROR(nl.AddAddress(br, fmt::format("{}/{}", n.gateway, cidr->prefix)));
    if (!n.ipv6_prefix.empty()) {
      auto p6 = net::Ipv6Cidr::Parse(n.ipv6_prefix);
      if (p6) {
        net::Ipv6 gw = p6->base;
        gw[15] = 1;
        // The subnet's own prefix length: a subnet's block may be /44 to /64.
        RETURN_IF_ERROR(nl.AddAddress(br, fmt::format("{}/{}", net::Ipv6ToString(gw), p6->prefix)));
      }
    }
    return nl.SetUp(br);
  }));
  if (auto it = policies_.find(n.vpc_id); made && it != policies_.end()) return ApplyPolicyLocked(it->second);
  return Status::Ok();
}

Status LocalNetwork::AttachEni(const NetworkSpec& n, const std::string& ns, const std::string& router_veth,
                               const std::string& alias) {
  NsFd fd(ns);
  if (fd.get() < 0) return FailedPrecondition("no network namespace " + ns);
  // Held until the veth is in the router, so that a concurrent teardown of the VPC's last
  // other ENI cannot remove the router in between.
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(EnsureRouter(n));
  RETURN_IF_ERROR(InNs(RouterNetns(n.vpc_id), [&](Netlink& nl) -> Status {
    if (!nl.LinkExists(router_veth)) RETURN_IF_ERROR(nl.CreateVeth(router_veth, "eth0", fd.get(), alias));
    RETURN_IF_ERROR(nl.SetMaster(router_veth, BridgeName(n.subnet_id)));
    return nl.SetUp(router_veth);
  }));
  return InNs(ns, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.SetUp("lo"));
    RETURN_IF_ERROR(nl.SetAlias("eth0", alias));
    RETURN_IF_ERROR(nl.SetMac("eth0", n.mac));
    RETURN_IF_ERROR(nl.AddAddress("eth0", fmt::format("{}/{}", n.ip, n.prefix_len)));
    if (!n.ipv6.empty()) {
      auto p6 = net::Ipv6Cidr::Parse(n.ipv6_prefix);
      RETURN_IF_ERROR(nl.AddAddress("eth0", fmt::format("{}/{}", n.ipv6, p6 ? p6->prefix : 64)));
    }
    RETURN_IF_ERROR(nl.SetUp("eth0"));
    return nl.AddRoute("default", n.gateway, "eth0");
  });
}

Status LocalNetwork::AttachAwsvpc(const NetworkSpec& n, const std::string& ns, const std::string& router_veth,
                                  const std::string& alias) {
  RETURN_IF_ERROR(AttachEni(n, ns, router_veth, alias));
  {
    std::lock_guard<std::mutex> lock(enis_mu_);
    eni_netns_[n.eni_id] = ns;
  }
  std::string router = RouterNetns(n.vpc_id);
  // Subnets without a route to an internet gateway get no new outbound connections.
  bool listed = NoEgressHas(router, n.ip);
  if (!n.internet_egress && !listed) {
    RETURN_IF_ERROR(net::nft::Apply(router, fmt::format("add element ip kecs_router noegress {{ {} }}\n", n.ip)));
  } else if (n.internet_egress && listed) {
    RETURN_IF_ERROR(net::nft::Apply(router, fmt::format("delete element ip kecs_router noegress {{ {} }}\n", n.ip)));
  }
  return Status::Ok();
}

Status LocalNetwork::DetachAwsvpc(const std::string& router, const std::string& ns, const std::string& router_veth,
                                  const std::string& primary_ip) {
  if (!net::netns::Exists(router)) return Status::Ok();
  // The primary and the secondary addresses on eth0 leave the noegress set with it.
  std::set<std::string> ips;
  if (!primary_ip.empty()) ips.insert(primary_ip);
  if (net::netns::Exists(ns)) {
    (void)InNs(ns, [&](Netlink& nl) -> Status {
      ASSIGN_OR_RETURN(auto addrs, nl.ListAddresses("eth0"));
      for (const auto& a : addrs) ips.insert(a.substr(0, a.find('/')));
      return Status::Ok();
    });
  }
  for (const auto& ip : ips) {
    if (NoEgressHas(router, ip)) {
      (void)net::nft::Apply(router, fmt::format("delete element ip kecs_router noegress {{ {} }}\n", ip));
    }
  }
  // The kernel destroys a deleted namespace's links asynchronously; delete the veth first
  // (its other end goes with it) so the router sees it gone at once.
  return InNs(router, [&](Netlink& nl) { return nl.DeleteLink(router_veth); });
}

Status LocalNetwork::SetUpTask(const TaskSpec& task) {
  const NetworkSpec& n = task.network;
  if (n.mode == model::NetworkMode::kHost) return HostNamespaceOf(task).status();
  std::string ns = TaskNetns(task.task_id);
  // Checked before anything is made: a bridge task's instance must be here.
  std::string host_ns;
  if (n.mode == model::NetworkMode::kBridge) {
    ASSIGN_OR_RETURN(host_ns, HostNamespaceOf(task));
  }
  RETURN_IF_ERROR(net::netns::Create(ns));
  if (n.mode == model::NetworkMode::kNone) {
    return InNs(ns, [](Netlink& nl) { return nl.SetUp("lo"); });
  }
  NsFd fd(ns);
  std::string alias = "kecs:task:" + task.task_id;
  if (n.mode == model::NetworkMode::kAwsvpc) return AttachAwsvpc(n, ns, RouterVeth(task.task_id), alias);
  if (n.mode == model::NetworkMode::kBridge) {
    // On an EC2 instance: the instance's own bridge, inside its namespace.
    RETURN_IF_ERROR(host_ns.empty() ? EnsureHostBridge() : EnsureBridgeIn(host_ns));
    auto cidr = net::Ipv4Cidr::Parse(options_.bridge_cidr);
    std::string veth = HostLinkName('b', task.task_id);
    RETURN_IF_ERROR(InNs(host_ns, [&](Netlink& nl) -> Status {
      if (!nl.LinkExists(veth)) RETURN_IF_ERROR(nl.CreateVeth(veth, "eth0", fd.get(), alias));
      RETURN_IF_ERROR(nl.SetMaster(veth, options_.prefix + "0"));
      return nl.SetUp(veth);
    }));
    return InNs(ns, [&](Netlink& nl) -> Status {
      RETURN_IF_ERROR(nl.SetUp("lo"));
      RETURN_IF_ERROR(nl.AddAddress("eth0", fmt::format("{}/{}", n.bridge_ip, cidr->prefix)));
      RETURN_IF_ERROR(nl.SetUp("eth0"));
      return nl.AddRoute("default", net::Ipv4ToString(cidr->router()), "eth0");
    });
  }
  return InvalidArgument(fmt::format("unknown network mode {}", static_cast<int>(n.mode)));
}

namespace {

struct MapEntry {
  std::string map;
  int64_t port;
  std::string comment;
};

Result<std::vector<MapEntry>> PublishedEntries(const std::string& table, const std::string& ns = "") {
  std::vector<MapEntry> out;
  for (const char* m : {"publish_tcp", "publish_udp"}) {
    ASSIGN_OR_RETURN(auto elems, net::nft::ListElements(ns, fmt::format("list map ip {} {}", table, m)));
    for (const auto& e : elems) out.push_back(MapEntry{m, e.number, e.comment});
  }
  return out;
}

}  // namespace

Status LocalNetwork::Publish(const TaskSpec& task) {
  const NetworkSpec& n = task.network;
  std::vector<HostPublish> wants;
  if (n.mode == model::NetworkMode::kBridge) {
    for (const auto& c : task.containers) {
      for (const auto& p : c.ports) {
        if (p.host_port > 0) wants.push_back({p.protocol, p.host_port, n.bridge_ip, p.container_port});
      }
    }
  }
  if (n.mode == model::NetworkMode::kAwsvpc) {
    for (const auto& p : n.published) wants.push_back({p.protocol, p.host_port, n.ip, p.container_port});
  }
  if (n.mode == model::NetworkMode::kBridge && !n.instance_id.empty()) {
    // On an EC2 instance: on the instance's address, in its namespace's table; this host's
    // ports are not involved (no reservation sockets).
    ASSIGN_OR_RETURN(std::string ns, HostNamespaceOf(task));
    std::lock_guard<std::mutex> lock(mu_);
    return ReplacePublished(ns, kInstanceTable, "task:" + task.task_id, wants, nullptr);
  }
  if (wants.empty()) return Status::Ok();
  return PublishFor("task:" + task.task_id, wants);
}

Status LocalNetwork::PublishFor(const std::string& owner, const std::vector<HostPublish>& wants) {
  std::lock_guard<std::mutex> lock(mu_);
  return ReplacePublished("", options_.prefix, owner, wants, &reservations_);
}

Status LocalNetwork::ReplacePublished(const std::string& ns, const std::string& table, const std::string& owner,
                                      const std::vector<HostPublish>& wants, net::HostPortReservations* reservations) {
  auto map_of = [](const std::string& proto) { return proto == "udp" ? "publish_udp" : "publish_tcp"; };
  ASSIGN_OR_RETURN(auto existing, PublishedEntries(table, ns));
  // Ports the owner no longer wants go, with their reservations (the wanted ones are
  // reserved again below).
  std::string script;
  bool dropped = false;
  for (const auto& e : existing) {
    if (e.comment != owner) continue;
    bool wanted = false;
    for (const auto& w : wants) wanted = wanted || (e.map == map_of(w.protocol) && e.port == w.host_port);
    if (!wanted) {
      script += fmt::format("delete element ip {} {} {{ {} }}\n", table, e.map, e.port);
      dropped = true;
    }
  }
  if (dropped && reservations) reservations->Release(owner);
  for (const auto& w : wants) {
    if (!reservations) break;
    Status st = reservations->Reserve(w.protocol, w.host_port, owner);
    if (!st.ok()) {
      reservations->Release(owner);
      return st;
    }
  }
  for (const auto& w : wants) {
    std::string map = map_of(w.protocol);
    for (const auto& e : existing) {
      // A stale entry for the port (from an owner that is gone) is replaced.
      if (e.map == map && e.port == w.host_port) {
        script += fmt::format("delete element ip {} {} {{ {} }}\n", table, map, w.host_port);
      }
    }
    script += fmt::format("add element ip {} {} {{ {} comment \"{}\" : {} . {} }}\n", table, map,
                          w.host_port, owner, w.ip, w.port);
  }
  if (script.empty()) return Status::Ok();
  return net::nft::Apply(ns, script);
}

Status LocalNetwork::Unpublish(const std::string& task_id) { return UnpublishFor("task:" + task_id); }

Status LocalNetwork::UnpublishFor(const std::string& owner) {
  reservations_.Release(owner);
  std::lock_guard<std::mutex> lock(mu_);
  return RemovePublished("", options_.prefix, owner);
}

Status LocalNetwork::RemovePublished(const std::string& ns, const std::string& table, const std::string& owner) {
  auto existing = PublishedEntries(table, ns);
  if (!existing.ok()) return Status::Ok();  // no table: nothing published
  std::string script;
  for (const auto& e : *existing) {
    if (e.comment == owner) script += fmt::format("delete element ip {} {} {{ {} }}\n", table, e.map, e.port);
  }
  if (script.empty()) return Status::Ok();
  return net::nft::Apply(ns, script);
}

std::set<std::string> LocalNetwork::PublishedOwners() {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  auto existing = PublishedEntries(options_.prefix);
  if (!existing.ok()) return out;
  for (const auto& e : *existing) out.insert(e.comment);
  return out;
}

Status LocalNetwork::TearDownTask(const TaskSpec& task) {
  RETURN_IF_ERROR(Unpublish(task.task_id));
  if (task.network.mode == model::NetworkMode::kHost) return Status::Ok();
  if (task.network.mode == model::NetworkMode::kAwsvpc) {
    {
      std::lock_guard<std::mutex> lock(enis_mu_);
      eni_netns_.erase(task.network.eni_id);
      metrics::ForgetEni(task.network.eni_id);
    }
    if (!task.network.vpc_id.empty()) {
      RETURN_IF_ERROR(DetachAwsvpc(RouterNetns(task.network.vpc_id), TaskNetns(task.task_id),
                                   RouterVeth(task.task_id), task.network.ip));
    }
  }
  if (task.network.mode == model::NetworkMode::kBridge) {
    // On this host, or inside its instance's namespace (if the instance is still there:
    // its namespace takes everything with it otherwise).
    std::string host_ns = task.network.instance_id.empty() ? "" : InstanceNetns(task.network.instance_id);
    if (host_ns.empty() || net::netns::Exists(host_ns)) {
      if (!host_ns.empty()) {
        std::lock_guard<std::mutex> lock(mu_);
        RETURN_IF_ERROR(RemovePublished(host_ns, kInstanceTable, "task:" + task.task_id));
      }
      RETURN_IF_ERROR(InNs(host_ns, [&](Netlink& nl) { return nl.DeleteLink(HostLinkName('b', task.task_id)); }));
    }
  }
  RETURN_IF_ERROR(net::netns::Delete(TaskNetns(task.task_id)));
  if (task.network.mode == model::NetworkMode::kAwsvpc && !task.network.vpc_id.empty()) {
    return RemoveRouterIfUnused(task.network.vpc_id);
  }
  return Status::Ok();
}

Status LocalNetwork::ApplyEniAddresses(const EniAddresses& eni) {
  // The task namespace whose eth0 carries the interface: remembered, or found among the
  // tasks attached to the VPC's router (links aliased "kecs:task:<id>").
  std::string ns;
  {
    std::lock_guard<std::mutex> lock(enis_mu_);
    if (auto it = eni_netns_.find(eni.eni_id); it != eni_netns_.end()) ns = it->second;
  }
  if (ns.empty() || !net::netns::Exists(ns)) {
    ns.clear();
    std::string router = RouterNetns(eni.vpc_id);
    if (eni.vpc_id.empty() || eni.primary_ip.empty() || !net::netns::Exists(router)) {
      return NotFound("no task here carries network interface " + eni.eni_id);
    }
    std::vector<std::string> candidates;
    RETURN_IF_ERROR(InNs(router, [&](Netlink& nl) -> Status {
      ASSIGN_OR_RETURN(auto links, nl.ListLinks());
      for (const auto& l : links) {
        if (l.alias.starts_with("kecs:task:")) candidates.push_back(TaskNetns(l.alias.substr(10)));
        if (l.alias.starts_with(kInstanceAlias)) candidates.push_back(InstanceNetns(l.alias.substr(kInstanceAlias.size())));
      }
      return Status::Ok();
    }));
    for (const auto& c : candidates) {
      if (!net::netns::Exists(c)) continue;
      bool carries = false;
      (void)InNs(c, [&](Netlink& nl) -> Status {
        ASSIGN_OR_RETURN(auto addrs, nl.ListAddresses("eth0"));
        for (const auto& a : addrs) carries = carries || a.substr(0, a.find('/')) == eni.primary_ip;
        return Status::Ok();
      });
      if (carries) {
        ns = c;
        break;
      }
    }
    if (ns.empty()) return NotFound("no task here carries network interface " + eni.eni_id);
    std::lock_guard<std::mutex> lock(enis_mu_);
    eni_netns_[eni.eni_id] = ns;
  }
  // Secondary IPv4 addresses are the /32 ones: the primary carries the subnet's prefix and
  // never changes. IPv6 has no fixed primary: eni.ipv6 lists every address the interface
  // has. The one the task started with carries the subnet's prefix (its on-link route);
  // when it is unassigned, the first address that replaces it takes over that prefix, the
  // others are /128.
  std::vector<std::string> added4, removed4;
  RETURN_IF_ERROR(InNs(ns, [&](Netlink& nl) -> Status {
    ASSIGN_OR_RETURN(auto have4, nl.ListAddresses("eth0"));
    std::set<std::string> present4;
    for (const auto& a : have4) {
      if (!a.ends_with("/32")) continue;
      std::string ip = a.substr(0, a.size() - 3);
      present4.insert(ip);
      if (std::find(eni.ipv4.begin(), eni.ipv4.end(), ip) == eni.ipv4.end()) {
        RETURN_IF_ERROR(nl.DeleteAddress("eth0", a));
        removed4.push_back(ip);
      }
    }
    for (const auto& ip : eni.ipv4) {
      if (present4.count(ip)) continue;
      RETURN_IF_ERROR(nl.AddAddress("eth0", ip + "/32"));
      added4.push_back(ip);
    }
    ASSIGN_OR_RETURN(auto have6, nl.ListAddresses("eth0", true));
    std::map<std::string, std::string> now6;  // global address -> "/len"
    std::string prefix;                       // the subnet's, from the address carrying it
    std::string carrier;                      // a wanted address carrying it now
    for (const auto& a : have6) {
      size_t slash = a.find('/');
      std::string ip = a.substr(0, slash);
      if (ip.starts_with("fe80:")) continue;  // link-local: the kernel's own
      std::string len = slash == std::string::npos ? "/128" : a.substr(slash);
      now6[ip] = len;
      if (len == "/128") continue;
      prefix = len;
      if (std::find(eni.ipv6.begin(), eni.ipv6.end(), ip) != eni.ipv6.end()) carrier = ip;
    }
    if (carrier.empty() && !prefix.empty() && !eni.ipv6.empty()) carrier = eni.ipv6.front();
    std::map<std::string, std::string> want6;
    for (const auto& ip : eni.ipv6) want6[ip] = ip == carrier ? prefix : "/128";
    for (const auto& [ip, len] : now6) {
      auto it = want6.find(ip);
      if (it == want6.end() || it->second != len) RETURN_IF_ERROR(nl.DeleteAddress("eth0", ip + len));
    }
    for (const auto& [ip, len] : want6) {
      auto it = now6.find(ip);
      if (it == now6.end() || it->second != len) RETURN_IF_ERROR(nl.AddAddress("eth0", ip + len));
    }
    return Status::Ok();
  }));
  // A task without internet egress has none from its secondary addresses either.
  std::string router = RouterNetns(eni.vpc_id);
  if (net::netns::Exists(router) && NoEgressHas(router, eni.primary_ip)) {
    std::string script;
    for (const auto& ip : added4) {
      if (!NoEgressHas(router, ip)) script += fmt::format("add element ip kecs_router noegress {{ {} }}\n", ip);
    }
    for (const auto& ip : removed4) {
      if (NoEgressHas(router, ip)) script += fmt::format("delete element ip kecs_router noegress {{ {} }}\n", ip);
    }
    if (!script.empty()) RETURN_IF_ERROR(net::nft::Apply(router, script));
  }
  return Status::Ok();
}

Status LocalNetwork::RemoveRouterIfUnused(const std::string& vpc_id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string ns = RouterNetns(vpc_id);
  if (!net::netns::Exists(ns)) {
    routers_ready_.erase(vpc_id);
    filters_.erase(vpc_id);
    return Status::Ok();
  }
  bool used = false;
  RETURN_IF_ERROR(InNs(ns, [&](Netlink& nl) -> Status {
    ASSIGN_OR_RETURN(auto links, nl.ListLinks());
    for (const auto& l : links) {
      if (l.alias.rfind("kecs:task:", 0) == 0 || l.alias.rfind("kecs:lb:", 0) == 0 ||
          l.alias.rfind(kInstanceAlias, 0) == 0) {
        used = true;
      }
    }
    return Status::Ok();
  }));
  if (used) return Status::Ok();
  KLOG_INFO("network: removing the router of {} (no tasks, load balancer nodes or instances left)", vpc_id);
  RETURN_IF_ERROR(InNs("", [&](Netlink& nl) { return nl.DeleteLink(HostLinkName('x', vpc_id)); }));
  RETURN_IF_ERROR(net::netns::Delete(ns));
  routers_ready_.erase(vpc_id);
  filters_.erase(vpc_id);
  return Status::Ok();
}

Status LocalNetwork::GarbageCollect(const std::set<std::string>& live) {
  std::string task_prefix = options_.prefix + "-t-";
  std::string router_prefix = options_.prefix + "-r-";
  // The veths of tasks that are gone go first, in the routers and on the host, as in
  // TearDownTask: the kernel destroys a deleted namespace's links asynchronously, and a
  // router still listing a task veth counts as used below and would stay.
  const std::string task_alias = "kecs:task:";
  auto remove_dead_veths = [&](Netlink& nl, const std::string& name_prefix) -> Status {
    ASSIGN_OR_RETURN(auto links, nl.ListLinks());
    for (const auto& l : links) {
      if (l.name.rfind(name_prefix, 0) != 0 || l.alias.rfind(task_alias, 0) != 0) continue;
      if (live.count(l.alias.substr(task_alias.size()))) continue;
      KLOG_INFO("gc: removing link {} ({})", l.name, l.alias);
      RETURN_IF_ERROR(nl.DeleteLink(l.name));
    }
    return Status::Ok();
  };
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(router_prefix, 0) == 0 && net::netns::Exists(ns)) {
      RETURN_IF_ERROR(InNs(ns, [&](Netlink& nl) { return remove_dead_veths(nl, ""); }));
    }
  }
  // On the host, only this instance's bridge-mode veths (HostLinkName 'b'); likewise in
  // each EC2 instance's namespace, with the published ports of its tasks that are gone.
  RETURN_IF_ERROR(InNs("", [&](Netlink& nl) { return remove_dead_veths(nl, options_.prefix + "b"); }));
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(options_.prefix + "-i-", 0) != 0) continue;
    Status st = InNs(ns, [&](Netlink& nl) { return remove_dead_veths(nl, options_.prefix + "b"); });
    if (!st.ok() && net::netns::Exists(ns)) return st;
    auto entries = PublishedEntries(kInstanceTable, ns);
    if (!entries.ok()) continue;
    std::string script;
    for (const auto& e : *entries) {
      if (e.comment.rfind("task:", 0) == 0 && !live.count(e.comment.substr(5))) {
        script += fmt::format("delete element ip {} {} {{ {} }}\n", kInstanceTable, e.map, e.port);
      }
    }
    if (!script.empty()) RETURN_IF_ERROR(net::nft::Apply(ns, script));
  }
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(task_prefix, 0) == 0 && !live.count(ns.substr(task_prefix.size()))) {
      KLOG_INFO("gc: removing network namespace {}", ns);
      RETURN_IF_ERROR(net::netns::Delete(ns));
    }
  }
  // Published ports of tasks that are gone.
  if (auto entries = PublishedEntries(options_.prefix); entries.ok()) {
    std::string script;
    for (const auto& e : *entries) {
      if (e.comment.rfind("task:", 0) == 0 && !live.count(e.comment.substr(5))) {
        script += fmt::format("delete element ip {} {} {{ {} }}\n", options_.prefix, e.map, e.port);
      }
    }
    if (!script.empty()) RETURN_IF_ERROR(net::nft::Apply("", script));
  }
  // Routers no task uses any more, with their link to the host.
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(router_prefix, 0) == 0) RETURN_IF_ERROR(RemoveRouterIfUnused(ns.substr(router_prefix.size())));
  }
  return Status::Ok();
}

Status LocalNetwork::ApplyPeerings(const std::vector<net::PeeringPath>& paths) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> links;
  for (const auto& p : paths) {
    for (const auto* vpc : {&p.src_vpc, &p.dst_vpc}) links[*vpc] = HostLinkName('x', *vpc);
  }
  RETURN_IF_ERROR(net::nft::Apply("", net::BuildHostPeeringRules(options_.prefix, paths, links)));
  peerings_ = paths;
  // Every router here, also those whose paths are gone (their chains are emptied).
  for (const auto& vpc : routers_ready_) {
    std::string router = RouterNetns(vpc);
    if (!net::netns::Exists(router)) continue;
    RETURN_IF_ERROR(net::nft::Apply(router, net::BuildRouterPeeringRules(vpc, paths)));
  }
  return Status::Ok();
}

Status LocalNetwork::ApplyPolicy(const net::VpcPolicy& policy, bool* applied) {
  if (applied) *applied = false;
  std::lock_guard<std::mutex> lock(mu_);
  policies_[policy.vpc_id] = policy;
  return ApplyPolicyLocked(policy, applied);
}

Status LocalNetwork::ApplyPolicyLocked(const net::VpcPolicy& policy, bool* applied) {
  std::string router = RouterNetns(policy.vpc_id);
  if (!net::netns::Exists(router)) return Status::Ok();
  net::VpcPolicy p = policy;
  // Only subnets with a bridge here take part; the others have no task on this host.
  std::vector<net::SubnetPolicy> present;
  RETURN_IF_ERROR(InNs(router, [&](Netlink& nl) -> Status {
    for (auto& s : p.subnets) {
      s.bridge = BridgeName(s.id);
      if (nl.LinkExists(s.bridge)) present.push_back(s);
    }
    return Status::Ok();
  }));
  p.subnets = present;
  // In place when only rules or members changed (net/domain/sg_policy.h); else, or if
  // that fails (the table is not what was last applied), the whole table.
  auto last = filters_.find(p.vpc_id);
  std::string update = last != filters_.end() ? net::BuildVpcFilterUpdate(last->second, p) : "";
  filters_.erase(p.vpc_id);
  auto t0 = std::chrono::steady_clock::now();
  std::string_view kind = "incremental";
  if (update.empty() || !net::nft::Apply(router, update).ok()) {
    kind = "full";
    RETURN_IF_ERROR(net::nft::Apply(router, net::BuildVpcFilter(p)));
  }
  metrics::ObserveSgApply(kind, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  filters_[p.vpc_id] = p;
  if (applied) *applied = true;
  return Status::Ok();
}

Status LocalNetwork::ApplyInstancePolicy(const net::SecurityGroupPolicy* group,
                                         const std::map<std::string, std::vector<std::string>>& members) {
  std::string table = options_.prefix + "_instance";
  if (!group) {
    auto tables = net::nft::Query("", "list tables");
    if (tables.ok() && tables->find("table inet " + table + "\n") != std::string::npos) {
      return net::nft::Apply("", "delete table inet " + table + "\n");
    }
    return Status::Ok();
  }
  auto t0 = std::chrono::steady_clock::now();
  Status st = net::nft::Apply("", net::BuildInstanceFilter(table, options_.prefix + "0", *group, members));
  if (st.ok()) {
    metrics::ObserveSgApply("instance", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return st;
}

Status LocalNetwork::RemoveAll() {
  std::string p = options_.prefix + "-";
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(p, 0) == 0) RETURN_IF_ERROR(net::netns::Delete(ns));
  }
  RETURN_IF_ERROR(InNs("", [&](Netlink& nl) -> Status {
    ASSIGN_OR_RETURN(auto links, nl.ListLinks());
    for (const auto& l : links) {
      bool ours = l.name.rfind(options_.prefix, 0) == 0 && l.alias.rfind("kecs:", 0) == 0;
      if (ours) RETURN_IF_ERROR(nl.DeleteLink(l.name));
    }
    return Status::Ok();
  }));
  auto tables = net::nft::Query("", "list tables");
  if (tables.ok() && tables->find("table ip " + options_.prefix + "\n") != std::string::npos) {
    RETURN_IF_ERROR(net::nft::Apply("", "delete table ip " + options_.prefix + "\n"));
  }
  if (tables.ok() && tables->find("table inet " + options_.prefix + "_instance\n") != std::string::npos) {
    RETURN_IF_ERROR(net::nft::Apply("", "delete table inet " + options_.prefix + "_instance\n"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  routers_ready_.clear();
  bridge_ready_ = false;
  return Status::Ok();
}

// ---- EC2 instances as hosts (issue 17) ----

bool IsInstanceId(const std::string& id) {
  return id.starts_with("i-") && id.size() > 2 && id.size() <= 19 &&
         std::all_of(id.begin() + 2, id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string RenderInstanceHostTable(const std::string& bridge, const std::string& bridge_cidr,
                                    const std::string& instance_ip) {
  // Maps keep their elements across calls (the forwarding of running tasks stays up);
  // chains are rebuilt.
  return fmt::format(R"(add table ip {t}
add map ip {t} publish_tcp {{ type inet_service : ipv4_addr . inet_service; }}
add map ip {t} publish_udp {{ type inet_service : ipv4_addr . inet_service; }}
add chain ip {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain ip {t} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
flush chain ip {t} prerouting
flush chain ip {t} output
flush chain ip {t} postrouting
add rule ip {t} prerouting ip daddr {ip} dnat ip to tcp dport map @publish_tcp comment "kecs:publish"
add rule ip {t} prerouting ip daddr {ip} dnat ip to udp dport map @publish_udp comment "kecs:publish"
add rule ip {t} output ip daddr {ip} dnat ip to tcp dport map @publish_tcp comment "kecs:publish"
add rule ip {t} output ip daddr {ip} dnat ip to udp dport map @publish_udp comment "kecs:publish"
add rule ip {t} postrouting ip saddr {cidr} oifname != "{br}" masquerade comment "kecs:bridge"
add rule ip {t} postrouting ip saddr {cidr} oifname "{br}" ct status dnat masquerade comment "kecs:hairpin"
)",
                     fmt::arg("t", kInstanceTable), fmt::arg("ip", instance_ip), fmt::arg("cidr", bridge_cidr),
                     fmt::arg("br", bridge));
}

Status LocalNetwork::SetUpInstance(const InstanceHostSpec& host) {
  const NetworkSpec& n = host.network;
  const std::string& id = host.instance_id;
  if (!IsInstanceId(id)) return InvalidArgument("not an instance id: " + id);
  if (n.ip.empty() || n.vpc_id.empty() || n.subnet_id.empty()) {
    return InvalidArgument("instance " + id + " has no primary network interface in a subnet");
  }
  if (!net::ParseIpv4(n.ip)) return InvalidArgument("instance " + id + " has no IPv4 address");
  std::string ns = InstanceNetns(id);
  RETURN_IF_ERROR(net::netns::Create(ns));
  RETURN_IF_ERROR(AttachAwsvpc(n, ns, InstanceVeth(id), std::string(kInstanceAlias) + id));
  RETURN_IF_ERROR(InNs(ns, [&](Netlink& nl) -> Status {
    // Its bridge-mode tasks are routed through it; the instance metadata service's address
    // is its own, so the service listens on it and its bridge tasks reach it too.
    RETURN_IF_ERROR(net::netns::WriteSysctl("net/ipv4/ip_forward", "1"));
    return nl.AddAddress("lo", "169.254.169.254/32");
  }));
  return net::nft::Apply(ns, RenderInstanceHostTable(options_.prefix + "0", options_.bridge_cidr, n.ip));
}

Status LocalNetwork::TearDownInstance(const std::string& instance_id) {
  std::string ns = InstanceNetns(instance_id);
  std::string alias = std::string(kInstanceAlias) + instance_id;
  std::string router_prefix = options_.prefix + "-r-";
  std::vector<std::string> vpcs;
  for (const auto& router : net::netns::List()) {
    if (router.rfind(router_prefix, 0) != 0) continue;
    bool has = false;
    Status st = InNs(router, [&](Netlink& nl) -> Status {
      ASSIGN_OR_RETURN(auto links, nl.ListLinks());
      for (const auto& l : links) has = has || l.alias == alias;
      return Status::Ok();
    });
    if (!st.ok()) {
      if (!net::netns::Exists(router)) continue;
      return st;
    }
    if (!has) continue;
    RETURN_IF_ERROR(DetachAwsvpc(router, ns, InstanceVeth(instance_id), ""));
    vpcs.push_back(router.substr(router_prefix.size()));
  }
  {
    std::lock_guard<std::mutex> lock(enis_mu_);
    std::erase_if(eni_netns_, [&](const auto& kv) { return kv.second == ns; });
  }
  if (net::netns::Exists(ns)) KLOG_INFO("network: removing the host of instance {} ({})", instance_id, ns);
  RETURN_IF_ERROR(net::netns::Delete(ns));
  for (const auto& vpc : vpcs) RETURN_IF_ERROR(RemoveRouterIfUnused(vpc));
  return Status::Ok();
}

Status LocalNetwork::GarbageCollectInstances(const std::set<std::string>& live) {
  std::set<std::string> doomed;
  std::string ns_prefix = options_.prefix + "-i-";
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(ns_prefix, 0) != 0) continue;
    std::string id = "i-" + ns.substr(ns_prefix.size());
    if (!live.count(id)) doomed.insert(id);
  }
  // A router veth whose namespace is already gone.
  for (const auto& router : net::netns::List()) {
    if (router.rfind(options_.prefix + "-r-", 0) != 0) continue;
    (void)InNs(router, [&](Netlink& nl) -> Status {
      ASSIGN_OR_RETURN(auto links, nl.ListLinks());
      for (const auto& l : links) {
        if (!l.alias.starts_with(kInstanceAlias)) continue;
        std::string id = l.alias.substr(kInstanceAlias.size());
        if (!live.count(id)) doomed.insert(id);
      }
      return Status::Ok();
    });
  }
  for (const auto& id : doomed) {
    KLOG_INFO("gc: removing the host of instance {}", id);
    RETURN_IF_ERROR(TearDownInstance(id));
  }
  return Status::Ok();
}

Result<std::string> LocalNetwork::EnsureResolverAddress(const TaskSpec& task) {
  const NetworkSpec& n = task.network;
  if (n.vpc_id.empty() || n.dns_server.empty()) return InvalidArgument("task has no VPC resolver");
  std::string router = RouterNetns(n.vpc_id);
  if (!net::netns::Exists(router)) return FailedPrecondition("VPC " + n.vpc_id + " has no router");
  RETURN_IF_ERROR(InNs(router, [&](Netlink& nl) { return nl.AddAddress("lo", n.dns_server + "/32"); }));
  return router;
}

}  // namespace kecs::runtime::local
