#include "base/env.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <thread>

#include "unit/support/temp_dir.h"

namespace kecs {
namespace {

using kecs::testing::TempDir;

// An image's /etc/passwd may be a link anywhere; read inside its root it can never name a
// host file, whether the link is absolute or climbs with "..".
TEST(PosixEnv, ReadFileInRootNeverLeavesTheRoot) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string root = dir.path() + "/rootfs";
  const std::string outside = dir.path() + "/host-secret";
  ASSERT_TRUE(env->CreateDirs(root + "/etc").ok());
  ASSERT_TRUE(env->WriteFileAtomic(outside, "host secret\n").ok());
  ASSERT_TRUE(env->WriteFileAtomic(root + "/etc/group", "root:x:0:\n").ok());
  ASSERT_TRUE(env->Symlink(outside, root + "/etc/passwd").ok());                     // absolute
  ASSERT_TRUE(env->Symlink("../../host-secret", root + "/etc/shadow").ok());          // climbing
  ASSERT_TRUE(env->Symlink("/etc/group", root + "/etc/group-link").ok());            // inside

  auto group = env->ReadFileInRoot(root, "etc/group");
  ASSERT_TRUE(group.ok()) << group.status().ToString();
  EXPECT_EQ(*group, "root:x:0:\n");
  auto inside = env->ReadFileInRoot(root, "etc/group-link");
  ASSERT_TRUE(inside.ok()) << inside.status().ToString();
  EXPECT_EQ(*inside, "root:x:0:\n") << "an absolute link resolves inside the root";
  for (const char* rel : {"etc/passwd", "etc/shadow", "../host-secret"}) {
    auto r = env->ReadFileInRoot(root, rel);
    EXPECT_FALSE(r.ok() && *r == "host secret\n") << rel << " escaped the root";
    EXPECT_EQ(r.status().code(), Code::kNotFound) << rel << ": " << r.status().ToString();
  }
  // The plain read follows the link out, which is why the runtime does not use it there.
  EXPECT_EQ(*env->ReadFile(root + "/etc/passwd"), "host secret\n");
}

TEST(PosixEnv, WriteFileAtomicReplacesContentWithTheAskedMode) {
  TempDir dir;
  Env* env = Env::Default();
  std::string path = dir.path() + "/secret.json";
  ASSERT_TRUE(env->WriteFileAtomic(path, "old", 0644).ok());
  ASSERT_TRUE(env->WriteFileAtomic(path, "new", 0600).ok());
  auto text = env->ReadFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "new");
  auto info = env->Stat(path);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->mode, 0600u);
  EXPECT_FALSE(info->is_dir);
  EXPECT_EQ(info->size, 3u);
  auto names = env->ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"secret.json"}) << "a temporary file was left behind";
}

TEST(PosixEnv, WriteFileAtomicIntoAMissingDirectoryFailsAndLeavesNothing) {
  TempDir dir;
  Status st = Env::Default()->WriteFileAtomic(dir.path() + "/no/such/file", "x");
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find(dir.path() + "/no/such/file"), std::string::npos) << st.message();
}

TEST(PosixEnv, MissingFilesAreNotFoundAndRemovingThemSucceeds) {
  TempDir dir;
  Env* env = Env::Default();
  EXPECT_EQ(env->ReadFile(dir.path() + "/missing").status().code(), Code::kNotFound);
  EXPECT_EQ(env->Stat(dir.path() + "/missing").status().code(), Code::kNotFound);
  EXPECT_EQ(env->ListDir(dir.path() + "/missing").status().code(), Code::kNotFound);
  EXPECT_TRUE(env->RemoveFile(dir.path() + "/missing").ok());
  EXPECT_TRUE(env->RemoveAll(dir.path() + "/missing").ok());
  EXPECT_FALSE(env->Exists(dir.path() + "/missing"));
}

TEST(PosixEnv, CreateDirsListRenameAndRemoveAll) {
  TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(dir.path() + "/a/b/c", 0700).ok());
  ASSERT_TRUE(env->CreateDirs(dir.path() + "/a/b/c").ok()) << "a repeat call succeeds";
  EXPECT_EQ(env->Stat(dir.path() + "/a/b/c")->mode, 0700u);
  ASSERT_TRUE(env->WriteFileAtomic(dir.path() + "/a/z", "1").ok());
  ASSERT_TRUE(env->WriteFileAtomic(dir.path() + "/a/m", "2").ok());
  EXPECT_EQ(*env->ListDir(dir.path() + "/a"), (std::vector<std::string>{"b", "m", "z"}));
  ASSERT_TRUE(env->Rename(dir.path() + "/a/m", dir.path() + "/a/n").ok());
  EXPECT_FALSE(env->Exists(dir.path() + "/a/m"));
  EXPECT_TRUE(env->Exists(dir.path() + "/a/n"));
  EXPECT_EQ(env->CreateDirs(dir.path() + "/a/n/x").code(), Code::kInternal) << "n is a file";
  ASSERT_TRUE(env->RemoveAll(dir.path() + "/a").ok());
  EXPECT_FALSE(env->Exists(dir.path() + "/a"));
}

TEST(PosixEnv, SymlinkIsIdempotentAndRefusesAnotherTarget) {
  TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->Symlink("target", dir.path() + "/link").ok());
  EXPECT_TRUE(env->Symlink("target", dir.path() + "/link").ok());
  EXPECT_EQ(env->Symlink("other", dir.path() + "/link").code(), Code::kAlreadyExists);
}

TEST(PosixEnv, RunCapturesOutputExitCodeStdinAndEnvironment) {
  ProcessOptions opts;
  opts.argv = {"/bin/sh", "-c", "cat; echo \"$KECS_ENV_TEST\" >&2; exit 3"};
  opts.stdin_data = "from stdin";
  opts.env = {"KECS_ENV_TEST=value"};
  auto r = Env::Default()->Run(opts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->out, "from stdin");
  EXPECT_EQ(r->err, "value\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->timed_out);
}

TEST(PosixEnv, ChildThatIgnoresItsStdinNeitherBlocksNorKillsTheCaller) {
  ProcessOptions opts;
  opts.argv = {"/bin/sh", "-c", "exec 0<&-; echo done"};
  opts.stdin_data = std::string(1 << 20, 'x');  // more than a pipe holds
  auto r = Env::Default()->Run(opts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->out, "done\n");
  EXPECT_EQ(r->exit_code, 0);
}

TEST(PosixEnv, RunOfAMissingProgramIsNotFound) {
  auto r = Env::Default()->Run({"kecs-no-such-program-xyz"});
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST(PosixEnv, LockFileIsExclusiveUntilReleased) {
  TempDir dir;
  Env* env = Env::Default();
  std::string path = dir.path() + "/lock";
  auto held = env->LockFile(path);
  ASSERT_TRUE(held.ok()) << held.status().message();
  EXPECT_EQ(env->Stat(path)->mode, 0600u);
  std::atomic<bool> acquired{false};
  std::thread other([&] {
    auto l = env->LockFile(path);
    EXPECT_TRUE(l.ok());
    acquired = true;
  });
  // The other caller cannot have it while this one does; it gets it once released.
  EXPECT_FALSE(acquired.load());
  held->reset();
  other.join();
  EXPECT_TRUE(acquired.load());
}

TEST(PosixEnv, MonotonicClockNeverGoesBack) {
  Env* env = Env::Default();
  auto a = env->MonotonicNow();
  auto b = env->MonotonicNow();
  EXPECT_LE(a, b);
  EXPECT_GT(env->Now(), 1.7e9);
}

TEST(FakeEnv, TimeMovesOnlyWhenToldOrSleptAndSleepsAreRecorded) {
  FakeEnv env(1000.0);
  auto start = env.MonotonicNow();
  EXPECT_EQ(env.Now(), 1000.0);
  env.SleepFor(std::chrono::milliseconds(1500));
  env.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(env.Now(), 1002.0);
  EXPECT_EQ(env.MonotonicNow() - start, std::chrono::milliseconds(2000));
  EXPECT_EQ(env.sleeps(), std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(1500)});
  // An Env is the Clock the controllers take.
  Clock& clock = env;
  EXPECT_EQ(clock.Now(), 1002.0);
}

TEST(FakeEnv, InjectedFaultsFailOnlyTheirOperationAndPaths) {
  TempDir dir;
  FakeEnv env;
  env.FailOn(EnvOp::kWrite, "/data/", Status(Code::kResourceExhausted, "disk full"));
  ASSERT_TRUE(env.CreateDirs(dir.path() + "/data").ok());
  Status st = env.WriteFileAtomic(dir.path() + "/data/x", "1");
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_FALSE(env.Exists(dir.path() + "/data/x"));
  EXPECT_TRUE(env.WriteFileAtomic(dir.path() + "/other", "1").ok());
  EXPECT_TRUE(env.ReadFile(dir.path() + "/other").ok()) << "reads were not told to fail";
  env.ClearFaults();
  EXPECT_TRUE(env.WriteFileAtomic(dir.path() + "/data/x", "1").ok());
}

TEST(FakeEnv, ProcessesAreRecordedAndAnsweredByTheHandler) {
  FakeEnv env;
  auto plain = env.Run({"runc", "--version"});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->exit_code, 0);
  env.SetProcessHandler([](const ProcessOptions& p) -> Result<ProcessResult> {
    if (p.argv[0] == "missing") return NotFound("cannot run missing");
    ProcessResult r;
    r.exit_code = 7;
    r.err = "boom";
    return r;
  });
  auto failed = env.Run({"skopeo", "copy"});
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->exit_code, 7);
  EXPECT_EQ(env.Run({"missing"}).status().code(), Code::kNotFound);
  ProcessOptions detached;
  detached.argv = {"kecs-shim", "a"};
  EXPECT_TRUE(env.StartDetached(detached).ok());
  auto seen = env.processes();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].argv, (std::vector<std::string>{"runc", "--version"}));
  EXPECT_EQ(seen[3].argv, (std::vector<std::string>{"kecs-shim", "a"}));
}

}  // namespace
}  // namespace kecs
