#include "reconcile/deployment_history.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "model/kinds.h"
#include "state/records/services.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

using model::ServiceDeployment;
using model::ServiceDeploymentStatus;

constexpr const char* kTdA = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1";
constexpr const char* kTdB = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2";

class DeploymentHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    svc_.region = "us-east-1";
    svc_.cluster = "prod";
    svc_.name = "web";
    svc_.arn = "arn:aws:ecs:us-east-1:000000000000:service/prod/web";
    svc_.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod";
    svc_.desired_count = 2;
    Json td = {{"taskDefinitionArn", kTdA},
               {"containerDefinitions", {{{"name", "app"}, {"image", "nginx:1"}}}}};
    ASSERT_TRUE(Write([&](state::Tx& tx) {
      return tx.Insert({model::kTaskDef, "us-east-1", "web:1", "web", "web", "ACTIVE", 0, td});
    }).ok());
  }

  Status Write(const std::function<Status(state::Tx&)>& fn) { return store_->Write(fn); }

  // A new PRIMARY deployment of `td`, recorded as UpdateService records it.
  ServiceDeployment Deploy(const std::string& td, double now) {
    model::Deployment d;
    d.id = model::NewDeploymentId();
    d.task_definition = td;
    d.desired_count = svc_.desired_count;
    for (auto& old : svc_.deployments) old.status = model::DeploymentStatus::kActive;
    svc_.deployments.insert(svc_.deployments.begin(), d);
    ServiceDeployment out;
    EXPECT_TRUE(Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, RecordDeploymentStarted(tx, svc_, now));
      return Status::Ok();
    }).ok());
    return out;
  }

  ServiceDeployment Get(const ServiceDeployment& d) {
    ServiceDeployment out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto got, state::records::GetServiceDeployment(tx, svc_.region, d.Key()));
      if (got) out = *got;
      return Status::Ok();
    }).ok());
    return out;
  }

  size_t Count(const char* kind) {
    size_t n = 0;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      state::Query q{kind, svc_.region};
      ASSIGN_OR_RETURN(auto rows, tx.List(q));
      n = rows.size();
      return Status::Ok();
    }).ok());
    return n;
  }

  // A first deployment of kTdA, a second of kTdB that the circuit breaker fails, rolled
  // back to the first.
  struct Rollback {
    ServiceDeployment first, bad;
    model::Deployment rollback;
  };
  Rollback FailWithRollback() {
    svc_.deployment_configuration.circuit_breaker_enable = true;
    svc_.deployment_configuration.circuit_breaker_rollback = true;
    Rollback r;
    r.first = Deploy(kTdA, 1000);
    model::Deployment good = svc_.deployments[0];
    r.bad = Deploy(kTdB, 1001);
    r.rollback = good;
    r.rollback.id = model::NewDeploymentId();
    svc_.deployments.insert(svc_.deployments.begin(), r.rollback);
    EXPECT_TRUE(Write([&](state::Tx& tx) {
      return RecordDeploymentFailed(tx, svc_, r.bad.deployment_id, 3, &r.rollback, &good, 1002);
    }).ok());
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  model::Service svc_;
};

TEST_F(DeploymentHistoryTest, TheFirstDeploymentHasNoSourcesAndRecordsItsRevision) {
  ServiceDeployment d = Deploy(kTdA, 1000);
  EXPECT_EQ(d.status, ServiceDeploymentStatus::kInProgress);
  EXPECT_EQ(d.arn, "arn:aws:ecs:us-east-1:000000000000:service-deployment/prod/web/" + d.id);
  EXPECT_EQ(d.id.size(), 21u);
  EXPECT_TRUE(d.source_revisions.empty());
  EXPECT_EQ(d.target_revision.requested_task_count, 2);
  EXPECT_EQ(d.threshold, 3);
  EXPECT_EQ(d.circuit_breaker_status, "DISABLED");
  std::optional<model::ServiceRevision> rev;
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    std::string key = d.target_revision.arn.substr(d.target_revision.arn.find("service-revision/") + 17);
    ASSIGN_OR_RETURN(rev, state::records::GetServiceRevision(tx, svc_.region, key));
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(rev);
  EXPECT_EQ(rev->task_definition, kTdA);
  EXPECT_EQ(rev->container_images, Json::parse(R"([{"containerName":"app","image":"nginx:1"}])"));
  EXPECT_EQ(rev->id.size(), 19u);
}

TEST_F(DeploymentHistoryTest, ANewDeploymentSupersedesTheOngoingOne) {
  ServiceDeployment first = Deploy(kTdA, 1000);
  ServiceDeployment second = Deploy(kTdB, 1001);
  ServiceDeployment old = Get(first);
  EXPECT_EQ(old.status, ServiceDeploymentStatus::kStopped);
  EXPECT_EQ(old.finished_at, 1001);
  EXPECT_FALSE(old.stopped_at);
  ASSERT_EQ(second.source_revisions.size(), 1u);
  EXPECT_EQ(second.source_revisions[0].arn, first.target_revision.arn);
  EXPECT_EQ(second.source_deployment_ids, std::vector<std::string>{first.deployment_id});
}

TEST_F(DeploymentHistoryTest, ACompletedDeploymentIsSuccessfulAndKeepsItsDigests) {
  ServiceDeployment d = Deploy(kTdA, 1000);
  ASSERT_TRUE(Write([&](state::Tx& tx) {
    return RecordDeploymentCompleted(tx, svc_, svc_.deployments[0], 1005, {{"app", "sha256:abc"}});
  }).ok());
  ServiceDeployment done = Get(d);
  EXPECT_EQ(done.status, ServiceDeploymentStatus::kSuccessful);
  EXPECT_EQ(done.finished_at, 1005);
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto revs, state::records::ListServiceRevisions(tx, svc_.region, "prod", "web"));
    EXPECT_EQ(revs.at(0).container_images.at(0).value("imageDigest", ""), "sha256:abc");
    return Status::Ok();
  }).ok());
  // A second completion (the record has finished) changes nothing.
  ASSERT_TRUE(Write([&](state::Tx& tx) {
    return RecordDeploymentCompleted(tx, svc_, svc_.deployments[0], 1009, {});
  }).ok());
  EXPECT_EQ(Get(d).finished_at, 1005);
}

TEST_F(DeploymentHistoryTest, ACircuitBreakerRollbackEndsRollbackSuccessful) {
  Rollback r = FailWithRollback();
  EXPECT_EQ(r.bad.circuit_breaker_status, "MONITORING");
  const ServiceDeployment& bad = r.bad;
  const model::Deployment& rollback = r.rollback;
  ServiceDeployment rolling = Get(bad);
  EXPECT_EQ(rolling.status, ServiceDeploymentStatus::kRollbackInProgress);
  EXPECT_EQ(rolling.circuit_breaker_status, "TRIGGERED");
  EXPECT_EQ(rolling.failure_count, 3);
  ASSERT_TRUE(rolling.rollback);
  EXPECT_EQ(rolling.rollback->service_revision_arn, r.first.target_revision.arn);
  EXPECT_EQ(rolling.status_reason, "ECS deployment circuit breaker: tasks failed to start.");
  ASSERT_TRUE(Write([&](state::Tx& tx) {
    return RecordDeploymentCompleted(tx, svc_, rollback, 1010, {});
  }).ok());
  ServiceDeployment back = Get(bad);
  EXPECT_EQ(back.status, ServiceDeploymentStatus::kRollbackSuccessful);
  EXPECT_EQ(back.finished_at, 1010);
  EXPECT_EQ(back.circuit_breaker_status, "TRIGGERED");
}

TEST_F(DeploymentHistoryTest, ARollbackThatFailsEndsRollbackFailed) {
  Rollback r = FailWithRollback();
  const ServiceDeployment& bad = r.bad;
  const model::Deployment& rollback = r.rollback;
  ASSERT_TRUE(Write([&](state::Tx& tx) {
    return RecordDeploymentFailed(tx, svc_, rollback.id, 3, nullptr, nullptr, 1003);
  }).ok());
  ServiceDeployment failed = Get(bad);
  EXPECT_EQ(failed.status, ServiceDeploymentStatus::kRollbackFailed);
  EXPECT_EQ(failed.finished_at, 1003);
}

TEST_F(DeploymentHistoryTest, WithoutRollbackAFailedDeploymentStops) {
  svc_.deployment_configuration.circuit_breaker_enable = true;
  ServiceDeployment d = Deploy(kTdA, 1000);
  ASSERT_TRUE(Write([&](state::Tx& tx) {
    return RecordDeploymentFailed(tx, svc_, d.deployment_id, 3, nullptr, nullptr, 1002);
  }).ok());
  ServiceDeployment stopped = Get(d);
  EXPECT_EQ(stopped.status, ServiceDeploymentStatus::kStopped);
  EXPECT_EQ(stopped.stopped_at, 1002);
  EXPECT_EQ(stopped.finished_at, 1002);
}

TEST_F(DeploymentHistoryTest, ARollbackWithNothingToReturnToFails) {
  svc_.deployment_configuration.circuit_breaker_enable = true;
  svc_.deployment_configuration.circuit_breaker_rollback = true;
  ServiceDeployment d = Deploy(kTdA, 1000);
  ASSERT_TRUE(Write([&](state::Tx& tx) {
    return RecordDeploymentFailed(tx, svc_, d.deployment_id, 3, nullptr, nullptr, 1002);
  }).ok());
  EXPECT_EQ(Get(d).status, ServiceDeploymentStatus::kRollbackFailed);
}

TEST_F(DeploymentHistoryTest, HistoryIsBoundedPerServiceWithTheRevisionsItNames) {
  svc_.desired_count = 0;
  for (size_t i = 0; i < model::kMaxServiceDeploymentsKept + 5; ++i) {
    Deploy(i % 2 ? kTdA : kTdB, 1000 + static_cast<double>(i));
    svc_.deployments.resize(1);  // as the scheduler drops a finished deployment
  }
  EXPECT_EQ(Count(model::kServiceDeployment), model::kMaxServiceDeploymentsKept);
  // Each kept deployment names its own target and the one before it as source.
  EXPECT_EQ(Count(model::kServiceRevision), model::kMaxServiceDeploymentsKept + 1);
  ASSERT_TRUE(Write([&](state::Tx& tx) { return DeleteServiceHistory(tx, svc_); }).ok());
  EXPECT_EQ(Count(model::kServiceDeployment), 0u);
  EXPECT_EQ(Count(model::kServiceRevision), 0u);
}

TEST(ServiceDeploymentCodec, RoundTripKeepsEveryMember) {
  ServiceDeployment d;
  d.region = "us-east-1";
  d.cluster = "c";
  d.service = "s";
  d.id = model::NewServiceDeploymentId();
  d.arn = "arn:aws:ecs:us-east-1:000000000000:service-deployment/c/s/" + d.id;
  d.service_arn = "arn:aws:ecs:us-east-1:000000000000:service/c/s";
  d.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/c";
  d.status = ServiceDeploymentStatus::kRollbackInProgress;
  d.status_reason = "why";
  d.created_at = 1.5;
  d.started_at = 2.5;
  d.finished_at = 3.5;
  d.stopped_at = 4.5;
  d.updated_at = 5.5;
  d.source_revisions = {{"arn:src", 1, 2, 3}};
  d.target_revision = {"arn:tgt", 4, 5, 6};
  d.deployment_configuration.circuit_breaker_enable = true;
  d.rollback = model::ServiceDeploymentRollback{"r", 7.5, "arn:src"};
  d.circuit_breaker_status = "TRIGGERED";
  d.failure_count = 3;
  d.threshold = 3;
  d.deployment_id = "ecs-svc/1";
  d.rollback_deployment_id = "ecs-svc/2";
  d.source_deployment_ids = {"ecs-svc/0"};
  auto back = state::records::DecodeServiceDeployment(state::records::EncodeServiceDeployment(d));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, d);
  // kecs's own ids stay out of the AWS document.
  Json doc = state::records::ServiceDeploymentToAws(d);
  EXPECT_FALSE(doc.contains("deploymentId"));
  EXPECT_EQ(doc.dump().find("ecs-svc/"), std::string::npos);
}

TEST(ServiceDeploymentCodec, AnUnreadableRowIsAnErrorNamingIt) {
  state::Object row{model::kServiceDeployment, "us-east-1", "c/s/x", "c/s", "x", "IN_PROGRESS", 1, Json::object()};
  auto d = state::records::DecodeServiceDeployment(row);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("c/s/x"), std::string::npos);
}

}  // namespace
}  // namespace kecs::reconcile
