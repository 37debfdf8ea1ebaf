// EC2 DHCP options sets: CreateDhcpOptions, DescribeDhcpOptions, DeleteDhcpOptions,
// AssociateDhcpOptions.
//
// A set is a store object of kind net::kDhcpOptions in the DhcpOptions shape. A VPC names
// its set in DhcpOptionsId ("default" after AssociateDhcpOptions with "default"). The set
// feeds the resolv.conf of awsvpc tasks that start afterwards (net/domain/dhcp.h); running
// tasks keep theirs, as an instance keeps its options until it renews its DHCP lease.
#include <memory>
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/ids.h"
#include "net/domain/dhcp.h"
#include "net/domain/ip.h"

namespace kecs::api::ec2 {
namespace {

state::Object RequireDhcp(state::Tx& tx, const std::string& region, const std::string& id) {
  // Codes of the EC2 error codes reference; the Malformed message is EC2's id form (as
  // getmoto/moto words it), the NotFound one as the AWS SDK for Kotlin's samples quote it.
  CheckId(id, "dopt", "InvalidDhcpOptionsId.Malformed");
  auto o = Check(tx.Get(net::kDhcpOptions, region, id));
  if (!o) throw Ec2Error("InvalidDhcpOptionID.NotFound", fmt::format("The dhcpOptions ID '{}' does not exist", id));
  return *o;
}

// The option names and their limits, as the VPC user guide's "DHCP option set concepts"
// lists them. The messages have no source: kecs's wording, in EC2's "Value (...) for
// parameter ... is invalid" form.
void CheckOption(const std::string& key, const std::vector<std::string>& values) {
  auto bad = [&](const std::string& why) {
    return InvalidParameterValue(fmt::format("Value ({}) for parameter {} is invalid. {}",
                                             values.empty() ? "" : values.front(), key, why));
  };
  if (values.empty()) throw bad("The option needs at least one value.");
  auto addresses = [&](size_t max, bool amazon) {
    if (values.size() > max) throw bad(fmt::format("At most {} values are allowed.", max));
    for (const auto& v : values) {
      if (amazon && v == "AmazonProvidedDNS") continue;
      if (!net::ParseIpv4(v) && !net::ParseIpv6(v)) {
        throw InvalidParameterValue(
            fmt::format("Value ({}) for parameter {} is invalid. This is not a valid IP address.", v, key));
      }
    }
  };
  if (key == "domain-name-servers") {
    addresses(4, true);
  } else if (key == "ntp-servers") {
    addresses(8, false);
  } else if (key == "netbios-name-servers") {
    addresses(4, false);
  } else if (key == "domain-name") {
    if (values.size() > 1) throw bad("At most 1 value is allowed.");
    if (values.front().empty() || values.front().size() > 255) throw bad("This is not a valid domain name.");
  } else if (key == "netbios-node-type") {
    static const std::set<std::string> kTypes = {"1", "2", "4", "8"};
    if (values.size() > 1 || !kTypes.count(values.front())) throw bad("The node type must be 1, 2, 4 or 8.");
  } else if (key == "ipv6-address-preferred-lease-time") {
    long long secs = -1;
    try {
      size_t used = 0;
      secs = std::stoll(values.front(), &used);
      if (used != values.front().size()) secs = -1;
    } catch (const std::exception&) {
    }
    if (values.size() > 1 || secs < 140 || secs > 2147483647) {
      throw bad("The lease time must be between 140 and 2147483647 seconds.");
    }
  } else {
    throw InvalidParameterValue(fmt::format("Value ({}) for parameter key is invalid. Unknown DHCP option.", key));
  }
}

const FilterSpec& DhcpFilters() {
  static const FilterSpec kSpec = {
      {"dhcp-options-id", Field("DhcpOptionsId")},
      {"key", Nested("DhcpConfigurations", "Key")},
      {"value", [](const Json& v) {
         std::vector<std::string> out;
         for (const auto& c : v.value("DhcpConfigurations", Json::array())) {
           for (const auto& x : c.value("Values", Json::array())) out.push_back(JStr(x, "Value"));
         }
         return out;
       }},
      {"owner-id", Field("OwnerId")},
  };
  return kSpec;
}

class DhcpOps {
 public:
  DhcpOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json CreateDhcpOptions(RequestContext& ctx, const Json& in);
  Json DescribeDhcpOptions(RequestContext& ctx, const Json& in);
  Json DeleteDhcpOptions(RequestContext& ctx, const Json& in);
  Json AssociateDhcpOptions(RequestContext& ctx, const Json& in);

 private:
  net::Scope ScopeOf(const RequestContext& ctx) {
    return RequestScope(store_, regions_, ctx);
  }

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

Json DhcpOps::CreateDhcpOptions(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  Json configs = Json::array();
  std::set<std::string> seen;
  for (const auto& c : in.value("DhcpConfigurations", Json::array())) {
    std::string key = JStr(c, "Key");
    std::vector<std::string> values;
    for (const auto& v : c.value("Values", Json::array())) values.push_back(v.get<std::string>());
    CheckOption(key, values);
    if (!seen.insert(key).second) {
      // No source: kecs's wording.
      throw InvalidParameterValue(fmt::format("The DHCP option {} is given more than once.", key));
    }
    Json vs = Json::array();
    for (const auto& v : values) vs.push_back({{"Value", v}});
    configs.push_back({{"Key", key}, {"Values", vs}});
  }
  if (configs.empty()) {
    throw Ec2Error("MissingParameter", "The request must contain the parameter dhcpConfiguration");
  }
  Json tags = TagsFor(in, "dhcp-options");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    std::string id = Ec2Id("dopt");
    Json doc = {{"DhcpConfigurations", configs}, {"DhcpOptionsId", id}, {"OwnerId", s.account},
                {"Tags", net::TagsOrEmpty(tags)}};
    Check(tx.Insert({net::kDhcpOptions, ctx.region, id, "", "", "", 0, doc}));
    out = {{"DhcpOptions", doc}};
    return Status::Ok();
  }));
  return out;
}

Json DhcpOps::DescribeDhcpOptions(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  return DescribeStored(store_, ctx, in,
                        {net::kDhcpOptions, "DhcpOptionsIds", "Filters", "DhcpOptions", DhcpFilters(), RequireDhcp});
}

Json DhcpOps::DeleteDhcpOptions(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "DhcpOptionsId");
  Check(store_.Write([&](state::Tx& tx) {
    RequireDhcp(tx, ctx.region, id);
    for (const auto& v : Check(tx.List({net::kVpc, ctx.region}))) {
      if (JStr(v.doc, "DhcpOptionsId") == id) {
        // DeleteDhcpOptions reference: "You must disassociate the set of DHCP options
        // before you can delete it"; EC2's DependencyViolation wording.
        throw Ec2Error("DependencyViolation",
                       fmt::format("The dhcpOptions '{}' has dependencies and cannot be deleted.", id));
      }
    }
    Check(tx.Delete(net::kDhcpOptions, ctx.region, id));
    return Status::Ok();
  }));
  return Json::object();
}

Json DhcpOps::AssociateDhcpOptions(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string id = JStr(in, "DhcpOptionsId"), vpc_id = JStr(in, "VpcId");
  Check(store_.Write([&](state::Tx& tx) {
    if (id != "default") RequireDhcp(tx, ctx.region, id);
    state::Object vpc = RequireVpc(tx, ctx.region, vpc_id);
    vpc.doc["DhcpOptionsId"] = id;
    Check(tx.Put(vpc));
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace

void RegisterDhcpOptionsOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<DhcpOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateDhcpOptions);
  KECS_OP(DescribeDhcpOptions);
  KECS_OP(DeleteDhcpOptions);
  KECS_OP(AssociateDhcpOptions);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
