// EC2 network ACLs: CreateNetworkAcl, DescribeNetworkAcls, DeleteNetworkAcl,
// CreateNetworkAclEntry, ReplaceNetworkAclEntry, DeleteNetworkAclEntry,
// ReplaceNetworkAclAssociation.
//
// A network ACL is a store object under its VPC in the NetworkAcl shape. Every subnet has
// exactly one association, to its VPC's default ACL (vpc.doc["kecs:defaultNetworkAcl"],
// made by net::CreateSubnet) until ReplaceNetworkAclAssociation moves it. Entries are kept
// as AWS lists them: egress before ingress, each by rule number; the 32767 (IPv4) and 32768
// (IPv6) deny-all entries close each direction and cannot be changed.
#include <algorithm>
#include <memory>
#include <regex>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/ids.h"
#include "base/strings.h"
#include "net/domain/ip.h"

namespace kecs::api::ec2 {
namespace {

state::Object RequireAcl(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "acl", "InvalidNetworkAclId.Malformed");
  auto o = Check(tx.Get(net::kNetworkAcl, region, id));
  if (!o) {
    throw Ec2Error("InvalidNetworkAclID.NotFound", fmt::format("The networkAcl ID '{}' does not exist", id));
  }
  return *o;
}

Json DenyAll(int number, bool egress, bool ipv6) {
  Json e = Json::object();
  if (ipv6) e["Ipv6CidrBlock"] = "::/0"; else e["CidrBlock"] = "0.0.0.0/0";
  e["Egress"] = egress;
  e["Protocol"] = "-1";
  e["RuleAction"] = "deny";
  e["RuleNumber"] = number;
  return e;
}

void SortEntries(Json& entries) {
  std::vector<Json> v(entries.begin(), entries.end());
  std::stable_sort(v.begin(), v.end(), [](const Json& a, const Json& b) {
    bool ea = JBool(a, "Egress"), eb = JBool(b, "Egress");
    if (ea != eb) return ea;  // egress first
    return JInt(a, "RuleNumber") < JInt(b, "RuleNumber");
  });
  entries = v;
}

// "tcp"/"6" -> "6", "udp"/"17" -> "17", "icmp"/"1" -> "1", "icmpv6"/"58" -> "58",
// "all"/"-1" -> "-1", another protocol number 0-255 as itself.
std::string NormalizeProtocol(const std::string& p) {
  std::string l = ToLower(p);
  if (l == "tcp" || l == "6") return "6";
  if (l == "udp" || l == "17") return "17";
  if (l == "icmp" || l == "1") return "1";
  if (l == "icmpv6" || l == "58") return "58";
  if (l == "-1" || l == "all") return "-1";
  static const std::regex kNum("^[0-9]{1,3}$");
  if (std::regex_match(l, kNum) && std::stoi(l) <= 255) return std::to_string(std::stoi(l));
  throw InvalidParameterValue(fmt::format("Invalid value '{}' for IP protocol. Unknown protocol.", p));
}

int RuleNumberOf(const Json& in) {
  int64_t n = JInt(in, "RuleNumber");
  if (n < 1 || n > 32766) {
    throw InvalidParameterValue(fmt::format(
        "Value ({}) for parameter ruleNumber is invalid. Rule numbers must be between 1 and 32766.", n));
  }
  return static_cast<int>(n);
}

// The entry a Create/ReplaceNetworkAclEntry request describes.
Json EntryFromRequest(const Json& in) {
  int number = RuleNumberOf(in);
  std::string proto = NormalizeProtocol(JStr(in, "Protocol"));
  auto v4 = JOptStr(in, "CidrBlock");
  auto v6 = JOptStr(in, "Ipv6CidrBlock");
  if (!v4 && !v6) {
    throw Ec2Error("MissingParameter", "The request must contain the parameter cidrBlock or ipv6CidrBlock");
  }
  if (v4 && v6) {
    throw Ec2Error("InvalidParameterCombination",
                   "The parameter cidrBlock cannot be used with the parameter ipv6CidrBlock");
  }
  Json e = Json::object();
  if (v4) {
    auto c = net::Ipv4Cidr::Parse(*v4);
    if (!c) {
      throw InvalidParameterValue(fmt::format(
          "Value ({}) for parameter cidrBlock is invalid. This is not a valid CIDR block.", *v4));
    }
    e["CidrBlock"] = c->ToString();
  } else {
    auto c = net::Ipv6Cidr::Parse(*v6);
    if (!c) {
      throw InvalidParameterValue(fmt::format(
          "Value ({}) for parameter ipv6CidrBlock is invalid. This is not a valid IPv6 CIDR block.", *v6));
    }
    e["Ipv6CidrBlock"] = c->ToString();
  }
  e["Egress"] = JBool(in, "Egress");
  if (proto == "6" || proto == "17") {
    const Json pr = in.value("PortRange", Json::object());
    auto from = JOptInt(pr, "From"), to = JOptInt(pr, "To");
    if (!from || !to) {
      throw InvalidParameterValue("Invalid value for portRange. Must specify both from and to ports with TCP/UDP.");
    }
    if (*from < 0 || *to > 65535 || *from > *to) {
      throw InvalidParameterValue(fmt::format(
          "Invalid port range ({}, {}). Ports must be between 0 and 65535 and the first must not "
          "exceed the second.", *from, *to));
    }
    e["PortRange"] = {{"From", *from}, {"To", *to}};
  } else if (proto == "1" || proto == "58") {
    const Json ic = in.value("IcmpTypeCode", Json::object());
    int64_t type = JInt(ic, "Type", -1), code = JInt(ic, "Code", -1);
    if (type < -1 || type > 255 || code < -1 || code > 255) {
      throw InvalidParameterValue(fmt::format("Invalid value '{}' for ICMP type or code.", type));
    }
    e["IcmpTypeCode"] = {{"Code", code}, {"Type", type}};
  }
  e["Protocol"] = proto;
  // Any case is accepted ("ALLOW", "Deny") and stored as EC2 lists it, lowercase; the
  // kernel policy (net/domain/sg_policy.cc) reads "allow".
  std::string action = ToLower(JStr(in, "RuleAction"));
  if (action != "allow" && action != "deny") {
    // The front end's wording for a value outside the RuleAction enum.
    throw InvalidParameterValue(fmt::format("Value ({}) for parameter ruleAction is invalid.", JStr(in, "RuleAction")));
  }
  e["RuleAction"] = action;
  e["RuleNumber"] = number;
  return e;
}

std::optional<size_t> FindEntry(const Json& entries, int number, bool egress) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (JInt(entries[i], "RuleNumber") == number && JBool(entries[i], "Egress") == egress) return i;
  }
  return std::nullopt;
}

const FilterSpec& AclFilters() {
  auto sub = [](const char* object, const char* member) -> FilterField {
    return [object, member](const Json& v) {
      std::vector<std::string> out;
      for (const auto& e : v.value("Entries", Json::array())) {
        if (const Json* o = JGet(e, object)) {
          if (JGet(*o, member)) out.push_back(std::to_string(JInt(*o, member)));
        }
      }
      return out;
    };
  };
  static const FilterSpec kSpec = {
      {"association.association-id", Nested("Associations", "NetworkAclAssociationId")},
      {"association.network-acl-id", Nested("Associations", "NetworkAclId")},
      {"association.subnet-id", Nested("Associations", "SubnetId")},
      {"default", Field("IsDefault")},
      {"entry.cidr", Nested("Entries", "CidrBlock")},
      {"entry.ipv6-cidr", Nested("Entries", "Ipv6CidrBlock")},
      {"entry.egress", Nested("Entries", "Egress")},
      {"entry.icmp.code", sub("IcmpTypeCode", "Code")},
      {"entry.icmp.type", sub("IcmpTypeCode", "Type")},
      {"entry.port-range.from", sub("PortRange", "From")},
      {"entry.port-range.to", sub("PortRange", "To")},
      {"entry.protocol", Nested("Entries", "Protocol")},
      {"entry.rule-action", Nested("Entries", "RuleAction")},
      {"entry.rule-number", Nested("Entries", "RuleNumber")},
      {"network-acl-id", Field("NetworkAclId")},
      {"owner-id", Field("OwnerId")},
      {"vpc-id", Field("VpcId")},
  };
  return kSpec;
}

class NetworkAclOps {
 public:
  NetworkAclOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json CreateNetworkAcl(RequestContext& ctx, const Json& in);
  Json DescribeNetworkAcls(RequestContext& ctx, const Json& in);
  Json DeleteNetworkAcl(RequestContext& ctx, const Json& in);
  Json CreateNetworkAclEntry(RequestContext& ctx, const Json& in);
  Json ReplaceNetworkAclEntry(RequestContext& ctx, const Json& in);
  Json DeleteNetworkAclEntry(RequestContext& ctx, const Json& in);
  Json ReplaceNetworkAclAssociation(RequestContext& ctx, const Json& in);

 private:
  net::Scope ScopeOf(const RequestContext& ctx) {
    return RequestScope(store_, regions_, ctx);
  }

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

Json NetworkAclOps::CreateNetworkAcl(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string vpc_id = JStr(in, "VpcId");
  Json tags = TagsFor(in, "network-acl");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object vpc = RequireVpc(tx, ctx.region, vpc_id);
    bool ipv6 = !vpc.doc.value("Ipv6CidrBlockAssociationSet", Json::array()).empty();
    Json entries = Json::array({DenyAll(32767, true, false)});
    if (ipv6) entries.push_back(DenyAll(32768, true, true));
    entries.push_back(DenyAll(32767, false, false));
    if (ipv6) entries.push_back(DenyAll(32768, false, true));
    std::string id = Ec2Id("acl");
    Json doc = {{"Associations", Json::array()},
                {"Entries", entries},
                {"IsDefault", false},
                {"NetworkAclId", id},
                {"Tags", net::TagsOrEmpty(tags)},
                {"VpcId", vpc_id},
                {"OwnerId", s.account}};
    Check(tx.Insert({net::kNetworkAcl, ctx.region, id, vpc_id, "", "", 0, doc}));
    out = {{"NetworkAcl", doc}};
    if (auto token = JOptStr(in, "ClientToken")) out["ClientToken"] = *token;
    return Status::Ok();
  }));
  return out;
}

Json NetworkAclOps::DescribeNetworkAcls(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  return DescribeStored(store_, ctx, in, {net::kNetworkAcl, "NetworkAclIds", "Filters", "NetworkAcls", AclFilters(), RequireAcl});
}

Json NetworkAclOps::DeleteNetworkAcl(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "NetworkAclId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object acl = RequireAcl(tx, ctx.region, id);
    if (JBool(acl.doc, "IsDefault")) {
      throw InvalidParameterValue(fmt::format("cannot delete default network ACL {}", id));
    }
    if (!acl.doc.value("Associations", Json::array()).empty()) {
      throw Ec2Error("DependencyViolation",
                     fmt::format("The networkAcl '{}' has dependencies and cannot be deleted.", id));
    }
    Check(tx.Delete(net::kNetworkAcl, ctx.region, id));
    return Status::Ok();
  }));
  return Json::object();
}

Json NetworkAclOps::CreateNetworkAclEntry(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "NetworkAclId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object acl = RequireAcl(tx, ctx.region, id);
    Json entry = EntryFromRequest(in);
    Json& entries = acl.doc["Entries"];
    if (FindEntry(entries, JInt(entry, "RuleNumber"), JBool(entry, "Egress"))) {
      throw Ec2Error("NetworkAclEntryAlreadyExists",
                     fmt::format("The network acl entry identified by {} already exists.", JInt(entry, "RuleNumber")));
    }
    entries.push_back(entry);
    SortEntries(entries);
    Check(tx.Put(acl));
    return Status::Ok();
  }));
  return Json::object();
}

Json NetworkAclOps::ReplaceNetworkAclEntry(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "NetworkAclId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object acl = RequireAcl(tx, ctx.region, id);
    Json entry = EntryFromRequest(in);
    Json& entries = acl.doc["Entries"];
    auto at = FindEntry(entries, JInt(entry, "RuleNumber"), JBool(entry, "Egress"));
    if (!at) {
      throw Ec2Error("InvalidNetworkAclEntry.NotFound",
                     fmt::format("The network acl entry identified by {} does not exist.", JInt(entry, "RuleNumber")));
    }
    entries[*at] = entry;
    Check(tx.Put(acl));
    return Status::Ok();
  }));
  return Json::object();
}

Json NetworkAclOps::DeleteNetworkAclEntry(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "NetworkAclId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object acl = RequireAcl(tx, ctx.region, id);
    int number = RuleNumberOf(in);
    Json& entries = acl.doc["Entries"];
    auto at = FindEntry(entries, number, JBool(in, "Egress"));
    if (!at) {
      throw Ec2Error("InvalidNetworkAclEntry.NotFound",
                     fmt::format("The network acl entry identified by {} does not exist.", number));
    }
    entries.erase(*at);
    Check(tx.Put(acl));
    return Status::Ok();
  }));
  return Json::object();
}

Json NetworkAclOps::ReplaceNetworkAclAssociation(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string assoc = JStr(in, "AssociationId"), acl_id = JStr(in, "NetworkAclId");
  std::string new_id = Ec2Id("aclassoc");
  Check(store_.Write([&](state::Tx& tx) {
    std::optional<state::Object> from;
    std::string subnet_id;
    for (auto& a : Check(tx.List({net::kNetworkAcl, ctx.region}))) {
      for (const auto& x : a.doc.value("Associations", Json::array())) {
        if (JStr(x, "NetworkAclAssociationId") == assoc) {
          subnet_id = JStr(x, "SubnetId");
          from = a;
        }
      }
      if (from) break;
    }
    if (!from) {
      throw Ec2Error("InvalidAssociationID.NotFound", fmt::format("The association ID '{}' does not exist", assoc));
    }
    state::Object to = RequireAcl(tx, ctx.region, acl_id);
    if (to.parent != from->parent) {
      throw InvalidParameterValue(fmt::format(
          "Network ACL {} and subnet {} belong to different networks", acl_id, subnet_id));
    }
    Json kept = Json::array();
    for (const auto& x : from->doc["Associations"]) {
      if (JStr(x, "NetworkAclAssociationId") != assoc) kept.push_back(x);
    }
    from->doc["Associations"] = kept;
    if (from->id == to.id) to = *from; else Check(tx.Put(*from));
    to.doc["Associations"].push_back(
        {{"NetworkAclAssociationId", new_id}, {"NetworkAclId", to.id}, {"SubnetId", subnet_id}});
    Check(tx.Put(to));
    return Status::Ok();
  }));
  return {{"NewAssociationId", new_id}};
}

}  // namespace

void RegisterNetworkAclOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<NetworkAclOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateNetworkAcl);
  KECS_OP(DescribeNetworkAcls);
  KECS_OP(DeleteNetworkAcl);
  KECS_OP(CreateNetworkAclEntry);
  KECS_OP(ReplaceNetworkAclEntry);
  KECS_OP(DeleteNetworkAclEntry);
  KECS_OP(ReplaceNetworkAclAssociation);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
