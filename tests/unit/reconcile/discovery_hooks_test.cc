// Cloud Map follows a service task's health: its instances' custom health status turns with
// the task's healthStatus, and DNS answers only the healthy ones.
#include "reconcile/discovery_hooks.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "model/service.h"
#include "net/domain/discovery.h"
#include "state/records/services.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

namespace sd = net::discovery;
using model::HealthStatus;

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr double kNow = 1800000000;

class DiscoveryHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  // A public DNS namespace "example.com" with Cloud Map service "web" (A records), with or
  // without a custom health check, and the ECS service "web" registered in it.
  void MakeRegistry(bool custom_health) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      sd::NamespaceSpec spec;
      spec.type = "DNS_PUBLIC";
      spec.name = "example.com";
      ASSIGN_OR_RETURN(auto ns, sd::CreateNamespace(tx, kRegion, kAccount, kNow, spec));
      service_id_ = sd::NewServiceId();
      Json doc = {{"Id", service_id_},
                  {"Arn", sd::ServiceArn(kRegion, kAccount, service_id_)},
                  {"Name", "web"},
                  {"NamespaceId", ns.id},
                  {"DnsConfig",
                   {{"NamespaceId", ns.id}, {"RoutingPolicy", "MULTIVALUE"}, {"DnsRecords", {{{"Type", "A"}, {"TTL", 60}}}}}},
                  {"Type", "DNS_HTTP"},
                  {"InstanceCount", 0}};
      if (custom_health) doc["HealthCheckCustomConfig"] = {{"FailureThreshold", 1}};
      RETURN_IF_ERROR(tx.Put({sd::kService, kRegion, service_id_, ns.id, "web", "ACTIVE", 0, doc}));
      model::Service svc;
      svc.region = kRegion;
      svc.cluster = "default";
      svc.name = "web";
      svc.arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
      svc.service_registries.push_back({});
      svc.service_registries.back().registry_arn = sd::ServiceArn(kRegion, kAccount, service_id_);
      return state::records::PutService(tx, svc);
    }).ok());
  }

  model::Task NewTask(const std::string& id, const std::string& ip) {
    model::Task t;
    t.region = kRegion;
    t.id = id;
    t.cluster = "default";
    t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + id;
    t.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default";
    t.task_definition_arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1";
    t.internal.service = "web";
    t.internal.network_mode = model::NetworkMode::kAwsvpc;
    t.internal.network.eni = model::TaskEni{};
    t.internal.network.eni->ip = ip;
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return RegisterServiceTask(tx, t, kNow, {}); }).ok());
    EXPECT_EQ(t.internal.registries.size(), 1u);
    return t;
  }

  Status SetHealth(model::Task& t, HealthStatus h) {
    t.health_status = h;
    return store_->Write([&](state::Tx& tx) { return UpdateServiceTaskHealth(tx, t); });
  }

  std::string StoredHealth(const model::Task& t) {
    std::string out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto o, tx.Get(sd::kInstance, kRegion, sd::InstanceKey(service_id_, t.id)));
      if (o) out = o->doc.value("kecs:health", "");
      return Status::Ok();
    }).ok());
    return out;
  }

  std::vector<std::string> Answers() {
    std::vector<std::string> ips;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto ans, sd::LookupDns(tx, kRegion, "vpc-none", "web.example.com"));
      for (const auto& e : ans.endpoints) ips.push_back(e.ipv4);
      return Status::Ok();
    }).ok());
    std::sort(ips.begin(), ips.end());
    return ips;
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  std::string service_id_;
};

TEST_F(DiscoveryHealthTest, InstanceHealthFollowsTheTaskAndDnsDropsTheUnhealthyOne) {
  MakeRegistry(/*custom_health=*/true);
  model::Task a = NewTask("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "10.0.0.1");
  model::Task b = NewTask("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "10.0.0.2");
  EXPECT_EQ(StoredHealth(a), "HEALTHY");  // AWS_INIT_HEALTH_STATUS, as ECS registers it
  EXPECT_EQ(Answers(), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  ASSERT_TRUE(SetHealth(a, HealthStatus::kUnhealthy).ok());
  EXPECT_EQ(StoredHealth(a), "UNHEALTHY");
  EXPECT_EQ(Answers(), std::vector<std::string>{"10.0.0.2"});
  ASSERT_TRUE(SetHealth(a, HealthStatus::kUnknown).ok());  // no verdict: nothing changes
  EXPECT_EQ(StoredHealth(a), "UNHEALTHY");
  ASSERT_TRUE(SetHealth(a, HealthStatus::kHealthy).ok());
  EXPECT_EQ(StoredHealth(a), "HEALTHY");
  EXPECT_EQ(Answers(), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  (void)b;
}

TEST_F(DiscoveryHealthTest, ARegistryWithoutACustomHealthCheckAnswersWhateverTheHealth) {
  // Cloud Map: "If you don't configure a health check during service creation, traffic
  // will be routed to service instances regardless of the instances' health status."
  MakeRegistry(/*custom_health=*/false);
  model::Task a = NewTask("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "10.0.0.1");
  ASSERT_TRUE(SetHealth(a, HealthStatus::kUnhealthy).ok());
  EXPECT_EQ(StoredHealth(a), "HEALTHY");
  EXPECT_EQ(Answers(), std::vector<std::string>{"10.0.0.1"});
}

TEST_F(DiscoveryHealthTest, AnInstanceDeregisteredByHandIsLeftAlone) {
  MakeRegistry(/*custom_health=*/true);
  model::Task a = NewTask("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "10.0.0.1");
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    return sd::DeregisterInstance(tx, kRegion, kAccount, kNow, service_id_, a.id).status();
  }).ok());
  EXPECT_TRUE(SetHealth(a, HealthStatus::kUnhealthy).ok());
}


// Issue 18: a task of a task set registers in its task set's registries, with the task
// set's externalId as ECS_TASK_SET_EXTERNAL_ID (CreateTaskSetRequest.externalId).
TEST_F(DiscoveryHealthTest, ATaskSetsTaskRegistersInItsTaskSetsRegistryWithItsExternalId) {
  MakeRegistry(/*custom_health=*/false);
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto svc, state::records::GetService(tx, kRegion, "default", "web"));
    if (!svc) return NotFound("no service");
    svc->deployment_controller = "EXTERNAL";
    model::TaskSet ts;
    ts.id = "ecs-svc/1234567890123456789";
    ts.external_id = "green-7";
    ts.service_registries = svc->service_registries;
    svc->service_registries.clear();  // the service's own: none
    svc->task_sets = {ts};
    return state::records::PutService(tx, *svc);
  }).ok());
  model::Task t;
  t.region = kRegion;
  t.id = "cccccccccccccccccccccccccccccccc";
  t.cluster = "default";
  t.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default";
  t.task_definition_arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1";
  t.internal.service = "web";
  t.internal.deployment = "ecs-svc/1234567890123456789";
  t.internal.network_mode = model::NetworkMode::kAwsvpc;
  t.internal.network.eni = model::TaskEni{};
  t.internal.network.eni->ip = "10.0.0.3";
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return RegisterServiceTask(tx, t, kNow, {}); }).ok());
  ASSERT_EQ(t.internal.registries.size(), 1u);
  Json attrs;
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto o, tx.Get(sd::kInstance, kRegion, sd::InstanceKey(service_id_, t.id)));
    if (o) attrs = o->doc.value("Attributes", Json::object());
    return Status::Ok();
  }).ok());
  EXPECT_EQ(attrs.value("ECS_TASK_SET_EXTERNAL_ID", ""), "green-7");
  EXPECT_EQ(attrs.value("AWS_INSTANCE_IPV4", ""), "10.0.0.3");

  // A task of no task set registers in the service's registries: none now.
  model::Task other = t;
  other.id = "dddddddddddddddddddddddddddddddd";
  other.internal.deployment = "ecs-svc/9999999999999999999";
  other.internal.registries.clear();
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return RegisterServiceTask(tx, other, kNow, {}); }).ok());
  EXPECT_TRUE(other.internal.registries.empty());
}

}  // namespace
}  // namespace kecs::reconcile
