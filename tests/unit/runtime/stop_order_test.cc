// runtime::StopOrder: containers stop in reverse dependency order, wave by wave.
#include <gtest/gtest.h>

#include "runtime/runtime.h"

namespace kecs::runtime {
namespace {

using model::DependencyCondition;
using Waves = std::vector<std::vector<std::string>>;

ContainerSpec C(std::string name, std::vector<std::pair<std::string, DependencyCondition>> deps = {}) {
  ContainerSpec c;
  c.name = std::move(name);
  for (auto& [n, cond] : deps) c.depends_on.push_back({n, cond});
  return c;
}

TaskSpec Task(std::vector<ContainerSpec> containers) {
  TaskSpec t;
  t.task_id = "t";
  t.containers = std::move(containers);
  return t;
}

TEST(StopOrder, ContainersWithoutDependenciesStopTogether) {
  EXPECT_EQ(StopOrder(Task({C("a"), C("b"), C("c")})), (Waves{{"a", "b", "c"}}));
}

TEST(StopOrder, DependentsStopBeforeWhatTheyDependOn) {
  // web -> app -> db: web stops first, db last.
  auto t = Task({C("db"), C("app", {{"db", DependencyCondition::kHealthy}}),
                 C("web", {{"app", DependencyCondition::kStart}})});
  EXPECT_EQ(StopOrder(t), (Waves{{"web"}, {"app"}, {"db"}}));
}

TEST(StopOrder, EveryConditionOrdersTheStop) {
  for (auto cond : {DependencyCondition::kStart, DependencyCondition::kComplete, DependencyCondition::kSuccess,
                    DependencyCondition::kHealthy}) {
    EXPECT_EQ(StopOrder(Task({C("a", {{"b", cond}}), C("b")})), (Waves{{"a"}, {"b"}}));
  }
}

TEST(StopOrder, ADiamondStopsInThreeWaves) {
  // a and b both need c; d needs a and b.
  auto t = Task({C("d", {{"a", DependencyCondition::kStart}, {"b", DependencyCondition::kStart}}),
                 C("a", {{"c", DependencyCondition::kStart}}), C("b", {{"c", DependencyCondition::kStart}}), C("c")});
  EXPECT_EQ(StopOrder(t), (Waves{{"d"}, {"a", "b"}, {"c"}}));
}

TEST(StopOrder, AContainerNobodyNeedsStopsInTheFirstWave) {
  auto t = Task({C("db"), C("app", {{"db", DependencyCondition::kStart}}), C("logger")});
  EXPECT_EQ(StopOrder(t), (Waves{{"app", "logger"}, {"db"}}));
}

TEST(StopOrder, ACycleFallsIntoOneLastWave) {
  // Validation refuses cycles; should one get through, every container still stops once.
  auto t = Task({C("x"), C("a", {{"b", DependencyCondition::kStart}}), C("b", {{"a", DependencyCondition::kStart}}),
                 C("y", {{"x", DependencyCondition::kStart}})});
  EXPECT_EQ(StopOrder(t), (Waves{{"y"}, {"x"}, {"a", "b"}}));
}

TEST(StopOrder, ADependencyOnAnUnknownContainerIsIgnored) {
  EXPECT_EQ(StopOrder(Task({C("a", {{"ghost", DependencyCondition::kStart}})})), (Waves{{"a"}}));
}

TEST(StopOrder, NoContainersNoWaves) { EXPECT_TRUE(StopOrder(Task({})).empty()); }

}  // namespace
}  // namespace kecs::runtime
