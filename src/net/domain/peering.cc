#include "net/domain/peering.h"

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "net/domain/ip.h"
#include "net/domain/vpc.h"

namespace kecs::net {
namespace {

// The intersection of two CIDR blocks: the smaller one when they overlap.
std::optional<std::string> Intersect(const std::string& a, const std::string& b) {
  auto x = Ipv4Cidr::Parse(a), y = Ipv4Cidr::Parse(b);
  if (!x || !y || !x->Overlaps(*y)) return std::nullopt;
  return (x->prefix >= y->prefix ? *x : *y).ToString();
}

}  // namespace

std::vector<PeeringPath> ComputePeeringPaths(const std::vector<ActivePeering>& peerings,
                                             const std::vector<SubnetPeeringRoutes>& subnets) {
  std::set<PeeringPath> out;
  for (const auto& p : peerings) {
    for (const auto& sa : subnets) {
      if (sa.vpc_id != p.vpc_a) continue;
      for (const auto& [to_b, via_a] : sa.routes) {
        if (via_a != p.id) continue;
        for (const auto& sb : subnets) {
          if (sb.vpc_id != p.vpc_b) continue;
          for (const auto& [to_a, via_b] : sb.routes) {
            if (via_b != p.id) continue;
            // From the part of A's subnet that B routes back, to the part of B's subnet
            // that A routes to.
            auto src = Intersect(sa.cidr, to_a), dst = Intersect(sb.cidr, to_b);
            if (!src || !dst) continue;
            out.insert({p.vpc_a, *src, p.vpc_b, *dst});
            out.insert({p.vpc_b, *dst, p.vpc_a, *src});
          }
        }
      }
    }
  }
  return {out.begin(), out.end()};
}

namespace {

Result<std::vector<SubnetPeeringRoutes>> SubnetsOf(state::Tx& tx, const std::string& region,
                                                   const std::string& vpc_id) {
  std::vector<SubnetPeeringRoutes> out;
  ASSIGN_OR_RETURN(auto subnets, tx.List({kSubnet, region, vpc_id}));
  for (const auto& s : subnets) {
    SubnetPeeringRoutes r{vpc_id, JStr(s.doc, "CidrBlock"), {}};
    ASSIGN_OR_RETURN(auto rtb, RouteTableOf(tx, region, s));
    if (rtb) {
      for (const auto& route : rtb->doc.value("Routes", Json::array())) {
        std::string pcx = JStr(route, "VpcPeeringConnectionId");
        std::string dest = JStr(route, "DestinationCidrBlock");
        if (!pcx.empty() && !dest.empty() && JStr(route, "State", "active") == "active") {
          r.routes.emplace_back(dest, pcx);
        }
      }
    }
    if (!r.cidr.empty()) out.push_back(std::move(r));
  }
  return out;
}

std::string VpcOf(const Json& doc, const char* side) {
  return JStr(doc.value(side, Json::object()), "VpcId");
}

bool IsActive(const state::Object& o) {
  return JStr(o.doc.value("Status", Json::object()), "Code") == "active";
}

}  // namespace

Result<std::vector<PeeringPath>> ReadPeeringPaths(state::Tx& tx) {
  state::Query q{kVpcPeering};
  q.any_region = true;
  ASSIGN_OR_RETURN(auto all, tx.List(q));
  std::vector<PeeringPath> out;
  for (const auto& o : all) {
    if (!IsActive(o)) continue;
    ActivePeering p{o.id, VpcOf(o.doc, "RequesterVpcInfo"), VpcOf(o.doc, "AccepterVpcInfo")};
    ASSIGN_OR_RETURN(auto a, SubnetsOf(tx, o.region, p.vpc_a));
    ASSIGN_OR_RETURN(auto b, SubnetsOf(tx, o.region, p.vpc_b));
    a.insert(a.end(), b.begin(), b.end());
    for (auto& path : ComputePeeringPaths({p}, a)) out.push_back(std::move(path));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<std::string>> PeerSources(state::Tx& tx, const std::string& region, const std::string& vpc_id) {
  std::set<std::string> out;
  ASSIGN_OR_RETURN(auto all, tx.List({kVpcPeering, region}));
  for (const auto& o : all) {
    if (!IsActive(o)) continue;
    std::string a = VpcOf(o.doc, "RequesterVpcInfo"), b = VpcOf(o.doc, "AccepterVpcInfo");
    std::string peer = a == vpc_id ? b : b == vpc_id ? a : "";
    if (peer.empty()) continue;
    ASSIGN_OR_RETURN(auto v, tx.Get(kVpc, region, peer));
    if (!v) continue;
    for (const auto& c : v->doc.value("CidrBlockAssociationSet", Json::array())) {
      if (!JStr(c, "CidrBlock").empty()) out.insert(JStr(c, "CidrBlock"));
    }
  }
  return std::vector<std::string>(out.begin(), out.end());
}

std::string BuildHostPeeringRules(const std::string& table, const std::vector<PeeringPath>& paths,
                                  const std::map<std::string, std::string>& links) {
  std::string s = fmt::format("add chain ip {0} peering\nflush chain ip {0} peering\n", table);
  for (const auto& p : paths) {
    auto in = links.find(p.src_vpc), out = links.find(p.dst_vpc);
    if (in == links.end() || out == links.end()) continue;
    s += fmt::format(
        "add rule ip {} peering iifname \"{}\" oifname \"{}\" ip saddr {} ip daddr {} accept "
        "comment \"kecs:peering {} -> {}\"\n",
        table, in->second, out->second, p.src_cidr, p.dst_cidr, p.src_vpc, p.dst_vpc);
  }
  return s;
}

std::string BuildRouterPeeringRules(const std::string& vpc_id, const std::vector<PeeringPath>& paths) {
  std::string s =
      "add chain ip kecs_router peering\nflush chain ip kecs_router peering\n"
      "add chain ip kecs_router peering_nat\nflush chain ip kecs_router peering_nat\n";
  for (const auto& p : paths) {
    if (p.src_vpc != vpc_id) continue;
    for (const char* chain : {"peering", "peering_nat"}) {
      s += fmt::format(
          "add rule ip kecs_router {} oifname \"up0\" ip saddr {} ip daddr {} accept "
          "comment \"kecs:peering -> {}\"\n",
          chain, p.src_cidr, p.dst_cidr, p.dst_vpc);
    }
  }
  return s;
}

}  // namespace kecs::net
