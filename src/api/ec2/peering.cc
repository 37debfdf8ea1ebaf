// EC2 VPC peering connections: CreateVpcPeeringConnection, AcceptVpcPeeringConnection,
// RejectVpcPeeringConnection, DeleteVpcPeeringConnection, DescribeVpcPeeringConnections.
//
// A connection is a store object of kind net::kVpcPeering in the VpcPeeringConnection
// shape. kecs has one account, and peers VPCs of one Region. The lifecycle is AWS's
// (docs.aws.amazon.com/vpc/latest/peering/vpc-peering-basics.html#vpc-peering-lifecycle):
// Create answers initiating-request and the connection is pending-acceptance at once, or
// failed when the two VPCs' IPv4 CIDRs overlap or the accepter is another account's;
// Accept makes it active, Reject rejected, Delete deleted; a request not accepted within
// 7 days is expired. Finished connections stay describable. Routes through a connection
// (route_tables.cc) are active only while it is; the policy controller turns active
// connections and their routes into the data plane's paths (net/domain/peering.h).
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "api/ec2/peering.h"
#include "base/clock.h"
#include "base/ids.h"
#include "net/domain/ip.h"
#include "net/domain/peering.h"

namespace kecs::api::ec2 {
namespace {

constexpr double kRequestLifetime = 7 * 24 * 3600;  // "The VPC peering connection request expires after 7 days"

// The status message AWS gives a failed request (quoted in a Terragrunt configuration's
// comment, and AWS's CreateVpcPeeringConnection reference: "If you create a VPC peering
// connection request between VPCs with overlapping CIDR blocks, the VPC peering connection
// has a status of failed").
constexpr const char* kFailedMessage = "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range";

void SetStatus(state::Object& o, const std::string& code, const std::string& message) {
  o.doc["Status"] = {{"Code", code}, {"Message", message}};
  o.status = code;
}

// AWS: InvalidStateTransition "Invalid state transition for pcx-…, attempted to transition
// from rejected to deleting" (ekristen/aws-nuke#723 quotes it).
AwsError BadTransition(const state::Object& o, const std::string& to) {
  return Ec2Error("InvalidStateTransition",
                  fmt::format("Invalid state transition for {}, attempted to transition from {} to {}", o.id,
                              PeeringState(o), to));
}

Json VpcInfo(const state::Object& vpc, const std::string& owner, const std::string& region) {
  Json set = Json::array();
  for (const auto& a : vpc.doc.value("CidrBlockAssociationSet", Json::array())) {
    set.push_back({{"CidrBlock", JStr(a, "CidrBlock")}});
  }
  Json v6 = Json::array();
  for (const auto& a : vpc.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
    v6.push_back({{"Ipv6CidrBlock", JStr(a, "Ipv6CidrBlock")}});
  }
  Json info = {{"CidrBlock", JStr(vpc.doc, "CidrBlock")},
               {"CidrBlockSet", set},
               {"OwnerId", owner},
               {"PeeringOptions",
                {{"AllowDnsResolutionFromRemoteVpc", false},
                 {"AllowEgressFromLocalClassicLinkToRemoteVpc", false},
                 {"AllowEgressFromLocalVpcToRemoteClassicLink", false}}},
               {"VpcId", vpc.id},
               {"Region", region}};
  if (!v6.empty()) info["Ipv6CidrBlockSet"] = v6;
  return info;
}

bool CidrsOverlap(const state::Object& a, const state::Object& b) {
  for (const auto& x : a.doc.value("CidrBlockAssociationSet", Json::array())) {
    auto cx = net::Ipv4Cidr::Parse(JStr(x, "CidrBlock"));
    for (const auto& y : b.doc.value("CidrBlockAssociationSet", Json::array())) {
      auto cy = net::Ipv4Cidr::Parse(JStr(y, "CidrBlock"));
      if (cx && cy && cx->Overlaps(*cy)) return true;
    }
  }
  return false;
}

// Brings the stored state up to date: a pending request past its expiration time is
// expired. Returns whether it changed.
bool Refresh(state::Object& o, double now) {
  if (PeeringState(o) != "pending-acceptance") return false;
  const Json* exp = JGet(o.doc, "ExpirationTime");
  if (!exp || !exp->is_number() || exp->get<double>() > EpochMillis(now)) return false;
  SetStatus(o, "expired", "Expired");
  o.doc.erase("ExpirationTime");
  return true;
}

std::vector<std::string> Cidrs(const Json& view, const char* side) {
  std::vector<std::string> out;
  const Json info = view.value(side, Json::object());
  for (const auto& c : info.value("CidrBlockSet", Json::array())) out.push_back(JStr(c, "CidrBlock"));
  if (out.empty() && !JStr(info, "CidrBlock").empty()) out.push_back(JStr(info, "CidrBlock"));
  return out;
}

const FilterSpec& PeeringFilters() {
  auto side = [](const char* s, const char* member) {
    return [s, member](const Json& v) -> std::vector<std::string> {
      std::string value = JStr(v.value(s, Json::object()), member);
      if (value.empty()) return {};
      return {value};
    };
  };
  auto cidrs = [](const char* s) { return [s](const Json& v) { return Cidrs(v, s); }; };
  // The filters of AWS's DescribeVpcPeeringConnections reference.
  static const FilterSpec kSpec = {
      {"accepter-vpc-info.cidr-block", cidrs("AccepterVpcInfo")},
      {"accepter-vpc-info.owner-id", side("AccepterVpcInfo", "OwnerId")},
      {"accepter-vpc-info.vpc-id", side("AccepterVpcInfo", "VpcId")},
      {"expiration-time", [](const Json& v) -> std::vector<std::string> {
         const Json* t = JGet(v, "ExpirationTime");
         if (!t || !t->is_number()) return {};
         return {Iso8601(t->get<double>() / 1000)};
       }},
      {"requester-vpc-info.cidr-block", cidrs("RequesterVpcInfo")},
      {"requester-vpc-info.owner-id", side("RequesterVpcInfo", "OwnerId")},
      {"requester-vpc-info.vpc-id", side("RequesterVpcInfo", "VpcId")},
      {"status-code", side("Status", "Code")},
      {"status-message", side("Status", "Message")},
      {"vpc-peering-connection-id", Field("VpcPeeringConnectionId")},
  };
  return kSpec;
}

class PeeringOps {
 public:
  PeeringOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json CreateVpcPeeringConnection(RequestContext& ctx, const Json& in);
  Json AcceptVpcPeeringConnection(RequestContext& ctx, const Json& in);
  Json RejectVpcPeeringConnection(RequestContext& ctx, const Json& in);
  Json DeleteVpcPeeringConnection(RequestContext& ctx, const Json& in);
  Json DescribeVpcPeeringConnections(RequestContext& ctx, const Json& in);

 private:
  net::Scope ScopeOf(const RequestContext& ctx) {
    return RequestScope(store_, regions_, ctx);
  }

  // Moves connection in["VpcPeeringConnectionId"] from one of the states `from` on with
  // `apply`; InvalidStateTransition (naming `to`) from any other state.
  void Transition(RequestContext& ctx, const Json& in, const std::set<std::string>& from, const char* to,
                  const std::function<void(state::Tx&, state::Object&)>& apply);

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

Json PeeringOps::CreateVpcPeeringConnection(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  std::string vpc_id = JStr(in, "VpcId");
  std::string peer_id = JStr(in, "PeerVpcId");
  std::string peer_owner = JStr(in, "PeerOwnerId", ctx.account_id);
  std::string peer_region = JStr(in, "PeerRegion", ctx.region);
  // "You must specify this parameter in the request" (the API reference); EC2's wording of
  // a missing parameter.
  if (peer_id.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter peerVpcId");
  if (peer_region != ctx.region) {
    // No source: kecs's wording. kecs keeps each Region's VPCs apart and has no
    // inter-Region peering.
    throw Ec2Error("OperationNotPermitted",
                   fmt::format("kecs peers VPCs within one Region only: the peer Region '{}' is not '{}'",
                               peer_region, ctx.region));
  }
  Json tags = TagsFor(in, "vpc-peering-connection");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object vpc = RequireVpc(tx, ctx.region, vpc_id);
    std::string id = Ec2Id("pcx");
    Json accepter;
    bool failed = false;
    if (peer_owner == ctx.account_id) {
      // Same account: the peer VPC is looked up at once (hashicorp/terraform-provider-aws
      // #35485: "InvalidVpcID.NotFound: The vpc ID 'vpc-xxxxx' does not exist").
      state::Object peer = RequireVpc(tx, ctx.region, peer_id);
      for (const auto& o : Check(tx.List({net::kVpcPeering, ctx.region}))) {
        std::string st = PeeringState(o);
        if ((st == "active" || st == "pending-acceptance") && PeeringHasVpc(o, vpc_id) &&
            PeeringHasVpc(o, peer_id) && vpc_id != peer_id) {
          // The EC2 error codes reference: "A VPC peering connection between the VPCs
          // already exists."
          throw Ec2Error("VpcPeeringConnectionAlreadyExists",
                         "A VPC peering connection between the VPCs already exists.");
        }
      }
      accepter = VpcInfo(peer, peer_owner, ctx.region);
      failed = vpc_id == peer_id || CidrsOverlap(vpc, peer);
    } else {
      // Another account's VPC: kecs has one account, so the request fails as AWS's does
      // for an account that does not hold the VPC.
      accepter = {{"OwnerId", peer_owner}, {"VpcId", peer_id}, {"Region", ctx.region}};
      failed = true;
    }
    Json requester = VpcInfo(vpc, ctx.account_id, ctx.region);
    requester.erase("PeeringOptions");  // AWS shows the options once the connection is active
    accepter.erase("PeeringOptions");
    state::Object o{net::kVpcPeering, ctx.region, id, "", "", "", 0,
                    {{"AccepterVpcInfo", accepter},
                     {"RequesterVpcInfo", requester},
                     {"Tags", net::TagsOrEmpty(tags)},
                     {"VpcPeeringConnectionId", id}}};
    // The answer shows the request being initiated, as AWS's does ("Initiating Request to
    // <account>"); the stored connection has moved on.
    SetStatus(o, "initiating-request", fmt::format("Initiating Request to {}", peer_owner));
    out = {{"VpcPeeringConnection", o.doc}};
    if (failed) {
      SetStatus(o, "failed", kFailedMessage);
    } else {
      // Status message as AWS shows it: "Pending Acceptance by 123456789012" (ansible's
      // ec2_vpc_peering_info sample).
      SetStatus(o, "pending-acceptance", fmt::format("Pending Acceptance by {}", peer_owner));
      o.doc["ExpirationTime"] = EpochMillis(s.now + kRequestLifetime);
      out["VpcPeeringConnection"]["ExpirationTime"] = o.doc["ExpirationTime"];
    }
    Check(tx.Insert(o));
    return Status::Ok();
  }));
  return out;
}

void PeeringOps::Transition(RequestContext& ctx, const Json& in, const std::set<std::string>& from,
                            const char* to, const std::function<void(state::Tx&, state::Object&)>& apply) {
  ScopeOf(ctx);
  std::string id = JStr(in, "VpcPeeringConnectionId");
  std::optional<AwsError> late;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = RequirePeering(tx, ctx.region, id);
    // An expired request is recorded as such, also when the transition is then refused.
    if (Refresh(o, ctx.now)) Check(tx.Put(o));
    if (!from.count(PeeringState(o))) {
      late = BadTransition(o, to);
      return Status::Ok();
    }
    o.doc.erase("ExpirationTime");
    apply(tx, o);
    Check(tx.Put(o));
    return Status::Ok();
  }));
  if (late) throw *late;
}

Json PeeringOps::AcceptVpcPeeringConnection(RequestContext& ctx, const Json& in) {
  Json out;
  Transition(ctx, in, {"pending-acceptance"}, "provisioning", [&](state::Tx& tx, state::Object& o) {
    Json options = {{"AllowDnsResolutionFromRemoteVpc", false},
                    {"AllowEgressFromLocalClassicLinkToRemoteVpc", false},
                    {"AllowEgressFromLocalVpcToRemoteClassicLink", false}};
    // The accepter's CIDRs as they are now.
    std::string peer = JStr(o.doc["AccepterVpcInfo"], "VpcId");
    if (auto v = Check(tx.Get(net::kVpc, ctx.region, peer))) {
      o.doc["AccepterVpcInfo"] = VpcInfo(*v, ctx.account_id, ctx.region);
    }
    o.doc["AccepterVpcInfo"]["PeeringOptions"] = options;
    o.doc["RequesterVpcInfo"]["PeeringOptions"] = options;
    SetStatus(o, "active", "Active");
    SetRouteState(tx, ctx.region, std::nullopt, "VpcPeeringConnectionId", o.id, "active");
    out = {{"VpcPeeringConnection", WithoutInternalMembers(o.doc)}};
  });
  return out;
}

Json PeeringOps::RejectVpcPeeringConnection(RequestContext& ctx, const Json& in) {
  Transition(ctx, in, {"pending-acceptance"}, "rejected", [&](state::Tx&, state::Object& o) {
    SetStatus(o, "rejected", fmt::format("Rejected by {}", ctx.account_id));
  });
  return {{"Return", true}};
}

Json PeeringOps::DeleteVpcPeeringConnection(RequestContext& ctx, const Json& in) {
  // Active and pending-acceptance connections can be deleted; failed, rejected, expired
  // and deleted ones cannot (the DeleteVpcPeeringConnection reference).
  Transition(ctx, in, {"active", "pending-acceptance"}, "deleting", [&](state::Tx& tx, state::Object& o) {
    SetStatus(o, "deleted", fmt::format("Deleted by {}", ctx.account_id));
    // Routes through it stay, as blackholes (as AWS shows them).
    SetRouteState(tx, ctx.region, std::nullopt, "VpcPeeringConnectionId", o.id, "blackhole");
  });
  return {{"Return", true}};
}

Json PeeringOps::DescribeVpcPeeringConnections(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  // Expired requests are recorded first, so the filters see their state.
  Check(store_.Write([&](state::Tx& tx) {
    for (auto& o : Check(tx.List({net::kVpcPeering, ctx.region}))) {
      if (Refresh(o, ctx.now)) Check(tx.Put(o));
    }
    return Status::Ok();
  }));
  return DescribeStored(store_, ctx, in,
                        {net::kVpcPeering, "VpcPeeringConnectionIds", "Filters", "VpcPeeringConnections",
                         PeeringFilters(), RequirePeering});
}

}  // namespace

std::string PeeringState(const state::Object& pcx) {
  return JStr(pcx.doc.value("Status", Json::object()), "Code");
}

bool PeeringHasVpc(const state::Object& pcx, const std::string& vpc_id) {
  return JStr(pcx.doc.value("RequesterVpcInfo", Json::object()), "VpcId") == vpc_id ||
         JStr(pcx.doc.value("AccepterVpcInfo", Json::object()), "VpcId") == vpc_id;
}

state::Object RequirePeering(state::Tx& tx, const std::string& region, const std::string& id) {
  // The EC2 error codes reference: InvalidVpcPeeringConnectionId.Malformed (lower-case
  // "Id") and InvalidVpcPeeringConnectionID.NotFound (upper-case "ID").
  CheckId(id, "pcx", "InvalidVpcPeeringConnectionId.Malformed");
  auto o = Check(tx.Get(net::kVpcPeering, region, id));
  if (!o) {
    throw Ec2Error("InvalidVpcPeeringConnectionID.NotFound",
                   fmt::format("The vpcPeeringConnection ID '{}' does not exist", id));
  }
  return *o;
}

void RegisterPeeringOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<PeeringOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateVpcPeeringConnection);
  KECS_OP(AcceptVpcPeeringConnection);
  KECS_OP(RejectVpcPeeringConnection);
  KECS_OP(DeleteVpcPeeringConnection);
  KECS_OP(DescribeVpcPeeringConnections);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
