#include "base/ids.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace kecs {
namespace {

constexpr int kDraws = 5000;

bool IsLowerHex(const std::string& s) {
  return std::regex_match(s, std::regex("[0-9a-f]*"));
}

TEST(Ids, RandomHexHasTheRequestedLengthInLowercaseHex) {
  for (size_t n : {0u, 1u, 2u, 3u, 16u, 17u, 32u, 33u}) {
    std::string h = RandomHex(n);
    EXPECT_EQ(h.size(), n);
    EXPECT_TRUE(IsLowerHex(h)) << h;
  }
}

TEST(Ids, RandomHexOddLengthLastDigitTakesEveryValue) {
  // The 17th digit of an Ec2Id comes from the high nibble of a byte; every value occurs.
  std::set<char> last;
  for (int i = 0; i < 2000; ++i) last.insert(RandomHex(17).back());
  EXPECT_EQ(last.size(), 16u);
}

TEST(Ids, Ec2IdIsPrefixDashAnd17LowercaseHex) {
  const std::regex re("vpc-[0-9a-f]{17}");
  for (int i = 0; i < 100; ++i) {
    std::string id = Ec2Id("vpc");
    EXPECT_EQ(id.size(), 4u + 17u);
    EXPECT_TRUE(std::regex_match(id, re)) << id;
  }
  EXPECT_TRUE(std::regex_match(Ec2Id("subnet"), std::regex("subnet-[0-9a-f]{17}")));
  EXPECT_TRUE(std::regex_match(Ec2Id("sg"), std::regex("sg-[0-9a-f]{17}")));
  EXPECT_TRUE(std::regex_match(Ec2Id("eni"), std::regex("eni-[0-9a-f]{17}")));
}

TEST(Ids, Uuid4HasVersionAndVariantBits) {
  const std::regex re("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<char> variants;
  for (int i = 0; i < 1000; ++i) {
    std::string u = Uuid4();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_TRUE(std::regex_match(u, re)) << u;
    EXPECT_EQ(u[14], '4');
    variants.insert(u[19]);
  }
  // All four RFC 4122 variant digits occur: the low bits are still random.
  EXPECT_EQ(variants, (std::set<char>{'8', '9', 'a', 'b'}));
}

TEST(Ids, RandomMacIsLocallyAdministeredUnicast) {
  const std::regex re("02(:[0-9a-f]{2}){5}");
  for (int i = 0; i < 100; ++i) {
    std::string mac = RandomMac();
    EXPECT_EQ(mac.size(), 17u);
    EXPECT_TRUE(mac.starts_with("02:")) << mac;
    EXPECT_TRUE(std::regex_match(mac, re)) << mac;
  }
}

TEST(Ids, TaskIdStringIs32LowercaseHex) {
  for (int i = 0; i < 100; ++i) {
    std::string id = TaskIdString();
    EXPECT_EQ(id.size(), 32u);
    EXPECT_TRUE(IsLowerHex(id)) << id;
  }
}

TEST(Ids, DrawsAreUnique) {
  std::set<std::string> ec2, uuids, macs, tasks;
  std::set<uint64_t> u64s;
  for (int i = 0; i < kDraws; ++i) {
    ec2.insert(Ec2Id("eni"));
    uuids.insert(Uuid4());
    if (i < 1000) macs.insert(RandomMac());
    tasks.insert(TaskIdString());
    u64s.insert(RandomU64());
  }
  EXPECT_EQ(ec2.size(), static_cast<size_t>(kDraws));
  EXPECT_EQ(uuids.size(), static_cast<size_t>(kDraws));
  // Only 40 random bits: 1000 draws collide with probability ~5e-7.
  EXPECT_EQ(macs.size(), 1000u);
  EXPECT_EQ(tasks.size(), static_cast<size_t>(kDraws));
  EXPECT_EQ(u64s.size(), static_cast<size_t>(kDraws));
}

}  // namespace
}  // namespace kecs
