// The runtime conformance suite (conformance.h) against the simulated runtime. The local
// runtime runs the same suite in the privileged tests.
#include "runtime/simulated/simulated_runtime.h"

#include "base/ids.h"
#include "unit/runtime/conformance.h"

namespace kecs::runtime::conformance {
namespace {

class SimulatedHarness : public Harness {
 public:
  Status Start() override { return Status::Ok(); }
  Runtime& runtime() override { return rt_; }
  TaskSpec NewTask(int n) override {
    TaskSpec t;
    t.task_id = RandomHex(32);
    t.cluster = "default";
    t.family = "conformance";
    t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + t.task_id;
    t.network.mode = model::NetworkMode::kAwsvpc;
    t.network.ip = "10.0.1." + std::to_string(10 + n);
    t.network.prefix_len = 24;
    t.network.gateway = "10.0.1.1";
    t.network.vpc_id = "vpc-" + RandomHex(17);
    t.network.subnet_id = "subnet-" + RandomHex(17);
    t.network.subnet_cidr = "10.0.1.0/24";
    t.network.transit_slot = 0;
    return t;
  }
  std::string Image() override { return "busybox"; }
  // Nothing exists outside the runtime's memory.
  std::vector<std::string> Leftovers(const TaskSpec&) override { return {}; }
  std::vector<std::string> KeptFiles(const TaskSpec&) override { return {}; }
  void CleanUp() override { (void)rt_.GarbageCollect({}, {}); }

 private:
  SimulatedRuntime rt_;
};

INSTANTIATE_TEST_SUITE_P(Simulated, RuntimeConformance,
                         ::testing::Values(RuntimeFactory{"simulated", [] { return std::make_unique<SimulatedHarness>(); }}),
                         RuntimeFactoryName);

// What the simulated runtime documents beyond the contract (simulated_runtime.h).
TEST(SimulatedRuntime, HasNoDataPlaneAndSaysSo) {
  SimulatedRuntime rt;
  EXPECT_EQ(rt.name(), "simulated");
  EXPECT_FALSE(rt.has_data_plane());
  EXPECT_NE(rt.Describe().find("no data plane"), std::string::npos);
}

TEST(SimulatedRuntime, TasksItNeverHeardOfCountAsRunning) {
  SimulatedRuntime rt;
  SimulatedHarness h;
  TaskSpec t = h.NewTask(0);
  t.containers = {ContainerSpec{.name = "a"}, ContainerSpec{.name = "b"}};
  auto s = rt.Inspect(t);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->containers.size(), 2u);
  for (const auto& c : s->containers) {
    EXPECT_EQ(c.phase, ContainerState::Phase::kRunning);
    EXPECT_FALSE(c.exit_code.has_value());
  }
}

TEST(SimulatedRuntime, DigestsAreStablePerImage) {
  SimulatedRuntime rt;
  SimulatedHarness h;
  TaskSpec t = h.NewTask(0);
  t.containers = {ContainerSpec{.name = "a", .image = "nginx"}, ContainerSpec{.name = "b", .image = "nginx"},
                  ContainerSpec{.name = "c", .image = "redis"}};
  auto d = rt.PullImages(t);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->at("a"), d->at("b"));
  EXPECT_NE(d->at("a"), d->at("c"));
  EXPECT_EQ(d->at("a").size(), 7u + 64u);
}

}  // namespace
}  // namespace kecs::runtime::conformance
