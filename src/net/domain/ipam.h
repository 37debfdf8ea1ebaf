#pragma once
// IP address management for subnets, and host-port pools.
//
// Allocations live in their own tables (migration 2) keyed so that the database refuses a
// second holder of an address or port. Callers run these inside a Store::Write
// transaction, which serialises writers, so "find the lowest free, then insert" is atomic.
// Every allocation records its owner (a network interface, or a task) and is released by
// owner, so nothing leaks whichever way the owner ends.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "net/domain/ip.h"
#include "state/store.h"

namespace kecs::net {

// Subnet CIDR reservations (CreateSubnetCidrReservation, api/ec2/subnet_cidr_reservations.cc):
// store objects under their subnet, the reserved block (IPv4 or IPv6) as the object's name.
// Automatic assignment never takes an address inside one; a chosen address may lie in one
// (AWS: a reserved range is only assigned when asked for explicitly).
inline constexpr const char* kSubnetCidrReservation = "ec2:subnet-cidr-reservation";

// Allocates an address of `cidr` for `owner` in subnet `pool`: `wanted` if given (fails
// AlreadyExists when taken or InvalidArgument when reserved or outside), else the lowest
// free one outside the subnet's CIDR reservations. Never returns one of AWS's five
// reserved addresses. ResourceExhausted when the subnet is full.
Result<uint32_t> AllocateIpv4(state::Tx& tx, const std::string& region, const std::string& pool,
                              const Ipv4Cidr& cidr, const std::string& owner,
                              std::optional<uint32_t> wanted = std::nullopt);
// IPv6: the lowest free interface identifier (from 4) in pool "<subnet>/v6", an address of
// `cidr` (the subnet's block, /44 to /64: the identifier fills the low 64 bits, so the
// address lies in the block's first /64) outside the subnet's IPv6 CIDR reservations.
Result<Ipv6> AllocateIpv6(state::Tx& tx, const std::string& region, const std::string& subnet,
                          const Ipv6Cidr& cidr, const std::string& owner);
// Releases everything `owner` holds in `region`. Releasing nothing is not an error.
Status ReleaseIps(state::Tx& tx, const std::string& region, const std::string& owner);
// Releases one address.
Status ReleaseIpv4(state::Tx& tx, const std::string& region, const std::string& pool, uint32_t ip);
Result<int64_t> CountAllocated(state::Tx& tx, const std::string& region, const std::string& pool);
// Who holds address `ip` of `pool` (an owner as given to AllocateIpv4), if anyone.
Result<std::optional<std::string>> Ipv4Owner(state::Tx& tx, const std::string& region, const std::string& pool,
                                             uint32_t ip);
// IPv6: takes the chosen address `wanted` of the subnet's block `cidr` for `owner` (pool
// "<subnet>/v6", keyed by the interface identifier as AllocateIpv6 keys it).
// InvalidArgument when it lies outside `cidr` or is one of AWS's reserved addresses (the
// first four and the last of the block); AlreadyExists when it is taken.
Status ReserveIpv6(state::Tx& tx, const std::string& region, const std::string& subnet, const Ipv6Cidr& cidr,
                   const Ipv6& wanted, const std::string& owner);
// Releases one IPv6 address of the subnet; releasing one not held is not an error.
Status ReleaseIpv6(state::Tx& tx, const std::string& region, const std::string& subnet, const Ipv6& ip);

struct PortRange {
  int first = 32000;
  int last = 32999;
};

// Allocates a free port of `range` for `owner` in `pool` (per protocol). ResourceExhausted
// when every port is held.
// `usable` (optional) can veto a port, e.g. one another program holds on the host.
Result<int> AllocatePort(state::Tx& tx, const std::string& pool, const std::string& protocol,
                         PortRange range, const std::string& owner,
                         const std::function<bool(int)>& usable = nullptr);
Status ReleasePorts(state::Tx& tx, const std::string& owner);
// (protocol, port) pairs `owner` holds.
Result<std::vector<std::pair<std::string, int>>> PortsOf(state::Tx& tx, const std::string& owner);

}  // namespace kecs::net
