// Shared pieces of the EC2 handlers: errors, ids, filters, tags, pagination.
#include <algorithm>
#include <exception>
#include <regex>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "api/pagination.h"
#include "model/cluster_query.h"

namespace kecs::api::ec2 {

AwsError Ec2Error(std::string code, std::string message) {
  return AwsError(std::move(code), std::move(message));
}

AwsError InvalidParameterValue(std::string message) {
  return AwsError("InvalidParameterValue", std::move(message));
}

void CheckDryRun(const Json& in) {
  if (JBool(in, "DryRun")) {
    throw AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412);
  }
}

bool IsWellFormedId(const std::string& id, const std::string& prefix) {
  static const std::regex kHex("^[0-9a-f]{8}$|^[0-9a-f]{17}$");
  return id.size() > prefix.size() + 1 && id.compare(0, prefix.size(), prefix) == 0 &&
         id[prefix.size()] == '-' && std::regex_match(id.substr(prefix.size() + 1), kHex);
}

void CheckId(const std::string& id, const std::string& prefix, const std::string& malformed_code) {
  if (!IsWellFormedId(id, prefix)) {
    throw AwsError(malformed_code, fmt::format("Invalid id: \"{}\" (expecting \"{}-...\")", id, prefix));
  }
}

void Check(const Status& st) {
  ThrowIfError(st);
}


namespace {

// EC2 wildcards: * any run, ? one character, \ escapes the next one. Matched without
// std::regex: a filter value is client input, and a regex built from it can be invalid
// (a trailing backslash) or recurse as deep as the value is long.
bool FilterMatch(std::string_view pattern, std::string_view value) {
  struct Tok {
    enum { kLit, kOne, kRun } kind;
    char c;
  };
  std::vector<Tok> toks;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) toks.push_back({Tok::kLit, pattern[++i]});
    else if (c == '*') toks.push_back({Tok::kRun, 0});
    else if (c == '?') toks.push_back({Tok::kOne, 0});
    else toks.push_back({Tok::kLit, c});
  }
  // Greedy with backtracking to the last '*': linear in practice, never recursive.
  size_t t = 0, v = 0, star = std::string_view::npos, star_v = 0;
  while (v < value.size()) {
    if (t < toks.size() && toks[t].kind == Tok::kRun) {
      star = t++;
      star_v = v;
    } else if (t < toks.size() &&
               (toks[t].kind == Tok::kOne || toks[t].c == value[v])) {
      ++t;
      ++v;
    } else if (star != std::string_view::npos) {
      t = star + 1;
      v = ++star_v;
    } else {
      return false;
    }
  }
  while (t < toks.size() && toks[t].kind == Tok::kRun) ++t;
  return t == toks.size();
}

std::string Scalar(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return std::to_string(v.get<long long>());
  return "";
}

}  // namespace

FilterField Field(const std::string& member) {
  return [member](const Json& view) -> std::vector<std::string> {
    const Json* v = JGet(view, member);
    if (!v) return {};
    return {Scalar(*v)};
  };
}

FilterField Nested(const std::string& list, const std::string& member) {
  return [list, member](const Json& view) -> std::vector<std::string> {
    std::vector<std::string> out;
    const Json* l = JGet(view, list);
    if (!l) return out;
    auto take = [&](const Json& item) {
      if (const Json* v = JGet(item, member)) out.push_back(Scalar(*v));
    };
    if (l->is_array()) {
      for (const auto& item : *l) take(item);
    } else {
      take(*l);
    }
    return out;
  };
}

void CheckFilters(const Json& filters, const FilterSpec& spec) {
  if (!filters.is_array()) return;
  for (const auto& f : filters) {
    std::string name = JStr(f, "Name");
    if (name.starts_with("tag:") || name == "tag-key" || name == "tag-value") continue;
    if (!spec.count(name)) throw InvalidParameterValue(fmt::format("The filter '{}' is invalid", name));
  }
}

bool MatchFilters(const Json& filters, const Json& view, const FilterSpec& spec,
                  const char* tags_member) {
  if (!filters.is_array()) return true;
  for (const auto& f : filters) {
    std::string name = JStr(f, "Name");
    std::vector<std::string> have;
    if (name.starts_with("tag:")) {
      std::string key = name.substr(4);
      for (const auto& t : view.value(tags_member, Json::array())) {
        if (JStr(t, "Key") == key) have.push_back(JStr(t, "Value"));
      }
    } else if (name == "tag-key") {
      for (const auto& t : view.value(tags_member, Json::array())) have.push_back(JStr(t, "Key"));
    } else if (name == "tag-value") {
      for (const auto& t : view.value(tags_member, Json::array())) have.push_back(JStr(t, "Value"));
    } else {
      auto it = spec.find(name);
      if (it == spec.end()) throw InvalidParameterValue(fmt::format("The filter '{}' is invalid", name));
      have = it->second(view);
    }
    bool any = false;
    for (const auto& want : f.value("Values", Json::array())) {
      for (const auto& h : have) any = any || FilterMatch(want.get<std::string>(), h);
    }
    if (!any) return false;
  }
  return true;
}

Json TagsFor(const Json& in, const std::string& resource_type) {
  Json tags = Json::array();
  for (const auto& spec : in.value("TagSpecifications", Json::array())) {
    std::string type = JStr(spec, "ResourceType");
    if (type != resource_type) {
      throw InvalidParameterValue(fmt::format(
          "'{}' is not a valid taggable resource type for this operation.", type));
    }
    for (const auto& t : spec.value("Tags", Json::array())) {
      std::string key = JStr(t, "Key");
      if (key.starts_with("aws:")) {
        throw InvalidParameterValue("Tag keys starting with 'aws:' are reserved for internal use");
      }
      tags.push_back({{"Key", key}, {"Value", JStr(t, "Value")}});
    }
  }
  return tags;
}

void PageInto(Json& out, const char* list_member, std::vector<Json> views, const Json& in) {
  auto max = JOptInt(in, "MaxResults");
  std::optional<std::string> token = JOptStr(in, "NextToken");
  if (!max && !token) {
    out[list_member] = std::move(views);
    return;
  }
  std::vector<std::string> keys;
  for (size_t i = 0; i < views.size(); ++i) keys.push_back(fmt::format("{:012}", i));
  auto page = Paginate(keys, token, max ? static_cast<size_t>(*max) : views.size());
  if (!page) throw InvalidParameterValue(fmt::format("The token '{}' is invalid", *token));
  out[list_member] = std::vector<Json>(views.begin() + page->begin, views.begin() + page->end);
  if (page->next_token) out["NextToken"] = *page->next_token;
}

net::Scope RequestScope(state::Store& store, net::RegionBootstrap& regions, const RequestContext& ctx) {
  Check(regions.Ensure(store, ctx.region, ctx.account_id, ctx.now));
  return {ctx.region, ctx.account_id, ctx.now};
}

net::Scope Ec2Api::ScopeOf(const RequestContext& ctx) { return RequestScope(store_, regions_, ctx); }

void Ec2Api::RegisterAll(Service& s) {
#define KECS_OP(name) \
  s.Register(#name, [this](RequestContext& ctx, const Json& in) { CheckDryRun(in); return name(ctx, in); })
  KECS_OP(CreateVpc);
  KECS_OP(DescribeVpcs);
  KECS_OP(DeleteVpc);
  KECS_OP(ModifyVpcAttribute);
  KECS_OP(DescribeVpcAttribute);
  KECS_OP(AssociateVpcCidrBlock);
  KECS_OP(CreateDefaultVpc);
  KECS_OP(CreateSubnet);
  KECS_OP(DescribeSubnets);
  KECS_OP(DeleteSubnet);
  KECS_OP(ModifySubnetAttribute);
  KECS_OP(CreateSecurityGroup);
  KECS_OP(DescribeSecurityGroups);
  KECS_OP(DeleteSecurityGroup);
  KECS_OP(AuthorizeSecurityGroupIngress);
  KECS_OP(AuthorizeSecurityGroupEgress);
  KECS_OP(RevokeSecurityGroupIngress);
  KECS_OP(RevokeSecurityGroupEgress);
  KECS_OP(DescribeSecurityGroupRules);
  KECS_OP(ModifySecurityGroupRules);
  KECS_OP(CreateNetworkInterface);
  KECS_OP(DescribeNetworkInterfaces);
  KECS_OP(DeleteNetworkInterface);
  KECS_OP(ModifyNetworkInterfaceAttribute);
  KECS_OP(DescribeAvailabilityZones);
  KECS_OP(DescribeRegions);
  KECS_OP(DescribeAccountAttributes);
  KECS_OP(CreateTags);
  KECS_OP(DeleteTags);
  KECS_OP(DescribeTags);
#undef KECS_OP
  RegisterGatewayOps(s, store_, regions_);
  RegisterRouteTableOps(s, store_, regions_);
  RegisterNetworkAclOps(s, store_, regions_);
  RegisterEniAddressOps(s, store_, regions_);
  RegisterInstanceTypeOps(s, store_, regions_);
  RegisterKeyPairOps(s, store_, regions_);
  RegisterLaunchTemplateOps(s, store_, regions_);
  RegisterInstanceOps(s, store_, regions_);
  RegisterPeeringOps(s, store_, regions_);
  RegisterDhcpOptionsOps(s, store_, regions_);
  RegisterFlowLogOps(s, store_, regions_);
  RegisterSgDescriptionOps(s, store_, regions_);
  RegisterEgressOnlyGatewayOps(s, store_, regions_);
  RegisterAddressOps(s, store_, regions_);
  RegisterSubnetCidrReservationOps(s, store_, regions_);
  RegisterCidrBlockOps(s, store_, regions_);
  RegisterVpcEndpointOps(s, store_, regions_);
  RegisterReferenceConsoleOps(s, store_, regions_);
}

void SetRouteState(state::Tx& tx, const std::string& region, const std::optional<std::string>& vpc_id,
                   const char* member, const std::string& target, const char* state) {
  state::Query q{net::kRouteTable, region};
  q.parent = vpc_id;
  for (auto& rtb : Check(tx.List(q))) {
    bool changed = false;
    for (auto& r : rtb.doc["Routes"]) {
      if (JStr(r, member) == target && JStr(r, "State") != state) {
        r["State"] = state;
        changed = true;
      }
    }
    if (changed) Check(tx.Put(rtb));
  }
}

uint32_t SubnetIpv4(const state::Object& subnet, const std::string& address) {
  auto ip = net::ParseIpv4(address);
  // AWS's answer to an address that is no address, as hashicorp/terraform#18764 quotes it.
  if (!ip) throw InvalidParameterValue(fmt::format("invalid value for parameter address: {}", address));
  auto cidr = net::Ipv4Cidr::Parse(JStr(subnet.doc, "CidrBlock"));
  if (!cidr || !cidr->Contains(*ip)) {
    throw InvalidParameterValue(fmt::format("Address {} does not fall within the subnet's address range", address));
  }
  if (cidr->Reserved(*ip)) {
    throw InvalidParameterValue(fmt::format("Address {} is in subnet's reserved address range", address));
  }
  return *ip;
}

state::Object CreateEniAt(state::Tx& tx, const net::Scope& s, net::EniSpec spec,
                          const std::optional<std::string>& private_ip) {
  if (private_ip) spec.private_ip = SubnetIpv4(*spec.subnet, *private_ip);
  auto eni = net::CreateEni(tx, s, spec);
  if (eni.status().code() == Code::kAlreadyExists) {
    throw Ec2Error("InvalidIPAddress.InUse", "The specified address is already in use.");
  }
  if (eni.status().code() == Code::kResourceExhausted) {
    throw Ec2Error("InsufficientFreeAddressesInSubnet",
                   "The specified subnet does not have enough free addresses to satisfy the request.");
  }
  return Check(std::move(eni));
}

state::Object RequireVpc(state::Tx& tx, const std::string& region, const std::string& id) {
  CheckId(id, "vpc", "InvalidVpcId.Malformed");
  auto o = Check(tx.Get(net::kVpc, region, id));
  if (!o) throw Ec2Error("InvalidVpcID.NotFound", fmt::format("The vpc ID '{}' does not exist", id));
  return *o;
}

Json DescribeStored(state::Store& store, const RequestContext& ctx, const Json& in, const DescribeSpec& spec) {
  const Json filters = in.value(spec.filters_member, Json::array());
  CheckFilters(filters, spec.filters);
  std::vector<Json> views;
  Check(store.Read([&](state::Tx& tx) {
    std::vector<state::Object> objects;
    if (const Json* ids = JGet(in, spec.ids_member); ids && !ids->empty()) {
      for (const auto& id : *ids) objects.push_back(spec.require(tx, ctx.region, id.get<std::string>()));
    } else {
      objects = Check(tx.List({spec.kind, ctx.region}));
    }
    for (const auto& o : objects) {
      Json view = WithoutInternalMembers(o.doc);
      if (MatchFilters(filters, view, spec.filters)) views.push_back(view);
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, spec.list_member, std::move(views), in);
  return out;
}

}  // namespace kecs::api::ec2
