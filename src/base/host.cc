#include "base/host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
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
    h.arch = EcsCpuArchitecture(u.machine);
  }
  h.is_root = geteuid() == 0;
  return h;
}

}  // namespace

std::string EcsCpuArchitecture(std::string_view machine) {
  if (machine == "aarch64" || machine == "arm64") return "arm64";
  if (machine == "x86_64" || machine == "amd64") return "x86_64";
  return std::string(machine);
}

const HostInfo& Host() {
  static const HostInfo info = Read();
  return info;
}

std::string PrimaryIpv4() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "127.0.0.1";
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(53);
  inet_pton(AF_INET, "192.0.2.1", &dst.sin_addr);  // TEST-NET-1: routed by default, never sent
  std::string out = "127.0.0.1";
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0) {
    sockaddr_in src{};
    socklen_t len = sizeof src;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&src), &len) == 0) {
      char buf[INET_ADDRSTRLEN];
      if (inet_ntop(AF_INET, &src.sin_addr, buf, sizeof buf)) out = buf;
    }
  }
  close(fd);
  return out;
}

}  // namespace kecs
