// Network interfaces' secondary addresses in the VPC model and IPAM (net/domain/vpc.h,
// ipam.h): allocation owned by the interface, release, and the subnet's accounting.
#include <gtest/gtest.h>

#include "net/domain/ipam.h"
#include "net/domain/vpc.h"
#include "unit/support/temp_dir.h"

namespace kecs::net {
namespace {

constexpr const char* kRegion = "us-east-1";

class EniAddressesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto vpc, CreateVpc(tx, scope_, *Ipv4Cidr::Parse("10.1.0.0/16"), false, Json::array(),
                                           "default", false));
      ASSIGN_OR_RETURN(subnet_, CreateSubnet(tx, scope_, vpc, *Ipv4Cidr::Parse("10.1.3.0/28"), Zones(kRegion).at(0),
                                             false, false, Json::array(), Ipv6Cidr::Parse("2600:1f18:1:1::/64")));
      return Status::Ok();
    }).ok());
  }

  int64_t Available() {
    int64_t n = -1;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(n, AvailableIpAddressCount(tx, kRegion, subnet_));
      return Status::Ok();
    }).ok());
    return n;
  }

  Result<state::Object> Create(EniSpec spec) {
    spec.subnet = &subnet_;
    Result<state::Object> out = Internal("not run");
    Status st = store_->Write([&](state::Tx& tx) -> Status {
      out = CreateEni(tx, scope_, spec);
      return out.status();
    });
    if (!st.ok()) return st;
    return out;
  }

  std::vector<std::pair<std::string, bool>> Private(const state::Object& eni) {
    std::vector<std::pair<std::string, bool>> out;
    for (const auto& a : eni.doc["PrivateIpAddresses"]) out.emplace_back(JStr(a, "PrivateIpAddress"), JBool(a, "Primary"));
    return out;
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  Scope scope_{kRegion, "000000000000", 1.0};
  state::Object subnet_;
};

TEST_F(EniAddressesTest, CreateAllocatesChosenAndCountedSecondaries) {
  EniSpec spec;
  spec.secondary_ips = {*ParseIpv4("10.1.3.9")};
  spec.secondary_count = 2;
  auto eni = Create(spec);
  ASSERT_TRUE(eni.ok()) << eni.status().ToString();
  using P = std::vector<std::pair<std::string, bool>>;
  EXPECT_EQ(Private(*eni), (P{{"10.1.3.4", true}, {"10.1.3.9", false}, {"10.1.3.5", false}, {"10.1.3.6", false}}));
  EXPECT_EQ(JStr(eni->doc["PrivateIpAddresses"][1], "PrivateDnsName"), "ip-10-1-3-9.ec2.internal");
  EXPECT_EQ(Available(), 16 - 5 - 4);
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return DeleteEni(tx, kRegion, eni->id); }).ok());
  EXPECT_EQ(Available(), 16 - 5);
}

TEST_F(EniAddressesTest, AFullSubnetRefusesTheWholeInterface) {
  EniSpec spec;
  spec.secondary_count = 11;  // a /28 has 11 usable addresses: the primary plus 11 is one too many
  auto eni = Create(spec);
  EXPECT_EQ(eni.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(Available(), 11);  // the transaction rolled back
}

TEST_F(EniAddressesTest, AssignAndUnassignKeepThePrimary) {
  auto eni = Create({});
  ASSERT_TRUE(eni.ok());
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto added, AssignEniPrivateIps(tx, kRegion, *eni, subnet_, {*ParseIpv4("10.1.3.12")}, 1));
    EXPECT_EQ(added, (std::vector<uint32_t>{*ParseIpv4("10.1.3.12"), *ParseIpv4("10.1.3.5")}));
    ASSIGN_OR_RETURN(auto owner, Ipv4Owner(tx, kRegion, subnet_.id, *ParseIpv4("10.1.3.12")));
    EXPECT_EQ(owner, eni->id);
    // The primary is never removed, even when listed.
    return UnassignEniPrivateIps(tx, kRegion, *eni, {*ParseIpv4("10.1.3.12"), *ParseIpv4("10.1.3.4")});
  }).ok());
  using P = std::vector<std::pair<std::string, bool>>;
  EXPECT_EQ(Private(*eni), (P{{"10.1.3.4", true}, {"10.1.3.5", false}}));
  EXPECT_EQ(Available(), 11 - 2);
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kEni, kRegion, eni->id));
    EXPECT_EQ(Private(*stored), Private(*eni));
    ASSIGN_OR_RETURN(auto owner, Ipv4Owner(tx, kRegion, subnet_.id, *ParseIpv4("10.1.3.12")));
    EXPECT_FALSE(owner.has_value());
    return Status::Ok();
  }).ok());
}

TEST_F(EniAddressesTest, Ipv6AddressesChosenCountedAndReleased) {
  EniSpec spec;
  spec.ipv6_addresses = {*ParseIpv6("2600:1f18:1:1::abcd")};
  spec.ipv6_count = 1;
  auto eni = Create(spec);
  ASSERT_TRUE(eni.ok()) << eni.status().ToString();
  ASSERT_EQ(eni->doc["Ipv6Addresses"].size(), 2u);
  EXPECT_EQ(JStr(eni->doc, "Ipv6Address"), "2600:1f18:1:1::abcd");
  EXPECT_EQ(JStr(eni->doc["Ipv6Addresses"][1], "Ipv6Address"), "2600:1f18:1:1::4");
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
    // Taken, reserved (the first four and the last of the block) and outside addresses.
    Ipv6Cidr block = *Ipv6Cidr::Parse("2600:1f18:1:1::/64");
    EXPECT_EQ(ReserveIpv6(tx, kRegion, subnet_.id, block, *ParseIpv6("2600:1f18:1:1::abcd"), "x").code(),
              Code::kAlreadyExists);
    for (const char* bad : {"2600:1f18:1:1::3", "2600:1f18:1:1:ffff:ffff:ffff:ffff", "2600:1f18:1:2::9"}) {
      EXPECT_EQ(ReserveIpv6(tx, kRegion, subnet_.id, block, *ParseIpv6(bad), "x").code(), Code::kInvalidArgument)
          << bad;
    }
    RETURN_IF_ERROR(UnassignEniIpv6(tx, kRegion, *eni, {*ParseIpv6("2600:1f18:1:1::abcd")}));
    EXPECT_EQ(JStr(eni->doc, "Ipv6Address"), "2600:1f18:1:1::4");  // the next one shows
    // The released address can be taken again.
    return ReserveIpv6(tx, kRegion, subnet_.id, block, *ParseIpv6("2600:1f18:1:1::abcd"), "other");
  }).ok());
}

TEST_F(EniAddressesTest, ASubnetWithoutIpv6GivesNone) {
  state::Object v4only;
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto vpc, tx.Get(kVpc, kRegion, subnet_.parent));
    ASSIGN_OR_RETURN(v4only, CreateSubnet(tx, scope_, *vpc, *Ipv4Cidr::Parse("10.1.4.0/24"), Zones(kRegion).at(0),
                                          false, false, Json::array(), std::nullopt));
    EniSpec spec;
    spec.subnet = &v4only;
    ASSIGN_OR_RETURN(auto eni, CreateEni(tx, scope_, spec));
    auto added = AssignEniIpv6(tx, kRegion, eni, v4only, {}, 1);
    EXPECT_EQ(added.status().code(), Code::kFailedPrecondition);
    return Status::Ok();
  }).ok());
}

}  // namespace
}  // namespace kecs::net
