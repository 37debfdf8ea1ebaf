#pragma once
// Facts about the machine kecs runs on, read once from /proc and the kernel.
#include <cstdint>
#include <string>
#include <string_view>

namespace kecs {

struct HostInfo {
  int cpus = 1;
  int64_t memory_mib = 1024;
  std::string hostname;
  std::string kernel;      // uname -r
  std::string arch;        // EcsCpuArchitecture(uname -m): x86_64, arm64
  bool is_root = false;
};

const HostInfo& Host();

// The value of ECS's `ecs.cpu-architecture` attribute for a machine name as uname(2)
// reports it: "x86_64" and "arm64" (for aarch64), the two ECS knows; any other machine
// keeps its own name rather than claiming one it is not.
std::string EcsCpuArchitecture(std::string_view uname_machine);

// The host's main IPv4 address: the source the kernel picks toward the default route, or
// 127.0.0.1 without one. No packet is sent.
std::string PrimaryIpv4();

}  // namespace kecs
