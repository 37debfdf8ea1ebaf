// DeleteService through the real ECS handlers and router, with the scheduler driven by
// hand: the DRAINING state that the e2e test can only catch in passing is held here for
// as long as the test wants, so what ListServices and DescribeServices show of it is
// checked deterministically.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "base/clock.h"
#include "model/shapes.h"
#include "model/elb.h"
#include "net/domain/vpc.h"
#include "reconcile/service_controller.h"
#include "state/records/elb.h"
#include "state/records/services.h"
#include "state/store.h"
#include "unit/support/ecs_router.h"

namespace kecs::api::ecs {
namespace {

class ServicesApiTest : public kecs::testing::EcsRouterTest {
 protected:

  std::vector<std::string> ListedServices() {
    std::vector<std::string> out;
    Json l = Call("ListServices", {{"cluster", "c1"}});
    if (!l.contains("serviceArns")) ADD_FAILURE() << l.dump();
    for (const auto& arn : l["serviceArns"]) out.push_back(arn);
    return out;
  }

  std::string DescribedStatus() {
    Json d = Call("DescribeServices", {{"cluster", "c1"}, {"services", {"web"}}});
    return d["services"].empty() ? "" : d["services"][0]["status"].get<std::string>();
  }

  // ---- Load balancers: rows made directly through the ELB records ----

  // A target group of `type`; with `attached`, a load balancer's listener forwards to it.
  std::string MakeTargetGroup(const std::string& name, model::TargetType type, bool attached = true) {
    model::TargetGroup tg;
    tg.region = "us-east-1";
    tg.id = model::NewElbId();
    tg.name = name;
    tg.arn = model::TargetGroupArn(tg.region, "000000000000", name, tg.id);
    tg.target_type = type;
    tg.protocol = model::LbProtocol::kHttp;
    tg.port = 80;
    tg.attributes = model::DefaultTargetGroupAttributes(type, tg.protocol);
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) {
      RETURN_IF_ERROR(state::records::PutTargetGroup(tx, tg));
      if (!attached) return Status::Ok();
      model::LoadBalancer lb;
      lb.region = tg.region;
      lb.id = model::NewElbId();
      lb.name = "lb-" + name;
      lb.arn = model::LoadBalancerArn(lb.region, "000000000000", lb.type, lb.name, lb.id);
      lb.state = model::LbState::kActive;
      lb.attributes = model::DefaultLoadBalancerAttributes(lb.type);
      RETURN_IF_ERROR(state::records::PutLoadBalancer(tx, lb));
      model::Listener l;
      l.region = lb.region;
      l.id = model::NewElbId();
      l.load_balancer_id = lb.id;
      l.load_balancer_arn = lb.arn;
      l.arn = model::ListenerArn(lb, "000000000000", l.id);
      l.port = 80;
      model::Action forward;
      forward.type = model::ActionType::kForward;
      forward.target_group_arn = tg.arn;
      l.default_actions = {forward};
      return state::records::PutListener(tx, l);
    }).ok());
    return tg.arn;
  }

  // Task definition "web" (container "web", port 8080) in `mode`, and the cluster.
  void MakeTaskDefinition(const std::string& mode, int port = 8080, const std::string& family = "web") {
    Call("CreateCluster", {{"clusterName", "c1"}});
    Call("RegisterTaskDefinition",
         {{"family", family},
          {"networkMode", mode},
          {"requiresCompatibilities", mode == "awsvpc" ? Json::array({"FARGATE"}) : Json::array({"EC2"})},
          {"cpu", "256"},
          {"memory", "512"},
          {"containerDefinitions",
           {{{"name", "web"}, {"image", "nginx"}, {"essential", true}, {"portMappings", {{{"containerPort", port}}}}}}}});
  }

  // CreateService with `lbs`; the error's message, or "" when it was created.
  std::string CreateWithLbs(const std::string& mode, const Json& lbs, const std::string& name = "web") {
    Json req = {{"cluster", "c1"}, {"serviceName", name}, {"taskDefinition", "web"}, {"desiredCount", 0},
                {"loadBalancers", lbs}};
    if (mode == "awsvpc") {
      req["launchType"] = "FARGATE";
      req["networkConfiguration"] = {{"awsvpcConfiguration", {{"subnets", Json::array()}}}};
    } else {
      req["launchType"] = "EC2";
    }
    return ErrorOf("CreateService", req);
  }

  // The InvalidParameterException's message of a call that fails, "" when it succeeds.
  std::string ErrorOf(const std::string& op, const Json& req) {
    auto resp = Send(op, req);
    if (resp.status == 200) return "";
    auto parsed = ParseJson(resp.body);
    Json out = parsed ? *parsed : Json::object();
    EXPECT_EQ(out["__type"].get<std::string>(), "InvalidParameterException") << out.dump();
    return out.value("message", out.value("Message", ""));
  }

};

TEST_F(ServicesApiTest, DrainingServiceIsDescribedButNotListedUntilItIsInactive) {
  Call("CreateCluster", {{"clusterName", "c1"}});
  Call("RegisterTaskDefinition",
       {{"family", "web"},
        {"networkMode", "bridge"},
        {"containerDefinitions", {{{"name", "web"}, {"image", "nginx"}, {"memory", 64}, {"essential", true}}}}});
  Call("CreateService", {{"cluster", "c1"}, {"serviceName", "web"}, {"taskDefinition", "web"},
                         {"desiredCount", 0}, {"launchType", "EC2"}});
  ASSERT_EQ(ListedServices().size(), 1u);

  Call("DeleteService", {{"cluster", "c1"}, {"service", "web"}, {"force", true}});
  // No scheduler pass has run: the service stays DRAINING for as long as this test likes.
  EXPECT_EQ(DescribedStatus(), "DRAINING");
  EXPECT_TRUE(ListedServices().empty()) << "ListServices shows ACTIVE services only";
  EXPECT_EQ(DescribedStatus(), "DRAINING");

  // One pass: no task is left, so the service ends INACTIVE, and is still not listed.
  FakeClock clock(1'800'000'000);
  reconcile::ServiceController scheduler(*store_, *ecs_, reconcile::ServiceController::Options{}, clock);
  scheduler.RunOnce();
  EXPECT_EQ(DescribedStatus(), "INACTIVE");
  EXPECT_TRUE(ListedServices().empty());

  // The name can be used again at once.
  Call("CreateService", {{"cluster", "c1"}, {"serviceName", "web"}, {"taskDefinition", "web"},
                         {"desiredCount", 0}, {"launchType", "EC2"}});
  EXPECT_EQ(ListedServices().size(), 1u);
  EXPECT_EQ(DescribedStatus(), "ACTIVE");
}

// ---- loadBalancers ----------------------------------------------------------------------

TEST_F(ServicesApiTest, AServiceBehindATargetGroupKeepsItsLoadBalancersAsGiven) {
  MakeTaskDefinition("awsvpc");
  std::string tg = MakeTargetGroup("web", model::TargetType::kIp);
  Json lbs = {{{"targetGroupArn", tg}, {"containerName", "web"}, {"containerPort", 8080}}};
  ASSERT_EQ(CreateWithLbs("awsvpc", lbs), "");
  Json d = Call("DescribeServices", {{"cluster", "c1"}, {"services", {"web"}}});
  EXPECT_EQ(d["services"][0]["loadBalancers"], lbs);
}

TEST_F(ServicesApiTest, LoadBalancersAreCheckedWithEcsMessages) {
  MakeTaskDefinition("awsvpc");
  std::string ip = MakeTargetGroup("ip", model::TargetType::kIp);
  std::string inst = MakeTargetGroup("inst", model::TargetType::kInstance);
  std::string lonely = MakeTargetGroup("lonely", model::TargetType::kIp, /*attached=*/false);
  auto one = [](const std::string& tg, const std::string& container, int port) {
    return Json::array({{{"targetGroupArn", tg}, {"containerName", container}, {"containerPort", port}}});
  };
  EXPECT_EQ(CreateWithLbs("awsvpc", one(lonely, "web", 8080)),
            "The target group with targetGroupArn " + lonely + " does not have an associated load balancer.");
  EXPECT_EQ(CreateWithLbs("awsvpc", one(inst, "web", 8080)),
            "The provided target group " + inst +
                " has target type instance, which is incompatible with the awsvpc network mode specified in the task "
                "definition.");
  EXPECT_EQ(CreateWithLbs("awsvpc", one(ip, "nope", 8080)), "The container nope does not exist in the task definition.");
  EXPECT_EQ(CreateWithLbs("awsvpc", one(ip, "web", 81)), "The container web does not have a container port 81 defined.");
  EXPECT_EQ(CreateWithLbs("awsvpc", one(model::TargetGroupArn("us-east-1", "000000000000", "gone", "0123456789abcdef"),
                                        "web", 8080)),
            "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role "
            "being passed has the proper permissions.");
  Json both = one(ip, "web", 8080);
  both[0]["loadBalancerName"] = "classic";
  EXPECT_EQ(CreateWithLbs("awsvpc", both),
            "loadBalancerName and targetGroupArn cannot both be specified. You must specify either a loadBalancerName "
            "or a targetGroupArn.");
  EXPECT_EQ(CreateWithLbs("awsvpc", Json::array({{{"loadBalancerName", "classic"}, {"containerName", "web"},
                                                  {"containerPort", 8080}}})),
            "The load balancer classic does not exist.");
  Json six = Json::array();
  for (int i = 0; i < 6; ++i) six.push_back(one(ip, "web", 8080)[0]);
  EXPECT_EQ(CreateWithLbs("awsvpc", six), "load balancers can have at most 5 items.");
  // None of them was created.
  EXPECT_TRUE(ListedServices().empty());
}

TEST_F(ServicesApiTest, AnIpTargetGroupDoesNotFitABridgeTask) {
  MakeTaskDefinition("bridge");
  std::string ip = MakeTargetGroup("ip", model::TargetType::kIp);
  std::string inst = MakeTargetGroup("inst", model::TargetType::kInstance);
  EXPECT_EQ(CreateWithLbs("bridge", {{{"targetGroupArn", ip}, {"containerName", "web"}, {"containerPort", 8080}}}),
            "The provided target group " + ip +
                " has target type ip, which is incompatible with the bridge network mode specified in the task "
                "definition.");
  EXPECT_EQ(CreateWithLbs("bridge", {{{"targetGroupArn", inst}, {"containerName", "web"}, {"containerPort", 8080}}}), "");
}

TEST_F(ServicesApiTest, UpdateServiceChecksAndDeploysNewLoadBalancers) {
  MakeTaskDefinition("awsvpc");
  std::string a = MakeTargetGroup("a", model::TargetType::kIp);
  std::string b = MakeTargetGroup("b", model::TargetType::kIp);
  ASSERT_EQ(CreateWithLbs("awsvpc", {{{"targetGroupArn", a}, {"containerName", "web"}, {"containerPort", 8080}}}), "");
  // A task definition whose container lacks the port no longer fits the load balancer.
  MakeTaskDefinition("awsvpc", 9090);
  EXPECT_EQ(ErrorOf("UpdateService", {{"cluster", "c1"}, {"service", "web"}, {"taskDefinition", "web:2"}}),
            "The container web does not have a container port 8080 defined.");
  EXPECT_EQ(ErrorOf("UpdateService", {{"cluster", "c1"},
                                      {"service", "web"},
                                      {"loadBalancers", {{{"targetGroupArn", b}, {"containerName", "web"},
                                                          {"containerPort", 8080}}}}}),
            "");
  Json d = Call("DescribeServices", {{"cluster", "c1"}, {"services", {"web"}}});
  EXPECT_EQ(d["services"][0]["loadBalancers"][0]["targetGroupArn"], b);
  EXPECT_EQ(d["services"][0]["deployments"].size(), 2u) << "new load balancers start a deployment";
}


// ---- Task sets (issue 18) ----------------------------------------------------------------

TEST_F(ServicesApiTest, ATaskSetsLoadBalancersAreCheckedAsAServicesAndItsCountFollowsDesiredCount) {
  MakeTaskDefinition("awsvpc");
  std::string ip = MakeTargetGroup("ip", model::TargetType::kIp);
  std::string lonely = MakeTargetGroup("lonely", model::TargetType::kIp, /*attached=*/false);
  Call("CreateService", {{"cluster", "c1"}, {"serviceName", "web"}, {"desiredCount", 3},
                         {"deploymentController", {{"type", "EXTERNAL"}}}});
  auto create = [&](const std::string& tg) {
    return ErrorOf("CreateTaskSet",
                   {{"cluster", "c1"}, {"service", "web"}, {"taskDefinition", "web"}, {"launchType", "FARGATE"},
                    {"networkConfiguration", {{"awsvpcConfiguration", {{"subnets", Json::array()}}}}},
                    {"loadBalancers", {{{"targetGroupArn", tg}, {"containerName", "web"}, {"containerPort", 8080}}}},
                    {"scale", {{"value", 50}, {"unit", "PERCENT"}}}});
  };
  EXPECT_EQ(create(lonely),
            "The target group with targetGroupArn " + lonely + " does not have an associated load balancer.");
  EXPECT_EQ(create(ip), "");
  Json sets = Call("DescribeTaskSets", {{"cluster", "c1"}, {"service", "web"}});
  ASSERT_EQ(sets["taskSets"].size(), 1u);
  EXPECT_EQ(sets["taskSets"][0]["computedDesiredCount"], 2);  // ceil(3 x 50%)
  EXPECT_EQ(sets["taskSets"][0]["loadBalancers"][0]["targetGroupArn"], ip);
  // desiredCount recomputes the count at once.
  Json up = Call("UpdateService", {{"cluster", "c1"}, {"service", "web"}, {"desiredCount", 6}});
  EXPECT_EQ(up["service"]["taskSets"][0]["computedDesiredCount"], 3);
  EXPECT_EQ(up["service"]["deployments"], Json::array());
  // What task sets own is not UpdateService's to change.
  EXPECT_EQ(ErrorOf("UpdateService", {{"cluster", "c1"}, {"service", "web"},
                                      {"networkConfiguration", {{"awsvpcConfiguration", {{"subnets", Json::array()}}}}}}),
            "Unable to update network configuration on services with an EXTERNAL deployment controller. Use task sets "
            "to trigger a new deployment.");
}

TEST_F(ServicesApiTest, UpdateServicePrimaryTaskSetSwapsAndCarriesTheTaskDefinitionToTheService) {
  MakeTaskDefinition("bridge");
  MakeTaskDefinition("bridge", 9090);
  Call("CreateService", {{"cluster", "c1"}, {"serviceName", "web"}, {"desiredCount", 1},
                         {"deploymentController", {{"type", "EXTERNAL"}}}});
  Json a = Call("CreateTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskDefinition", "web:1"}})["taskSet"];
  Json b = Call("CreateTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskDefinition", "web:2"}})["taskSet"];
  EXPECT_EQ(Call("UpdateServicePrimaryTaskSet",
                 {{"cluster", "c1"}, {"service", "web"}, {"primaryTaskSet", a["taskSetArn"]}})["taskSet"]["status"],
            "PRIMARY");
  Call("UpdateServicePrimaryTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"primaryTaskSet", b["id"]}});
  Json svc = Call("DescribeServices", {{"cluster", "c1"}, {"services", {"web"}}})["services"][0];
  EXPECT_EQ(svc["taskDefinition"], b["taskDefinition"]);
  std::map<std::string, std::string> status;
  for (const auto& ts : svc["taskSets"]) status[ts["id"]] = ts["status"];
  EXPECT_EQ(status[a["id"]], "ACTIVE");
  EXPECT_EQ(status[b["id"]], "PRIMARY");
  // The PRIMARY set needs force; then it is DRAINING.
  EXPECT_NE(ErrorOf("DeleteTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskSet", b["id"]}}), "");
  EXPECT_EQ(Call("DeleteTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskSet", b["id"]}, {"force", true}})
                ["taskSet"]["status"],
            "DRAINING");
  EXPECT_NE(ErrorOf("UpdateServicePrimaryTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"primaryTaskSet", b["id"]}}),
            "");
}

// ---- Deployment strategies (issue 18) ------------------------------------------------

// The listener whose default action forwards to `tg` (MakeTargetGroup's).
std::string ListenerForwardingTo(state::Store& store, const std::string& tg) {
  std::string out;
  EXPECT_TRUE(store.Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto lbs, state::records::ListLoadBalancers(tx, "us-east-1"));
    for (const auto& lb : lbs) {
      ASSIGN_OR_RETURN(auto ls, state::records::ListListeners(tx, "us-east-1", lb.id));
      for (const auto& l : ls) {
        if (!l.default_actions.empty() && l.default_actions[0].target_group_arn == tg) out = l.arn;
      }
    }
    return Status::Ok();
  }).ok());
  return out;
}

class DeploymentStrategyApiTest : public ServicesApiTest {
 protected:
  void SetUp() override {
    ServicesApiTest::SetUp();
    MakeTaskDefinition("awsvpc");
    blue_ = MakeTargetGroup("blue", model::TargetType::kIp);
    green_ = MakeTargetGroup("green", model::TargetType::kIp, false);
    rule_ = ListenerForwardingTo(*store_, blue_);
    ASSERT_FALSE(rule_.empty());
  }
  Json Lbs() const {
    return {{{"targetGroupArn", blue_},
             {"containerName", "web"},
             {"containerPort", 8080},
             {"advancedConfiguration",
              {{"alternateTargetGroupArn", green_},
               {"productionListenerRule", rule_},
               {"roleArn", "arn:aws:iam::000000000000:role/ecs-elb"}}}}};
  }
  // CreateService with `cfg` as deploymentConfiguration; the error's message or "".
  std::string Create(const Json& cfg, Json lbs = nullptr) {
    Json req = {{"cluster", "c1"},       {"serviceName", "web"},          {"taskDefinition", "web"},
                {"desiredCount", 0},     {"launchType", "FARGATE"},       {"loadBalancers", lbs.is_null() ? Lbs() : lbs},
                {"deploymentConfiguration", cfg},
                {"networkConfiguration", {{"awsvpcConfiguration", {{"subnets", Json::array()}}}}}};
    return ErrorOf("CreateService", req);
  }
  std::string blue_, green_, rule_;
};

TEST_F(DeploymentStrategyApiTest, ABlueGreenServiceShowsItsStrategyHooksAndAdvancedConfigurationAsGiven) {
  Json cfg = {{"strategy", "BLUE_GREEN"},
              {"bakeTimeInMinutes", 2},
              {"lifecycleHooks",
               {{{"targetType", "PAUSE"}, {"lifecycleStages", {"TEST_TRAFFIC_SHIFT", "POST_SCALE_UP"}}},
                {{"hookTargetArn", "arn:aws:lambda:us-east-1:000000000000:function:check"},
                 {"roleArn", "arn:aws:iam::000000000000:role/hook"},
                 {"lifecycleStages", {"PRE_SCALE_UP"}},
                 {"hookDetails", {{"k", "v"}}}}}},
              {"alarms", {{"alarmNames", {"high-5xx"}}, {"enable", true}, {"rollback", true}}}};
  ASSERT_EQ(Create(cfg), "");
  Json d = Call("DescribeServices", {{"cluster", "c1"}, {"services", {"web"}}});
  const Json& got = d["services"][0]["deploymentConfiguration"];
  for (const char* k : {"strategy", "bakeTimeInMinutes", "lifecycleHooks", "alarms"}) EXPECT_EQ(got[k], cfg[k]) << k;
  EXPECT_EQ(d["services"][0]["loadBalancers"], Lbs());
}

TEST_F(DeploymentStrategyApiTest, StrategySettingsAreCheckedAgainstTheModelsRanges) {
  // (An unknown strategy or stage is refused by the router's model check before the handler.)
  EXPECT_NE(Create({{"strategy", "BLUE_GREEN"}}).find("bakeTimeInMinutes must be specified"), std::string::npos);
  EXPECT_NE(Create({{"strategy", "BLUE_GREEN"}, {"bakeTimeInMinutes", 1441}}).find("between 0 and 1440"),
            std::string::npos);
  EXPECT_NE(Create({{"strategy", "LINEAR"}, {"linearConfiguration", {{"stepPercent", 2.5}}}}).find("stepPercent"),
            std::string::npos);
  EXPECT_NE(Create({{"strategy", "LINEAR"}, {"linearConfiguration", {{"stepPercent", 10.05}}}}).find("stepPercent"),
            std::string::npos);
  EXPECT_NE(Create({{"strategy", "CANARY"}, {"canaryConfiguration", {{"canaryPercent", 0.0}}}}).find("canaryPercent"),
            std::string::npos);
  EXPECT_NE(Create({{"strategy", "CANARY"}, {"linearConfiguration", {{"stepPercent", 10.0}}}})
                .find("linearConfiguration is only valid"),
            std::string::npos);
  EXPECT_NE(Create({{"strategy", "LINEAR"}, {"lifecycleHooks", {{{"lifecycleStages", {"TEST_TRAFFIC_SHIFT"}}}}}})
                .find("hookTargetArn must be specified"),
            std::string::npos);
  EXPECT_NE(Create({{"strategy", "LINEAR"},
                    {"lifecycleHooks",
                     {{{"targetType", "PAUSE"},
                       {"lifecycleStages", {"TEST_TRAFFIC_SHIFT"}},
                       {"timeoutConfiguration", {{"timeoutInMinutes", 0}}}}}}})
                .find("timeoutInMinutes"),
            std::string::npos);
  // Valid ones pass: 3.0 and 100.0 are the ends of stepPercent's range.
  EXPECT_EQ(Create({{"strategy", "LINEAR"}, {"linearConfiguration", {{"stepPercent", 3.0}, {"stepBakeTimeInMinutes", 0}}}}),
            "");
}

TEST_F(DeploymentStrategyApiTest, ATrafficShiftingStrategyNeedsTheAlternateGroupAndAListenerRuleThatForwardsToIt) {
  Json plain = {{{"targetGroupArn", blue_}, {"containerName", "web"}, {"containerPort", 8080}}};
  EXPECT_NE(Create({{"strategy", "CANARY"}}, plain).find("requires an advancedConfiguration"), std::string::npos);
  Json lbs = Lbs();
  lbs[0]["advancedConfiguration"]["alternateTargetGroupArn"] = blue_;
  EXPECT_NE(Create({{"strategy", "CANARY"}}, lbs).find("must differ"), std::string::npos);
  lbs = Lbs();
  lbs[0]["advancedConfiguration"]["alternateTargetGroupArn"] = green_ + "0";
  EXPECT_NE(Create({{"strategy", "CANARY"}}, lbs).find("alternateTargetGroupArn"), std::string::npos);
  lbs = Lbs();
  lbs[0]["advancedConfiguration"]["productionListenerRule"] = rule_ + "0";
  EXPECT_NE(Create({{"strategy", "CANARY"}}, lbs).find("productionListenerRule"), std::string::npos);
  // A rule that forwards to neither group cannot shift their traffic.
  std::string other = MakeTargetGroup("other", model::TargetType::kIp);
  lbs = Lbs();
  lbs[0]["advancedConfiguration"]["testListenerRule"] = ListenerForwardingTo(*store_, other);
  EXPECT_NE(Create({{"strategy", "CANARY"}}, lbs).find("does not forward to"), std::string::npos);
  EXPECT_EQ(Create({{"strategy", "CANARY"}}), "");
}

TEST_F(DeploymentStrategyApiTest, UpdateServiceChangesStrategyWithoutKeepingTheOldStrategysSettings) {
  ASSERT_EQ(Create({{"strategy", "LINEAR"}, {"linearConfiguration", {{"stepPercent", 50.0}}}}), "");
  EXPECT_EQ(ErrorOf("UpdateService", {{"cluster", "c1"},
                                      {"service", "web"},
                                      {"deploymentConfiguration", {{"strategy", "CANARY"}}}}),
            "");
  Json d = Call("DescribeServices", {{"cluster", "c1"}, {"services", {"web"}}});
  const Json& cfg = d["services"][0]["deploymentConfiguration"];
  EXPECT_EQ(cfg["strategy"], "CANARY");
  EXPECT_FALSE(cfg.contains("linearConfiguration")) << cfg.dump();
  EXPECT_NE(ErrorOf("UpdateService", {{"cluster", "c1"},
                                      {"service", "web"},
                                      {"deploymentConfiguration", {{"bakeTimeInMinutes", -1}}}})
                .find("bakeTimeInMinutes"),
            std::string::npos);
}

TEST_F(DeploymentStrategyApiTest, ContinueServiceDeploymentAnswersAwsShapedErrors) {
  ASSERT_EQ(Create({{"strategy", "BLUE_GREEN"}, {"bakeTimeInMinutes", 0}}), "");
  auto resp = Send("ContinueServiceDeployment",
                   {{"serviceDeploymentArn", "arn:aws:ecs:us-east-1:000000000000:service-deployment/c1/web/nope"},
                    {"hookId", "h"}});
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("ServiceDeploymentNotFoundException"), std::string::npos) << resp.body;
  Json list = Call("ListServiceDeployments", {{"cluster", "c1"}, {"service", "web"}});
  ASSERT_EQ(list["serviceDeployments"].size(), 1u);
  std::string arn = list["serviceDeployments"][0]["serviceDeploymentArn"];
  // The first deployment has no hook: the hookId names none.
  EXPECT_NE(ErrorOf("ContinueServiceDeployment", {{"serviceDeploymentArn", arn}, {"hookId", "h"}})
                .find("is not a hook of the service deployment"),
            std::string::npos);
}

// The test listener rule's weights move apart from production's: one rule cannot be both
// (review 18b).
TEST_F(DeploymentStrategyApiTest, TheTestListenerRuleMustDifferFromTheProductionRule) {
  Json lbs = Lbs();
  lbs[0]["advancedConfiguration"]["testListenerRule"] = rule_;
  EXPECT_NE(Create({{"strategy", "BLUE_GREEN"}, {"bakeTimeInMinutes", 0}}, lbs)
                .find("testListenerRule must differ from productionListenerRule"),
            std::string::npos);
}

// StopServiceDeployment of a deployment paused at a PAUSE hook: the hook will get no
// action, so its detail does not stay AWAITING_ACTION (review 18b).
TEST_F(DeploymentStrategyApiTest, StopServiceDeploymentEndsThePausedHooksDetail) {
  ASSERT_EQ(Create({{"strategy", "BLUE_GREEN"}, {"bakeTimeInMinutes", 0}}), "");
  Call("UpdateService", {{"cluster", "c1"}, {"service", "web"}, {"forceNewDeployment", true}});
  // What the scheduler leaves at a pause: the shift waits at the hook, whose detail the
  // deployment's record shows AWAITING_ACTION.
  std::string arn;
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto svc, state::records::GetService(tx, "us-east-1", "c1", "web"));
    if (!svc || svc->deployments.size() != 2) return Internal("want a service with two deployments");
    model::TrafficShift shift;
    shift.green = svc->deployments[0].id;
    shift.blue = svc->deployments[1].id;
    shift.stage = "TEST_TRAFFIC_SHIFT";
    shift.paused_hook = "hook-1";
    svc->internal.shift = shift;
    RETURN_IF_ERROR(state::records::PutService(tx, *svc));
    ASSIGN_OR_RETURN(auto all, state::records::ListServiceDeployments(tx, "us-east-1", "c1", "web"));
    for (auto& d : all) {
      if (d.deployment_id != svc->deployments[0].id) continue;
      d.lifecycle_hook_details = Json::array(
          {{{"hookId", "hook-1"}, {"targetType", "PAUSE"}, {"status", "AWAITING_ACTION"}}});
      arn = d.arn;
      RETURN_IF_ERROR(state::records::PutServiceDeployment(tx, d));
    }
    return Status::Ok();
  }).ok());
  ASSERT_FALSE(arn.empty());
  Call("StopServiceDeployment", {{"serviceDeploymentArn", arn}});
  Json d = Call("DescribeServiceDeployments", {{"serviceDeploymentArns", {arn}}});
  ASSERT_EQ(d["serviceDeployments"].size(), 1u) << d.dump();
  EXPECT_EQ(d["serviceDeployments"][0]["status"], "ROLLBACK_REQUESTED");
  const Json& hooks = d["serviceDeployments"][0]["lifecycleHookDetails"];
  ASSERT_EQ(hooks.size(), 1u) << d.dump();
  EXPECT_EQ(hooks[0]["status"], "FAILED");
}

TEST_F(ServicesApiTest, CreateTaskSetChecksItsClientTokenAndKeepsOnlyTheTokensOfLiveTaskSets) {
  MakeTaskDefinition("bridge");
  Call("CreateService", {{"cluster", "c1"}, {"serviceName", "web"}, {"desiredCount", 0},
                         {"deploymentController", {{"type", "EXTERNAL"}}}});
  auto create = [&](const std::string& token) {
    return ErrorOf("CreateTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskDefinition", "web"},
                                     {"clientToken", token}});
  };
  // "Up to 36 ASCII characters in the range of 33-126 (inclusive)" (the model).
  EXPECT_NE(create(std::string(37, 't')), "");
  EXPECT_NE(create("with a space"), "");
  EXPECT_EQ(create(std::string(36, 't')), "");
  // Task sets created with tokens and deleted: their tokens do not pile up in the record.
  FakeClock clock(1'800'000'000);
  reconcile::ServiceController scheduler(*store_, *ecs_, reconcile::ServiceController::Options{}, clock);
  for (int i = 0; i < 8; ++i) {
    Json ts = Call("CreateTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskDefinition", "web"},
                                     {"clientToken", "tok-" + std::to_string(i)}})["taskSet"];
    Call("DeleteTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskSet", ts["id"]}, {"force", true}});
    scheduler.RunOnce();  // no task: the DRAINING set leaves the service
  }
  Json one = Call("CreateTaskSet", {{"cluster", "c1"}, {"service", "web"}, {"taskDefinition", "web"},
                                    {"clientToken", "tok-last"}})["taskSet"];
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto svc = state::records::GetService(tx, "us-east-1", "c1", "web");
    EXPECT_TRUE(svc.ok() && *svc);
    if (!svc.ok() || !*svc) return Status::Ok();
    Json tokens = (*svc)->internal.task_set_tokens;
    EXPECT_EQ(tokens.size(), 2u) << tokens.dump();  // 36 t's and tok-last: their sets live
    EXPECT_EQ(tokens.value("tok-last", ""), one["id"].get<std::string>());
    return Status::Ok();
  }).ok());
}

}  // namespace
}  // namespace kecs::api::ecs
