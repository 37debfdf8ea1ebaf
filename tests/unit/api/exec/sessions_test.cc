#include "api/exec/sessions.h"

#include <gtest/gtest.h>

namespace kecs::api::exec {
namespace {

ExecTarget Target() {
  ExecTarget t;
  t.task.task_id = "0123456789abcdef0123456789abcdef";
  t.container = "app";
  t.argv = {"sh"};
  return t;
}

TEST(ExecSessions, RedeemsOnceWithTheRightToken) {
  ExecSessions s;
  IssuedSession i = s.Issue(Target());
  EXPECT_TRUE(i.session_id.starts_with("ecs-execute-command-"));
  EXPECT_EQ(i.token.size(), 64u);
  auto t = s.Redeem(i.session_id, i.token);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->container, "app");
  EXPECT_EQ(s.Redeem(i.session_id, i.token).status().code(), Code::kNotFound);
}

TEST(ExecSessions, RefusesAWrongTokenWithoutSpendingTheSession) {
  ExecSessions s;
  IssuedSession i = s.Issue(Target());
  EXPECT_EQ(s.Redeem(i.session_id, "nope").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(s.Redeem(i.session_id, "").status().code(), Code::kPermissionDenied);
  EXPECT_TRUE(s.Redeem(i.session_id, i.token).ok());
}

TEST(ExecSessions, TokensOfOneSessionDoNotOpenAnother) {
  ExecSessions s;
  IssuedSession a = s.Issue(Target());
  IssuedSession b = s.Issue(Target());
  EXPECT_NE(a.token, b.token);
  EXPECT_NE(a.session_id, b.session_id);
  EXPECT_EQ(s.Redeem(b.session_id, a.token).status().code(), Code::kPermissionDenied);
}

TEST(ExecSessions, ExpireAfterTheirTtl) {
  auto now = std::chrono::steady_clock::time_point{};
  ExecSessions s(std::chrono::seconds(60), [&now] { return now; });
  IssuedSession i = s.Issue(Target());
  EXPECT_EQ(s.Pending(), 1u);
  now += std::chrono::seconds(60);
  EXPECT_EQ(s.Pending(), 0u);
  EXPECT_EQ(s.Redeem(i.session_id, i.token).status().code(), Code::kNotFound);
}

TEST(ExecSessions, KeepAtMostTheMaximumPendingDroppingTheFirstIssued) {
  auto now = std::chrono::steady_clock::time_point{};
  ExecSessions s(std::chrono::seconds(60), [&now] { return now; });
  IssuedSession first = s.Issue(Target());
  for (size_t i = 1; i < kMaxPendingSessions; ++i) {
    now += std::chrono::milliseconds(1);
    s.Issue(Target());
  }
  EXPECT_EQ(s.Pending(), kMaxPendingSessions);
  now += std::chrono::milliseconds(1);
  IssuedSession last = s.Issue(Target());
  EXPECT_EQ(s.Pending(), kMaxPendingSessions);
  EXPECT_EQ(s.Redeem(first.session_id, first.token).status().code(), Code::kNotFound);
  EXPECT_TRUE(s.Redeem(last.session_id, last.token).ok());
}

TEST(SplitCommand, SplitsLikeAShellWithoutExpanding) {
  auto w = SplitCommand("sh -c 'echo hi; exit 3'");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (std::vector<std::string>{"sh", "-c", "echo hi; exit 3"}));
  w = SplitCommand("  echo \"a \\\"b\\\" $HOME\"  c\\ d ''");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (std::vector<std::string>{"echo", "a \"b\" $HOME", "c d", ""}));
  w = SplitCommand("/bin/sh");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (std::vector<std::string>{"/bin/sh"}));
}

TEST(SplitCommand, RefusesUnterminatedQuotesAndEmptyCommands) {
  EXPECT_FALSE(SplitCommand("sh -c 'echo").ok());
  EXPECT_FALSE(SplitCommand("echo \"a").ok());
  EXPECT_FALSE(SplitCommand("   ").ok());
  EXPECT_FALSE(SplitCommand("").ok());
}

}  // namespace
}  // namespace kecs::api::exec
