// Docker's seccomp profile resolved for a container (runtime/local/seccomp.h): on a small
// fixture whose every rule tests one condition, and on the profile Debian ships in
// golang-github-containers-common (/usr/share/containers/seccomp.json).
#include "runtime/local/seccomp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;
namespace oci = model::oci;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

oci::SeccompProfile Fixture() {
  auto p = oci::DecodeSeccompProfile(ReadText(fs::path(KECS_TESTDATA_DIR) / "oci" / "seccomp_profile.json"));
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : oci::SeccompProfile{};
}

// The actions the filter gives `name` (one per rule naming it), in order.
std::vector<std::string> ActionsFor(const oci::Seccomp& sc, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& s : sc.syscalls) {
    if (std::find(s.names.begin(), s.names.end(), name) != s.names.end()) out.push_back(s.action);
  }
  return out;
}

const std::vector<std::string> kDockerCaps = {"CAP_CHOWN", "CAP_NET_RAW", "CAP_SETUID", "CAP_AUDIT_WRITE"};

TEST(SeccompProfileCodec, ReadsEveryMember) {
  oci::SeccompProfile p = Fixture();
  EXPECT_EQ(p.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(p.default_errno_ret, 38);
  ASSERT_EQ(p.arch_map.size(), 2u);
  EXPECT_EQ(p.arch_map[0].sub_architectures, (std::vector<std::string>{"SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  ASSERT_EQ(p.syscalls.size(), 9u);
  EXPECT_EQ(p.syscalls[2].args.at(0).value, 4294967295u);
  EXPECT_EQ(p.syscalls[5].includes.caps, std::vector<std::string>{"CAP_SYS_ADMIN"});
  EXPECT_EQ(p.syscalls[6].excludes.caps, std::vector<std::string>{"CAP_SYS_ADMIN"});
  EXPECT_EQ(p.syscalls[7].includes.min_kernel, "5.1");
  EXPECT_EQ(p.syscalls[8].names, std::vector<std::string>{"legacy_single_name"});
  EXPECT_EQ(oci::DecodeSeccompProfile(R"({"syscalls": [{"names": "read"}]})").status().code(), Code::kInvalidArgument);
}

TEST(Seccomp, NativeArchitectureAndItsSubArchitectures) {
  auto sc = ResolveSeccomp(Fixture(), {"amd64", "6.1.0-13-amd64", kDockerCaps});
  ASSERT_TRUE(sc.ok());
  EXPECT_EQ(sc->architectures, (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_EQ(sc->default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc->default_errno_ret, 38);
  auto arm = ResolveSeccomp(Fixture(), {"arm64", "", kDockerCaps});
  ASSERT_TRUE(arm.ok());
  EXPECT_EQ(arm->architectures, (std::vector<std::string>{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
}

TEST(Seccomp, ArchitectureConditions) {
  auto amd = ResolveSeccomp(Fixture(), {"amd64", "", kDockerCaps});
  auto arm = ResolveSeccomp(Fixture(), {"arm64", "", kDockerCaps});
  ASSERT_TRUE(amd.ok() && arm.ok());
  EXPECT_EQ(ActionsFor(*amd, "arch_prctl").size(), 1u);
  EXPECT_TRUE(ActionsFor(*amd, "breakpoint").empty());
  EXPECT_TRUE(ActionsFor(*arm, "arch_prctl").empty());
  EXPECT_EQ(ActionsFor(*arm, "breakpoint").size(), 1u);
}

TEST(Seccomp, CapabilityConditionsFollowTheFinalCapabilitySet) {
  auto plain = ResolveSeccomp(Fixture(), {"amd64", "", kDockerCaps});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(ActionsFor(*plain, "bpf"), std::vector<std::string>{"SCMP_ACT_ERRNO"});
  std::vector<std::string> admin = kDockerCaps;
  admin.push_back("CAP_SYS_ADMIN");
  auto with_admin = ResolveSeccomp(Fixture(), {"amd64", "", admin});
  ASSERT_TRUE(with_admin.ok());
  EXPECT_EQ(ActionsFor(*with_admin, "bpf"), std::vector<std::string>{"SCMP_ACT_ALLOW"});
}

TEST(Seccomp, ErrnoRetAndArgumentsKept) {
  auto sc = ResolveSeccomp(Fixture(), {"amd64", "", kDockerCaps});
  ASSERT_TRUE(sc.ok());
  for (const auto& s : sc->syscalls) {
    if (s.names == std::vector<std::string>{"kexec_load"}) {
      EXPECT_EQ(s.errno_ret, 1);
    }
    if (s.names == std::vector<std::string>{"personality"}) {
      ASSERT_EQ(s.args.size(), 1u);
      EXPECT_EQ(s.args[0].value, 4294967295u);
      EXPECT_EQ(s.args[0].op, "SCMP_CMP_EQ");
    }
  }
}

TEST(Seccomp, MinimumKernel) {
  auto old_kernel = ResolveSeccomp(Fixture(), {"amd64", "4.19.0-20-amd64", kDockerCaps});
  auto new_kernel = ResolveSeccomp(Fixture(), {"amd64", "6.1.0-13-amd64", kDockerCaps});
  ASSERT_TRUE(old_kernel.ok() && new_kernel.ok());
  EXPECT_TRUE(ActionsFor(*old_kernel, "io_uring_setup").empty());
  EXPECT_EQ(ActionsFor(*new_kernel, "io_uring_setup").size(), 1u);
  EXPECT_TRUE(KernelAtLeast("5.1.0", "5.1"));
  EXPECT_TRUE(KernelAtLeast("5.10", "5.9"));
  EXPECT_FALSE(KernelAtLeast("5.0.21", "5.1"));
}

TEST(Seccomp, ArchitecturesAndArchMapTogetherAreRefused) {
  oci::SeccompProfile p = Fixture();
  p.architectures = {"SCMP_ARCH_X86_64"};
  EXPECT_EQ(ResolveSeccomp(p, {"amd64", "", kDockerCaps}).status().code(), Code::kInvalidArgument);
}

TEST(Seccomp, GoArchitectureNames) {
  EXPECT_EQ(SeccompArch("amd64"), "SCMP_ARCH_X86_64");
  EXPECT_EQ(SeccompArch("arm64"), "SCMP_ARCH_AARCH64");
  EXPECT_EQ(SeccompArch("s390x"), "SCMP_ARCH_S390X");
  EXPECT_EQ(SeccompArch("nope"), "");
  EXPECT_FALSE(SeccompArch(NativeGoArch()).empty()) << NativeGoArch();
}

// The profile Debian ships: what Docker gives an unprivileged container.
TEST(SeccompDebianProfile, ResolvesLikeDockerForTheDefaultCapabilities) {
  std::string text = ReadText(kDefaultSeccompProfile);
  if (text.empty()) GTEST_SKIP() << kDefaultSeccompProfile << " is missing: install golang-github-containers-common";
  auto profile = oci::DecodeSeccompProfile(text);
  ASSERT_TRUE(profile.ok()) << profile.status().message();
  const std::vector<std::string> docker_caps = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
      "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
      "CAP_AUDIT_WRITE"};
  auto sc = ResolveSeccomp(*profile, {"amd64", "6.1.0", docker_caps});
  ASSERT_TRUE(sc.ok()) << sc.status().message();
  EXPECT_EQ(sc->default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc->architectures, (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  // Everyday calls are allowed; chroot is (CAP_SYS_CHROOT is in the set); bpf and
  // perf_event_open are not (no CAP_SYS_ADMIN), open_by_handle_at neither (no
  // CAP_DAC_READ_SEARCH), kexec_load never.
  auto allowed = [&](const std::string& name) {
    auto acts = ActionsFor(*sc, name);
    return std::find(acts.begin(), acts.end(), "SCMP_ACT_ALLOW") != acts.end();
  };
  for (const char* name : {"read", "write", "openat", "clone", "execve", "arch_prctl", "chroot"}) {
    EXPECT_TRUE(allowed(name)) << name;
  }
  for (const char* name : {"bpf", "perf_event_open", "open_by_handle_at", "kexec_load"}) {
    EXPECT_FALSE(allowed(name)) << name;
  }
  EXPECT_EQ(ActionsFor(*sc, "kexec_load"), std::vector<std::string>{"SCMP_ACT_ERRNO"});
  // With CAP_SYS_ADMIN added, bpf is allowed, as in Docker, and no longer refused.
  auto admin_caps = docker_caps;
  admin_caps.push_back("CAP_SYS_ADMIN");
  auto admin = ResolveSeccomp(*profile, {"amd64", "6.1.0", admin_caps});
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(ActionsFor(*admin, "bpf"), std::vector<std::string>{"SCMP_ACT_ALLOW"});
  // Every rule has names and an action; no includes/excludes survive (OCI has none).
  for (const auto& s : sc->syscalls) {
    EXPECT_FALSE(s.names.empty());
    EXPECT_FALSE(s.action.empty());
  }
}

}  // namespace
}  // namespace kecs::runtime::local
