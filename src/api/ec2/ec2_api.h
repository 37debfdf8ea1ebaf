#pragma once
// The Amazon EC2 API's VPC networking subset (EC2 Query protocol, 2016-11-15) over the
// VPC model in net/vpc.h.
//
// Handlers receive and return JSON keyed by the EC2 model's member names; the protocol
// layer turns that into EC2's form parameters and XML. Every refusal is an AwsError with
// EC2's code and message. Thread-safe: all state lives in the store.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/errors.h"
#include "api/router.h"
#include "base/json.h"
#include "net/domain/vpc.h"
#include "state/store.h"

namespace kecs::api::ec2 {

AwsError Ec2Error(std::string code, std::string message);
AwsError InvalidParameterValue(std::string message);

// Throws DryRunOperation (HTTP 412) when the request asks for a dry run.
void CheckDryRun(const Json& in);
// Throws Invalid<Type>Id.Malformed unless `id` is "<prefix>-" plus 8 or 17 hex digits.
void CheckId(const std::string& id, const std::string& prefix, const std::string& malformed_code);
void Check(const Status& st);
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

// EC2 filters: Name -> values of a resource's view. Values are ORed within a filter and
// filters ANDed; values may use * and ? wildcards. tag:<key> and tag-key work everywhere.
// An unknown filter name is InvalidParameterValue "The filter '<name>' is invalid".
using FilterField = std::function<std::vector<std::string>(const Json& view)>;
using FilterSpec = std::map<std::string, FilterField>;
bool MatchFilters(const Json& filters, const Json& view, const FilterSpec& spec,
                  const char* tags_member = "Tags");
// Refuses an unknown filter name up front, so a Describe with nothing to match still
// answers "The filter '<name>' is invalid" as AWS does.
void CheckFilters(const Json& filters, const FilterSpec& spec);
FilterField Field(const std::string& member);      // a top-level string/number/bool member
FilterField Nested(const std::string& list, const std::string& member);  // member of a list item

// The tags that TagSpecifications give `resource_type`; refuses tags for another type.
Json TagsFor(const Json& in, const std::string& resource_type);

// Applies MaxResults/NextToken to `views` (already in a stable order) and writes the list
// member and NextToken into `out`.
void PageInto(Json& out, const char* list_member, std::vector<Json> views, const Json& in);

// Creates the interface `spec` describes (spec.subnet set), at `private_ip` when given, with
// EC2's errors for an address outside the subnet, reserved or taken, and a full subnet.
state::Object CreateEniAt(state::Tx& tx, const net::Scope& s, net::EniSpec spec,
                          const std::optional<std::string>& private_ip);

// The VPC `id`; InvalidVpcId.Malformed or InvalidVpcID.NotFound otherwise.
state::Object RequireVpc(state::Tx& tx, const std::string& region, const std::string& id);

// Describe* for objects shown as their stored document (kecs's own members left out): the
// objects named in in[ids_member] (each must exist: `require` throws EC2's NotFound) or
// all of the region's `kind`, filtered by in[filters_member], paged into out[list_member].
struct DescribeSpec {
  const char* kind;
  const char* ids_member;
  const char* filters_member;  // "Filters", or "Filter" for DescribeNatGateways
  const char* list_member;
  const FilterSpec& filters;
  std::function<state::Object(state::Tx&, const std::string& region, const std::string& id)> require;
};
Json DescribeStored(state::Store& store, const RequestContext& ctx, const Json& in, const DescribeSpec& spec);

class Ec2Api {
 public:
  Ec2Api(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}
  void RegisterAll(Service& service);

 private:
  net::Scope ScopeOf(const RequestContext& ctx);

  // vpcs.cc
  Json CreateVpc(RequestContext& ctx, const Json& in);
  Json DescribeVpcs(RequestContext& ctx, const Json& in);
  Json DeleteVpc(RequestContext& ctx, const Json& in);
  Json ModifyVpcAttribute(RequestContext& ctx, const Json& in);
  Json DescribeVpcAttribute(RequestContext& ctx, const Json& in);
  Json AssociateVpcCidrBlock(RequestContext& ctx, const Json& in);
  Json CreateDefaultVpc(RequestContext& ctx, const Json& in);
  // subnets.cc
  Json CreateSubnet(RequestContext& ctx, const Json& in);
  Json DescribeSubnets(RequestContext& ctx, const Json& in);
  Json DeleteSubnet(RequestContext& ctx, const Json& in);
  Json ModifySubnetAttribute(RequestContext& ctx, const Json& in);
  // security_groups.cc
  Json CreateSecurityGroup(RequestContext& ctx, const Json& in);
  Json DescribeSecurityGroups(RequestContext& ctx, const Json& in);
  Json DeleteSecurityGroup(RequestContext& ctx, const Json& in);
  Json AuthorizeSecurityGroupIngress(RequestContext& ctx, const Json& in);
  Json AuthorizeSecurityGroupEgress(RequestContext& ctx, const Json& in);
  Json RevokeSecurityGroupIngress(RequestContext& ctx, const Json& in);
  Json RevokeSecurityGroupEgress(RequestContext& ctx, const Json& in);
  Json DescribeSecurityGroupRules(RequestContext& ctx, const Json& in);
  Json ModifySecurityGroupRules(RequestContext& ctx, const Json& in);
  Json Authorize(RequestContext& ctx, const Json& in, bool egress);
  Json Revoke(RequestContext& ctx, const Json& in, bool egress);
  // network_interfaces.cc
  Json CreateNetworkInterface(RequestContext& ctx, const Json& in);
  Json DescribeNetworkInterfaces(RequestContext& ctx, const Json& in);
  Json DeleteNetworkInterface(RequestContext& ctx, const Json& in);
  Json ModifyNetworkInterfaceAttribute(RequestContext& ctx, const Json& in);
  // misc.cc
  Json DescribeAvailabilityZones(RequestContext& ctx, const Json& in);
  Json DescribeRegions(RequestContext& ctx, const Json& in);
  Json DescribeAccountAttributes(RequestContext& ctx, const Json& in);
  Json CreateTags(RequestContext& ctx, const Json& in);
  Json DeleteTags(RequestContext& ctx, const Json& in);
  Json DescribeTags(RequestContext& ctx, const Json& in);

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

// Further groups of operations, each in its own file.
void RegisterGatewayOps(Service& s, state::Store& store, net::RegionBootstrap& regions);      // gateways.cc
void RegisterRouteTableOps(Service& s, state::Store& store, net::RegionBootstrap& regions);   // route_tables.cc
void RegisterNetworkAclOps(Service& s, state::Store& store, net::RegionBootstrap& regions);   // network_acls.cc
void RegisterEniAddressOps(Service& s, state::Store& store, net::RegionBootstrap& regions);   // network_interfaces.cc
void RegisterInstanceOps(Service& s, state::Store& store, net::RegionBootstrap& regions);     // instances.cc
void RegisterPeeringOps(Service& s, state::Store& store, net::RegionBootstrap& regions);     // peering.cc
void RegisterDhcpOptionsOps(Service& s, state::Store& store, net::RegionBootstrap& regions); // dhcp_options.cc
void RegisterSgDescriptionOps(Service& s, state::Store& store, net::RegionBootstrap& regions); // security_groups.cc
void RegisterEgressOnlyGatewayOps(Service& s, state::Store& store, net::RegionBootstrap& regions); // egress_only_gateways.cc
void RegisterInstanceTypeOps(Service& s, state::Store& store, net::RegionBootstrap& regions); // instance_types.cc
void RegisterKeyPairOps(Service& s, state::Store& store, net::RegionBootstrap& regions);   // key_pairs.cc
void RegisterLaunchTemplateOps(Service& s, state::Store& store, net::RegionBootstrap& regions);  // launch_templates.cc

// Issue 17's remaining VPC operations (vpc helper), each group in its own file.
void RegisterAddressOps(Service& s, state::Store& store, net::RegionBootstrap& regions);  // addresses.cc
void RegisterSubnetCidrReservationOps(Service& s, state::Store& store, net::RegionBootstrap& regions);  // subnet_cidr_reservations.cc
void RegisterCidrBlockOps(Service& s, state::Store& store, net::RegionBootstrap& regions);  // cidr_blocks.cc
void RegisterVpcEndpointOps(Service& s, state::Store& store, net::RegionBootstrap& regions);  // vpc_endpoints.cc
void RegisterReferenceConsoleOps(Service& s, state::Store& store, net::RegionBootstrap& regions);  // sg_references_console.cc
// Issue 15: VPC flow logs.
void RegisterFlowLogOps(Service& s, state::Store& store, net::RegionBootstrap& regions);  // flow_logs.cc
// The subnet `id` (subnets.cc); InvalidSubnetId.Malformed or InvalidSubnetID.NotFound otherwise.
state::Object RequireSubnet(state::Tx& tx, const std::string& region, const std::string& id);
// A subnet's IPv6 block as CreateSubnet and AssociateSubnetCidrBlock take it (subnets.cc):
// /44 to /64 in steps of 4, else InvalidParameterValue; and inside one of `vpc`'s IPv6
// blocks (InvalidSubnet.Range), overlapping none of `others`' (InvalidSubnet.Conflict).
std::optional<net::Ipv6Cidr> ParseSubnetIpv6Block(const std::string& text);
void CheckSubnetIpv6Block(const state::Object& vpc, const std::vector<state::Object>& others,
                          const net::Ipv6Cidr& v6, const std::string& text);
// VPC endpoints (vpc_endpoints.cc), kept under their VPC: DeleteVpc refuses a VPC with one.
inline constexpr const char* kVpcEndpoint = "ec2:vpce";
// Elastic IP addresses (addresses.cc): the kind, the public address kecs's pool (3.0.0.0/8)
// gives an allocation id, and the public DNS name EC2 gives a public address.
inline constexpr const char* kElasticIp = "ec2:eip";
std::string ElasticIpFor(const std::string& allocation_id);
std::string PublicDnsNameOf(const std::string& region, const std::string& ip);
// The public address of a NAT gateway's allocation: an allocated address (its association
// recorded on it; Resource.AlreadyAssociated when it is in use), else the address the id names.
std::string AddressForNatGateway(state::Tx& tx, const std::string& region, const std::string& account,
                                 const std::string& allocation_id, const std::string& eni_id,
                                 const std::string& private_ip, const std::string& association_id);

// A request's scope (region, account, time), with the region's defaults (its default VPC)
// made first: what every EC2 operation starts with.
net::Scope RequestScope(state::Store& store, net::RegionBootstrap& regions, const RequestContext& ctx);

// Routes that target `member` = `target` (e.g. "GatewayId", "igw-...") become `state`
// ("blackhole" when the target goes away, "active" when it comes back), in the tables of
// VPC `vpc_id`, or of every VPC of the region when nullopt.
void SetRouteState(state::Tx& tx, const std::string& region, const std::optional<std::string>& vpc_id,
                   const char* member, const std::string& target, const char* state);

// A chosen private IPv4 address of `subnet` for an interface: InvalidParameterValue when
// it is no address, lies outside the subnet or is one of its reserved addresses.
uint32_t SubnetIpv4(const state::Object& subnet, const std::string& address);

// Whether `id` is "<prefix>-" plus 8 or 17 hex digits, for an operation that words its
// Malformed error in its own way (CreateSecurityGroup: "The vpc ID '...' is malformed").
bool IsWellFormedId(const std::string& id, const std::string& prefix);

}  // namespace kecs::api::ec2
