#include "net/domain/vpc.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/ids.h"
#include "net/domain/ipam.h"

namespace kecs::net {
namespace {

std::string Arn(const Scope& s, const std::string& type, const std::string& id) {
  return fmt::format("arn:aws:ec2:{}:{}:{}/{}", s.region, s.account, type, id);
}

Status PutNew(state::Tx& tx, const std::string& kind, const Scope& s, const std::string& id,
              const std::string& parent, const std::string& name, const Json& doc) {
  return tx.Insert({kind, s.region, id, parent, name, "", 0, doc});
}

Json Rule(const Scope& s, const std::string& group_id, bool egress, const std::string& proto) {
  return {{"SecurityGroupRuleId", Ec2Id("sgr")},
          {"GroupId", group_id},
          {"GroupOwnerId", s.account},
          {"IsEgress", egress},
          {"IpProtocol", proto},
          {"FromPort", -1},
          {"ToPort", -1},
          {"Tags", Json::array()}};
}

Json AclEntry(int number, bool egress, const std::string& action) {
  return {{"CidrBlock", "0.0.0.0/0"}, {"Egress", egress}, {"Protocol", "-1"},
          {"RuleAction", action}, {"RuleNumber", number}};
}

}  // namespace

std::vector<Zone> Zones(const std::string& region) {
  static const std::map<std::string, std::vector<Zone>> kZones = {
      {"us-east-1", {{"us-east-1a", "use1-az6"}, {"us-east-1b", "use1-az1"}, {"us-east-1c", "use1-az2"},
                     {"us-east-1d", "use1-az4"}, {"us-east-1e", "use1-az3"}, {"us-east-1f", "use1-az5"}}},
      {"us-east-2", {{"us-east-2a", "use2-az1"}, {"us-east-2b", "use2-az2"}, {"us-east-2c", "use2-az3"}}},
      {"us-west-1", {{"us-west-1a", "usw1-az3"}, {"us-west-1b", "usw1-az1"}}},
      {"us-west-2", {{"us-west-2a", "usw2-az2"}, {"us-west-2b", "usw2-az1"}, {"us-west-2c", "usw2-az3"},
                     {"us-west-2d", "usw2-az4"}}},
      {"eu-west-1", {{"eu-west-1a", "euw1-az3"}, {"eu-west-1b", "euw1-az1"}, {"eu-west-1c", "euw1-az2"}}},
      {"eu-west-2", {{"eu-west-2a", "euw2-az2"}, {"eu-west-2b", "euw2-az3"}, {"eu-west-2c", "euw2-az1"}}},
      {"eu-central-1", {{"eu-central-1a", "euc1-az2"}, {"eu-central-1b", "euc1-az3"}, {"eu-central-1c", "euc1-az1"}}},
      {"ap-northeast-1", {{"ap-northeast-1a", "apne1-az4"}, {"ap-northeast-1c", "apne1-az1"}, {"ap-northeast-1d", "apne1-az2"}}},
      {"ap-southeast-1", {{"ap-southeast-1a", "apse1-az1"}, {"ap-southeast-1b", "apse1-az2"}, {"ap-southeast-1c", "apse1-az3"}}},
      {"ap-southeast-2", {{"ap-southeast-2a", "apse2-az1"}, {"ap-southeast-2b", "apse2-az3"}, {"ap-southeast-2c", "apse2-az2"}}},
  };
  auto it = kZones.find(region);
  if (it != kZones.end()) return it->second;
  // Any other region: zones a-c, with ids from the region's initials ("eu-west-3" ->
  // "euw3-az1").
  std::string abbrev;
  size_t dash1 = region.find('-'), dash2 = region.rfind('-');
  if (dash1 != std::string::npos && dash2 != std::string::npos && dash2 > dash1) {
    abbrev = region.substr(0, dash1) + region.substr(dash1 + 1, 1) + region.substr(dash2 + 1);
  } else {
    abbrev = region;
  }
  std::vector<Zone> out;
  for (int i = 0; i < 3; ++i) {
    out.push_back({region + static_cast<char>('a' + i), fmt::format("{}-az{}", abbrev, i + 1)});
  }
  return out;
}

std::optional<Zone> FindZone(const std::string& region, const std::string& name_or_id) {
  for (const auto& z : Zones(region)) {
    if (z.name == name_or_id || z.id == name_or_id) return z;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> Regions() {
  return {{"us-east-1", "opt-in-not-required"},      {"us-east-2", "opt-in-not-required"},
          {"us-west-1", "opt-in-not-required"},      {"us-west-2", "opt-in-not-required"},
          {"ca-central-1", "opt-in-not-required"},   {"sa-east-1", "opt-in-not-required"},
          {"eu-west-1", "opt-in-not-required"},      {"eu-west-2", "opt-in-not-required"},
          {"eu-west-3", "opt-in-not-required"},      {"eu-central-1", "opt-in-not-required"},
          {"eu-north-1", "opt-in-not-required"},     {"ap-south-1", "opt-in-not-required"},
          {"ap-northeast-1", "opt-in-not-required"}, {"ap-northeast-2", "opt-in-not-required"},
          {"ap-northeast-3", "opt-in-not-required"}, {"ap-southeast-1", "opt-in-not-required"},
          {"ap-southeast-2", "opt-in-not-required"}};
}

Json TagsOrEmpty(const Json& tags) { return tags.is_array() ? tags : Json::array(); }

Result<state::Object> CreateVpc(state::Tx& tx, const Scope& s, const Ipv4Cidr& cidr,
                                bool is_default, const Json& tags, const std::string& tenancy,
                                bool amazon_ipv6) {
  std::string id = Ec2Id("vpc");
  Json doc = {
      {"OwnerId", s.account},
      {"InstanceTenancy", tenancy.empty() ? "default" : tenancy},
      {"Ipv6CidrBlockAssociationSet", Json::array()},
      {"CidrBlockAssociationSet", Json::array({{{"AssociationId", Ec2Id("vpc-cidr-assoc")},
                                                {"CidrBlock", cidr.ToString()},
                                                {"CidrBlockState", {{"State", "associated"}}}}})},
      {"IsDefault", is_default},
      {"Tags", TagsOrEmpty(tags)},
      {"VpcId", id},
      {"State", "available"},
      {"CidrBlock", cidr.ToString()},
      {"DhcpOptionsId", "dopt-" + RandomHex(17)},
      {"kecs:enableDnsSupport", true},
      {"kecs:enableDnsHostnames", is_default},
  };
  // Main route table with the local route.
  std::string rtb = Ec2Id("rtb");
  Json routes = Json::array({{{"DestinationCidrBlock", cidr.ToString()}, {"GatewayId", "local"},
                              {"Origin", "CreateRouteTable"}, {"State", "active"}}});
  Json rtb_doc = {{"Associations", Json::array({{{"Main", true},
                                                 {"RouteTableAssociationId", Ec2Id("rtbassoc")},
                                                 {"RouteTableId", rtb},
                                                 {"AssociationState", {{"State", "associated"}}}}})},
                  {"PropagatingVgws", Json::array()},
                  {"RouteTableId", rtb},
                  {"Routes", routes},
                  {"Tags", Json::array()},
                  {"VpcId", id},
                  {"OwnerId", s.account}};
  RETURN_IF_ERROR(PutNew(tx, kRouteTable, s, rtb, id, "", rtb_doc));
  // Default network ACL: allow everything, then the unremovable deny.
  std::string acl = Ec2Id("acl");
  Json acl_doc = {{"Associations", Json::array()},
                  {"Entries", Json::array({AclEntry(100, true, "allow"), AclEntry(32767, true, "deny"),
                                           AclEntry(100, false, "allow"), AclEntry(32767, false, "deny")})},
                  {"IsDefault", true},
                  {"NetworkAclId", acl},
                  {"Tags", Json::array()},
                  {"VpcId", id},
                  {"OwnerId", s.account}};
  RETURN_IF_ERROR(PutNew(tx, kNetworkAcl, s, acl, id, "", acl_doc));
  doc["kecs:mainRouteTable"] = rtb;
  doc["kecs:defaultNetworkAcl"] = acl;
  RETURN_IF_ERROR(PutNew(tx, kVpc, s, id, "", "", doc));
  ASSIGN_OR_RETURN(auto sg, CreateSecurityGroup(tx, s, id, "default", "default VPC security group",
                                                Json::array(), /*default_group=*/true));
  ASSIGN_OR_RETURN(auto stored, tx.Get(kVpc, s.region, id));
  stored->doc["kecs:defaultSecurityGroup"] = sg.id;
  RETURN_IF_ERROR(tx.Put(*stored));
  if (amazon_ipv6) RETURN_IF_ERROR(AssociateAmazonIpv6(tx, s, *stored).status());
  return *stored;
}

Result<Json> AssociateAmazonIpv6(state::Tx& tx, const Scope& s, state::Object& vpc) {
  // A /56 from Amazon's 2600:1f00::/24 block, overlapping no block of the region's VPCs.
  std::vector<Ipv6Cidr> taken;
  ASSIGN_OR_RETURN(auto vpcs, tx.List({kVpc, s.region}));
  vpcs.push_back(vpc);
  for (const auto& v : vpcs) {
    for (const auto& a : v.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
      if (auto c = Ipv6Cidr::Parse(JStr(a, "Ipv6CidrBlock"))) taken.push_back(*c);
    }
  }
  std::optional<Ipv6Cidr> block;
  while (!block) {
    std::string hex = RandomHex(8);
    block = Ipv6Cidr::Parse(fmt::format("2600:1f{}:{}:{}00::/56", hex.substr(0, 2), hex.substr(2, 4),
                                        hex.substr(6, 2)));
    for (const auto& t : taken) {
      if (block && block->Overlaps(t)) block.reset();
    }
  }
  bool first = vpc.doc.value("Ipv6CidrBlockAssociationSet", Json::array()).empty();
  Json a = {{"AssociationId", Ec2Id("vpc-cidr-assoc")},
            {"Ipv6CidrBlock", block->ToString()},
            {"Ipv6CidrBlockState", {{"State", "associated"}}},
            {"NetworkBorderGroup", s.region},
            {"Ipv6Pool", "Amazon"}};
  vpc.doc["Ipv6CidrBlockAssociationSet"].push_back(a);
  RETURN_IF_ERROR(tx.Put(vpc));
  ASSIGN_OR_RETURN(auto tables, tx.List({kRouteTable, s.region, vpc.id}));
  for (auto& rtb : tables) {
    rtb.doc["Routes"].push_back({{"DestinationIpv6CidrBlock", block->ToString()}, {"GatewayId", "local"},
                                 {"Origin", "CreateRouteTable"}, {"State", "active"}});
    RETURN_IF_ERROR(tx.Put(rtb));
  }
  if (!first) return a;
  // The default network ACL gets IPv6 entries in each direction: the final deny, and the
  // 101 allow unless the user changed that direction's entries (AWS's VPC guide, "Default
  // network ACL for a VPC").
  ASSIGN_OR_RETURN(auto acl, tx.Get(kNetworkAcl, s.region, JStr(vpc.doc, "kecs:defaultNetworkAcl")));
  if (acl) {
    auto v6_entry = [](int number, bool egress, const char* action) {
      Json e = AclEntry(number, egress, action);
      e.erase("CidrBlock");
      e["Ipv6CidrBlock"] = "::/0";
      return e;
    };
    Json added = Json::array();
    for (bool egress : {true, false}) {
      Json own = Json::array();
      for (const auto& e : acl->doc["Entries"]) {
        if (JBool(e, "Egress") == egress) own.push_back(e);
      }
      if (own == Json::array({AclEntry(100, egress, "allow"), AclEntry(32767, egress, "deny")})) {
        added.push_back(v6_entry(101, egress, "allow"));
      }
      added.push_back(v6_entry(32768, egress, "deny"));
    }
    for (auto& e : added) acl->doc["Entries"].push_back(e);
    RETURN_IF_ERROR(tx.Put(*acl));
  }
  // AWS's default security group of an IPv6 VPC: egress to 0.0.0.0/0 and to ::/0.
  ASSIGN_OR_RETURN(auto sg, DefaultSecurityGroup(tx, s.region, vpc.id));
  if (sg) {
    Json out = Rule(s, sg->id, true, "-1");
    out["CidrIpv6"] = "::/0";
    out["SecurityGroupRuleArn"] = Arn(s, "security-group-rule", JStr(out, "SecurityGroupRuleId"));
    sg->doc["kecs:rules"].push_back(out);
    RETURN_IF_ERROR(tx.Put(*sg));
  }
  return a;
}

Result<state::Object> CreateSubnet(state::Tx& tx, const Scope& s, const state::Object& vpc,
                                   std::optional<Ipv4Cidr> cidr, const Zone& zone, bool default_for_az,
                                   bool map_public_ip, const Json& tags,
                                   std::optional<Ipv6Cidr> ipv6, bool ipv6_native) {
  std::string id = Ec2Id("subnet");
  Json v6 = Json::array();
  if (ipv6) {
    v6.push_back({{"AssociationId", Ec2Id("subnet-cidr-assoc")},
                  {"Ipv6CidrBlock", ipv6->ToString()},
                  {"Ipv6CidrBlockState", {{"State", "associated"}}}});
  }
  Json doc = {
      {"AvailabilityZoneId", zone.id},
      {"MapCustomerOwnedIpOnLaunch", false},
      {"OwnerId", s.account},
      {"AssignIpv6AddressOnCreation", ipv6_native},
      {"Ipv6CidrBlockAssociationSet", v6},
      {"Tags", TagsOrEmpty(tags)},
      {"SubnetArn", Arn(s, "subnet", id)},
      {"EnableDns64", false},
      {"Ipv6Native", ipv6_native},
      {"PrivateDnsNameOptionsOnLaunch", {{"HostnameType", "ip-name"},
                                         {"EnableResourceNameDnsARecord", false},
                                         {"EnableResourceNameDnsAAAARecord", false}}},
      {"SubnetId", id},
      {"State", "available"},
      {"VpcId", vpc.id},
      {"AvailabilityZone", zone.name},
      {"DefaultForAz", default_for_az},
      {"MapPublicIpOnLaunch", map_public_ip},
  };
  if (cidr) doc["CidrBlock"] = cidr->ToString();
  RETURN_IF_ERROR(tx.Insert({kSubnet, s.region, id, vpc.id, "", "", 0, doc}));
  // New subnets join the VPC's default network ACL.
  if (auto acl_id = JOptStr(vpc.doc, "kecs:defaultNetworkAcl")) {
    ASSIGN_OR_RETURN(auto acl, tx.Get(kNetworkAcl, s.region, *acl_id));
    if (acl) {
      acl->doc["Associations"].push_back({{"NetworkAclAssociationId", Ec2Id("aclassoc")},
                                          {"NetworkAclId", *acl_id},
                                          {"SubnetId", id}});
      RETURN_IF_ERROR(tx.Put(*acl));
    }
  }
  return state::Object{kSubnet, s.region, id, vpc.id, "", "", 0, doc};
}

Result<state::Object> CreateSecurityGroup(state::Tx& tx, const Scope& s, const std::string& vpc_id,
                                          const std::string& name, const std::string& description,
                                          const Json& tags, bool default_group) {
  std::string id = Ec2Id("sg");
  Json rules = Json::array();
  if (default_group) {
    Json in = Rule(s, id, false, "-1");
    in["ReferencedGroupInfo"] = {{"GroupId", id}, {"UserId", s.account}};
    rules.push_back(in);
  }
  Json out = Rule(s, id, true, "-1");
  out["CidrIpv4"] = "0.0.0.0/0";
  rules.push_back(out);
  for (auto& r : rules) {
    r["SecurityGroupRuleArn"] = Arn(s, "security-group-rule", JStr(r, "SecurityGroupRuleId"));
  }
  Json doc = {{"GroupId", id},
              {"Tags", TagsOrEmpty(tags)},
              {"VpcId", vpc_id},
              {"SecurityGroupArn", Arn(s, "security-group", id)},
              {"OwnerId", s.account},
              {"GroupName", name},
              {"Description", description},
              {"kecs:rules", rules},
              {"kecs:default", default_group}};
  state::Object o{kSecurityGroup, s.region, id, vpc_id, name, "", 0, doc};
  RETURN_IF_ERROR(tx.Insert(o));
  return o;
}

Result<state::Object> CreateInternetGateway(state::Tx& tx, const Scope& s, const Json& tags) {
  std::string id = Ec2Id("igw");
  Json doc = {{"Attachments", Json::array()}, {"InternetGatewayId", id}, {"OwnerId", s.account},
              {"Tags", TagsOrEmpty(tags)}};
  state::Object o{kInternetGateway, s.region, id, "", "", "", 0, doc};
  RETURN_IF_ERROR(tx.Insert(o));
  return o;
}

Status AttachInternetGateway(state::Tx& tx, const Scope&, state::Object& igw,
                             const std::string& vpc_id) {
  // An attached gateway's attachment state reads "available", as AWS reports it.
  igw.doc["Attachments"] = Json::array({{{"State", "available"}, {"VpcId", vpc_id}}});
  igw.parent = vpc_id;
  return tx.Put(igw);
}

Result<state::Object> CreateDefaultVpc(state::Tx& tx, const Scope& s) {
  ASSIGN_OR_RETURN(auto vpc, CreateVpc(tx, s, *Ipv4Cidr::Parse("172.31.0.0/16"), true,
                                       Json::array(), "default", false));
  ASSIGN_OR_RETURN(auto igw, CreateInternetGateway(tx, s, Json::array()));
  RETURN_IF_ERROR(AttachInternetGateway(tx, s, igw, vpc.id));
  ASSIGN_OR_RETURN(auto rtb, tx.Get(kRouteTable, s.region, JStr(vpc.doc, "kecs:mainRouteTable")));
  if (rtb) {
    rtb->doc["Routes"].push_back({{"DestinationCidrBlock", "0.0.0.0/0"}, {"GatewayId", igw.id},
                                  {"Origin", "CreateRoute"}, {"State", "active"}});
    RETURN_IF_ERROR(tx.Put(*rtb));
  }
  uint32_t base = *ParseIpv4("172.31.0.0");
  int i = 0;
  for (const auto& z : Zones(s.region)) {
    Ipv4Cidr c{base + static_cast<uint32_t>(i++) * 4096u, 20};
    ASSIGN_OR_RETURN(auto sub, CreateSubnet(tx, s, vpc, c, z, true, true, Json::array(), std::nullopt));
    (void)sub;
  }
  return vpc;
}

Status RegionBootstrap::Ensure(state::Store& store, const std::string& region,
                               const std::string& account, double now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_.count(region)) return Status::Ok();
  }
  Status st = store.Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto marker, tx.Get(kRegionMarker, region, region));
    if (marker) return Status::Ok();
    Scope s{region, account, now};
    ASSIGN_OR_RETURN(auto vpc, CreateDefaultVpc(tx, s));
    return tx.Insert({kRegionMarker, region, region, "", "", "", 0,
                      Json{{"defaultVpc", vpc.id}, {"createdAt", now}}});
  });
  if (st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    done_.insert(region);
  }
  return st;
}

Result<std::optional<state::Object>> DefaultSubnet(state::Tx& tx, const std::string& region) {
  ASSIGN_OR_RETURN(auto vpcs, tx.List({kVpc, region}));
  for (const auto& v : vpcs) {
    if (!JBool(v.doc, "IsDefault")) continue;
    ASSIGN_OR_RETURN(auto subnets, tx.List({kSubnet, region, v.id}));
    std::optional<state::Object> best;
    for (auto& sub : subnets) {
      if (!JBool(sub.doc, "DefaultForAz")) continue;
      if (!best || JStr(sub.doc, "AvailabilityZone") < JStr(best->doc, "AvailabilityZone")) best = sub;
    }
    return best;
  }
  return std::optional<state::Object>();
}

Result<std::optional<state::Object>> DefaultSecurityGroup(state::Tx& tx, const std::string& region,
                                                          const std::string& vpc_id) {
  state::Query q{kSecurityGroup, region, vpc_id};
  q.name = "default";
  ASSIGN_OR_RETURN(auto list, tx.List(q));
  if (list.empty()) return std::optional<state::Object>();
  return std::optional<state::Object>(list.front());
}

Result<int64_t> AvailableIpAddressCount(state::Tx& tx, const std::string& region,
                                        const state::Object& subnet) {
  if (JStr(subnet.doc, "CidrBlock").empty()) return 0;  // IPv6-only
  auto cidr = Ipv4Cidr::Parse(JStr(subnet.doc, "CidrBlock"));
  if (!cidr) return Internal("subnet " + subnet.id + " has no CIDR");
  ASSIGN_OR_RETURN(int64_t used, CountAllocated(tx, region, subnet.id));
  return static_cast<int64_t>(cidr->size()) - 5 - used;
}

Result<Json> SubnetView(state::Tx& tx, const std::string& region, const state::Object& subnet) {
  ASSIGN_OR_RETURN(int64_t avail, AvailableIpAddressCount(tx, region, subnet));
  Json v = subnet.doc;
  v["AvailableIpAddressCount"] = avail;
  return v;
}

Result<std::optional<state::Object>> RouteTableOf(state::Tx& tx, const std::string& region,
                                                  const state::Object& subnet) {
  ASSIGN_OR_RETURN(auto tables, tx.List({kRouteTable, region, subnet.parent}));
  std::optional<state::Object> main;
  for (auto& t : tables) {
    for (const auto& a : t.doc.value("Associations", Json::array())) {
      if (JStr(a, "SubnetId") == subnet.id) return std::optional<state::Object>(t);
      if (JBool(a, "Main")) main = t;
    }
  }
  return main;
}

Result<bool> SubnetIsPublic(state::Tx& tx, const std::string& region, const state::Object& subnet) {
  ASSIGN_OR_RETURN(auto rtb, RouteTableOf(tx, region, subnet));
  if (!rtb) return false;
  for (const auto& r : rtb->doc.value("Routes", Json::array())) {
    // A route to a detached gateway is a blackhole, not a way out.
    if (JStr(r, "DestinationCidrBlock") == "0.0.0.0/0" && JStr(r, "GatewayId").starts_with("igw-") &&
        JStr(r, "State", "active") == "active") {
      return true;
    }
  }
  return false;
}

Json RulesToPermissions(const Json& rules, bool egress) {
  Json perms = Json::array();
  for (const auto& r : rules) {
    if (JBool(r, "IsEgress") != egress) continue;
    std::string proto = JStr(r, "IpProtocol");
    int64_t from = JInt(r, "FromPort", -1), to = JInt(r, "ToPort", -1);
    Json* perm = nullptr;
    for (auto& p : perms) {
      if (JStr(p, "IpProtocol") == proto && JInt(p, "FromPort", -1) == from &&
          JInt(p, "ToPort", -1) == to) {
        perm = &p;
      }
    }
    if (!perm) {
      Json p = {{"IpProtocol", proto}};
      if (proto != "-1") {
        p["FromPort"] = from;
        p["ToPort"] = to;
      }
      p["UserIdGroupPairs"] = Json::array();
      p["IpRanges"] = Json::array();
      p["Ipv6Ranges"] = Json::array();
      p["PrefixListIds"] = Json::array();
      perms.push_back(p);
      perm = &perms.back();
    }
    auto with_desc = [&](Json e) {
      if (auto d = JOptStr(r, "Description")) e["Description"] = *d;
      return e;
    };
    if (auto c = JOptStr(r, "CidrIpv4")) (*perm)["IpRanges"].push_back(with_desc({{"CidrIp", *c}}));
    if (auto c = JOptStr(r, "CidrIpv6")) (*perm)["Ipv6Ranges"].push_back(with_desc({{"CidrIpv6", *c}}));
    if (auto c = JOptStr(r, "PrefixListId")) (*perm)["PrefixListIds"].push_back(with_desc({{"PrefixListId", *c}}));
    if (const Json* g = JGet(r, "ReferencedGroupInfo")) {
      (*perm)["UserIdGroupPairs"].push_back(
          with_desc({{"UserId", JStr(*g, "UserId")}, {"GroupId", JStr(*g, "GroupId")}}));
    }
  }
  return perms;
}

Json SecurityGroupView(const state::Object& sg) {
  const Json& rules = sg.doc.value("kecs:rules", Json::array());
  return {{"GroupId", sg.id},
          {"IpPermissionsEgress", RulesToPermissions(rules, true)},
          {"Tags", sg.doc.value("Tags", Json::array())},
          {"VpcId", JStr(sg.doc, "VpcId")},
          {"SecurityGroupArn", JStr(sg.doc, "SecurityGroupArn")},
          {"OwnerId", JStr(sg.doc, "OwnerId")},
          {"GroupName", JStr(sg.doc, "GroupName")},
          {"Description", JStr(sg.doc, "Description")},
          {"IpPermissions", RulesToPermissions(rules, false)}};
}

namespace {

// One entry of an interface's PrivateIpAddresses, as DescribeNetworkInterfaces shows it.
Json PrivateIpEntry(const std::string& region, uint32_t ip, bool primary) {
  return {{"Primary", primary}, {"PrivateDnsName", PrivateDnsName(region, ip)}, {"PrivateIpAddress", Ipv4ToString(ip)}};
}

Status SubnetFull(const Status& st) {
  if (st.code() == Code::kResourceExhausted) {
    return ResourceExhausted(
        "InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free "
        "addresses to satisfy the request.");
  }
  return st;
}

// The subnet's IPv6 blocks.
std::vector<Ipv6Cidr> SubnetIpv6Blocks(const state::Object& subnet) {
  std::vector<Ipv6Cidr> out;
  for (const auto& a : subnet.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
    if (auto c6 = Ipv6Cidr::Parse(JStr(a, "Ipv6CidrBlock"))) out.push_back(*c6);
  }
  return out;
}

// Allocates the wanted IPv6 addresses, then `count` more, for interface `owner`.
Result<std::vector<Ipv6>> AllocateEniIpv6(state::Tx& tx, const std::string& region, const state::Object& subnet,
                                          const std::string& owner, const std::vector<Ipv6>& wanted, int count) {
  std::vector<Ipv6Cidr> blocks = SubnetIpv6Blocks(subnet);
  if (blocks.empty()) return FailedPrecondition("subnet " + subnet.id + " has no IPv6 CIDR block");
  std::vector<Ipv6> out;
  for (const auto& w : wanted) {
    const Ipv6Cidr* in = nullptr;
    for (const auto& b : blocks) {
      if (b.Contains(w)) in = &b;
    }
    if (!in) return InvalidArgument(fmt::format("address {} is not in subnet {}", Ipv6ToString(w), subnet.id));
    RETURN_IF_ERROR(ReserveIpv6(tx, region, subnet.id, *in, w, owner));
    out.push_back(w);
  }
  for (int i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(Ipv6 a, AllocateIpv6(tx, region, subnet.id, blocks.front(), owner));
    out.push_back(a);
  }
  return out;
}

// Ipv6Address shows the interface's first IPv6 address, if it has one.
void SyncIpv6Address(Json& doc) {
  const Json& list = doc["Ipv6Addresses"];
  if (list.empty()) {
    doc.erase("Ipv6Address");
  } else {
    doc["Ipv6Address"] = list.front()["Ipv6Address"];
  }
}

}  // namespace

Result<state::Object> CreateEni(state::Tx& tx, const Scope& s, const EniSpec& spec) {
  const state::Object& subnet = *spec.subnet;
  auto cidr = Ipv4Cidr::Parse(JStr(subnet.doc, "CidrBlock"));
  // In an IPv6-only subnet the interface has an IPv6 address and no IPv4 one.
  bool v6_only = !cidr && JBool(subnet.doc, "Ipv6Native");
  if (!cidr && !v6_only) return Internal("subnet " + subnet.id + " has no CIDR");
  if (v6_only && spec.private_ip) return InvalidArgument("subnet " + subnet.id + " has no IPv4 CIDR block");
  std::string id = Ec2Id("eni");
  // Secondary addresses: the chosen ones, then the lowest free (all owned by the ENI). An
  // IPv6-only interface has none. The chosen ones are taken before a primary left to the
  // lowest free address, which must not take one of them.
  Json chosen = Json::array();
  for (uint32_t want : v6_only ? std::vector<uint32_t>{} : spec.secondary_ips) {
    auto sec = AllocateIpv4(tx, s.region, subnet.id, *cidr, id, want);
    if (!sec.ok()) return SubnetFull(sec.status());
    chosen.push_back(PrivateIpEntry(s.region, *sec, false));
  }
  auto ip = v6_only ? Result<uint32_t>(0u) : AllocateIpv4(tx, s.region, subnet.id, *cidr, id, spec.private_ip);
  if (!ip.ok()) return SubnetFull(ip.status());
  Json private_ips = Json::array({PrivateIpEntry(s.region, *ip, true)});
  for (const auto& e : chosen) private_ips.push_back(e);
  for (int i = 0; i < (v6_only ? 0 : spec.secondary_count); ++i) {
    auto sec = AllocateIpv4(tx, s.region, subnet.id, *cidr, id);
    if (!sec.ok()) return SubnetFull(sec.status());
    private_ips.push_back(PrivateIpEntry(s.region, *sec, false));
  }
  Json groups = Json::array();
  for (const auto& g : spec.groups) {
    ASSIGN_OR_RETURN(auto sg, tx.Get(kSecurityGroup, s.region, g));
    groups.push_back({{"GroupId", g}, {"GroupName", sg ? JStr(sg->doc, "GroupName") : ""}});
  }
  std::string dns = PrivateDnsName(s.region, *ip);
  Json v6 = Json::array();
  int v6_count = spec.ipv6_count;
  if ((spec.ipv6 || v6_only) && v6_count == 0 && spec.ipv6_addresses.empty()) v6_count = 1;
  if (v6_count > 0 || !spec.ipv6_addresses.empty()) {
    auto addrs = AllocateEniIpv6(tx, s.region, subnet, id, spec.ipv6_addresses, v6_count);
    // A subnet without an IPv6 block gives an interface none (callers that need one check).
    if (!addrs.ok() && addrs.status().code() != Code::kFailedPrecondition) return addrs.status();
    if (addrs.ok()) {
      for (const auto& a : *addrs) v6.push_back({{"Ipv6Address", Ipv6ToString(a)}, {"IsPrimaryIpv6", false}});
    }
  }
  Json doc = {
      {"AvailabilityZone", JStr(subnet.doc, "AvailabilityZone")},
      {"Description", spec.description},
      {"Groups", groups},
      {"InterfaceType", spec.interface_type},
      {"Ipv6Addresses", v6},
      {"MacAddress", RandomMac()},
      {"NetworkInterfaceId", id},
      {"OwnerId", s.account},
      {"PrivateDnsName", dns},
      {"PrivateIpAddress", Ipv4ToString(*ip)},
      {"PrivateIpAddresses", private_ips},
      {"Ipv4Prefixes", Json::array()},
      {"Ipv6Prefixes", Json::array()},
      {"RequesterManaged", spec.requester_managed},
      {"SourceDestCheck", true},
      {"Status", spec.attached ? "in-use" : "available"},
      {"SubnetId", subnet.id},
      {"TagSet", TagsOrEmpty(spec.tags)},
      {"VpcId", subnet.parent},
      {"DenyAllIgwTraffic", false},
      {"Ipv6Native", false},
      {"AvailabilityZoneId", JStr(subnet.doc, "AvailabilityZoneId")},
  };
  if (!spec.requester_id.empty()) doc["RequesterId"] = spec.requester_id;
  SyncIpv6Address(doc);
  if (v6_only) {
    for (const char* k : {"PrivateDnsName", "PrivateIpAddress"}) doc.erase(k);
    doc["PrivateIpAddresses"] = Json::array();
    doc["Ipv6Native"] = true;
  }
  if (spec.attached) {
    doc["Attachment"] = {{"AttachTime", EpochMillis(s.now)},
                         {"AttachmentId", Ec2Id("eni-attach")},
                         {"DeleteOnTermination", false},
                         {"DeviceIndex", 1},
                         {"NetworkCardIndex", 0},
                         {"InstanceOwnerId", spec.attachment_owner},
                         {"Status", "attached"}};
  }
  state::Object o{kEni, s.region, id, subnet.id, "", "", 0, doc};
  RETURN_IF_ERROR(tx.Insert(o));
  return o;
}

Status DeleteEni(state::Tx& tx, const std::string& region, const std::string& eni_id) {
  RETURN_IF_ERROR(ReleaseIps(tx, region, eni_id));
  ASSIGN_OR_RETURN(bool gone, tx.Delete(kEni, region, eni_id));
  (void)gone;
  return Status::Ok();
}

Result<std::vector<uint32_t>> AssignEniPrivateIps(state::Tx& tx, const std::string& region, state::Object& eni,
                                                  const state::Object& subnet, const std::vector<uint32_t>& wanted,
                                                  int count) {
  auto cidr = Ipv4Cidr::Parse(JStr(subnet.doc, "CidrBlock"));
  if (!cidr) return Internal("subnet " + subnet.id + " has no CIDR");
  std::vector<uint32_t> added;
  for (int i = 0; i < static_cast<int>(wanted.size()) + count; ++i) {
    std::optional<uint32_t> want;
    if (i < static_cast<int>(wanted.size())) want = wanted[static_cast<size_t>(i)];
    auto ip = AllocateIpv4(tx, region, subnet.id, *cidr, eni.id, want);
    if (!ip.ok()) return SubnetFull(ip.status());
    eni.doc["PrivateIpAddresses"].push_back(PrivateIpEntry(region, *ip, false));
    added.push_back(*ip);
  }
  RETURN_IF_ERROR(tx.Put(eni));
  return added;
}

Status UnassignEniPrivateIps(state::Tx& tx, const std::string& region, state::Object& eni,
                             const std::vector<uint32_t>& ips) {
  Json kept = Json::array();
  for (const auto& e : eni.doc["PrivateIpAddresses"]) {
    auto ip = ParseIpv4(JStr(e, "PrivateIpAddress"));
    bool drop = ip && !JBool(e, "Primary") && std::find(ips.begin(), ips.end(), *ip) != ips.end();
    if (drop) {
      RETURN_IF_ERROR(ReleaseIpv4(tx, region, eni.parent, *ip));
    } else {
      kept.push_back(e);
    }
  }
  eni.doc["PrivateIpAddresses"] = kept;
  return tx.Put(eni);
}

Result<std::vector<Ipv6>> AssignEniIpv6(state::Tx& tx, const std::string& region, state::Object& eni,
                                        const state::Object& subnet, const std::vector<Ipv6>& wanted, int count) {
  ASSIGN_OR_RETURN(auto added, AllocateEniIpv6(tx, region, subnet, eni.id, wanted, count));
  for (const auto& a : added) {
    eni.doc["Ipv6Addresses"].push_back({{"Ipv6Address", Ipv6ToString(a)}, {"IsPrimaryIpv6", false}});
  }
  SyncIpv6Address(eni.doc);
  RETURN_IF_ERROR(tx.Put(eni));
  return added;
}

Status UnassignEniIpv6(state::Tx& tx, const std::string& region, state::Object& eni, const std::vector<Ipv6>& ips) {
  Json kept = Json::array();
  for (const auto& e : eni.doc["Ipv6Addresses"]) {
    auto a = ParseIpv6(JStr(e, "Ipv6Address"));
    if (a && std::find(ips.begin(), ips.end(), *a) != ips.end()) {
      RETURN_IF_ERROR(ReleaseIpv6(tx, region, eni.parent, *a));
    } else {
      kept.push_back(e);
    }
  }
  eni.doc["Ipv6Addresses"] = kept;
  SyncIpv6Address(eni.doc);
  return tx.Put(eni);
}

}  // namespace kecs::net
