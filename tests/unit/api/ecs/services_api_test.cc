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
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ecs {
namespace {

class ServicesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ecs_ = std::make_unique<EcsApi>(*store_, regions_, EcsOptions{});
    ErrorStyle style;
    style.ecs_enum_wording = true;
    auto svc = std::make_shared<Service>(model::EcsModel(), style);
    ecs_->RegisterAll(*svc);
    router_.AddService(svc);
  }

  // One ECS call through the router, as the aws CLI would send it (no keys configured, so
  // the signature is not checked; its credential scope names the region).
  HttpResponse Send(const std::string& op, const Json& body) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.body = body.dump();
    r.headers = {
        {"host", "127.0.0.1:8080"},
        {"x-amz-target", "AmazonEC2ContainerServiceV20141113." + op},
        {"content-type", "application/x-amz-json-1.1"},
        {"x-amz-date", "20240101T000000Z"},
        {"authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDKECSTEST/20240101/us-east-1/ecs/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"},
        {"content-length", std::to_string(r.body.size())},
    };
    return router_.Handle(r);
  }
  Json Call(const std::string& op, const Json& body, int want_status = 200) {
    auto resp = Send(op, body);
    EXPECT_EQ(resp.status, want_status) << op << ": " << resp.body;
    auto j = ParseJson(resp.body);
    return j ? *j : Json();
  }

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

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<EcsApi> ecs_;
  Router router_{Router::Options{}};
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

}  // namespace
}  // namespace kecs::api::ecs
