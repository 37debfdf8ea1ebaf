// EC2 egress-only internet gateways: CreateEgressOnlyInternetGateway,
// DescribeEgressOnlyInternetGateways, DeleteEgressOnlyInternetGateway; route tables take
// them as an IPv6 route's target (route_tables.cc).
//
// A gateway is a store object of kind kEgressOnlyGateway under its VPC, attached from its
// creation. The data plane does not model it: kecs's tasks reach nothing over IPv6 past
// their VPC.
#include <memory>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "api/ec2/peering.h"
#include "base/ids.h"

namespace kecs::api::ec2 {

state::Object RequireEgressOnlyGateway(state::Tx& tx, const std::string& region, const std::string& id) {
  // Codes of the EC2 error codes reference (the AWS SDK for Go's constants); the NotFound
  // message has no source: EC2's "The <type> ID '...' does not exist" pattern.
  CheckId(id, "eigw", "InvalidEgressOnlyInternetGatewayId.Malformed");
  auto o = Check(tx.Get(kEgressOnlyGateway, region, id));
  if (!o) {
    throw Ec2Error("InvalidEgressOnlyInternetGatewayId.NotFound",
                   fmt::format("The egressOnlyInternetGateway ID '{}' does not exist", id));
  }
  return *o;
}

namespace {

const FilterSpec& EigwFilters() {
  // AWS documents only the tag filters for this call.
  static const FilterSpec kSpec = {};
  return kSpec;
}

class EigwOps {
 public:
  EigwOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json Create(RequestContext& ctx, const Json& in) {
    Scope(ctx);
    std::string vpc_id = JStr(in, "VpcId");
    Json tags = TagsFor(in, "egress-only-internet-gateway");
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      RequireVpc(tx, ctx.region, vpc_id);
      std::string id = Ec2Id("eigw");
      Json doc = {{"Attachments", Json::array({{{"State", "attached"}, {"VpcId", vpc_id}}})},
                  {"EgressOnlyInternetGatewayId", id},
                  {"Tags", net::TagsOrEmpty(tags)}};
      Check(tx.Insert({kEgressOnlyGateway, ctx.region, id, vpc_id, "", "", 0, doc}));
      out = {{"EgressOnlyInternetGateway", doc}};
      if (auto token = JOptStr(in, "ClientToken")) out["ClientToken"] = *token;
      return Status::Ok();
    }));
    return out;
  }

  Json Describe(RequestContext& ctx, const Json& in) {
    Scope(ctx);
    return DescribeStored(store_, ctx, in,
                          {kEgressOnlyGateway, "EgressOnlyInternetGatewayIds", "Filters",
                           "EgressOnlyInternetGateways", EigwFilters(), RequireEgressOnlyGateway});
  }

  Json Delete(RequestContext& ctx, const Json& in) {
    Scope(ctx);
    std::string id = JStr(in, "EgressOnlyInternetGatewayId");
    Check(store_.Write([&](state::Tx& tx) {
      state::Object g = RequireEgressOnlyGateway(tx, ctx.region, id);
      // Routes through it stay, as blackholes, as for a detached internet gateway.
      SetRouteState(tx, ctx.region, g.parent, "EgressOnlyInternetGatewayId", id, "blackhole");
      Check(tx.Delete(kEgressOnlyGateway, ctx.region, id));
      return Status::Ok();
    }));
    return {{"ReturnCode", true}};
  }

 private:
  void Scope(const RequestContext& ctx) { RequestScope(store_, regions_, ctx); }

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

}  // namespace

void RegisterEgressOnlyGatewayOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<EigwOps>(store, regions);
  s.Register("CreateEgressOnlyInternetGateway", [ops](RequestContext& ctx, const Json& in) {
    CheckDryRun(in);
    return ops->Create(ctx, in);
  });
  s.Register("DescribeEgressOnlyInternetGateways", [ops](RequestContext& ctx, const Json& in) {
    CheckDryRun(in);
    return ops->Describe(ctx, in);
  });
  s.Register("DeleteEgressOnlyInternetGateway", [ops](RequestContext& ctx, const Json& in) {
    CheckDryRun(in);
    return ops->Delete(ctx, in);
  });
}

}  // namespace kecs::api::ec2
