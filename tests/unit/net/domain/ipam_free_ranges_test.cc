// IPAM's free ranges (design.md 17.4): after any sequence of automatic and chosen
// allocations, releases one by one and by owner, and rolled-back transactions, the next
// automatic address is still the lowest one no allocation holds, as a walk over
// ip_allocations would find it (past the subnet's CIDR reservations); a reopened store continues from what was committed.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "net/domain/ip.h"
#include "net/domain/ipam.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::net {
namespace {

using kecs::testing::TempDir;

constexpr const char* kRegion = "us-east-1";
constexpr const char* kSubnet = "subnet-0123456789abcdef0";

TEST(IpamFreeRangesTest, TheNextAddressIsAlwaysTheLowestFreeOne) {
  TempDir dir;
  auto cidr = *Ipv4Cidr::Parse("10.0.0.0/26");  // 10.0.0.4 .. 10.0.0.62
  std::set<uint32_t> held;                        // the model: what is committed
  std::map<uint32_t, std::string> owner_of;
  // Two reserved blocks (.8-.11, .20-.21): automatic assignment steps over them, a chosen
  // address may lie in them.
  auto reserved = [&](uint32_t a) {
    return (a >= cidr.base + 8 && a <= cidr.base + 11) || (a >= cidr.base + 20 && a <= cidr.base + 21);
  };
  auto lowest_free = [&]() -> std::optional<uint32_t> {
    for (uint32_t a = cidr.base + 4; a < cidr.last(); ++a) {
      if (!held.count(a) && !reserved(a)) return a;
    }
    return std::nullopt;
  };
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    auto s = state::Store::Open(dir.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto& store = **s;
    if (round == 0) {
      ASSERT_TRUE(store.Write([&](state::Tx& tx) -> Status {
                        RETURN_IF_ERROR(tx.Insert({kSubnetCidrReservation, kRegion, "scr-1", kSubnet, "10.0.0.8/30",
                                                   "explicit", 0, Json::object()}));
                        return tx.Insert({kSubnetCidrReservation, kRegion, "scr-2", kSubnet, "10.0.0.20/31", "explicit", 0,
                                          Json::object()});
                      }).ok());
    }
    for (int step = 0; step < 400; ++step) {
      int op = static_cast<int>(rng() % 10);
      std::string owner = "eni-" + std::to_string(rng() % 12);
      bool rollback = rng() % 8 == 0;
      std::optional<uint32_t> got;
      std::set<uint32_t> after = held;
      Status st = store.Write([&](state::Tx& tx) -> Status {
        if (op < 5) {
          auto r = AllocateIpv4(tx, kRegion, kSubnet, cidr, owner);
          auto want = lowest_free();
          if (!want) {
            EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
            return Status::Ok();
          }
          if (!r.ok()) return r.status();
          EXPECT_EQ(*r, *want) << "step " << step;
          got = *r;
          after.insert(*r);
        } else if (op < 7) {
          uint32_t a = cidr.base + 4 + static_cast<uint32_t>(rng() % 59);
          auto r = AllocateIpv4(tx, kRegion, kSubnet, cidr, owner, a);
          EXPECT_EQ(r.ok(), !held.count(a)) << "step " << step;
          if (r.ok()) {
            got = a;
            after.insert(a);
          }
        } else if (op < 9) {
          if (held.empty()) return Status::Ok();
          auto it = held.begin();
          std::advance(it, rng() % held.size());
          RETURN_IF_ERROR(ReleaseIpv4(tx, kRegion, kSubnet, *it));
          after.erase(*it);
        } else {
          RETURN_IF_ERROR(ReleaseIps(tx, kRegion, owner));
          for (const auto& [a, o] : owner_of) {
            if (o == owner && held.count(a)) after.erase(a);
          }
        }
        return rollback ? Internal("rolled back") : Status::Ok();
      });
      if (rollback) continue;
      ASSERT_TRUE(st.ok()) << st.ToString();
      held = after;
      if (got) owner_of[*got] = owner;
    }
  }
}

TEST(IpamFreeRangesTest, Ipv6ReleasedIdentifiersAreGivenAgainLowestFirst) {
  TempDir dir;
  auto s = state::Store::Open(dir.path());
  ASSERT_TRUE(s.ok());
  auto block = *Ipv6Cidr::Parse("2600:1f18:aaaa:bb00::/64");
  std::vector<std::string> got;
  Status st = (*s)->Write([&](state::Tx& tx) -> Status {
    std::vector<Ipv6> a;
    for (int i = 0; i < 4; ++i) {
      ASSIGN_OR_RETURN(Ipv6 x, AllocateIpv6(tx, kRegion, kSubnet, block, "eni-" + std::to_string(i)));
      a.push_back(x);
    }
    RETURN_IF_ERROR(ReserveIpv6(tx, kRegion, kSubnet, block, *ParseIpv6("2600:1f18:aaaa:bb00::9"), "eni-x"));
    RETURN_IF_ERROR(ReleaseIpv6(tx, kRegion, kSubnet, a[1]));
    RETURN_IF_ERROR(ReleaseIps(tx, kRegion, "eni-2"));
    for (int i = 0; i < 4; ++i) {
      ASSIGN_OR_RETURN(Ipv6 x, AllocateIpv6(tx, kRegion, kSubnet, block, "eni-n"));
      got.push_back(Ipv6ToString(x));
    }
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, (std::vector<std::string>{"2600:1f18:aaaa:bb00::5", "2600:1f18:aaaa:bb00::6",
                                           "2600:1f18:aaaa:bb00::8", "2600:1f18:aaaa:bb00::a"}));
}

}  // namespace
}  // namespace kecs::net
