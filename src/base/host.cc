#include "base/host.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace kecs {
namespace {

HostInfo Read() {
  HostInfo h;
  h.cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::ifstream mem("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (mem >> key >> kb >> unit) {
    if (key == "MemTotal:") {
      h.memory_mib = kb / 1024;
      break;
    }
  }
  struct utsname u {};
  if (uname(&u) == 0) {
    h.hostname = u.nodename;
    h.kernel = u.release;
    h.arch = u.machine;
    if (h.arch == "aarch64") h.arch = "arm64";
  }
  h.is_root = geteuid() == 0;
  return h;
}

}  // namespace

const HostInfo& Host() {
  static const HostInfo info = Read();
  return info;
}

}  // namespace kecs
