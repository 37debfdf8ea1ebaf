// ExecProcess::Kill against a front process that names its command late, as runc exec
// does: it writes --pid-file only after the command has started.
#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "runtime/runtime.h"
#include "unit/support/temp_dir.h"

extern char** environ;

namespace kecs::runtime {
namespace {

// Whether `pid` is a live process (not gone, not a zombie).
bool Alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

int ReadPid(const std::string& path) {
  std::ifstream f(path);
  int pid = 0;
  f >> pid;
  return pid;
}

// A front process that starts `sleep` in a session of its own, writes its pid to `shown`
// at once (for the test) and to `pid_file` only `delay` later (as runc would), by rename.
int SpawnLateNamer(const std::string& pid_file, const std::string& shown, const char* delay) {
  std::string script = "setsid sleep 4242 & c=$!; echo $c > " + shown + ".tmp; mv " + shown + ".tmp " + shown +
                       "; sleep " + delay + "; echo $c > " + pid_file + ".tmp; mv " + pid_file + ".tmp " +
                       pid_file + "; wait";
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  return pid;
}

int WaitForFile(const std::string& path) {
  for (int i = 0; i < 2000; ++i) {
    if (int pid = ReadPid(path); pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return 0;
}

bool GoneWithin(int pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Alive(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return !Alive(pid);
}

TEST(ExecProcessTest, KillRightAfterTheStartWaitsForThePidFileAndKillsTheCommand) {
  testing::TempDir dir;
  std::string pid_file = dir.path() + "/exec.pid";
  std::string shown = dir.path() + "/shown";
  int front = SpawnLateNamer(pid_file, shown, "0.3");
  int command = WaitForFile(shown);
  ASSERT_GT(command, 0);
  ExecProcess proc(front, -1, -1, false, pid_file);
  proc.Kill();  // the command runs; its pid file is not written yet
  auto code = proc.Wait();
  ASSERT_TRUE(code.ok());
  bool gone = GoneWithin(command, std::chrono::seconds(2));
  if (!gone) kill(command, SIGKILL);
  EXPECT_TRUE(gone) << "the command outlived the front process";
}

TEST(ExecProcessTest, KillDoesNotWaitForAFrontProcessThatExitedWithoutNamingACommand) {
  testing::TempDir dir;
  const char* argv[] = {"/bin/true", nullptr};
  pid_t front = 0;
  ASSERT_EQ(posix_spawn(&front, "/bin/true", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  // Let it exit (a zombie, not reaped).
  for (int i = 0; i < 1000; ++i) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(front), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ExecProcess proc(front, -1, -1, false, dir.path() + "/never.pid");
  auto start = std::chrono::steady_clock::now();
  proc.Kill();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  auto code = proc.Wait();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace kecs::runtime
