// What the simulated runtime does for dependsOn and health checks (simulated_runtime.h):
// nothing runs, yet a task with dependencies goes through its waves.
#include "runtime/simulated/simulated_runtime.h"

#include <gtest/gtest.h>

namespace kecs::runtime {
namespace {

using model::DependencyCondition;
using Phase = ContainerState::Phase;

TaskSpec InitAppTask() {
  TaskSpec t;
  t.task_id = "0123456789abcdef0123456789abcdef";
  ContainerSpec init{.name = "init"};
  ContainerSpec db{.name = "db"};
  db.health_check = model::HealthCheck{.command = {"CMD-SHELL", "true"}};
  ContainerSpec app{.name = "app"};
  app.depends_on = {{"init", DependencyCondition::kSuccess}, {"db", DependencyCondition::kHealthy}};
  t.containers = {init, db, app};
  return t;
}

const ContainerState& Of(const TaskState& s, const std::string& name) {
  for (const auto& c : s.containers) {
    if (c.name == name) return c;
  }
  throw std::runtime_error("no container " + name);
}

TEST(SimulatedRuntimeDependsOn, ContainersNotStartedYetAreMissing) {
  SimulatedRuntime rt;
  TaskSpec t = InitAppTask();
  ASSERT_TRUE(rt.StartContainers(t, {"db"}).ok());
  auto s = rt.Inspect(t);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Of(*s, "db").phase, Phase::kRunning);
  EXPECT_EQ(Of(*s, "init").phase, Phase::kMissing);
  EXPECT_EQ(Of(*s, "app").phase, Phase::kMissing);
}

TEST(SimulatedRuntimeDependsOn, ARunningContainerWithAHealthCheckIsHealthy) {
  SimulatedRuntime rt;
  TaskSpec t = InitAppTask();
  ASSERT_TRUE(rt.StartContainers(t).ok());
  auto s = rt.Inspect(t);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Of(*s, "db").health, model::HealthStatus::kHealthy);
  EXPECT_EQ(Of(*s, "app").health, model::HealthStatus::kUnknown);  // no health check
}

TEST(SimulatedRuntimeDependsOn, AContainerWaitedOnToCompleteExitsZeroOnceStarted) {
  SimulatedRuntime rt;
  TaskSpec t = InitAppTask();
  ASSERT_TRUE(rt.StartContainers(t, {"init"}).ok());
  auto s = rt.Inspect(t);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Of(*s, "init").phase, Phase::kExited);
  EXPECT_EQ(Of(*s, "init").exit_code, 0);
}

TEST(SimulatedRuntimeDependsOn, StopReportsTheContainersInStopOrder) {
  SimulatedRuntime rt;
  TaskSpec t = InitAppTask();
  ASSERT_TRUE(rt.StartContainers(t).ok());
  auto s = rt.StopContainers(t);
  ASSERT_TRUE(s.ok());
  std::vector<std::string> order;
  for (const auto& c : s->containers) {
    order.push_back(c.name);
    EXPECT_EQ(c.phase, Phase::kExited);
    EXPECT_EQ(c.exit_code, 0);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"app", "init", "db"}));
}

}  // namespace
}  // namespace kecs::runtime
