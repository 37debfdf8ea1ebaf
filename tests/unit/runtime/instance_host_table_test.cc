// The pure part of EC2 instance hosts (network.h, issue 17): the nftables script of an
// instance namespace's table "ip kecs_host" (golden file testdata/instance/kecs_host.nft;
// regenerate with KECS_UPDATE_GOLDEN=1 and review the diff), and instance ids as names.
#include <gtest/gtest.h>

#include "runtime/local/network.h"
#include "unit/support/golden.h"

namespace kecs::runtime::local {
namespace {

TEST(InstanceHostTableTest, RendersPublishingOnTheInstanceAddressAndMasquerade) {
  std::string text = RenderInstanceHostTable("kecs0", "172.17.0.0/16", "10.0.1.20");
  kecs::testing::ExpectGoldenText(std::string(KECS_TESTDATA_DIR) + "/instance/kecs_host.nft", text);
  // The maps are added, never flushed: a re-apply keeps the running tasks' forwarding.
  EXPECT_EQ(text.find("flush map"), std::string::npos);
  EXPECT_EQ(text.find("delete"), std::string::npos);
  // Only the instance's address is published, in both hooks.
  EXPECT_NE(text.find("prerouting ip daddr 10.0.1.20 dnat ip to tcp dport map @publish_tcp"), std::string::npos);
  EXPECT_NE(text.find("output ip daddr 10.0.1.20 dnat ip to udp dport map @publish_udp"), std::string::npos);
  EXPECT_EQ(text.find("fib daddr type local"), std::string::npos);
}

TEST(InstanceHostTableTest, InstanceIds) {
  EXPECT_TRUE(IsInstanceId("i-0123456789abcdef0"));
  EXPECT_TRUE(IsInstanceId("i-01234567"));
  EXPECT_FALSE(IsInstanceId("i-"));
  EXPECT_FALSE(IsInstanceId("i-../../etc"));
  EXPECT_FALSE(IsInstanceId("eni-0123456789abcdef0"));
  EXPECT_FALSE(IsInstanceId("i-0123456789abcdef0123"));
  EXPECT_FALSE(IsInstanceId("i-0123456789abcdef0/x"));
}

}  // namespace
}  // namespace kecs::runtime::local
