// EC2 network interfaces: CreateNetworkInterface, DescribeNetworkInterfaces,
// DeleteNetworkInterface, ModifyNetworkInterfaceAttribute, and their secondary addresses:
// AssignPrivateIpAddresses, UnassignPrivateIpAddresses, AssignIpv6Addresses,
// UnassignIpv6Addresses.
//
// Sources of AWS's wording where the issue gives none: "invalid value for parameter
// address: <a>" is AWS's answer quoted in hashicorp/terraform#18764; "Number of private
// addresses will exceed limit." (PrivateIpAddressLimitExceeded) is AWS's answer as users
// quote it. The other texts of the secondary-address operations follow a public EC2
// emulator that records AWS's answers (found by code search; its repository was not
// named); where a comment says "no source", none was found and the wording is kecs's.
//
// Limits: AWS's per-interface address limit depends on the instance type (EC2 User Guide,
// "Maximum IP addresses per network interface"; DescribeInstanceTypes'
// Ipv4AddressesPerInterface / Ipv6AddressesPerInterface). kecs has no instance types: an
// unattached interface and a task's interface on kecs's one "instance" both get the
// largest figure of that table, 50 IPv4 (primary included) and 50 IPv6 addresses
// (c5.metal, m5.24xlarge).
#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "net/domain/ip.h"
#include "net/domain/ipam.h"

namespace kecs::api::ec2 {
namespace {

const FilterSpec& EniFilters() {
  auto assoc = [](const char* member) -> FilterField {
    return [member](const Json& v) -> std::vector<std::string> {
      const Json* a = JGet(v, "Association");
      if (!a) return {};
      return {JStr(*a, member)};
    };
  };
  auto attach = [](const char* member) -> FilterField {
    return [member](const Json& v) -> std::vector<std::string> {
      const Json* a = JGet(v, "Attachment");
      if (!a || !JGet(*a, member)) return {};
      const Json& x = (*a)[member];
      return {x.is_string() ? x.get<std::string>() : x.dump()};
    };
  };
  static const FilterSpec kSpec = {
      {"addresses.private-ip-address", Nested("PrivateIpAddresses", "PrivateIpAddress")},
      {"addresses.primary", Nested("PrivateIpAddresses", "Primary")},
      {"association.public-ip", assoc("PublicIp")},
      {"association.public-dns-name", assoc("PublicDnsName")},
      {"association.ip-owner-id", assoc("IpOwnerId")},
      {"association.association-id", assoc("AssociationId")},
      {"association.allocation-id", assoc("AllocationId")},
      {"attachment.attachment-id", attach("AttachmentId")},
      {"attachment.instance-id", attach("InstanceId")},
      {"attachment.instance-owner-id", attach("InstanceOwnerId")},
      {"attachment.device-index", attach("DeviceIndex")},
      {"attachment.status", attach("Status")},
      {"attachment.delete-on-termination", attach("DeleteOnTermination")},
      {"availability-zone", Field("AvailabilityZone")},
      {"description", Field("Description")},
      {"group-id", Nested("Groups", "GroupId")},
      {"group-name", Nested("Groups", "GroupName")},
      {"ipv6-addresses.ipv6-address", Nested("Ipv6Addresses", "Ipv6Address")},
      {"interface-type", Field("InterfaceType")},
      {"mac-address", Field("MacAddress")},
      {"network-interface-id", Field("NetworkInterfaceId")},
      {"owner-id", Field("OwnerId")},
      {"private-ip-address", Field("PrivateIpAddress")},
      {"private-dns-name", Field("PrivateDnsName")},
      {"requester-id", Field("RequesterId")},
      {"requester-managed", Field("RequesterManaged")},
      {"source-dest-check", Field("SourceDestCheck")},
      {"status", Field("Status")},
      {"subnet-id", Field("SubnetId")},
      {"vpc-id", Field("VpcId")},
  };
  return kSpec;
}

state::Object RequireEni(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "eni", "InvalidNetworkInterfaceId.Malformed");
  auto o = Check(tx.Get(net::kEni, region, id));
  if (!o) {
    throw Ec2Error("InvalidNetworkInterfaceID.NotFound",
                   fmt::format("The networkInterface ID '{}' does not exist", id));
  }
  return *o;
}

constexpr int kMaxIpv4PerEni = 50;
constexpr int kMaxIpv6PerEni = 50;

AwsError BadAddress(const std::string& a) {
  return InvalidParameterValue(fmt::format("invalid value for parameter address: {}", a));
}

AwsError TooManyIpv4() {
  return Ec2Error("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.");
}

// No source for an IPv6 wording: the IPv4 one, with the family named.
AwsError TooManyIpv6() {
  return Ec2Error("PrivateIpAddressLimitExceeded", "Number of IPv6 addresses will exceed limit.");
}

void CheckPositive(const Json& in, const char* member, const char* param, int64_t min = 1) {
  if (auto n = JOptInt(in, member); n && *n < min) {
    throw InvalidParameterValue(fmt::format(
        "Value ({}) for parameter {} is invalid. Value must be a positive number.", *n, param));
  }
}

// A chosen IPv6 address of `subnet`'s IPv6 blocks. No source for the wording of an address
// outside them: the IPv4 sentence.
net::Ipv6 ChosenIpv6(const state::Object& subnet, const std::string& text) {
  auto a = net::ParseIpv6(text);
  if (!a) throw BadAddress(text);
  for (const auto& b : subnet.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
    auto c6 = net::Ipv6Cidr::Parse(JStr(b, "Ipv6CidrBlock"));
    if (c6 && c6->Contains(*a)) return *a;
  }
  throw InvalidParameterValue(fmt::format("Address {} does not fall within the subnet's address range", text));
}

void RequireIpv6Block(const state::Object& subnet) {
  if (subnet.doc.value("Ipv6CidrBlockAssociationSet", Json::array()).empty()) {
    throw InvalidParameterValue(fmt::format("The subnet '{}' does not have an IPv6 CIDR block.", subnet.id));
  }
}

// An IPv6-only subnet (Ipv6Native) has no IPv4 addresses to give. No source for AWS's
// wording: RequireIpv6Block's sentence, for IPv4.
void RequireIpv4Block(const state::Object& subnet) {
  if (JStr(subnet.doc, "CidrBlock").empty()) {
    throw InvalidParameterValue(fmt::format("The subnet '{}' does not have an IPv4 CIDR block.", subnet.id));
  }
}

state::Object SubnetOf(state::Tx& tx, const state::Object& eni) {
  auto subnet = Check(tx.Get(net::kSubnet, eni.region, eni.parent));
  if (!subnet) throw AwsError("InternalError", "the interface's subnet is gone", 500);
  return *subnet;
}

// Maps the domain's errors for taken or exhausted addresses to EC2's.
template <typename T>
T CheckAddresses(Result<T> r) {
  if (r.status().code() == Code::kAlreadyExists) {
    throw Ec2Error("InvalidIPAddress.InUse", "The specified address is already in use.");
  }
  if (r.status().code() == Code::kResourceExhausted) {
    throw Ec2Error("InsufficientFreeAddressesInSubnet",
                   "The specified subnet does not have enough free addresses to satisfy the request.");
  }
  return Check(std::move(r));
}

// CreateNetworkInterface's PrivateIpAddress, PrivateIpAddresses and
// SecondaryPrivateIpAddressCount: the primary (if chosen) into `primary`, the rest into
// spec.secondary_ips / secondary_count. A list with no primary entry gets the lowest free
// address as its primary, as the emulator quoted above records AWS doing (no AWS error for
// it was found).
void PrivateIpsInto(const Json& in, const state::Object& subnet, net::EniSpec& spec,
                    std::optional<std::string>& primary) {
  const Json list = in.value("PrivateIpAddresses", Json::array());
  CheckPositive(in, "SecondaryPrivateIpAddressCount", "secondaryPrivateIpAddressCount");
  if (JOptInt(in, "SecondaryPrivateIpAddressCount")) RequireIpv4Block(subnet);
  int primaries = primary ? 1 : 0;
  for (const auto& e : list) primaries += JBool(e, "Primary") ? 1 : 0;
  if (primaries > 1) throw InvalidParameterValue("Only one primary private IP address can be specified.");
  bool only_primary = list.size() == 1 && JBool(list[0], "Primary");
  if (JOptInt(in, "SecondaryPrivateIpAddressCount") && !list.empty() && !only_primary) {
    throw InvalidParameterValue(
        "You can specify one and only one secondaryPrivateIpAddressCount or secondaryPrivateIpAddressCount or "
        "ipv4Prefixes or ipv4PrefixCount.");
  }
  std::map<std::string, bool> seen;  // address -> primary
  if (primary) seen[*primary] = true;
  for (const auto& e : list) {
    std::string a = JStr(e, "PrivateIpAddress");
    bool p = JBool(e, "Primary");
    if (auto it = seen.find(a); it != seen.end()) {
      if (it->second != p) throw InvalidParameterValue("address value can't be both primary and secondary");
      throw InvalidParameterValue("Duplicate private IP address.");
    }
    seen[a] = p;
    if (p) {
      primary = a;
    } else {
      spec.secondary_ips.push_back(SubnetIpv4(subnet, a));
    }
  }
  // The limit is checked on the request's 64-bit count (without overflow), before it narrows
  // to an int.
  const int64_t count = JInt(in, "SecondaryPrivateIpAddressCount");
  if (count > kMaxIpv4PerEni - 1 - static_cast<int64_t>(spec.secondary_ips.size())) throw TooManyIpv4();
  spec.secondary_count = static_cast<int>(count);
}

// CreateNetworkInterface's Ipv6Addresses and Ipv6AddressCount.
void Ipv6Into(const Json& in, const state::Object& subnet, net::EniSpec& spec) {
  const Json list = in.value("Ipv6Addresses", Json::array());
  // 0 is allowed here: it overrides the subnet's AssignIpv6AddressOnCreation (the EC2 API
  // reference, CreateNetworkInterface's Ipv6AddressCount).
  CheckPositive(in, "Ipv6AddressCount", "ipv6AddressCount", 0);
  if (!list.empty() && JOptInt(in, "Ipv6AddressCount")) {
    // No source for this wording: the IPv4 sentence (AssignPrivateIpAddresses), for IPv6.
    throw Ec2Error("InvalidParameterCombination",
                   "You may specify one and only one of ipv6Addresses or ipv6AddressCount or ipv6Prefixes or "
                   "ipv6PrefixCount, but not more than one of them.");
  }
  const int64_t count = JInt(in, "Ipv6AddressCount");
  if (count > kMaxIpv6PerEni - static_cast<int64_t>(list.size())) throw TooManyIpv6();
  spec.ipv6_count = static_cast<int>(count);
  spec.ipv6 = spec.ipv6_count > 0 || !list.empty() ||
              (JBool(subnet.doc, "AssignIpv6AddressOnCreation") && !JOptInt(in, "Ipv6AddressCount"));
  if (spec.ipv6) RequireIpv6Block(subnet);
  std::set<std::string> seen;
  for (const auto& e : list) {
    std::string a = JStr(e, "Ipv6Address");
    if (!seen.insert(a).second) throw InvalidParameterValue("Duplicate IPv6 address.");  // no source
    spec.ipv6_addresses.push_back(ChosenIpv6(subnet, a));
  }
}

}  // namespace

Json Ec2Api::CreateNetworkInterface(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string subnet_id = JStr(in, "SubnetId");
  Json tags = TagsFor(in, "network-interface");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    CheckId(subnet_id, "subnet", "InvalidSubnetId.Malformed");
    auto subnet = Check(tx.Get(net::kSubnet, ctx.region, subnet_id));
    if (!subnet) {
      throw Ec2Error("InvalidSubnetID.NotFound", fmt::format("The subnet ID '{}' does not exist", subnet_id));
    }
    net::EniSpec spec;
    spec.subnet = &*subnet;
    spec.description = JStr(in, "Description");
    spec.interface_type = JStr(in, "InterfaceType", "interface");
    spec.tags = tags;
    // An interface the user creates is requested by them (AWS shows the caller's id).
    spec.requester_id = s.account;
    std::optional<std::string> primary = JOptStr(in, "PrivateIpAddress");
    PrivateIpsInto(in, *subnet, spec, primary);
    Ipv6Into(in, *subnet, spec);
    for (const auto& g : in.value("Groups", Json::array())) spec.groups.push_back(g.get<std::string>());
    if (spec.groups.size() > 5) {
      throw Ec2Error("SecurityGroupsPerInterfaceLimitExceeded",
                     "The maximum number of security groups per interface has been reached.");
    }
    for (const auto& g : spec.groups) {
      CheckId(g, "sg", "InvalidGroupId.Malformed");
      auto sg = Check(tx.Get(net::kSecurityGroup, ctx.region, g));
      if (!sg) throw Ec2Error("InvalidGroup.NotFound", fmt::format("The security group '{}' does not exist", g));
      if (sg->parent != subnet->parent) {
        throw InvalidParameterValue(fmt::format(
            "Security group {} and subnet {} belong to different networks.", g, subnet_id));
      }
    }
    if (spec.groups.empty()) {
      auto def = Check(net::DefaultSecurityGroup(tx, ctx.region, subnet->parent));
      if (def) spec.groups.push_back(def->id);
    }
    state::Object eni = CreateEniAt(tx, s, spec, primary);
    out = {{"NetworkInterface", eni.doc}};
    return Status::Ok();
  }));
  return out;
}

Json Ec2Api::DescribeNetworkInterfaces(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  CheckFilters(in.value("Filters", Json::array()), EniFilters());
  std::vector<Json> views;
  Check(store_.Read([&](state::Tx& tx) {
    std::vector<state::Object> enis;
    if (const Json* ids = JGet(in, "NetworkInterfaceIds"); ids && !ids->empty()) {
      for (const auto& id : *ids) enis.push_back(RequireEni(tx, ctx.region, id.get<std::string>()));
    } else {
      enis = Check(tx.List({net::kEni, ctx.region}));
    }
    for (const auto& e : enis) {
      if (MatchFilters(in.value("Filters", Json::array()), e.doc, EniFilters(), "TagSet")) {
        views.push_back(e.doc);
      }
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "NetworkInterfaces", std::move(views), in);
  return out;
}

Json Ec2Api::DeleteNetworkInterface(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "NetworkInterfaceId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object eni = RequireEni(tx, ctx.region, id);
    if (JStr(eni.doc, "Status") == "in-use") {
      throw InvalidParameterValue(fmt::format("Network interface '{}' is currently in use.", id));
    }
    Check(net::DeleteEni(tx, ctx.region, id));
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace kecs::api::ec2

namespace kecs::api::ec2 {

Json Ec2Api::ModifyNetworkInterfaceAttribute(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "NetworkInterfaceId");
  int given = 0;
  for (const char* k : {"Groups", "Description", "SourceDestCheck", "Attachment", "EnaSrdSpecification"}) {
    if (JGet(in, k)) ++given;
  }
  if (given == 0) {
    throw Ec2Error("MissingParameter", "The request must contain the parameter groupSet, description, sourceDestCheck or attachment");
  }
  Check(store_.Write([&](state::Tx& tx) {
    state::Object eni = RequireEni(tx, ctx.region, id);
    if (const Json* groups = JGet(in, "Groups")) {
      if (groups->size() > 5) {
        throw Ec2Error("SecurityGroupsPerInterfaceLimitExceeded",
                       "The maximum number of security groups per interface has been reached.");
      }
      if (groups->empty()) {
        throw Ec2Error("MissingParameter", "The request must contain the parameter groupId");
      }
      Json list = Json::array();
      for (const auto& g : *groups) {
        std::string gid = g.get<std::string>();
        CheckId(gid, "sg", "InvalidGroupId.Malformed");
        auto sg = Check(tx.Get(net::kSecurityGroup, ctx.region, gid));
        if (!sg) throw Ec2Error("InvalidGroup.NotFound", fmt::format("The security group '{}' does not exist", gid));
        if (sg->parent != JStr(eni.doc, "VpcId")) {
          throw InvalidParameterValue(fmt::format(
              "Security group {} and interface {} belong to different networks.", gid, id));
        }
        list.push_back({{"GroupId", gid}, {"GroupName", JStr(sg->doc, "GroupName")}});
      }
      eni.doc["Groups"] = list;
    }
    if (const Json* d = JGet(in, "Description")) eni.doc["Description"] = JStr(*d, "Value");
    if (const Json* s = JGet(in, "SourceDestCheck")) eni.doc["SourceDestCheck"] = JBool(*s, "Value");
    if (const Json* a = JGet(in, "Attachment")) {
      if (JGet(eni.doc, "Attachment")) {
        eni.doc["Attachment"]["DeleteOnTermination"] = JBool(*a, "DeleteOnTermination");
      }
    }
    Check(tx.Put(eni));
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace kecs::api::ec2

namespace kecs::api::ec2 {
namespace {

class EniAddressOps {
 public:
  EniAddressOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json AssignPrivateIpAddresses(RequestContext& ctx, const Json& in);
  Json UnassignPrivateIpAddresses(RequestContext& ctx, const Json& in);
  Json AssignIpv6Addresses(RequestContext& ctx, const Json& in);
  Json UnassignIpv6Addresses(RequestContext& ctx, const Json& in);

 private:
  void EnsureRegion(const RequestContext& ctx) { RequestScope(store_, regions_, ctx); }

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

std::vector<std::string> Strings(const Json& in, const char* member) {
  std::vector<std::string> out;
  for (const auto& v : in.value(member, Json::array())) out.push_back(v.get<std::string>());
  return out;
}

Json EniAddressOps::AssignPrivateIpAddresses(RequestContext& ctx, const Json& in) {
  EnsureRegion(ctx);
  std::string id = JStr(in, "NetworkInterfaceId");
  std::vector<std::string> wanted = Strings(in, "PrivateIpAddresses");
  auto count = JOptInt(in, "SecondaryPrivateIpAddressCount");
  Json assigned = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    state::Object eni = RequireEni(tx, ctx.region, id);
    if (wanted.empty() && !count) {
      throw Ec2Error("InvalidParameter",
                     "One of privateIpAddressSet or privateIpAddressCount or ipv4PrefixSet or ipv4PrefixCount must "
                     "be specified.");
    }
    if (!wanted.empty() && count) {
      throw Ec2Error("InvalidParameterCombination",
                     "You may specify one and only one of privateIpAddressSet or secondaryPrivateIpAddressCount or "
                     "ipv4Prefixes or ipv4PrefixCount, but not more than one of them.");
    }
    CheckPositive(in, "SecondaryPrivateIpAddressCount", "secondaryPrivateIpAddressCount");
    state::Object subnet = SubnetOf(tx, eni);
    RequireIpv4Block(subnet);
    auto cidr = net::Ipv4Cidr::Parse(JStr(subnet.doc, "CidrBlock"));
    std::set<uint32_t> have;
    for (const auto& e : eni.doc["PrivateIpAddresses"]) {
      if (auto ip = net::ParseIpv4(JStr(e, "PrivateIpAddress"))) have.insert(*ip);
    }
    std::vector<uint32_t> take;
    std::vector<std::string> not_moved;
    std::set<uint32_t> seen;
    for (const auto& text : wanted) {
      auto ip = net::ParseIpv4(text);
      if (!ip) throw BadAddress(text);
      if (!cidr || !cidr->Contains(*ip)) {
        throw InvalidParameterValue("Address does not fall within the subnet's address range");
      }
      if (cidr->Reserved(*ip)) throw InvalidParameterValue(fmt::format("Address {} is in subnet's reserved range.", text));
      if (!seen.insert(*ip).second) continue;
      assigned.push_back({{"PrivateIpAddress", text}});
      if (have.count(*ip)) continue;  // already this interface's: nothing to do
      auto owner = Check(net::Ipv4Owner(tx, ctx.region, subnet.id, *ip));
      if (owner) {
        // Another interface's secondary address moves only with AllowReassignment; a primary
        // address never does.
        auto other = Check(tx.Get(net::kEni, ctx.region, *owner));
        if (!other) throw Ec2Error("InvalidIPAddress.InUse", "The specified address is already in use.");
        if (JStr(other->doc, "PrivateIpAddress") == text) throw InvalidParameterValue("secondary-addresses");
        if (!JBool(in, "AllowReassignment")) {
          not_moved.push_back(text);
          continue;
        }
        Check(net::UnassignEniPrivateIps(tx, ctx.region, *other, {*ip}));
      }
      take.push_back(*ip);
    }
    if (!not_moved.empty()) {
      throw InvalidParameterValue(fmt::format("[{}] assigned, but move is not allowed.", fmt::join(not_moved, ", ")));
    }
    const int64_t n = count.value_or(0);
    if (n > kMaxIpv4PerEni - static_cast<int64_t>(have.size() + take.size())) throw TooManyIpv4();
    auto added = CheckAddresses(net::AssignEniPrivateIps(tx, ctx.region, eni, subnet, take, static_cast<int>(n)));
    for (size_t i = take.size(); i < added.size(); ++i) assigned.push_back({{"PrivateIpAddress", net::Ipv4ToString(added[i])}});
    return Status::Ok();
  }));
  return {{"NetworkInterfaceId", id}, {"AssignedPrivateIpAddresses", assigned}, {"AssignedIpv4Prefixes", Json::array()}};
}

Json EniAddressOps::UnassignPrivateIpAddresses(RequestContext& ctx, const Json& in) {
  EnsureRegion(ctx);
  std::string id = JStr(in, "NetworkInterfaceId");
  std::vector<std::string> wanted = Strings(in, "PrivateIpAddresses");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object eni = RequireEni(tx, ctx.region, id);
    if (wanted.empty()) {
      throw Ec2Error("MissingParameter", "One of privateIpAddresses or ipv4Prefixes must be specified.");
    }
    std::vector<uint32_t> drop;
    for (const auto& text : wanted) {
      const Json* entry = nullptr;
      for (const auto& e : eni.doc["PrivateIpAddresses"]) {
        if (JStr(e, "PrivateIpAddress") == text) entry = &e;
      }
      if (!entry) {
        throw InvalidParameterValue(fmt::format("Some of the specified addresses are not assigned to interface {}", id));
      }
      if (JBool(*entry, "Primary")) {
        throw InvalidParameterValue(fmt::format(
            "Value ({}) for parameter privateIpAddress is invalid. The primary IP address of an interface cannot be "
            "unassigned.",
            text));
      }
      drop.push_back(*net::ParseIpv4(text));
    }
    Check(net::UnassignEniPrivateIps(tx, ctx.region, eni, drop));
    return Status::Ok();
  }));
  return Json::object();
}

Json EniAddressOps::AssignIpv6Addresses(RequestContext& ctx, const Json& in) {
  EnsureRegion(ctx);
  std::string id = JStr(in, "NetworkInterfaceId");
  std::vector<std::string> wanted = Strings(in, "Ipv6Addresses");
  auto count = JOptInt(in, "Ipv6AddressCount");
  Json assigned = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    state::Object eni = RequireEni(tx, ctx.region, id);
    // No source for these two wordings: AssignPrivateIpAddresses' sentences, for IPv6.
    if (wanted.empty() && !count) {
      throw Ec2Error("InvalidParameter",
                     "One of ipv6AddressSet or ipv6AddressCount or ipv6PrefixSet or ipv6PrefixCount must be specified.");
    }
    if (!wanted.empty() && count) {
      throw Ec2Error("InvalidParameterCombination",
                     "You may specify one and only one of ipv6Addresses or ipv6AddressCount or ipv6Prefixes or "
                     "ipv6PrefixCount, but not more than one of them.");
    }
    CheckPositive(in, "Ipv6AddressCount", "ipv6AddressCount");
    state::Object subnet = SubnetOf(tx, eni);
    RequireIpv6Block(subnet);
    std::set<net::Ipv6> have;
    for (const auto& e : eni.doc["Ipv6Addresses"]) {
      if (auto a = net::ParseIpv6(JStr(e, "Ipv6Address"))) have.insert(*a);
    }
    std::vector<net::Ipv6> take;
    for (const auto& text : wanted) {
      net::Ipv6 a = ChosenIpv6(subnet, text);
      if (have.count(a) || std::find(take.begin(), take.end(), a) != take.end()) continue;
      take.push_back(a);
    }
    const int64_t n = count.value_or(0);
    if (n > kMaxIpv6PerEni - static_cast<int64_t>(have.size() + take.size())) throw TooManyIpv6();
    auto added = CheckAddresses(net::AssignEniIpv6(tx, ctx.region, eni, subnet, take, static_cast<int>(n)));
    for (const auto& a : added) assigned.push_back(net::Ipv6ToString(a));
    return Status::Ok();
  }));
  return {{"NetworkInterfaceId", id}, {"AssignedIpv6Addresses", assigned}, {"AssignedIpv6Prefixes", Json::array()}};
}

Json EniAddressOps::UnassignIpv6Addresses(RequestContext& ctx, const Json& in) {
  EnsureRegion(ctx);
  std::string id = JStr(in, "NetworkInterfaceId");
  std::vector<std::string> wanted = Strings(in, "Ipv6Addresses");
  Json removed = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    state::Object eni = RequireEni(tx, ctx.region, id);
    if (wanted.empty()) {  // no source: the IPv4 sentence, for IPv6
      throw Ec2Error("MissingParameter", "One of ipv6Addresses or ipv6Prefixes must be specified.");
    }
    std::vector<net::Ipv6> drop;
    for (const auto& text : wanted) {
      auto a = net::ParseIpv6(text);
      bool has = false;
      for (const auto& e : eni.doc["Ipv6Addresses"]) {
        auto b = net::ParseIpv6(JStr(e, "Ipv6Address"));
        has = has || (a && b && *a == *b);
      }
      if (!has) {  // no source: the IPv4 sentence
        throw InvalidParameterValue(fmt::format("Some of the specified addresses are not assigned to interface {}", id));
      }
      drop.push_back(*a);
      removed.push_back(net::Ipv6ToString(*a));
    }
    Check(net::UnassignEniIpv6(tx, ctx.region, eni, drop));
    return Status::Ok();
  }));
  return {{"NetworkInterfaceId", id}, {"UnassignedIpv6Addresses", removed}, {"UnassignedIpv6Prefixes", Json::array()}};
}

}  // namespace

void RegisterEniAddressOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<EniAddressOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(AssignPrivateIpAddresses);
  KECS_OP(UnassignPrivateIpAddresses);
  KECS_OP(AssignIpv6Addresses);
  KECS_OP(UnassignIpv6Addresses);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
