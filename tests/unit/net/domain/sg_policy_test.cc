#include "net/domain/sg_policy.h"
#include "net/domain/sg_filter_update.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kecs::net {
namespace {

std::string Golden(const std::string& name, const std::string& actual) {
  std::string path = std::string(KECS_TESTDATA_DIR) + "/sg/" + name;
  if (std::getenv("KECS_UPDATE_GOLDEN")) std::ofstream(path) << actual;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Two groups chained (web admits tcp/80 from app; app admits nothing), the default group's
// self-reference, an ICMP rule, an IPv6 range, and a subnet ACL with a deny before an allow.
VpcPolicy Sample() {
  VpcPolicy p;
  p.vpc_id = "vpc-0123456789abcdef0";
  p.enis = {{"eni-0000000000000000a", "10.0.1.4", "", "subnet-0000000000000000a", {"sg-0000000000000000a"}},
            {"eni-0000000000000000b", "10.0.2.5", "2600:1f18::5", "subnet-0000000000000000b",
             {"sg-0000000000000000b", "sg-000000000000000de"}}};
  SecurityGroupPolicy app{"sg-0000000000000000a", {}};
  app.rules.push_back({"sgr-01", true, "-1", -1, -1, "0.0.0.0/0", "", "", ""});
  SecurityGroupPolicy web{"sg-0000000000000000b", {}};
  web.rules.push_back({"sgr-02", false, "tcp", 80, 80, "", "", "sg-0000000000000000a", ""});
  web.rules.push_back({"sgr-03", false, "icmp", 8, -1, "10.0.0.0/16", "", "", ""});
  web.rules.push_back({"sgr-04", false, "tcp", 443, 443, "", "2600:1f18::/56", "", ""});
  web.rules.push_back({"sgr-05", true, "tcp", 5432, 5432, "10.0.3.0/24", "", "", ""});
  SecurityGroupPolicy def{"sg-000000000000000de", {}};
  def.rules.push_back({"sgr-06", false, "-1", -1, -1, "", "", "sg-000000000000000de", ""});
  def.rules.push_back({"sgr-07", true, "-1", -1, -1, "0.0.0.0/0", "", "", ""});
  p.groups = {app, web, def};
  SubnetPolicy s1{"subnet-0000000000000000a", "br-000000000000", "acl-01", {}};
  s1.entries.push_back({100, false, "-1", -1, -1, -1, -1, "0.0.0.0/0", "", true});
  s1.entries.push_back({32767, false, "-1", -1, -1, -1, -1, "0.0.0.0/0", "", false});
  s1.entries.push_back({100, true, "-1", -1, -1, -1, -1, "0.0.0.0/0", "", true});
  SubnetPolicy s2{"subnet-0000000000000000b", "br-000000000001", "acl-02", {}};
  s2.entries.push_back({200, false, "-1", -1, -1, -1, -1, "0.0.0.0/0", "", true});
  s2.entries.push_back({100, false, "6", 80, 80, -1, -1, "10.0.1.4/32", "", false});
  s2.entries.push_back({150, false, "1", -1, -1, 8, -1, "10.0.0.0/16", "", true});
  s2.entries.push_back({100, true, "-1", -1, -1, -1, -1, "0.0.0.0/0", "", true});
  p.subnets = {s1, s2};
  return p;
}

TEST(SgPolicy, BuildsTheGoldenRuleset) {
  std::string text = BuildVpcFilter(Sample());
  EXPECT_EQ(text, Golden("sample.nft", text));
}

TEST(SgPolicy, StrictModeDropsTheHostExemption) {
  VpcPolicy p = Sample();
  p.host_exempt = false;
  std::string text = BuildVpcFilter(p);
  EXPECT_EQ(text.find("iifname \"up0\" accept"), std::string::npos);
  p.host_exempt = true;
  EXPECT_NE(BuildVpcFilter(p).find("iifname \"up0\" accept"), std::string::npos);
}

TEST(SgPolicy, EveryRuleCarriesAComment) {
  std::istringstream in(BuildVpcFilter(Sample()));
  std::string line;
  int rules = 0;
  while (std::getline(in, line)) {
    bool is_rule = line.find(" return") != std::string::npos || line.find(" drop") != std::string::npos ||
                   line.find(" accept") != std::string::npos || line.find(" jump ") != std::string::npos ||
                   line.find(" vmap ") != std::string::npos;
    if (!is_rule || line.find("policy accept") != std::string::npos || line.find(" : jump ") != std::string::npos) continue;
    ++rules;
    EXPECT_NE(line.find("comment \""), std::string::npos) << line;
  }
  EXPECT_GT(rules, 15);
}

TEST(SgPolicy, AclEntriesAreOrderedByRuleNumber) {
  std::string text = BuildVpcFilter(Sample());
  size_t deny = text.find("acl-02 subnet-0000000000000000b rule 100");
  size_t icmp = text.find("acl-02 subnet-0000000000000000b rule 150");
  size_t allow = text.find("acl-02 subnet-0000000000000000b rule 200");
  ASSERT_NE(deny, std::string::npos);
  EXPECT_LT(deny, icmp);
  EXPECT_LT(icmp, allow);
}

TEST(SgPolicy, PolicyFromDocsReadsTheStoreShapes) {
  Json eni = {{"NetworkInterfaceId", "eni-1"}, {"PrivateIpAddress", "10.0.0.4"}, {"SubnetId", "subnet-1"},
              {"Groups", Json::array({{{"GroupId", "sg-1"}}})}};
  Json eni_without_ip = {{"NetworkInterfaceId", "eni-2"}, {"SubnetId", "subnet-1"}};
  Json sg = {{"GroupId", "sg-1"},
             {"kecs:rules", Json::array({{{"SecurityGroupRuleId", "sgr-1"}, {"IsEgress", false},
                                          {"IpProtocol", "tcp"}, {"FromPort", 80}, {"ToPort", 81},
                                          {"ReferencedGroupInfo", {{"GroupId", "sg-1"}}}}})}};
  Json subnet = {{"SubnetId", "subnet-1"}};
  Json acl = {{"NetworkAclId", "acl-1"},
              {"Associations", Json::array({{{"SubnetId", "subnet-1"}}})},
              {"Entries", Json::array({{{"RuleNumber", 100}, {"Egress", false}, {"Protocol", "6"},
                                        {"RuleAction", "deny"}, {"CidrBlock", "1.2.3.4/32"},
                                        {"PortRange", {{"From", 22}, {"To", 22}}}}})}};
  VpcPolicy p = PolicyFromDocs("vpc-1", {eni, eni_without_ip}, {sg}, {subnet}, {acl});
  ASSERT_EQ(p.enis.size(), 1u);
  EXPECT_EQ(p.enis[0].groups, std::vector<std::string>{"sg-1"});
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(p.groups[0].rules[0].group, "sg-1");
  EXPECT_EQ(p.groups[0].rules[0].to, 81);
  ASSERT_EQ(p.subnets.size(), 1u);
  EXPECT_EQ(p.subnets[0].acl_id, "acl-1");
  EXPECT_FALSE(p.subnets[0].entries[0].allow);
  EXPECT_EQ(p.subnets[0].entries[0].from, 22);
}

// A network load balancer's groups are checked before the router DNATs its clients'
// flows to the targets; an ALB's node needs no such chain (its traffic ends at the node).
TEST(SgPolicy, NetworkLoadBalancerGroupsAdmitItsClientsBeforeTheDnat) {
  Json nlb = {{"NetworkInterfaceId", "eni-1"}, {"PrivateIpAddress", "10.0.0.4"}, {"SubnetId", "subnet-1"},
              {"RequesterId", "amazon-elb"}, {"Description", "ELB net/n/0123456789abcdef"},
              {"Groups", Json::array({{{"GroupId", "sg-1"}}})}};
  Json alb = {{"NetworkInterfaceId", "eni-2"}, {"PrivateIpAddress", "10.0.0.5"}, {"SubnetId", "subnet-1"},
              {"RequesterId", "amazon-elb"}, {"Description", "ELB app/a/0123456789abcdef"},
              {"Groups", Json::array({{{"GroupId", "sg-1"}}})}};
  VpcPolicy p = PolicyFromDocs("vpc-1", {nlb, alb}, {}, {{{"SubnetId", "subnet-1"}}}, {});
  ASSERT_EQ(p.enis.size(), 2u);
  EXPECT_TRUE(p.enis[0].nlb_node);
  EXPECT_FALSE(p.enis[1].nlb_node);
  std::string text = BuildVpcFilter(p);
  EXPECT_NE(text.find("  set nlb_nodes4 {\n    type ipv4_addr\n    comment \"network load balancer nodes\"\n"
                      "    elements = { 10.0.0.4 }\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("type filter hook prerouting priority -150; policy accept;\n"
                      "    iifname \"up0\" accept comment \"kecs: the host reaches load balancer nodes (lenient mode)\"\n"
                      "    ct state new ip daddr @nlb_nodes4 ip daddr vmap @ingress4"),
            std::string::npos)
      << text;
  p.host_exempt = false;
  EXPECT_EQ(BuildVpcFilter(p).find("reaches load balancer nodes"), std::string::npos);
  p.enis.pop_back();
  p.enis.pop_back();
  EXPECT_EQ(BuildVpcFilter(p).find("prerouting"), std::string::npos);
}

// A network load balancer made without security groups filters nothing at its nodes; an
// ordinary ENI without groups still admits nothing.
TEST(SgPolicy, ALoadBalancerNodeWithoutGroupsPassesEverything) {
  Json node = {{"NetworkInterfaceId", "eni-1"}, {"PrivateIpAddress", "10.0.0.4"}, {"SubnetId", "subnet-1"},
               {"RequesterId", "amazon-elb"}, {"Groups", Json::array()}};
  Json plain = {{"NetworkInterfaceId", "eni-2"}, {"PrivateIpAddress", "10.0.0.5"}, {"SubnetId", "subnet-1"}};
  VpcPolicy p = PolicyFromDocs("vpc-1", {node, plain}, {}, {{{"SubnetId", "subnet-1"}}}, {});
  ASSERT_EQ(p.enis.size(), 2u);
  EXPECT_TRUE(p.enis[0].unfiltered);
  EXPECT_FALSE(p.enis[1].unfiltered);
  std::string text = BuildVpcFilter(p);
  EXPECT_EQ(text.find("eni-1 ingress not allowed"), std::string::npos) << text;
  EXPECT_EQ(text.find("eni-1 egress not allowed"), std::string::npos) << text;
  EXPECT_NE(text.find("return comment \"eni-1 load balancer node without security groups\""), std::string::npos);
  EXPECT_NE(text.find("eni-2 ingress not allowed"), std::string::npos) << text;
}

// Secondary addresses (AssignPrivateIpAddresses, AssignIpv6Addresses) are governed by the
// interface's groups like its primary ones and are members of those groups.
TEST(SgPolicy, SecondaryAddressesAreGovernedAndCountedLikeThePrimary) {
  Json eni = {{"NetworkInterfaceId", "eni-1"}, {"PrivateIpAddress", "10.0.0.4"}, {"SubnetId", "subnet-1"},
              {"Ipv6Address", "2600:1f18::4"},
              {"PrivateIpAddresses", Json::array({{{"PrivateIpAddress", "10.0.0.4"}, {"Primary", true}},
                                                  {{"PrivateIpAddress", "10.0.0.9"}, {"Primary", false}}})},
              {"Ipv6Addresses", Json::array({{{"Ipv6Address", "2600:1f18::4"}}, {{"Ipv6Address", "2600:1f18::9"}}})},
              {"Groups", Json::array({{{"GroupId", "sg-1"}}})}};
  VpcPolicy p = PolicyFromDocs("vpc-1", {eni}, {{{"GroupId", "sg-1"}}}, {{{"SubnetId", "subnet-1"}}}, {});
  ASSERT_EQ(p.enis.size(), 1u);
  EXPECT_EQ(p.enis[0].secondary_ips, std::vector<std::string>{"10.0.0.9"});
  EXPECT_EQ(p.enis[0].secondary_ipv6, std::vector<std::string>{"2600:1f18::9"});
  std::string text = BuildVpcFilter(p);
  EXPECT_NE(text.find("comment \"sg-1 members\"\n    elements = { 10.0.0.4, 10.0.0.9 }"), std::string::npos) << text;
  EXPECT_NE(text.find("comment \"sg-1 members\"\n    elements = { 2600:1f18::4, 2600:1f18::9 }"), std::string::npos)
      << text;
  for (const char* jump : {"10.0.0.9 : jump eni_1_in", "10.0.0.9 : jump eni_1_out", "2600:1f18::9 : jump eni_1_in",
                           "2600:1f18::9 : jump eni_1_out"}) {
    EXPECT_NE(text.find(jump), std::string::npos) << jump;
  }
  // Without secondaries, none of that appears.
  p.enis[0].secondary_ips.clear();
  p.enis[0].secondary_ipv6.clear();
  EXPECT_EQ(BuildVpcFilter(p).find("10.0.0.9"), std::string::npos);
}

// design.md 17.4: a group's rules are rendered once, however many ENIs carry it.
TEST(SgPolicy, TheTableGrowsAsEnisPlusRules) {
  VpcPolicy p;
  p.vpc_id = "vpc-1";
  for (int g = 0; g < 17; ++g) {
    SecurityGroupPolicy sg{"sg-" + std::to_string(g), {}};
    for (int r = 0; r < 60; ++r) {
      sg.rules.push_back({"sgr-" + std::to_string(g) + "-" + std::to_string(r), false, "tcp", 80, 80,
                          "10.1." + std::to_string(r) + ".0/24", "", "", ""});
    }
    p.groups.push_back(sg);
  }
  for (int e = 0; e < 200; ++e) {
    p.enis.push_back({"eni-" + std::to_string(e), "10.0." + std::to_string(e / 250) + "." + std::to_string(e % 250),
                      "", "subnet-1", {"sg-" + std::to_string(e % 17)}});
  }
  std::string text = BuildVpcFilter(p);
  // Rules once (1,020), four lines per ENI chain, a few per group: not 200 x 60 rule lines.
  EXPECT_LT(std::count(text.begin(), text.end(), '\n'), 17 * 60 + 200 * 2 * 4 + 17 * 2 * 8 + 100);
  size_t n = 0;
  for (size_t at = text.find("sgr-0-0\""); at != std::string::npos; at = text.find("sgr-0-0\"", at + 1)) ++n;
  EXPECT_EQ(n, 1u) << "a rule appears once";
}

TEST(SgPolicy, ARuleChangeRewritesOnlyItsGroupsChain) {
  VpcPolicy before = Sample();
  VpcPolicy after = before;
  after.groups[1].rules.push_back({"sgr-09", false, "udp", 53, 53, "10.0.0.0/8", "", "", ""});
  std::string update = BuildVpcFilterUpdate(before, after);
  EXPECT_EQ(update,
            "flush chain inet kecs_sg sg_sg_0000000000000000b_in\n"
            "add rule inet kecs_sg sg_sg_0000000000000000b_in ip saddr @sg4_sg_0000000000000000a tcp dport 80 accept "
            "comment \"sg-0000000000000000b sgr-02\"\n"
            "add rule inet kecs_sg sg_sg_0000000000000000b_in ct status dnat ct original ip daddr "
            "@sg4_sg_0000000000000000a tcp dport 80 accept comment \"sg-0000000000000000b sgr-02\"\n"
            "add rule inet kecs_sg sg_sg_0000000000000000b_in ip6 saddr @sg6_sg_0000000000000000a tcp dport 80 accept "
            "comment \"sg-0000000000000000b sgr-02\"\n"
            "add rule inet kecs_sg sg_sg_0000000000000000b_in ip saddr 10.0.0.0/16 meta l4proto icmp icmp type 8 accept "
            "comment \"sg-0000000000000000b sgr-03\"\n"
            "add rule inet kecs_sg sg_sg_0000000000000000b_in ip6 saddr 2600:1f18::/56 tcp dport 443 accept "
            "comment \"sg-0000000000000000b sgr-04\"\n"
            "add rule inet kecs_sg sg_sg_0000000000000000b_in ip saddr 10.0.0.0/8 udp dport 53 accept "
            "comment \"sg-0000000000000000b sgr-09\"\n")
      << update;
}

TEST(SgPolicy, AMembershipChangeUpdatesSetsAndMapsInPlace) {
  VpcPolicy before = Sample();
  VpcPolicy after = before;
  after.enis[0].secondary_ips.push_back("10.0.1.9");
  std::string update = BuildVpcFilterUpdate(before, after);
  EXPECT_NE(update.find("add element inet kecs_sg sg4_sg_0000000000000000a { 10.0.1.9 }\n"), std::string::npos) << update;
  EXPECT_NE(update.find("add element inet kecs_sg ingress4 { 10.0.1.9 : jump eni_0000000000000000a_in }\n"),
            std::string::npos)
      << update;
  EXPECT_EQ(update.find("chain"), std::string::npos) << "no chain changes: " << update;
  // And back.
  std::string back = BuildVpcFilterUpdate(after, before);
  EXPECT_NE(back.find("delete element inet kecs_sg sg4_sg_0000000000000000a { 10.0.1.9 }\n"), std::string::npos) << back;
}

TEST(SgPolicy, NoChangeOrABaseChainChangeIsNotAnUpdateInPlace) {
  VpcPolicy p = Sample();
  EXPECT_EQ(BuildVpcFilterUpdate(p, p), "");
  VpcPolicy strict = p;
  strict.host_exempt = false;
  EXPECT_EQ(BuildVpcFilterUpdate(p, strict), "");
  VpcPolicy bridge = p;
  bridge.subnets[0].bridge = "br-other";
  EXPECT_EQ(BuildVpcFilterUpdate(p, bridge), "");
}

}  // namespace
}  // namespace kecs::net
