// EC2: DescribeAvailabilityZones, DescribeRegions, DescribeAccountAttributes, and tags
// (CreateTags, DeleteTags, DescribeTags) for every VPC resource.
#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "net/domain/ipam.h"

namespace kecs::api::ec2 {
namespace {

struct Taggable {
  const char* prefix;
  const char* kind;
  const char* resource_type;
  const char* tags_member;
};

const std::vector<Taggable>& Taggables() {
  static const std::vector<Taggable> kAll = {
      {"vpc", net::kVpc, "vpc", "Tags"},
      {"subnet", net::kSubnet, "subnet", "Tags"},
      {"sg", net::kSecurityGroup, "security-group", "Tags"},
      {"eni", net::kEni, "network-interface", "TagSet"},
      {"igw", net::kInternetGateway, "internet-gateway", "Tags"},
      {"rtb", net::kRouteTable, "route-table", "Tags"},
      {"nat", net::kNatGateway, "natgateway", "Tags"},
      {"acl", net::kNetworkAcl, "network-acl", "Tags"},
      {"eipalloc", kElasticIp, "elastic-ip", "Tags"},
      {"vpce", kVpcEndpoint, "vpc-endpoint", "Tags"},
      {"scr", net::kSubnetCidrReservation, "subnet-cidr-reservation", "Tags"},
  };
  return kAll;
}

const Taggable* TaggableFor(const std::string& id) {
  for (const auto& t : Taggables()) {
    std::string p = std::string(t.prefix) + "-";
    if (id.compare(0, p.size(), p) == 0) return &t;
  }
  return nullptr;
}

// Finds the object holding `id` (security group rules live inside their group).
struct Located {
  state::Object obj;
  const Taggable* type;
  Json* rule = nullptr;
};

}  // namespace

Json Ec2Api::DescribeAvailabilityZones(RequestContext& ctx, const Json& in) {
  std::vector<Json> zones;
  std::set<std::string> names, ids;
  for (const auto& n : in.value("ZoneNames", Json::array())) names.insert(n.get<std::string>());
  for (const auto& n : in.value("ZoneIds", Json::array())) ids.insert(n.get<std::string>());
  static const FilterSpec kSpec = {
      {"zone-name", Field("ZoneName")}, {"zone-id", Field("ZoneId")}, {"zone-type", Field("ZoneType")},
      {"region-name", Field("RegionName")}, {"state", Field("State")}, {"group-name", Field("GroupName")},
      {"opt-in-status", Field("OptInStatus")}, {"message", Nested("Messages", "Message")},
      {"group-long-name", Field("GroupLongName")},
  };
  for (const auto& z : net::Zones(ctx.region)) {
    Json v = {{"OptInStatus", "opt-in-not-required"}, {"Messages", Json::array()},
              {"RegionName", ctx.region}, {"ZoneName", z.name}, {"ZoneId", z.id},
              {"GroupName", ctx.region}, {"NetworkBorderGroup", ctx.region},
              {"ZoneType", "availability-zone"}, {"State", "available"}};
    bool wanted = (names.empty() && ids.empty()) || names.count(z.name) || ids.count(z.id);
    if (wanted && MatchFilters(in.value("Filters", Json::array()), v, kSpec)) zones.push_back(v);
  }
  for (const auto& n : names) {
    if (!net::FindZone(ctx.region, n)) {
      throw InvalidParameterValue(fmt::format("The zone '{}' does not exist.", n));
    }
  }
  return {{"AvailabilityZones", zones}};
}

Json Ec2Api::DescribeRegions(RequestContext&, const Json& in) {
  std::set<std::string> names;
  for (const auto& n : in.value("RegionNames", Json::array())) names.insert(n.get<std::string>());
  static const FilterSpec kSpec = {{"endpoint", Field("Endpoint")}, {"region-name", Field("RegionName")},
                                   {"opt-in-status", Field("OptInStatus")}};
  Json regions = Json::array();
  for (const auto& [name, optin] : net::Regions()) {
    if (!names.empty() && !names.count(name)) continue;
    Json v = {{"OptInStatus", optin}, {"RegionName", name},
              {"Endpoint", fmt::format("ec2.{}.amazonaws.com", name)}};
    if (MatchFilters(in.value("Filters", Json::array()), v, kSpec)) regions.push_back(v);
  }
  for (const auto& n : names) {
    bool known = false;
    for (const auto& r : net::Regions()) known = known || r.first == n;
    if (!known) throw Ec2Error("InvalidParameterValue", fmt::format("Invalid region: {}", n));
  }
  return {{"Regions", regions}};
}

Json Ec2Api::DescribeAccountAttributes(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string default_vpc = "none";
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& v : Check(tx.List({net::kVpc, ctx.region}))) {
      if (JBool(v.doc, "IsDefault")) default_vpc = v.id;
    }
    return Status::Ok();
  }));
  std::vector<std::pair<std::string, std::string>> all = {
      {"supported-platforms", "VPC"}, {"vpc-max-security-groups-per-interface", "5"},
      {"max-elastic-ips", "5"}, {"max-instances", "20"}, {"vpc-max-elastic-ips", "5"},
      {"default-vpc", default_vpc}};
  std::set<std::string> want;
  for (const auto& n : in.value("AttributeNames", Json::array())) want.insert(n.get<std::string>());
  Json out = Json::array();
  for (const auto& [name, value] : all) {
    if (!want.empty() && !want.count(name)) continue;
    out.push_back({{"AttributeName", name}, {"AttributeValues", Json::array({{{"AttributeValue", value}}})}});
  }
  return {{"AccountAttributes", out}};
}

Json Ec2Api::CreateTags(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  const Json& tags = in.at("Tags");
  for (const auto& t : tags) {
    if (JStr(t, "Key").starts_with("aws:")) {
      throw InvalidParameterValue("Tag keys starting with 'aws:' are reserved for internal use");
    }
  }
  Check(store_.Write([&](state::Tx& tx) {
    for (const auto& r : in.at("Resources")) {
      std::string id = r.get<std::string>();
      bool rule = id.starts_with("sgr-");
      const Taggable* t = rule ? nullptr : TaggableFor(id);
      if (!t && !rule) throw Ec2Error("InvalidID", fmt::format("The ID '{}' is not valid", id));
      auto apply = [&](Json& list) {
        if (!list.is_array()) list = Json::array();
        for (const auto& nt : tags) {
          bool replaced = false;
          for (auto& e : list) {
            if (JStr(e, "Key") == JStr(nt, "Key")) {
              e["Value"] = JStr(nt, "Value");
              replaced = true;
            }
          }
          if (!replaced) list.push_back({{"Key", JStr(nt, "Key")}, {"Value", JStr(nt, "Value")}});
        }
        if (list.size() > 50) throw Ec2Error("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.");
      };
      if (rule) {
        bool found = false;
        for (auto& sg : Check(tx.List({net::kSecurityGroup, ctx.region}))) {
          for (auto& rl : sg.doc["kecs:rules"]) {
            if (JStr(rl, "SecurityGroupRuleId") == id) {
              apply(rl["Tags"]);
              found = true;
            }
          }
          if (found) {
            Check(tx.Put(sg));
            break;
          }
        }
        if (!found) {
          throw Ec2Error("InvalidSecurityGroupRuleId.NotFound",
                         fmt::format("The security group rule ID '{}' does not exist", id));
        }
        continue;
      }
      auto o = Check(tx.Get(t->kind, ctx.region, id));
      if (!o) throw Ec2Error("InvalidID", fmt::format("The ID '{}' is not valid", id));
      apply(o->doc[t->tags_member]);
      Check(tx.Put(*o));
    }
    return Status::Ok();
  }));
  return Json::object();
}

Json Ec2Api::DeleteTags(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  Json tags = in.value("Tags", Json::array());
  Check(store_.Write([&](state::Tx& tx) {
    for (const auto& r : in.at("Resources")) {
      std::string id = r.get<std::string>();
      const Taggable* t = TaggableFor(id);
      if (!t) throw Ec2Error("InvalidID", fmt::format("The ID '{}' is not valid", id));
      auto o = Check(tx.Get(t->kind, ctx.region, id));
      if (!o) throw Ec2Error("InvalidID", fmt::format("The ID '{}' is not valid", id));
      Json kept = Json::array();
      for (const auto& e : o->doc.value(t->tags_member, Json::array())) {
        bool drop = tags.empty();
        for (const auto& d : tags) {
          // A tag named without a value goes whatever its value; with one, only on a match.
          if (JStr(d, "Key") == JStr(e, "Key") && (!JGet(d, "Value") || JStr(d, "Value") == JStr(e, "Value"))) {
            drop = true;
          }
        }
        if (!drop) kept.push_back(e);
      }
      o->doc[t->tags_member] = kept;
      Check(tx.Put(*o));
    }
    return Status::Ok();
  }));
  return Json::object();
}

Json Ec2Api::DescribeTags(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  static const FilterSpec kSpec = {{"key", Field("Key")}, {"value", Field("Value")},
                                   {"resource-id", Field("ResourceId")},
                                   {"resource-type", Field("ResourceType")}};
  CheckFilters(in.value("Filters", Json::array()), kSpec);
  std::vector<Json> views;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& t : Taggables()) {
      for (const auto& o : Check(tx.List({t.kind, ctx.region}))) {
        for (const auto& tag : o.doc.value(t.tags_member, Json::array())) {
          Json v = {{"Key", JStr(tag, "Key")}, {"ResourceId", o.id},
                    {"ResourceType", t.resource_type}, {"Value", JStr(tag, "Value")}};
          Json with_tags = v;
          with_tags["Tags"] = o.doc.value(t.tags_member, Json::array());
          if (MatchFilters(in.value("Filters", Json::array()), with_tags, kSpec)) views.push_back(v);
        }
      }
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "Tags", std::move(views), in);
  return out;
}

}  // namespace kecs::api::ec2
