#include "base/fd.h"

#include <fcntl.h>
#include <unistd.h>

namespace kecs {

int MoveAboveSelectRange(int fd) {
  if (fd < 0 || fd >= kFirstHighFd) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, kFirstHighFd);
  if (high < 0) return fd;  // EINVAL (limit at 1,024 or below) or EMFILE: keep it low
  ::close(fd);
  return high;
}

}  // namespace kecs
