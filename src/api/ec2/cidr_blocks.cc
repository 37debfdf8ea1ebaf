// EC2 CIDR block associations (issue 17): AssociateSubnetCidrBlock,
// DisassociateSubnetCidrBlock, DisassociateVpcCidrBlock (AssociateVpcCidrBlock is in
// vpcs.cc).
//
// A subnet takes one IPv6 block (inside one of its VPC's, overlapping no other subnet's, as
// CreateSubnet checks it); a VPC's secondary IPv4 blocks and its IPv6 blocks can be taken
// away when no subnet lies in them, with their local routes. Answers show the association
// "associating" / "disassociating", as AWS answers; a stored association is "associated"
// from the start, and a disassociated one is gone at once (AWS lists it "disassociated" for
// a while).
#include <memory>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/ids.h"
#include "net/domain/ip.h"
#include "net/domain/ipam.h"

namespace kecs::api::ec2 {
namespace {

using net::Ipv4Cidr;
using net::Ipv6Cidr;

// Removes from every route table of VPC `vpc_id` the local route to `cidr` (member
// `dest_member`: DestinationCidrBlock or DestinationIpv6CidrBlock).
void DropLocalRoutes(state::Tx& tx, const std::string& region, const std::string& vpc_id, const char* dest_member,
                     const std::string& cidr) {
  for (auto& rtb : Check(tx.List({net::kRouteTable, region, vpc_id}))) {
    Json kept = Json::array();
    bool changed = false;
    for (const auto& r : rtb.doc.value("Routes", Json::array())) {
      if (JStr(r, dest_member) == cidr && JStr(r, "GatewayId") == "local") changed = true;
      else kept.push_back(r);
    }
    if (!changed) continue;
    rtb.doc["Routes"] = kept;
    Check(tx.Put(rtb));
  }
}

class CidrBlockOps {
 public:
  CidrBlockOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json AssociateSubnetCidrBlock(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string subnet_id = JStr(in, "SubnetId");
    if (JGet(in, "Ipv6IpamPoolId")) {
      // kecs has no IPAM pools; the code follows EC2's Invalid<Type>Id.NotFound pattern.
      throw Ec2Error("InvalidIpamPoolId.NotFound",
                     fmt::format("The pool ID '{}' does not exist", JStr(in, "Ipv6IpamPoolId")));
    }
    std::string text = JStr(in, "Ipv6CidrBlock");
    if (text.empty()) throw Ec2Error("MissingParameter", "Either 'ipv6CidrBlock' or 'ipv6IpamPoolId' should be provided.");
    Ipv6Cidr v6 = *ParseSubnetIpv6Block(text);
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      state::Object subnet = RequireSubnet(tx, ctx.region, subnet_id);
      if (!subnet.doc.value("Ipv6CidrBlockAssociationSet", Json::array()).empty()) {
        // One IPv6 block per subnet (Amazon VPC User Guide); no source for AWS's words.
        throw InvalidParameterValue(fmt::format("The subnet '{}' already has an IPv6 CIDR block.", subnet_id));
      }
      auto vpc = Check(tx.Get(net::kVpc, ctx.region, subnet.parent));
      if (!vpc) throw Ec2Error("InvalidVpcID.NotFound", fmt::format("The vpc ID '{}' does not exist", subnet.parent));
      std::vector<state::Object> others;
      for (auto& o : Check(tx.List({net::kSubnet, ctx.region, subnet.parent}))) {
        if (o.id != subnet.id) others.push_back(std::move(o));
      }
      CheckSubnetIpv6Block(*vpc, others, v6, text);
      Json a = {{"AssociationId", Ec2Id("subnet-cidr-assoc")},
                {"Ipv6CidrBlock", v6.ToString()},
                {"Ipv6CidrBlockState", {{"State", "associated"}}}};
      subnet.doc["Ipv6CidrBlockAssociationSet"].push_back(a);
      Check(tx.Put(subnet));
      a["Ipv6CidrBlockState"] = {{"State", "associating"}};
      out = {{"SubnetId", subnet_id}, {"Ipv6CidrBlockAssociation", a}};
      return Status::Ok();
    }));
    return out;
  }

  Json DisassociateSubnetCidrBlock(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string assoc = JStr(in, "AssociationId");
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      for (auto& subnet : Check(tx.List({net::kSubnet, ctx.region}))) {
        Json kept = Json::array(), gone;
        for (const auto& a : subnet.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
          if (JStr(a, "AssociationId") == assoc) gone = a;
          else kept.push_back(a);
        }
        if (gone.is_null()) continue;
        if (JBool(subnet.doc, "Ipv6Native")) {
          // No source for AWS's words; kecs's wording.
          throw Ec2Error("OperationNotPermitted", fmt::format(
              "The IPv6 CIDR block of IPv6-only subnet '{}' cannot be disassociated.", subnet.id));
        }
        // Its addresses must be unassigned first (Amazon VPC User Guide, "Disassociate an
        // IPv6 CIDR block"); the code is the VPC one's, the words kecs's.
        for (const auto& eni : Check(tx.List({net::kEni, ctx.region, subnet.id}))) {
          if (!eni.doc.value("Ipv6Addresses", Json::array()).empty()) {
            throw Ec2Error("InvalidCidrBlock.InUse", fmt::format(
                "The subnet {} has network interfaces with addresses within CIDR block {}", subnet.id,
                JStr(gone, "Ipv6CidrBlock")));
          }
        }
        // The block's CIDR reservations go with it, in the same transaction, so none lies
        // outside the subnet's blocks or comes back into force if the block is associated
        // again. No source found for AWS's behaviour; kecs's choice.
        if (auto block = net::Ipv6Cidr::Parse(JStr(gone, "Ipv6CidrBlock"))) {
          for (const auto& r : Check(tx.List({net::kSubnetCidrReservation, ctx.region, subnet.id}))) {
            auto reserved = net::Ipv6Cidr::Parse(r.name);
            if (reserved && block->Contains(*reserved)) Check(tx.Delete(r.kind, ctx.region, r.id));
          }
        }
        subnet.doc["Ipv6CidrBlockAssociationSet"] = kept;
        subnet.doc["AssignIpv6AddressOnCreation"] = false;
        Check(tx.Put(subnet));
        gone["Ipv6CidrBlockState"] = {{"State", "disassociating"}};
        out = {{"SubnetId", subnet.id}, {"Ipv6CidrBlockAssociation", gone}};
        return Status::Ok();
      }
      // The code follows EC2's Invalid<Type>ID.NotFound pattern; no source for the words.
      throw Ec2Error("InvalidSubnetCidrBlockAssociationID.NotFound",
                     fmt::format("The subnet CIDR block association ID '{}' does not exist", assoc));
    }));
    return out;
  }

  Json DisassociateVpcCidrBlock(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string assoc = JStr(in, "AssociationId");
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      for (auto& vpc : Check(tx.List({net::kVpc, ctx.region}))) {
        for (const char* set : {"CidrBlockAssociationSet", "Ipv6CidrBlockAssociationSet"}) {
          const bool v6 = std::string(set) == "Ipv6CidrBlockAssociationSet";
          Json kept = Json::array(), gone;
          for (const auto& a : vpc.doc.value(set, Json::array())) {
            if (JStr(a, "AssociationId") == assoc) gone = a;
            else kept.push_back(a);
          }
          if (gone.is_null()) continue;
          std::string cidr = JStr(gone, v6 ? "Ipv6CidrBlock" : "CidrBlock");
          if (!v6 && cidr == JStr(vpc.doc, "CidrBlock")) {
            // No source for AWS's words; kecs's wording.
            throw Ec2Error("OperationNotPermitted", fmt::format(
                "The primary CIDR block {} of vpc {} cannot be disassociated.", cidr, vpc.id));
          }
          auto v4block = Ipv4Cidr::Parse(cidr);
          auto v6block = Ipv6Cidr::Parse(cidr);
          for (const auto& subnet : Check(tx.List({net::kSubnet, ctx.region, vpc.id}))) {
            bool inside = false;
            if (!v6) {
              auto c = Ipv4Cidr::Parse(JStr(subnet.doc, "CidrBlock"));
              inside = c && v4block && v4block->Overlaps(*c);
            } else {
              for (const auto& a : subnet.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
                auto c = Ipv6Cidr::Parse(JStr(a, "Ipv6CidrBlock"));
                inside = inside || (c && v6block && v6block->Overlaps(*c));
              }
            }
            if (inside) {
              // AWS's wording, as hashicorp/terraform-provider-aws#29077 quotes it.
              throw Ec2Error("InvalidCidrBlock.InUse", fmt::format(
                  "The vpc {} currently has a subnet within CIDR block {}", vpc.id, cidr));
            }
          }
          vpc.doc[set] = kept;
          Check(tx.Put(vpc));
          DropLocalRoutes(tx, ctx.region, vpc.id, v6 ? "DestinationIpv6CidrBlock" : "DestinationCidrBlock", cidr);
          gone[v6 ? "Ipv6CidrBlockState" : "CidrBlockState"] = {{"State", "disassociating"}};
          out = {{"VpcId", vpc.id}, {v6 ? "Ipv6CidrBlockAssociation" : "CidrBlockAssociation", gone}};
          return Status::Ok();
        }
      }
      // The code follows EC2's Invalid<Type>ID.NotFound pattern; no source for the words.
      throw Ec2Error("InvalidVpcCidrBlockAssociationID.NotFound",
                     fmt::format("The vpc CIDR block association ID '{}' does not exist", assoc));
    }));
    return out;
  }

 private:
  state::Store& store_;
  net::RegionBootstrap& regions_;
};

}  // namespace

void RegisterCidrBlockOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<CidrBlockOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(AssociateSubnetCidrBlock);
  KECS_OP(DisassociateSubnetCidrBlock);
  KECS_OP(DisassociateVpcCidrBlock);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
