// EC2 internet gateways and NAT gateways: CreateInternetGateway, DescribeInternetGateways,
// DeleteInternetGateway, AttachInternetGateway, DetachInternetGateway, CreateNatGateway,
// DescribeNatGateways, DeleteNatGateway.
//
// An attached internet gateway has its VPC as its parent (DeleteVpc refuses a VPC that
// still has one). A NAT gateway owns a requester-managed "nat_gateway" interface holding
// an address of its subnet; deleting the gateway releases it. Deleted NAT gateways stay
// visible with state "deleted", as AWS shows them for a while.
#include <memory>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/clock.h"
#include "base/ids.h"
#include "net/domain/ip.h"

namespace kecs::api::ec2 {
namespace {

state::Object RequireIgw(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "igw", "InvalidInternetGatewayId.Malformed");
  auto o = Check(tx.Get(net::kInternetGateway, region, id));
  if (!o) {
    throw Ec2Error("InvalidInternetGatewayID.NotFound",
                   fmt::format("The internetGateway ID '{}' does not exist", id));
  }
  return *o;
}

state::Object RequireNat(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "nat", "InvalidNatGatewayId.Malformed");
  auto o = Check(tx.Get(net::kNatGateway, region, id));
  if (!o) throw Ec2Error("NatGatewayNotFound", fmt::format("NAT gateway {} was not found", id));
  return *o;
}

const FilterSpec& IgwFilters() {
  static const FilterSpec kSpec = {
      {"attachment.state", Nested("Attachments", "State")},
      {"attachment.vpc-id", Nested("Attachments", "VpcId")},
      {"internet-gateway-id", Field("InternetGatewayId")},
      {"owner-id", Field("OwnerId")},
  };
  return kSpec;
}

const FilterSpec& NatFilters() {
  static const FilterSpec kSpec = {
      {"nat-gateway-id", Field("NatGatewayId")},
      {"state", Field("State")},
      {"subnet-id", Field("SubnetId")},
      {"vpc-id", Field("VpcId")},
      {"connectivity-type", Field("ConnectivityType")},
  };
  return kSpec;
}

class GatewayOps {
 public:
  GatewayOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json CreateInternetGateway(RequestContext& ctx, const Json& in);
  Json DescribeInternetGateways(RequestContext& ctx, const Json& in);
  Json DeleteInternetGateway(RequestContext& ctx, const Json& in);
  Json AttachInternetGateway(RequestContext& ctx, const Json& in);
  Json DetachInternetGateway(RequestContext& ctx, const Json& in);
  Json CreateNatGateway(RequestContext& ctx, const Json& in);
  Json DescribeNatGateways(RequestContext& ctx, const Json& in);
  Json DeleteNatGateway(RequestContext& ctx, const Json& in);

 private:
  net::Scope ScopeOf(const RequestContext& ctx) {
    return RequestScope(store_, regions_, ctx);
  }

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

Json GatewayOps::CreateInternetGateway(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  Json tags = TagsFor(in, "internet-gateway");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto igw = Check(net::CreateInternetGateway(tx, s, tags));
    out = {{"InternetGateway", WithoutInternalMembers(igw.doc)}};
    return Status::Ok();
  }));
  return out;
}

Json GatewayOps::DescribeInternetGateways(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  return DescribeStored(store_, ctx, in, {net::kInternetGateway, "InternetGatewayIds", "Filters", "InternetGateways", IgwFilters(), RequireIgw});
}

Json GatewayOps::DeleteInternetGateway(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "InternetGatewayId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object igw = RequireIgw(tx, ctx.region, id);
    if (!igw.doc.value("Attachments", Json::array()).empty()) {
      throw Ec2Error("DependencyViolation",
                     fmt::format("The internetGateway '{}' has dependencies and cannot be deleted.", id));
    }
    Check(tx.Delete(net::kInternetGateway, ctx.region, id));
    return Status::Ok();
  }));
  return Json::object();
}

Json GatewayOps::AttachInternetGateway(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string id = JStr(in, "InternetGatewayId"), vpc_id = JStr(in, "VpcId");
  // Both ids' form before either lookup. AttachInternetGateway words a malformed VpcId as
  // "Invalid id: ... (expecting "vpc-...")" (issue 20), unlike CreateSecurityGroup and
  // CreateSubnet, so it checks here rather than relying on RequireVpc's wording.
  CheckId(id, "igw", "InvalidInternetGatewayId.Malformed");
  CheckId(vpc_id, "vpc", "InvalidVpcId.Malformed");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object igw = RequireIgw(tx, ctx.region, id);
    RequireVpc(tx, ctx.region, vpc_id);
    for (const auto& a : igw.doc.value("Attachments", Json::array())) {
      throw Ec2Error("Resource.AlreadyAssociated",
                     fmt::format("resource {} is already attached to network {}", id, JStr(a, "VpcId")));
    }
    if (!Check(tx.List({net::kInternetGateway, ctx.region, vpc_id})).empty()) {
      throw InvalidParameterValue(
          fmt::format("Network {} already has an internet gateway attached", vpc_id));
    }
    Check(net::AttachInternetGateway(tx, s, igw, vpc_id));
    SetRouteState(tx, ctx.region, vpc_id, "GatewayId", id, "active");
    return Status::Ok();
  }));
  return Json::object();
}

Json GatewayOps::DetachInternetGateway(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "InternetGatewayId"), vpc_id = JStr(in, "VpcId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object igw = RequireIgw(tx, ctx.region, id);
    RequireVpc(tx, ctx.region, vpc_id);
    bool attached = false;
    for (const auto& a : igw.doc.value("Attachments", Json::array())) {
      attached = attached || JStr(a, "VpcId") == vpc_id;
    }
    if (!attached) {
      throw Ec2Error("Gateway.NotAttached",
                     fmt::format("resource {} is not attached to network {}", id, vpc_id));
    }
    igw.doc["Attachments"] = Json::array();
    igw.parent = "";
    Check(tx.Put(igw));
    // Routes through the gateway stay, as blackholes, until it is attached again.
    SetRouteState(tx, ctx.region, vpc_id, "GatewayId", id, "blackhole");
    return Status::Ok();
  }));
  return Json::object();
}

Json GatewayOps::CreateNatGateway(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string subnet_id = JStr(in, "SubnetId");
  if (subnet_id.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter SubnetId");
  std::string connectivity = JStr(in, "ConnectivityType", "public");
  std::string allocation = JStr(in, "AllocationId");
  std::string token = JStr(in, "ClientToken");
  if (!allocation.empty()) {
    if (connectivity == "private") {
      throw Ec2Error("InvalidParameterCombination",
                     "Private NAT gateways cannot be associated with an Elastic IP address.");
    }
    CheckId(allocation, "eipalloc", "InvalidAllocationID.Malformed");
  }
  Json tags = TagsFor(in, "natgateway");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    std::vector<state::Object> existing = Check(tx.List({net::kNatGateway, ctx.region}));
    // A repeated ClientToken returns the gateway the first request made.
    if (!token.empty()) {
      for (const auto& n : existing) {
        if (JStr(n.doc, "kecs:clientToken") == token) {
          out = {{"ClientToken", token}, {"NatGateway", WithoutInternalMembers(n.doc)}};
          return Status::Ok();
        }
      }
    }
    CheckId(subnet_id, "subnet", "InvalidSubnetId.Malformed");
    auto subnet = Check(tx.Get(net::kSubnet, ctx.region, subnet_id));
    if (!subnet) {
      throw Ec2Error("InvalidSubnetID.NotFound", fmt::format("The subnet ID '{}' does not exist", subnet_id));
    }
    if (JStr(subnet->doc, "CidrBlock").empty()) {
      // An IPv6-only subnet; no source for AWS's text, kecs's wording.
      throw InvalidParameterValue(fmt::format("The subnet '{}' has no IPv4 CIDR block for a NAT gateway.", subnet_id));
    }
    if (!allocation.empty()) {
      // An allocation kecs did not make is accepted in lenient mode (the address its id
      // names); --strict wants it allocated, as AWS does (hashicorp/terraform#1815's words).
      if (ctx.strict && !Check(tx.Get(kElasticIp, ctx.region, allocation))) {
        throw Ec2Error("InvalidAllocationID.NotFound", fmt::format("The allocation ID '{}' does not exist", allocation));
      }
      for (const auto& n : existing) {
        if (JStr(n.doc, "State") == "deleted") continue;
        for (const auto& a : n.doc.value("NatGatewayAddresses", Json::array())) {
          if (JStr(a, "AllocationId") == allocation) {
            throw Ec2Error("Resource.AlreadyAssociated",
                           fmt::format("Elastic IP address [{}] is already associated", allocation));
          }
        }
      }
    }
    std::string id = Ec2Id("nat");
    net::EniSpec spec;
    spec.subnet = &*subnet;
    spec.description = "Interface for NAT Gateway " + id;
    spec.interface_type = "nat_gateway";
    spec.requester_managed = true;
    spec.requester_id = "amazon";
    spec.attached = true;
    state::Object eni = CreateEniAt(tx, s, spec, JOptStr(in, "PrivateIpAddress"));
    std::string private_ip = JStr(eni.doc, "PrivateIpAddress");
    Json address = {{"NetworkInterfaceId", eni.id}, {"PrivateIp", private_ip}};
    if (!allocation.empty()) {
      std::string assoc = Ec2Id("eipassoc");
      std::string public_ip = AddressForNatGateway(tx, ctx.region, ctx.account_id, allocation, eni.id,
                                                   private_ip, assoc);
      address["AllocationId"] = allocation;
      address["PublicIp"] = public_ip;
      address["AssociationId"] = assoc;
      eni.doc["Association"] = {{"AllocationId", allocation},
                                {"AssociationId", assoc},
                                {"IpOwnerId", "amazon"},
                                {"PublicDnsName", PublicDnsNameOf(ctx.region, public_ip)},
                                {"PublicIp", public_ip}};
      Check(tx.Put(eni));
    }
    address["IsPrimary"] = true;
    address["Status"] = "succeeded";
    Json doc = {{"CreateTime", EpochMillis(s.now)},
                {"NatGatewayAddresses", Json::array({address})},
                {"NatGatewayId", id},
                {"State", "available"},
                {"SubnetId", subnet_id},
                {"VpcId", subnet->parent},
                {"Tags", net::TagsOrEmpty(tags)},
                {"ConnectivityType", connectivity}};
    if (!token.empty()) doc["kecs:clientToken"] = token;
    Check(tx.Insert({net::kNatGateway, ctx.region, id, subnet_id, "", "", 0, doc}));
    Json view = WithoutInternalMembers(doc);
    view["State"] = "pending";  // as CreateNatGateway answers; it reads "available" from then on
    out = {{"NatGateway", view}};
    if (!token.empty()) out["ClientToken"] = token;
    return Status::Ok();
  }));
  return out;
}

Json GatewayOps::DescribeNatGateways(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  // DescribeNatGateways names its filter list "Filter".
  return DescribeStored(store_, ctx, in, {net::kNatGateway, "NatGatewayIds", "Filter", "NatGateways", NatFilters(), RequireNat});
}

Json GatewayOps::DeleteNatGateway(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "NatGatewayId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object nat = RequireNat(tx, ctx.region, id);
    if (JStr(nat.doc, "State") == "deleted") return Status::Ok();
    for (const auto& a : nat.doc.value("NatGatewayAddresses", Json::array())) {
      if (auto eni = JOptStr(a, "NetworkInterfaceId")) Check(net::DeleteEni(tx, ctx.region, *eni));
    }
    nat.doc["State"] = "deleted";
    nat.doc["DeleteTime"] = EpochMillis(ctx.now);
    for (auto& a : nat.doc["NatGatewayAddresses"]) {
      if (JGet(a, "AllocationId")) a["Status"] = "disassociating";
    }
    Check(tx.Put(nat));
    SetRouteState(tx, ctx.region, JStr(nat.doc, "VpcId"), "NatGatewayId", id, "blackhole");
    return Status::Ok();
  }));
  return {{"NatGatewayId", id}};
}

}  // namespace

void RegisterGatewayOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<GatewayOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateInternetGateway);
  KECS_OP(DescribeInternetGateways);
  KECS_OP(DeleteInternetGateway);
  KECS_OP(AttachInternetGateway);
  KECS_OP(DetachInternetGateway);
  KECS_OP(CreateNatGateway);
  KECS_OP(DescribeNatGateways);
  KECS_OP(DeleteNatGateway);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
