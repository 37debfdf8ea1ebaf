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
  s.deployment_configuration.other = {{"alarms", {{"alarmNames", Json::array()}, {"enable", false}, {"rollback", false}}}};
  s.deployments = {MakeDeployment("ecs-svc/1111111111111111111", model::DeploymentStatus::kPrimary,
                                  model::RolloutState::kInProgress),
                   MakeDeployment("ecs-svc/2222222222222222222", model::DeploymentStatus::kActive,
                                  model::RolloutState::kCompleted)};
  s.events = {{"e2", 1700000002.0, "(service web) has reached a steady state."},
              {"e1", 1700000001.0, "(service web) has started 2 tasks: (task a) (task b)."}};
  s.created_at = 1700000000.0;
  s.load_balancers = {{"arn:tg", "", "app", 80}};
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

}  // namespace
}  // namespace kecs::state::records
