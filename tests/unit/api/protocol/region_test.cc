#include "api/protocol/region.h"

#include <gtest/gtest.h>

#include <string>

namespace kecs::api::protocol {
namespace {

TEST(IsValidRegion, AcceptsEveryPartitionsRegions) {
  for (const char* r : {"us-east-1", "eu-west-3", "ap-southeast-5", "sa-east-1", "ca-west-1",
                        "me-central-1", "af-south-1", "il-central-1", "mx-central-1",
                        "cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1",
                        "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1",
                        "eusc-de-east-1"}) {
    EXPECT_TRUE(IsValidRegion(r)) << r;
  }
}

TEST(IsValidRegion, RefusesNamesNoPartitionDefines) {
  for (const char* r : {"", "local", "us-east", "us-east-", "us--1", "-east-1", "zz-east-1",
                        "us-east-1a", "us-east-1 ", " us-east-1", "US-EAST-1", "us-ea st-1",
                        "us-east.x-1", "us-gov-west", "cn-north-x", "us-east-1\n",
                        "us-east-1/../x", "eusc-fr-east-1"}) {
    EXPECT_FALSE(IsValidRegion(r)) << r;
  }
  EXPECT_FALSE(IsValidRegion(std::string_view("us-east-1\0", 10)));
}

TEST(IsValidRegion, BoundsTheLength) {
  std::string longest = "us-" + std::string(kMaxRegionLength - 5, 'a') + "-1";
  EXPECT_EQ(longest.size(), kMaxRegionLength);
  EXPECT_TRUE(IsValidRegion(longest));
  EXPECT_FALSE(IsValidRegion("us-" + std::string(kMaxRegionLength - 4, 'a') + "-1"));
  EXPECT_FALSE(IsValidRegion("us-" + std::string(100000, 'a') + "-1"));
}

}  // namespace
}  // namespace kecs::api::protocol
