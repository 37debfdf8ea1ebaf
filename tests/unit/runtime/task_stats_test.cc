// A container's usage read from fixture cgroup and proc files: cgroup v1 controllers (a
// hybrid host), and pure cgroup v2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "runtime/local/local_runtime.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::local {
namespace {

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

class TaskStatsTest : public ::testing::Test {
 protected:
  TaskStatsTest() {
    src_.cgroup_root = dir_.path() + "/sys/fs/cgroup";
    src_.proc_root = dir_.path() + "/proc";
    Write(src_.proc_root + "/stat",
          "cpu  100 0 50 800 10 0 40 0 0 0\ncpu0 50 0 25 400 5 0 20 0 0 0\ncpu1 50 0 25 400 5 0 20 0 0 0\n"
          "intr 1\n");
    Write(src_.proc_root + "/42/net/dev",
          "Inter-|   Receive                                                |  Transmit\n"
          " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
          "    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n"
          "  eth0:    2048      16    1    2    0     0          0         0     4096      32    3    4    0     0       0          0\n");
    Write(src_.proc_root + "/meminfo", "MemTotal:        2048 kB\nMemFree: 1024 kB\n");
  }
  kecs::testing::TempDir dir_;
  StatsSources src_;
};

TEST_F(TaskStatsTest, ReadsCgroupV1ControllersWhereProcCgroupPutsThem) {
  Write(src_.proc_root + "/42/cgroup",
        "8:pids:/kecs/t1/app\n7:blkio:/kecs/t1/app\n4:memory:/daemon/kecs/t1/app\n2:cpuacct:/kecs/t1/app\n"
        "1:cpu:/kecs/t1/app\n0::/kecs/t1/app\n");
  std::string cg = src_.cgroup_root;
  Write(cg + "/cpuacct/kecs/t1/app/cpuacct.usage", "3000000\n");
  Write(cg + "/cpuacct/kecs/t1/app/cpuacct.usage_percpu", "1000000 2000000 \n");
  Write(cg + "/cpuacct/kecs/t1/app/cpuacct.stat", "user 2\nsystem 1\n");
  Write(cg + "/cpu/kecs/t1/app/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n");
  Write(cg + "/memory/daemon/kecs/t1/app/memory.usage_in_bytes", "8192\n");
  Write(cg + "/memory/daemon/kecs/t1/app/memory.max_usage_in_bytes", "16384\n");
  Write(cg + "/memory/daemon/kecs/t1/app/memory.limit_in_bytes", "134217728\n");
  Write(cg + "/memory/daemon/kecs/t1/app/memory.stat", "cache 4096\nrss 2048\n");
  Write(cg + "/pids/kecs/t1/app/pids.current", "3\n");
  Write(cg + "/blkio/kecs/t1/app/blkio.throttle.io_service_bytes_recursive", "8:0 Read 512\n8:0 Write 1024\nTotal 1536\n");
  Write(cg + "/blkio/kecs/t1/app/blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n");

  auto s = ReadContainerStats(Env::Default(), src_, 42, "app", false, 1000.0);
  ASSERT_TRUE(s.ok()) << s.status().message();
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t tick = 1000000000ULL / static_cast<uint64_t>(hz);
  EXPECT_EQ(s->name, "app");
  EXPECT_EQ(s->read_at, 1000.0);
  EXPECT_EQ(s->cpu_total_ns, 3000000u);
  EXPECT_EQ(s->percpu_ns, (std::vector<uint64_t>{1000000, 2000000}));
  EXPECT_EQ(s->cpu_user_ns, 2 * tick);
  EXPECT_EQ(s->cpu_kernel_ns, 1 * tick);
  EXPECT_EQ(s->throttling_periods, 10u);
  EXPECT_EQ(s->throttled_periods, 2u);
  EXPECT_EQ(s->throttled_time_ns, 5000u);
  EXPECT_EQ(s->memory_usage, 8192u);
  EXPECT_EQ(s->memory_max_usage, 16384u);
  EXPECT_EQ(s->memory_limit, 134217728u);
  ASSERT_EQ(s->memory_stat.size(), 2u);
  EXPECT_EQ(s->memory_stat[1], (std::pair<std::string, uint64_t>{"rss", 2048}));
  EXPECT_EQ(s->pids, 3u);
  ASSERT_EQ(s->io_service_bytes.size(), 2u);  // the Total line is not a device's
  EXPECT_EQ(s->io_service_bytes[1].op, "Write");
  EXPECT_EQ(s->io_service_bytes[1].value, 1024u);
  EXPECT_EQ(s->io_serviced[0].value, 1u);
  EXPECT_EQ(s->system_cpu_ns, (100u + 50 + 800 + 10 + 40) * tick);
  EXPECT_EQ(s->online_cpus, 2);
  ASSERT_EQ(s->networks.size(), 1u);  // lo is not the task's interface
  EXPECT_EQ(s->networks[0].name, "eth0");
  EXPECT_EQ(s->networks[0].rx_bytes, 2048u);
  EXPECT_EQ(s->networks[0].rx_packets, 16u);
  EXPECT_EQ(s->networks[0].rx_errors, 1u);
  EXPECT_EQ(s->networks[0].rx_dropped, 2u);
  EXPECT_EQ(s->networks[0].tx_bytes, 4096u);
  EXPECT_EQ(s->networks[0].tx_packets, 32u);
  EXPECT_EQ(s->networks[0].tx_errors, 3u);
  EXPECT_EQ(s->networks[0].tx_dropped, 4u);
}

TEST_F(TaskStatsTest, ReadsPureCgroupV2) {
  Write(src_.proc_root + "/42/cgroup", "0::/kecs/t1/app\n");
  std::string d = src_.cgroup_root + "/kecs/t1/app";
  Write(src_.cgroup_root + "/cgroup.controllers", "cpu memory pids io\n");
  Write(d + "/cpu.stat", "usage_usec 300\nuser_usec 200\nsystem_usec 100\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n");
  Write(d + "/memory.current", "8192\n");
  Write(d + "/memory.peak", "9000\n");
  Write(d + "/memory.max", "max\n");
  Write(d + "/memory.stat", "anon 100\nfile 200\n");
  Write(d + "/pids.current", "2\n");
  Write(d + "/io.stat", "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n");

  auto s = ReadContainerStats(Env::Default(), src_, 42, "app", /*host_network=*/true, 1000.0);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->cpu_total_ns, 300000u);
  EXPECT_EQ(s->cpu_user_ns, 200000u);
  EXPECT_EQ(s->cpu_kernel_ns, 100000u);
  EXPECT_TRUE(s->percpu_ns.empty());
  EXPECT_EQ(s->throttled_time_ns, 7000u);
  EXPECT_EQ(s->memory_usage, 8192u);
  EXPECT_EQ(s->memory_max_usage, 9000u);
  EXPECT_EQ(s->memory_limit, 2048u * 1024);  // no limit: the host's memory, as Docker reports
  EXPECT_EQ(s->pids, 2u);
  ASSERT_EQ(s->io_service_bytes.size(), 2u);
  EXPECT_EQ(s->io_service_bytes[0].op, "read");
  EXPECT_EQ(s->io_service_bytes[0].value, 512u);
  EXPECT_EQ(s->io_serviced[1].value, 2u);
  EXPECT_TRUE(s->networks.empty());  // host mode: the host's interfaces are not the task's
}

TEST_F(TaskStatsTest, HybridHostReadsTheUnifiedMountWhenNoV1ControllerHoldsIt) {
  Write(src_.proc_root + "/42/cgroup", "9:name=systemd:/x\n0::/kecs/t1/app\n");
  Write(src_.cgroup_root + "/unified/kecs/t1/app/memory.current", "77\n");
  auto s = ReadContainerStats(Env::Default(), src_, 42, "app", false, 1.0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->memory_usage, 77u);
}

TEST_F(TaskStatsTest, AProcessThatIsGoneIsNotFound) {
  EXPECT_EQ(ReadContainerStats(Env::Default(), src_, 99, "app", false, 1.0).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace kecs::runtime::local
