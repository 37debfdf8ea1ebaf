// ContainerDriver through a FakeEnv: the shim and runc are fakes, the bundle's pid and exit
// files are real files in a temporary directory, and the driver's waits run on fake time.
#include "runtime/local/containers.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "base/fd.h"

#include "unit/support/temp_dir.h"

namespace kecs::runtime::local {
namespace {

using kecs::testing::TempDir;

class ContainerDriverTest : public ::testing::Test {
 protected:
  ContainerDriverTest() : driver_(dir_.path() + "/runc", "/usr/libexec/kecs-shim", &env_) {
    bundle_ = dir_.path() + "/bundle";
    EXPECT_TRUE(env_.CreateDirs(bundle_).ok());
  }

  TempDir dir_;
  FakeEnv env_;
  ContainerDriver driver_;
  std::string bundle_;
};

TEST_F(ContainerDriverTest, StartRunsTheShimDetachedAndReportsRuncsError) {
  // A leftover runc record of the id (a crash before the shim wrote its exit): deleted first.
  ASSERT_TRUE(env_.CreateDirs(dir_.path() + "/runc/kecs-t-c").ok());
  env_.SetProcessHandler([&](const ProcessOptions& p) -> Result<ProcessResult> {
    // The shim writes runc's failure to <bundle>/exit.
    if (p.argv[0] == "/usr/libexec/kecs-shim") {
      EXPECT_TRUE(env_.WriteFileAtomic(bundle_ + "/exit", "error: exec: \"nope\": not found\n").ok());
    }
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  });
  Status st = driver_.Start("kecs-t-c", bundle_, dir_.path() + "/c.log");
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_EQ(st.message(), "exec: \"nope\": not found");
  auto seen = env_.processes();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].argv, (std::vector<std::string>{"runc", "--root", dir_.path() + "/runc", "delete", "--force", "kecs-t-c"}));
  EXPECT_EQ(seen[1].argv, (std::vector<std::string>{"/usr/libexec/kecs-shim", "detach", dir_.path() + "/runc", bundle_,
                                                    "kecs-t-c", dir_.path() + "/c.log"}));
}

TEST_F(ContainerDriverTest, StartWithoutARuncRecordRunsOnlyTheShim) {
  env_.SetProcessHandler([&](const ProcessOptions& p) -> Result<ProcessResult> {
    if (p.argv[0] == "/usr/libexec/kecs-shim") {
      EXPECT_TRUE(env_.WriteFileAtomic(bundle_ + "/exit", "0\n").ok());
    }
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  });
  EXPECT_TRUE(driver_.Start("kecs-t-c", bundle_, "/dev/null").ok());
  auto seen = env_.processes();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].argv[0], "/usr/libexec/kecs-shim");
}

TEST_F(ContainerDriverTest, StartRemovesTheLastRunsFiles) {
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/exit", "0\n").ok());
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/pid", "1\n").ok());
  env_.SetProcessHandler([&](const ProcessOptions& p) -> Result<ProcessResult> {
    if (p.argv[0] == "/usr/libexec/kecs-shim") {
      EXPECT_FALSE(env_.Exists(bundle_ + "/exit"));
      EXPECT_FALSE(env_.Exists(bundle_ + "/pid"));
      EXPECT_TRUE(env_.WriteFileAtomic(bundle_ + "/exit", "0\n").ok());  // ran and exited
    }
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  });
  EXPECT_TRUE(driver_.Start("id", bundle_, "/dev/null").ok());
}

TEST_F(ContainerDriverTest, StartGivesUpAfterSixtySecondsOfFakeTime) {
  // The shim never reports: the driver waits 60 s on the Env's clock, then says so.
  Status st = driver_.Start("id", bundle_, "/dev/null");
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("did not start within 60s"), std::string::npos);
  auto slept = std::chrono::milliseconds(0);
  for (auto s : env_.sleeps()) slept += s;
  EXPECT_GE(slept, std::chrono::seconds(60));
}

TEST_F(ContainerDriverTest, ShimThatCannotBeStartedFailsTheStart) {
  env_.SetProcessHandler([](const ProcessOptions& p) -> Result<ProcessResult> {
    if (p.argv[0] == "/usr/libexec/kecs-shim") return Internal("fork: resource temporarily unavailable");
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  });
  Status st = driver_.Start("id", bundle_, "/dev/null");
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_TRUE(env_.sleeps().empty());
}

TEST_F(ContainerDriverTest, InspectReadsExitCodesAndErrors) {
  EXPECT_EQ(driver_.Inspect(bundle_).phase, ContainerStatus::Phase::kMissing);
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/exit", "42\n").ok());
  auto s = driver_.Inspect(bundle_);
  EXPECT_EQ(s.phase, ContainerStatus::Phase::kExited);
  EXPECT_EQ(s.exit_code, 42);
  env_.FailOn(EnvOp::kRead, "/exit", Internal("read: input/output error"));
  EXPECT_EQ(driver_.Inspect(bundle_).phase, ContainerStatus::Phase::kMissing);
}

// The shim writes the exit file, then reaps the init. An Inspect that found no exit file and
// then the init gone looks at the exit file again: the container exited in between, and its
// code is not made up as 137 ("the shim was killed"). Seen in CI as a quick `exit 3`
// reported as 137 once in a few hundred starts.
TEST_F(ContainerDriverTest, AnInitReapedBetweenTheLooksKeepsItsExitCode) {
  // Reading the pid file is the moment the shim finishes: the exit file appears, and the
  // init (a child of this test, here) is reaped.
  class ShimFinishesMeanwhile : public FakeEnv {
   public:
    explicit ShimFinishesMeanwhile(std::string bundle) : bundle_(std::move(bundle)) {}
    Result<std::string> ReadFile(const std::string& path) override {
      auto r = FakeEnv::ReadFile(path);
      if (path == bundle_ + "/pid") {
        EXPECT_TRUE(WriteFileAtomic(bundle_ + "/exit", "3\n").ok());
      }
      return r;
    }

   private:
    std::string bundle_;
  };
  ShimFinishesMeanwhile env(bundle_);
  ContainerDriver driver(dir_.path() + "/runc2", "/usr/libexec/kecs-shim", &env);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(3);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  ASSERT_TRUE(env.WriteFileAtomic(bundle_ + "/pid", std::to_string(child) + "\n").ok());
  auto s = driver.Inspect(bundle_);
  EXPECT_EQ(s.phase, ContainerStatus::Phase::kExited);
  EXPECT_EQ(s.exit_code, 3);
  EXPECT_EQ(s.error, "");
}

TEST_F(ContainerDriverTest, DeleteSucceedsWhenRuncNoLongerKnowsTheContainer) {
  env_.SetProcessHandler([](const ProcessOptions&) -> Result<ProcessResult> {
    ProcessResult r;
    r.exit_code = 1;
    r.err = "container does not exist\n";
    return r;
  });
  EXPECT_TRUE(driver_.Delete("id").ok());
  env_.SetProcessHandler([](const ProcessOptions&) -> Result<ProcessResult> {
    ProcessResult r;
    r.exit_code = 1;
    r.err = "permission denied\n";
    return r;
  });
  Status st = driver_.Delete("id");
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_EQ(st.message(), "runc delete id: permission denied");
}

// Once a bundle's pid was found to be its container's init, a pidfd on that process stands
// for the check (a read of /proc/<pid>/cgroup) until the process exits. The fake makes the
// first check pass (an unreadable cgroup counts as the container's); afterwards the real
// cgroup of this test's child (not the bundle's) fails it, so only the pidfd keeps the
// container running. Another pid in the pid file, or the child gone, is checked anew.
TEST_F(ContainerDriverTest, AVerifiedInitIsNotCheckedAgainUntilItExits) {
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur <= static_cast<rlim_t>(kFirstHighFd) + 16) {
    if (lim.rlim_max <= static_cast<rlim_t>(kFirstHighFd) + 16) GTEST_SKIP() << "RLIMIT_NOFILE too low for a pidfd above 1,023";
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 4096);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
  }
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/pid", std::to_string(child) + "\n").ok());
  env_.FailOn(EnvOp::kRead, "/cgroup", Internal("no cgroup"));
  EXPECT_EQ(driver_.Inspect(bundle_).phase, ContainerStatus::Phase::kRunning);
  env_.ClearFaults();
  EXPECT_EQ(driver_.Inspect(bundle_).phase, ContainerStatus::Phase::kRunning);
  EXPECT_EQ(driver_.Inspect(bundle_).phase, ContainerStatus::Phase::kRunning);

  // The same bundle with another pid: not the verified process.
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/pid", std::to_string(getpid()) + "\n").ok());
  EXPECT_EQ(driver_.Inspect(bundle_).phase, ContainerStatus::Phase::kExited);

  // Verified again, then gone: the pidfd shows it, and the check is made anew.
  ASSERT_TRUE(env_.WriteFileAtomic(bundle_ + "/pid", std::to_string(child) + "\n").ok());
  env_.FailOn(EnvOp::kRead, "/cgroup", Internal("no cgroup"));
  EXPECT_EQ(driver_.Inspect(bundle_).phase, ContainerStatus::Phase::kRunning);
  env_.ClearFaults();
  kill(child, SIGKILL);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  auto s = driver_.Inspect(bundle_);
  EXPECT_EQ(s.phase, ContainerStatus::Phase::kExited);
  EXPECT_EQ(s.exit_code, 137);
}

}  // namespace
}  // namespace kecs::runtime::local
