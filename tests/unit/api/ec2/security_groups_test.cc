// Security-group rule validation through the real EC2 handlers (no router, no HTTP): what
// counts as the same permission inside one Authorize request, and what a
// ModifySecurityGroupRules request must hold, with the rule left untouched on refusal.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/ec2/ec2_api.h"
#include "unit/support/ec2_handlers.h"

namespace kecs::api::ec2 {
namespace {

class SecurityGroupsTest : public testing::Ec2HandlersTest {
 protected:
  void SetUp() override {
    Ec2HandlersTest::SetUp();
    std::string vpc = Call("CreateVpc", {{"CidrBlock", "10.0.0.0/16"}})["Vpc"]["VpcId"];
    sg_ = Call("CreateSecurityGroup", {{"GroupName", "app"}, {"Description", "app"}, {"VpcId", vpc}})["GroupId"];
  }

  static Json Perm(const std::string& proto, int from, int to, Json ranges) {
    return {{"IpProtocol", proto}, {"FromPort", from}, {"ToPort", to}, {"IpRanges", std::move(ranges)}};
  }
  static Json Cidr(const std::string& c) { return {{"CidrIp", c}}; }

  std::string Authorize(Json perms) {
    return Refusal("AuthorizeSecurityGroupIngress", {{"GroupId", sg_}, {"IpPermissions", std::move(perms)}});
  }

  Json Rules() {
    return Call("DescribeSecurityGroupRules",
                {{"Filters", Json::array({{{"Name", "group-id"}, {"Values", Json::array({sg_})}}})}})["SecurityGroupRules"];
  }

  std::string sg_;
};

constexpr const char* kSame = "InvalidParameterValue: The same permission must not appear multiple times";

TEST_F(SecurityGroupsTest, SamePermissionTwiceInOneRequestIsRefusedWhole) {
  // Descriptions do not tell permissions apart; protocol names and numbers, and CIDRs with
  // host bits, are compared as stored.
  Json described = {{"CidrIp", "10.0.0.0/8"}, {"Description", "x"}};
  EXPECT_EQ(Authorize(Json::array({Perm("tcp", 22, 22, Json::array({Cidr("10.0.0.0/8"), described}))})), kSame);
  EXPECT_EQ(Authorize(Json::array({Perm("tcp", 22, 22, Json::array({Cidr("10.0.0.0/8")})),
                                   Perm("6", 22, 22, Json::array({Cidr("10.9.9.9/8")}))})),
            kSame);
  EXPECT_EQ(Authorize(Json::array({Perm("-1", 1, 2, Json::array({Cidr("10.0.0.0/8")})),
                                   Perm("all", 3, 4, Json::array({Cidr("10.0.0.0/8")}))})),
            kSame);
  size_t before = Rules().size();
  // Ports, protocol or peer differing: distinct permissions, all added.
  EXPECT_EQ(Authorize(Json::array({Perm("tcp", 22, 22, Json::array({Cidr("10.0.0.0/8"), Cidr("10.0.0.0/9")})),
                                   Perm("udp", 22, 22, Json::array({Cidr("10.0.0.0/8")})),
                                   Perm("tcp", 22, 23, Json::array({Cidr("10.0.0.0/8")}))})),
            "");
  EXPECT_EQ(Rules().size(), before + 4);
}

TEST_F(SecurityGroupsTest, RuleAlreadyInTheGroupIsInvalidPermissionDuplicate) {
  ASSERT_EQ(Authorize(Json::array({Perm("tcp", 80, 80, Json::array({Cidr("192.0.2.0/24")}))})), "");
  EXPECT_EQ(Authorize(Json::array({Perm("tcp", 80, 80, Json::array({Cidr("192.0.2.7/24")}))})),
            "InvalidPermission.Duplicate: the specified rule \"peer: 192.0.2.0/24, TCP, from port: 80, to port: "
            "80, ALLOW\" already exists");
  // A request that both repeats itself and repeats the group is refused for the former.
  EXPECT_EQ(Authorize(Json::array({Perm("tcp", 80, 80, Json::array({Cidr("192.0.2.0/24"), Cidr("192.0.2.0/24")}))})),
            kSame);
}

TEST_F(SecurityGroupsTest, ModifyNeedsAWholeRuleAndLeavesItAloneOnRefusal) {
  ASSERT_EQ(Authorize(Json::array({Perm("tcp", 80, 80, Json::array({Cidr("192.0.2.0/24")}))})), "");
  Json rule;
  for (const auto& r : Rules()) {
    if (!JBool(r, "IsEgress")) rule = r;
  }
  const std::string id = JStr(rule, "SecurityGroupRuleId");
  auto modify = [&](Json spec) {
    return Refusal("ModifySecurityGroupRules",
                   {{"GroupId", sg_},
                    {"SecurityGroupRules", Json::array({{{"SecurityGroupRuleId", id}, {"SecurityGroupRule", spec}}})}});
  };
  EXPECT_EQ(modify({{"FromPort", 1}, {"ToPort", 1}, {"CidrIpv4", "10.0.0.0/8"}}),
            "InvalidParameterValue: Invalid value 'null' for protocol. VPC security group rules must specify "
            "protocols explicitly.");
  EXPECT_EQ(modify({{"IpProtocol", "udp"}, {"FromPort", 1}, {"CidrIpv4", "10.0.0.0/8"}}),
            "InvalidParameterValue: Invalid value for portRange. Must specify both from and to ports with TCP/UDP.");
  EXPECT_EQ(modify({{"IpProtocol", "tcp"}, {"FromPort", 1}, {"ToPort", 1}}),
            "MissingParameter: The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or "
            "referencedGroupId");
  EXPECT_EQ(modify({{"IpProtocol", "tcp"}, {"FromPort", 1}, {"ToPort", 1}, {"PrefixListId", "pl-12345678"},
                    {"CidrIpv6", "::/0"}}),
            "InvalidParameterCombination: Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be "
            "specified");
  Json after;
  for (const auto& r : Rules()) {
    if (JStr(r, "SecurityGroupRuleId") == id) after = r;
  }
  EXPECT_EQ(after, rule);
  // A whole rule replaces the old one, keeping its id, direction and tags.
  EXPECT_EQ(modify({{"IpProtocol", "-1"}, {"CidrIpv6", "2001:db8::1/32"}}), "");
  for (const auto& r : Rules()) {
    if (JStr(r, "SecurityGroupRuleId") != id) continue;
    EXPECT_EQ(JStr(r, "IpProtocol"), "-1");
    EXPECT_EQ(JInt(r, "FromPort"), -1);
    EXPECT_EQ(JStr(r, "CidrIpv6"), "2001:db8::/32");
    EXPECT_EQ(JGet(r, "CidrIpv4"), nullptr);
    EXPECT_FALSE(JBool(r, "IsEgress"));
    EXPECT_EQ(JStr(r, "GroupId"), sg_);
  }
}

}  // namespace
}  // namespace kecs::api::ec2
