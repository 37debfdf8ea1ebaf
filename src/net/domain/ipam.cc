#include "net/domain/ipam.h"

#include <algorithm>

#include <fmt/format.h>

namespace kecs::net {

namespace {

// The subnet's reserved blocks as sorted, merged inclusive ranges of keys: IPv4 addresses
// (`v6` false), or the low 64 bits of the IPv6 addresses that fall in `v6_block`'s first /64.
// One indexed read of the subnet's reservations (none: an empty answer).
Result<std::vector<std::pair<uint64_t, uint64_t>>> ReservedRanges(state::Tx& tx, const std::string& region,
                                                                  const std::string& subnet,
                                                                  const Ipv6Cidr* v6_block) {
  state::Query q{kSubnetCidrReservation, region};
  q.parent = subnet;
  ASSIGN_OR_RETURN(auto rows, tx.List(q));
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& r : rows) {
    if (!v6_block) {
      if (auto c = Ipv4Cidr::Parse(r.name)) ranges.emplace_back(c->base, c->last());
      continue;
    }
    auto c = Ipv6Cidr::Parse(r.name);
    if (!c) continue;
    Ipv6Cidr first64{v6_block->base, 64};
    if (c->prefix <= 64) {
      if (c->Contains(first64.base)) ranges.emplace_back(0, UINT64_MAX);
      continue;
    }
    if (!first64.Contains(c->base)) continue;
    uint64_t low = 0;
    for (size_t i = 8; i < 16; ++i) low = (low << 8) | c->base[i];
    ranges.emplace_back(low, low + ((uint64_t{1} << (128 - c->prefix)) - 1));
  }
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

// Moves `candidate` past every range that holds it (ranges sorted by start); `next` is the
// first range not yet passed.
uint64_t SkipReserved(uint64_t candidate, const std::vector<std::pair<uint64_t, uint64_t>>& ranges, size_t& next) {
  while (next < ranges.size() && ranges[next].first <= candidate) {
    if (ranges[next].second >= candidate) {
      if (ranges[next].second == UINT64_MAX) return UINT64_MAX;
      candidate = ranges[next].second + 1;
    }
    ++next;
  }
  return candidate;
}

}  // namespace

Result<uint32_t> AllocateIpv4(state::Tx& tx, const std::string& region, const std::string& pool,
                              const Ipv4Cidr& cidr, const std::string& owner,
                              std::optional<uint32_t> wanted) {
  auto& c = tx.conn();
  if (wanted) {
    if (!cidr.Contains(*wanted) || cidr.Reserved(*wanted)) {
      return InvalidArgument(fmt::format("address {} is not available in {}", Ipv4ToString(*wanted),
                                         cidr.ToString()));
    }
    ASSIGN_OR_RETURN(auto ins, c.Prepare("INSERT INTO ip_allocations(region, pool, ip, owner) VALUES(?,?,?,?)"));
    ins.Bind(1, region).Bind(2, pool).Bind(3, static_cast<int64_t>(*wanted)).Bind(4, owner);
    Status st = ins.Run();
    if (st.code() == Code::kAlreadyExists) {
      return AlreadyExists(fmt::format("address {} is already in use", Ipv4ToString(*wanted)));
    }
    RETURN_IF_ERROR(st);
    return *wanted;
  }
  // Walk the allocated addresses in order and take the first gap after the reserved ones,
  // stepping over the subnet's CIDR reservations: O(allocated + reservations).
  ASSIGN_OR_RETURN(auto reserved, ReservedRanges(tx, region, pool, nullptr));
  size_t next_range = 0;
  ASSIGN_OR_RETURN(auto q, c.Prepare("SELECT ip FROM ip_allocations WHERE region=? AND pool=? "
                                     "AND ip >= ? ORDER BY ip"));
  const uint64_t first = uint64_t{cidr.base} + 4;
  q.Bind(1, region).Bind(2, pool).Bind(3, static_cast<int64_t>(first));
  uint64_t candidate = SkipReserved(first, reserved, next_range);
  while (q.Step()) {
    uint64_t used = static_cast<uint64_t>(q.Int(0));
    if (used > candidate) break;
    if (used == candidate) candidate = SkipReserved(candidate + 1, reserved, next_range);
  }
  RETURN_IF_ERROR(q.status());
  if (candidate >= cidr.last() || candidate < first) {
    return ResourceExhausted(fmt::format("subnet {} ({}) has no free address", pool, cidr.ToString()));
  }
  ASSIGN_OR_RETURN(auto ins, c.Prepare("INSERT INTO ip_allocations(region, pool, ip, owner) VALUES(?,?,?,?)"));
  ins.Bind(1, region).Bind(2, pool).Bind(3, static_cast<int64_t>(candidate)).Bind(4, owner);
  RETURN_IF_ERROR(ins.Run());
  return static_cast<uint32_t>(candidate);
}

Result<Ipv6> AllocateIpv6(state::Tx& tx, const std::string& region, const std::string& subnet,
                          const Ipv6Cidr& cidr, const std::string& owner) {
  if (cidr.prefix > 64) return InvalidArgument("IPv6 block " + cidr.ToString() + " is longer than /64");
  std::string pool = subnet + "/v6";
  ASSIGN_OR_RETURN(auto reserved, ReservedRanges(tx, region, subnet, &cidr));
  size_t next_range = 0;
  ASSIGN_OR_RETURN(auto q, tx.conn().Prepare(
                               "SELECT ip FROM ip_allocations WHERE region=? AND pool=? ORDER BY ip"));
  q.Bind(1, region).Bind(2, pool);
  uint64_t next = SkipReserved(4, reserved, next_range);
  while (q.Step()) {
    int64_t raw = q.Int(0);
    if (raw < 0) continue;  // a chosen address's identifier beyond 2^63: never a candidate
    uint64_t used = static_cast<uint64_t>(raw);
    if (used > next) break;
    if (used == next) next = SkipReserved(next + 1, reserved, next_range);
  }
  RETURN_IF_ERROR(q.status());
  if (next >= (uint64_t{1} << 63)) {
    return ResourceExhausted(fmt::format("subnet {} ({}) has no free IPv6 address", subnet, cidr.ToString()));
  }
  int64_t candidate = static_cast<int64_t>(next);
  ASSIGN_OR_RETURN(auto ins, tx.conn().Prepare(
                                 "INSERT INTO ip_allocations(region, pool, ip, owner) VALUES(?,?,?,?)"));
  ins.Bind(1, region).Bind(2, pool).Bind(3, candidate).Bind(4, owner);
  RETURN_IF_ERROR(ins.Run());
  Ipv6 a = cidr.base;
  uint64_t v = static_cast<uint64_t>(candidate);
  for (int i = 15; i >= 8; --i) {
    a[static_cast<size_t>(i)] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return a;
}

Status ReleaseIps(state::Tx& tx, const std::string& region, const std::string& owner) {
  ASSIGN_OR_RETURN(auto d, tx.conn().Prepare("DELETE FROM ip_allocations WHERE region=? AND owner=?"));
  d.Bind(1, region).Bind(2, owner);
  return d.Run();
}

Status ReleaseIpv4(state::Tx& tx, const std::string& region, const std::string& pool, uint32_t ip) {
  ASSIGN_OR_RETURN(auto d, tx.conn().Prepare(
                               "DELETE FROM ip_allocations WHERE region=? AND pool=? AND ip=?"));
  d.Bind(1, region).Bind(2, pool).Bind(3, static_cast<int64_t>(ip));
  return d.Run();
}

Result<int64_t> CountAllocated(state::Tx& tx, const std::string& region, const std::string& pool) {
  ASSIGN_OR_RETURN(auto q, tx.conn().Prepare(
                               "SELECT count(*) FROM ip_allocations WHERE region=? AND pool=?"));
  q.Bind(1, region).Bind(2, pool);
  int64_t n = q.Step() ? q.Int(0) : 0;
  RETURN_IF_ERROR(q.status());
  return n;
}

Result<std::optional<std::string>> Ipv4Owner(state::Tx& tx, const std::string& region, const std::string& pool,
                                             uint32_t ip) {
  ASSIGN_OR_RETURN(auto q, tx.conn().Prepare(
                               "SELECT owner FROM ip_allocations WHERE region=? AND pool=? AND ip=?"));
  q.Bind(1, region).Bind(2, pool).Bind(3, static_cast<int64_t>(ip));
  std::optional<std::string> owner;
  if (q.Step()) owner = q.Text(0);
  RETURN_IF_ERROR(q.status());
  return owner;
}

namespace {

// The pool key of an IPv6 address: its low 64 bits (the interface identifier), as
// AllocateIpv6 stores them.
int64_t Ipv6Key(const Ipv6& a) {
  uint64_t v = 0;
  for (size_t i = 8; i < 16; ++i) v = (v << 8) | a[i];
  return static_cast<int64_t>(v);
}

}  // namespace

Status ReserveIpv6(state::Tx& tx, const std::string& region, const std::string& subnet, const Ipv6Cidr& cidr,
                   const Ipv6& wanted, const std::string& owner) {
  // AWS reserves the first four and the last IPv6 address of a subnet's block (Amazon VPC
  // User Guide, "Subnet CIDR blocks").
  Ipv6 last = cidr.base;
  for (int bit = cidr.prefix; bit < 128; ++bit) last[static_cast<size_t>(bit / 8)] |= static_cast<uint8_t>(0x80 >> (bit % 8));
  bool low = std::equal(wanted.begin(), wanted.end() - 1, cidr.base.begin()) && wanted[15] < cidr.base[15] + 4;
  if (!cidr.Contains(wanted) || low || wanted == last) {
    return InvalidArgument(fmt::format("address {} is not available in {}", Ipv6ToString(wanted), cidr.ToString()));
  }
  ASSIGN_OR_RETURN(auto ins, tx.conn().Prepare(
                                 "INSERT INTO ip_allocations(region, pool, ip, owner) VALUES(?,?,?,?)"));
  ins.Bind(1, region).Bind(2, subnet + "/v6").Bind(3, Ipv6Key(wanted)).Bind(4, owner);
  Status st = ins.Run();
  if (st.code() == Code::kAlreadyExists) {
    return AlreadyExists(fmt::format("address {} is already in use", Ipv6ToString(wanted)));
  }
  return st;
}

Status ReleaseIpv6(state::Tx& tx, const std::string& region, const std::string& subnet, const Ipv6& ip) {
  ASSIGN_OR_RETURN(auto d, tx.conn().Prepare(
                               "DELETE FROM ip_allocations WHERE region=? AND pool=? AND ip=?"));
  d.Bind(1, region).Bind(2, subnet + "/v6").Bind(3, Ipv6Key(ip));
  return d.Run();
}

Result<int> AllocatePort(state::Tx& tx, const std::string& pool, const std::string& protocol,
                         PortRange range, const std::string& owner,
                         const std::function<bool(int)>& usable) {
  ASSIGN_OR_RETURN(auto q, tx.conn().Prepare(
                               "SELECT port FROM port_allocations WHERE pool=? AND protocol=? AND "
                               "port BETWEEN ? AND ? ORDER BY port"));
  q.Bind(1, pool).Bind(2, protocol).Bind(3, int64_t{range.first}).Bind(4, int64_t{range.last});
  std::vector<int> taken;
  while (q.Step()) taken.push_back(static_cast<int>(q.Int(0)));
  RETURN_IF_ERROR(q.status());
  // The lowest port neither allocated nor vetoed.
  int candidate = range.first;
  size_t i = 0;
  while (candidate <= range.last) {
    while (i < taken.size() && taken[i] < candidate) ++i;
    if (i < taken.size() && taken[i] == candidate) {
      ++candidate;
      continue;
    }
    if (usable && !usable(candidate)) {
      ++candidate;
      continue;
    }
    break;
  }
  if (candidate > range.last) {
    return ResourceExhausted(fmt::format("every host port in {}-{} is in use", range.first, range.last));
  }
  ASSIGN_OR_RETURN(auto ins, tx.conn().Prepare(
                                 "INSERT INTO port_allocations(pool, protocol, port, owner) VALUES(?,?,?,?)"));
  ins.Bind(1, pool).Bind(2, protocol).Bind(3, int64_t{candidate}).Bind(4, owner);
  RETURN_IF_ERROR(ins.Run());
  return candidate;
}

Status ReleasePorts(state::Tx& tx, const std::string& owner) {
  ASSIGN_OR_RETURN(auto d, tx.conn().Prepare("DELETE FROM port_allocations WHERE owner=?"));
  d.Bind(1, owner);
  return d.Run();
}

Result<std::vector<std::pair<std::string, int>>> PortsOf(state::Tx& tx, const std::string& owner) {
  ASSIGN_OR_RETURN(auto q, tx.conn().Prepare(
                               "SELECT protocol, port FROM port_allocations WHERE owner=? ORDER BY port"));
  q.Bind(1, owner);
  std::vector<std::pair<std::string, int>> out;
  while (q.Step()) out.emplace_back(q.Text(0), static_cast<int>(q.Int(1)));
  RETURN_IF_ERROR(q.status());
  return out;
}

}  // namespace kecs::net
