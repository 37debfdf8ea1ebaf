// Load balancers: CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer,
// DescribeLoadBalancerAttributes, ModifyLoadBalancerAttributes, SetSecurityGroups,
// SetSubnets, SetIpAddressType. RegisterLoadBalancerOps also registers the operations of
// target_groups.cc, targets.cc, tags.cc and limits.cc.
//
// Each subnet of a load balancer holds one node: an ENI kecs creates in the same
// transaction (requester-managed, "ELB app/<name>/<id>"), so the VPC's addressing and
// security-group policy treat it like any other interface. The load balancer controller
// makes the nodes real and moves State from provisioning to active.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/elbv2/common.h"
#include "api/elbv2/elbv2_api.h"
#include "api/pagination.h"
#include "net/domain/ip.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {
namespace {

using model::LbType;
using model::LoadBalancer;

// AWS's canonical hosted zone ids per region (the "Elastic Load Balancing endpoints and
// quotas" table of the AWS General Reference, as terraform-provider-aws's
// aws_lb_hosted_zone_id data source carries it): Application (and Classic) load balancers
// first, Network load balancers second.
struct HostedZones {
  const char* region;
  const char* application;
  const char* network;
};
constexpr HostedZones kHostedZones[] = {
    {"us-east-1", "Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"},      {"us-east-2", "Z3AADJGX6KTTL2", "ZLMOA37VPKANP"},
    {"us-west-1", "Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"},      {"us-west-2", "Z1H1FL5HABSF5", "Z18D5FSROUN65G"},
    {"ca-central-1", "ZQSVJUPU6J1EY", "Z2EPGBW3API2WT"},    {"eu-central-1", "Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"},
    {"eu-west-1", "Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"},      {"eu-west-2", "ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"},
    {"eu-west-3", "Z3Q77PNBQS71R4", "Z1CMS0P5QUZ6D5"},      {"eu-north-1", "Z23TAZ6LKFMNIO", "Z1UDT6IFJ4EJM"},
    {"eu-south-1", "Z3ULH7SSC9OV64", "Z23146JA1KNAFP"},     {"ap-northeast-1", "Z14GRHDCWA56QT", "Z31USIVHYNEOWT"},
    {"ap-northeast-2", "ZWKZPGTI48KDX", "ZIBE1TIR4HY56"},   {"ap-northeast-3", "Z5LXEXXYW11ES", "Z1GWIQ4HH19I5X"},
    {"ap-southeast-1", "Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"},   {"ap-southeast-2", "Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"},
    {"ap-south-1", "ZP97RAFLXTNZK", "ZVDDRBQ08TROA"},       {"me-south-1", "ZS929ML54UICD", "Z3QSRYVP46NYYV"},
    {"sa-east-1", "Z2P70J7HTTTPLU", "ZTK26PT1VY4CU"},
};

std::string CanonicalHostedZoneId(const std::string& region, LbType type) {
  for (const auto& z : kHostedZones) {
    if (region == z.region) return type == LbType::kNetwork ? z.network : z.application;
  }
  // A region the table does not know (kecs accepts any valid region name): us-east-1's.
  return type == LbType::kNetwork ? kHostedZones[0].network : kHostedZones[0].application;
}

// AWS's DNS names: an Application load balancer's is "<name>-<number>.<region>.elb.
// amazonaws.com" ("internal-" before it when internal); a Network load balancer's is
// "<name>-<id>.elb.<region>.amazonaws.com", the id being the ARN's last part.
std::string DnsName(const LoadBalancer& lb) {
  if (lb.type == LbType::kNetwork) return fmt::format("{}-{}.elb.{}.amazonaws.com", lb.name, lb.id, lb.region);
  uint64_t n = std::stoull(lb.id.substr(0, 8), nullptr, 16) % 9000000000ULL + 1000000000ULL;  // ten digits
  return fmt::format("{}{}-{}.{}.elb.amazonaws.com", lb.scheme == model::LbScheme::kInternal ? "internal-" : "",
                     lb.name, n, lb.region);
}

// LoadBalancerName: 1-32 alphanumerics and hyphens, no hyphen first or last, not starting
// "internal-". The wording follows AWS's for target group names (moto's elbv2 models);
// no source was found for the load balancer's own text.
void CheckName(const std::string& name) {
  if (name.size() > 32) {
    throw ValidationError(fmt::format("Load balancer name '{}' cannot be longer than '32' characters", name));
  }
  if (!std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; })) {
    throw ValidationError(fmt::format(
        "Load balancer name '{}' can only contain characters that are alphanumeric characters or hyphens(-)", name));
  }
  if (name.front() == '-' || name.back() == '-') {
    throw ValidationError(fmt::format("Load balancer name '{}' cannot begin or end with '-'", name));
  }
  if (name.rfind("internal-", 0) == 0) {
    throw ValidationError(fmt::format("Load balancer name '{}' cannot begin with 'internal-'", name));
  }
}

// One requested subnet (Subnets, or SubnetMappings with an optional private address).
struct SubnetRequest {
  std::string subnet_id;
  std::optional<std::string> private_ip;
};

std::vector<SubnetRequest> RequestedSubnets(const Json& in) {
  std::vector<SubnetRequest> out;
  const bool mappings = JGet(in, "SubnetMappings") != nullptr;
  if (mappings && JGet(in, "Subnets")) {
    // No source for AWS's text; kecs's wording.
    throw ValidationError("You can specify subnets or subnet mappings, not both");
  }
  if (mappings) {
    for (const Json& m : in["SubnetMappings"]) {
      out.push_back({JStr(m, "SubnetId"), JOptStr(m, "PrivateIPv4Address")});
      if (JGet(m, "AllocationId")) {
        throw ElbError("AllocationIdNotFound", fmt::format("Allocation ID '{}' not found", JStr(m, "AllocationId")));
      }
    }
  } else {
    for (const auto& s : StringList(in, "Subnets")) out.push_back({s, std::nullopt});
  }
  return out;
}

// The subnets, validated as AWS does: each exists, all in one VPC, one per zone, at least
// two zones for an Application load balancer.
std::vector<state::Object> ResolveSubnets(state::Tx& tx, const std::string& region, LbType type,
                                          const std::vector<SubnetRequest>& req) {
  if (req.empty()) {
    if (type == LbType::kApplication) {
      throw ValidationError("At least two subnets in two different Availability Zones must be specified");
    }
    // No source for AWS's text; kecs's wording.
    throw ValidationError("At least one subnet must be specified");
  }
  std::vector<state::Object> out;
  std::set<std::string> zones;
  for (const auto& r : req) {
    auto sn = Check(tx.Get(net::kSubnet, region, r.subnet_id));
    // AWS's text (observed: "The subnet ID 'subnet-...' is not valid").
    if (!sn) throw ElbError("SubnetNotFound", fmt::format("The subnet ID '{}' is not valid", r.subnet_id));
    if (JStr(sn->doc, "CidrBlock").empty()) {
      // An IPv6-only subnet; no source for AWS's text, kecs's wording.
      throw ElbError("InvalidSubnet", fmt::format("Subnet '{}' has no IPv4 CIDR block", r.subnet_id));
    }
    if (!out.empty() && JStr(sn->doc, "VpcId") != JStr(out.front().doc, "VpcId")) {
      // No source for AWS's text; kecs's wording.
      throw ElbError("InvalidConfigurationRequest", "All subnets must belong to the same VPC");
    }
    if (!zones.insert(JStr(sn->doc, "AvailabilityZone")).second) {
      throw ElbError("InvalidConfigurationRequest",
                     "A load balancer cannot be attached to multiple subnets in the same Availability Zone");
    }
    out.push_back(std::move(*sn));
  }
  if (type == LbType::kApplication && zones.size() < 2) {
    throw ValidationError("At least two subnets in two different Availability Zones must be specified");
  }
  return out;
}

// Security groups: each must exist in the load balancer's VPC (InvalidSecurityGroup).
std::vector<std::string> ResolveSecurityGroups(state::Tx& tx, const std::string& region, const std::string& vpc_id,
                                               const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    auto sg = Check(tx.Get(net::kSecurityGroup, region, id));
    if (!sg || JStr(sg->doc, "VpcId") != vpc_id) {
      throw ElbError("InvalidSecurityGroup", fmt::format("Security group '{}' does not exist", id));
    }
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

bool VpcHasInternetGateway(state::Tx& tx, const std::string& region, const std::string& vpc_id) {
  for (const auto& igw : Check(tx.List({net::kInternetGateway, region}))) {
    for (const auto& a : igw.doc.value("Attachments", Json::array())) {
      if (JStr(a, "VpcId") == vpc_id) return true;
    }
  }
  return false;
}

std::string EniDescription(const LoadBalancer& lb) {
  return fmt::format("ELB {}/{}/{}", model::ArnTypeWord(lb.type), lb.name, lb.id);
}

// Creates the node of each subnet (its ENI) and returns them in subnet order.
std::vector<model::LbNode> CreateNodes(state::Tx& tx, const RequestContext& ctx, const LoadBalancer& lb,
                                       const std::vector<state::Object>& subnets,
                                       const std::vector<SubnetRequest>& req) {
  std::vector<model::LbNode> nodes;
  net::Scope scope{ctx.region, ctx.account_id, ctx.now};
  for (size_t i = 0; i < subnets.size(); ++i) {
    const state::Object& sn = subnets[i];
    net::EniSpec spec;
    spec.subnet = &sn;
    spec.groups = lb.security_groups;
    spec.description = EniDescription(lb);
    spec.interface_type = "interface";
    spec.requester_managed = true;
    spec.requester_id = "amazon-elb";
    spec.attached = true;  // AWS lists a load balancer's ENIs in-use, attached to the ELB
    spec.attachment_owner = "amazon-elb";
    spec.ipv6 = lb.ip_address_type != "ipv4" && !sn.doc.value("Ipv6CidrBlockAssociationSet", Json::array()).empty();
    if (i < req.size() && req[i].private_ip) {
      auto ip = net::ParseIpv4(*req[i].private_ip);
      auto cidr = net::Ipv4Cidr::Parse(JStr(sn.doc, "CidrBlock"));
      if (!ip || !cidr || !cidr->Contains(*ip) || cidr->Reserved(*ip)) {
        // No source for AWS's text; kecs's wording.
        throw ElbError("InvalidConfigurationRequest",
                       fmt::format("The private IPv4 address '{}' is not a usable address of subnet '{}'",
                                   *req[i].private_ip, sn.id));
      }
      spec.private_ip = *ip;
    }
    auto eni = net::CreateEni(tx, scope, spec);
    if (eni.status().code() == Code::kResourceExhausted) {
      // AWS's text (observed in CreateLoadBalancer failures on full subnets).
      throw ElbError("InvalidSubnet", fmt::format("Not enough IP space available in {}. ELB requires at least 8 "
                                                  "free IP addresses in each subnet.",
                                                  sn.id));
    }
    if (eni.status().code() == Code::kAlreadyExists) {
      throw ElbError("InvalidConfigurationRequest",
                     fmt::format("The private IPv4 address '{}' is already in use", *req[i].private_ip));
    }
    state::Object e = Check(std::move(eni));
    model::LbNode n;
    n.zone = JStr(sn.doc, "AvailabilityZone");
    n.zone_id = JStr(sn.doc, "AvailabilityZoneId");
    n.subnet_id = sn.id;
    n.eni_id = e.id;
    n.ip = JStr(e.doc, "PrivateIpAddress");
    n.ipv6 = JStr(e.doc, "Ipv6Address");
    nodes.push_back(std::move(n));
  }
  return nodes;
}

void DeleteNodes(state::Tx& tx, const LoadBalancer& lb) {
  for (const auto& n : lb.nodes) {
    if (!n.eni_id.empty()) Check(net::DeleteEni(tx, lb.region, n.eni_id));
  }
}

std::vector<std::string> SubnetIds(const std::vector<model::LbNode>& nodes) {
  std::vector<std::string> out;
  for (const auto& n : nodes) out.push_back(n.subnet_id);
  std::sort(out.begin(), out.end());
  return out;
}

std::string IpAddressType(const Json& in, LbType type) {
  std::string t = JStr(in, "IpAddressType", "ipv4");
  if (t == "dualstack-without-public-ipv4" && type != LbType::kApplication) {
    throw ValidationError("IP address type 'dualstack-without-public-ipv4' is only supported by Application Load Balancers");
  }
  return t;
}

// A dual-stack load balancer needs an IPv6 CIDR block in each of its subnets.
void CheckIpv6Subnets(const std::vector<state::Object>& subnets) {
  for (const auto& sn : subnets) {
    if (sn.doc.value("Ipv6CidrBlockAssociationSet", Json::array()).empty()) {
      // No source for AWS's text; kecs's wording.
      throw ElbError("InvalidSubnet", fmt::format("Subnet '{}' has no IPv6 CIDR block", sn.id));
    }
  }
}

Json Show(const LbDeps& d, const LoadBalancer& lb) { return state::records::LoadBalancerToAws(lb, d.options.host_address); }

Json CreateLoadBalancer(const LbDeps& d, RequestContext& ctx, const Json& in) {
  std::string name = JStr(in, "Name");
  CheckName(name);
  auto type = model::ParseLbType(JStr(in, "Type", "application"));
  if (!type) throw ValidationError("Invalid load balancer type");
  if (*type == LbType::kGateway) {
    // kecs has no GENEVE data plane.
    throw ElbError("InvalidConfigurationRequest", "kecs does not support Gateway Load Balancers");
  }
  auto scheme = model::ParseLbScheme(JStr(in, "Scheme", "internet-facing"));
  if (!scheme) throw ValidationError("Invalid scheme");
  std::string ip_type = IpAddressType(in, *type);
  auto requested = RequestedSubnets(in);
  model::KeyValues tags = RequestTags(in, "load balancer");
  Check(d.regions.Ensure(d.store, ctx.region, ctx.account_id, ctx.now));

  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    auto subnets = ResolveSubnets(tx, ctx.region, *type, requested);
    std::string vpc_id = JStr(subnets.front().doc, "VpcId");
    if (ip_type != "ipv4") CheckIpv6Subnets(subnets);
    std::vector<std::string> groups;
    if (JGet(in, "SecurityGroups")) {
      groups = ResolveSecurityGroups(tx, ctx.region, vpc_id, StringList(in, "SecurityGroups"));
    } else if (*type == LbType::kApplication) {
      // AWS gives an Application load balancer its VPC's default group when none is named.
      if (auto sg = Check(net::DefaultSecurityGroup(tx, ctx.region, vpc_id))) groups.push_back(sg->id);
    }
    if (*scheme == model::LbScheme::kInternetFacing && !VpcHasInternetGateway(tx, ctx.region, vpc_id)) {
      // AWS's text (observed: "VPC vpc-... has no internet gateway").
      throw ElbError("InvalidSubnet", fmt::format("VPC {} has no internet gateway", vpc_id));
    }

    state::Query q{model::kLoadBalancer, ctx.region};
    q.name = name;
    auto existing = Check(tx.List(q));
    if (!existing.empty()) {
      // The same request again returns the load balancer it made (AWS is idempotent here).
      LoadBalancer old = Check(state::records::DecodeLoadBalancer(existing.front()));
      std::vector<std::string> want;
      for (const auto& s : subnets) want.push_back(s.id);
      std::sort(want.begin(), want.end());
      auto sorted_groups = groups, old_groups = old.security_groups;
      std::sort(sorted_groups.begin(), sorted_groups.end());
      std::sort(old_groups.begin(), old_groups.end());
      if (old.type == *type && old.scheme == *scheme && SubnetIds(old.nodes) == want && sorted_groups == old_groups &&
          old.ip_address_type == ip_type) {
        out = {{"LoadBalancers", Json::array({Show(d, old)})}};
        return Status::Ok();
      }
      // AWS's text (as quoted in user reports of DuplicateLoadBalancerName).
      throw ElbError("DuplicateLoadBalancerName",
                     fmt::format("A load balancer with the same name '{}' exists, but with different settings", name));
    }
    // AWS's default quota (DescribeAccountLimits): 50 of each type per region.
    int64_t count = 0;
    for (const auto& lb : Check(state::records::ListLoadBalancers(tx, ctx.region))) count += lb.type == *type;
    if (count >= 50) {
      throw ElbError("TooManyLoadBalancers", "The quota for the number of load balancers has been reached");
    }

    LoadBalancer lb;
    lb.region = ctx.region;
    lb.id = model::NewElbId();
    lb.name = name;
    lb.type = *type;
    lb.scheme = *scheme;
    lb.arn = model::LoadBalancerArn(ctx.region, ctx.account_id, *type, name, lb.id);
    lb.dns_name = DnsName(lb);
    lb.canonical_hosted_zone_id = CanonicalHostedZoneId(ctx.region, *type);
    lb.created_time = ctx.now;
    lb.vpc_id = vpc_id;
    lb.state = model::LbState::kProvisioning;
    lb.security_groups = groups;
    lb.ip_address_type = ip_type;
    lb.attributes = model::DefaultLoadBalancerAttributes(*type);
    lb.tags = tags;
    lb.nodes = CreateNodes(tx, ctx, lb, subnets, requested);
    Check(state::records::PutLoadBalancer(tx, lb));
    out = {{"LoadBalancers", Json::array({Show(d, lb)})}};
    return Status::Ok();
  }));
  return out;
}

Json DescribeLoadBalancers(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto arns = StringList(in, "LoadBalancerArns");
  auto names = StringList(in, "Names");
  if (!arns.empty() && !names.empty()) {
    // No source for AWS's text; kecs's wording.
    throw ValidationError("Load balancer names and load balancer ARNs cannot be specified at the same time");
  }
  Json out = Json::object();
  Check(d.store.Read([&](state::Tx& tx) {
    std::vector<LoadBalancer> lbs;
    if (!arns.empty()) {
      for (const auto& arn : arns) lbs.push_back(RequireLoadBalancer(tx, ctx.region, arn));
    } else {
      auto all = Check(state::records::ListLoadBalancers(tx, ctx.region));
      if (names.empty()) {
        lbs = std::move(all);
      } else {
        lbs = PickByName(all, names, "LoadBalancerNotFound", "Load balancers");
      }
    }
    PageRecords(std::move(lbs), in, out, "LoadBalancers", [&](const LoadBalancer& lb) { return Show(d, lb); });
    return Status::Ok();
  }));
  return out;
}

Json DeleteLoadBalancer(const LbDeps& d, RequestContext& ctx, const Json& in) {
  std::string arn = JStr(in, "LoadBalancerArn");
  std::string id = model::IdFromArn(arn, "loadbalancer");
  if (id.empty()) throw ValidationError("'" + arn + "' is not a valid load balancer ARN");
  Check(d.store.Write([&](state::Tx& tx) {
    auto lb = Check(state::records::GetLoadBalancer(tx, ctx.region, id));
    if (!lb || lb->arn != arn) return Status::Ok();  // AWS: deleting a missing one succeeds
    if (const std::string* p = model::FindValue(lb->attributes, "deletion_protection.enabled"); p && *p == "true") {
      // AWS's text (as quoted by clients that match on it).
      throw ElbError("OperationNotPermitted",
                     fmt::format("Load balancer '{}' cannot be deleted because deletion protection is enabled", arn));
    }
    for (const auto& l : Check(state::records::ListListeners(tx, ctx.region, lb->id))) {
      for (const auto& r : Check(state::records::ListRules(tx, ctx.region, l.id))) {
        Check(tx.Delete(model::kRule, ctx.region, r.id));
      }
      Check(tx.Delete(model::kListener, ctx.region, l.id));
    }
    DeleteNodes(tx, *lb);
    Check(tx.Delete(model::kLoadBalancer, ctx.region, lb->id));
    return Status::Ok();
  }));
  return Json::object();
}

Json DescribeLoadBalancerAttributes(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Json out;
  Check(d.store.Read([&](state::Tx& tx) {
    LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, JStr(in, "LoadBalancerArn"));
    out = {{"Attributes", state::records::KeyValuesToAws(lb.attributes)}};
    return Status::Ok();
  }));
  return out;
}

Json ModifyLoadBalancerAttributes(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, JStr(in, "LoadBalancerArn"));
    lb.attributes = ApplyAttributes(model::DefaultLoadBalancerAttributes(lb.type), lb.attributes, in, "Load balancer");
    Check(state::records::PutLoadBalancer(tx, lb));
    out = {{"Attributes", state::records::KeyValuesToAws(lb.attributes)}};
    return Status::Ok();
  }));
  return out;
}

// Applies new security groups to the load balancer and to its nodes' ENIs.
void SetNodeGroups(state::Tx& tx, const LoadBalancer& lb) {
  Json groups = Json::array();
  for (const auto& id : lb.security_groups) {
    auto sg = Check(tx.Get(net::kSecurityGroup, lb.region, id));
    groups.push_back({{"GroupId", id}, {"GroupName", sg ? JStr(sg->doc, "GroupName") : ""}});
  }
  for (const auto& n : lb.nodes) {
    auto eni = Check(tx.Get(net::kEni, lb.region, n.eni_id));
    if (!eni) continue;
    eni->doc["Groups"] = groups;
    Check(tx.Put(*eni));
  }
}

Json SetSecurityGroups(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, JStr(in, "LoadBalancerArn"));
    auto groups = ResolveSecurityGroups(tx, ctx.region, lb.vpc_id, StringList(in, "SecurityGroups"));
    if (lb.type == LbType::kNetwork && lb.security_groups.empty() && !groups.empty()) {
      // AWS: a Network load balancer created without security groups cannot get any.
      throw ElbError("InvalidConfigurationRequest",
                     "You cannot set security groups on a Network Load Balancer which was created without any "
                     "security groups.");
    }
    if (lb.type == LbType::kApplication && groups.empty()) {
      throw ValidationError("At least one security group must be specified");
    }
    lb.security_groups = groups;
    SetNodeGroups(tx, lb);
    Check(state::records::PutLoadBalancer(tx, lb));
    Json ids = Json::array();
    for (const auto& g : groups) ids.push_back(g);
    out = {{"SecurityGroupIds", ids}};
    return Status::Ok();
  }));
  return out;
}

Json ZonesOf(const LbDeps& d, const LoadBalancer& lb) { return Show(d, lb)["AvailabilityZones"]; }

Json SetSubnets(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto requested = RequestedSubnets(in);
  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, JStr(in, "LoadBalancerArn"));
    if (JGet(in, "IpAddressType")) lb.ip_address_type = IpAddressType(in, lb.type);
    auto subnets = ResolveSubnets(tx, ctx.region, lb.type, requested);
    if (lb.ip_address_type != "ipv4") CheckIpv6Subnets(subnets);
    if (JStr(subnets.front().doc, "VpcId") != lb.vpc_id) {
      throw ElbError("InvalidConfigurationRequest", "All subnets must belong to the load balancer's VPC");
    }
    // Keep the node of each subnet that stays; create nodes for new subnets; delete the rest.
    std::vector<model::LbNode> nodes;
    std::vector<state::Object> fresh;
    std::vector<SubnetRequest> fresh_req;
    for (size_t i = 0; i < subnets.size(); ++i) {
      auto it = std::find_if(lb.nodes.begin(), lb.nodes.end(),
                             [&](const model::LbNode& n) { return n.subnet_id == subnets[i].id; });
      if (it != lb.nodes.end()) continue;
      fresh.push_back(subnets[i]);
      fresh_req.push_back(requested[i]);
    }
    auto created = CreateNodes(tx, ctx, lb, fresh, fresh_req);
    for (const auto& sn : subnets) {
      auto old = std::find_if(lb.nodes.begin(), lb.nodes.end(), [&](const model::LbNode& n) { return n.subnet_id == sn.id; });
      if (old != lb.nodes.end()) {
        nodes.push_back(*old);
      } else {
        auto c = std::find_if(created.begin(), created.end(), [&](const model::LbNode& n) { return n.subnet_id == sn.id; });
        nodes.push_back(*c);
      }
    }
    for (const auto& n : lb.nodes) {
      if (std::none_of(nodes.begin(), nodes.end(), [&](const model::LbNode& k) { return k.subnet_id == n.subnet_id; })) {
        Check(net::DeleteEni(tx, ctx.region, n.eni_id));
      }
    }
    lb.nodes = std::move(nodes);
    Check(state::records::PutLoadBalancer(tx, lb));
    out = {{"AvailabilityZones", ZonesOf(d, lb)}, {"IpAddressType", lb.ip_address_type}};
    return Status::Ok();
  }));
  return out;
}

Json SetIpAddressType(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, JStr(in, "LoadBalancerArn"));
    std::string t = IpAddressType(in, lb.type);
    if (t != "ipv4") {
      std::vector<state::Object> subnets;
      for (const auto& n : lb.nodes) {
        if (auto sn = Check(tx.Get(net::kSubnet, ctx.region, n.subnet_id))) subnets.push_back(std::move(*sn));
      }
      CheckIpv6Subnets(subnets);
    }
    lb.ip_address_type = t;
    Check(state::records::PutLoadBalancer(tx, lb));
    out = {{"IpAddressType", t}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace

void Elbv2Api::RegisterLoadBalancerOps(Service& service) {
  LbDeps d{store_, regions_, options_};
  auto reg = [&](const char* op, LbHandler fn) { RegisterOp(service, d, op, fn); };
  reg("CreateLoadBalancer", &CreateLoadBalancer);
  reg("DescribeLoadBalancers", &DescribeLoadBalancers);
  reg("DeleteLoadBalancer", &DeleteLoadBalancer);
  reg("DescribeLoadBalancerAttributes", &DescribeLoadBalancerAttributes);
  reg("ModifyLoadBalancerAttributes", &ModifyLoadBalancerAttributes);
  reg("SetSecurityGroups", &SetSecurityGroups);
  reg("SetSubnets", &SetSubnets);
  reg("SetIpAddressType", &SetIpAddressType);
  RegisterTargetGroupOps(service, d);
  RegisterTargetOps(service, d);
  RegisterTagOps(service, d);
  RegisterLimitOps(service);
}

}  // namespace kecs::api::elbv2
