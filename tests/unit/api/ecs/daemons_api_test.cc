// ECS managed daemons (issue 18) through the real ECS handlers and router: daemon task
// definitions (register, describe, list, delete) and, with the daemon scheduler driven by
// hand, daemons that run one task per container instance and roll them to a new revision.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/ecs/daemons.h"
#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "base/clock.h"
#include "model/kinds.h"
#include "model/shapes.h"
#include "reconcile/daemon_controller.h"
#include "state/records/tasks.h"
#include "net/domain/vpc.h"
#include "state/store.h"
#include "unit/support/ecs_router.h"

namespace kecs::api::ecs {
namespace {

class DaemonsApiTest : public kecs::testing::EcsRouterTest {
 protected:
  // An error call: its __type and message.
  std::pair<std::string, std::string> Error(const std::string& op, const Json& body) {
    auto resp = Send(op, body);
    EXPECT_EQ(resp.status, 400) << op << ": " << resp.body;
    auto j = ParseJson(resp.body);
    if (!j) return {};
    std::string type = JStr(*j, "__type");
    if (auto hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
    return {type, JStr(*j, "message")};
  }

  static Json Container(const std::string& name) {
    return {{"name", name}, {"image", "busybox"}, {"memory", 64}, {"command", {"sleep", "3600"}}};
  }
  std::string RegisterTd(const std::string& family) {
    Json r = Call("RegisterDaemonTaskDefinition",
                  {{"family", family}, {"containerDefinitions", {Container("agent")}}});
    return JStr(r, "daemonTaskDefinitionArn");
  }

};

TEST(DaemonTaskDefinitionRefs, SplitsFamilyRevisionAndArn) {
  std::string f;
  int64_t rev = -1;
  EXPECT_TRUE(SplitDaemonTaskDefinition("agent", &f, &rev));
  EXPECT_EQ(f, "agent");
  EXPECT_EQ(rev, 0);
  EXPECT_TRUE(SplitDaemonTaskDefinition("agent:7", &f, &rev));
  EXPECT_EQ(rev, 7);
  EXPECT_TRUE(SplitDaemonTaskDefinition(
      "arn:aws:ecs:us-east-1:000000000000:daemon-task-definition/agent:3", &f, &rev));
  EXPECT_EQ(f, "agent");
  EXPECT_EQ(rev, 3);
  EXPECT_FALSE(SplitDaemonTaskDefinition("arn:aws:ecs:us-east-1:000000000000:task-definition/agent:3", &f, &rev));
  EXPECT_FALSE(SplitDaemonTaskDefinition("agent:x", &f, &rev));
  EXPECT_FALSE(SplitDaemonTaskDefinition("", &f, &rev));
}

TEST(DaemonLaunchDefinitions, RunInHostModeWithSharedNamespacesAsHost) {
  Json in = {{"family", "agent"},
             {"containerDefinitions", {{{"name", "a"}, {"image", "busybox"}, {"memory", 32}}}},
             {"pidMode", "shared"},
             {"ipcMode", "none"}};
  Json td = DaemonLaunchDefinition(in, true);
  EXPECT_EQ(td["networkMode"], "host");
  EXPECT_EQ(td["pidMode"], "host");
  EXPECT_FALSE(td.contains("ipcMode"));
  Json doc = DaemonTaskDefinitionDocument(in);
  EXPECT_EQ(doc["containerDefinitions"][0]["essential"], true);
  EXPECT_FALSE(doc["containerDefinitions"][0].contains("portMappings"));
}

TEST_F(DaemonsApiTest, RegistersRevisionsAndDescribesTheLatestActive) {
  std::string a1 = RegisterTd("agent");
  std::string a2 = RegisterTd("agent");
  EXPECT_EQ(a1, "arn:aws:ecs:us-east-1:000000000000:daemon-task-definition/agent:1");
  EXPECT_EQ(a2, "arn:aws:ecs:us-east-1:000000000000:daemon-task-definition/agent:2");
  Json d = Call("DescribeDaemonTaskDefinition", {{"daemonTaskDefinition", "agent"}});
  EXPECT_EQ(d["daemonTaskDefinition"]["revision"], 2);
  EXPECT_EQ(d["daemonTaskDefinition"]["status"], "ACTIVE");
  EXPECT_EQ(d["daemonTaskDefinition"]["containerDefinitions"][0]["name"], "agent");
  d = Call("DescribeDaemonTaskDefinition", {{"daemonTaskDefinition", a1}});
  EXPECT_EQ(d["daemonTaskDefinition"]["revision"], 1);
}

TEST_F(DaemonsApiTest, RefusesABadContainerDefinitionInEcsWords) {
  auto [type, msg] = Error("RegisterDaemonTaskDefinition",
                           {{"family", "bad family"}, {"containerDefinitions", {Container("a")}}});
  EXPECT_EQ(type, "ClientException");
  EXPECT_FALSE(msg.empty());
  auto e = Error("DescribeDaemonTaskDefinition", {{"daemonTaskDefinition", "nothing:1"}});
  EXPECT_EQ(e.first, "ClientException");
  EXPECT_EQ(e.second, "Unable to describe daemon task definition.");
}

TEST_F(DaemonsApiTest, DeleteMarksDeleteInProgressOnceAndListFiltersByStatus) {
  RegisterTd("agent");
  RegisterTd("agent");
  RegisterTd("other");
  Json r = Call("DeleteDaemonTaskDefinition", {{"daemonTaskDefinition", "agent:1"}});
  EXPECT_EQ(r["daemonTaskDefinitionArn"], "arn:aws:ecs:us-east-1:000000000000:daemon-task-definition/agent:1");
  auto again = Error("DeleteDaemonTaskDefinition", {{"daemonTaskDefinition", "agent:1"}});
  EXPECT_EQ(again.first, "ClientException");
  EXPECT_EQ(again.second, "The specified daemon task definition is not in an ACTIVE state.");
  EXPECT_EQ(Error("DeleteDaemonTaskDefinition", {{"daemonTaskDefinition", "agent"}}).first, "ClientException");

  Json active = Call("ListDaemonTaskDefinitions", Json::object());
  ASSERT_EQ(active["daemonTaskDefinitions"].size(), 2u);
  EXPECT_EQ(active["daemonTaskDefinitions"][0]["arn"], "arn:aws:ecs:us-east-1:000000000000:daemon-task-definition/agent:2");
  Json deleting = Call("ListDaemonTaskDefinitions", {{"status", "DELETE_IN_PROGRESS"}});
  ASSERT_EQ(deleting["daemonTaskDefinitions"].size(), 1u);
  EXPECT_TRUE(deleting["daemonTaskDefinitions"][0].contains("deleteRequestedAt"));
  Json last = Call("ListDaemonTaskDefinitions", {{"status", "ALL"}, {"revision", "LAST_REGISTERED"}, {"sort", "DESC"}});
  ASSERT_EQ(last["daemonTaskDefinitions"].size(), 2u);
  EXPECT_EQ(last["daemonTaskDefinitions"][0]["arn"], "arn:aws:ecs:us-east-1:000000000000:daemon-task-definition/other:1");
  Json family = Call("ListDaemonTaskDefinitions", {{"family", "agent"}, {"status", "ALL"}});
  EXPECT_EQ(family["daemonTaskDefinitions"].size(), 2u);
}

TEST_F(DaemonsApiTest, ListPagesWithTokens) {
  for (int i = 0; i < 3; ++i) RegisterTd("agent");
  Json p1 = Call("ListDaemonTaskDefinitions", {{"maxResults", 2}});
  ASSERT_EQ(p1["daemonTaskDefinitions"].size(), 2u);
  ASSERT_TRUE(p1.contains("nextToken"));
  Json p2 = Call("ListDaemonTaskDefinitions", {{"maxResults", 2}, {"nextToken", p1["nextToken"]}});
  ASSERT_EQ(p2["daemonTaskDefinitions"].size(), 1u);
  EXPECT_FALSE(p2.contains("nextToken"));
  EXPECT_EQ(Error("ListDaemonTaskDefinitions", {{"maxResults", 0}}).first, "InvalidParameterException");
}

}  // namespace
}  // namespace kecs::api::ecs

namespace kecs::api::ecs {
namespace {

TEST(DaemonBatches, DrainPercentOfInstancesRoundedUpAtLeastOne) {
  EXPECT_EQ(reconcile::DaemonBatchSize(25, 4), 1);
  EXPECT_EQ(reconcile::DaemonBatchSize(25, 5), 2);
  EXPECT_EQ(reconcile::DaemonBatchSize(0, 5), 1);
  EXPECT_EQ(reconcile::DaemonBatchSize(100, 3), 3);
  EXPECT_EQ(reconcile::DaemonBatchSize(50, 0), 1);
}

// A cluster with the host's instance and a Managed Instances capacity provider, a daemon
// on it, and the scheduler run by hand; tasks are moved on by hand as the task controller
// would.
class DaemonSchedulerTest : public DaemonsApiTest {
 protected:
  void SetUp() override {
    DaemonsApiTest::SetUp();
    Call("CreateCluster", {{"clusterName", "c1"}});
    Call("CreateCapacityProvider",
         {{"name", "mi"},
          {"managedInstancesProvider",
           {{"infrastructureRoleArn", "arn:aws:iam::000000000000:role/infra"},
            {"instanceLaunchTemplate",
             {{"ec2InstanceProfileArn", "arn:aws:iam::000000000000:instance-profile/p"},
              {"networkConfiguration", {{"subnets", Json::array()}}}}}}}});
    Call("PutClusterCapacityProviders",
         {{"cluster", "c1"}, {"capacityProviders", {"mi"}}, {"defaultCapacityProviderStrategy", Json::array()}});
    scheduler_ = std::make_unique<reconcile::DaemonController>(*store_, *ecs_, reconcile::DaemonController::Options{}, clock_);
  }

  std::vector<model::Task> Tasks() {
    std::vector<model::Task> out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, state::records::ListTasks(tx, {model::kTask, "us-east-1", "c1"}));
      return Status::Ok();
    }).ok());
    return out;
  }
  // The live tasks of `td` fail: STOPPED on their own (an image that does not pull).
  void Fail(const std::string& td) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx, {model::kTask, "us-east-1", "c1"}));
      for (auto& t : all) {
        if (t.last_status == model::TaskStatus::kStopped || t.task_definition_arn != td) continue;
        t.last_status = t.desired_status = model::TaskStatus::kStopped;
        t.stop_code = model::StopCode::kTaskFailedToStart;
        t.stopped_at = clock_.Now();
        ++t.version;
        RETURN_IF_ERROR(state::records::PutTask(tx, t));
      }
      return Status::Ok();
    }).ok());
  }
  // Creates daemon d1 of `td` on c1 and runs it to SUCCESSFUL; its ARN.
  std::string Running(const std::string& td) {
    Json c = Call("CreateDaemon", {{"daemonName", "d1"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td},
                                   {"capacityProviderArns", {"mi"}}});
    scheduler_->RunOnce();
    Settle();
    scheduler_->RunOnce();
    EXPECT_EQ(Deployment(JStr(c, "deploymentArn"))["status"], "SUCCESSFUL");
    return JStr(c, "daemonArn");
  }
  // Moves every task on: desired RUNNING -> RUNNING, desired STOPPED -> STOPPED.
  void Settle() {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx, {model::kTask, "us-east-1", "c1"}));
      for (auto& t : all) {
        if (t.last_status == model::TaskStatus::kStopped) continue;
        t.last_status = t.desired_status == model::TaskStatus::kStopped ? model::TaskStatus::kStopped
                                                                        : model::TaskStatus::kRunning;
        ++t.version;
        RETURN_IF_ERROR(state::records::PutTask(tx, t));
      }
      return Status::Ok();
    }).ok());
  }
  std::vector<model::Task> Live() {
    std::vector<model::Task> out;
    for (auto& t : Tasks()) {
      if (t.last_status != model::TaskStatus::kStopped) out.push_back(t);
    }
    return out;
  }
  Json Deployment(const std::string& arn) {
    Json d = Call("DescribeDaemonDeployments", {{"daemonDeploymentArns", {arn}}});
    return d["daemonDeployments"].empty() ? Json() : d["daemonDeployments"][0];
  }

  FakeClock clock_{1700000000};
  std::unique_ptr<reconcile::DaemonController> scheduler_;
};

TEST_F(DaemonSchedulerTest, RunsOneTaskPerInstanceAndRollsToANewRevision) {
  std::string td1 = RegisterTd("agent");
  Json c = Call("CreateDaemon", {{"daemonName", "d1"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td1},
                                 {"capacityProviderArns", {"mi"}}});
  const std::string daemon = JStr(c, "daemonArn");
  EXPECT_EQ(daemon, "arn:aws:ecs:us-east-1:000000000000:daemon/c1/d1");
  EXPECT_EQ(c["status"], "ACTIVE");
  const std::string dep1 = JStr(c, "deploymentArn");
  EXPECT_EQ(Deployment(dep1)["status"], "PENDING");

  scheduler_->RunOnce();
  auto live = Live();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].task_definition_arn, td1);
  EXPECT_EQ(live[0].capacity_provider_name.value_or(""), "mi");
  EXPECT_TRUE(live[0].container_instance_arn.has_value());
  EXPECT_EQ(Deployment(dep1)["status"], "IN_PROGRESS");
  scheduler_->RunOnce();
  EXPECT_EQ(Live().size(), 1u) << "one task per instance, however many passes";
  Settle();
  scheduler_->RunOnce();
  Json d1 = Deployment(dep1);
  EXPECT_EQ(d1["status"], "SUCCESSFUL");
  EXPECT_TRUE(d1.contains("finishedAt"));
  EXPECT_EQ(d1["targetDaemonRevision"]["totalRunningInstanceCount"], 1);
  Json described = Call("DescribeDaemon", {{"daemonArn", daemon}});
  EXPECT_EQ(described["daemon"]["currentRevisions"][0]["totalRunningCount"], 1);

  // The update: the old task stops first, then the new one starts on the instance.
  std::string td2 = RegisterTd("agent");
  Json u = Call("UpdateDaemon", {{"daemonArn", daemon}, {"daemonTaskDefinitionArn", td2}, {"capacityProviderArns", {"mi"}}});
  const std::string dep2 = JStr(u, "deploymentArn");
  EXPECT_NE(dep2, dep1);
  scheduler_->RunOnce();
  live = Live();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].desired_status, model::TaskStatus::kStopped);
  EXPECT_EQ(Deployment(dep2)["sourceDaemonRevisions"][0]["totalDrainingInstanceCount"], 1);
  Settle();
  scheduler_->RunOnce();
  live = Live();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].task_definition_arn, td2);
  EXPECT_EQ(Deployment(dep2)["status"], "IN_PROGRESS");
  Settle();
  scheduler_->RunOnce();
  Json d2 = Deployment(dep2);
  EXPECT_EQ(d2["status"], "SUCCESSFUL");
  const std::string rev2 = JStr(d2["targetDaemonRevision"], "arn");
  Json revs = Call("DescribeDaemonRevisions", {{"daemonRevisionArns", {rev2, "arn:aws:ecs:us-east-1:000000000000:daemon-revision/c1/d1/nope"}}});
  ASSERT_EQ(revs["daemonRevisions"].size(), 1u);
  EXPECT_EQ(revs["daemonRevisions"][0]["daemonTaskDefinitionArn"], td2);
  EXPECT_EQ(revs["failures"][0]["reason"], "MISSING");
  Json listed = Call("ListDaemonDeployments", {{"daemonArn", daemon}});
  ASSERT_EQ(listed["daemonDeployments"].size(), 2u);
  EXPECT_EQ(listed["daemonDeployments"][0]["daemonDeploymentArn"], dep2);
  Json page = Call("ListDaemonDeployments", {{"daemonArn", daemon}, {"maxResults", 1}});
  ASSERT_EQ(page["daemonDeployments"].size(), 1u);
  EXPECT_TRUE(page.contains("nextToken"));

  // Delete: the tasks stop, then the daemon is gone.
  Json del = Call("DeleteDaemon", {{"daemonArn", daemon}});
  EXPECT_EQ(del["status"], "DELETE_IN_PROGRESS");
  EXPECT_EQ(Error("DeleteDaemon", {{"daemonArn", daemon}}).first, "DaemonNotActiveException");
  scheduler_->RunOnce();
  EXPECT_EQ(Live()[0].desired_status, model::TaskStatus::kStopped);
  Settle();
  scheduler_->RunOnce();
  EXPECT_TRUE(Live().empty());
  auto gone = Error("DescribeDaemon", {{"daemonArn", daemon}});
  EXPECT_EQ(gone.first, "DaemonNotFoundException");
  // Its deployments and revisions went with it.
  Json missing = Call("DescribeDaemonDeployments", {{"daemonDeploymentArns", {JStr(del, "deploymentArn"), dep1}}});
  EXPECT_TRUE(missing["daemonDeployments"].empty()) << missing.dump();
  EXPECT_EQ(missing["failures"].size(), 2u);
  revs = Call("DescribeDaemonRevisions", {{"daemonRevisionArns", {rev2}}});
  EXPECT_TRUE(revs["daemonRevisions"].empty()) << revs.dump();
  EXPECT_EQ(revs["failures"][0]["reason"], "MISSING");
}

TEST_F(DaemonSchedulerTest, RollsInBatchesOfDrainPercentAndWaitsTheBakeTime) {
  Call("RegisterContainerInstance", {{"cluster", "c1"}});
  std::string td1 = RegisterTd("agent");
  Json c = Call("CreateDaemon", {{"daemonName", "d1"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td1},
                                 {"capacityProviderArns", {"mi"}}});
  scheduler_->RunOnce();
  ASSERT_EQ(Live().size(), 2u) << "one task on each of the two instances";
  Settle();
  scheduler_->RunOnce();
  std::string td2 = RegisterTd("agent");
  Json u = Call("UpdateDaemon", {{"daemonArn", c["daemonArn"]}, {"daemonTaskDefinitionArn", td2}, {"capacityProviderArns", {"mi"}},
                                 {"deploymentConfiguration", {{"drainPercent", 50.0}, {"bakeTimeInMinutes", 1}}}});
  auto stopping = [&] {
    int n = 0;
    for (const auto& t : Live()) n += t.desired_status == model::TaskStatus::kStopped;
    return n;
  };
  auto running_new = [&] {
    int n = 0;
    for (const auto& t : Live()) n += t.task_definition_arn == td2 && t.last_status == model::TaskStatus::kRunning;
    return n;
  };
  scheduler_->RunOnce();
  EXPECT_EQ(stopping(), 1) << "50% of two instances: one at a time";
  Settle();
  scheduler_->RunOnce();  // the new task starts where the old one stopped
  Settle();
  scheduler_->RunOnce();  // the batch is done: the bake time starts
  EXPECT_EQ(running_new(), 1);
  scheduler_->RunOnce();
  EXPECT_EQ(stopping(), 0) << "the next batch waits for the bake time";
  EXPECT_EQ(Deployment(JStr(u, "deploymentArn"))["status"], "IN_PROGRESS");
  clock_.Advance(61);
  scheduler_->RunOnce();
  EXPECT_EQ(stopping(), 1);
  Settle();
  scheduler_->RunOnce();
  Settle();
  scheduler_->RunOnce();
  EXPECT_EQ(running_new(), 2);
  EXPECT_EQ(Deployment(JStr(u, "deploymentArn"))["status"], "IN_PROGRESS") << "baking after the last batch";
  clock_.Advance(61);
  scheduler_->RunOnce();
  Json d = Deployment(JStr(u, "deploymentArn"));
  EXPECT_EQ(d["status"], "SUCCESSFUL");
  EXPECT_EQ(d["deploymentConfiguration"]["drainPercent"], 50.0);
}

TEST_F(DaemonSchedulerTest, RefusesProvidersThatAreNotManagedInstancesOrNotInTheCluster) {
  std::string td = RegisterTd("agent");
  auto e = Error("CreateDaemon", {{"daemonName", "d"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td},
                                  {"capacityProviderArns", {"FARGATE"}}});
  EXPECT_EQ(e.first, "InvalidParameterException");
  e = Error("CreateDaemon", {{"daemonName", "d"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td},
                             {"capacityProviderArns", {"nope"}}});
  EXPECT_EQ(e.first, "InvalidParameterException");
  e = Error("CreateDaemon", {{"daemonName", "d"}, {"clusterArn", "nocluster"}, {"daemonTaskDefinitionArn", td},
                             {"capacityProviderArns", {"mi"}}});
  EXPECT_EQ(e.first, "ClusterNotFoundException");
  e = Error("DescribeDaemon", {{"daemonArn", "arn:aws:ecs:us-east-1:000000000000:daemon/c1/none"}});
  EXPECT_EQ(e.first, "DaemonNotFoundException");
  EXPECT_EQ(e.second, "Daemon not found.");
}

TEST_F(DaemonSchedulerTest, DeletedTaskDefinitionBecomesDeletedOnceNoDaemonRunsIt) {
  std::string td1 = RegisterTd("agent");
  Json c = Call("CreateDaemon", {{"daemonName", "d1"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td1},
                                 {"capacityProviderArns", {"mi"}}});
  Call("DeleteDaemonTaskDefinition", {{"daemonTaskDefinition", td1}});
  scheduler_->RunOnce();
  Json d = Call("DescribeDaemonTaskDefinition", {{"daemonTaskDefinition", td1}});
  EXPECT_EQ(d["daemonTaskDefinition"]["status"], "DELETE_IN_PROGRESS") << "the daemon still runs it";
  Call("DeleteDaemon", {{"daemonArn", c["daemonArn"]}});
  scheduler_->RunOnce();
  Settle();
  scheduler_->RunOnce();
  scheduler_->RunOnce();
  Json all = Call("ListDaemonTaskDefinitions", {{"status", "ALL"}});
  ASSERT_EQ(all["daemonTaskDefinitions"].size(), 1u);
  EXPECT_EQ(all["daemonTaskDefinitions"][0]["status"], "DELETED");
}

TEST_F(DaemonSchedulerTest, DeleteClusterIsRefusedWhileADaemonIsActive) {
  std::string daemon = Running(RegisterTd("agent"));
  auto e = Error("DeleteCluster", {{"cluster", "c1"}});
  EXPECT_EQ(e.first, "ClientException");
  EXPECT_EQ(e.second, "The Cluster cannot be deleted while Daemons are active.");
  Call("DeleteDaemon", {{"daemonArn", daemon}});
  scheduler_->RunOnce();
  Settle();
  scheduler_->RunOnce();
  EXPECT_EQ(Call("DeleteCluster", {{"cluster", "c1"}})["cluster"]["status"], "INACTIVE");
}

TEST_F(DaemonSchedulerTest, ADrainingInstanceDoesNotHoldTheRolloutBack) {
  Json ci = Call("RegisterContainerInstance", {{"cluster", "c1"}});
  std::string daemon = Running(RegisterTd("agent"));
  ASSERT_EQ(Live().size(), 2u);
  Call("UpdateContainerInstancesState", {{"cluster", "c1"},
                                         {"containerInstances", {ci["containerInstance"]["containerInstanceArn"]}},
                                         {"status", "DRAINING"}});
  std::string td2 = RegisterTd("agent");
  Json u = Call("UpdateDaemon", {{"daemonArn", daemon}, {"daemonTaskDefinitionArn", td2}, {"capacityProviderArns", {"mi"}}});
  for (int i = 0; i < 3; ++i) {
    scheduler_->RunOnce();
    Settle();
  }
  scheduler_->RunOnce();
  EXPECT_EQ(Deployment(JStr(u, "deploymentArn"))["status"], "SUCCESSFUL")
      << "the draining instance keeps its old task, which is never replaced";
  EXPECT_EQ(Live().size(), 2u);
}

TEST_F(DaemonSchedulerTest, TheCircuitBreakerRollsBackToThePreviousRevision) {
  std::string td1 = RegisterTd("agent");
  std::string daemon = Running(td1);
  const std::string rev1 = JStr(Call("DescribeDaemon", {{"daemonArn", daemon}})["daemon"]["currentRevisions"][0], "arn");
  std::string td2 = RegisterTd("agent");
  Json u = Call("UpdateDaemon", {{"daemonArn", daemon}, {"daemonTaskDefinitionArn", td2}, {"capacityProviderArns", {"mi"}}});
  const std::string dep = JStr(u, "deploymentArn");
  scheduler_->RunOnce();  // the old task stops
  Settle();
  scheduler_->RunOnce();  // the new one starts
  Json d = Deployment(dep);
  EXPECT_EQ(d["circuitBreaker"]["status"], "MONITORING");
  EXPECT_EQ(d["circuitBreaker"]["threshold"], 3) << "ECS's minimum";
  for (int i = 0; i < 3; ++i) {  // the new revision's task never starts
    Fail(td2);
    clock_.Advance(6);
    scheduler_->RunOnce();
  }
  d = Deployment(dep);
  EXPECT_EQ(d["status"], "ROLLBACK_IN_PROGRESS") << d.dump();
  EXPECT_EQ(d["circuitBreaker"]["status"], "TRIGGERED");
  EXPECT_EQ(d["circuitBreaker"]["failureCount"], 3);
  EXPECT_EQ(d["rollback"]["rollbackTargetDaemonRevisionArn"], rev1);
  scheduler_->RunOnce();
  Settle();
  scheduler_->RunOnce();
  d = Deployment(dep);
  EXPECT_EQ(d["status"], "ROLLBACK_SUCCESSFUL") << d.dump();
  auto live = Live();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].task_definition_arn, td1);
  Json now = Call("DescribeDaemon", {{"daemonArn", daemon}})["daemon"];
  ASSERT_EQ(now["currentRevisions"].size(), 1u);
  EXPECT_EQ(now["currentRevisions"][0]["arn"], rev1);
}

TEST_F(DaemonSchedulerTest, AFirstDeploymentWhoseTasksNeverStartStopsRelaunching) {
  std::string td = RegisterTd("agent");
  Json c = Call("CreateDaemon", {{"daemonName", "d1"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td},
                                 {"capacityProviderArns", {"mi"}}});
  scheduler_->RunOnce();
  for (int i = 0; i < 3; ++i) {
    Fail(td);
    clock_.Advance(6);
    scheduler_->RunOnce();
  }
  Json d = Deployment(JStr(c, "deploymentArn"));
  EXPECT_EQ(d["status"], "ROLLBACK_FAILED") << d.dump();
  EXPECT_TRUE(d.contains("finishedAt"));
  const size_t tasks = Tasks().size();
  clock_.Advance(60);
  scheduler_->RunOnce();
  EXPECT_EQ(Tasks().size(), tasks) << "no more launches";
  // A new revision starts again.
  std::string td2 = RegisterTd("agent");
  Call("UpdateDaemon", {{"daemonArn", c["daemonArn"]}, {"daemonTaskDefinitionArn", td2}, {"capacityProviderArns", {"mi"}}});
  scheduler_->RunOnce();
  ASSERT_EQ(Live().size(), 1u);
  EXPECT_EQ(Live()[0].task_definition_arn, td2);
}

TEST_F(DaemonSchedulerTest, TheBakeTimeUsesTheDeploymentMinute) {
  reconcile::DaemonController::Options o;
  o.minute_seconds = 2;  // KECS_DEPLOYMENT_MINUTE_SECONDS
  scheduler_ = std::make_unique<reconcile::DaemonController>(*store_, *ecs_, o, clock_);
  Call("RegisterContainerInstance", {{"cluster", "c1"}});
  std::string daemon = Running(RegisterTd("agent"));
  std::string td2 = RegisterTd("agent");
  Json u = Call("UpdateDaemon", {{"daemonArn", daemon}, {"daemonTaskDefinitionArn", td2}, {"capacityProviderArns", {"mi"}},
                                 {"deploymentConfiguration", {{"drainPercent", 50.0}, {"bakeTimeInMinutes", 1}}}});
  auto stopping = [&] {
    int n = 0;
    for (const auto& t : Live()) n += t.desired_status == model::TaskStatus::kStopped;
    return n;
  };
  scheduler_->RunOnce();
  EXPECT_EQ(stopping(), 1);
  Settle();
  scheduler_->RunOnce();
  Settle();
  scheduler_->RunOnce();  // the first batch is done: the bake time (one 2-second minute) starts
  EXPECT_EQ(stopping(), 0);
  clock_.Advance(3);
  scheduler_->RunOnce();
  EXPECT_EQ(stopping(), 1) << "the next batch after one deployment minute";
}

TEST_F(DaemonSchedulerTest, PropagateTagsOutsideItsEnumIsRefusedByTheModelCheck) {
  // Review finding 11 said CreateDaemon does not check propagateTags: the request's model
  // check (DaemonPropagateTags: DAEMON, NONE) refuses it before the handler.
  std::string td = RegisterTd("agent");
  auto e = Error("CreateDaemon", {{"daemonName", "d1"}, {"clusterArn", "c1"}, {"daemonTaskDefinitionArn", td},
                                  {"capacityProviderArns", {"mi"}}, {"propagateTags", "SERVICE"}});
  EXPECT_EQ(e.first, "InvalidParameterException");
  EXPECT_EQ(e.second, "propagateTags should be one of [DAEMON,NONE]");
}

}  // namespace
}  // namespace kecs::api::ecs
