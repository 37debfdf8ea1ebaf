// Capacity providers with managed scaling (issue 17): the arithmetic, the providers'
// validation and defaults, tasks waiting for capacity, and the scaling passes, over a
// temporary store. Auto Scaling is a small in-memory service built from the real Auto
// Scaling model, with handlers for the three operations ECS calls that keep a real group:
// desired within [MinSize, MaxSize], instances launched and terminated to match it (never a
// protected one on scale-in), and per-instance ProtectedFromScaleIn.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/ecs/capacity_scaling.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/launch.h"
#include "api/router.h"
#include "model/autoscaling_model.h"
#include "model/shapes.h"
#include "reconcile/task_controller.h"
#include "runtime/simulated/simulated_runtime.h"
#include "net/domain/vpc.h"
#include "state/records/tasks.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ecs {
namespace {

using ::testing::HasSubstr;

constexpr double kNow = 1'800'000'000;
constexpr const char* kGroupArn =
    "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1b2c:autoScalingGroupName/web-asg";

// ---- The arithmetic -------------------------------------------------------------------------

TEST(CapacityMath, ReservationIsNOverMWithAwsSpecialCasesForAnEmptyGroup) {
  EXPECT_EQ(CapacityProviderReservation(0, 0), 100);
  EXPECT_EQ(CapacityProviderReservation(3, 0), 200);
  EXPECT_EQ(CapacityProviderReservation(3, 2), 150);
  EXPECT_EQ(CapacityProviderReservation(1, 4), 25);
  EXPECT_EQ(TargetInstances(3, 100), 3);
  EXPECT_EQ(TargetInstances(3, 50), 6);
  EXPECT_EQ(TargetInstances(1, 75), 2);
  EXPECT_EQ(TargetInstances(0, 100), 0);
}

ScalingInput Input(int needed, int desired) {
  ScalingInput in;
  in.needed = needed;
  in.desired = desired;
  in.max_size = 100;
  return in;
}

TEST(CapacityMath, ScaleOutStepsWithinMinimumAndMaximumStepAndMaxSize) {
  ScalingInput in = Input(1, 0);
  in.config.minimum_step = 2;
  EXPECT_EQ(DecideScaling(in).desired, 2);  // at least the minimum step
  in = Input(10, 0);
  in.config.maximum_step = 3;
  EXPECT_EQ(DecideScaling(in).desired, 3);  // at most the maximum step
  in = Input(10, 0);
  in.max_size = 4;
  EXPECT_EQ(DecideScaling(in).desired, 4);  // never above MaxSize
  in = Input(3, 0);
  in.config.target_capacity = 50;
  EXPECT_EQ(DecideScaling(in).desired, 6);  // headroom for targetCapacity
  in = Input(5, 2);
  in.warming = 1;
  EXPECT_EQ(DecideScaling(in).desired, 2);  // the last step is still warming up
  in = Input(3, 3);
  EXPECT_EQ(DecideScaling(in).desired, 3);
  EXPECT_FALSE(DecideScaling(in).low);
}

TEST(CapacityMath, ScaleInWaitsAndRemovesOnlyIdleInstancesDownToMinSize) {
  ScalingInput in = Input(1, 4);
  in.idle = 3;
  ScalingStep s = DecideScaling(in);
  EXPECT_TRUE(s.low);
  EXPECT_EQ(s.desired, 4);  // not before the wait
  in.low_long_enough = true;
  EXPECT_EQ(DecideScaling(in).desired, 1);
  in.idle = 1;
  EXPECT_EQ(DecideScaling(in).desired, 3);  // one idle instance: one goes
  in = Input(0, 3);
  in.idle = 3;
  in.low_long_enough = true;
  in.min_size = 1;
  EXPECT_EQ(DecideScaling(in).desired, 1);
}

TEST(CapacityMath, StrategySplitsBaseFirstThenByWeight) {
  Json strategy = Json::parse(R"([{"capacityProvider":"a","base":2,"weight":1},{"capacityProvider":"b","weight":3}])");
  EXPECT_EQ(SplitByStrategy(strategy, 6), (std::vector<std::pair<std::string, int>>{{"a", 3}, {"b", 3}}));
  EXPECT_EQ(SplitByStrategy(strategy, 1), (std::vector<std::pair<std::string, int>>{{"a", 1}}));
  Json even = Json::parse(R"([{"capacityProvider":"a","weight":1},{"capacityProvider":"b","weight":1}])");
  EXPECT_EQ(SplitByStrategy(even, 5), (std::vector<std::pair<std::string, int>>{{"a", 3}, {"b", 2}}));
  // A service's tasks count (ECS's rule): one task at a time still follows the weights.
  EXPECT_EQ(SplitByStrategy(even, 1, {{"a", 1}}), (std::vector<std::pair<std::string, int>>{{"b", 1}}));
  EXPECT_EQ(SplitByStrategy(strategy, 1, {{"a", 2}}), (std::vector<std::pair<std::string, int>>{{"b", 1}}));
  EXPECT_EQ(SplitByStrategy(strategy, 1, {{"a", 1}, {"b", 5}}), (std::vector<std::pair<std::string, int>>{{"a", 1}}));
  EXPECT_EQ(SplitByStrategy(strategy, 1, {{"a", 2}, {"b", 1}}), (std::vector<std::pair<std::string, int>>{{"b", 1}}));
  EXPECT_EQ(SplitByStrategy(strategy, 1, {{"a", 2}, {"b", 3}}), (std::vector<std::pair<std::string, int>>{{"a", 1}}));
  EXPECT_EQ(AsgNameOf(kGroupArn), "web-asg");
  EXPECT_EQ(AsgNameOf("plain"), "plain");
}

// ---- A fake Auto Scaling that behaves ---------------------------------------------------------

struct FakeGroup {
  std::string name = "web-asg";
  int min = 0, max = 10, desired = 0;
  bool protect_new = true;
  int launched = 0;
  struct Instance {
    std::string id;
    bool prot = false;
  };
  std::vector<Instance> instances;
  std::vector<std::string> calls;
  std::function<void(const std::string&)> on_release;  // runs as an instance is released

  Json View() const {
    Json is = Json::array();
    for (const auto& i : instances) {
      is.push_back({{"InstanceId", i.id}, {"InstanceType", "m5.large"}, {"AvailabilityZone", "us-east-1a"},
                    {"LifecycleState", "InService"}, {"HealthStatus", "Healthy"}, {"ProtectedFromScaleIn", i.prot}});
    }
    return {{"AutoScalingGroupName", name}, {"AutoScalingGroupARN", kGroupArn}, {"MinSize", min}, {"MaxSize", max},
            {"DesiredCapacity", desired}, {"NewInstancesProtectedFromScaleIn", protect_new}, {"Instances", is}};
  }
  // Launches or terminates instances to match `desired`; protected ones are never
  // terminated, as Auto Scaling's scale-in skips them.
  void Converge() {
    while (static_cast<int>(instances.size()) < desired) {
      instances.push_back({"i-" + std::to_string(++launched), protect_new});
    }
    for (auto it = instances.end(); static_cast<int>(instances.size()) > desired && it != instances.begin();) {
      --it;
      if (!it->prot) it = instances.erase(it);
    }
  }
};

void RegisterFakeAutoScaling(Service& svc, FakeGroup& g) {
  svc.Register("DescribeAutoScalingGroups", [&g](RequestContext&, const Json& in) {
    Json out = Json::array();
    for (const auto& n : in.value("AutoScalingGroupNames", Json::array())) {
      if (n == g.name) out.push_back(g.View());
    }
    return Json{{"AutoScalingGroups", out}};
  });
  svc.Register("SetDesiredCapacity", [&g](RequestContext&, const Json& in) {
    int d = static_cast<int>(JInt(in, "DesiredCapacity"));
    if (JStr(in, "AutoScalingGroupName") != g.name) throw AwsError("ValidationError", "AutoScalingGroup name not found");
    if (d < g.min || d > g.max) throw AwsError("ValidationError", "New SetDesiredCapacity value is out of range");
    g.calls.push_back("SetDesiredCapacity " + std::to_string(d));
    g.desired = d;
    g.Converge();
    return Json::object();
  });
  svc.Register("SetInstanceProtection", [&g](RequestContext&, const Json& in) {
    bool prot = JBool(in, "ProtectedFromScaleIn");
    for (const auto& id : in.at("InstanceIds")) {
      for (auto& i : g.instances) {
        if (i.id == id) i.prot = prot;
      }
      g.calls.push_back(std::string(prot ? "protect " : "release ") + id.get<std::string>());
      if (!prot && g.on_release) g.on_release(id.get<std::string>());
    }
    return Json::object();
  });
}

class CapacityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    EcsOptions o;
    o.minute_seconds = 1;  // a scaled minute: 15 "minutes" of scale-in wait are 15 seconds
    ecs_ = std::make_unique<EcsApi>(*store_, regions_, o);
    ecs_svc_ = std::make_shared<Service>(model::EcsModel(), ErrorStyle{});
    ecs_->RegisterAll(*ecs_svc_);
    as_svc_ = std::make_shared<Service>(model::AutoScalingModel(), ErrorStyle{});
    RegisterFakeAutoScaling(*as_svc_, group_);
    ecs_->SetAutoScaling(as_svc_.get());
  }

  Json Ecs(const std::string& op, const Json& in, double at = kNow) {
    RequestContext ctx;
    ctx.region = "us-east-1";
    ctx.account_id = "000000000000";
    ctx.now = at;
    ctx.operation = op;
    ctx.strict = strict_;
    const OperationFn* fn = ecs_svc_->Find(op);
    if (!fn) ADD_FAILURE() << op << " is not registered";
    return (*fn)(ctx, in);
  }
  std::pair<std::string, std::string> Error(const std::string& op, const Json& in) {
    try {
      Ecs(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message()};
    }
    return {"", ""};
  }
  Json Provider(Json asg_extra = Json::object(), const std::string& name = "web-cp") {
    Json asg = {{"autoScalingGroupArn", kGroupArn}};
    for (auto it = asg_extra.begin(); it != asg_extra.end(); ++it) asg[it.key()] = it.value();
    return Ecs("CreateCapacityProvider", {{"name", name}, {"autoScalingGroupProvider", asg}})["capacityProvider"];
  }
  void Pass(double at) {
    ecs_->PlaceWaitingTasks(at);
    ecs_->ScaleCapacityProviders(at);
  }
  // A cluster whose default strategy is a managed-scaling provider over the fake group,
  // and a task definition of 1024 CPU units (two per m5.large).
  void ScalingCluster(bool termination_protection = true) {
    Json asg = {{"managedScaling", {{"status", "ENABLED"}}}};
    if (termination_protection) asg["managedTerminationProtection"] = "ENABLED";
    Provider(asg);
    Ecs("CreateCluster", {{"clusterName", "c"}});
    Ecs("PutClusterCapacityProviders", {{"cluster", "c"}, {"capacityProviders", {"web-cp"}},
                                        {"defaultCapacityProviderStrategy", {{{"capacityProvider", "web-cp"}, {"weight", 1}}}}});
    Ecs("RegisterTaskDefinition", {{"family", "work"},
                                   {"containerDefinitions", {{{"name", "w"}, {"image", "busybox"}, {"cpu", 1024}, {"memory", 512}}}}});
  }
  // The group's instance `id` registers as a container instance of cluster c.
  std::string Register(const std::string& id) {
    Json ident = {{"instanceId", id}, {"instanceType", "m5.large"}, {"availabilityZone", "us-east-1a"},
                  {"region", "us-east-1"}, {"accountId", "000000000000"}};
    return JStr(Ecs("RegisterContainerInstance",
                    {{"cluster", "c"}, {"instanceIdentityDocument", ident.dump()},
                     {"totalResources", {{{"name", "CPU"}, {"type", "INTEGER"}, {"integerValue", 2048}},
                                         {{"name", "MEMORY"}, {"type", "INTEGER"}, {"integerValue", 7985}}}}})["containerInstance"],
                "containerInstanceArn");
  }
  // The group's instance `id` comes up as an EC2 instance kecs runs, tagged by Auto
  // Scaling, and its agent registers it in cluster c (the instance controller's path).
  void RegisterEc2(const std::string& id, double at) {
    state::Object row{net::kEc2Instance, "us-east-1", id, "", id, "running", 0,
                      {{"InstanceId", id}, {"InstanceType", "m5.large"}, {"ImageId", "ami-0123456789abcdef0"},
                       {"Placement", {{"AvailabilityZone", "us-east-1a"}}}, {"LaunchTime", kNow},
                       {"Tags", {{{"Key", "aws:autoscaling:groupName"}, {"Value", "web-asg"}}}},
                       {"kecs:ownerId", "000000000000"}}};
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      RETURN_IF_ERROR(tx.Put(row));
      return ecs_->RegisterInstance(tx, row, "c", at).status();
    }).ok());
  }
  std::vector<model::Task> Tasks() {
    std::vector<model::Task> out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, state::records::ListTasks(tx, state::Query{model::kTask, "us-east-1", "c"}));
      return Status::Ok();
    }).ok());
    return out;
  }
  void StopAll() {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx, state::Query{model::kTask, "us-east-1", "c"}));
      for (auto& t : all) {
        t.last_status = t.desired_status = model::TaskStatus::kStopped;
        RETURN_IF_ERROR(state::records::PutTask(tx, t));
      }
      return Status::Ok();
    }).ok());
  }
  Json Internal(const std::string& name = "web-cp") {
    Json out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto o, tx.Get(model::kCapacityProvider, "us-east-1", name));
      if (o) out = o->internal;
      return Status::Ok();
    }).ok());
    return out;
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<EcsApi> ecs_;
  std::shared_ptr<Service> ecs_svc_, as_svc_;
  FakeGroup group_;
  bool strict_ = false;
};

// ---- The provider's API ---------------------------------------------------------------------

TEST_F(CapacityTest, CreateFillsAwsDefaults) {
  Json cp = Provider();
  const Json& asg = cp["autoScalingGroupProvider"];
  EXPECT_EQ(asg["autoScalingGroupArn"], kGroupArn);
  EXPECT_EQ(asg["managedScaling"], Json::parse(R"({"status":"DISABLED","targetCapacity":100,
      "minimumScalingStepSize":1,"maximumScalingStepSize":10000,"instanceWarmupPeriod":300})"));
  EXPECT_EQ(asg["managedTerminationProtection"], "DISABLED");
  // The group by name is its ARN.
  Ecs("DeleteCapacityProvider", {{"capacityProvider", "web-cp"}});
  Pass(kNow);
  Json two = Ecs("CreateCapacityProvider",
                 {{"name", "two"}, {"autoScalingGroupProvider", {{"autoScalingGroupArn", "web-asg"},
                                                                 {"managedScaling", {{"status", "ENABLED"}, {"targetCapacity", 80}}}}}})["capacityProvider"];
  EXPECT_EQ(two["autoScalingGroupProvider"]["autoScalingGroupArn"], kGroupArn);
  EXPECT_EQ(two["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"], 80);
  EXPECT_EQ(two["autoScalingGroupProvider"]["managedScaling"]["maximumScalingStepSize"], 10000);
}

TEST_F(CapacityTest, CreateRefusesWhatEcsRefuses) {
  strict_ = true;
  auto missing = Error("CreateCapacityProvider",
                       {{"name", "x"}, {"autoScalingGroupProvider", {{"autoScalingGroupArn", "nope"}}}});
  EXPECT_EQ(missing.first, "ClientException");
  EXPECT_THAT(missing.second, HasSubstr("Auto Scaling group ARN does not exist"));
  strict_ = false;
  Provider();
  auto twice = Error("CreateCapacityProvider",
                     {{"name", "other"}, {"autoScalingGroupProvider", {{"autoScalingGroupArn", kGroupArn}}}});
  EXPECT_EQ(twice, (std::pair<std::string, std::string>{
                       "ClientException",
                       "The specified Auto Scaling group ARN is already being used by another capacity provider. "
                       "Specify a unique Auto Scaling group ARN and try again."}));
  Ecs("DeleteCapacityProvider", {{"capacityProvider", "web-cp"}});
  Pass(kNow);
  group_.protect_new = false;
  auto unprotected = Error("CreateCapacityProvider",
                           {{"name", "p"}, {"autoScalingGroupProvider", {{"autoScalingGroupArn", kGroupArn},
                                                                         {"managedScaling", {{"status", "ENABLED"}}},
                                                                         {"managedTerminationProtection", "ENABLED"}}}});
  EXPECT_EQ(unprotected.first, "ClientException");
  EXPECT_THAT(unprotected.second, HasSubstr("the Auto Scaling group must have instance protection from scale in enabled"));
  group_.protect_new = true;
  auto unscaled = Error("CreateCapacityProvider",
                        {{"name", "p"}, {"autoScalingGroupProvider", {{"autoScalingGroupArn", kGroupArn},
                                                                      {"managedTerminationProtection", "ENABLED"}}}});
  EXPECT_THAT(unscaled.second, HasSubstr("managed scaling must be enabled"));
  auto steps = Error("CreateCapacityProvider",
                     {{"name", "p"}, {"autoScalingGroupProvider", {{"autoScalingGroupArn", kGroupArn},
                                                                   {"managedScaling", {{"minimumScalingStepSize", 5},
                                                                                       {"maximumScalingStepSize", 2}}}}}});
  EXPECT_EQ(steps.first, "InvalidParameterException");
  // Nothing was stored by the refusals.
  EXPECT_EQ(Ecs("DescribeCapacityProviders", {{"capacityProviders", {"p"}}})["failures"].size(), 1u);
}

TEST_F(CapacityTest, DeleteIsInProgressThenInactiveAndStaysDescribable) {
  Provider();
  Json d = Ecs("DeleteCapacityProvider", {{"capacityProvider", "web-cp"}})["capacityProvider"];
  EXPECT_EQ(d["status"], "ACTIVE");
  EXPECT_EQ(d["updateStatus"], "DELETE_IN_PROGRESS");
  EXPECT_EQ(Error("DeleteCapacityProvider", {{"capacityProvider", "web-cp"}}).first, "UpdateInProgressException");
  EXPECT_EQ(Error("UpdateCapacityProvider", {{"name", "web-cp"}, {"autoScalingGroupProvider", Json::object()}}).first,
            "UpdateInProgressException");
  Pass(kNow);
  Json cp = Ecs("DescribeCapacityProviders", {{"capacityProviders", {"web-cp"}}})["capacityProviders"][0];
  EXPECT_EQ(cp["status"], "INACTIVE");
  EXPECT_EQ(cp["updateStatus"], "DELETE_COMPLETE");
  // The group is free for another provider, and the name for a new one.
  Provider({}, "web-cp");
}

TEST_F(CapacityTest, UpdateKeepsTheRulesAndFillsDefaults) {
  Provider({{"managedScaling", {{"status", "ENABLED"}, {"targetCapacity", 50}}}});
  Json u = Ecs("UpdateCapacityProvider", {{"name", "web-cp"},
                                          {"autoScalingGroupProvider", {{"managedScaling", {{"status", "ENABLED"}}}}}});
  EXPECT_EQ(u["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"], 100);
  EXPECT_EQ(u["capacityProvider"]["autoScalingGroupProvider"]["autoScalingGroupArn"], kGroupArn);
  group_.protect_new = false;
  auto e = Error("UpdateCapacityProvider",
                 {{"name", "web-cp"}, {"autoScalingGroupProvider", {{"managedTerminationProtection", "ENABLED"}}}});
  EXPECT_THAT(e.second, HasSubstr("instance protection from scale in enabled"));
}

// ---- Waiting for capacity, and scaling ---------------------------------------------------------

TEST_F(CapacityTest, SixTasksGrowTheGroupRunOnItsInstancesAndTheGroupScalesBackIn) {
  ScalingCluster();
  // Lenient mode: the cluster has the host's container instance, which the provider's
  // tasks do not use.
  Json run = Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 6}});
  ASSERT_EQ(run["tasks"].size(), 6u);
  EXPECT_EQ(run["failures"], Json::array());
  for (const auto& t : run["tasks"]) {
    EXPECT_EQ(t["lastStatus"], "PROVISIONING");
    EXPECT_EQ(t["capacityProviderName"], "web-cp");
    EXPECT_FALSE(t.contains("containerInstanceArn"));
  }
  Pass(kNow + 1);
  EXPECT_EQ(group_.desired, 3);  // 6 tasks of 1024 CPU units, two per m5.large, in one step
  EXPECT_EQ(Internal()["reservation"], 200);  // N = 3, M = 0
  Pass(kNow + 2);
  EXPECT_EQ(group_.desired, 3);  // the launched instances are warming up: no second step
  for (const auto& t : Tasks()) EXPECT_FALSE(t.internal.placement.has_value());

  std::set<std::string> cis;
  for (const auto& i : group_.instances) cis.insert(Register(i.id));
  Pass(kNow + 3);  // the instances join the provider
  Pass(kNow + 4);  // the waiting tasks are placed
  std::map<std::string, int> per_instance;
  for (const auto& t : Tasks()) {
    ASSERT_TRUE(t.container_instance_arn.has_value()) << t.id;
    EXPECT_TRUE(cis.count(*t.container_instance_arn)) << "placed off the provider's instances";
    EXPECT_EQ(t.last_status, model::TaskStatus::kPending);
    ++per_instance[*t.container_instance_arn];
  }
  EXPECT_EQ(per_instance.size(), 3u);
  for (const auto& i : group_.instances) EXPECT_TRUE(i.prot) << i.id;  // running tasks: protected
  Json ci = Ecs("DescribeContainerInstances", {{"cluster", "c"}, {"containerInstances", {*cis.begin()}}});
  EXPECT_EQ(ci["containerInstances"][0]["capacityProviderName"], "web-cp");
  EXPECT_EQ(group_.desired, 3);
  EXPECT_EQ(Internal()["reservation"], 100);

  StopAll();
  Pass(kNow + 10);
  for (const auto& i : group_.instances) EXPECT_FALSE(i.prot) << i.id;  // idle: released
  EXPECT_EQ(group_.desired, 3);  // low, but not for 15 (scaled) minutes yet
  EXPECT_TRUE(Internal()["lowSince"].is_number());
  Pass(kNow + 20);
  EXPECT_EQ(group_.desired, 3);
  Pass(kNow + 26);
  EXPECT_EQ(group_.desired, 0);
  EXPECT_TRUE(group_.instances.empty());
}

TEST_F(CapacityTest, ScaleInLeavesProtectedBusyInstances) {
  ScalingCluster();
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 4}});
  Pass(kNow + 1);
  ASSERT_EQ(group_.desired, 2);
  for (const auto& i : group_.instances) Register(i.id);
  Pass(kNow + 2);
  Pass(kNow + 3);
  // Two of the tasks (one instance's) stop; the other instance keeps running two.
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx, state::Query{model::kTask, "us-east-1", "c"}));
    std::string first = all.front().internal.placement->instance;
    for (auto& t : all) {
      if (t.internal.placement->instance != first) continue;
      t.last_status = t.desired_status = model::TaskStatus::kStopped;
      RETURN_IF_ERROR(state::records::PutTask(tx, t));
    }
    return Status::Ok();
  }).ok());
  Pass(kNow + 4);
  Pass(kNow + 30);
  EXPECT_EQ(group_.desired, 1);
  ASSERT_EQ(group_.instances.size(), 1u);
  EXPECT_TRUE(group_.instances[0].prot);  // the busy one stayed
  for (const auto& t : Tasks()) {
    if (t.last_status != model::TaskStatus::kStopped) {
      EXPECT_TRUE(t.internal.placement.has_value());
    }
  }
}

TEST_F(CapacityTest, WaitingTasksStopAfterThirtyMinutesAndAtMostAHundredWait) {
  ScalingCluster();
  group_.max = 0;  // the group cannot grow
  for (int i = 0; i < 10; ++i) {
    Json run = Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 10}});
    ASSERT_EQ(run["tasks"].size(), 10u) << i;
  }
  auto full = Error("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}});
  EXPECT_EQ(full, (std::pair<std::string, std::string>{"InvalidParameterException",
                                                       "No Container Instances were found in your capacity provider."}));
  Pass(kNow + 29);
  for (const auto& t : Tasks()) EXPECT_EQ(t.desired_status, model::TaskStatus::kRunning);
  Pass(kNow + 31);  // 30 scaled minutes
  for (const auto& t : Tasks()) {
    EXPECT_EQ(t.desired_status, model::TaskStatus::kStopped);
    EXPECT_EQ(t.stop_code, model::StopCode::kTaskFailedToStart);
    EXPECT_THAT(t.stopped_reason.value_or(""), HasSubstr("capacity provider web-cp"));
  }
}

TEST_F(CapacityTest, WithoutManagedScalingATaskWithNoRoomFails) {
  Provider();
  Ecs("CreateCluster", {{"clusterName", "c"}});
  Ecs("PutClusterCapacityProviders", {{"cluster", "c"}, {"capacityProviders", {"web-cp"}},
                                      {"defaultCapacityProviderStrategy", Json::array()}});
  Ecs("RegisterTaskDefinition", {{"family", "work"},
                                 {"containerDefinitions", {{{"name", "w"}, {"image", "busybox"}, {"cpu", 1024}, {"memory", 512}}}}});
  // The provider has no instance: the host's does not count for it.
  auto e = Error("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"},
                             {"capacityProviderStrategy", {{{"capacityProvider", "web-cp"}, {"weight", 1}}}}});
  EXPECT_EQ(e, (std::pair<std::string, std::string>{"InvalidParameterException",
                                                    "No Container Instances were found in your capacity provider."}));
}

TEST_F(CapacityTest, OnlyAProviderAClusterUsesManagesItsGroup) {
  group_.desired = 2;
  group_.Converge();
  Provider({{"managedScaling", {{"status", "ENABLED"}, {"instanceWarmupPeriod", 0}}}});
  Pass(kNow);
  Pass(kNow + 20);
  EXPECT_EQ(group_.desired, 2);  // no cluster names the provider: the group is left alone
  Ecs("CreateCluster", {{"clusterName", "c"}});
  Ecs("PutClusterCapacityProviders", {{"cluster", "c"}, {"capacityProviders", {"web-cp"}},
                                      {"defaultCapacityProviderStrategy", Json::array()}});
  Pass(kNow + 21);
  EXPECT_EQ(group_.desired, 2);
  EXPECT_EQ(Internal()["reservation"], 0);  // N = 0, M = 2
  Pass(kNow + 37);
  EXPECT_EQ(group_.desired, 0);  // nothing runs there: in, after the wait
  EXPECT_TRUE(group_.calls == std::vector<std::string>{"SetDesiredCapacity 0"});
}

TEST_F(CapacityTest, TheAgentPathNamesTheProviderAndWaitingBridgeTasksGetTheInstancesOwnPorts) {
  ScalingCluster();
  Ecs("RegisterTaskDefinition",
      {{"family", "web"},
       {"containerDefinitions", {{{"name", "w"}, {"image", "busybox"}, {"cpu", 1024}, {"memory", 256},
                                  {"portMappings", {{{"containerPort", 80}}}}}}}});
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "web"}, {"count", 3}});
  Pass(kNow + 1);
  ASSERT_EQ(group_.desired, 2);
  // The instances come up as EC2 instances kecs runs, tagged by Auto Scaling, and their
  // agent registers them (the instance controller's path).
  for (const auto& i : group_.instances) RegisterEc2(i.id, kNow + 2);
  int named = 0;
  Json arns = Ecs("ListContainerInstances", {{"cluster", "c"}})["containerInstanceArns"];
  Json described = Ecs("DescribeContainerInstances", {{"cluster", "c"}, {"containerInstances", arns}});
  for (const auto& ci : described["containerInstances"]) {
    if (JStr(ci, "ec2InstanceId") == "i-1" || JStr(ci, "ec2InstanceId") == "i-2") {
      EXPECT_EQ(ci["capacityProviderName"], "web-cp");  // named at registration, before any pass
      ++named;
    }
  }
  EXPECT_EQ(named, 2);
  ecs_->PlaceWaitingTasks(kNow + 3);
  std::map<std::string, std::set<int>> ports;  // container instance -> host ports
  for (const auto& t : Tasks()) {
    ASSERT_TRUE(t.internal.placement.has_value()) << t.id;
    int hp = t.internal.containers.at(0).port_mappings.at(0).host_port;
    EXPECT_GE(hp, 49153);
    EXPECT_EQ(t.containers.at(0).network_bindings.at(0).host_port, hp);
    ASSERT_EQ(t.internal.placement->ports.size(), 1u);
    EXPECT_EQ(t.internal.placement->ports[0].port, hp);
    EXPECT_TRUE(ports[*t.container_instance_arn].insert(hp).second) << "port given twice on one instance";
  }
  EXPECT_EQ(ports.size(), 2u);
}

TEST_F(CapacityTest, AStrategyMixingFargateAndAnAutoScalingGroupIsRefused) {
  ScalingCluster();
  Ecs("PutClusterCapacityProviders", {{"cluster", "c"}, {"capacityProviders", {"web-cp", "FARGATE"}},
                                      {"defaultCapacityProviderStrategy", Json::array()}});
  auto e = Error("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"},
                             {"capacityProviderStrategy", {{{"capacityProvider", "FARGATE"}, {"weight", 1}},
                                                           {{"capacityProvider", "web-cp"}, {"weight", 1}}}}});
  EXPECT_EQ(e.first, "InvalidParameterException");
  EXPECT_THAT(e.second, HasSubstr("cannot contain a mix of capacity providers using Auto Scaling groups and Fargate"));
}

TEST_F(CapacityTest, TheTaskControllerLeavesAWaitingTaskAloneUntilPlacedOrStopped) {
  ScalingCluster();
  runtime::SimulatedRuntime runtime;
  FakeClock clock(kNow);
  reconcile::TaskController::Options o;
  o.workers = 0;
  o.stop_beside_workers = false;
  reconcile::TaskController controller(*store_, runtime, reconcile::TaskHooks{}, o, clock);
  Json run = Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 2}});
  std::string waiting = run["tasks"][0]["taskArn"], stopped = run["tasks"][1]["taskArn"];
  auto get = [&](const std::string& arn) {
    for (const auto& t : Tasks()) {
      if (t.task_arn == arn) return t;
    }
    ADD_FAILURE() << arn;
    return model::Task{};
  };
  for (int i = 0; i < 5; ++i) controller.StepForTest("us-east-1", get(waiting).id);
  EXPECT_EQ(get(waiting).last_status, model::TaskStatus::kProvisioning);  // not run on the host
  Ecs("StopTask", {{"cluster", "c"}, {"task", stopped}, {"reason", "no longer needed"}});
  for (int i = 0; i < 5; ++i) controller.StepForTest("us-east-1", get(stopped).id);
  EXPECT_EQ(get(stopped).last_status, model::TaskStatus::kStopped);
  // Once placed on a new instance of the group, it starts.
  Pass(kNow + 1);
  Register(group_.instances.at(0).id);
  Pass(kNow + 2);
  Pass(kNow + 3);
  ASSERT_TRUE(get(waiting).internal.placement.has_value());
  for (int i = 0; i < 10; ++i) controller.StepForTest("us-east-1", get(waiting).id);
  EXPECT_EQ(get(waiting).last_status, model::TaskStatus::kRunning);
}

// ---- Review 30 ------------------------------------------------------------------------------

TEST_F(CapacityTest, ABadMemberOfExpressionIsRefusedAndBlocksNoOtherWaitingTask) {
  ScalingCluster();
  const Json bad = {{{"type", "memberOf"}, {"expression", "attribute:ecs.instance-type =="}}};
  auto td = Error("RegisterTaskDefinition",
                  {{"family", "bad"}, {"placementConstraints", bad},
                   {"containerDefinitions", {{{"name", "w"}, {"image", "busybox"}, {"cpu", 1024}, {"memory", 512}}}}});
  EXPECT_EQ(td.first, "InvalidParameterException");
  EXPECT_THAT(td.second, HasSubstr("The placement constraint expression is invalid"));
  // The request's own constraint, with no instance yet (the task would wait).
  auto run = Error("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"placementConstraints", bad}});
  EXPECT_EQ(run.first, "InvalidParameterException");
  EXPECT_TRUE(Tasks().empty());
  // A task definition stored before the check (its constraint spoilt in the books).
  Ecs("RegisterTaskDefinition", {{"family", "spoilt"},
                                 {"containerDefinitions", {{{"name", "w"}, {"image", "busybox"}, {"cpu", 1024}, {"memory", 512}}}}});
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}});
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "spoilt"}});
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    for (auto o : Check(tx.List({kTaskDef, "us-east-1"}))) {
      if (JStr(o.doc, "family") != "spoilt") continue;
      o.doc["placementConstraints"] = bad;
      RETURN_IF_ERROR(tx.Put(o));
    }
    return Status::Ok();
  }).ok());
  Pass(kNow + 1);
  EXPECT_EQ(group_.desired, 1);  // the good task still asks for an instance
  Register(group_.instances.at(0).id);
  Pass(kNow + 2);
  Pass(kNow + 3);
  for (const auto& t : Tasks()) {
    if (t.family == "work") {
      EXPECT_TRUE(t.internal.placement.has_value());
    } else {
      EXPECT_EQ(t.desired_status, model::TaskStatus::kStopped);
      EXPECT_EQ(t.stop_code, model::StopCode::kTaskFailedToStart);
      EXPECT_THAT(t.stopped_reason.value_or(""), HasSubstr("The placement constraint expression is invalid"));
    }
  }
}

TEST_F(CapacityTest, ADaemonServicesTasksLeaveTheirInstancesIdle) {
  ScalingCluster();
  group_.desired = 2;
  group_.Converge();
  for (const auto& i : group_.instances) Register(i.id);
  Pass(kNow);  // the instances join the provider
  Ecs("CreateService", {{"cluster", "c"}, {"serviceName", "d"}, {"taskDefinition", "work"},
                        {"schedulingStrategy", "DAEMON"}, {"launchType", "EC2"}});
  // One task of the service on each instance (the service controller does not run here).
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 2}, {"group", "service:d"},
                  {"placementConstraints", {{{"type", "distinctInstance"}}}}});
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx, state::Query{model::kTask, "us-east-1", "c"}));
    for (auto& t : all) {
      EXPECT_TRUE(t.internal.placement.has_value());
      t.internal.service = "d";
      RETURN_IF_ERROR(state::records::PutTask(tx, t));
    }
    return Status::Ok();
  }).ok());
  Pass(kNow + 1);
  EXPECT_EQ(Internal()["reservation"], 0);  // N = 0, M = 2
  for (const auto& i : group_.instances) EXPECT_FALSE(i.prot) << i.id;  // released
  EXPECT_EQ(group_.desired, 2);
}

TEST_F(CapacityTest, AProviderInUseCannotLeaveItsCluster) {
  ScalingCluster();
  const std::pair<std::string, std::string> in_use{"ResourceInUseException",
                                                   "The specified capacity provider is in use and cannot be removed."};
  Json none = {{"cluster", "c"}, {"capacityProviders", Json::array()}, {"defaultCapacityProviderStrategy", Json::array()}};
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}});  // waits
  EXPECT_EQ(Error("PutClusterCapacityProviders", none), in_use);
  StopAll();
  Ecs("PutClusterCapacityProviders", none);
  Ecs("PutClusterCapacityProviders", {{"cluster", "c"}, {"capacityProviders", {"web-cp"}},
                                      {"defaultCapacityProviderStrategy", Json::array()}});
  Ecs("CreateService", {{"cluster", "c"}, {"serviceName", "s"}, {"taskDefinition", "work"}, {"desiredCount", 0},
                        {"capacityProviderStrategy", {{{"capacityProvider", "web-cp"}, {"weight", 1}}}}});
  EXPECT_EQ(Error("PutClusterCapacityProviders", none), in_use);
  EXPECT_EQ(Ecs("DescribeClusters", {{"clusters", {"c"}}})["clusters"][0]["capacityProviders"], Json({"web-cp"}));
}

TEST_F(CapacityTest, AFullWaitingRoomKeepsTheTasksThatFitAndFailsTheRest) {
  ScalingCluster();
  group_.max = 0;
  for (int i = 0; i < 9; ++i) Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 10}});
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 7}});
  Json run = Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 5}});
  EXPECT_EQ(run["tasks"].size(), 3u);
  ASSERT_EQ(run["failures"].size(), 1u);
  EXPECT_EQ(run["failures"][0]["arn"], "arn:aws:ecs:us-east-1:000000000000:capacity-provider/web-cp");
  EXPECT_EQ(run["failures"][0]["reason"], "CAPACITY_PROVIDER");
  EXPECT_EQ(Tasks().size(), 100u);
}

TEST_F(CapacityTest, ATaskPlacedJustBeforeScaleInIsProtectedAndKept) {
  ScalingCluster();
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}});
  Pass(kNow + 1);
  ASSERT_EQ(group_.desired, 1);
  Register(group_.instances.at(0).id);
  Pass(kNow + 2);
  Pass(kNow + 3);
  group_.desired = 3;  // two more, idle
  group_.Converge();
  Register(group_.instances.at(1).id);
  Register(group_.instances.at(2).id);
  Pass(kNow + 4);  // the idle ones are released; low from now
  StopAll();
  // As the pass releases the last busy instance, RunTask fills all three instances.
  bool ran = false;
  group_.on_release = [&](const std::string&) {
    if (ran) return;
    ran = true;
    Json r = Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}, {"count", 6}}, kNow + 30);
    EXPECT_EQ(r["tasks"].size(), 6u);
  };
  Pass(kNow + 30);
  ASSERT_TRUE(ran);
  EXPECT_EQ(group_.instances.size(), 3u);
  for (const auto& i : group_.instances) EXPECT_TRUE(i.prot) << i.id;
  EXPECT_EQ(group_.desired, 3);
}

TEST_F(CapacityTest, AnInstanceGettingATaskIsProtected) {
  ScalingCluster();
  group_.desired = 1;
  group_.Converge();
  Register(group_.instances.at(0).id);
  Pass(kNow + 1);
  ASSERT_FALSE(group_.instances.at(0).prot);  // idle: released
  Json run = Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "work"}});
  ASSERT_TRUE(run["tasks"][0].contains("containerInstanceArn"));
  Pass(kNow + 2);
  EXPECT_TRUE(group_.instances.at(0).prot);
  EXPECT_EQ(group_.calls.back(), "protect " + group_.instances.at(0).id);
}

TEST_F(CapacityTest, AWaitingTasksDynamicPortsAreBookedBeforeTheNextTask) {
  ScalingCluster();
  auto td = [&](const std::string& family, int host_port) {
    Ecs("RegisterTaskDefinition",
        {{"family", family}, {"networkMode", "bridge"},
         {"containerDefinitions", {{{"name", "w"}, {"image", "busybox"}, {"cpu", 256}, {"memory", 128},
                                    {"portMappings", {{{"containerPort", 80}, {"hostPort", host_port}}}}}}}});
  };
  td("dyn", 0);
  td("fixed", 49153);
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "dyn"}}, kNow);
  Ecs("RunTask", {{"cluster", "c"}, {"taskDefinition", "fixed"}}, kNow + 0.5);
  Pass(kNow + 1);
  ASSERT_EQ(group_.desired, 1);
  RegisterEc2(group_.instances.at(0).id, kNow + 2);
  ecs_->PlaceWaitingTasks(kNow + 3);
  for (const auto& t : Tasks()) {
    if (t.family == "dyn") {
      ASSERT_TRUE(t.internal.placement.has_value());
      EXPECT_EQ(t.internal.containers.at(0).port_mappings.at(0).host_port, 49153);
    } else {
      EXPECT_FALSE(t.internal.placement.has_value()) << "hostPort 49153 given twice on one instance";
    }
  }
}

}  // namespace
}  // namespace kecs::api::ecs
