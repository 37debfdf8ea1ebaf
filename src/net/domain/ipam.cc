#include "net/domain/ipam.h"

#include <algorithm>
#include <climits>
#include <cstdint>

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

// The free ranges of a pool (design.md 17.4): ipam_free holds, for every pool IPAM has
// allocated from, the maximal runs of addresses (keys) of its universe [lo, hi] that
// ip_allocations does not hold; ipam_pools records each pool's universe. Both are kept in
// the same transaction as ip_allocations, so they are never ahead of or behind it, and a
// pool whose universe is unknown (or different) is rebuilt from ip_allocations. The
// lowest free address is then the start of the first range (past the reservations), an
// indexed O(log n) read, instead of a walk over every held address.
// The tables are made by migration 9 (state/migrations.cc).

struct Universe {
  int64_t lo = 0;
  int64_t hi = -1;
};

// The universe of the pool as recorded, if any.
Result<std::optional<Universe>> RecordedUniverse(state::Conn& c, const std::string& region, const std::string& pool) {
  constexpr const char* kSql = "SELECT lo, hi FROM ipam_pools WHERE region=? AND pool=?";
  ASSIGN_OR_RETURN(auto q, c.Prepare(kSql));
  q.Bind(1, region).Bind(2, pool);
  std::optional<Universe> u;
  if (q.Step()) u = Universe{q.Int(0), q.Int(1)};
  RETURN_IF_ERROR(q.status());
  return u;
}

Status InsertFree(state::Conn& c, const std::string& region, const std::string& pool, int64_t first, int64_t last) {
  ASSIGN_OR_RETURN(auto ins, c.Prepare("INSERT INTO ipam_free(region, pool, first, last) VALUES(?,?,?,?)"));
  ins.Bind(1, region).Bind(2, pool).Bind(3, first).Bind(4, last);
  return ins.Run();
}

Status DeleteFree(state::Conn& c, const std::string& region, const std::string& pool, int64_t first) {
  ASSIGN_OR_RETURN(auto d, c.Prepare("DELETE FROM ipam_free WHERE region=? AND pool=? AND first=?"));
  d.Bind(1, region).Bind(2, pool).Bind(3, first);
  return d.Run();
}

// Changes the range that starts at `first` into [new_first, new_last]: one statement where
// a delete and an insert would be two.
Status ShiftFree(state::Conn& c, const std::string& region, const std::string& pool, int64_t first, int64_t new_first,
                 int64_t new_last) {
  ASSIGN_OR_RETURN(auto u, c.Prepare("UPDATE ipam_free SET first=?, last=? WHERE region=? AND pool=? AND first=?"));
  u.Bind(1, new_first).Bind(2, new_last).Bind(3, region).Bind(4, pool).Bind(5, first);
  return u.Run();
}

// Takes `key` out of the free range [first, last] that holds it.
Status SplitFree(state::Conn& c, const std::string& region, const std::string& pool, int64_t first, int64_t last,
                 int64_t key) {
  if (first == last) return DeleteFree(c, region, pool, first);
  if (key == first) return ShiftFree(c, region, pool, first, key + 1, last);
  RETURN_IF_ERROR(ShiftFree(c, region, pool, first, first, key - 1));
  if (key < last) RETURN_IF_ERROR(InsertFree(c, region, pool, key + 1, last));
  return Status::Ok();
}

// Makes the pool's free ranges those of universe `u`, rebuilding them from ip_allocations
// (one ordered read of the pool) when they are not recorded for `u`.
Status EnsureFree(state::Conn& c, const std::string& region, const std::string& pool, Universe u) {
  ASSIGN_OR_RETURN(auto recorded, RecordedUniverse(c, region, pool));
  if (recorded && recorded->lo == u.lo && recorded->hi == u.hi) return Status::Ok();
  ASSIGN_OR_RETURN(auto del, c.Prepare("DELETE FROM ipam_free WHERE region=? AND pool=?"));
  del.Bind(1, region).Bind(2, pool);
  RETURN_IF_ERROR(del.Run());
  ASSIGN_OR_RETURN(auto up, c.Prepare("INSERT OR REPLACE INTO ipam_pools(region, pool, lo, hi) VALUES(?,?,?,?)"));
  up.Bind(1, region).Bind(2, pool).Bind(3, u.lo).Bind(4, u.hi);
  RETURN_IF_ERROR(up.Run());
  if (u.lo > u.hi) return Status::Ok();
  ASSIGN_OR_RETURN(auto q, c.Prepare("SELECT ip FROM ip_allocations WHERE region=? AND pool=? AND ip BETWEEN ? AND ? "
                                     "ORDER BY ip"));
  q.Bind(1, region).Bind(2, pool).Bind(3, u.lo).Bind(4, u.hi);
  int64_t next = u.lo;  // the first key not yet accounted for
  bool done = false;
  while (q.Step()) {
    int64_t used = q.Int(0);
    if (used > next) RETURN_IF_ERROR(InsertFree(c, region, pool, next, used - 1));
    if (used == u.hi) {
      done = true;
      break;
    }
    next = used + 1;
  }
  RETURN_IF_ERROR(q.status());
  if (!done && next <= u.hi) RETURN_IF_ERROR(InsertFree(c, region, pool, next, u.hi));
  return Status::Ok();
}

// The free range holding `key`, if any: the one with the greatest first <= key.
Result<std::optional<std::pair<int64_t, int64_t>>> FreeRangeAt(state::Conn& c, const std::string& region,
                                                               const std::string& pool, int64_t key) {
  ASSIGN_OR_RETURN(auto q, c.Prepare("SELECT first, last FROM ipam_free WHERE region=? AND pool=? AND first<=? "
                                     "ORDER BY first DESC LIMIT 1"));
  q.Bind(1, region).Bind(2, pool).Bind(3, key);
  std::optional<std::pair<int64_t, int64_t>> r;
  if (q.Step()) r = std::make_pair(q.Int(0), q.Int(1));
  RETURN_IF_ERROR(q.status());
  return r;
}

// `key` has just been allocated: takes it out of its free range (if the pool is tracked).
Status TakeFree(state::Conn& c, const std::string& region, const std::string& pool, int64_t key) {
  ASSIGN_OR_RETURN(auto u, RecordedUniverse(c, region, pool));
  if (!u || key < u->lo || key > u->hi) return Status::Ok();
  ASSIGN_OR_RETURN(auto r, FreeRangeAt(c, region, pool, key));
  if (!r || r->second < key) return Status::Ok();
  return SplitFree(c, region, pool, r->first, r->second, key);
}

// `key` has just been released: puts it back, merged with its neighbours.
Status ReturnFree(state::Conn& c, const std::string& region, const std::string& pool, int64_t key) {
  ASSIGN_OR_RETURN(auto u, RecordedUniverse(c, region, pool));
  if (!u || key < u->lo || key > u->hi) return Status::Ok();
  ASSIGN_OR_RETURN(auto left, FreeRangeAt(c, region, pool, key));
  if (left && left->second >= key) return Status::Ok();  // already free
  bool merge_left = left && left->second == key - 1;
  std::optional<int64_t> right_last;  // the range starting at key + 1, if any
  if (key < u->hi) {
    ASSIGN_OR_RETURN(auto q, c.Prepare("SELECT last FROM ipam_free WHERE region=? AND pool=? AND first=?"));
    q.Bind(1, region).Bind(2, pool).Bind(3, key + 1);
    if (q.Step()) right_last = q.Int(0);
    RETURN_IF_ERROR(q.status());
  }
  if (merge_left && right_last) {
    RETURN_IF_ERROR(DeleteFree(c, region, pool, key + 1));
    return ShiftFree(c, region, pool, left->first, left->first, *right_last);
  }
  if (merge_left) return ShiftFree(c, region, pool, left->first, left->first, key);
  if (right_last) return ShiftFree(c, region, pool, key + 1, key, *right_last);
  return InsertFree(c, region, pool, key, key);
}

// The lowest free key of universe `u` outside `reserved`, taken out of its free range;
// nullopt when there is none.
// The first free key of the pool's ranges outside `reserved`, with the range holding it.
Result<std::optional<std::pair<int64_t, std::pair<int64_t, int64_t>>>> FirstFree(
    state::Conn& c, const std::string& region, const std::string& pool,
    const std::vector<std::pair<uint64_t, uint64_t>>& reserved) {
  ASSIGN_OR_RETURN(auto q, c.Prepare("SELECT first, last FROM ipam_free WHERE region=? AND pool=? ORDER BY first"));
  q.Bind(1, region).Bind(2, pool);
  size_t next_range = 0;
  std::optional<std::pair<int64_t, std::pair<int64_t, int64_t>>> hit;
  // The lowest unreserved key at or past where the previous range's search ended: every
  // key below it is reserved or in an earlier range (SkipReserved only moves forward).
  uint64_t floor = 0;
  while (q.Step()) {
    int64_t first = q.Int(0), last = q.Int(1);
    uint64_t cand = SkipReserved(std::max(static_cast<uint64_t>(first), floor), reserved, next_range);
    floor = cand;
    if (cand <= static_cast<uint64_t>(last)) {
      hit = std::make_pair(static_cast<int64_t>(cand), std::make_pair(first, last));
      break;
    }
  }
  RETURN_IF_ERROR(q.status());
  return hit;
}

// The lowest free key of universe `u` outside `reserved`, taken out of its free range;
// nullopt when there is none. The pool's ranges are read first; only when they give
// nothing inside `u` (the pool is full, or its ranges are not built yet or were built for
// another universe) is the recorded universe checked, and the ranges rebuilt if needed.
Result<std::optional<int64_t>> TakeLowestFree(state::Conn& c, const std::string& region, const std::string& pool,
                                              Universe u, const std::vector<std::pair<uint64_t, uint64_t>>& reserved) {
  auto hit = FirstFree(c, region, pool, reserved);
  bool fast = hit.ok() && *hit && (*hit)->first >= u.lo && (*hit)->first <= u.hi &&
              (*hit)->second.first >= u.lo && (*hit)->second.second <= u.hi;
  if (!fast) {
    // Not there or no such table yet (the read failed): make sure, then read again.
    RETURN_IF_ERROR(EnsureFree(c, region, pool, u));
    hit = FirstFree(c, region, pool, reserved);
    if (!hit.ok()) return hit.status();
  }
  if (!*hit) return std::optional<int64_t>();
  auto [key, range] = **hit;
  RETURN_IF_ERROR(SplitFree(c, region, pool, range.first, range.second, key));
  return std::optional<int64_t>(key);
}

// Deletes one allocation and returns its key to the free ranges.
Status ReleaseKey(state::Conn& c, const std::string& region, const std::string& pool, int64_t key) {
  ASSIGN_OR_RETURN(auto d, c.Prepare("DELETE FROM ip_allocations WHERE region=? AND pool=? AND ip=?"));
  d.Bind(1, region).Bind(2, pool).Bind(3, key);
  RETURN_IF_ERROR(d.Run());
  if (c.Changes() == 0) return Status::Ok();
  return ReturnFree(c, region, pool, key);
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
    RETURN_IF_ERROR(TakeFree(c, region, pool, static_cast<int64_t>(*wanted)));
    return *wanted;
  }
  // The first free range's lowest address outside the subnet's CIDR reservations
  // (design.md 17.4): O(log n + reservations), not a walk over the held addresses.
  ASSIGN_OR_RETURN(auto reserved, ReservedRanges(tx, region, pool, nullptr));
  Universe u{static_cast<int64_t>(cidr.base) + 4, static_cast<int64_t>(cidr.last()) - 1};
  ASSIGN_OR_RETURN(auto key, TakeLowestFree(c, region, pool, u, reserved));
  if (!key) return ResourceExhausted(fmt::format("subnet {} ({}) has no free address", pool, cidr.ToString()));
  ASSIGN_OR_RETURN(auto ins, c.Prepare("INSERT INTO ip_allocations(region, pool, ip, owner) VALUES(?,?,?,?)"));
  ins.Bind(1, region).Bind(2, pool).Bind(3, *key).Bind(4, owner);
  RETURN_IF_ERROR(ins.Run());
  return static_cast<uint32_t>(*key);
}

Result<Ipv6> AllocateIpv6(state::Tx& tx, const std::string& region, const std::string& subnet,
                          const Ipv6Cidr& cidr, const std::string& owner) {
  if (cidr.prefix > 64) return InvalidArgument("IPv6 block " + cidr.ToString() + " is longer than /64");
  std::string pool = subnet + "/v6";
  ASSIGN_OR_RETURN(auto reserved, ReservedRanges(tx, region, subnet, &cidr));
  // Interface identifiers from 4 below 2^63 (one beyond, a chosen address's, is never a
  // candidate); the lowest free one as for IPv4.
  ASSIGN_OR_RETURN(auto key, TakeLowestFree(tx.conn(), region, pool, Universe{4, INT64_MAX}, reserved));
  if (!key) {
    return ResourceExhausted(fmt::format("subnet {} ({}) has no free IPv6 address", subnet, cidr.ToString()));
  }
  int64_t candidate = *key;
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
  ASSIGN_OR_RETURN(auto q, tx.conn().Prepare("SELECT pool, ip FROM ip_allocations WHERE region=? AND owner=?"));
  q.Bind(1, region).Bind(2, owner);
  std::vector<std::pair<std::string, int64_t>> held;
  while (q.Step()) held.emplace_back(q.Text(0), q.Int(1));
  RETURN_IF_ERROR(q.status());
  for (const auto& [pool, key] : held) RETURN_IF_ERROR(ReleaseKey(tx.conn(), region, pool, key));
  return Status::Ok();
}

Status ReleaseIpv4(state::Tx& tx, const std::string& region, const std::string& pool, uint32_t ip) {
  return ReleaseKey(tx.conn(), region, pool, static_cast<int64_t>(ip));
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
  RETURN_IF_ERROR(st);
  return TakeFree(tx.conn(), region, subnet + "/v6", Ipv6Key(wanted));
}

Status ReleaseIpv6(state::Tx& tx, const std::string& region, const std::string& subnet, const Ipv6& ip) {
  return ReleaseKey(tx.conn(), region, subnet + "/v6", Ipv6Key(ip));
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
