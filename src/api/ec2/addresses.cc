// EC2 Elastic IP addresses (issue 17): AllocateAddress, AssociateAddress,
// DisassociateAddress, ReleaseAddress, DescribeAddresses, DescribeAddressesAttribute.
//
// An address is a store object of kind kElasticIp keyed by its allocation id, its document
// in EC2's Address shape. Its public address comes from kecs's documented pool 3.0.0.0/8
// (ElasticIpFor: the allocation id's digits pick it, as CreateNatGateway has always shown a
// NAT gateway's address), unique in the region. An association is written on the address,
// on the network interface (Association, on the interface and on its private address) and,
// for an instance's interface, on the instance (PublicIpAddress, PublicDnsName). The
// address is the source of truth: an association whose interface is gone (a terminated
// instance, a deleted NAT gateway) reads as no association, so nothing is left to clean up
// after a crash or a deletion elsewhere. No traffic reaches a task or an instance at its
// Elastic IP: kecs has no internet side (an assignPublicIp task is published on the host's
// address instead, see docs/design.md 16.8).
#include <memory>
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/ids.h"
#include "net/domain/ip.h"

namespace kecs::api::ec2 {

std::string ElasticIpFor(const std::string& allocation_id) {
  std::string hex = allocation_id.substr(allocation_id.size() - 6);
  uint32_t n = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
  uint32_t ip = (3u << 24) | (n & 0xffffffu);
  if ((ip & 0xff) == 0 || (ip & 0xff) == 255) ip ^= 1;  // not a .0 / .255 address
  return net::Ipv4ToString(ip);
}

std::string PublicDnsNameOf(const std::string& region, const std::string& ip) {
  std::string dashed = ip;
  for (char& c : dashed) {
    if (c == '.') c = '-';
  }
  if (region == "us-east-1") return fmt::format("ec2-{}.compute-1.amazonaws.com", dashed);
  return fmt::format("ec2-{}.{}.compute.amazonaws.com", dashed, region);
}

namespace {

constexpr const char* kAssocMembers[] = {"AssociationId", "NetworkInterfaceId", "NetworkInterfaceOwnerId",
                                         "PrivateIpAddress", "InstanceId"};
// AWS's default quota of Elastic IP addresses per region.
constexpr size_t kMaxAddresses = 5;

state::Object RequireAddress(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "eipalloc", "InvalidAllocationID.Malformed");
  auto o = Check(tx.Get(kElasticIp, region, id));
  // AWS's wording, as hashicorp/terraform#1815 quotes it.
  if (!o) throw Ec2Error("InvalidAllocationID.NotFound", fmt::format("The allocation ID '{}' does not exist", id));
  return *o;
}

// The interface's entry for private address `ip`, or nullptr.
Json* PrivateEntry(Json& eni_doc, const std::string& ip) {
  if (!eni_doc.contains("PrivateIpAddresses")) return nullptr;
  for (auto& e : eni_doc["PrivateIpAddresses"]) {
    if (JStr(e, "PrivateIpAddress") == ip) return &e;
  }
  return nullptr;
}

// Whether the address's recorded association still holds: its interface exists and shows it.
bool AssociationLive(state::Tx& tx, const state::Object& addr) {
  std::string eni_id = JStr(addr.doc, "NetworkInterfaceId");
  std::string assoc = JStr(addr.doc, "AssociationId");
  if (eni_id.empty() || assoc.empty()) return false;
  auto eni = Check(tx.Get(net::kEni, addr.region, eni_id));
  if (!eni) return false;
  if (JStr(eni->doc.value("Association", Json::object()), "AssociationId") == assoc) return true;
  Json* e = PrivateEntry(eni->doc, JStr(addr.doc, "PrivateIpAddress"));
  return e && JStr(e->value("Association", Json::object()), "AssociationId") == assoc;
}

// The address as stored, its association dropped when it no longer holds.
state::Object Current(state::Tx& tx, state::Object addr) {
  if (JGet(addr.doc, "AssociationId") && !AssociationLive(tx, addr)) {
    for (const char* m : kAssocMembers) addr.doc.erase(m);
  }
  return addr;
}

// AWS manages the addresses of its own (requester-managed) interfaces: a NAT gateway's address
// cannot be moved away, disassociated or released while the gateway holds it. AWS answers
// AuthFailure (kubernetes/kops#1604 and genevieve/leftovers#33 quote it for ReleaseAddress,
// hashicorp/terraform-provider-aws#4675 for AssociateAddress).
void RefuseManagedAssociation(state::Tx& tx, const state::Object& addr) {
  if (!AssociationLive(tx, addr)) return;
  auto eni = Check(tx.Get(net::kEni, addr.region, JStr(addr.doc, "NetworkInterfaceId")));
  if (eni && JBool(eni->doc, "RequesterManaged")) {
    throw Ec2Error("AuthFailure", "You do not have permission to access the specified resource.");
  }
}

// Writes (or, with a null `assoc`, clears) the association of private address `ip` on the
// interface and on the instance it is attached to.
void WriteAssociation(state::Tx& tx, state::Object& eni, const std::string& ip, const Json& assoc) {
  bool primary = JStr(eni.doc, "PrivateIpAddress") == ip;
  if (Json* e = PrivateEntry(eni.doc, ip)) {
    if (assoc.is_null()) e->erase("Association");
    else (*e)["Association"] = assoc;
  }
  if (primary) {
    if (assoc.is_null()) eni.doc.erase("Association");
    else eni.doc["Association"] = assoc;
  }
  Check(tx.Put(eni));
  std::string instance_id = JStr(eni.doc.value("Attachment", Json::object()), "InstanceId");
  if (instance_id.empty()) return;
  auto inst = Check(tx.Get(net::kEc2Instance, eni.region, instance_id));
  if (!inst) return;
  // The instance's view of an association has no ids (InstanceNetworkInterfaceAssociation).
  Json short_assoc;
  if (!assoc.is_null()) {
    short_assoc = {{"IpOwnerId", JStr(assoc, "IpOwnerId")},
                   {"PublicDnsName", JStr(assoc, "PublicDnsName")},
                   {"PublicIp", JStr(assoc, "PublicIp")}};
  }
  for (auto& nic : inst->doc["NetworkInterfaces"]) {
    if (JStr(nic, "NetworkInterfaceId") != eni.id) continue;
    if (primary) {
      if (assoc.is_null()) nic.erase("Association");
      else nic["Association"] = short_assoc;
    }
    for (auto& e : nic["PrivateIpAddresses"]) {
      if (JStr(e, "PrivateIpAddress") != ip) continue;
      if (assoc.is_null()) e.erase("Association");
      else e["Association"] = short_assoc;
    }
  }
  if (primary && JStr(inst->doc, "PrivateIpAddress") == ip) {
    if (assoc.is_null()) {
      inst->doc.erase("PublicIpAddress");
      inst->doc["PublicDnsName"] = "";
    } else {
      inst->doc["PublicIpAddress"] = JStr(assoc, "PublicIp");
      inst->doc["PublicDnsName"] = JStr(assoc, "PublicDnsName");
    }
  }
  Check(tx.Put(*inst));
}

// Undoes the address's association (when it still holds) and stores the address.
void Disassociate(state::Tx& tx, state::Object& addr) {
  if (AssociationLive(tx, addr)) {
    auto eni = Check(tx.Get(net::kEni, addr.region, JStr(addr.doc, "NetworkInterfaceId")));
    WriteAssociation(tx, *eni, JStr(addr.doc, "PrivateIpAddress"), Json());
  }
  for (const char* m : kAssocMembers) addr.doc.erase(m);
  Check(tx.Put(addr));
}

const FilterSpec& AddressFilters() {
  static const FilterSpec kSpec = {
      {"allocation-id", Field("AllocationId")},
      {"association-id", Field("AssociationId")},
      {"domain", Field("Domain")},
      {"instance-id", Field("InstanceId")},
      {"network-border-group", Field("NetworkBorderGroup")},
      {"network-interface-id", Field("NetworkInterfaceId")},
      {"network-interface-owner-id", Field("NetworkInterfaceOwnerId")},
      {"private-ip-address", Field("PrivateIpAddress")},
      {"public-ip", Field("PublicIp")},
  };
  return kSpec;
}

class AddressOps {
 public:
  AddressOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json AllocateAddress(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    Json tags = TagsFor(in, "elastic-ip");
    std::string domain = JStr(in, "Domain", "vpc");
    if (domain != "vpc") {
      // EC2-Classic is retired; no source for AWS's words, kecs's wording.
      throw InvalidParameterValue(fmt::format("The domain '{}' is not supported; use 'vpc'.", domain));
    }
    if (auto pool = JOptStr(in, "PublicIpv4Pool"); pool && *pool != "amazon") {
      throw InvalidParameterValue(fmt::format("The public IPv4 pool '{}' does not exist", *pool));
    }
    if (auto group = JOptStr(in, "NetworkBorderGroup"); group && *group != ctx.region) {
      throw InvalidParameterValue(fmt::format("The network border group '{}' is not valid for this region.", *group));
    }
    std::optional<std::string> wanted = JOptStr(in, "Address");
    if (wanted) {
      auto ip = net::ParseIpv4(*wanted);
      if (!ip || (*ip >> 24) != 3u) {
        // Only kecs's pool can be recovered from; kecs's wording.
        throw Ec2Error("InvalidAddress.NotFound", fmt::format("Address '{}' not found.", *wanted));
      }
    }
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      auto all = Check(tx.List({kElasticIp, ctx.region}));
      if (all.size() >= kMaxAddresses) {
        // AWS's code and message (EC2 error codes reference: AddressLimitExceeded).
        throw Ec2Error("AddressLimitExceeded", "The maximum number of addresses has been reached.");
      }
      std::set<std::string> taken;
      for (const auto& a : all) taken.insert(JStr(a.doc, "PublicIp"));
      // A live NAT gateway given an allocation kecs did not make (lenient mode) shows the
      // address that id names: it is taken too.
      for (const auto& n : Check(tx.List({net::kNatGateway, ctx.region}))) {
        if (JStr(n.doc, "State") == "deleted") continue;
        for (const auto& g : n.doc.value("NatGatewayAddresses", Json::array())) taken.insert(JStr(g, "PublicIp"));
      }
      std::string id, ip;
      if (wanted) {
        if (taken.count(*wanted)) {
          throw Ec2Error("InvalidAddress.InUse", fmt::format("Address '{}' is already allocated.", *wanted));
        }
        id = Ec2Id("eipalloc");
        ip = *wanted;
      } else {
        do {
          id = Ec2Id("eipalloc");
          ip = ElasticIpFor(id);
        } while (taken.count(ip));
      }
      Json doc = {{"AllocationId", id},
                  {"Domain", "vpc"},
                  {"NetworkBorderGroup", ctx.region},
                  {"PublicIp", ip},
                  {"PublicIpv4Pool", "amazon"},
                  {"Tags", net::TagsOrEmpty(tags)}};
      Check(tx.Insert({kElasticIp, ctx.region, id, "", ip, "", 0, doc}));
      out = {{"AllocationId", id},
             {"Domain", "vpc"},
             {"NetworkBorderGroup", ctx.region},
             {"PublicIp", ip},
             {"PublicIpv4Pool", "amazon"}};
      return Status::Ok();
    }));
    return out;
  }

  Json AssociateAddress(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string alloc = JStr(in, "AllocationId");
    std::string instance_id = JStr(in, "InstanceId");
    std::string eni_id = JStr(in, "NetworkInterfaceId");
    std::optional<std::string> private_ip = JOptStr(in, "PrivateIpAddress");
    // "Reassociation is automatic, but you can specify false to ensure the operation fails if
    // the Elastic IP address is already associated with another resource" (AWS SDK for
    // Kotlin reference, AssociateAddressRequest.allowReassociation).
    bool reassociate = !JGet(in, "AllowReassociation") || JBool(in, "AllowReassociation");
    if (alloc.empty()) {
      if (JGet(in, "PublicIp")) {
        // A VPC address is named by its allocation id (EC2-Classic's PublicIp is retired).
        throw Ec2Error("InvalidParameterCombination",
                       "The parameter PublicIp is not supported for VPC addresses; specify AllocationId.");
      }
      throw Ec2Error("MissingParameter", "The request must contain the parameter AllocationId");
    }
    if (instance_id.empty() && eni_id.empty()) {
      throw Ec2Error("MissingParameter", "The request must contain either an instance ID or a network interface ID.");
    }
    std::string assoc_id;
    Check(store_.Write([&](state::Tx& tx) {
      state::Object addr = Current(tx, RequireAddress(tx, ctx.region, alloc));
      RefuseManagedAssociation(tx, addr);
      state::Object eni;
      if (!eni_id.empty()) {
        CheckId(eni_id, "eni", "InvalidNetworkInterfaceId.Malformed");
        auto e = Check(tx.Get(net::kEni, ctx.region, eni_id));
        if (!e) {
          throw Ec2Error("InvalidNetworkInterfaceID.NotFound",
                         fmt::format("The networkInterface ID '{}' does not exist", eni_id));
        }
        eni = *e;
        std::string attached = JStr(eni.doc.value("Attachment", Json::object()), "InstanceId");
        if (!instance_id.empty() && attached != instance_id) {
          // kecs's wording: the interface must be the instance's.
          throw InvalidParameterValue(fmt::format(
              "The network interface '{}' is not attached to instance '{}'.", eni_id, instance_id));
        }
      } else {
        CheckId(instance_id, "i", "InvalidInstanceID.Malformed");
        auto inst = Check(tx.Get(net::kEc2Instance, ctx.region, instance_id));
        if (!inst) {
          throw Ec2Error("InvalidInstanceID.NotFound", fmt::format("The instance ID '{}' does not exist", instance_id));
        }
        const Json nics = inst->doc.value("NetworkInterfaces", Json::array());
        if (nics.empty()) {
          throw Ec2Error("InvalidInstanceID",
                         fmt::format("The instance '{}' is not in a valid state for this operation.", instance_id));
        }
        if (nics.size() > 1) {
          throw Ec2Error("InvalidInstanceID", fmt::format(
              "There are multiple interfaces attached to instance '{}'. Please specify an interface ID for the "
              "operation instead.", instance_id));
        }
        auto e = Check(tx.Get(net::kEni, ctx.region, JStr(nics[0], "NetworkInterfaceId")));
        if (!e) {
          throw Ec2Error("InvalidInstanceID",
                         fmt::format("The instance '{}' is not in a valid state for this operation.", instance_id));
        }
        eni = *e;
      }
      if (JBool(eni.doc, "RequesterManaged")) {
        // AWS manages the addresses of its own interfaces (NAT gateways, ECS tasks, load
        // balancers); hashicorp/terraform-provider-aws#4675 reports AuthFailure for them.
        throw Ec2Error("AuthFailure", "You do not have permission to access the specified resource.");
      }
      // An Elastic IP needs the interface's VPC to have an internet gateway. AWS's code and
      // words, as aws-samples/cfn101-workshop#165 and hashicorp/terraform-provider-aws#2181
      // quote them. An internet gateway is stored under the VPC it is attached to.
      std::string vpc_id = JStr(eni.doc, "VpcId");
      if (Check(tx.List({net::kInternetGateway, ctx.region, vpc_id})).empty()) {
        throw Ec2Error("Gateway.NotAttached", fmt::format("Network {} is not attached to any internet gateway", vpc_id));
      }
      std::string ip = private_ip.value_or(JStr(eni.doc, "PrivateIpAddress"));
      if (!PrivateEntry(eni.doc, ip)) {
        throw InvalidParameterValue(fmt::format(
            "The private IP address {} is not associated with the network interface {}.", ip, eni.id));
      }
      if (JGet(addr.doc, "AssociationId")) {
        bool same = JStr(addr.doc, "NetworkInterfaceId") == eni.id && JStr(addr.doc, "PrivateIpAddress") == ip;
        if (same) {  // already there: the association stands
          assoc_id = JStr(addr.doc, "AssociationId");
          return Status::Ok();
        }
        if (!reassociate) {  // AllowReassociation=false
          // AWS's wording, as ansible/ansible-modules-core#2950 quotes it.
          throw Ec2Error("Resource.AlreadyAssociated",
                         fmt::format("resource {} is already associated with associate-id {}", alloc,
                                     JStr(addr.doc, "AssociationId")));
        }
        Disassociate(tx, addr);
        eni = *Check(tx.Get(net::kEni, ctx.region, eni.id));
      }
      // An Elastic IP already on this private address is disassociated and stays allocated
      // (AssociateAddress, EC2 API reference).
      for (auto& other : Check(tx.List({kElasticIp, ctx.region}))) {
        if (other.id == addr.id) continue;
        other = Current(tx, other);
        if (JStr(other.doc, "NetworkInterfaceId") == eni.id && JStr(other.doc, "PrivateIpAddress") == ip) {
          Disassociate(tx, other);
          eni = *Check(tx.Get(net::kEni, ctx.region, eni.id));
        }
      }
      assoc_id = Ec2Id("eipassoc");
      std::string public_ip = JStr(addr.doc, "PublicIp");
      Json assoc = {{"AllocationId", alloc},
                    {"AssociationId", assoc_id},
                    {"IpOwnerId", ctx.account_id},
                    {"PublicDnsName", PublicDnsNameOf(ctx.region, public_ip)},
                    {"PublicIp", public_ip}};
      WriteAssociation(tx, eni, ip, assoc);
      addr.doc["AssociationId"] = assoc_id;
      addr.doc["NetworkInterfaceId"] = eni.id;
      addr.doc["NetworkInterfaceOwnerId"] = ctx.account_id;
      addr.doc["PrivateIpAddress"] = ip;
      std::string attached = JStr(eni.doc.value("Attachment", Json::object()), "InstanceId");
      if (!attached.empty()) addr.doc["InstanceId"] = attached;
      else addr.doc.erase("InstanceId");
      Check(tx.Put(addr));
      return Status::Ok();
    }));
    return {{"AssociationId", assoc_id}};
  }

  Json DisassociateAddress(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string assoc = JStr(in, "AssociationId");
    if (assoc.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter AssociationId");
    CheckId(assoc, "eipassoc", "InvalidAssociationID.Malformed");
    Check(store_.Write([&](state::Tx& tx) {
      for (auto& a : Check(tx.List({kElasticIp, ctx.region}))) {
        // An association whose interface is gone no longer exists (design 16.8).
        a = Current(tx, a);
        if (JStr(a.doc, "AssociationId") != assoc) continue;
        RefuseManagedAssociation(tx, a);
        Disassociate(tx, a);
        return Status::Ok();
      }
      // AWS's wording, as hashicorp/terraform-provider-aws#3653 quotes it.
      throw Ec2Error("InvalidAssociationID.NotFound", fmt::format("The association ID '{}' does not exist", assoc));
    }));
    return Json::object();
  }

  Json ReleaseAddress(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string alloc = JStr(in, "AllocationId");
    if (alloc.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter AllocationId");
    Check(store_.Write([&](state::Tx& tx) {
      state::Object addr = Current(tx, RequireAddress(tx, ctx.region, alloc));
      RefuseManagedAssociation(tx, addr);
      if (JGet(addr.doc, "AssociationId")) {
        // The code is AWS's (ReleaseAddress, EC2 API reference: "[Nondefault VPC] You must
        // use DisassociateAddress ... Otherwise, Amazon EC2 returns an error
        // (InvalidIPAddress.InUse)"); the message has no source, kecs's wording.
        throw Ec2Error("InvalidIPAddress.InUse",
                       fmt::format("Address '{}' is in use (association {}).", JStr(addr.doc, "PublicIp"),
                                   JStr(addr.doc, "AssociationId")));
      }
      Check(tx.Delete(kElasticIp, ctx.region, alloc));
      return Status::Ok();
    }));
    return Json::object();
  }

  Json DescribeAddresses(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    const Json filters = in.value("Filters", Json::array());
    CheckFilters(filters, AddressFilters());
    Json list = Json::array();
    Check(store_.Read([&](state::Tx& tx) {
      std::vector<state::Object> objects;
      const Json ids = in.value("AllocationIds", Json::array());
      const Json ips = in.value("PublicIps", Json::array());
      if (!ids.empty()) {
        for (const auto& id : ids) objects.push_back(RequireAddress(tx, ctx.region, id.get<std::string>()));
      } else {
        objects = Check(tx.List({kElasticIp, ctx.region}));
      }
      if (!ips.empty()) {
        std::vector<state::Object> kept;
        for (const auto& want : ips) {
          bool found = false;
          for (const auto& o : objects) {
            if (JStr(o.doc, "PublicIp") == want.get<std::string>()) {
              kept.push_back(o);
              found = true;
            }
          }
          if (!found) {
            // The code is AWS's (EC2 error codes reference); the message has no source.
            throw Ec2Error("InvalidAddress.NotFound", fmt::format("Address '{}' not found.", want.get<std::string>()));
          }
        }
        objects = std::move(kept);
      }
      for (const auto& o : objects) {
        Json view = WithoutInternalMembers(Current(tx, o).doc);
        if (MatchFilters(filters, view, AddressFilters())) list.push_back(view);
      }
      return Status::Ok();
    }));
    return {{"Addresses", list}};
  }

  Json DescribeAddressesAttribute(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    std::string attribute = JStr(in, "Attribute", "domain-name");
    std::vector<Json> views;
    Check(store_.Read([&](state::Tx& tx) {
      std::vector<state::Object> objects;
      const Json ids = in.value("AllocationIds", Json::array());
      if (!ids.empty()) {
        for (const auto& id : ids) objects.push_back(RequireAddress(tx, ctx.region, id.get<std::string>()));
      } else {
        objects = Check(tx.List({kElasticIp, ctx.region}));
      }
      // No reverse DNS record is set on a kecs address: each shows its id and address only.
      for (const auto& o : objects) {
        views.push_back({{"AllocationId", o.id}, {"PublicIp", JStr(o.doc, "PublicIp")}});
      }
      return Status::Ok();
    }));
    Json out = Json::object();
    PageInto(out, "Addresses", std::move(views), in);
    return out;
  }

 private:
  state::Store& store_;
  net::RegionBootstrap& regions_;
};

}  // namespace

std::string AddressForNatGateway(state::Tx& tx, const std::string& region, const std::string& account,
                                 const std::string& allocation_id, const std::string& eni_id,
                                 const std::string& private_ip, const std::string& association_id) {
  auto o = Check(tx.Get(kElasticIp, region, allocation_id));
  if (!o) return ElasticIpFor(allocation_id);  // not allocated here: the address its id names
  state::Object addr = Current(tx, *o);
  if (JGet(addr.doc, "AssociationId")) {
    throw Ec2Error("Resource.AlreadyAssociated",
                   fmt::format("Elastic IP address [{}] is already associated", allocation_id));
  }
  addr.doc["AssociationId"] = association_id;
  addr.doc["NetworkInterfaceId"] = eni_id;
  addr.doc["NetworkInterfaceOwnerId"] = account;
  addr.doc["PrivateIpAddress"] = private_ip;
  Check(tx.Put(addr));
  return JStr(addr.doc, "PublicIp");
}

void RegisterAddressOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<AddressOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(AllocateAddress);
  KECS_OP(AssociateAddress);
  KECS_OP(DisassociateAddress);
  KECS_OP(ReleaseAddress);
  KECS_OP(DescribeAddresses);
  KECS_OP(DescribeAddressesAttribute);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
