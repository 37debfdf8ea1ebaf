#include "net/domain/peering.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "net/domain/sg_policy.h"

namespace kecs::net {
namespace {

std::string Golden(const std::string& name, const std::string& actual) {
  std::string path = std::string(KECS_TESTDATA_DIR) + "/peering/" + name;
  if (std::getenv("KECS_UPDATE_GOLDEN")) std::ofstream(path) << actual;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kA = "vpc-0000000000000000a", kB = "vpc-0000000000000000b", kPcx = "pcx-00000000000000001";

// A: 10.1.0.0/16 with subnets 10.1.1.0/24 (routes B via the connection) and 10.1.2.0/24
// (no route). B: 10.2.0.0/16 with 10.2.1.0/24, routing back only to A's 10.1.1.0/24.
std::vector<SubnetPeeringRoutes> Subnets() {
  return {{kA, "10.1.1.0/24", {{"10.2.0.0/16", kPcx}}},
          {kA, "10.1.2.0/24", {}},
          {kB, "10.2.1.0/24", {{"10.1.1.0/24", kPcx}}}};
}

TEST(Peering, APathNeedsARouteEachWayAndIsSymmetric) {
  auto paths = ComputePeeringPaths({{kPcx, kA, kB}}, Subnets());
  std::vector<PeeringPath> want = {{kA, "10.1.1.0/24", kB, "10.2.1.0/24"}, {kB, "10.2.1.0/24", kA, "10.1.1.0/24"}};
  EXPECT_EQ(paths, want);
}

TEST(Peering, NoRouteBackNoPath) {
  auto subnets = Subnets();
  subnets[2].routes.clear();
  EXPECT_TRUE(ComputePeeringPaths({{kPcx, kA, kB}}, subnets).empty());
  subnets = Subnets();
  subnets[0].routes.clear();
  EXPECT_TRUE(ComputePeeringPaths({{kPcx, kA, kB}}, subnets).empty());
}

TEST(Peering, RoutesThroughAnotherConnectionOrAnInactiveOneCarryNothing) {
  auto subnets = Subnets();
  subnets[0].routes = {{"10.2.0.0/16", "pcx-00000000000000002"}};
  EXPECT_TRUE(ComputePeeringPaths({{kPcx, kA, kB}}, subnets).empty());
  EXPECT_TRUE(ComputePeeringPaths({}, Subnets()).empty());
}

TEST(Peering, ANarrowRouteLimitsThePathToItsBlock) {
  auto subnets = Subnets();
  subnets[0].routes = {{"10.2.1.128/25", kPcx}};
  auto paths = ComputePeeringPaths({{kPcx, kA, kB}}, subnets);
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0].dst_cidr, "10.2.1.128/25");
  EXPECT_EQ(paths[1].src_cidr, "10.2.1.128/25");
}

TEST(Peering, RendersTheGoldenHostAndRouterRules) {
  auto paths = ComputePeeringPaths({{kPcx, kA, kB}}, Subnets());
  std::map<std::string, std::string> links = {{kA, "ktx0000000000a"}, {kB, "ktx0000000000b"}};
  std::string host = BuildHostPeeringRules("kt", paths, links);
  EXPECT_EQ(host, Golden("host.nft", host));
  std::string router = BuildRouterPeeringRules(kA, paths);
  EXPECT_EQ(router, Golden("router.nft", router));
  // Nothing peered: the chains are emptied, so the traffic stops.
  EXPECT_EQ(BuildHostPeeringRules("kt", {}, links), "add chain ip kt peering\nflush chain ip kt peering\n");
  EXPECT_EQ(BuildRouterPeeringRules(kA, {}).find("add rule"), std::string::npos);
}

TEST(Peering, PeeredSourcesAreNotCoveredByTheHostExemption) {
  VpcPolicy p;
  p.vpc_id = kB;
  p.enis = {{"eni-0000000000000000b", "10.2.1.4", "", "subnet-0000000000000000b", {}}};
  std::string plain = BuildVpcFilter(p);
  EXPECT_NE(plain.find("iifname \"up0\" accept"), std::string::npos);
  p.peer_sources = {"10.1.0.0/16", "10.9.0.0/16"};
  std::string text = BuildVpcFilter(p);
  EXPECT_EQ(text.find("iifname \"up0\" accept"), std::string::npos);
  EXPECT_NE(text.find("iifname \"up0\" ip saddr != { 10.1.0.0/16, 10.9.0.0/16 } accept"), std::string::npos);
  EXPECT_NE(text.find("iifname \"up0\" meta nfproto ipv6 accept"), std::string::npos);
}

}  // namespace
}  // namespace kecs::net
