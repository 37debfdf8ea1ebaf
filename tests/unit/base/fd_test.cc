// MoveAboveSelectRange (base/fd.h): a descriptor moved past 1,023 keeps its file; one that
// cannot be moved is kept as it is.
#include "base/fd.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace kecs {
namespace {

ino_t Inode(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

TEST(MoveAboveSelectRangeTest, MovesALowDescriptorPastTheRangeAndClosesTheOld) {
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur <= 1100) GTEST_SKIP() << "RLIMIT_NOFILE leaves no descriptor past 1,023";
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_LT(fd, kFirstHighFd);
  ino_t ino = Inode(fd);
  int moved = MoveAboveSelectRange(fd);
  EXPECT_GE(moved, kFirstHighFd);
  EXPECT_EQ(Inode(moved), ino);
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);  // the old number is closed
  EXPECT_TRUE(fcntl(moved, F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(MoveAboveSelectRange(moved), moved);  // already there
  ::close(moved);
}

TEST(MoveAboveSelectRangeTest, KeepsTheDescriptorWhenTheLimitAllowsNoneHigher) {
  // In a child: RLIMIT_NOFILE at 1,024 makes F_DUPFD from 1,024 fail.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit low{1024, 1024};
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) _exit(2);
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) _exit(3);
    int kept = MoveAboveSelectRange(fd);
    _exit(kept == fd && fcntl(fd, F_GETFD) != -1 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace kecs
