// EC2 network interfaces: CreateNetworkInterface, DescribeNetworkInterfaces,
// DeleteNetworkInterface.
#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "net/domain/ip.h"

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
    spec.ipv6 = JInt(in, "Ipv6AddressCount") > 0 || JBool(subnet->doc, "AssignIpv6AddressOnCreation");
    if (spec.ipv6 && subnet->doc["Ipv6CidrBlockAssociationSet"].empty()) {
      throw InvalidParameterValue(fmt::format("The subnet '{}' does not have an IPv6 CIDR block.", subnet_id));
    }
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
    state::Object eni = CreateEniAt(tx, s, spec, JOptStr(in, "PrivateIpAddress"));
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
