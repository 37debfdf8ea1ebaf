// Health checks in the local runtime without root: the files the daemon and the shim share
// (health.conf, health), Docker's rule for a check's verdict, the daemon's mapping of a
// container's process into the shim's configuration, and the state it reports.
#include "runtime/local/health.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include "runtime/local/containers.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::local {
namespace {

using health::Config;
using health::State;

Config SampleConfig() {
  Config c;
  c.argv = {"/bin/sh", "-c", "test -f /tmp/ok || exit 1"};
  c.interval_ms = 5000;
  c.timeout_ms = 2000;
  c.start_period_ms = 10000;
  c.retries = 2;
  c.uid = 1000;
  c.gid = 2000;
  c.groups = {10, 20};
  c.env = {"PATH=/bin", "MULTI=line one\nline two\\end", "EMPTY="};
  c.cwd = "/srv/app dir";
  c.cap_bounding = 0xa80425fb;
  c.cap_effective = 0xa80425fb;
  c.cap_permitted = 0xa80425fb;
  c.cap_inheritable = 0;
  c.cap_ambient = 1;
  c.no_new_privs = true;
  c.rlimits = {{RLIMIT_NOFILE, 1024, 4096}};
  return c;
}

TEST(HealthFiles, ConfigRoundTripsEveryMemberAndAnyByteInValues) {
  Config c = SampleConfig();
  std::string text = health::EncodeConfig(c);
  // One line per value: the newline inside the environment variable is escaped.
  EXPECT_NE(text.find("env MULTI=line one\\nline two\\\\end\n"), std::string::npos) << text;
  auto back = health::DecodeConfig(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, c);
}

TEST(HealthFiles, ConfigWithoutCommandOrWithBadNumbersIsRefused) {
  EXPECT_FALSE(health::DecodeConfig("").has_value());
  EXPECT_FALSE(health::DecodeConfig("interval_ms 5000\n").has_value());
  EXPECT_FALSE(health::DecodeConfig("arg true\ninterval_ms five\n").has_value());
  EXPECT_FALSE(health::DecodeConfig("arg true\nretries 0\n").has_value());
  EXPECT_FALSE(health::DecodeConfig("arg true\nrlimit 7 1024\n").has_value());
  // Unknown keys (a newer daemon's) are skipped; defaults fill the rest.
  auto c = health::DecodeConfig("arg true\nsomething new\n");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->argv, std::vector<std::string>{"true"});
  EXPECT_EQ(c->cwd, "/");
  EXPECT_EQ(c->interval_ms, 30000);
  EXPECT_EQ(c->retries, 3);
}

TEST(HealthFiles, StateRoundTripsWithMultiLineOutput) {
  State s;
  s.status = health::Status::kUnhealthy;
  s.failing_streak = 4;
  s.exit_code = -1;
  s.output = "line 1\nline 2\r\n\\ done";
  s.changed_at = 1767225600.125;
  s.checked_at = 1767225605.5;
  auto back = health::DecodeState(health::EncodeState(s));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, s);
  State fresh;
  back = health::DecodeState(health::EncodeState(fresh));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->status, health::Status::kStarting);
  EXPECT_FALSE(back->exit_code.has_value());
}

TEST(HealthFiles, StateWithoutStatusOrWithUnknownStatusIsRefused) {
  EXPECT_FALSE(health::DecodeState("").has_value());
  EXPECT_FALSE(health::DecodeState("failing_streak 1\n").has_value());
  EXPECT_FALSE(health::DecodeState("status sick\n").has_value());
  EXPECT_FALSE(health::DecodeState("status healthy\nexit_code x\n").has_value());
}

health::Result Check(int code, double started, std::string out = "") {
  return {code, std::move(out), started, started + 0.01};
}

TEST(HealthRule, SuccessMakesHealthyAndResetsTheStreak) {
  Config c = SampleConfig();
  c.start_period_ms = 0;
  c.retries = 3;
  State s;
  health::Apply(s, Check(1, 100), 90, c);
  EXPECT_EQ(s.status, health::Status::kStarting);
  EXPECT_EQ(s.failing_streak, 1);
  health::Apply(s, Check(0, 105, "ok\n"), 90, c);
  EXPECT_EQ(s.status, health::Status::kHealthy);
  EXPECT_EQ(s.failing_streak, 0);
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_EQ(s.output, "ok\n");
  EXPECT_DOUBLE_EQ(s.changed_at, 105.01);
}

TEST(HealthRule, RetriesFailuresInARowMakeUnhealthy) {
  Config c = SampleConfig();
  c.start_period_ms = 0;
  c.retries = 3;
  State s;
  health::Apply(s, Check(0, 100), 90, c);
  ASSERT_EQ(s.status, health::Status::kHealthy);
  health::Apply(s, Check(1, 105), 90, c);
  health::Apply(s, Check(2, 110), 90, c);
  EXPECT_EQ(s.status, health::Status::kHealthy) << "two failures of three";
  EXPECT_DOUBLE_EQ(s.changed_at, 100.01) << "unchanged status keeps its time";
  health::Apply(s, Check(-1, 115, "Health check exceeded timeout (2s)"), 90, c);
  EXPECT_EQ(s.status, health::Status::kUnhealthy);
  EXPECT_EQ(s.failing_streak, 3);
  EXPECT_EQ(s.exit_code, -1);
  EXPECT_DOUBLE_EQ(s.changed_at, 115.01);
  // A success brings it back, as Docker does.
  health::Apply(s, Check(0, 120), 90, c);
  EXPECT_EQ(s.status, health::Status::kHealthy);
}

TEST(HealthRule, FailuresDuringTheStartPeriodDoNotCountButASuccessDoes) {
  Config c = SampleConfig();
  c.start_period_ms = 30000;
  c.retries = 1;
  State s;
  // Started at 100: checks beginning before 130 are within the start period.
  health::Apply(s, Check(1, 105), 100, c);
  health::Apply(s, Check(1, 125), 100, c);
  EXPECT_EQ(s.status, health::Status::kStarting);
  EXPECT_EQ(s.failing_streak, 0);
  EXPECT_EQ(s.exit_code, 1);
  health::Apply(s, Check(1, 131), 100, c);
  EXPECT_EQ(s.status, health::Status::kUnhealthy) << "after the start period one failure (retries 1) counts";

  State t;
  health::Apply(t, Check(0, 105), 100, c);
  EXPECT_EQ(t.status, health::Status::kHealthy) << "a success within the start period counts";
  health::Apply(t, Check(1, 110), 100, c);
  EXPECT_EQ(t.status, health::Status::kUnhealthy) << "once healthy, the start period no longer shields failures";
}

TEST(HealthRule, OutputKeepsDockersFirst4096Bytes) {
  Config c = SampleConfig();
  State s;
  health::Apply(s, Check(1, 100, std::string(5000, 'x')), 0, c);
  EXPECT_EQ(s.output.size(), health::kMaxOutput);
}

TEST(HealthRule, TimeoutsAreWrittenAsGoDurations) {
  EXPECT_EQ(health::GoDuration(5000), "5s");
  EXPECT_EQ(health::GoDuration(60000), "1m0s");
  EXPECT_EQ(health::GoDuration(90000), "1m30s");
  EXPECT_EQ(health::GoDuration(1500), "1.5s");
  EXPECT_EQ(health::GoDuration(3600000), "1h0m0s");
}

model::oci::Process SampleProcess() {
  model::oci::Process p;
  p.args = {"httpd", "-f"};
  p.env = {"PATH=/usr/bin:/bin", "HOSTNAME=ip-10-0-1-5"};
  p.cwd = "/www";
  p.user = model::oci::User{1000, 2000, {3000}};
  p.capabilities.bounding = p.capabilities.effective = p.capabilities.permitted =
      std::vector<std::string>{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"};
  p.rlimits = {{"RLIMIT_NOFILE", 1024, 4096}, {"RLIMIT_BOGUS", 1, 1}};
  return p;
}

TEST(HealthConfigFor, CmdShellRunsTheRestWithBinShAndTheContainersIdentity) {
  model::HealthCheck check;
  check.command = {"CMD-SHELL", "wget -qO- http://localhost/ || exit 1"};
  check.interval_s = 5;
  check.timeout_s = 2;
  check.retries = 4;
  check.start_period_s = 60;
  auto c = HealthConfigFor(check, SampleProcess());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->argv, (std::vector<std::string>{"/bin/sh", "-c", "wget -qO- http://localhost/ || exit 1"}));
  EXPECT_EQ(c->interval_ms, 5000);
  EXPECT_EQ(c->timeout_ms, 2000);
  EXPECT_EQ(c->retries, 4);
  EXPECT_EQ(c->start_period_ms, 60000);
  EXPECT_EQ(c->uid, 1000u);
  EXPECT_EQ(c->gid, 2000u);
  EXPECT_EQ(c->groups, std::vector<uint32_t>{3000});
  EXPECT_EQ(c->env, SampleProcess().env);
  EXPECT_EQ(c->cwd, "/www");
  uint64_t want = (uint64_t{1} << 0) | (uint64_t{1} << 10) | (uint64_t{1} << 5);
  EXPECT_EQ(c->cap_bounding, want);
  EXPECT_EQ(c->cap_effective, want);
  EXPECT_EQ(c->cap_permitted, want);
  EXPECT_EQ(c->cap_inheritable, 0u);
  ASSERT_EQ(c->rlimits.size(), 1u) << "unknown rlimit types are skipped";
  EXPECT_EQ(c->rlimits[0], (health::Rlimit{RLIMIT_NOFILE, 1024, 4096}));
}

TEST(HealthConfigFor, CmdExecsTheRestAndNoneOrUnknownRunsNothing) {
  model::HealthCheck check;
  check.command = {"CMD", "/bin/test", "-f", "/tmp/ok"};
  auto c = HealthConfigFor(check, SampleProcess());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->argv, (std::vector<std::string>{"/bin/test", "-f", "/tmp/ok"}));
  EXPECT_EQ(c->interval_ms, 30000) << "AWS's defaults";
  EXPECT_EQ(c->timeout_ms, 5000);
  EXPECT_EQ(c->retries, 3);
  check.command = {"NONE"};
  EXPECT_FALSE(HealthConfigFor(check, SampleProcess()).has_value());
  check.command = {"CMD"};
  EXPECT_FALSE(HealthConfigFor(check, SampleProcess()).has_value());
  check.command = {"SHELL", "true"};
  EXPECT_FALSE(HealthConfigFor(check, SampleProcess()).has_value());
}

TEST(CapabilityNumber, KnowsLinuxNumbersWithOrWithoutPrefix) {
  EXPECT_EQ(CapabilityNumber("CAP_CHOWN"), 0);
  EXPECT_EQ(CapabilityNumber("NET_ADMIN"), 12);
  EXPECT_EQ(CapabilityNumber("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(CapabilityNumber("CAP_CHECKPOINT_RESTORE"), 40);
  EXPECT_EQ(CapabilityNumber("CAP_NOPE"), -1);
}

class HealthFilesInBundle : public ::testing::Test {
 protected:
  HealthFilesInBundle() { bundle_ = dir_.path(); }
  std::string Read(const std::string& name) {
    auto r = env_.ReadFile(bundle_ + "/" + name);
    return r.ok() ? *r : "";
  }
  kecs::testing::TempDir dir_;
  FakeEnv env_;
  std::string bundle_;
};

TEST_F(HealthFilesInBundle, WriteHealthConfigTakesTheProcessFromConfigJson) {
  model::oci::Spec spec;
  spec.process = SampleProcess();
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/config.json", model::oci::EncodeSpec(spec)).ok());
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/health", "status unhealthy\n").ok());  // the last run's
  ContainerSpec c;
  c.name = "web";
  c.health_check = model::HealthCheck{{"CMD-SHELL", "true"}, 5, 2, 3, 0};
  ASSERT_TRUE(WriteHealthConfig(&env_, bundle_, c).ok());
  auto conf = health::DecodeConfig(Read("health.conf"));
  ASSERT_TRUE(conf.has_value());
  EXPECT_EQ(*conf, *HealthConfigFor(*c.health_check, SampleProcess()));
  EXPECT_FALSE(env_.Exists(bundle_ + "/health"));
  auto info = env_.Stat(bundle_ + "/health.conf");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->mode & 0777, 0600u) << "it holds the container's environment";

  c.health_check.reset();
  ASSERT_TRUE(WriteHealthConfig(&env_, bundle_, c).ok());
  EXPECT_FALSE(env_.Exists(bundle_ + "/health.conf"));
}

TEST_F(HealthFilesInBundle, WriteHealthConfigFailsWithoutConfigJson) {
  ContainerSpec c;
  c.health_check = model::HealthCheck{{"CMD", "true"}, 5, 2, 3, 0};
  EXPECT_FALSE(WriteHealthConfig(&env_, bundle_, c).ok());
}

TEST_F(HealthFilesInBundle, ReadHealthMapsDockersStatusToEcsAndCutsTheOutput) {
  ContainerState cs;
  ReadHealth(&env_, bundle_, cs);
  EXPECT_EQ(cs.health, model::HealthStatus::kUnknown) << "no file yet";

  State s;
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/health", health::EncodeState(s)).ok());
  ReadHealth(&env_, bundle_, cs);
  EXPECT_EQ(cs.health, model::HealthStatus::kUnknown) << "starting";
  EXPECT_FALSE(cs.health_exit_code.has_value());

  s.status = health::Status::kHealthy;
  s.exit_code = 0;
  s.output = "fine";
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/health", health::EncodeState(s)).ok());
  ReadHealth(&env_, bundle_, cs);
  EXPECT_EQ(cs.health, model::HealthStatus::kHealthy);
  EXPECT_EQ(cs.health_exit_code, 0);
  EXPECT_EQ(cs.health_output, "fine");

  // 1023 ASCII bytes then "é" (2 bytes): the cut at 1024 would split it, so it goes.
  s.status = health::Status::kUnhealthy;
  s.exit_code = 1;
  s.output = std::string(1023, 'a') + "\xc3\xa9" + std::string(100, 'b');
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/health", health::EncodeState(s)).ok());
  ReadHealth(&env_, bundle_, cs);
  EXPECT_EQ(cs.health, model::HealthStatus::kUnhealthy);
  EXPECT_EQ(cs.health_exit_code, 1);
  EXPECT_EQ(cs.health_output, std::string(1023, 'a'));

  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/health", "garbage").ok());
  ReadHealth(&env_, bundle_, cs);
  EXPECT_EQ(cs.health, model::HealthStatus::kUnknown);
  EXPECT_FALSE(cs.health_exit_code.has_value());
  EXPECT_EQ(cs.health_output, "");
}

TEST_F(HealthFilesInBundle, DriverReportsTheShimsStartAndFinishTimes) {
  ContainerDriver driver(bundle_ + "/runc", "/usr/libexec/kecs-shim", &env_);
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/times", "started 1767225600.250\n").ok());
  ContainerStatus s = driver.Inspect(bundle_);
  EXPECT_EQ(s.phase, ContainerStatus::Phase::kMissing) << "no pid, no exit: never started";
  EXPECT_FALSE(s.started_at.has_value());
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/times", "started 1767225600.250\nfinished 1767225610.500\n").ok());
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/exit", "3\n").ok());
  s = driver.Inspect(bundle_);
  EXPECT_EQ(s.phase, ContainerStatus::Phase::kExited);
  EXPECT_EQ(s.exit_code, 3);
  EXPECT_EQ(s.started_at, 1767225600.25);
  EXPECT_EQ(s.finished_at, 1767225610.5);
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/times", "started soon\n").ok());
  s = driver.Inspect(bundle_);
  EXPECT_FALSE(s.started_at.has_value()) << "a bad number is no time";
}

}  // namespace
}  // namespace kecs::runtime::local
