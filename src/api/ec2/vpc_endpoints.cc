// EC2 VPC endpoints (issue 17): CreateVpcEndpoint, DescribeVpcEndpoints, ModifyVpcEndpoint,
// DeleteVpcEndpoints, and DescribePrefixLists for the gateway services' prefix lists.
//
// An endpoint is a store object of kind kVpcEndpoint under its VPC, its document EC2's
// VpcEndpoint shape. A Gateway endpoint (com.amazonaws.<region>.s3 or .dynamodb) puts a
// route to the service's prefix list, targeting the endpoint, in each of its route tables.
// An Interface endpoint (com.amazonaws.<region>.<service>) holds one requester-managed
// "vpc_endpoint" network interface per subnet (one subnet per zone), its address from
// IPAM, in the endpoint's security groups. These are API objects only: no traffic goes to
// AWS through them (kecs has no path to AWS, and the endpoint's DNS names resolve to
// nothing); they let templates and tools that create them run.
#include <algorithm>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/clock.h"
#include "base/ids.h"

namespace kecs::api::ec2 {
namespace {

// The access policy AWS gives an endpoint created without one (full access).
constexpr const char* kFullAccessPolicy =
    R"({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]})";

struct PrefixListInfo {
  std::string id;
  std::string name;
  std::vector<std::string> cidrs;
};

// The AWS-managed prefix lists of the gateway services in `region`. us-east-1's ids and
// ranges are AWS's; elsewhere the id is derived from the name and the ranges are the same
// us-east-1 ones (nothing is routed to them in kecs).
std::vector<PrefixListInfo> GatewayPrefixLists(const std::string& region) {
  auto derived = [](const std::string& name) {
    uint32_t h = 2166136261u;  // FNV-1a: a stable id per name
    for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    return fmt::format("pl-{:08x}", h);
  };
  std::string s3 = "com.amazonaws." + region + ".s3";
  std::string ddb = "com.amazonaws." + region + ".dynamodb";
  bool use1 = region == "us-east-1";
  return {
      {use1 ? "pl-63a5400a" : derived(s3), s3,
       {"3.5.0.0/19", "16.182.0.0/16", "18.34.0.0/19", "18.34.232.0/21", "52.216.0.0/15", "54.231.0.0/16"}},
      {use1 ? "pl-02cd2c6b" : derived(ddb), ddb,
       {"3.218.180.0/23", "3.218.182.0/24", "52.94.0.0/22", "52.119.224.0/20"}},
  };
}

state::Object RequireEndpoint(state::Tx& tx, const std::string& region, const std::string& id) {
  // The code is AWS's (ansible-collections/amazon.aws#700); no source for the words.
  CheckId(id, "vpce", "InvalidVpcEndpointId.Malformed");
  auto o = Check(tx.Get(kVpcEndpoint, region, id));
  if (!o) throw Ec2Error("InvalidVpcEndpointId.NotFound", fmt::format("The Vpc Endpoint Id '{}' does not exist", id));
  return *o;
}

state::Object RequireRouteTableOf(state::Tx& tx, const std::string& region, const std::string& vpc_id,
                                  const std::string& id) {
  CheckId(id, "rtb", "InvalidRouteTableId.Malformed");
  auto o = Check(tx.Get(net::kRouteTable, region, id));
  if (!o) throw Ec2Error("InvalidRouteTableID.NotFound", fmt::format("The routeTable ID '{}' does not exist", id));
  if (o->parent != vpc_id) {
    // No source for AWS's words; kecs's wording.
    throw InvalidParameterValue(fmt::format("The route table {} is not in vpc {}.", id, vpc_id));
  }
  return *o;
}

// The gateway endpoint's route in table `rtb_id`: added (refused when the table already
// routes the prefix list) or removed.
void SetEndpointRoute(state::Tx& tx, const std::string& region, const std::string& vpc_id, const std::string& rtb_id,
                      const std::string& prefix_list, const std::string& endpoint_id, bool present) {
  state::Object rtb = RequireRouteTableOf(tx, region, vpc_id, rtb_id);
  Json kept = Json::array();
  for (const auto& r : rtb.doc.value("Routes", Json::array())) {
    bool ours = JStr(r, "DestinationPrefixListId") == prefix_list;
    if (ours && present) {
      // CreateRoute's wording for a route that exists (route_tables.cc).
      throw Ec2Error("RouteAlreadyExists", fmt::format("The route identified by {} already exists.", prefix_list));
    }
    if (!(ours && JStr(r, "GatewayId") == endpoint_id)) kept.push_back(r);
  }
  if (present) {
    kept.push_back({{"DestinationPrefixListId", prefix_list}, {"GatewayId", endpoint_id},
                    {"Origin", "CreateRoute"}, {"State", "active"}});
  }
  rtb.doc["Routes"] = kept;
  Check(tx.Put(rtb));
}

const FilterSpec& EndpointFilters() {
  static const FilterSpec kSpec = {
      {"ip-address-type", Field("IpAddressType")},
      {"service-name", Field("ServiceName")},
      {"vpc-id", Field("VpcId")},
      {"vpc-endpoint-id", Field("VpcEndpointId")},
      {"vpc-endpoint-state", Field("State")},
      {"vpc-endpoint-type", Field("VpcEndpointType")},
  };
  return kSpec;
}

const FilterSpec& PrefixListFilters() {
  static const FilterSpec kSpec = {
      {"prefix-list-id", Field("PrefixListId")},
      {"prefix-list-name", Field("PrefixListName")},
  };
  return kSpec;
}

class EndpointOps {
 public:
  EndpointOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json CreateVpcEndpoint(RequestContext& ctx, const Json& in) {
    net::Scope s = RequestScope(store_, regions_, ctx);
    std::string vpc_id = JStr(in, "VpcId");
    std::string service = JStr(in, "ServiceName");
    std::string type = JStr(in, "VpcEndpointType", "Gateway");
    std::string token = JStr(in, "ClientToken");
    if (service.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter ServiceName");
    const std::string prefix = "com.amazonaws." + ctx.region + ".";
    std::string short_name = service.starts_with(prefix) ? service.substr(prefix.size()) : "";
    if (short_name.empty() || short_name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos) {
      // AWS's wording, as terraform-aws-modules/terraform-aws-vpc#481 quotes it. kecs takes
      // any lower-case service name of the caller's region: it keeps no list of AWS's.
      throw Ec2Error("InvalidServiceName", fmt::format("The Vpc Endpoint Service '{}' does not exist", service));
    }
    if (type != "Gateway" && type != "Interface") {
      throw InvalidParameterValue(fmt::format("The VPC endpoint type '{}' is not supported by kecs.", type));
    }
    const Json rtbs = in.value("RouteTableIds", Json::array());
    const Json subnets = in.value("SubnetIds", Json::array());
    const Json groups = in.value("SecurityGroupIds", Json::array());
    std::string prefix_list;
    if (type == "Gateway") {
      for (const auto& pl : GatewayPrefixLists(ctx.region)) {
        if (pl.name == service) prefix_list = pl.id;
      }
      if (prefix_list.empty()) {
        throw Ec2Error("InvalidParameter",
                       fmt::format("The Vpc Endpoint Service '{}' does not support Gateway endpoints.", service));
      }
      if (!subnets.empty()) {
        // AWS's wording, as nanlabs/terraform-aws-starter#18 quotes it.
        throw Ec2Error("InvalidParameter",
                       "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.");
      }
      if (!groups.empty()) {
        throw Ec2Error("InvalidParameter",
                       "Security group IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.");
      }
    } else if (!rtbs.empty()) {
      throw Ec2Error("InvalidParameter", "Route table IDs are only supported for Gateway type VPC Endpoints.");
    }
    Json tags = TagsFor(in, "vpc-endpoint");
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      state::Object vpc = RequireVpc(tx, ctx.region, vpc_id);
      if (!token.empty()) {
        for (const auto& e : Check(tx.List({kVpcEndpoint, ctx.region, vpc_id}))) {
          if (JStr(e.doc, "kecs:clientToken") == token) {
            out = {{"VpcEndpoint", WithoutInternalMembers(e.doc)}, {"ClientToken", token}};
            return Status::Ok();
          }
        }
      }
      std::string id = Ec2Id("vpce");
      Json doc = {{"VpcEndpointId", id},
                  {"VpcEndpointType", type},
                  {"VpcId", vpc_id},
                  {"ServiceName", service},
                  {"State", "available"},
                  {"PolicyDocument", JStr(in, "PolicyDocument", kFullAccessPolicy)},
                  {"RouteTableIds", Json::array()},
                  {"SubnetIds", Json::array()},
                  {"Groups", Json::array()},
                  {"NetworkInterfaceIds", Json::array()},
                  {"DnsEntries", Json::array()},
                  {"IpAddressType", JStr(in, "IpAddressType", "ipv4")},
                  {"PrivateDnsEnabled", type == "Interface" ? in.value("PrivateDnsEnabled", true) : false},
                  {"RequesterManaged", false},
                  {"CreationTimestamp", EpochMillis(ctx.now)},
                  {"OwnerId", ctx.account_id},
                  {"Tags", net::TagsOrEmpty(tags)}};
      if (!token.empty()) doc["kecs:clientToken"] = token;
      state::Object ep{kVpcEndpoint, ctx.region, id, vpc_id, "", "", 0, doc};
      if (type == "Gateway") {
        ep.doc["kecs:prefixList"] = prefix_list;
        for (const auto& r : rtbs) AddRouteTable(tx, ep, r.get<std::string>());
      } else {
        std::string suffix = RandomHex(8);
        ep.doc["DnsEntries"].push_back({{"DnsName", fmt::format("{}-{}.{}.{}.vpce.amazonaws.com", id, suffix,
                                                                 short_name, ctx.region)}});
        ep.doc["kecs:dnsSuffix"] = suffix;
        SetGroups(tx, ep, vpc, groups.empty() ? std::vector<std::string>{} : groups.get<std::vector<std::string>>());
        for (const auto& sn : subnets) AddSubnet(tx, s, ep, sn.get<std::string>());
      }
      Check(tx.Insert(ep));
      Json view = WithoutInternalMembers(ep.doc);
      if (type == "Interface") view["State"] = "pending";  // as CreateVpcEndpoint answers it
      out = {{"VpcEndpoint", view}};
      if (!token.empty()) out["ClientToken"] = token;
      return Status::Ok();
    }));
    return out;
  }

  Json DescribeVpcEndpoints(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    return DescribeStored(store_, ctx, in,
                          {kVpcEndpoint, "VpcEndpointIds", "Filters", "VpcEndpoints", EndpointFilters(), RequireEndpoint});
  }

  Json ModifyVpcEndpoint(RequestContext& ctx, const Json& in) {
    net::Scope s = RequestScope(store_, regions_, ctx);
    std::string id = JStr(in, "VpcEndpointId");
    Check(store_.Write([&](state::Tx& tx) {
      state::Object ep = RequireEndpoint(tx, ctx.region, id);
      bool gateway = JStr(ep.doc, "VpcEndpointType") == "Gateway";
      auto list = [&](const char* m) {
        return in.value(m, Json::array()).get<std::vector<std::string>>();
      };
      if (gateway && JGet(in, "AddSubnetIds")) {
        throw Ec2Error("InvalidParameter",
                       "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.");
      }
      if (gateway && JGet(in, "AddSecurityGroupIds")) {
        throw Ec2Error("InvalidParameter",
                       "Security group IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.");
      }
      if (!gateway && JGet(in, "AddRouteTableIds")) {
        throw Ec2Error("InvalidParameter", "Route table IDs are only supported for Gateway type VPC Endpoints.");
      }
      if (JBool(in, "ResetPolicy")) ep.doc["PolicyDocument"] = kFullAccessPolicy;
      if (auto p = JOptStr(in, "PolicyDocument")) ep.doc["PolicyDocument"] = *p;
      if (const Json* d = JGet(in, "PrivateDnsEnabled"); d && !gateway) ep.doc["PrivateDnsEnabled"] = d->get<bool>();
      for (const auto& r : list("RemoveRouteTableIds")) RemoveRouteTable(tx, ep, r);
      for (const auto& r : list("AddRouteTableIds")) AddRouteTable(tx, ep, r);
      for (const auto& sn : list("RemoveSubnetIds")) RemoveSubnet(tx, ep, sn);
      for (const auto& sn : list("AddSubnetIds")) AddSubnet(tx, s, ep, sn);
      if (JGet(in, "AddSecurityGroupIds") || JGet(in, "RemoveSecurityGroupIds")) {
        std::vector<std::string> now;
        for (const auto& g : ep.doc["Groups"]) now.push_back(JStr(g, "GroupId"));
        for (const auto& g : list("AddSecurityGroupIds")) {
          if (std::find(now.begin(), now.end(), g) == now.end()) now.push_back(g);
        }
        for (const auto& g : list("RemoveSecurityGroupIds")) std::erase(now, g);
        if (now.empty()) {
          // No source for AWS's words; kecs's wording.
          throw InvalidParameterValue("An Interface VPC endpoint needs at least one security group.");
        }
        auto vpc = RequireVpc(tx, ctx.region, ep.parent);
        SetGroups(tx, ep, vpc, now);
      }
      Check(tx.Put(ep));
      return Status::Ok();
    }));
    return {{"Return", true}};
  }

  Json DeleteVpcEndpoints(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    Json unsuccessful = Json::array();
    for (const auto& v : in.value("VpcEndpointIds", Json::array())) {
      std::string id = v.get<std::string>();
      // Each in a transaction of its own: a bad id is reported and the others go on.
      try {
        Check(store_.Write([&](state::Tx& tx) {
          state::Object ep = RequireEndpoint(tx, ctx.region, id);
          for (const auto& r : ep.doc.value("RouteTableIds", Json::array())) {
            std::string rtb = r.get<std::string>();
            if (Check(tx.Get(net::kRouteTable, ctx.region, rtb))) RemoveRouteTable(tx, ep, rtb);
          }
          for (const auto& sn : ep.doc.value("SubnetIds", Json::array())) RemoveSubnet(tx, ep, sn.get<std::string>());
          Check(tx.Delete(kVpcEndpoint, ctx.region, id));
          return Status::Ok();
        }));
      } catch (const AwsError& e) {
        unsuccessful.push_back({{"Error", {{"Code", e.code()}, {"Message", e.message()}}}, {"ResourceId", id}});
      }
    }
    return {{"Unsuccessful", unsuccessful}};
  }

  Json DescribePrefixLists(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    const Json filters = in.value("Filters", Json::array());
    CheckFilters(filters, PrefixListFilters());
    std::vector<Json> all;
    for (const auto& pl : GatewayPrefixLists(ctx.region)) {
      all.push_back({{"PrefixListId", pl.id}, {"PrefixListName", pl.name}, {"Cidrs", pl.cidrs}});
    }
    std::vector<Json> views;
    const Json ids = in.value("PrefixListIds", Json::array());
    for (const auto& want : ids) {
      bool found = false;
      for (const auto& v : all) found = found || v["PrefixListId"] == want;
      if (!found) {
        // route_tables.cc's wording for an unknown prefix list.
        throw Ec2Error("InvalidPrefixListID.NotFound",
                       fmt::format("The prefix list ID '{}' does not exist", want.get<std::string>()));
      }
    }
    for (const auto& v : all) {
      bool named = ids.empty();
      for (const auto& want : ids) named = named || v["PrefixListId"] == want;
      if (named && MatchFilters(filters, v, PrefixListFilters())) views.push_back(v);
    }
    Json out = Json::object();
    PageInto(out, "PrefixLists", std::move(views), in);
    return out;
  }

 private:
  void AddRouteTable(state::Tx& tx, state::Object& ep, const std::string& rtb) {
    Json& ids = ep.doc["RouteTableIds"];
    if (std::find(ids.begin(), ids.end(), Json(rtb)) != ids.end()) return;
    SetEndpointRoute(tx, ep.region, ep.parent, rtb, JStr(ep.doc, "kecs:prefixList"), ep.id, true);
    ids.push_back(rtb);
  }

  void RemoveRouteTable(state::Tx& tx, state::Object& ep, const std::string& rtb) {
    Json& ids = ep.doc["RouteTableIds"];
    auto it = std::find(ids.begin(), ids.end(), Json(rtb));
    if (it == ids.end()) return;
    // A table deleted since (DeleteRouteTable took the endpoint's route with it) just leaves the list.
    if (Check(tx.Get(net::kRouteTable, ep.region, rtb))) {
      SetEndpointRoute(tx, ep.region, ep.parent, rtb, JStr(ep.doc, "kecs:prefixList"), ep.id, false);
    }
    ids.erase(it);
  }

  // The endpoint's security groups (the VPC's default group when none is named), on the
  // endpoint and its interfaces.
  void SetGroups(state::Tx& tx, state::Object& ep, const state::Object& vpc, std::vector<std::string> ids) {
    Json groups = Json::array();
    if (ids.empty()) {
      auto def = Check(net::DefaultSecurityGroup(tx, ep.region, vpc.id));
      if (def) ids.push_back(def->id);
    }
    for (const auto& g : ids) {
      CheckId(g, "sg", "InvalidGroupId.Malformed");
      auto sg = Check(tx.Get(net::kSecurityGroup, ep.region, g));
      if (!sg || sg->parent != vpc.id) {
        throw Ec2Error("InvalidGroup.NotFound", fmt::format("The security group '{}' does not exist in VPC '{}'", g, vpc.id));
      }
      groups.push_back({{"GroupId", g}, {"GroupName", JStr(sg->doc, "GroupName")}});
    }
    ep.doc["Groups"] = groups;
    for (const auto& eni_id : ep.doc.value("NetworkInterfaceIds", Json::array())) {
      if (auto eni = Check(tx.Get(net::kEni, ep.region, eni_id.get<std::string>()))) {
        eni->doc["Groups"] = groups;
        Check(tx.Put(*eni));
      }
    }
  }

  void AddSubnet(state::Tx& tx, const net::Scope& s, state::Object& ep, const std::string& subnet_id) {
    state::Object subnet = RequireSubnet(tx, ep.region, subnet_id);
    if (subnet.parent != ep.parent) {
      // No source for AWS's words; kecs's wording.
      throw InvalidParameterValue(fmt::format("The subnet {} is not in vpc {}.", subnet_id, ep.parent));
    }
    std::string zone = JStr(subnet.doc, "AvailabilityZone");
    for (const auto& other : ep.doc["SubnetIds"]) {
      if (other == subnet_id) return;
      auto o = Check(tx.Get(net::kSubnet, ep.region, other.get<std::string>()));
      if (o && JStr(o->doc, "AvailabilityZone") == zone) {
        // One subnet per zone; the code is AWS's (EC2 error codes reference), the words kecs's.
        throw Ec2Error("DuplicateSubnetsInSameZone", fmt::format(
            "Found another VPC endpoint subnet in the availability zone of {}. VPC endpoint subnets should be in "
            "different availability zones supported by the VPC endpoint service.", subnet_id));
      }
    }
    net::EniSpec spec;
    spec.subnet = &subnet;
    for (const auto& g : ep.doc["Groups"]) spec.groups.push_back(JStr(g, "GroupId"));
    spec.description = "VPC Endpoint Interface " + ep.id;
    spec.interface_type = "vpc_endpoint";
    spec.requester_managed = true;
    spec.requester_id = "amazon";
    spec.attached = true;
    state::Object eni = CreateEniAt(tx, s, spec, std::nullopt);
    ep.doc["SubnetIds"].push_back(subnet_id);
    ep.doc["NetworkInterfaceIds"].push_back(eni.id);
    // AWS's form: vpce-<id>-<suffix>[-<zone>].<service>.<region>.vpce.amazonaws.com.
    std::string svc = JStr(ep.doc, "ServiceName").substr(std::string("com.amazonaws.").size() + ep.region.size() + 1);
    ep.doc["DnsEntries"].push_back({{"DnsName", fmt::format("{}-{}-{}.{}.{}.vpce.amazonaws.com", ep.id,
                                                             JStr(ep.doc, "kecs:dnsSuffix"), zone, svc, ep.region)}});
  }

  void RemoveSubnet(state::Tx& tx, state::Object& ep, const std::string& subnet_id) {
    Json kept_subnets = Json::array(), kept_enis = Json::array();
    std::string zone;
    for (const auto& eni_id : ep.doc.value("NetworkInterfaceIds", Json::array())) {
      auto eni = Check(tx.Get(net::kEni, ep.region, eni_id.get<std::string>()));
      if (eni && JStr(eni->doc, "SubnetId") == subnet_id) {
        zone = JStr(eni->doc, "AvailabilityZone");
        Check(net::DeleteEni(tx, ep.region, eni->id));
      } else {
        kept_enis.push_back(eni_id);
      }
    }
    for (const auto& sn : ep.doc["SubnetIds"]) {
      if (sn != subnet_id) kept_subnets.push_back(sn);
    }
    Json kept_dns = Json::array();
    for (const auto& d : ep.doc["DnsEntries"]) {
      std::string name = JStr(d, "DnsName");
      if (zone.empty() || name.find("-" + zone + ".") == std::string::npos) kept_dns.push_back(d);
    }
    ep.doc["SubnetIds"] = kept_subnets;
    ep.doc["NetworkInterfaceIds"] = kept_enis;
    ep.doc["DnsEntries"] = kept_dns;
  }

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

}  // namespace

void RegisterVpcEndpointOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<EndpointOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateVpcEndpoint);
  KECS_OP(DescribeVpcEndpoints);
  KECS_OP(ModifyVpcEndpoint);
  KECS_OP(DeleteVpcEndpoints);
  KECS_OP(DescribePrefixLists);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
