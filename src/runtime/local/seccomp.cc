#include "runtime/local/seccomp.h"

#include <algorithm>
#include <cctype>

namespace kecs::runtime::local {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// "6.1.0-13-amd64" -> {6, 1, 0}; stops at the first character that is neither a digit
// nor a dot.
std::vector<int> VersionNumbers(std::string_view v) {
  std::vector<int> out;
  int cur = -1;
  for (char c : v) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      cur = (cur < 0 ? 0 : cur * 10) + (c - '0');
    } else if (c == '.' && cur >= 0) {
      out.push_back(cur);
      cur = -1;
    } else {
      break;
    }
  }
  if (cur >= 0) out.push_back(cur);
  return out;
}

}  // namespace

std::string NativeGoArch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

std::string SeccompArch(std::string_view go_arch) {
  // moby's profiles/seccomp goToNative table.
  static const std::pair<const char*, const char*> kArches[] = {
      {"386", "SCMP_ARCH_X86"},         {"amd64", "SCMP_ARCH_X86_64"},   {"arm", "SCMP_ARCH_ARM"},
      {"arm64", "SCMP_ARCH_AARCH64"},   {"mips64", "SCMP_ARCH_MIPS64"},  {"mips64n32", "SCMP_ARCH_MIPS64N32"},
      {"mipsel64", "SCMP_ARCH_MIPSEL64"}, {"mipsel64n32", "SCMP_ARCH_MIPSEL64N32"},
      {"mipsn32", "SCMP_ARCH_MIPS64N32"}, {"mipseln32", "SCMP_ARCH_MIPSEL64N32"},
      {"ppc", "SCMP_ARCH_PPC"},         {"ppc64", "SCMP_ARCH_PPC64"},    {"ppc64le", "SCMP_ARCH_PPC64LE"},
      {"riscv64", "SCMP_ARCH_RISCV64"}, {"s390", "SCMP_ARCH_S390"},      {"s390x", "SCMP_ARCH_S390X"},
  };
  for (const auto& [go, scmp] : kArches) {
    if (go_arch == go) return scmp;
  }
  return "";
}

bool KernelAtLeast(std::string_view release, std::string_view min) {
  std::vector<int> have = VersionNumbers(release), want = VersionNumbers(min);
  for (size_t i = 0; i < want.size(); ++i) {
    int h = i < have.size() ? have[i] : 0;
    if (h != want[i]) return h > want[i];
  }
  return true;
}

Result<model::oci::Seccomp> ResolveSeccomp(const model::oci::SeccompProfile& profile, const SeccompTarget& target) {
  if (!profile.architectures.empty() && !profile.arch_map.empty()) {
    return InvalidArgument("seccomp profile: 'architectures' and 'archMap' were specified together");
  }
  model::oci::Seccomp out;
  out.default_action = profile.default_action;
  out.default_errno_ret = profile.default_errno_ret;
  out.architectures = profile.architectures;
  // archMap: the native architecture and the ones its kernel also runs (x86 and x32 on
  // x86_64), so 32-bit binaries meet the same filter instead of the default action.
  std::string native = SeccompArch(target.go_arch);
  for (const auto& a : profile.arch_map) {
    if (a.architecture != native) continue;
    out.architectures.push_back(a.architecture);
    out.architectures.insert(out.architectures.end(), a.sub_architectures.begin(), a.sub_architectures.end());
  }
  const auto& caps = target.bounding_caps;
  auto kernel_ok = [&](const std::string& min) {
    return min.empty() || target.kernel_release.empty() || KernelAtLeast(target.kernel_release, min);
  };
  for (const auto& rule : profile.syscalls) {
    const auto& ex = rule.excludes;
    const auto& in = rule.includes;
    if (Contains(ex.arches, target.go_arch)) continue;
    if (std::any_of(ex.caps.begin(), ex.caps.end(), [&](const std::string& c) { return Contains(caps, c); })) continue;
    if (!ex.min_kernel.empty() && kernel_ok(ex.min_kernel) && !target.kernel_release.empty()) continue;
    if (!in.arches.empty() && !Contains(in.arches, target.go_arch)) continue;
    if (!std::all_of(in.caps.begin(), in.caps.end(), [&](const std::string& c) { return Contains(caps, c); })) continue;
    if (!kernel_ok(in.min_kernel)) continue;
    model::oci::SeccompSyscall s;
    s.names = rule.names;
    s.action = rule.action;
    s.errno_ret = rule.errno_ret;
    s.args = rule.args;
    out.syscalls.push_back(std::move(s));
  }
  return out;
}

}  // namespace kecs::runtime::local
