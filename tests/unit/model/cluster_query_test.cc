#include "model/cluster_query.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

namespace kecs::model {
namespace {

using Attrs = std::map<std::string, std::string>;

ClusterQuery::Lookup From(const Attrs& attrs) {
  return [attrs](const std::string& subject) -> std::vector<std::string> {
    auto it = attrs.find(subject);
    if (it == attrs.end()) return {};
    return {it->second};
  };
}

// Parses `expr` (which must be valid) and evaluates it against `attrs`.
bool Eval(const std::string& expr, const Attrs& attrs) {
  auto q = ClusterQuery::Parse(expr);
  EXPECT_TRUE(q.ok()) << expr << ": " << q.status().ToString();
  if (!q.ok()) return false;
  return q->Matches(From(attrs));
}

const Attrs kT2Small = {{"attribute:ecs.instance-type", "t2.small"},
                        {"attribute:ecs.availability-zone", "us-east-1a"},
                        {"attribute:ecs.os-type", "linux"},
                        {"ec2InstanceId", "i-0123"},
                        {"runningTasksCount", "3"}};

TEST(ClusterQuery, EqualsMatchesExactValue) {
  EXPECT_TRUE(Eval("attribute:ecs.instance-type == t2.small", kT2Small));
  EXPECT_FALSE(Eval("attribute:ecs.instance-type == t2.medium", kT2Small));
  EXPECT_FALSE(Eval("attribute:ecs.instance-type == t2.smal", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.instance-type==t2.small", kT2Small));
}

TEST(ClusterQuery, EqualsIsFalseForAMissingAttribute) {
  EXPECT_FALSE(Eval("attribute:stack == prod", kT2Small));
}

TEST(ClusterQuery, NotEqualsIsTrueForOtherValuesAndMissingAttributes) {
  EXPECT_TRUE(Eval("attribute:ecs.instance-type != t2.medium", kT2Small));
  EXPECT_FALSE(Eval("attribute:ecs.instance-type != t2.small", kT2Small));
  EXPECT_TRUE(Eval("attribute:stack != prod", kT2Small));
}

TEST(ClusterQuery, WildcardMatchOperator) {
  EXPECT_TRUE(Eval("attribute:ecs.instance-type =~ t2.*", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.instance-type =~ *.small", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.instance-type =~ t*s*", kT2Small));
  EXPECT_FALSE(Eval("attribute:ecs.instance-type =~ m5.*", kT2Small));
  EXPECT_FALSE(Eval("attribute:stack =~ *", kT2Small));
}

TEST(ClusterQuery, WildcardNotMatchOperator) {
  EXPECT_FALSE(Eval("attribute:ecs.instance-type !~ t2.*", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.instance-type !~ m5.*", kT2Small));
  EXPECT_TRUE(Eval("attribute:stack !~ prod*", kT2Small));
}

TEST(ClusterQuery, InMatchesAnyListedValue) {
  EXPECT_TRUE(Eval("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.availability-zone in [us-east-1b,us-east-1a]", kT2Small));
  EXPECT_FALSE(Eval("attribute:ecs.availability-zone in [us-east-1b, us-east-1c]", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.availability-zone in [us-east-1a]", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.instance-type in [m5.*, t2.*]", kT2Small));
}

TEST(ClusterQuery, InIsFalseForAMissingAttribute) {
  EXPECT_FALSE(Eval("attribute:stack in [prod, dev]", kT2Small));
}

TEST(ClusterQuery, NotInExcludesListedValues) {
  EXPECT_FALSE(Eval("attribute:ecs.availability-zone not in [us-east-1a, us-east-1b]", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.availability-zone not in [us-east-1b, us-east-1c]", kT2Small));
  EXPECT_TRUE(Eval("attribute:stack not in [prod]", kT2Small));
}

TEST(ClusterQuery, QuotedValues) {
  EXPECT_TRUE(Eval("ec2InstanceId in ['i-0123', 'i-4567']", kT2Small));
  EXPECT_TRUE(Eval("ec2InstanceId == \"i-0123\"", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.instance-type == 't2.small'", kT2Small));
  // Quotes keep characters that would otherwise end a word.
  Attrs a = {{"attribute:note", "a b,c=d"}};
  EXPECT_TRUE(Eval("attribute:note == 'a b,c=d'", a));
  EXPECT_TRUE(Eval("attribute:note in [\"x\", 'a b,c=d']", a));
}

TEST(ClusterQuery, ExistsAndNotExists) {
  Attrs a = {{"attribute:stack", "prod"}, {"attribute:empty", ""}};
  EXPECT_TRUE(Eval("attribute:stack exists", a));
  EXPECT_FALSE(Eval("attribute:other exists", a));
  EXPECT_TRUE(Eval("attribute:empty exists", a));
  EXPECT_FALSE(Eval("attribute:stack !exists", a));
  EXPECT_TRUE(Eval("attribute:other !exists", a));
}

TEST(ClusterQuery, NumericComparisonsCompareAsNumbers) {
  Attrs ten = {{"runningTasksCount", "10"}};
  // As strings "10" < "2"; as numbers it is greater.
  EXPECT_TRUE(Eval("runningTasksCount > 2", ten));
  EXPECT_TRUE(Eval("runningTasksCount >= 10", ten));
  EXPECT_FALSE(Eval("runningTasksCount > 10", ten));
  EXPECT_TRUE(Eval("runningTasksCount < 11", ten));
  EXPECT_TRUE(Eval("runningTasksCount <= 10", ten));
  EXPECT_FALSE(Eval("runningTasksCount < 9", ten));
  EXPECT_TRUE(Eval("runningTasksCount>2", ten));
  EXPECT_TRUE(Eval("runningTasksCount > 2.5", ten));
}

TEST(ClusterQuery, OrderingOfNonNumbersIsLexicographic) {
  Attrs a = {{"attribute:v", "beta"}};
  EXPECT_TRUE(Eval("attribute:v > alpha", a));
  EXPECT_FALSE(Eval("attribute:v < alpha", a));
  EXPECT_TRUE(Eval("attribute:v >= beta", a));
  EXPECT_TRUE(Eval("attribute:v <= beta", a));
}

TEST(ClusterQuery, OrderingIsFalseForAMissingAttribute) {
  EXPECT_FALSE(Eval("runningTasksCount > 2", {}));
  EXPECT_FALSE(Eval("runningTasksCount < 2", {}));
}

TEST(ClusterQuery, AndRequiresBoth) {
  EXPECT_TRUE(Eval("attribute:ecs.instance-type =~ t2.* and attribute:ecs.os-type == linux", kT2Small));
  EXPECT_FALSE(Eval("attribute:ecs.instance-type =~ t2.* and attribute:ecs.os-type == windows", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.os-type == linux && runningTasksCount > 2", kT2Small));
}

TEST(ClusterQuery, OrRequiresEither) {
  EXPECT_TRUE(Eval("ec2InstanceId in ['i-9999'] or runningTasksCount > 2", kT2Small));
  EXPECT_FALSE(Eval("ec2InstanceId in ['i-9999'] or runningTasksCount > 5", kT2Small));
  EXPECT_TRUE(Eval("ec2InstanceId == i-0123 || runningTasksCount > 5", kT2Small));
}

TEST(ClusterQuery, NotNegatesAParenthesisedExpression) {
  EXPECT_TRUE(Eval("not(attribute:ecs.os-type == windows)", kT2Small));
  EXPECT_FALSE(Eval("not(attribute:ecs.os-type == linux)", kT2Small));
  EXPECT_TRUE(Eval("not (attribute:ecs.os-type == windows)", kT2Small));
  EXPECT_TRUE(Eval("attribute:ecs.instance-type =~ t2.*  and  not(attribute:ecs.os-type == windows)",
                   kT2Small));
  EXPECT_FALSE(Eval("not(not(attribute:ecs.os-type == windows))", kT2Small));
}

TEST(ClusterQuery, AndBindsTighterThanOr) {
  Attrs a = {{"a", "1"}, {"b", "0"}, {"c", "0"}};
  // a==1 or (b==1 and c==1)  -> true; (a==1 or b==1) and c==1 -> false.
  EXPECT_TRUE(Eval("a == 1 or b == 1 and c == 1", a));
  EXPECT_FALSE(Eval("(a == 1 or b == 1) and c == 1", a));
  EXPECT_FALSE(Eval("b == 1 and c == 1 or b == 1", a));
}

TEST(ClusterQuery, ParenthesesGroup) {
  Attrs a = {{"a", "1"}, {"b", "2"}};
  EXPECT_TRUE(Eval("(a == 1)", a));
  EXPECT_TRUE(Eval("((a == 1) and (b == 2))", a));
  EXPECT_TRUE(Eval("(a == 9 or b == 2) and (a == 1)", a));
  EXPECT_FALSE(Eval("(a == 9 or b == 9) and (a == 1)", a));
}

TEST(ClusterQuery, KeywordsNeedAWordBoundary) {
  // A subject that merely starts with a keyword is a subject.
  Attrs a = {{"notes", "x"}, {"order", "y"}, {"android", "z"}};
  EXPECT_TRUE(Eval("notes == x", a));
  EXPECT_TRUE(Eval("order == y and android == z", a));
  EXPECT_TRUE(Eval("notes == q or order == y", a));
}

TEST(ClusterQuery, TaskGroupSubject) {
  Attrs a = {{"task:group", "service:web"}};
  EXPECT_TRUE(Eval("task:group == service:web", a));
  EXPECT_FALSE(Eval("not(task:group == service:web)", a));
}

TEST(ClusterQuery, OneParseEvaluatesAgainstManyInstances) {
  auto q = ClusterQuery::Parse("attribute:ecs.instance-type =~ t2.*");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->Matches(From({{"attribute:ecs.instance-type", "t2.micro"}})));
  EXPECT_FALSE(q->Matches(From({{"attribute:ecs.instance-type", "m5.large"}})));
  EXPECT_FALSE(q->Matches(From({})));
}

TEST(ClusterQuery, MalformedExpressionsAreInvalidArgument) {
  for (const char* bad : {
           "",
           "   ",
           "attribute:x",                 // no operator
           "attribute:x ==",              // no value
           "attribute:x === y",           // '=' cannot start a value
           "attribute:x == a b",          // trailing text
           "attribute:x in a",            // no '['
           "attribute:x in [a, b",        // no ']'
           "attribute:x in [a b]",        // no ','
           "attribute:x not [a]",         // 'not' without 'in'
           "attribute:x ~= a",            // unknown operator
           "(attribute:x == a",           // unbalanced
           "attribute:x == a)",           // unbalanced
           "not(attribute:x == a",        // unbalanced
           "attribute:x == a and",        // dangling and
           "or attribute:x == a",         // leading or
           "== a",                        // no subject
       }) {
    auto q = ClusterQuery::Parse(bad);
    EXPECT_FALSE(q.ok()) << "'" << bad << "' parsed";
    if (!q.ok()) {
      EXPECT_EQ(q.status().code(), Code::kInvalidArgument) << bad;
      EXPECT_TRUE(q.status().message().starts_with("invalid cluster query expression (")) << bad;
    }
  }
}

TEST(ClusterQuery, ParseErrorNamesTheProblemAndPosition) {
  auto q = ClusterQuery::Parse("attribute:x == a b");
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(), "invalid cluster query expression (unexpected text at position 17)");
  auto r = ClusterQuery::Parse("attribute:x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid cluster query expression (expected an operator at position 11)");
}

TEST(WildcardMatch, StarMatchesAnyRun) {
  EXPECT_TRUE(WildcardMatch("t2.*", "t2.small"));
  EXPECT_TRUE(WildcardMatch("t2.*", "t2."));
  EXPECT_TRUE(WildcardMatch("*", ""));
  EXPECT_TRUE(WildcardMatch("*", "anything"));
  EXPECT_TRUE(WildcardMatch("**", "x"));
  EXPECT_TRUE(WildcardMatch("*.small", "t2.small"));
  EXPECT_TRUE(WildcardMatch("a*b*c", "aXXbYYc"));
  EXPECT_TRUE(WildcardMatch("a*b*c", "abc"));
  EXPECT_TRUE(WildcardMatch("*ab", "aab"));  // needs backtracking
  EXPECT_TRUE(WildcardMatch("a*a*a", "aaaa"));
}

TEST(WildcardMatch, WithoutStarIsExactMatch) {
  EXPECT_TRUE(WildcardMatch("", ""));
  EXPECT_TRUE(WildcardMatch("abc", "abc"));
  EXPECT_FALSE(WildcardMatch("abc", "abcd"));
  EXPECT_FALSE(WildcardMatch("abcd", "abc"));
  EXPECT_FALSE(WildcardMatch("", "a"));
  EXPECT_FALSE(WildcardMatch("a", ""));
  EXPECT_FALSE(WildcardMatch("ABC", "abc"));  // case-sensitive
}

TEST(WildcardMatch, RejectsNonMatches) {
  EXPECT_FALSE(WildcardMatch("t2.*", "m5.large"));
  EXPECT_FALSE(WildcardMatch("*.small", "t2.smaller"));
  EXPECT_FALSE(WildcardMatch("a*b*c", "aXXbYY"));
  EXPECT_FALSE(WildcardMatch("a*", "ba"));
}

TEST(WildcardMatch, StarInPatternStillMatchesALiteralStarInTheSubject) {
  // BUG: WildcardMatch (src/model/cluster_query.cc) tries a literal character match before
  // treating '*' as a wildcard, so a pattern '*' facing a subject '*' is consumed as a
  // literal and no backtrack point is recorded: WildcardMatch("a*c", "a*bc") and
  // WildcardMatch("*b", "*ab") return false instead of true.
  // A '*' in the subject where the pattern has '*' must not stop the star acting as a
  // wildcard: "a*c" matches every string that starts with a and ends with c.
  EXPECT_TRUE(WildcardMatch("a*", "a*"));
  EXPECT_TRUE(WildcardMatch("a*c", "a*bc"));
  EXPECT_TRUE(WildcardMatch("*b", "*ab"));
}

}  // namespace
}  // namespace kecs::model
