#include <gtest/gtest.h>

#include <string>

#include "api/ec2/ec2_api.h"

namespace kecs::api::ec2 {
namespace {

bool NameMatches(const std::string& pattern, const std::string& name) {
  Json filters = Json::array({{{"Name", "name"}, {"Values", Json::array({pattern})}}});
  return MatchFilters(filters, {{"Name", name}}, {{"name", Field("Name")}});
}

TEST(MatchFilters, WildcardsMatchAsEc2Documents) {
  EXPECT_TRUE(NameMatches("web", "web"));
  EXPECT_FALSE(NameMatches("web", "web2"));
  EXPECT_TRUE(NameMatches("w*", "web"));
  EXPECT_TRUE(NameMatches("*", ""));
  EXPECT_TRUE(NameMatches("*b*", "web"));
  EXPECT_TRUE(NameMatches("w?b", "web"));
  EXPECT_FALSE(NameMatches("w?b", "wb"));
  EXPECT_TRUE(NameMatches("a*b*c", "a-x-b-y-c"));
  EXPECT_FALSE(NameMatches("a*b*c", "a-x-c-y-b"));
  EXPECT_TRUE(NameMatches("\\*", "*"));
  EXPECT_FALSE(NameMatches("\\*", "x"));
  EXPECT_TRUE(NameMatches("1.0", "1.0"));
  EXPECT_FALSE(NameMatches("1.0", "100"));  // no regex meaning for '.'
}

// Client patterns that would not compile as regexes, or that a recursive matcher could
// not take, are just patterns.
TEST(MatchFilters, HostilePatternsNeitherThrowNorRecurse) {
  EXPECT_FALSE(NameMatches("x\\", "web"));
  EXPECT_TRUE(NameMatches("(", "("));
  EXPECT_TRUE(NameMatches("[a-", "[a-"));
  std::string huge(200000, '*');
  EXPECT_TRUE(NameMatches(huge, std::string(200000, 'a')));
  EXPECT_FALSE(NameMatches(std::string(100000, '?') + "b", std::string(100000, 'a')));
}

}  // namespace
}  // namespace kecs::api::ec2
