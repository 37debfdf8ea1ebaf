// UpdateContainerAgent's progress as a container instance shows it (api/ecs/agent.h).
#include "api/ecs/agent.h"

#include <gtest/gtest.h>

namespace kecs::api::ecs {
namespace {

Json Stored(bool agent_driven) {
  return {{"versionInfo", {{"agentVersion", "1.50.0"}, {"agentHash", "abc"}}},
          {"agentUpdateStatus", "PENDING"},
          {"kecs:agentUpdate", {{"startedAt", 1000.0}, {"to", kLatestAgentVersion}, {"agent", agent_driven}}}};
}

std::string StatusAt(const Json& stored, double now) {
  Json view = {{"versionInfo", stored["versionInfo"]}, {"agentUpdateStatus", "PENDING"}};
  ShowAgentUpdate(stored, now, view);
  return view["agentUpdateStatus"].get<std::string>() + "/" + view["versionInfo"]["agentVersion"].get<std::string>();
}

TEST(AgentUpdate, GoesThroughEachStageToUpdatedOnAnInstanceKecsRuns) {
  Json s = Stored(false);
  EXPECT_EQ(StatusAt(s, 1000.0), "PENDING/1.50.0");
  EXPECT_EQ(StatusAt(s, 1001.5), "STAGING/1.50.0");
  EXPECT_EQ(StatusAt(s, 1002.0), "STAGED/1.50.0");
  EXPECT_EQ(StatusAt(s, 1003.9), "UPDATING/1.50.0");
  EXPECT_EQ(StatusAt(s, 1004.0), std::string("UPDATED/") + kLatestAgentVersion);
  EXPECT_EQ(StatusAt(s, 99999.0), std::string("UPDATED/") + kLatestAgentVersion);
  EXPECT_EQ(StatusAt(s, 900.0), "PENDING/1.50.0");  // a clock behind the start
}

TEST(AgentUpdate, StaysPendingOnAnAgentDrivenInstance) {
  EXPECT_EQ(StatusAt(Stored(true), 99999.0), "PENDING/1.50.0");
}

TEST(AgentUpdate, NoUpdateLeavesTheViewAlone) {
  Json stored = {{"versionInfo", {{"agentVersion", "1.82.0"}}}};
  Json view = stored;
  ShowAgentUpdate(stored, 5.0, view);
  EXPECT_EQ(view, stored);
}

}  // namespace
}  // namespace kecs::api::ecs
