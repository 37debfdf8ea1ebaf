// IPAM and subnet CIDR reservations: automatic IPv4 and IPv6 assignment steps over every
// reserved block of the subnet (overlapping or adjacent ones, ones that hide already taken
// addresses), a chosen address inside one is still given, other subnets are not affected.
#include <gtest/gtest.h>

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

class IpamReservationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  void Reserve(const std::string& cidr, const std::string& subnet = kSubnet) {
    static int n = 0;
    std::string id = "scr-" + std::to_string(++n);
    Status st = store_->Write([&](state::Tx& tx) {
      return tx.Insert({kSubnetCidrReservation, kRegion, id, subnet, cidr, "explicit", 0, Json::object()});
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::string Next(const std::string& owner, std::optional<uint32_t> wanted = std::nullopt,
                   const std::string& subnet = kSubnet) {
    std::string out;
    Status st = store_->Write([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(uint32_t ip, AllocateIpv4(tx, kRegion, subnet, *Ipv4Cidr::Parse("10.0.1.0/24"), owner, wanted));
      out = Ipv4ToString(ip);
      return Status::Ok();
    });
    return st.ok() ? out : st.ToString();
  }

  TempDir dir_;
  std::unique_ptr<state::Store> store_;
};

TEST_F(IpamReservationsTest, AutomaticIpv4AssignmentStepsOverEveryReservedBlock) {
  EXPECT_EQ(Next("a"), "10.0.1.4");
  EXPECT_EQ(Next("b"), "10.0.1.5");
  // Overlapping and adjacent blocks, one holding an address already taken (.5).
  Reserve("10.0.1.4/30");
  Reserve("10.0.1.8/30");
  Reserve("10.0.1.8/29");
  Reserve("10.0.1.20/32");
  EXPECT_EQ(Next("c"), "10.0.1.16");
  EXPECT_EQ(Next("d"), "10.0.1.17");
  EXPECT_EQ(Next("e"), "10.0.1.18");
  EXPECT_EQ(Next("f"), "10.0.1.19");
  EXPECT_EQ(Next("g"), "10.0.1.21");
  // Explicitly, a reserved address is given.
  EXPECT_EQ(Next("h", *ParseIpv4("10.0.1.6")), "10.0.1.6");
  // Another subnet's reservations do not matter here, nor these there.
  Reserve("10.0.1.0/24", "subnet-00000000000000001");
  EXPECT_EQ(Next("i"), "10.0.1.22");
  EXPECT_EQ(Next("j", std::nullopt, "subnet-00000000000000002"), "10.0.1.4");
}

TEST_F(IpamReservationsTest, AReservationToTheSubnetsEndLeavesItFull) {
  Reserve("10.0.1.0/25");
  Reserve("10.0.1.128/25");
  std::string got = Next("a");
  EXPECT_NE(got.find("has no free address"), std::string::npos) << got;
}

TEST_F(IpamReservationsTest, AutomaticIpv6AssignmentStepsOverReservedBlocks) {
  auto block = *Ipv6Cidr::Parse("2600:1f18:aaaa:bb00::/64");
  Reserve("2600:1f18:aaaa:bb00::4/126");  // identifiers 4-7
  Reserve("2600:1f18:aaaa:bb01::/64");     // another /64: not the one addresses come from
  std::string got;
  Status st = store_->Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(Ipv6 a, AllocateIpv6(tx, kRegion, kSubnet, block, "eni-a"));
    ASSIGN_OR_RETURN(Ipv6 b, AllocateIpv6(tx, kRegion, kSubnet, block, "eni-b"));
    got = Ipv6ToString(a) + " " + Ipv6ToString(b);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, "2600:1f18:aaaa:bb00::8 2600:1f18:aaaa:bb00::9");
}

TEST_F(IpamReservationsTest, AChosenAddressInsideAReservationSplitsNothingAutomaticTakes) {
  Reserve("10.0.1.4/30");
  Reserve("10.0.1.8/29");
  EXPECT_EQ(Next("a"), "10.0.1.16");
  // .5, chosen, leaves .4 and .6-.15 free, every one of them reserved.
  EXPECT_EQ(Next("b", *ParseIpv4("10.0.1.5")), "10.0.1.5");
  EXPECT_EQ(Next("c"), "10.0.1.17");
}

}  // namespace
}  // namespace kecs::net
