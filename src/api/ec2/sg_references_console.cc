// EC2: DescribeSecurityGroupReferences (the groups of peered VPCs whose rules reference a
// group) and GetConsoleOutput (kecs keeps no console: the answer has no Output, as EC2's
// has none for an instance that has written nothing yet).
#include <memory>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "api/ec2/peering.h"
#include "base/clock.h"
#include "net/domain/peering.h"

namespace kecs::api::ec2 {
namespace {

class ReferenceConsoleOps {
 public:
  ReferenceConsoleOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  // For each group asked about, one entry per active peering connection of its VPC whose
  // other VPC has a security group with a rule referencing it (EC2 API reference,
  // DescribeSecurityGroupReferences).
  Json DescribeSecurityGroupReferences(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    Json refs = Json::array();
    Check(store_.Read([&](state::Tx& tx) {
      auto peerings = Check(tx.List({net::kVpcPeering, ctx.region}));
      for (const auto& gv : in.value("GroupId", Json::array())) {
        std::string gid = gv.get<std::string>();
        CheckId(gid, "sg", "InvalidGroupId.Malformed");
        auto group = Check(tx.Get(net::kSecurityGroup, ctx.region, gid));
        if (!group) throw Ec2Error("InvalidGroup.NotFound", fmt::format("The security group '{}' does not exist", gid));
        for (const auto& pcx : peerings) {
          if (PeeringState(pcx) != "active" || !PeeringHasVpc(pcx, group->parent)) continue;
          std::string a = JStr(pcx.doc.value("RequesterVpcInfo", Json::object()), "VpcId");
          std::string b = JStr(pcx.doc.value("AccepterVpcInfo", Json::object()), "VpcId");
          std::string other = a == group->parent ? b : a;
          bool referenced = false;
          for (const auto& sg : Check(tx.List({net::kSecurityGroup, ctx.region, other}))) {
            for (const auto& r : sg.doc.value("kecs:rules", Json::array())) {
              referenced = referenced || JStr(r.value("ReferencedGroupInfo", Json::object()), "GroupId") == gid;
            }
          }
          if (referenced) {
            refs.push_back({{"GroupId", gid}, {"ReferencingVpcId", other}, {"VpcPeeringConnectionId", pcx.id}});
          }
        }
      }
      return Status::Ok();
    }));
    return {{"SecurityGroupReferenceSet", refs}};
  }

  Json GetConsoleOutput(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string id = JStr(in, "InstanceId");
    Check(store_.Read([&](state::Tx& tx) {
      CheckId(id, "i", "InvalidInstanceID.Malformed");
      if (!Check(tx.Get(net::kEc2Instance, ctx.region, id))) {
        throw Ec2Error("InvalidInstanceID.NotFound", fmt::format("The instance ID '{}' does not exist", id));
      }
      return Status::Ok();
    }));
    return {{"InstanceId", id}, {"Timestamp", EpochMillis(ctx.now)}};
  }

 private:
  state::Store& store_;
  net::RegionBootstrap& regions_;
};

}  // namespace

void RegisterReferenceConsoleOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<ReferenceConsoleOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(DescribeSecurityGroupReferences);
  KECS_OP(GetConsoleOutput);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
