// `kecs start` flag checks that need no daemon: the load balancer port range.
#include "daemon/config.h"

#include <gtest/gtest.h>

namespace kecs::daemon {
namespace {

Config Valid() {
  Config c;
  c.data_dir = "/tmp/kecs-unused";
  c.runtime = "simulated";
  return c;
}

TEST(Config, LbPortRangeDefaultsTo31000Through31999) {
  Config c = Valid();
  ASSERT_TRUE(c.Finalize().ok());
  EXPECT_EQ(c.lb_port_first, 31000);
  EXPECT_EQ(c.lb_port_last, 31999);
}

TEST(Config, LbPortRangeIsParsedAndValidated) {
  Config c = Valid();
  c.lb_port_range = "40000-40009";
  ASSERT_TRUE(c.Finalize().ok());
  EXPECT_EQ(c.lb_port_first, 40000);
  EXPECT_EQ(c.lb_port_last, 40009);
  for (const char* bad : {"40000", "x-y", "40010-40000", "0-10", "65000-70000"}) {
    Config b = Valid();
    b.lb_port_range = bad;
    Status st = b.Finalize();
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("--lb-port-range"), std::string::npos) << st.message();
  }
}

TEST(Config, LbPortRangeMayNotOverlapTheTaskRanges) {
  Config c = Valid();
  c.lb_port_range = "32990-33010";  // into --public-port-range 32000-32999
  Status st = c.Finalize();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("overlaps --public-port-range"), std::string::npos) << st.message();
  Config e = Valid();
  e.lb_port_range = "49000-49153";  // touches --ephemeral-port-range 49153-65535
  st = e.Finalize();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("overlaps --ephemeral-port-range"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace kecs::daemon
