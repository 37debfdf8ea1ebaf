#include "net/domain/sg_policy.h"
#include "net/domain/sg_filter_update.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "net/domain/flow_log.h"
#include "net/domain/ip.h"
#include "net/domain/vpc.h"

namespace kecs::net {
namespace {

// nft identifiers: "eni-0abc" -> "eni_0abc".
std::string Ident(const std::string& id) {
  std::string out;
  for (char c : id) out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

// The L4 part of a rule: protocol, ports or ICMP type/code.
std::string L4(const std::string& protocol, int from, int to, bool v6) {
  if (protocol == "-1" || protocol == "all" || protocol.empty()) return "";
  if (protocol == "tcp" || protocol == "udp" || protocol == "6" || protocol == "17") {
    std::string p = (protocol == "tcp" || protocol == "6") ? "tcp" : "udp";
    if (from < 0 && to < 0) return fmt::format("meta l4proto {}", p);
    if (from == to) return fmt::format("{} dport {}", p, from);
    return fmt::format("{} dport {}-{}", p, from, to);
  }
  if (protocol == "icmp" || protocol == "1") {
    if (v6) return "";  // never matches an IPv6 packet; the caller skips it
    std::string s = "meta l4proto icmp";
    if (from >= 0) s += fmt::format(" icmp type {}", from);
    if (from >= 0 && to >= 0) s += fmt::format(" icmp code {}", to);
    return s;
  }
  if (protocol == "icmpv6" || protocol == "58") {
    std::string s = "meta l4proto ipv6-icmp";
    if (from >= 0) s += fmt::format(" icmpv6 type {}", from);
    if (from >= 0 && to >= 0) s += fmt::format(" icmpv6 code {}", to);
    return s;
  }
  return fmt::format("meta l4proto {}", protocol);
}

bool IcmpV4Only(const std::string& protocol) { return protocol == "icmp" || protocol == "1"; }
bool IcmpV6Only(const std::string& protocol) { return protocol == "icmpv6" || protocol == "58"; }

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

// The lines of a group's chain for one direction (design.md 17.4): its rules once, each
// accepting what it allows. An ENI's chain jumps to its groups' chains in turn; the first
// rule that matches ends the base chain (egress and ingress are separate base chains, so
// an accepted egress still meets the receiver's ingress), and a packet no group allows
// meets the ENI chain's final drop.
// `verdict` is what a matching rule does, `owner` what its comment starts with (before the
// group and rule ids).
std::vector<std::string> GroupRules(const SecurityGroupPolicy& g, bool egress, const std::string& verdict = "accept",
                                    const std::string& owner = "") {
  std::vector<std::string> lines;
  const char* peer4 = egress ? "ip daddr" : "ip saddr";
  const char* peer6 = egress ? "ip6 daddr" : "ip6 saddr";
  for (const auto& r : g.rules) {
    if (r.egress != egress) continue;
    std::string comment = fmt::format("comment \"{}{} {}\"", owner, g.id, r.id);
    if (!r.cidr4.empty() && !IcmpV6Only(r.protocol)) {
      std::string peer = r.cidr4 == "0.0.0.0/0" ? "meta nfproto ipv4" : fmt::format("{} {}", peer4, r.cidr4);
      lines.push_back(Join({peer, L4(r.protocol, r.from, r.to, false), verdict, comment}));
    }
    if (!r.cidr6.empty() && !IcmpV4Only(r.protocol)) {
      std::string peer = r.cidr6 == "::/0" ? "meta nfproto ipv6" : fmt::format("{} {}", peer6, r.cidr6);
      lines.push_back(Join({peer, L4(r.protocol, r.from, r.to, true), verdict, comment}));
    }
    if (!r.group.empty()) {
      if (!IcmpV6Only(r.protocol)) {
        lines.push_back(Join({fmt::format("{} @sg4_{}", peer4, Ident(r.group)), L4(r.protocol, r.from, r.to, false),
                              verdict, comment}));
        if (!egress) {
          // A network load balancer keeps the client's address, so what names its group
          // is the address the flow was sent to: a node of a load balancer in the group
          // (its forwarding DNATs node address to target), as AWS lets a target's group
          // admit the traffic of an NLB's group.
          lines.push_back(Join({fmt::format("ct status dnat ct original ip daddr @sg4_{}", Ident(r.group)),
                                L4(r.protocol, r.from, r.to, false), verdict, comment}));
        }
      }
      if (!IcmpV4Only(r.protocol)) {
        lines.push_back(Join({fmt::format("{} @sg6_{}", peer6, Ident(r.group)), L4(r.protocol, r.from, r.to, true),
                              verdict, comment}));
      }
    }
    // Prefix lists have no members in kecs: such a rule matches nothing.
  }
  return lines;
}

// The lines of one ENI's chain for one direction, its groups' rules inline; allowed
// traffic returns (the instance filter's chains).
std::vector<std::string> EniRules(const EniPolicy& eni, const std::map<std::string, const SecurityGroupPolicy*>& groups,
                                  bool egress) {
  std::vector<std::string> lines;
  if (eni.unfiltered) {
    lines.push_back(fmt::format("return comment \"{} load balancer node without security groups\"", eni.id));
    return lines;
  }
  for (const auto& gid : eni.groups) {
    auto it = groups.find(gid);
    if (it == groups.end()) continue;
    for (auto& line : GroupRules(*it->second, egress, "return", eni.id + " ")) lines.push_back(std::move(line));
  }
  lines.push_back(fmt::format("drop comment \"{} {}\"", eni.id,
                              egress ? "egress not allowed by its groups" : "ingress not allowed by its groups"));
  return lines;
}

std::vector<std::string> AclRules(const SubnetPolicy& s, bool egress) {
  std::vector<NaclEntry> entries;
  for (const auto& e : s.entries) {
    if (e.egress == egress) entries.push_back(e);
  }
  std::sort(entries.begin(), entries.end(), [](const NaclEntry& a, const NaclEntry& b) { return a.number < b.number; });
  std::vector<std::string> lines;
  // Outbound entries match the destination; inbound, the source.
  const char* peer4 = egress ? "ip daddr" : "ip saddr";
  const char* peer6 = egress ? "ip6 daddr" : "ip6 saddr";
  for (const auto& e : entries) {
    // A deny is logged to the flow logs' NFLOG group (net/domain/flow_log.h) before it drops.
    const FlowDrop drop{egress ? FlowDrop::Kind::kAclOutbound : FlowDrop::Kind::kAclInbound, s.id};
    std::string verdict = e.allow ? "return" : FlowDropLog(drop) + " drop";
    std::string comment = fmt::format("comment \"{} {} rule {}\"", s.acl_id, s.id, e.number);
    int from = e.from, to = e.to;
    if (IcmpV4Only(e.protocol) || IcmpV6Only(e.protocol)) {
      from = e.icmp_type;
      to = e.icmp_code;
    }
    if (!e.cidr4.empty()) {
      std::string peer = e.cidr4 == "0.0.0.0/0" ? "meta nfproto ipv4" : fmt::format("{} {}", peer4, e.cidr4);
      if (!IcmpV6Only(e.protocol)) lines.push_back(Join({peer, L4(e.protocol, from, to, false), verdict, comment}));
    }
    if (!e.cidr6.empty()) {
      std::string peer = e.cidr6 == "::/0" ? "meta nfproto ipv6" : fmt::format("{} {}", peer6, e.cidr6);
      if (!IcmpV4Only(e.protocol)) lines.push_back(Join({peer, L4(e.protocol, from, to, true), verdict, comment}));
    }
  }
  lines.push_back(fmt::format("{} drop comment \"{} {} no rule matched\"",
                              FlowDropLog({egress ? FlowDrop::Kind::kAclOutbound : FlowDrop::Kind::kAclInbound, s.id}),
                              s.acl_id, s.id));
  return lines;
}

// Every IPv4 / IPv6 address of the interface: the primary, then the secondaries.
std::vector<std::string> Ipv4Of(const EniPolicy& e) {
  std::vector<std::string> out;
  if (!e.ip.empty()) out.push_back(e.ip);
  out.insert(out.end(), e.secondary_ips.begin(), e.secondary_ips.end());
  return out;
}

std::vector<std::string> Ipv6Of(const EniPolicy& e) {
  std::vector<std::string> out;
  if (!e.ipv6.empty()) out.push_back(e.ipv6);
  out.insert(out.end(), e.secondary_ipv6.begin(), e.secondary_ipv6.end());
  return out;
}

}  // namespace

namespace {

// The lenient host exemption: what arrives through the uplink is accepted, except packets
// from peered VPCs (they come through the uplink too, and the receiver's groups govern
// them as AWS's do).
std::string HostExemption(const VpcPolicy& p, const char* what) {
  if (p.peer_sources.empty()) {
    return fmt::format("    iifname \"{}\" accept comment \"kecs: {}\"\n", p.uplink, what);
  }
  return fmt::format("    iifname \"{0}\" meta nfproto ipv6 accept comment \"kecs: {1}\"\n"
                     "    iifname \"{0}\" ip saddr != {{ {2} }} accept comment \"kecs: {1}; not peered VPCs\"\n",
                     p.uplink, what, fmt::join(p.peer_sources, ", "));
}

}  // namespace

namespace {

// An ENI's chain for one direction: a jump to each of its groups' chains, then drop.
std::vector<std::string> EniDispatch(const EniPolicy& eni, const std::set<std::string>& known, bool egress) {
  std::vector<std::string> lines;
  if (eni.unfiltered) {
    lines.push_back(fmt::format("return comment \"{} load balancer node without security groups\"", eni.id));
    return lines;
  }
  for (const auto& gid : eni.groups) {
    if (!known.count(gid)) continue;
    lines.push_back(fmt::format("jump sg_{}_{} comment \"{} {}\"", Ident(gid), egress ? "out" : "in", eni.id, gid));
  }
  lines.push_back(fmt::format("{} drop comment \"{} {}\"",
                              FlowDropLog({egress ? FlowDrop::Kind::kEniEgress : FlowDrop::Kind::kEniIngress, eni.id}),
                              eni.id,
                              egress ? "egress not allowed by its groups" : "ingress not allowed by its groups"));
  return lines;
}

// The VPC's filter as named parts, so that two of them can be compared part by part.
struct Rendered {
  struct Set {
    std::string type;
    std::string comment;
    std::set<std::string> elements;
  };
  std::map<std::string, Set> sets;      // sets, and verdict maps (type "... : verdict")
  std::map<std::string, std::vector<std::string>> group_chains;  // jumped to from ENI chains
  std::map<std::string, std::vector<std::string>> other_chains;  // ENI and ACL chains
  std::vector<std::string> map_names;   // the verdict maps, in order
  std::string frame;                    // the base chains and what only they use
  std::string comment;
};

Rendered Render(const VpcPolicy& p) {
  Rendered r;
  r.comment = fmt::format("kecs: security groups and network ACLs of {}", p.vpc_id);
  std::set<std::string> known;
  for (const auto& g : p.groups) {
    known.insert(g.id);
    r.sets["sg4_" + Ident(g.id)] = {"ipv4_addr", g.id + " members", {}};
    r.sets["sg6_" + Ident(g.id)] = {"ipv6_addr", g.id + " members", {}};
    for (bool egress : {true, false}) {
      r.group_chains[fmt::format("sg_{}_{}", Ident(g.id), egress ? "out" : "in")] = GroupRules(g, egress);
    }
  }
  for (const auto& e : p.enis) {
    for (const auto& g : e.groups) {
      for (const auto& ip : Ipv4Of(e)) r.sets["sg4_" + Ident(g)].elements.insert(ip);
      for (const auto& ip : Ipv6Of(e)) r.sets["sg6_" + Ident(g)].elements.insert(ip);
      r.sets["sg4_" + Ident(g)].type = "ipv4_addr";
      r.sets["sg6_" + Ident(g)].type = "ipv6_addr";
      r.sets["sg4_" + Ident(g)].comment = g + " members";
      r.sets["sg6_" + Ident(g)].comment = g + " members";
    }
    for (bool egress : {true, false}) {
      r.other_chains[fmt::format("{}_{}", Ident(e.id), egress ? "out" : "in")] = EniDispatch(e, known, egress);
    }
  }
  for (const auto& sub : p.subnets) {
    for (bool egress : {true, false}) {
      r.other_chains[fmt::format("acl_{}_{}", Ident(sub.id), egress ? "out" : "in")] = AclRules(sub, egress);
    }
  }
  auto vmap = [&](const char* name, const char* type, bool v6, const char* dir) {
    auto& m = r.sets[name];
    m.type = fmt::format("{} : verdict", type);
    for (const auto& e : p.enis) {
      for (const auto& ip : v6 ? Ipv6Of(e) : Ipv4Of(e)) m.elements.insert(fmt::format("{} : jump {}_{}", ip, Ident(e.id), dir));
    }
    r.map_names.push_back(name);
  };
  vmap("egress4", "ipv4_addr", false, "out");
  vmap("ingress4", "ipv4_addr", false, "in");
  vmap("egress6", "ipv6_addr", true, "out");
  vmap("ingress6", "ipv6_addr", true, "in");
  std::string& s = r.frame;
  // A network load balancer's groups admit its clients: checked before the router's DNAT
  // (priority dstnat, -100) turns the node's address into a target's, after conntrack
  // (-200), on new flows only.
  std::vector<std::string> nlb_nodes;
  for (const auto& e : p.enis) {
    if (e.nlb_node && !e.ip.empty()) nlb_nodes.push_back(e.ip);
  }
  if (!nlb_nodes.empty()) {
    std::sort(nlb_nodes.begin(), nlb_nodes.end());
    s += "  set nlb_nodes4 {\n    type ipv4_addr\n    comment \"network load balancer nodes\"\n";
    s += "    elements = { " + fmt::format("{}", fmt::join(nlb_nodes, ", ")) + " }\n  }\n";
    s += "  chain prerouting {\n    type filter hook prerouting priority -150; policy accept;\n";
    if (p.host_exempt) {
      s += HostExemption(p, "the host reaches load balancer nodes (lenient mode)");
    }
    s += "    ct state new ip daddr @nlb_nodes4 ip daddr vmap @ingress4 comment \"kecs: a network load balancer's "
         "groups admit its clients\"\n";
    s += "  }\n";
  }
  // The sender's egress: a group rule's accept ends this chain only.
  s += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  for (const auto& sub : p.subnets) {
    if (sub.bridge.empty()) continue;
    s += fmt::format("    iifname \"{0}\" oifname != \"{0}\" jump acl_{1}_out comment \"{2} {3} outbound\"\n", sub.bridge,
                     Ident(sub.id), sub.acl_id, sub.id);
    s += fmt::format("    oifname \"{0}\" iifname != \"{0}\" jump acl_{1}_in comment \"{2} {3} inbound\"\n", sub.bridge,
                     Ident(sub.id), sub.acl_id, sub.id);
  }
  s += "    ct state established,related accept comment \"kecs: replies and related traffic\"\n";
  s += "    ct state invalid drop comment \"kecs: invalid\"\n";
  s += "    ip saddr vmap @egress4 comment \"kecs: the sender's egress rules\"\n";
  s += "    ip6 saddr vmap @egress6 comment \"kecs: the sender's egress rules\"\n";
  s += "  }\n";
  // Then the receiver's ingress, in a base chain of its own that every packet the first
  // let through meets.
  s += "  chain forward_ingress {\n    type filter hook forward priority 1; policy accept;\n";
  s += "    ct state established,related accept comment \"kecs: replies and related traffic\"\n";
  if (p.host_exempt) {
    s += HostExemption(p, "the host reaches tasks (lenient mode)");
  }
  s += "    ip daddr vmap @ingress4 comment \"kecs: the receiver's ingress rules\"\n";
  s += "    ip6 daddr vmap @ingress6 comment \"kecs: the receiver's ingress rules\"\n";
  s += "  }\n";
  return r;
}

std::string SetBody(const Rendered::Set& set, bool with_elements) {
  std::string s = fmt::format("{{\n    type {}\n", set.type);
  if (!set.comment.empty()) s += fmt::format("    comment \"{}\"\n", set.comment);
  if (with_elements && !set.elements.empty()) s += "    elements = { " + fmt::format("{}", fmt::join(set.elements, ", ")) + " }\n";
  s += "  }";
  return s;
}

std::string ChainText(const std::string& name, const std::vector<std::string>& lines) {
  std::string s = fmt::format("  chain {} {{\n", name);
  for (const auto& line : lines) s += "    " + line + "\n";
  s += "  }\n";
  return s;
}

bool IsMap(const Rendered::Set& s) { return s.type.find(" : verdict") != std::string::npos; }

}  // namespace

std::string BuildVpcFilter(const VpcPolicy& p) {
  Rendered r = Render(p);
  std::string s;
  // Create-then-delete empties any previous table; the new one follows, all in one transaction.
  s += "add table inet kecs_sg\n";
  s += "delete table inet kecs_sg\n";
  s += fmt::format("table inet kecs_sg {{\n  comment \"{}\"\n", r.comment);
  for (const auto& [name, set] : r.sets) {
    if (!IsMap(set)) s += fmt::format("  set {} {}\n", name, SetBody(set, true));
  }
  // Chains come before the maps that jump to them; groups' chains before the ENIs' ones.
  for (const auto& [name, lines] : r.group_chains) s += ChainText(name, lines);
  for (const auto& [name, lines] : r.other_chains) s += ChainText(name, lines);
  for (const auto& name : r.map_names) s += fmt::format("  map {} {}\n", name, SetBody(r.sets.at(name), true));
  s += r.frame;
  s += "}\n";
  return s;
}

std::string BuildVpcFilterUpdate(const VpcPolicy& before, const VpcPolicy& after) {
  Rendered a = Render(before), b = Render(after);
  if (a.frame != b.frame || a.comment != b.comment || a.map_names != b.map_names) return "";
  const std::string t = "inet kecs_sg";
  std::string add_sets, add_elems, chains, add_map_elems, del_map_elems, del_elems, del_chains, del_sets;
  for (const auto& [name, set] : b.sets) {
    auto it = a.sets.find(name);
    if (it != a.sets.end() && (it->second.type != set.type || it->second.comment != set.comment)) return "";
    std::vector<std::string> add, del;
    const std::set<std::string> none;
    const auto& old = it == a.sets.end() ? none : it->second.elements;
    std::set_difference(set.elements.begin(), set.elements.end(), old.begin(), old.end(), std::back_inserter(add));
    std::set_difference(old.begin(), old.end(), set.elements.begin(), set.elements.end(), std::back_inserter(del));
    if (it == a.sets.end()) add_sets += fmt::format("add set {} {} {}\n", t, name, SetBody(set, false));
    std::string& to_add = IsMap(set) ? add_map_elems : add_elems;
    std::string& to_del = IsMap(set) ? del_map_elems : del_elems;
    if (!add.empty()) to_add += fmt::format("add element {} {} {{ {} }}\n", t, name, fmt::join(add, ", "));
    if (!del.empty()) to_del += fmt::format("delete element {} {} {{ {} }}\n", t, name, fmt::join(del, ", "));
  }
  for (const auto& [name, set] : a.sets) {
    if (!b.sets.count(name)) del_sets += fmt::format("delete set {} {}\n", t, name);
  }
  // Chains: new ones made, changed ones flushed and refilled, gone ones emptied and then
  // deleted once nothing jumps to them. Groups' chains first: the ENIs' ones jump to them.
  auto diff_chains = [&](const std::map<std::string, std::vector<std::string>>& was,
                         const std::map<std::string, std::vector<std::string>>& now, std::string& deletes) {
    for (const auto& [name, lines] : now) {
      auto it = was.find(name);
      if (it != was.end() && it->second == lines) continue;
      chains += it == was.end() ? fmt::format("add chain {} {}\n", t, name) : fmt::format("flush chain {} {}\n", t, name);
      for (const auto& line : lines) chains += fmt::format("add rule {} {} {}\n", t, name, line);
    }
    for (const auto& [name, lines] : was) {
      if (now.count(name)) continue;
      chains += fmt::format("flush chain {} {}\n", t, name);
      deletes += fmt::format("delete chain {} {}\n", t, name);
    }
  };
  std::string del_group_chains;
  diff_chains(a.group_chains, b.group_chains, del_group_chains);
  diff_chains(a.other_chains, b.other_chains, del_chains);
  std::string script = add_sets + add_elems + chains + add_map_elems + del_map_elems + del_chains + del_group_chains +
                       del_elems + del_sets;
  return script;
}

std::string BuildInstanceFilter(const std::string& table, const std::string& bridge,
                                const SecurityGroupPolicy& group,
                                const std::map<std::string, std::vector<std::string>>& members) {
  std::map<std::string, const SecurityGroupPolicy*> groups{{group.id, &group}};
  EniPolicy instance{"instance", "", "", "", {group.id}};
  std::string s = fmt::format("add table inet {0}\ndelete table inet {0}\ntable inet {0} {{\n", table);
  s += fmt::format("  comment \"kecs: the container instance's security group {} for bridge-mode tasks\"\n", group.id);
  std::set<std::string> refs;
  for (const auto& r : group.rules) {
    if (!r.group.empty()) refs.insert(r.group);
  }
  for (const auto& g : refs) {
    std::vector<std::string> ips;
    if (auto it = members.find(g); it != members.end()) ips = it->second;
    std::sort(ips.begin(), ips.end());
    s += fmt::format("  set sg4_{} {{\n    type ipv4_addr\n", Ident(g));
    if (!ips.empty()) s += "    elements = { " + fmt::format("{}", fmt::join(ips, ", ")) + " }\n";
    s += "  }\n";
    s += fmt::format("  set sg6_{} {{\n    type ipv6_addr\n  }}\n", Ident(g));
  }
  for (bool egress : {true, false}) {
    s += fmt::format("  chain instance_{} {{\n", egress ? "out" : "in");
    for (const auto& line : EniRules(instance, groups, egress)) s += "    " + line + "\n";
    s += "  }\n";
  }
  s += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  s += "    ct state established,related accept comment \"kecs: replies and related traffic\"\n";
  s += fmt::format("    iifname \"{}\" jump instance_out comment \"{} egress of bridge-mode tasks\"\n", bridge, group.id);
  s += fmt::format("    oifname \"{}\" jump instance_in comment \"{} ingress of bridge-mode tasks\"\n", bridge, group.id);
  s += "  }\n}\n";
  return s;
}

VpcPolicy PolicyFromDocs(const std::string& vpc_id, const std::vector<Json>& enis,
                         const std::vector<Json>& groups, const std::vector<Json>& subnets,
                         const std::vector<Json>& acls) {
  VpcPolicy p;
  p.vpc_id = vpc_id;
  for (const auto& e : enis) {
    EniPolicy ep;
    ep.id = JStr(e, "NetworkInterfaceId");
    ep.ip = JStr(e, "PrivateIpAddress");
    ep.ipv6 = JStr(e, "Ipv6Address");
    ep.subnet_id = JStr(e, "SubnetId");
    for (const auto& g : e.value("Groups", Json::array())) ep.groups.push_back(JStr(g, "GroupId"));
    for (const auto& a : e.value("PrivateIpAddresses", Json::array())) {
      std::string ip = JStr(a, "PrivateIpAddress");
      if (!JBool(a, "Primary") && !ip.empty() && ip != ep.ip) ep.secondary_ips.push_back(ip);
    }
    for (const auto& a : e.value("Ipv6Addresses", Json::array())) {
      std::string ip = JStr(a, "Ipv6Address");
      if (!ip.empty() && ip != ep.ipv6) ep.secondary_ipv6.push_back(ip);
    }
    // A network load balancer made without security groups filters nothing itself; the
    // targets' groups decide (AWS's Network Load Balancers guide, "Security groups"): its
    // nodes' ENIs (requester amazon-elb, no groups) pass everything.
    ep.unfiltered = ep.groups.empty() && JStr(e, "RequesterId") == "amazon-elb";
    ep.nlb_node = JStr(e, "RequesterId") == "amazon-elb" && JStr(e, "Description").rfind("ELB net/", 0) == 0;
    if (!ep.ip.empty()) p.enis.push_back(ep);
  }
  std::sort(p.enis.begin(), p.enis.end(), [](const EniPolicy& a, const EniPolicy& b) { return a.id < b.id; });
  for (const auto& g : groups) {
    SecurityGroupPolicy gp;
    gp.id = JStr(g, "GroupId");
    for (const auto& r : g.value("kecs:rules", Json::array())) {
      SgRule sr;
      sr.id = JStr(r, "SecurityGroupRuleId");
      sr.egress = JBool(r, "IsEgress");
      sr.protocol = JStr(r, "IpProtocol", "-1");
      sr.from = static_cast<int>(JInt(r, "FromPort", -1));
      sr.to = static_cast<int>(JInt(r, "ToPort", -1));
      sr.cidr4 = JStr(r, "CidrIpv4");
      sr.cidr6 = JStr(r, "CidrIpv6");
      sr.prefix_list = JStr(r, "PrefixListId");
      if (const Json* ref = JGet(r, "ReferencedGroupInfo")) sr.group = JStr(*ref, "GroupId");
      gp.rules.push_back(sr);
    }
    p.groups.push_back(gp);
  }
  std::sort(p.groups.begin(), p.groups.end(),
            [](const SecurityGroupPolicy& a, const SecurityGroupPolicy& b) { return a.id < b.id; });
  for (const auto& sn : subnets) {
    SubnetPolicy sp;
    sp.id = JStr(sn, "SubnetId");
    for (const auto& acl : acls) {
      for (const auto& a : acl.value("Associations", Json::array())) {
        if (JStr(a, "SubnetId") != sp.id) continue;
        sp.acl_id = JStr(acl, "NetworkAclId");
        for (const auto& e : acl.value("Entries", Json::array())) {
          NaclEntry ne;
          ne.number = static_cast<int>(JInt(e, "RuleNumber"));
          ne.egress = JBool(e, "Egress");
          ne.protocol = JStr(e, "Protocol", "-1");
          if (const Json* pr = JGet(e, "PortRange")) {
            ne.from = static_cast<int>(JInt(*pr, "From", -1));
            ne.to = static_cast<int>(JInt(*pr, "To", -1));
          }
          if (const Json* ic = JGet(e, "IcmpTypeCode")) {
            ne.icmp_type = static_cast<int>(JInt(*ic, "Type", -1));
            ne.icmp_code = static_cast<int>(JInt(*ic, "Code", -1));
          }
          ne.cidr4 = JStr(e, "CidrBlock");
          ne.cidr6 = JStr(e, "Ipv6CidrBlock");
          ne.allow = JStr(e, "RuleAction") == "allow";
          sp.entries.push_back(ne);
        }
      }
    }
    p.subnets.push_back(sp);
  }
  std::sort(p.subnets.begin(), p.subnets.end(), [](const SubnetPolicy& a, const SubnetPolicy& b) { return a.id < b.id; });
  return p;
}

Result<VpcPolicy> ReadVpcPolicy(state::Tx& tx, const std::string& region, const std::string& vpc_id) {
  std::vector<Json> enis, groups, subnets, acls;
  ASSIGN_OR_RETURN(auto subnet_objs, tx.List({kSubnet, region, vpc_id}));
  for (const auto& s : subnet_objs) {
    subnets.push_back(s.doc);
    ASSIGN_OR_RETURN(auto in_subnet, tx.List({kEni, region, s.id}));
    for (const auto& e : in_subnet) enis.push_back(e.doc);
  }
  ASSIGN_OR_RETURN(auto group_objs, tx.List({kSecurityGroup, region, vpc_id}));
  for (const auto& g : group_objs) groups.push_back(g.doc);
  ASSIGN_OR_RETURN(auto acl_objs, tx.List({kNetworkAcl, region, vpc_id}));
  for (const auto& a : acl_objs) acls.push_back(a.doc);
  return PolicyFromDocs(vpc_id, enis, groups, subnets, acls);
}

}  // namespace kecs::net
