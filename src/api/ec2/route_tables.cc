// EC2 route tables: CreateRouteTable, DescribeRouteTables, DeleteRouteTable, CreateRoute,
// DeleteRoute, ReplaceRoute, AssociateRouteTable, DisassociateRouteTable,
// ReplaceRouteTableAssociation.
//
// A route table is a store object under its VPC in the RouteTable shape: Routes (the local
// routes first, one per VPC CIDR) and Associations (the VPC's main association on its main
// table, vpc.doc["kecs:mainRouteTable"], and at most one explicit association per subnet
// or gateway). net::RouteTableOf and net::SubnetIsPublic read the same documents.
#include <memory>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "api/ec2/peering.h"
#include "base/ids.h"
#include "net/domain/ip.h"

namespace kecs::api::ec2 {
namespace {

state::Object RequireTable(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "rtb", "InvalidRouteTableId.Malformed");
  auto o = Check(tx.Get(net::kRouteTable, region, id));
  if (!o) {
    throw Ec2Error("InvalidRouteTableID.NotFound", fmt::format("The routeTable ID '{}' does not exist", id));
  }
  return *o;
}

// The route's destination as the request names it: "destination-cidr-block" and the
// normalised CIDR, or the IPv6 / prefix-list equivalents.
struct Destination {
  const char* member = "";     // the Route member holding it
  const char* param = "";      // its name in AWS's messages
  std::string value;
};

Destination DestinationOf(const Json& in) {
  if (auto c = JOptStr(in, "DestinationCidrBlock")) {
    auto parsed = net::Ipv4Cidr::Parse(*c);
    if (!parsed) {
      throw InvalidParameterValue(fmt::format(
          "Value ({}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.", *c));
    }
    return {"DestinationCidrBlock", "destination-cidr-block", parsed->ToString()};
  }
  if (auto c = JOptStr(in, "DestinationIpv6CidrBlock")) {
    auto parsed = net::Ipv6Cidr::Parse(*c);
    if (!parsed) {
      throw InvalidParameterValue(fmt::format(
          "Value ({}) for parameter destinationIpv6CidrBlock is invalid. This is not a valid IPv6 CIDR block.",
          *c));
    }
    return {"DestinationIpv6CidrBlock", "destination-ipv6-cidr-block", parsed->ToString()};
  }
  if (auto p = JOptStr(in, "DestinationPrefixListId")) {
    return {"DestinationPrefixListId", "destination-prefix-list-id", *p};
  }
  throw Ec2Error("MissingParameter",
                 "The request must contain the parameter destinationCidrBlock or destinationIpv6CidrBlock");
}

// Every subnet/gateway association of the region's tables, for lookups by association id.
struct Found {
  state::Object table;
  size_t index = 0;
};

std::optional<Found> FindAssociation(state::Tx& tx, const std::string& region, const std::string& assoc) {
  for (auto& t : Check(tx.List({net::kRouteTable, region}))) {
    const Json& list = t.doc["Associations"];
    for (size_t i = 0; i < list.size(); ++i) {
      if (JStr(list[i], "RouteTableAssociationId") == assoc) return Found{t, i};
    }
  }
  return std::nullopt;
}

const FilterSpec& TableFilters() {
  auto route_field = [](const char* member) { return Nested("Routes", member); };
  static const FilterSpec kSpec = {
      {"association.route-table-association-id", Nested("Associations", "RouteTableAssociationId")},
      {"association.route-table-id", Nested("Associations", "RouteTableId")},
      {"association.subnet-id", Nested("Associations", "SubnetId")},
      {"association.gateway-id", Nested("Associations", "GatewayId")},
      {"association.main", Nested("Associations", "Main")},
      {"owner-id", Field("OwnerId")},
      {"route-table-id", Field("RouteTableId")},
      {"route.destination-cidr-block", route_field("DestinationCidrBlock")},
      {"route.destination-ipv6-cidr-block", route_field("DestinationIpv6CidrBlock")},
      {"route.destination-prefix-list-id", route_field("DestinationPrefixListId")},
      {"route.egress-only-internet-gateway-id", route_field("EgressOnlyInternetGatewayId")},
      {"route.gateway-id", route_field("GatewayId")},
      {"route.instance-id", route_field("InstanceId")},
      {"route.nat-gateway-id", route_field("NatGatewayId")},
      {"route.transit-gateway-id", route_field("TransitGatewayId")},
      {"route.vpc-peering-connection-id", route_field("VpcPeeringConnectionId")},
      {"route.origin", route_field("Origin")},
      {"route.state", route_field("State")},
      {"vpc-id", Field("VpcId")},
  };
  return kSpec;
}

class RouteTableOps {
 public:
  RouteTableOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json CreateRouteTable(RequestContext& ctx, const Json& in);
  Json DescribeRouteTables(RequestContext& ctx, const Json& in);
  Json DeleteRouteTable(RequestContext& ctx, const Json& in);
  Json CreateRoute(RequestContext& ctx, const Json& in);
  Json DeleteRoute(RequestContext& ctx, const Json& in);
  Json ReplaceRoute(RequestContext& ctx, const Json& in);
  Json ReplaceRouteTableAssociation(RequestContext& ctx, const Json& in);
  Json AssociateRouteTable(RequestContext& ctx, const Json& in);
  Json DisassociateRouteTable(RequestContext& ctx, const Json& in);

 private:
  net::Scope ScopeOf(const RequestContext& ctx) {
    return RequestScope(store_, regions_, ctx);
  }
  // Checks the route's target and returns the Route members naming it.
  Json Target(state::Tx& tx, const std::string& region, const state::Object& table, const Json& in);

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

Json RouteTableOps::CreateRouteTable(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string vpc_id = JStr(in, "VpcId");
  Json tags = TagsFor(in, "route-table");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object vpc = RequireVpc(tx, ctx.region, vpc_id);
    std::string id = Ec2Id("rtb");
    Json routes = Json::array();
    for (const auto& a : vpc.doc.value("CidrBlockAssociationSet", Json::array())) {
      routes.push_back({{"DestinationCidrBlock", JStr(a, "CidrBlock")}, {"GatewayId", "local"},
                        {"Origin", "CreateRouteTable"}, {"State", "active"}});
    }
    for (const auto& a : vpc.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
      routes.push_back({{"DestinationIpv6CidrBlock", JStr(a, "Ipv6CidrBlock")}, {"GatewayId", "local"},
                        {"Origin", "CreateRouteTable"}, {"State", "active"}});
    }
    Json doc = {{"Associations", Json::array()},
                {"PropagatingVgws", Json::array()},
                {"RouteTableId", id},
                {"Routes", routes},
                {"Tags", net::TagsOrEmpty(tags)},
                {"VpcId", vpc_id},
                {"OwnerId", s.account}};
    Check(tx.Insert({net::kRouteTable, ctx.region, id, vpc_id, "", "", 0, doc}));
    out = {{"RouteTable", doc}};
    if (auto token = JOptStr(in, "ClientToken")) out["ClientToken"] = *token;
    return Status::Ok();
  }));
  return out;
}

Json RouteTableOps::DescribeRouteTables(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  return DescribeStored(store_, ctx, in, {net::kRouteTable, "RouteTableIds", "Filters", "RouteTables", TableFilters(), RequireTable});
}

Json RouteTableOps::DeleteRouteTable(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "RouteTableId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object table = RequireTable(tx, ctx.region, id);
    auto vpc = Check(tx.Get(net::kVpc, ctx.region, table.parent));
    bool main = vpc && JStr(vpc->doc, "kecs:mainRouteTable") == id;
    if (main || !table.doc.value("Associations", Json::array()).empty()) {
      throw Ec2Error("DependencyViolation",
                     fmt::format("The routeTable '{}' has dependencies and cannot be deleted.", id));
    }
    Check(tx.Delete(net::kRouteTable, ctx.region, id));
    return Status::Ok();
  }));
  return Json::object();
}

Json RouteTableOps::Target(state::Tx& tx, const std::string& region, const state::Object& table,
                           const Json& in) {
  static const char* kTargets[] = {"GatewayId", "NatGatewayId", "NetworkInterfaceId", "InstanceId",
                                   "VpcPeeringConnectionId", "TransitGatewayId",
                                   "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId",
                                   "VpcEndpointId", "CoreNetworkArn"};
  std::vector<std::string> given;
  for (const char* t : kTargets) {
    if (JGet(in, t)) given.push_back(t);
  }
  if (given.empty()) {
    throw Ec2Error("MissingParameter",
                   "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, "
                   "vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, "
                   "localGatewayId, carrierGatewayId, instanceId or coreNetworkArn");
  }
  if (given.size() > 1) {
    throw Ec2Error("InvalidParameterCombination",
                   "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, "
                   "vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, "
                   "localGatewayId, carrierGatewayId, instanceId or coreNetworkArn");
  }
  const std::string& member = given.front();
  std::string id = JStr(in, member);
  auto different = [&](const std::string& what) {
    return InvalidParameterValue(
        fmt::format("route table {} and {} {} belong to different networks", table.id, what, id));
  };
  if (member == "GatewayId") {
    if (id.starts_with("igw-")) {
      auto igw = Check(tx.Get(net::kInternetGateway, region, id));
      if (!igw) {
        throw Ec2Error("InvalidInternetGatewayID.NotFound",
                       fmt::format("The internetGateway ID '{}' does not exist", id));
      }
      if (igw->parent != table.parent) throw different("network gateway");
      return {{"GatewayId", id}};
    }
    // kecs has no virtual private gateways or gateway endpoints; a NAT gateway id belongs
    // in NatGatewayId.
    throw Ec2Error("InvalidGatewayID.NotFound", fmt::format("The gateway ID '{}' does not exist", id));
  }
  if (member == "NatGatewayId") {
    auto nat = Check(tx.Get(net::kNatGateway, region, id));
    if (!nat || JStr(nat->doc, "State") == "deleted") {
      throw Ec2Error("NatGatewayNotFound", fmt::format("NAT gateway {} was not found", id));
    }
    if (JStr(nat->doc, "VpcId") != table.parent) throw different("network gateway");
    return {{"NatGatewayId", id}};
  }
  if (member == "NetworkInterfaceId") {
    CheckId(id, "eni", "InvalidNetworkInterfaceId.Malformed");
    auto eni = Check(tx.Get(net::kEni, region, id));
    if (!eni) {
      throw Ec2Error("InvalidNetworkInterfaceID.NotFound",
                     fmt::format("The networkInterface ID '{}' does not exist", id));
    }
    if (JStr(eni->doc, "VpcId") != table.parent) throw different("interface");
    Json t = {{"NetworkInterfaceId", id}};
    return t;
  }
  if (member == "InstanceId") {
    throw Ec2Error("InvalidInstanceID.NotFound", fmt::format("The instance ID '{}' does not exist", id));
  }
  if (member == "VpcPeeringConnectionId") {
    state::Object pcx = RequirePeering(tx, region, id);
    std::string st = PeeringState(pcx);
    if (st != "active" && st != "pending-acceptance") {
      // A finished connection is gone as a target (no source for AWS's answer; kecs
      // answers as for an unknown one).
      throw Ec2Error("InvalidVpcPeeringConnectionID.NotFound",
                     fmt::format("The vpcPeeringConnection ID '{}' does not exist", id));
    }
    if (!PeeringHasVpc(pcx, table.parent)) throw different("VPC peering connection");
    // A route through a connection not yet accepted is a blackhole until it is (the VPC
    // Peering Guide: it "has no effect until the VPC peering connection is active").
    return {{"VpcPeeringConnectionId", id}, {"State", st == "active" ? "active" : "blackhole"}};
  }
  if (member == "EgressOnlyInternetGatewayId") {
    state::Object g = RequireEgressOnlyGateway(tx, region, id);
    if (g.parent != table.parent) throw different("network gateway");
    return {{"EgressOnlyInternetGatewayId", id}};
  }
  if (member == "TransitGatewayId") {
    throw Ec2Error("InvalidTransitGatewayID.NotFound",
                   fmt::format("The transitGateway ID '{}' does not exist", id));
  }
  if (member == "VpcEndpointId") {
    throw Ec2Error("InvalidVpcEndpointId.NotFound", fmt::format("The Vpc Endpoint Id '{}' does not exist", id));
  }
  throw Ec2Error("InvalidGatewayID.NotFound", fmt::format("The gateway ID '{}' does not exist", id));
}

Json RouteTableOps::CreateRoute(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "RouteTableId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object table = RequireTable(tx, ctx.region, id);
    Destination dest = DestinationOf(in);
    if (std::string(dest.member) == "DestinationPrefixListId") {
      throw Ec2Error("InvalidPrefixListID.NotFound",
                     fmt::format("The prefix list ID '{}' does not exist", dest.value));
    }
    for (const auto& r : table.doc.value("Routes", Json::array())) {
      if (JStr(r, dest.member) == dest.value) {
        throw Ec2Error("RouteAlreadyExists",
                       fmt::format("The route identified by {} already exists.", dest.value));
      }
    }
    Json route = {{dest.member, dest.value}};
    Json target = Target(tx, ctx.region, table, in);
    for (auto it = target.begin(); it != target.end(); ++it) route[it.key()] = it.value();
    route["Origin"] = "CreateRoute";
    if (!route.contains("State")) route["State"] = "active";
    table.doc["Routes"].push_back(route);
    Check(tx.Put(table));
    return Status::Ok();
  }));
  return {{"Return", true}};
}

Json RouteTableOps::DeleteRoute(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "RouteTableId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object table = RequireTable(tx, ctx.region, id);
    Destination dest = DestinationOf(in);
    Json kept = Json::array();
    bool found = false;
    for (const auto& r : table.doc.value("Routes", Json::array())) {
      if (!found && JStr(r, dest.member) == dest.value) {
        if (JStr(r, "GatewayId") == "local") {
          throw InvalidParameterValue(
              fmt::format("cannot remove local route {} in route table {}", dest.value, id));
        }
        found = true;
        continue;
      }
      kept.push_back(r);
    }
    if (!found) {
      throw Ec2Error("InvalidRoute.NotFound",
                     fmt::format("no route with {} {} in route table {}", dest.param, dest.value, id));
    }
    table.doc["Routes"] = kept;
    Check(tx.Put(table));
    return Status::Ok();
  }));
  return Json::object();
}

// The members of a Route that name its target (all that ReplaceRoute replaces).
const char* const kTargetMembers[] = {"GatewayId", "NatGatewayId", "NetworkInterfaceId", "InstanceId",
                                      "InstanceOwnerId", "VpcPeeringConnectionId", "TransitGatewayId",
                                      "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId",
                                      "VpcEndpointId", "CoreNetworkArn"};

Json RouteTableOps::ReplaceRoute(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "RouteTableId");
  Check(store_.Write([&](state::Tx& tx) {
    state::Object table = RequireTable(tx, ctx.region, id);
    Destination dest = DestinationOf(in);
    Json* route = nullptr;
    for (auto& r : table.doc["Routes"]) {
      if (JStr(r, dest.member) == dest.value) route = &r;
    }
    if (!route) {
      // AWS answers InvalidParameterValue here, not InvalidRoute.NotFound (getmoto/moto#6425,
      // checked against AWS; the message as hashicorp/terraform users quote it).
      throw InvalidParameterValue(fmt::format(
          "There is no route defined for '{}' in the route table. Use CreateRoute instead.", dest.value));
    }
    bool local = JStr(*route, "GatewayId") == "local" || JStr(*route, "Origin") == "CreateRouteTable";
    if (JBool(in, "LocalTarget")) {
      // "Specifies whether to reset the local route to its default target (local)."
      if (!local) {
        throw InvalidParameterValue(fmt::format(
            "The route {} in route table {} is not a local route; only a local route can be reset to local",
            dest.value, id));  // no source found: kecs's wording
      }
      for (const char* m : kTargetMembers) route->erase(m);
      (*route)["GatewayId"] = "local";
      (*route)["State"] = "active";
      Check(tx.Put(table));
      return Status::Ok();
    }
    if (local) {
      // AWS lets a local route's target be a network interface only in gateway route
      // tables (middlebox routing), which kecs does not have. No source for the answer:
      // kecs's wording.
      throw InvalidParameterValue(
          fmt::format("cannot replace the target of local route {} in route table {}", dest.value, id));
    }
    Json target = Target(tx, ctx.region, table, in);
    // Exactly one target: the old one goes (AWS's ReplaceRoute takes one of the list).
    for (const char* m : kTargetMembers) route->erase(m);
    route->erase("State");
    for (auto it = target.begin(); it != target.end(); ++it) (*route)[it.key()] = it.value();
    if (!route->contains("State")) (*route)["State"] = "active";
    Check(tx.Put(table));
    return Status::Ok();
  }));
  return Json::object();
}

Json RouteTableOps::ReplaceRouteTableAssociation(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string assoc = JStr(in, "AssociationId"), id = JStr(in, "RouteTableId");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto found = FindAssociation(tx, ctx.region, assoc);
    if (!found) {
      throw Ec2Error("InvalidAssociationID.NotFound", fmt::format("The association ID '{}' does not exist", assoc));
    }
    state::Object table = RequireTable(tx, ctx.region, id);
    Json old = found->table.doc["Associations"][found->index];
    if (table.parent != found->table.parent) {
      // CreateRoute's and AssociateRouteTable's wording for a table of another VPC.
      bool main = JBool(old, "Main"), subnet = !JStr(old, "SubnetId").empty();
      std::string what = main ? "network" : subnet ? "subnet" : "network gateway";
      std::string which = main ? found->table.parent : subnet ? JStr(old, "SubnetId") : JStr(old, "GatewayId");
      throw InvalidParameterValue(
          fmt::format("route table {} and {} {} belong to different networks", id, what, which));
    }
    // The old association goes and a new one, with a new id, takes its place on `table`.
    found->table.doc["Associations"].erase(found->index);
    Check(tx.Put(found->table));
    if (found->table.id == table.id) table = found->table;
    std::string fresh = Ec2Id("rtbassoc");
    Json state = {{"State", "associated"}};
    Json a = {{"Main", JBool(old, "Main")}, {"RouteTableAssociationId", fresh}, {"RouteTableId", id},
              {"AssociationState", state}};
    for (const char* m : {"SubnetId", "GatewayId"}) {
      if (!JStr(old, m).empty()) a[m] = JStr(old, m);
    }
    table.doc["Associations"].push_back(a);
    Check(tx.Put(table));
    if (JBool(old, "Main")) {
      // The VPC's main route table changes (DeleteRouteTable and DeleteVpc read it).
      auto vpc = Check(tx.Get(net::kVpc, ctx.region, table.parent));
      if (vpc) {
        vpc->doc["kecs:mainRouteTable"] = id;
        Check(tx.Put(*vpc));
      }
    }
    out = {{"NewAssociationId", fresh}, {"AssociationState", state}};
    return Status::Ok();
  }));
  return out;
}

Json RouteTableOps::AssociateRouteTable(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "RouteTableId");
  std::string subnet_id = JStr(in, "SubnetId"), gateway_id = JStr(in, "GatewayId");
  if (subnet_id.empty() && gateway_id.empty()) {
    throw Ec2Error("MissingParameter", "The request must contain the parameter subnetId or gatewayId");
  }
  if (!subnet_id.empty() && !gateway_id.empty()) {
    throw Ec2Error("InvalidParameterCombination",
                   "The parameter subnetId cannot be used with the parameter gatewayId");
  }
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object table = RequireTable(tx, ctx.region, id);
    const char* member = subnet_id.empty() ? "GatewayId" : "SubnetId";
    const std::string& target = subnet_id.empty() ? gateway_id : subnet_id;
    if (!subnet_id.empty()) {
      CheckId(subnet_id, "subnet", "InvalidSubnetId.Malformed");
      auto subnet = Check(tx.Get(net::kSubnet, ctx.region, subnet_id));
      if (!subnet) {
        throw Ec2Error("InvalidSubnetID.NotFound", fmt::format("The subnet ID '{}' does not exist", subnet_id));
      }
      if (subnet->parent != table.parent) {
        throw InvalidParameterValue(fmt::format(
            "route table {} and subnet {} belong to different networks", id, subnet_id));
      }
    } else {
      CheckId(gateway_id, "igw", "InvalidInternetGatewayId.Malformed");
      auto igw = Check(tx.Get(net::kInternetGateway, ctx.region, gateway_id));
      if (!igw) {
        throw Ec2Error("InvalidInternetGatewayID.NotFound",
                       fmt::format("The internetGateway ID '{}' does not exist", gateway_id));
      }
      if (igw->parent != table.parent) {
        throw InvalidParameterValue(fmt::format(
            "route table {} and network gateway {} belong to different networks", id, gateway_id));
      }
    }
    // At most one explicit association per subnet or gateway, in whichever table. AWS names
    // the table asked for, not the one holding the association (hashicorp/
    // terraform-provider-aws#38960: "Resource.AlreadyAssociated: the specified association
    // for route table rtb-… conflicts with an existing association").
    for (const auto& t : Check(tx.List({net::kRouteTable, ctx.region, table.parent}))) {
      for (const auto& a : t.doc.value("Associations", Json::array())) {
        if (JStr(a, member) == target) {
          throw Ec2Error("Resource.AlreadyAssociated", fmt::format(
              "the specified association for route table {} conflicts with an existing association", id));
        }
      }
    }
    std::string assoc = Ec2Id("rtbassoc");
    Json state = {{"State", "associated"}};
    table.doc["Associations"].push_back({{"Main", false},
                                         {"RouteTableAssociationId", assoc},
                                         {"RouteTableId", id},
                                         {member, target},
                                         {"AssociationState", state}});
    Check(tx.Put(table));
    out = {{"AssociationId", assoc}, {"AssociationState", state}};
    return Status::Ok();
  }));
  return out;
}

Json RouteTableOps::DisassociateRouteTable(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string assoc = JStr(in, "AssociationId");
  Check(store_.Write([&](state::Tx& tx) {
    auto found = FindAssociation(tx, ctx.region, assoc);
    if (!found) {
      throw Ec2Error("InvalidAssociationID.NotFound",
                     fmt::format("The association ID '{}' does not exist", assoc));
    }
    Json& list = found->table.doc["Associations"];
    if (JBool(list[found->index], "Main")) {
      throw InvalidParameterValue(
          fmt::format("cannot disassociate the main route table association {}", assoc));
    }
    list.erase(found->index);
    Check(tx.Put(found->table));
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace

void RegisterRouteTableOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<RouteTableOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateRouteTable);
  KECS_OP(DescribeRouteTables);
  KECS_OP(DeleteRouteTable);
  KECS_OP(CreateRoute);
  KECS_OP(DeleteRoute);
  KECS_OP(ReplaceRoute);
  KECS_OP(ReplaceRouteTableAssociation);
  KECS_OP(AssociateRouteTable);
  KECS_OP(DisassociateRouteTable);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
