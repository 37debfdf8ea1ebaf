// CloudWatch Logs filter patterns: the term and JSON syntaxes and AWS's refusals.
#include "api/logs/filter_pattern.h"

#include <gtest/gtest.h>

#include "api/errors.h"

namespace kecs::api::logs {
namespace {

bool M(const char* pattern, const char* message) { return Pattern::Parse(pattern).Matches(message); }

std::string ErrorOf(const char* pattern) {
  try {
    Pattern::Parse(pattern);
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code(), "InvalidParameterException");
    return e.message();
  }
  return "";
}

TEST(LogsFilterPatternTest, EmptyMatchesEverything) {
  EXPECT_TRUE(M("", "anything"));
  EXPECT_TRUE(M("   ", ""));
  EXPECT_TRUE(Pattern::Parse("").match_all());
}

TEST(LogsFilterPatternTest, TermsAreAndedAndCaseSensitive) {
  EXPECT_TRUE(M("ERROR", "2024 ERROR disk full"));
  EXPECT_FALSE(M("ERROR", "2024 error disk full"));
  EXPECT_TRUE(M("ERROR disk", "ERROR: the disk is full"));
  EXPECT_FALSE(M("ERROR network", "ERROR: the disk is full"));
  EXPECT_EQ(Pattern::Parse("ERROR disk").required(), (std::vector<std::string>{"ERROR", "disk"}));
}

TEST(LogsFilterPatternTest, QuotedPhrases) {
  EXPECT_TRUE(M("\"disk full\"", "ERROR disk full now"));
  EXPECT_FALSE(M("\"disk full\"", "full disk"));
  EXPECT_TRUE(M("\"a \\\"q\\\" b\"", "x a \"q\" b y"));
  EXPECT_TRUE(M("\"user@example.com\"", "login user@example.com"));
}

TEST(LogsFilterPatternTest, OrTerms) {
  EXPECT_TRUE(M("?ERROR ?WARN", "WARN low"));
  EXPECT_TRUE(M("?ERROR ?WARN", "ERROR high"));
  EXPECT_FALSE(M("?ERROR ?WARN", "INFO fine"));
}

TEST(LogsFilterPatternTest, Exclusions) {
  EXPECT_TRUE(M("ERROR -Timeout", "ERROR disk"));
  EXPECT_FALSE(M("ERROR -Timeout", "ERROR Timeout on call"));
  EXPECT_FALSE(M("ERROR -\"read timeout\"", "ERROR read timeout"));
}

TEST(LogsFilterPatternTest, InvalidTerms) {
  EXPECT_EQ(ErrorOf("user@example.com"), "Invalid character(s) in term 'user@example.com'");
  EXPECT_EQ(ErrorOf("\"\""), "Invalid character(s) in term '\"\"'");
  EXPECT_EQ(ErrorOf("\"open"), "Invalid character(s) in term '\"open'");
  EXPECT_EQ(ErrorOf("{ $.a = 1"), "If a filter pattern starts with '{' it must end with '}'");
  EXPECT_NE(ErrorOf("[ip, user]"), "");
}

TEST(LogsFilterPatternTest, JsonEqualityAndWildcards) {
  const char* msg = R"({"eventType":"UpdateTrail","user":{"name":"alice"},"n":7,"ok":true,"gone":null,"a":[1,{"b":"x"}]})";
  EXPECT_TRUE(M(R"({ $.eventType = "UpdateTrail" })", msg));
  EXPECT_FALSE(M(R"({ $.eventType = "Other" })", msg));
  EXPECT_TRUE(M(R"({ $.eventType = "Update*" })", msg));
  EXPECT_TRUE(M(R"({ $.eventType != "Other" })", msg));
  EXPECT_TRUE(M(R"({ $.user.name = "alice" })", msg));
  EXPECT_TRUE(M(R"({ $.user.name = alice })", msg));
  EXPECT_TRUE(M(R"({ $.a[1].b = "x" })", msg));
  EXPECT_TRUE(M(R"({ $.a[*].b = "x" })", msg));
  EXPECT_FALSE(M(R"({ $.missing = "x" })", msg));
  EXPECT_FALSE(M(R"({ $.eventType = "UpdateTrail" })", "not json at all"));
}

TEST(LogsFilterPatternTest, JsonNumbersAndLogic) {
  const char* msg = R"({"n":7,"level":"ERROR","code":500})";
  EXPECT_TRUE(M("{ $.n > 5 }", msg));
  EXPECT_FALSE(M("{ $.n > 7 }", msg));
  EXPECT_TRUE(M("{ $.n >= 7 }", msg));
  EXPECT_TRUE(M("{ $.n = 7 }", msg));
  EXPECT_TRUE(M("{ $.n != 8 }", msg));
  EXPECT_TRUE(M("{ $.n < 7.5 }", msg));
  EXPECT_TRUE(M(R"({ $.n > 5 && $.level = "ERROR" })", msg));
  EXPECT_FALSE(M(R"({ $.n > 50 && $.level = "ERROR" })", msg));
  EXPECT_TRUE(M(R"({ $.n > 50 || $.level = "ERROR" })", msg));
  EXPECT_TRUE(M(R"({ ($.n > 50 || $.code = 500) && $.level = "ERR*" })", msg));
  EXPECT_FALSE(M("{ $.level > 5 }", msg));
}

TEST(LogsFilterPatternTest, JsonNullExistsAndBooleans) {
  const char* msg = R"({"gone":null,"ok":true,"bad":false})";
  EXPECT_TRUE(M("{ $.gone IS NULL }", msg));
  EXPECT_FALSE(M("{ $.ok IS NULL }", msg));
  EXPECT_TRUE(M("{ $.nothere NOT EXISTS }", msg));
  EXPECT_FALSE(M("{ $.gone NOT EXISTS }", msg));
  EXPECT_TRUE(M("{ $.ok IS TRUE }", msg));
  EXPECT_TRUE(M("{ $.bad IS FALSE }", msg));
  EXPECT_FALSE(M("{ $.bad IS TRUE }", msg));
}

TEST(LogsFilterPatternTest, InvalidJsonPatterns) {
  EXPECT_EQ(ErrorOf("{ }"), "Invalid filter pattern");
  EXPECT_EQ(ErrorOf("{ eventType = 1 }"), "Invalid filter pattern");
  EXPECT_EQ(ErrorOf("{ $.a = }"), "Invalid filter pattern");
  EXPECT_EQ(ErrorOf("{ $.a > \"x\" }"), "Invalid filter pattern");
  EXPECT_EQ(ErrorOf("{ ($.a = 1 }"), "Invalid filter pattern");
  EXPECT_EQ(ErrorOf("{ $.a = 1 && }"), "Invalid filter pattern");
  EXPECT_EQ(ErrorOf("{ $.a IS MAYBE }"), "Invalid filter pattern");
}

}  // namespace
}  // namespace kecs::api::logs
