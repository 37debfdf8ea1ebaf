// EC2 subnets: CreateSubnet, DescribeSubnets, DeleteSubnet, ModifySubnetAttribute.
#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/strings.h"
#include "net/domain/ip.h"
#include "net/domain/ipam.h"

namespace kecs::api::ec2 {

state::Object RequireSubnet(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "subnet", "InvalidSubnetId.Malformed");
  auto o = Check(tx.Get(net::kSubnet, region, id));
  if (!o) throw Ec2Error("InvalidSubnetID.NotFound", fmt::format("The subnet ID '{}' does not exist", id));
  return *o;
}

std::optional<net::Ipv6Cidr> ParseSubnetIpv6Block(const std::string& text) {
  // A subnet's IPv6 block is /44 to /64 in steps of 4 (AWS's VPC guide, "Add an IPv6 CIDR
  // block to your subnet"); AWS's text for another length as observed in
  // hashicorp/terraform-provider-aws#28775.
  auto v6 = net::Ipv6Cidr::Parse(text);
  if (!v6 || v6->prefix < 44 || v6->prefix > 64 || v6->prefix % 4 != 0) {
    throw InvalidParameterValue(fmt::format("invalid value for parameter ipv6-cidr-block: {}", text));
  }
  return v6;
}

void CheckSubnetIpv6Block(const state::Object& vpc, const std::vector<state::Object>& others,
                          const net::Ipv6Cidr& v6, const std::string& text) {
  // Inside one of the VPC's IPv6 blocks (it may be the whole block), overlapping no other
  // subnet's. AWS's texts: hashicorp/terraform-provider-aws#31913 (Range) and
  // telia-oss/terraform-aws-vpc#33 (Conflict).
  bool within = false;
  for (const auto& a : vpc.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
    auto c = net::Ipv6Cidr::Parse(JStr(a, "Ipv6CidrBlock"));
    within = within || (c && c->Contains(v6));
  }
  if (!within) throw Ec2Error("InvalidSubnet.Range", fmt::format("The IPv6 CIDR '{}' is invalid.", text));
  for (const auto& other : others) {
    for (const auto& a : other.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
      auto c = net::Ipv6Cidr::Parse(JStr(a, "Ipv6CidrBlock"));
      if (c && c->Overlaps(v6)) {
        throw Ec2Error("InvalidSubnet.Conflict", fmt::format("The IPv6 CIDR '{}' conflicts with another subnet", text));
      }
    }
  }
}

namespace {

using net::Ipv4Cidr;
using net::Ipv6Cidr;

const FilterSpec& SubnetFilters() {
  static const FilterSpec kSpec = {
      {"availability-zone", Field("AvailabilityZone")},
      {"availabilityZone", Field("AvailabilityZone")},
      {"availability-zone-id", Field("AvailabilityZoneId")},
      {"availabilityZoneId", Field("AvailabilityZoneId")},
      {"available-ip-address-count", Field("AvailableIpAddressCount")},
      {"cidr-block", Field("CidrBlock")},
      {"cidr", Field("CidrBlock")},
      {"cidrBlock", Field("CidrBlock")},
      {"default-for-az", Field("DefaultForAz")},
      {"defaultForAz", Field("DefaultForAz")},
      {"ipv6-cidr-block-association.ipv6-cidr-block", Nested("Ipv6CidrBlockAssociationSet", "Ipv6CidrBlock")},
      {"ipv6-cidr-block-association.association-id", Nested("Ipv6CidrBlockAssociationSet", "AssociationId")},
      {"map-public-ip-on-launch", Field("MapPublicIpOnLaunch")},
      {"owner-id", Field("OwnerId")},
      {"state", Field("State")},
      {"subnet-arn", Field("SubnetArn")},
      {"subnet-id", Field("SubnetId")},
      {"vpc-id", Field("VpcId")},
      {"ipv6-native", Field("Ipv6Native")},
  };
  return kSpec;
}

}  // namespace

Json Ec2Api::CreateSubnet(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string vpc_id = JStr(in, "VpcId");
  std::string text = JStr(in, "CidrBlock");
  auto v6text = JOptStr(in, "Ipv6CidrBlock");
  bool native = JBool(in, "Ipv6Native");
  // IPv6-only subnets; AWS's codes and texts as moto's CreateSubnet (checked against AWS,
  // getmoto/moto#9359) answers them, in that order.
  if (native && !v6text && !JOptStr(in, "Ipv6IpamPoolId")) {
    throw Ec2Error("MissingParameter", "Either 'ipv6CidrBlock' or 'ipv6IpamPoolId' should be provided.");
  }
  if (native && (!text.empty() || JOptStr(in, "Ipv4IpamPoolId"))) {
    throw Ec2Error("InvalidParameterCombination",
                   "When specifying ipv4 parameters, cidrBlock or ipv4IpamPoolId, you cannot set ipv6Native to true.");
  }
  if (text.empty() && !native) throw Ec2Error("MissingParameter", "The request must contain the parameter CidrBlock");
  std::optional<Ipv4Cidr> cidr;
  if (!native) {
    cidr = Ipv4Cidr::Parse(text);
    if (!cidr) {
      throw InvalidParameterValue(fmt::format(
          "Value ({}) for parameter cidrBlock is invalid. This is not a valid CIDR block.", text));
    }
  }
  std::optional<Ipv6Cidr> v6;
  if (v6text) v6 = ParseSubnetIpv6Block(*v6text);
  std::optional<net::Zone> zone;
  std::string az = JStr(in, "AvailabilityZone"), az_id = JStr(in, "AvailabilityZoneId");
  if (!az.empty() || !az_id.empty()) {
    zone = net::FindZone(ctx.region, az.empty() ? az_id : az);
    if (!zone) {
      std::vector<std::string> names;
      for (const auto& z : net::Zones(ctx.region)) names.push_back(z.name);
      throw InvalidParameterValue(fmt::format(
          "Value ({}) for parameter availabilityZone is invalid. Subnets can currently only be "
          "created in the following availability zones: {}.",
          az.empty() ? az_id : az, Join(names, ", ")));
    }
  }
  Json tags = TagsFor(in, "subnet");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    // CreateSubnet does not check the id's form: a malformed one is simply not found, as AWS
    // answers it.
    auto vpc = Check(tx.Get(net::kVpc, ctx.region, vpc_id));
    if (!vpc) throw Ec2Error("InvalidVpcID.NotFound", fmt::format("The vpc ID '{}' does not exist", vpc_id));
    auto others = Check(tx.List({net::kSubnet, ctx.region, vpc_id}));
    if (cidr) {
      bool inside = false;
      for (const auto& a : vpc->doc.value("CidrBlockAssociationSet", Json::array())) {
        auto c = Ipv4Cidr::Parse(JStr(a, "CidrBlock"));
        inside = inside || (c && c->Contains(*cidr));
      }
      if (!inside || cidr->prefix < 16 || cidr->prefix > 28) {
        throw Ec2Error("InvalidSubnet.Range", fmt::format("The CIDR '{}' is invalid.", text));
      }
      for (const auto& other : others) {
        auto c = Ipv4Cidr::Parse(JStr(other.doc, "CidrBlock"));
        if (c && c->Overlaps(*cidr)) {
          throw Ec2Error("InvalidSubnet.Conflict", fmt::format("The CIDR '{}' conflicts with another subnet", text));
        }
      }
    }
    if (v6) CheckSubnetIpv6Block(*vpc, others, *v6, *v6text);
    // Without a zone, AWS picks one; kecs takes the zone with the fewest subnets of this VPC.
    net::Zone chosen = zone ? *zone : net::Zones(ctx.region).front();
    if (!zone) {
      size_t best = SIZE_MAX;
      for (const auto& z : net::Zones(ctx.region)) {
        size_t n = 0;
        for (const auto& sn : others) n += JStr(sn.doc, "AvailabilityZone") == z.name;
        if (n < best) {
          best = n;
          chosen = z;
        }
      }
    }
    auto subnet = Check(net::CreateSubnet(tx, s, *vpc, cidr, chosen, false, false, tags, v6, native));
    Json view = Check(net::SubnetView(tx, ctx.region, subnet));
    out = {{"Subnet", view}};
    return Status::Ok();
  }));
  return out;
}

Json Ec2Api::DescribeSubnets(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::vector<Json> views;
  Check(store_.Read([&](state::Tx& tx) {
    std::vector<state::Object> subnets;
    if (const Json* ids = JGet(in, "SubnetIds"); ids && !ids->empty()) {
      for (const auto& id : *ids) subnets.push_back(RequireSubnet(tx, ctx.region, id.get<std::string>()));
    } else {
      subnets = Check(tx.List({net::kSubnet, ctx.region}));
    }
    for (const auto& sn : subnets) {
      Json view = Check(net::SubnetView(tx, ctx.region, sn));
      if (MatchFilters(in.value("Filters", Json::array()), view, SubnetFilters())) views.push_back(view);
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "Subnets", std::move(views), in);
  return out;
}

Json Ec2Api::DeleteSubnet(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "SubnetId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object subnet = RequireSubnet(tx, ctx.region, id);
    if (!Check(tx.List({net::kEni, ctx.region, id})).empty()) {
      throw Ec2Error("DependencyViolation",
                     fmt::format("The subnet '{}' has dependencies and cannot be deleted.", id));
    }
    for (const auto& nat : Check(tx.List({net::kNatGateway, ctx.region}))) {
      std::string st = JStr(nat.doc, "State");
      if (JStr(nat.doc, "SubnetId") == id && st != "deleted") {
        throw Ec2Error("DependencyViolation",
                       fmt::format("The subnet '{}' has dependencies and cannot be deleted.", id));
      }
    }
    // The subnet leaves its route table and network ACL associations.
    for (const char* kind : {net::kRouteTable, net::kNetworkAcl}) {
      for (auto& o : Check(tx.List({kind, ctx.region, subnet.parent}))) {
        Json kept = Json::array();
        bool changed = false;
        for (const auto& a : o.doc.value("Associations", Json::array())) {
          if (JStr(a, "SubnetId") == id) changed = true; else kept.push_back(a);
        }
        if (changed) {
          o.doc["Associations"] = kept;
          Check(tx.Put(o));
        }
      }
    }
    // Its CIDR reservations go with it.
    for (const auto& r : Check(tx.List({net::kSubnetCidrReservation, ctx.region, id}))) Check(tx.Delete(r.kind, ctx.region, r.id));
    Check(tx.Delete(net::kSubnet, ctx.region, id));
    return Status::Ok();
  }));
  return Json::object();
}

Json Ec2Api::ModifySubnetAttribute(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "SubnetId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object subnet = RequireSubnet(tx, ctx.region, id);
    auto flag = [&](const char* req, const char* member) {
      if (const Json* v = JGet(in, req)) subnet.doc[member] = JBool(*v, "Value");
    };
    flag("MapPublicIpOnLaunch", "MapPublicIpOnLaunch");
    flag("AssignIpv6AddressOnCreation", "AssignIpv6AddressOnCreation");
    flag("EnableDns64", "EnableDns64");
    flag("MapCustomerOwnedIpOnLaunch", "MapCustomerOwnedIpOnLaunch");
    if (auto t = JOptStr(in, "PrivateDnsHostnameTypeOnLaunch")) {
      subnet.doc["PrivateDnsNameOptionsOnLaunch"]["HostnameType"] = *t;
    }
    if (const Json* v = JGet(in, "EnableResourceNameDnsARecordOnLaunch")) {
      subnet.doc["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsARecord"] = JBool(*v, "Value");
    }
    if (const Json* v = JGet(in, "EnableResourceNameDnsAAAARecordOnLaunch")) {
      subnet.doc["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsAAAARecord"] = JBool(*v, "Value");
    }
    // AWS's text as terraform-aws-modules/terraform-aws-vpc#735 shows it.
    if (JBool(subnet.doc, "AssignIpv6AddressOnCreation") &&
        subnet.doc["Ipv6CidrBlockAssociationSet"].empty()) {
      throw InvalidParameterValue(fmt::format(
          "Invalid value 'true' for assign-ipv6-address-on-creation. Cannot set "
          "assign-ipv6-address-on-creation to true unless the subnet ({}) has an IPv6 CIDR block "
          "associated with it.", id));
    }
    Check(tx.Put(subnet));
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace kecs::api::ec2
