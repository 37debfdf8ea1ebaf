#include "base/host.h"

#include <sys/utsname.h>

#include <gtest/gtest.h>

namespace kecs {
namespace {

TEST(EcsCpuArchitecture, NamesTheTwoArchitecturesEcsKnows) {
  EXPECT_EQ(EcsCpuArchitecture("x86_64"), "x86_64");
  EXPECT_EQ(EcsCpuArchitecture("aarch64"), "arm64");
  EXPECT_EQ(EcsCpuArchitecture("arm64"), "arm64");
}

TEST(EcsCpuArchitecture, KeepsAnyOtherMachineName) {
  // Never claims x86_64 for a machine that is not.
  EXPECT_EQ(EcsCpuArchitecture("riscv64"), "riscv64");
  EXPECT_EQ(EcsCpuArchitecture("s390x"), "s390x");
}

TEST(Host, ArchIsThisMachines) {
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(Host().arch, EcsCpuArchitecture(u.machine));
}

}  // namespace
}  // namespace kecs
