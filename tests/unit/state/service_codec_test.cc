#include "state/records/services.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "model/kinds.h"
#include "model/shapes.h"
#include "state/migrations.h"
#include "unit/support/model_shape.h"
#include "unit/support/temp_dir.h"

namespace kecs::state::records {
namespace {

using model::Deployment;
using model::Service;

Deployment MakeDeployment(const std::string& id, model::DeploymentStatus status, model::RolloutState rollout) {
  Deployment d;
  d.id = id;
  d.status = status;
  d.task_definition = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3";
  d.desired_count = 2;
  d.failed_tasks = 1;
  d.created_at = 1700000000.123;
  d.updated_at = 1700000001.5;
  d.launch_type = "EC2";
  d.network_configuration = {{"awsvpcConfiguration", {{"subnets", {"subnet-1"}}, {"assignPublicIp", "DISABLED"}}}};
  d.rollout_state = rollout;
  d.rollout_state_reason = "ECS deployment " + id + " in progress.";
  return d;
}

// A service with every member set, none at its default.
Service FullService() {
  Service s;
  s.region = "us-east-1";
  s.cluster = "prod";
  s.name = "web";
  s.arn = "arn:aws:ecs:us-east-1:000000000000:service/prod/web";
  s.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod";
  s.status = model::ServiceStatus::kDraining;
  s.desired_count = 2;
  s.running_count = 1;
  s.pending_count = 1;
  s.launch_type = "FARGATE";
  s.platform_version = "LATEST";
  s.platform_family = "Linux";
  s.task_definition = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3";
  s.deployment_configuration.maximum_percent = 150;
  s.deployment_configuration.minimum_healthy_percent = 50;
  s.deployment_configuration.circuit_breaker_enable = true;
  s.deployment_configuration.circuit_breaker_rollback = true;
  s.deployment_configuration.alarms = model::DeploymentAlarms{};
  s.deployment_configuration.strategy = "LINEAR";
  s.deployment_configuration.linear = model::LinearConfiguration{20.0, 1};
  s.deployment_configuration.lifecycle_hooks = std::vector<model::DeploymentLifecycleHook>{
      {"PAUSE", "", "", {"TEST_TRAFFIC_SHIFT"}, Json(), Json{{"timeoutInMinutes", 5}}}};
  s.internal.alternate_deployments = {"ecs-svc/1"};
  s.internal.shift =
      model::TrafficShift{"ecs-svc/2", "ecs-svc/1", "SCALE_UP", 5, 10, 1, 2, "h", "", "", 1700000120.5, "CONTINUE", true};
  s.deployments = {MakeDeployment("ecs-svc/1111111111111111111", model::DeploymentStatus::kPrimary,
                                  model::RolloutState::kInProgress),
                   MakeDeployment("ecs-svc/2222222222222222222", model::DeploymentStatus::kActive,
                                  model::RolloutState::kCompleted)};
  s.events = {{"e2", 1700000002.0, "(service web) has reached a steady state."},
              {"e1", 1700000001.0, "(service web) has started 2 tasks: (task a) (task b)."}};
  s.created_at = 1700000000.0;
  s.load_balancers = {{"arn:tg", "", "app", 80, model::AdvancedConfiguration{"arn:tg2", "arn:rule", "", "arn:role"}}};
  s.service_registries = {{"arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1", std::nullopt, "app", 80}};
  s.network_configuration = {{"awsvpcConfiguration", {{"subnets", {"subnet-1"}}}}};
  s.placement_constraints = Json::array({{{"type", "distinctInstance"}}});
  s.placement_strategy = Json::array({{{"type", "spread"}, {"field", "instanceId"}}});
  s.health_check_grace_period_seconds = 30;
  s.scheduling_strategy = model::SchedulingStrategy::kReplica;
  s.tags = Json::array({{{"key", "team"}, {"value", "a"}}});
  s.created_by = "arn:aws:iam::000000000000:root";
  s.enable_ecs_managed_tags = true;
  s.propagate_tags = "SERVICE";
  s.enable_execute_command = true;
  s.internal.steady = true;
  s.internal.strict = true;
  s.internal.client_token = "tok-1";
  s.internal.last_completed = s.deployments[1];
  return s;
}

TEST(ServiceCodec, RoundTripKeepsEveryMember) {
  Service s = FullService();
  s.seq = 42;
  Object row = EncodeService(s);
  EXPECT_EQ(row.kind, model::kService);
  EXPECT_EQ(row.id, "prod/web");
  EXPECT_EQ(row.parent, "prod");
  EXPECT_EQ(row.name, "web");
  EXPECT_EQ(row.status, "DRAINING");
  auto back = DecodeService(row);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
}

TEST(ServiceCodec, RoundTripOfADefaultServiceKeepsAbsentMembersAbsent) {
  Service s;
  s.region = "us-east-1";
  s.cluster = "default";
  s.name = "api";
  s.arn = "arn:aws:ecs:us-east-1:000000000000:service/default/api";
  s.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default";
  s.task_definition = "arn:aws:ecs:us-east-1:000000000000:task-definition/api:1";
  Object row = EncodeService(s);
  EXPECT_FALSE(row.doc.contains("launchType"));
  EXPECT_FALSE(row.doc.contains("networkConfiguration"));
  EXPECT_FALSE(row.doc.contains("healthCheckGracePeriodSeconds"));
  auto back = DecodeService(row);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
}

TEST(ServiceCodec, InternalPartStaysOutOfTheDocument) {
  Object row = EncodeService(FullService());
  for (auto it = row.doc.begin(); it != row.doc.end(); ++it) {
    EXPECT_EQ(it.key().find("kecs"), std::string::npos) << it.key();
  }
  EXPECT_EQ(row.internal["clientToken"], "tok-1");
  EXPECT_EQ(row.internal["steady"], true);
  EXPECT_EQ(row.internal["strict"], true);
  EXPECT_EQ(row.internal["lastCompleted"]["id"], "ecs-svc/2222222222222222222");
}

TEST(ServiceCodec, ADocumentThatIsNotJsonIsAnErrorNamingTheService) {
  Object row = EncodeService(FullService());
  row.doc = Json::parse("{not json", nullptr, false);
  auto s = DecodeService(row);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInternal);
  EXPECT_NE(s.status().message().find("prod/web"), std::string::npos) << s.status().message();
}

TEST(ServiceCodec, AnUnknownStatusOrAWrongTypeIsAnErrorNamingTheService) {
  Object row = EncodeService(FullService());
  row.doc["deployments"][0]["rolloutState"] = "HALFWAY";
  auto s = DecodeService(row);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("prod/web"), std::string::npos);
  EXPECT_NE(s.status().message().find("HALFWAY"), std::string::npos) << s.status().message();

  row = EncodeService(FullService());
  row.doc["desiredCount"] = "two";
  s = DecodeService(row);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("desiredCount"), std::string::npos) << s.status().message();

  row = EncodeService(FullService());
  row.internal["steady"] = "yes";
  s = DecodeService(row);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("prod/web"), std::string::npos) << s.status().message();
}

// The scheduler steps through its stages and a stage's hooks by these numbers: a corrupt
// stored shift is refused here rather than read past the ends of those lists (review 18b).
TEST(ServiceCodec, AStoredShiftWithAnUnknownStageOrAnIndexOutOfRangeIsAnError) {
  Object row = EncodeService(FullService());
  ASSERT_TRUE(DecodeService(row).ok());
  row.internal["shift"]["stage"] = "HALFWAY";
  auto s = DecodeService(row);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("prod/web"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("HALFWAY"), std::string::npos) << s.status().message();

  row = EncodeService(FullService());
  row.internal["shift"]["hook"] = -1;
  EXPECT_FALSE(DecodeService(row).ok());
  row = EncodeService(FullService());
  row.internal["shift"]["stepPhase"] = 7;
  EXPECT_FALSE(DecodeService(row).ok());
  // Every stage, and none yet, is fine.
  row = EncodeService(FullService());
  row.internal["shift"]["stage"] = "";
  EXPECT_TRUE(DecodeService(row).ok());
  row.internal["shift"]["stage"] = "CLEAN_UP";
  EXPECT_TRUE(DecodeService(row).ok());
}

TEST(ServiceCodec, ServiceToAwsMatchesTheEcsModelsServiceShape) {
  const model::ServiceModel& m = model::EcsModel();
  int shape = m.FindShape("Service");
  ASSERT_GE(shape, 0);
  Json aws = ServiceToAws(FullService(), /*include_tags=*/true);
  kecs::testing::ExpectMatchesShape(m, shape, aws, "service");
  EXPECT_TRUE(aws.contains("tags"));
  EXPECT_EQ(aws["status"], "DRAINING");
  EXPECT_EQ(aws["deploymentConfiguration"]["deploymentCircuitBreaker"]["rollback"], true);
  EXPECT_EQ(aws["serviceRegistries"][0], Json({{"registryArn", "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1"},
                                                {"containerName", "app"},
                                                {"containerPort", 80}}));
}

TEST(ServiceCodec, ServiceToAwsShowsDesiredCountOnThePrimaryDeploymentOnlyAndTagsOnRequest) {
  Service s = FullService();
  s.desired_count = 5;
  Json aws = ServiceToAws(s, /*include_tags=*/false);
  EXPECT_FALSE(aws.contains("tags"));
  EXPECT_EQ(aws["deployments"][0]["desiredCount"], 5);
  EXPECT_EQ(aws["deployments"][1]["desiredCount"], 0);
  EXPECT_EQ(aws["runningCount"], 1);
  EXPECT_EQ(aws["pendingCount"], 1);
}

TEST(ServiceCodec, LegacyDocumentsSplitIntoDocumentAndInternal) {
  Json old = EncodeService(FullService()).doc;
  old["kecs:steady"] = true;
  old["kecs:strict"] = false;
  old["kecs:clientToken"] = "tok-9";
  old["kecs:completedDeployments"] = Json::array({old["deployments"][1]});
  SplitService split = SplitLegacyServiceDocument(old);
  EXPECT_EQ(split.doc, EncodeService(FullService()).doc);
  EXPECT_EQ(split.internal["steady"], true);
  EXPECT_EQ(split.internal["strict"], false);
  EXPECT_EQ(split.internal["clientToken"], "tok-9");
  EXPECT_EQ(split.internal["lastCompleted"]["id"], "ecs-svc/2222222222222222222");
}

// Migration 5 on a database that holds a service of the older layout.
TEST(ServiceCodec, Migration5MovesKecsMembersOfStoredServicesToTheInternalColumn) {
  kecs::testing::TempDir d;
  std::string path = d.path() + "/kecs.db";
  Json old = EncodeService(FullService()).doc;
  old["kecs:steady"] = true;
  old["kecs:clientToken"] = "tok-9";
  {
    std::vector<Migration> before(AllMigrations().begin(), AllMigrations().begin() + 4);
    ASSERT_EQ(before.back().version, 4);
    auto db = Db::Open(path, before);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->Write([&](Conn& c) {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO objects(kind, region, id, parent, name, status, doc) "
                                         "VALUES('ecs:service','us-east-1','prod/web','prod','web','DRAINING',?)"));
      s.Bind(1, old.dump());
      RETURN_IF_ERROR(s.Run());
      // Not JSON: left alone, reported when read.
      ASSIGN_OR_RETURN(Stmt bad, c.Prepare("INSERT INTO objects(kind, region, id, parent, name, status, doc) "
                                           "VALUES('ecs:service','us-east-1','prod/bad','prod','bad','ACTIVE','{x')"));
      return bad.Run();
    }).ok());
  }
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Read([&](Tx& tx) {
    auto s = GetService(tx, "us-east-1", "prod", "web");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok() || !*s) return Status::Ok();
    EXPECT_TRUE((*s)->internal.steady);
    EXPECT_EQ((*s)->internal.client_token, "tok-9");
    EXPECT_EQ((*s)->desired_count, 2);
    auto row = tx.Get(model::kService, "us-east-1", "prod/web");
    EXPECT_FALSE((**row).doc.contains("kecs:steady"));
    auto bad = GetService(tx, "us-east-1", "prod", "bad");
    EXPECT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("prod/bad"), std::string::npos);
    return Status::Ok();
  }).ok());
}

TEST(ServiceCodec, PutGetAndListGoThroughTheConverter) {
  kecs::testing::TempDir d;
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok());
  Service a = FullService();
  Service b = FullService();
  b.name = "api";
  b.arn = "arn:aws:ecs:us-east-1:000000000000:service/prod/api";
  Service other = FullService();
  other.cluster = "dev";
  ASSERT_TRUE((*store)->Write([&](Tx& tx) {
    RETURN_IF_ERROR(PutService(tx, a));
    RETURN_IF_ERROR(PutService(tx, b));
    return PutService(tx, other);
  }).ok());
  ASSERT_TRUE((*store)->Read([&](Tx& tx) {
    auto list = ListServices(tx, {"us-east-1", false, "prod"});
    EXPECT_TRUE(list.ok());
    if (!list.ok()) return Status::Ok();
    if (list->size() != 2u) {
      ADD_FAILURE() << list->size() << " services";
      return Status::Ok();
    }
    EXPECT_EQ((*list)[0].name, "web");
    EXPECT_EQ((*list)[1].name, "api");
    EXPECT_GT((*list)[0].seq, 0);
    auto got = GetService(tx, "us-east-1", "prod", "api");
    EXPECT_TRUE(got.ok() && *got && (*got)->arn == b.arn);
    auto none = GetService(tx, "us-east-1", "prod", "nope");
    EXPECT_TRUE(none.ok() && !*none);
    return Status::Ok();
  }).ok());
}

TEST(ServiceEvents, NewestFirstAtMostAHundredAndARepeatIsDropped) {
  Service s;
  for (int i = 0; i < 120; ++i) model::AddServiceEvent(s, 1000 + i, "event " + std::to_string(i));
  ASSERT_EQ(s.events.size(), model::kMaxServiceEvents);
  EXPECT_EQ(s.events.front().message, "event 119");
  EXPECT_EQ(s.events.back().message, "event 20");
  model::AddServiceEvent(s, 2000, "event 119");
  EXPECT_EQ(s.events.front().created_at, 1119);
}

TEST(ServiceEnums, SpellAsAwsDoesAndRefuseOtherWords) {
  EXPECT_EQ(model::ToString(model::ServiceStatus::kDraining), "DRAINING");
  EXPECT_EQ(model::ToString(model::DeploymentStatus::kPrimary), "PRIMARY");
  EXPECT_EQ(model::ToString(model::RolloutState::kInProgress), "IN_PROGRESS");
  EXPECT_EQ(model::ToString(model::SchedulingStrategy::kDaemon), "DAEMON");
  EXPECT_EQ(model::ParseServiceStatus("INACTIVE"), model::ServiceStatus::kInactive);
  EXPECT_EQ(model::ParseRolloutState("COMPLETED"), model::RolloutState::kCompleted);
  EXPECT_FALSE(model::ParseServiceStatus("active"));
  EXPECT_FALSE(model::ParseDeploymentStatus(""));
  EXPECT_FALSE(model::ParseSchedulingStrategy("REPLICAS"));
}

// ---- Task sets (issue 18) ----------------------------------------------------------------

model::TaskSet FullTaskSet() {
  model::TaskSet ts;
  ts.id = "ecs-svc/3333333333333333333";
  ts.arn = "arn:aws:ecs:us-east-1:000000000000:task-set/prod/web/ecs-svc/3333333333333333333";
  ts.service_arn = "arn:aws:ecs:us-east-1:000000000000:service/prod/web";
  ts.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod";
  ts.started_by = "CODE_DEPLOY";
  ts.external_id = "d-ABC";
  ts.status = model::TaskSetStatus::kDraining;
  ts.task_definition = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:4";
  ts.computed_desired_count = 3;
  ts.pending_count = 1;
  ts.running_count = 2;
  ts.created_at = 1700000000.25;
  ts.updated_at = 1700000003.5;
  ts.launch_type = "FARGATE";
  ts.platform_version = "LATEST";
  ts.platform_family = "Linux";
  ts.network_configuration = {{"awsvpcConfiguration", {{"subnets", {"subnet-1"}}}}};
  ts.load_balancers = {{"arn:tg-green", "", "app", 80}};
  ts.service_registries = {{"arn:aws:servicediscovery:us-east-1:000000000000:service/srv-2", 8080, std::nullopt,
                            std::nullopt}};
  ts.scale = 37.5;
  ts.stability_status = model::StabilityStatus::kSteadyState;
  ts.stability_status_at = 1700000004.0;
  ts.tags = Json::array({{{"key", "colour"}, {"value", "green"}}});
  return ts;
}

TEST(ServiceCodec, TaskSetsAndTheirClientTokensRoundTrip) {
  Service s = FullService();
  s.deployment_controller = "EXTERNAL";
  s.deployments.clear();
  s.internal.last_completed.reset();
  s.task_sets = {FullTaskSet(), FullTaskSet()};
  s.task_sets[1].id = "ecs-svc/4444444444444444444";
  s.task_sets[1].status = model::TaskSetStatus::kPrimary;
  s.task_sets[1].launch_type.reset();
  s.task_sets[1].platform_version.reset();
  s.task_sets[1].platform_family.reset();
  s.internal.task_set_tokens = {{"tok-2", "ecs-svc/4444444444444444444"}};
  Object row = EncodeService(s);
  EXPECT_EQ(row.doc["taskSets"].size(), 2u);
  EXPECT_FALSE(row.doc["taskSets"][1].contains("launchType"));
  EXPECT_EQ(row.internal["taskSetTokens"]["tok-2"], "ecs-svc/4444444444444444444");
  auto back = DecodeService(row);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);

  row.doc["taskSets"][0]["status"] = "RETIRED";
  auto bad = DecodeService(row);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("RETIRED"), std::string::npos) << bad.status().message();
}

TEST(ServiceCodec, AnEcsServiceShowsNoTaskSetsAndATaskSetServiceAnEmptyList) {
  EXPECT_FALSE(ServiceToAws(FullService(), false).contains("taskSets"));
  Service s = FullService();
  s.deployment_controller = "EXTERNAL";
  EXPECT_EQ(ServiceToAws(s, false)["taskSets"], Json::array());
}

TEST(ServiceCodec, TaskSetToAwsMatchesTheEcsModelsTaskSetShape) {
  const model::ServiceModel& m = model::EcsModel();
  int shape = m.FindShape("TaskSet");
  ASSERT_GE(shape, 0);
  Json aws = TaskSetToAws(FullTaskSet(), /*include_tags=*/true);
  kecs::testing::ExpectMatchesShape(m, shape, aws, "taskSet");
  EXPECT_EQ(aws["scale"], Json({{"value", 37.5}, {"unit", "PERCENT"}}));
  EXPECT_EQ(aws["status"], "DRAINING");
  EXPECT_EQ(aws["stabilityStatus"], "STEADY_STATE");
  EXPECT_FALSE(TaskSetToAws(FullTaskSet(), /*include_tags=*/false).contains("tags"));
}

TEST(TaskSetCount, IsTheServicesDesiredCountTimesTheScaleRoundedUp) {
  EXPECT_EQ(model::ComputedDesiredCount(4, 50), 2);
  EXPECT_EQ(model::ComputedDesiredCount(4, 30), 2);  // 1.2 rounds up (the TaskSet shape's example)
  EXPECT_EQ(model::ComputedDesiredCount(10, 100), 10);
  EXPECT_EQ(model::ComputedDesiredCount(10, 0), 0);
  EXPECT_EQ(model::ComputedDesiredCount(0, 100), 0);
  EXPECT_EQ(model::ComputedDesiredCount(3, 33.3333333333), 1);  // not 2 for a rounding error
  EXPECT_EQ(model::ComputedDesiredCount(3, 33.4), 2);
  EXPECT_EQ(model::ComputedDesiredCount(7, 0.1), 1);
}

TEST(TaskSetCount, RecomputeFollowsTheServiceAndZeroesDrainingSets) {
  Service s = FullService();
  s.status = model::ServiceStatus::kActive;
  s.desired_count = 5;
  s.task_sets = {FullTaskSet(), FullTaskSet()};
  s.task_sets[0].status = model::TaskSetStatus::kActive;
  s.task_sets[0].scale = 50;
  s.task_sets[0].computed_desired_count = 0;
  EXPECT_TRUE(model::RecomputeTaskSetCounts(s, 1800000000.0));
  EXPECT_EQ(s.task_sets[0].computed_desired_count, 3);
  EXPECT_EQ(s.task_sets[0].updated_at, 1800000000.0);
  EXPECT_EQ(s.task_sets[1].computed_desired_count, 0);  // DRAINING
  EXPECT_FALSE(model::RecomputeTaskSetCounts(s, 1800000001.0));
  s.status = model::ServiceStatus::kDraining;
  EXPECT_TRUE(model::RecomputeTaskSetCounts(s, 1800000002.0));
  EXPECT_EQ(s.task_sets[0].computed_desired_count, 0);
}

}  // namespace
}  // namespace kecs::state::records
