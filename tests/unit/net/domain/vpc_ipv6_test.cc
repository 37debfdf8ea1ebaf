// IPv6 in the VPC model: Amazon-provided blocks, IPv6-only subnets and their interfaces.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/domain/ip.h"
#include "net/domain/ipam.h"
#include "net/domain/vpc.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::net {
namespace {

using kecs::testing::TempDir;

TEST(IpIpv6Cidr, ContainsEqualAndInnerBlocksButNotWiderOrOutsideOnes) {
  auto vpc = *Ipv6Cidr::Parse("2600:1f10:abcd:1200::/56");
  EXPECT_TRUE(vpc.Contains(*Ipv6Cidr::Parse("2600:1f10:abcd:1200::/56")));
  EXPECT_TRUE(vpc.Contains(*Ipv6Cidr::Parse("2600:1f10:abcd:12f0::/60")));
  EXPECT_TRUE(vpc.Contains(*Ipv6Cidr::Parse("2600:1f10:abcd:12ff::/64")));
  EXPECT_FALSE(vpc.Contains(*Ipv6Cidr::Parse("2600:1f10:abcd:1200::/52")));
  EXPECT_FALSE(vpc.Contains(*Ipv6Cidr::Parse("2600:1f10:abcd:1300::/64")));
}

class VpcIpv6Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  // Runs `fn` in a write transaction and fails the test on error.
  template <typename Fn>
  void Write(Fn fn) {
    Status st = store_->Write([&](state::Tx& tx) { return fn(tx); });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  Scope scope_{"us-east-1", "000000000000", 1.7e9};
  TempDir dir_;
  std::unique_ptr<state::Store> store_;
};

TEST_F(VpcIpv6Test, FiveAmazonBlocksNeverOverlapAndTheDefaultGroupGetsOneIpv6EgressRule) {
  Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto vpc, CreateVpc(tx, scope_, *Ipv4Cidr::Parse("10.0.0.0/16"), false, Json::array(),
                                         "default", /*amazon_ipv6=*/true));
    for (int i = 0; i < 4; ++i) RETURN_IF_ERROR(AssociateAmazonIpv6(tx, scope_, vpc).status());
    ASSIGN_OR_RETURN(auto stored, tx.Get(kVpc, scope_.region, vpc.id));
    std::vector<Ipv6Cidr> blocks;
    for (const auto& a : stored->doc["Ipv6CidrBlockAssociationSet"]) {
      auto c = Ipv6Cidr::Parse(JStr(a, "Ipv6CidrBlock"));
      EXPECT_TRUE(c && c->prefix == 56) << a.dump();
      EXPECT_EQ(JStr(a, "Ipv6Pool"), "Amazon");
      for (const auto& b : blocks) EXPECT_FALSE(b.Overlaps(*c)) << b.ToString() << " " << c->ToString();
      blocks.push_back(*c);
    }
    EXPECT_EQ(blocks.size(), kMaxVpcIpv6Blocks);
    ASSIGN_OR_RETURN(auto sg, DefaultSecurityGroup(tx, scope_.region, vpc.id));
    EXPECT_TRUE(sg.has_value());
    int v4 = 0, v6 = 0;
    for (const auto& r : sg->doc["kecs:rules"]) {
      if (!JBool(r, "IsEgress")) continue;
      v4 += JStr(r, "CidrIpv4") == "0.0.0.0/0";
      v6 += JStr(r, "CidrIpv6") == "::/0";
      EXPECT_FALSE(JStr(r, "SecurityGroupRuleArn").empty());
    }
    EXPECT_EQ(v4, 1);
    EXPECT_EQ(v6, 1);
    ASSIGN_OR_RETURN(auto rtb, tx.Get(kRouteTable, scope_.region, JStr(stored->doc, "kecs:mainRouteTable")));
    int v6_routes = 0;
    for (const auto& r : rtb->doc["Routes"]) v6_routes += JOptStr(r, "DestinationIpv6CidrBlock").has_value();
    EXPECT_EQ(v6_routes, 5);
    ASSIGN_OR_RETURN(auto acl, tx.Get(kNetworkAcl, scope_.region, JStr(stored->doc, "kecs:defaultNetworkAcl")));
    int v6_entries = 0;
    for (const auto& e : acl->doc["Entries"]) v6_entries += JStr(e, "Ipv6CidrBlock") == "::/0";
    EXPECT_EQ(v6_entries, 4);  // allow 101 and deny, in each direction, once
    return Status::Ok();
  });
}

TEST_F(VpcIpv6Test, IpamAllocatesInsideANon64SubnetBlock) {
  Write([&](state::Tx& tx) -> Status {
    auto block = *Ipv6Cidr::Parse("2600:1f10:abcd:1200::/56");
    ASSIGN_OR_RETURN(Ipv6 a, AllocateIpv6(tx, scope_.region, "subnet-0123456789abcdef0", block, "eni-a"));
    ASSIGN_OR_RETURN(Ipv6 b, AllocateIpv6(tx, scope_.region, "subnet-0123456789abcdef0", block, "eni-b"));
    EXPECT_TRUE(block.Contains(a));
    EXPECT_TRUE(block.Contains(b));
    EXPECT_EQ(Ipv6ToString(a), "2600:1f10:abcd:1200::4");
    EXPECT_EQ(Ipv6ToString(b), "2600:1f10:abcd:1200::5");
    EXPECT_FALSE(AllocateIpv6(tx, scope_.region, "subnet-x", *Ipv6Cidr::Parse("2600::/80"), "eni-c").ok());
    return Status::Ok();
  });
}

TEST_F(VpcIpv6Test, AnIpv6OnlySubnetGivesInterfacesOnlyAnIpv6Address) {
  Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto vpc, CreateVpc(tx, scope_, *Ipv4Cidr::Parse("10.0.0.0/16"), false, Json::array(),
                                         "default", /*amazon_ipv6=*/true));
    auto block = *Ipv6Cidr::Parse(JStr(vpc.doc["Ipv6CidrBlockAssociationSet"][0], "Ipv6CidrBlock"));
    ASSIGN_OR_RETURN(auto subnet, CreateSubnet(tx, scope_, vpc, std::nullopt, Zones(scope_.region).front(), false,
                                               false, Json::array(), block, /*ipv6_native=*/true));
    EXPECT_FALSE(subnet.doc.contains("CidrBlock"));
    EXPECT_TRUE(JBool(subnet.doc, "Ipv6Native"));
    EXPECT_TRUE(JBool(subnet.doc, "AssignIpv6AddressOnCreation"));
    ASSIGN_OR_RETURN(auto view, SubnetView(tx, scope_.region, subnet));
    EXPECT_EQ(JInt(view, "AvailableIpAddressCount"), 0);
    EniSpec spec;
    spec.subnet = &subnet;
    ASSIGN_OR_RETURN(auto eni, CreateEni(tx, scope_, spec));
    EXPECT_FALSE(eni.doc.contains("PrivateIpAddress"));
    EXPECT_TRUE(eni.doc["PrivateIpAddresses"].empty());
    EXPECT_TRUE(JBool(eni.doc, "Ipv6Native"));
    auto addr = ParseIpv6(JStr(eni.doc, "Ipv6Address"));
    EXPECT_TRUE(addr && block.Contains(*addr)) << eni.doc.dump();
    spec.private_ip = *ParseIpv4("10.0.0.9");
    EXPECT_EQ(CreateEni(tx, scope_, spec).status().code(), Code::kInvalidArgument);
    RETURN_IF_ERROR(DeleteEni(tx, scope_.region, eni.id));
    ASSIGN_OR_RETURN(int64_t held, CountAllocated(tx, scope_.region, subnet.id + "/v6"));
    EXPECT_EQ(held, 0);
    return Status::Ok();
  });
}

}  // namespace
}  // namespace kecs::net
