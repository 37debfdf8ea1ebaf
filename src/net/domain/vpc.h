#pragma once
// The VPC model: VPCs, subnets, security groups, network interfaces, gateways, route
// tables and network ACLs as store objects in the shapes of the EC2 API (member names as
// in the EC2 model), plus the rules that tie them together.
//
// The EC2 API handlers validate requests and word AWS's errors; the functions here do the
// work and assume valid input. The task controller uses the same functions to give an
// awsvpc task its ENI. All functions run inside the caller's write transaction.
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "net/domain/ip.h"
#include "state/store.h"

namespace kecs::net {

inline constexpr const char* kVpc = "ec2:vpc";
inline constexpr const char* kSubnet = "ec2:subnet";
inline constexpr const char* kSecurityGroup = "ec2:sg";
inline constexpr const char* kEni = "ec2:eni";
inline constexpr const char* kInternetGateway = "ec2:igw";
inline constexpr const char* kRouteTable = "ec2:rtb";
inline constexpr const char* kNatGateway = "ec2:nat";
inline constexpr const char* kNetworkAcl = "ec2:acl";
inline constexpr const char* kRegionMarker = "ec2:region";
// An EC2 instance (issue 17): its document is EC2's Instance shape (api/ec2/instances.cc).
inline constexpr const char* kEc2Instance = "ec2:instance";

struct Zone {
  std::string name;  // us-east-1a
  std::string id;    // use1-az6
};
// The availability zones kecs offers in a region (AWS's names, a fixed zone-id mapping).
std::vector<Zone> Zones(const std::string& region);
std::optional<Zone> FindZone(const std::string& region, const std::string& name_or_id);
// The regions DescribeRegions lists, with their opt-in status.
std::vector<std::pair<std::string, std::string>> Regions();

struct Scope {
  std::string region;
  std::string account;
  double now = 0;
};

Json TagsOrEmpty(const Json& tags);

// Creates a VPC with what AWS creates alongside: its main route table (local route), its
// default security group and its default network ACL; with `amazon_ipv6`, also an
// Amazon-provided IPv6 block (AssociateAmazonIpv6).
Result<state::Object> CreateVpc(state::Tx& tx, const Scope& s, const Ipv4Cidr& cidr,
                                bool is_default, const Json& tags, const std::string& tenancy,
                                bool amazon_ipv6);
// AWS's quota of IPv4 blocks per VPC, and (separately) of IPv6 blocks per VPC.
inline constexpr size_t kMaxVpcCidrBlocks = 5;
inline constexpr size_t kMaxVpcIpv6Blocks = 5;
// Associates a new Amazon-provided /56 with `vpc` and stores it (`vpc` is updated), with
// what AWS adds alongside: a local route for it in every route table of the VPC and, with
// the VPC's first IPv6 block, the ::/0 entries of the default network ACL and the ::/0
// egress rule of the default security group. The block overlaps no other VPC's block in
// the region. The caller checks kMaxVpcIpv6Blocks. Returns the stored association.
Result<Json> AssociateAmazonIpv6(state::Tx& tx, const Scope& s, state::Object& vpc);
// A subnet has an IPv4 block (`cidr`), an IPv6 block, or both; an IPv6-only subnet
// (`ipv6_native`, no `cidr`) reports Ipv6Native and AssignIpv6AddressOnCreation true and no
// CidrBlock, as AWS does.
Result<state::Object> CreateSubnet(state::Tx& tx, const Scope& s, const state::Object& vpc,
                                   std::optional<Ipv4Cidr> cidr, const Zone& zone, bool default_for_az,
                                   bool map_public_ip, const Json& tags,
                                   std::optional<Ipv6Cidr> ipv6, bool ipv6_native = false);
Result<state::Object> CreateSecurityGroup(state::Tx& tx, const Scope& s, const std::string& vpc_id,
                                          const std::string& name, const std::string& description,
                                          const Json& tags, bool default_group);
Result<state::Object> CreateInternetGateway(state::Tx& tx, const Scope& s, const Json& tags);
Status AttachInternetGateway(state::Tx& tx, const Scope& s, state::Object& igw,
                             const std::string& vpc_id);
// The default VPC as AWS makes it: 172.31.0.0/16, a /20 default subnet per zone, an
// attached internet gateway and a 0.0.0.0/0 route to it.
Result<state::Object> CreateDefaultVpc(state::Tx& tx, const Scope& s);

// Creates each region's default VPC the first time the region is used. A default VPC the
// user deletes stays deleted (CreateDefaultVpc brings it back). Thread-safe.
class RegionBootstrap {
 public:
  Status Ensure(state::Store& store, const std::string& region, const std::string& account,
                double now);

 private:
  std::mutex mu_;
  std::set<std::string> done_;  // guarded by mu_
};

// The default subnet of the first zone of a region's default VPC, if there is one.
Result<std::optional<state::Object>> DefaultSubnet(state::Tx& tx, const std::string& region);
// The VPC's default security group.
Result<std::optional<state::Object>> DefaultSecurityGroup(state::Tx& tx, const std::string& region,
                                                          const std::string& vpc_id);

// Live AvailableIpAddressCount: the subnet's size, minus AWS's 5 reserved, minus in use;
// 0 for an IPv6-only subnet, as AWS reports it (the aws CLI's create-subnet example 3).
Result<int64_t> AvailableIpAddressCount(state::Tx& tx, const std::string& region,
                                        const state::Object& subnet);
// The subnet as DescribeSubnets shows it.
Result<Json> SubnetView(state::Tx& tx, const std::string& region, const state::Object& subnet);
// The route table governing a subnet: its explicit association, else its VPC's main table.
Result<std::optional<state::Object>> RouteTableOf(state::Tx& tx, const std::string& region,
                                                  const state::Object& subnet);
// Whether the subnet's route table sends 0.0.0.0/0 to an internet gateway (public subnet).
Result<bool> SubnetIsPublic(state::Tx& tx, const std::string& region, const state::Object& subnet);

// Security group rules are kept one per SecurityGroupRule in "kecs:rules"; these render
// the IpPermissions / IpPermissionsEgress lists of DescribeSecurityGroups.
Json SecurityGroupView(const state::Object& sg);
Json RulesToPermissions(const Json& rules, bool egress);

struct EniSpec {
  const state::Object* subnet = nullptr;
  std::vector<std::string> groups;       // security group ids (validated)
  std::string description;
  std::string interface_type = "interface";
  bool requester_managed = false;
  std::string requester_id;
  std::optional<uint32_t> private_ip;    // a chosen address, else the lowest free
  bool ipv6 = false;                     // also give it an address from the subnet's IPv6 CIDR
  std::vector<uint32_t> secondary_ips;   // chosen secondary IPv4 addresses (free, in the subnet)
  int secondary_count = 0;               // and this many more secondaries, the lowest free
  std::vector<Ipv6> ipv6_addresses;      // chosen IPv6 addresses, each in a block of the subnet
  int ipv6_count = 0;                    // IPv6 addresses to pick (with `ipv6`: at least one)
  Json tags = Json::array();
  bool attached = false;                 // status in-use with an attachment (ECS task ENIs)
  std::string attachment_owner = "amazon-aws";  // the attachment's InstanceOwnerId
};

// Creates a network interface and allocates its addresses. ResourceExhausted with AWS's
// InsufficientFreeAddressesInSubnet wording when the subnet is full; AlreadyExists when a
// chosen address is taken.
Result<state::Object> CreateEni(state::Tx& tx, const Scope& s, const EniSpec& spec);
// Deletes the interface and releases its addresses; succeeds when it is already gone.
Status DeleteEni(state::Tx& tx, const std::string& region, const std::string& eni_id);

// Secondary addresses of an existing interface `eni` (its document is updated and stored;
// the subnet's allocations are owned by the interface, so DeleteEni releases them). The
// API validates the request and words AWS's errors; these assume valid input.
//
// Adds the `wanted` IPv4 addresses, then `count` more (the lowest free), as secondary
// addresses; returns those added in order. AlreadyExists when a wanted one is taken,
// InvalidArgument when reserved or outside the subnet, ResourceExhausted when the subnet
// runs out (nothing is added then: the caller's transaction rolls back).
Result<std::vector<uint32_t>> AssignEniPrivateIps(state::Tx& tx, const std::string& region, state::Object& eni,
                                                  const state::Object& subnet, const std::vector<uint32_t>& wanted,
                                                  int count);
// Removes secondary IPv4 addresses (never the primary) and releases them.
Status UnassignEniPrivateIps(state::Tx& tx, const std::string& region, state::Object& eni,
                             const std::vector<uint32_t>& ips);
// Adds the `wanted` IPv6 addresses, then `count` more, from the subnet's IPv6 blocks.
// FailedPrecondition when the subnet has none; otherwise as AssignEniPrivateIps.
Result<std::vector<Ipv6>> AssignEniIpv6(state::Tx& tx, const std::string& region, state::Object& eni,
                                        const state::Object& subnet, const std::vector<Ipv6>& wanted, int count);
// Removes IPv6 addresses of the interface and releases them.
Status UnassignEniIpv6(state::Tx& tx, const std::string& region, state::Object& eni, const std::vector<Ipv6>& ips);

}  // namespace kecs::net
