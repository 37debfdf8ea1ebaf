#pragma once
// Docker's default seccomp profile, resolved for one container as Docker does.
//
// Debian's golang-github-containers-common ships the profile Docker and Podman apply to
// unprivileged containers (/usr/share/containers/seccomp.json). Its rules are conditional:
// on the architecture (includes/excludes.arches, in Go's names), on the container's
// capabilities (a rule with includes.caps applies only when every listed capability is in
// the bounding set, one with excludes.caps only when none is), and on the kernel version
// (minKernel). ResolveSeccomp keeps the rules that apply, as moby's
// profiles/seccomp.setupSeccomp does, and gives the linux.seccomp runc loads. Pure.
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/oci.h"

namespace kecs::runtime::local {

inline constexpr const char* kDefaultSeccompProfile = "/usr/share/containers/seccomp.json";

struct SeccompTarget {
  std::string go_arch;         // "amd64"; NativeGoArch() for this build
  std::string kernel_release;  // uname -r, e.g. "6.1.0-13-amd64"; "" = every minKernel holds
  std::vector<std::string> bounding_caps;  // the container's final capability set
};

// This build's architecture in Go's spelling ("amd64", "arm64", ...).
std::string NativeGoArch();
// Go's architecture name as libseccomp's ("amd64" -> "SCMP_ARCH_X86_64"); "" if unknown.
std::string SeccompArch(std::string_view go_arch);
// Whether kernel `release` ("6.1.0-13-amd64") is at least `min` ("4.8").
bool KernelAtLeast(std::string_view release, std::string_view min);

// The profile's rules that apply to `target`. InvalidArgument when the profile lists both
// architectures and an archMap (moby refuses it too).
Result<model::oci::Seccomp> ResolveSeccomp(const model::oci::SeccompProfile& profile, const SeccompTarget& target);

}  // namespace kecs::runtime::local
