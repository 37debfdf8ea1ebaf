// EC2 security groups: CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup,
// Authorize/Revoke SecurityGroup Ingress/Egress, DescribeSecurityGroupRules,
// ModifySecurityGroupRules. Rules are stored one per SecurityGroupRule (net/vpc.h).
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/ids.h"
#include "base/strings.h"
#include "net/domain/ip.h"

namespace kecs::api::ec2 {
namespace {

// AWS's quota: rules per group and direction.
constexpr size_t kRulesPerDirection = 60;

state::Object RequireGroup(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "sg", "InvalidGroupId.Malformed");
  auto o = Check(tx.Get(net::kSecurityGroup, region, id));
  if (!o) throw Ec2Error("InvalidGroup.NotFound", fmt::format("The security group '{}' does not exist", id));
  return *o;
}

// GroupId, or GroupName in the default VPC (as EC2 resolves names).
state::Object GroupFromRequest(state::Tx& tx, const std::string& region, const Json& in) {
  if (auto id = JOptStr(in, "GroupId")) return RequireGroup(tx, region, *id);
  std::string name = JStr(in, "GroupName");
  if (name.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter groupId");
  std::string default_vpc;
  for (const auto& v : Check(tx.List({net::kVpc, region}))) {
    if (JBool(v.doc, "IsDefault")) default_vpc = v.id;
  }
  state::Query q{net::kSecurityGroup, region, default_vpc};
  q.name = name;
  auto found = Check(tx.List(q));
  if (found.empty()) {
    throw Ec2Error("InvalidGroup.NotFound", fmt::format(
        "The security group '{}' does not exist in default VPC '{}'", name, default_vpc));
  }
  return found.front();
}

// "tcp"/"6" -> "tcp", "udp"/"17", "icmp"/"1", "icmpv6"/"58", "-1"/"all" -> "-1".
std::string NormalizeProtocol(const std::string& p) {
  std::string l = ToLower(p);
  if (l == "tcp" || l == "6") return "tcp";
  if (l == "udp" || l == "17") return "udp";
  if (l == "icmp" || l == "1") return "icmp";
  if (l == "icmpv6" || l == "58") return "icmpv6";
  if (l == "-1" || l == "all") return "-1";
  static const std::regex kNum("^[0-9]{1,3}$");
  if (std::regex_match(l, kNum) && std::stoi(l) <= 255) return l;
  throw InvalidParameterValue(fmt::format("Invalid value '{}' for IP protocol. Unknown protocol.", p));
}

std::string PeerText(const Json& r) {
  if (auto c = JOptStr(r, "CidrIpv4")) return *c;
  if (auto c = JOptStr(r, "CidrIpv6")) return *c;
  if (auto c = JOptStr(r, "PrefixListId")) return *c;
  if (const Json* g = JGet(r, "ReferencedGroupInfo")) return JStr(*g, "GroupId");
  return "";
}

// The wording of InvalidPermission.Duplicate: "peer: 0.0.0.0/0, TCP, from port: 22, to
// port: 22, ALLOW".
std::string RuleText(const Json& r) {
  std::string proto = JStr(r, "IpProtocol");
  if (proto == "-1") return fmt::format("peer: {}, ALL, ALLOW", PeerText(r));
  std::string upper = proto;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return fmt::format("peer: {}, {}, from port: {}, to port: {}, ALLOW", PeerText(r), upper,
                     JInt(r, "FromPort"), JInt(r, "ToPort"));
}

// A rule's protocol and port range (ICMP type and code for ICMP), checked as EC2 checks
// them: TCP and UDP need both ports, "-1" (all) has none.
struct ProtocolPorts {
  std::string proto;
  int64_t from = -1, to = -1;
};

ProtocolPorts CheckProtocolPorts(const std::string& protocol, std::optional<int64_t> f, std::optional<int64_t> t) {
  ProtocolPorts out{NormalizeProtocol(protocol)};
  const std::string& proto = out.proto;
  if (proto == "tcp" || proto == "udp") {
    if (!f || !t) {
      throw InvalidParameterValue(
          "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.");
    }
    if (*f < 0 || *t > 65535 || *f > *t) {
      throw InvalidParameterValue(fmt::format(
          "Invalid port range ({}, {}). Ports must be between 0 and 65535 and the first must not "
          "exceed the second.", *f, *t));
    }
    out.from = *f;
    out.to = *t;
  } else if (proto == "icmp" || proto == "icmpv6") {
    out.from = f.value_or(-1);  // ICMP type
    out.to = t.value_or(-1);    // ICMP code
    if (out.from < -1 || out.from > 255 || out.to < -1 || out.to > 255) {
      throw InvalidParameterValue(fmt::format("Invalid value '{}' for ICMP type or code.", out.from));
    }
  }
  return out;
}

// A rule's CIDR as AWS stores it, canonicalized (10.1.2.3/8 -> 10.0.0.0/8); `param` is the
// request parameter named when it is not a CIDR (cidrIp, cidrIpv6).
template <typename Cidr>
std::string CanonicalCidr(const std::string& c, const char* param) {
  auto parsed = Cidr::Parse(c);
  if (!parsed) {
    throw InvalidParameterValue(fmt::format(
        "Value ({}) for parameter {} is invalid. This is not a valid CIDR block.", c, param));
  }
  return parsed->ToString();
}

// Two rules are the same permission when direction, protocol, ports and peer agree (CIDRs
// compared canonicalized; descriptions and tags do not count). This is what AWS refuses
// twice in one Authorize request ("The same permission must not appear multiple times",
// hashicorp/terraform-provider-aws#1506: one CIDR listed twice for one port range) and
// what InvalidPermission.Duplicate reports against the group's rules.
bool SameRule(const Json& a, const Json& b) {
  return JBool(a, "IsEgress") == JBool(b, "IsEgress") && JStr(a, "IpProtocol") == JStr(b, "IpProtocol") &&
         JInt(a, "FromPort", -1) == JInt(b, "FromPort", -1) && JInt(a, "ToPort", -1) == JInt(b, "ToPort", -1) &&
         PeerText(a) == PeerText(b);
}

// Expands the request's permissions (IpPermissions, or the older top-level CidrIp /
// IpProtocol / FromPort / ToPort / SourceSecurityGroupName) into one rule per peer.
std::vector<Json> RulesFromRequest(state::Tx& tx, const RequestContext& ctx, const state::Object& sg,
                                   const Json& in, bool egress) {
  Json perms = in.value("IpPermissions", Json::array());
  if (perms.empty() && (JGet(in, "CidrIp") || JGet(in, "IpProtocol") || JGet(in, "SourceSecurityGroupName"))) {
    Json p = {{"IpProtocol", JStr(in, "IpProtocol", "-1")}};
    if (JGet(in, "FromPort")) p["FromPort"] = in["FromPort"];
    if (JGet(in, "ToPort")) p["ToPort"] = in["ToPort"];
    if (auto c = JOptStr(in, "CidrIp")) p["IpRanges"] = Json::array({{{"CidrIp", *c}}});
    if (auto g = JOptStr(in, "SourceSecurityGroupName")) {
      p["UserIdGroupPairs"] = Json::array({{{"GroupName", *g}}});
    }
    perms.push_back(p);
  }
  if (perms.empty()) {
    throw Ec2Error("MissingParameter", "The request must contain the parameter ipPermissions");
  }
  std::vector<Json> out;
  for (const auto& p : perms) {
    const ProtocolPorts pp = CheckProtocolPorts(JStr(p, "IpProtocol", "-1"), JOptInt(p, "FromPort"),
                                                JOptInt(p, "ToPort"));
    auto base = [&]() {
      Json r = {{"SecurityGroupRuleId", Ec2Id("sgr")},
                {"GroupId", sg.id},
                {"GroupOwnerId", ctx.account_id},
                {"IsEgress", egress},
                {"IpProtocol", pp.proto},
                {"FromPort", pp.from},
                {"ToPort", pp.to}};
      return r;
    };
    auto finish = [&](Json r, const Json& range) {
      if (auto d = JOptStr(range, "Description")) r["Description"] = *d;
      r["Tags"] = Json::array();
      r["SecurityGroupRuleArn"] = fmt::format("arn:aws:ec2:{}:{}:security-group-rule/{}", ctx.region,
                                              ctx.account_id, JStr(r, "SecurityGroupRuleId"));
      out.push_back(r);
    };
    for (const auto& r : p.value("IpRanges", Json::array())) {
      Json rule = base();
      rule["CidrIpv4"] = CanonicalCidr<net::Ipv4Cidr>(JStr(r, "CidrIp"), "cidrIp");
      finish(rule, r);
    }
    for (const auto& r : p.value("Ipv6Ranges", Json::array())) {
      Json rule = base();
      rule["CidrIpv6"] = CanonicalCidr<net::Ipv6Cidr>(JStr(r, "CidrIpv6"), "cidrIpv6");
      finish(rule, r);
    }
    for (const auto& r : p.value("PrefixListIds", Json::array())) {
      Json rule = base();
      rule["PrefixListId"] = JStr(r, "PrefixListId");
      finish(rule, r);
    }
    for (const auto& r : p.value("UserIdGroupPairs", Json::array())) {
      std::string gid = JStr(r, "GroupId");
      if (gid.empty()) {
        // By name, within the same VPC.
        state::Query q{net::kSecurityGroup, ctx.region, sg.parent};
        q.name = JStr(r, "GroupName");
        auto found = Check(tx.List(q));
        if (found.empty()) {
          throw Ec2Error("InvalidGroup.NotFound",
                         fmt::format("The security group '{}' does not exist", JStr(r, "GroupName")));
        }
        gid = found.front().id;
      } else {
        RequireGroup(tx, ctx.region, gid);
      }
      Json rule = base();
      rule["ReferencedGroupInfo"] = {{"GroupId", gid}, {"UserId", JStr(r, "UserId", ctx.account_id)}};
      finish(rule, r);
    }
  }
  if (out.empty()) {
    throw Ec2Error("MissingParameter",
                   "The request must contain the parameter ipPermissions.ipRanges or userIdGroupPairs");
  }
  return out;
}

// The rule a ModifySecurityGroupRules SecurityGroupRuleRequest describes, which must be
// whole: a protocol, both ports for TCP and UDP, and exactly one target. The words are
// AWS's (issue 20, and moto's modify_security_group_rules, getmoto/moto
// moto/ec2/models/security_groups.py, which checks the target before the rest).
Json RuleFromModifyRequest(state::Tx& tx, const RequestContext& ctx, const Json& spec) {
  int targets = 0;
  for (const char* k : {"CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupId"}) targets += JGet(spec, k) != nullptr;
  if (targets > 1) {
    throw Ec2Error("InvalidParameterCombination",
                   "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified");
  }
  if (targets == 0) {
    throw Ec2Error("MissingParameter",
                   "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId");
  }
  if (std::string(Trim(JStr(spec, "IpProtocol"))).empty()) {
    throw InvalidParameterValue(
        "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.");
  }
  const ProtocolPorts pp = CheckProtocolPorts(JStr(spec, "IpProtocol"), JOptInt(spec, "FromPort"),
                                              JOptInt(spec, "ToPort"));
  Json r = {{"IpProtocol", pp.proto}, {"FromPort", pp.from}, {"ToPort", pp.to}};
  if (auto c = JOptStr(spec, "CidrIpv4")) r["CidrIpv4"] = CanonicalCidr<net::Ipv4Cidr>(*c, "cidrIp");
  if (auto c = JOptStr(spec, "CidrIpv6")) r["CidrIpv6"] = CanonicalCidr<net::Ipv6Cidr>(*c, "cidrIpv6");
  if (auto c = JOptStr(spec, "PrefixListId")) r["PrefixListId"] = *c;
  if (auto g = JOptStr(spec, "ReferencedGroupId")) {
    RequireGroup(tx, ctx.region, *g);
    r["ReferencedGroupInfo"] = {{"GroupId", *g}, {"UserId", ctx.account_id}};
  }
  if (auto d = JOptStr(spec, "Description")) r["Description"] = *d;
  return r;
}

// DescribeSecurityGroups' filters. ip-permission.group-name matches the names of the groups
// a rule references, which the rendered permissions do not carry: `names` maps the
// region's group ids to names and must outlive the spec.
FilterSpec GroupFilters(const std::map<std::string, std::string>& names) {
  auto perm_field = [](const char* list, const char* member) -> FilterField {
    return [list, member](const Json& v) {
      std::vector<std::string> out;
      for (const auto& p : v.value(list, Json::array())) {
        if (const Json* x = JGet(p, member)) out.push_back(x->is_string() ? x->get<std::string>() : x->dump());
      }
      return out;
    };
  };
  auto perm_nested = [](const char* list, const char* sub, const char* member) -> FilterField {
    return [list, sub, member](const Json& v) {
      std::vector<std::string> out;
      for (const auto& p : v.value(list, Json::array())) {
        for (const auto& e : p.value(sub, Json::array())) out.push_back(JStr(e, member));
      }
      return out;
    };
  };
  auto perm_group_name = [&names](const char* list) -> FilterField {
    return [list, &names](const Json& v) {
      std::vector<std::string> out;
      for (const auto& p : v.value(list, Json::array())) {
        for (const auto& e : p.value("UserIdGroupPairs", Json::array())) {
          if (auto it = names.find(JStr(e, "GroupId")); it != names.end()) out.push_back(it->second);
        }
      }
      return out;
    };
  };
  return {
      {"description", Field("Description")},
      {"group-id", Field("GroupId")},
      {"group-name", Field("GroupName")},
      {"owner-id", Field("OwnerId")},
      {"vpc-id", Field("VpcId")},
      {"ip-permission.protocol", perm_field("IpPermissions", "IpProtocol")},
      {"ip-permission.from-port", perm_field("IpPermissions", "FromPort")},
      {"ip-permission.to-port", perm_field("IpPermissions", "ToPort")},
      {"ip-permission.cidr", perm_nested("IpPermissions", "IpRanges", "CidrIp")},
      {"ip-permission.ipv6-cidr", perm_nested("IpPermissions", "Ipv6Ranges", "CidrIpv6")},
      {"ip-permission.prefix-list-id", perm_nested("IpPermissions", "PrefixListIds", "PrefixListId")},
      {"ip-permission.group-id", perm_nested("IpPermissions", "UserIdGroupPairs", "GroupId")},
      {"ip-permission.group-name", perm_group_name("IpPermissions")},
      {"ip-permission.user-id", perm_nested("IpPermissions", "UserIdGroupPairs", "UserId")},
      {"egress.ip-permission.protocol", perm_field("IpPermissionsEgress", "IpProtocol")},
      {"egress.ip-permission.from-port", perm_field("IpPermissionsEgress", "FromPort")},
      {"egress.ip-permission.to-port", perm_field("IpPermissionsEgress", "ToPort")},
      {"egress.ip-permission.cidr", perm_nested("IpPermissionsEgress", "IpRanges", "CidrIp")},
      {"egress.ip-permission.ipv6-cidr", perm_nested("IpPermissionsEgress", "Ipv6Ranges", "CidrIpv6")},
      {"egress.ip-permission.prefix-list-id", perm_nested("IpPermissionsEgress", "PrefixListIds", "PrefixListId")},
      {"egress.ip-permission.group-id", perm_nested("IpPermissionsEgress", "UserIdGroupPairs", "GroupId")},
      {"egress.ip-permission.group-name", perm_group_name("IpPermissionsEgress")},
      {"egress.ip-permission.user-id", perm_nested("IpPermissionsEgress", "UserIdGroupPairs", "UserId")},
  };
}

}  // namespace

Json Ec2Api::CreateSecurityGroup(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string name = JStr(in, "GroupName"), desc = JStr(in, "Description");
  // The front end refuses a missing GroupDescription with these words; an empty one is
  // missing too, as AWS answers.
  if (desc.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter GroupDescription");
  if (name.empty() || name.size() > 255) {
    throw InvalidParameterValue(fmt::format("Value ({}) for parameter GroupName is invalid. Group names may be up to 255 characters in length.", name));
  }
  if (name.starts_with("sg-")) {
    throw InvalidParameterValue("Group names may not be in the format sg-*.");
  }
  if (desc.size() > 255) {
    throw InvalidParameterValue("Value for parameter GroupDescription is invalid. Character sets beyond ASCII are not supported or it is longer than 255 characters.");
  }
  Json tags = TagsFor(in, "security-group");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    std::string vpc_id = JStr(in, "VpcId");
    if (vpc_id.empty()) {
      for (const auto& v : Check(tx.List({net::kVpc, ctx.region}))) {
        if (JBool(v.doc, "IsDefault")) vpc_id = v.id;
      }
      if (vpc_id.empty()) throw Ec2Error("VPCIdNotSpecified", "No default VPC for this user");
    } else {
      // CreateSecurityGroup words this one its own way (observed on AWS: "An error occurred
      // (InvalidVpcId.Malformed) when calling the CreateSecurityGroup operation: The vpc ID
      // 'vpc-xxxxxxxx' is malformed"), unlike the "Invalid id" text of other operations.
      if (!IsWellFormedId(vpc_id, "vpc")) {
        throw Ec2Error("InvalidVpcId.Malformed", fmt::format("The vpc ID '{}' is malformed", vpc_id));
      }
      if (!Check(tx.Get(net::kVpc, ctx.region, vpc_id))) {
        throw Ec2Error("InvalidVpcID.NotFound", fmt::format("The vpc ID '{}' does not exist", vpc_id));
      }
    }
    state::Query q{net::kSecurityGroup, ctx.region, vpc_id};
    q.name = name;
    if (!Check(tx.List(q)).empty()) {
      throw Ec2Error("InvalidGroup.Duplicate",
                     fmt::format("The security group '{}' already exists for VPC '{}'", name, vpc_id));
    }
    auto sg = Check(net::CreateSecurityGroup(tx, s, vpc_id, name, desc, tags, false));
    out = {{"GroupId", sg.id}, {"Tags", tags}, {"SecurityGroupArn", JStr(sg.doc, "SecurityGroupArn")}};
    return Status::Ok();
  }));
  return out;
}

Json Ec2Api::DescribeSecurityGroups(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::map<std::string, std::string> names;  // group id -> name, for *.group-name filters
  const FilterSpec filters = GroupFilters(names);
  const Json filter_list = in.value("Filters", Json::array());
  CheckFilters(filter_list, filters);
  std::vector<Json> views;
  Check(store_.Read([&](state::Tx& tx) {
    const auto all = Check(tx.List({net::kSecurityGroup, ctx.region}));
    for (const auto& g : all) names[g.id] = JStr(g.doc, "GroupName");
    std::vector<state::Object> groups;
    bool named = false;
    if (const Json* ids = JGet(in, "GroupIds"); ids && !ids->empty()) {
      named = true;
      for (const auto& id : *ids) groups.push_back(RequireGroup(tx, ctx.region, id.get<std::string>()));
    }
    if (const Json* names = JGet(in, "GroupNames"); names && !names->empty()) {
      named = true;
      for (const auto& n : *names) {
        groups.push_back(GroupFromRequest(tx, ctx.region, Json{{"GroupName", n}}));
      }
    }
    if (!named) groups = all;
    for (const auto& g : groups) {
      Json view = net::SecurityGroupView(g);
      if (MatchFilters(filter_list, view, filters)) views.push_back(view);
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "SecurityGroups", std::move(views), in);
  return out;
}

Json Ec2Api::DeleteSecurityGroup(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object sg = GroupFromRequest(tx, ctx.region, in);
    if (JBool(sg.doc, "kecs:default")) {
      throw Ec2Error("CannotDelete", fmt::format(
          "the specified group: \"{}\" name: \"default\" cannot be deleted by a user", sg.id));
    }
    auto dependent = [&] {
      throw Ec2Error("DependencyViolation", fmt::format("resource {} has a dependent object", sg.id));
    };
    for (const auto& eni : Check(tx.List({net::kEni, ctx.region}))) {
      for (const auto& g : eni.doc.value("Groups", Json::array())) {
        if (JStr(g, "GroupId") == sg.id) dependent();
      }
    }
    for (const auto& other : Check(tx.List({net::kSecurityGroup, ctx.region}))) {
      if (other.id == sg.id) continue;
      for (const auto& r : other.doc.value("kecs:rules", Json::array())) {
        if (const Json* g = JGet(r, "ReferencedGroupInfo"); g && JStr(*g, "GroupId") == sg.id) dependent();
      }
    }
    Check(tx.Delete(net::kSecurityGroup, ctx.region, sg.id));
    out = {{"Return", true}, {"GroupId", sg.id}};
    return Status::Ok();
  }));
  return out;
}

Json Ec2Api::Authorize(RequestContext& ctx, const Json& in, bool egress) {
  ScopeOf(ctx);
  Json tags = TagsFor(in, "security-group-rule");
  Json added = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    state::Object sg = GroupFromRequest(tx, ctx.region, in);
    std::vector<Json> rules = RulesFromRequest(tx, ctx, sg, in, egress);
    for (size_t i = 0; i < rules.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (SameRule(rules[i], rules[j])) {
          throw InvalidParameterValue("The same permission must not appear multiple times");
        }
      }
    }
    Json& existing = sg.doc["kecs:rules"];
    for (auto& r : rules) {
      for (const auto& e : existing) {
        if (SameRule(e, r)) {
          throw Ec2Error("InvalidPermission.Duplicate",
                         fmt::format("the specified rule \"{}\" already exists", RuleText(r)));
        }
      }
      r["Tags"] = tags;
      added.push_back(r);
    }
    size_t count = 0;
    for (const auto& e : existing) count += JBool(e, "IsEgress") == egress;
    if (count + added.size() > kRulesPerDirection) {
      throw Ec2Error("RulesPerSecurityGroupLimitExceeded",
                     "The maximum number of rules per security group has been reached.");
    }
    for (const auto& r : added) existing.push_back(r);
    Check(tx.Put(sg));
    return Status::Ok();
  }));
  return {{"Return", true}, {"SecurityGroupRules", added}};
}

Json Ec2Api::Revoke(RequestContext& ctx, const Json& in, bool egress) {
  ScopeOf(ctx);
  Json revoked = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    state::Object sg = GroupFromRequest(tx, ctx.region, in);
    Json& existing = sg.doc["kecs:rules"];
    std::vector<Json> targets;
    if (const Json* ids = JGet(in, "SecurityGroupRuleIds"); ids && !ids->empty()) {
      for (const auto& id : *ids) {
        bool found = false;
        for (const auto& e : existing) {
          if (JStr(e, "SecurityGroupRuleId") == id.get<std::string>() && JBool(e, "IsEgress") == egress) {
            targets.push_back(e);
            found = true;
          }
        }
        if (!found) {
          throw Ec2Error("InvalidSecurityGroupRuleId.NotFound",
                         fmt::format("The security group rule ID '{}' does not exist", id.get<std::string>()));
        }
      }
    } else {
      targets = RulesFromRequest(tx, ctx, sg, in, egress);
    }
    Json kept = Json::array();
    std::vector<bool> matched(targets.size(), false);
    for (const auto& e : existing) {
      bool drop = false;
      for (size_t i = 0; i < targets.size(); ++i) {
        if (SameRule(e, targets[i])) {
          drop = true;
          matched[i] = true;
        }
      }
      if (drop) revoked.push_back(e); else kept.push_back(e);
    }
    for (bool m : matched) {
      if (!m) {
        throw Ec2Error("InvalidPermission.NotFound",
                       "The specified rule does not exist in this security group.");
      }
    }
    existing = kept;
    Check(tx.Put(sg));
    return Status::Ok();
  }));
  return {{"Return", true}, {"RevokedSecurityGroupRules", revoked}};
}

Json Ec2Api::AuthorizeSecurityGroupIngress(RequestContext& ctx, const Json& in) { return Authorize(ctx, in, false); }
Json Ec2Api::AuthorizeSecurityGroupEgress(RequestContext& ctx, const Json& in) { return Authorize(ctx, in, true); }
Json Ec2Api::RevokeSecurityGroupIngress(RequestContext& ctx, const Json& in) { return Revoke(ctx, in, false); }
Json Ec2Api::RevokeSecurityGroupEgress(RequestContext& ctx, const Json& in) { return Revoke(ctx, in, true); }

Json Ec2Api::DescribeSecurityGroupRules(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  static const FilterSpec kSpec = {{"group-id", Field("GroupId")},
                                   {"security-group-rule-id", Field("SecurityGroupRuleId")}};
  const Json filters = in.value("Filters", Json::array());
  CheckFilters(filters, kSpec);
  // A group-id value must be a group id (InvalidGroupId.Malformed otherwise, in the words
  // of every other malformed group id); a well-formed unknown one simply matches nothing.
  for (const auto& f : filters) {
    if (JStr(f, "Name") != "group-id") continue;
    for (const auto& v : f.value("Values", Json::array())) {
      CheckId(v.is_string() ? v.get<std::string>() : v.dump(), "sg", "InvalidGroupId.Malformed");
    }
  }
  std::set<std::string> ids;
  if (const Json* l = JGet(in, "SecurityGroupRuleIds")) {
    for (const auto& i : *l) ids.insert(i.get<std::string>());
  }
  std::vector<Json> views;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& sg : Check(tx.List({net::kSecurityGroup, ctx.region}))) {
      for (const auto& r : sg.doc.value("kecs:rules", Json::array())) {
        if (!ids.empty() && !ids.count(JStr(r, "SecurityGroupRuleId"))) continue;
        if (MatchFilters(filters, r, kSpec)) views.push_back(r);
      }
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "SecurityGroupRules", std::move(views), in);
  return out;
}

Json Ec2Api::ModifySecurityGroupRules(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  Check(store_.Write([&](state::Tx& tx) {
    state::Object sg = RequireGroup(tx, ctx.region, JStr(in, "GroupId"));
    Json& rules = sg.doc["kecs:rules"];
    for (const auto& u : in.value("SecurityGroupRules", Json::array())) {
      std::string id = JStr(u, "SecurityGroupRuleId");
      Json rule = RuleFromModifyRequest(tx, ctx, u.value("SecurityGroupRule", Json::object()));
      Json* target = nullptr;
      for (auto& r : rules) {
        if (JStr(r, "SecurityGroupRuleId") == id) target = &r;
      }
      if (!target) {
        throw Ec2Error("InvalidSecurityGroupRuleId.NotFound",
                       fmt::format("The security group rule ID '{}' does not exist", id));
      }
      // The request describes the whole rule; the rule keeps its id, direction and tags.
      for (const char* k : {"SecurityGroupRuleId", "GroupId", "GroupOwnerId", "IsEgress", "Tags",
                            "SecurityGroupRuleArn"}) {
        if (const Json* v = JGet(*target, k)) rule[k] = *v;
      }
      *target = rule;
    }
    Check(tx.Put(sg));
    return Status::Ok();
  }));
  return {{"Return", true}};
}

namespace {

// UpdateSecurityGroupRuleDescriptionsIngress/Egress: the rules named by id
// (SecurityGroupRuleDescriptions) or by what they allow (IpPermissions, each peer with its
// new Description; none given removes it) get their Description. Every rule must exist:
// InvalidSecurityGroupRuleId.NotFound (by id) or Revoke's InvalidPermission.NotFound.
Json UpdateRuleDescriptions(state::Store& store, RequestContext& ctx, const Json& in, bool egress) {
  Check(store.Write([&](state::Tx& tx) {
    state::Object sg = GroupFromRequest(tx, ctx.region, in);
    Json& rules = sg.doc["kecs:rules"];
    auto set = [](Json& rule, const Json& from) {
      if (auto d = JOptStr(from, "Description")) rule["Description"] = *d; else rule.erase("Description");
    };
    if (const Json* by_id = JGet(in, "SecurityGroupRuleDescriptions"); by_id && !by_id->empty()) {
      for (const auto& u : *by_id) {
        std::string id = JStr(u, "SecurityGroupRuleId");
        Json* target = nullptr;
        for (auto& r : rules) {
          if (JStr(r, "SecurityGroupRuleId") == id && JBool(r, "IsEgress") == egress) target = &r;
        }
        if (!target) {
          throw Ec2Error("InvalidSecurityGroupRuleId.NotFound",
                         fmt::format("The security group rule ID '{}' does not exist", id));
        }
        set(*target, u);
      }
    } else {
      for (const auto& want : RulesFromRequest(tx, ctx, sg, in, egress)) {
        Json* target = nullptr;
        for (auto& r : rules) {
          if (SameRule(r, want)) target = &r;
        }
        if (!target) {
          throw Ec2Error("InvalidPermission.NotFound", "The specified rule does not exist in this security group.");
        }
        set(*target, want);
      }
    }
    Check(tx.Put(sg));
    return Status::Ok();
  }));
  return {{"Return", true}};
}

}  // namespace

void RegisterSgDescriptionOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  for (bool egress : {false, true}) {
    s.Register(egress ? "UpdateSecurityGroupRuleDescriptionsEgress" : "UpdateSecurityGroupRuleDescriptionsIngress",
               [&store, &regions, egress](RequestContext& ctx, const Json& in) {
                 CheckDryRun(in);
                 RequestScope(store, regions, ctx);
                 return UpdateRuleDescriptions(store, ctx, in, egress);
               });
  }
}

}  // namespace kecs::api::ec2
