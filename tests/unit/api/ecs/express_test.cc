// Express Mode services (express.cc) over a temporary store, with the real ECS, EC2 and
// ELBv2 handlers: the infrastructure an Express service makes is checked through the
// peers' own Describe operations, and deletion is driven by the service scheduler by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/ec2/ec2_api.h"
#include "api/ecs/ecs_api.h"
#include "api/elbv2/elbv2_api.h"
#include "api/router.h"
#include "base/clock.h"
#include "model/kinds.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "reconcile/service_controller.h"
#include "state/records/services.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ecs {
namespace {

using ::testing::HasSubstr;

constexpr double kNow = 1'800'000'000;
constexpr const char* kInfraRole = "arn:aws:iam::000000000000:role/ecsInfrastructureRoleForExpressServices";

class ExpressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ecs_ = std::make_unique<EcsApi>(*store_, regions_, EcsOptions{});
    ecs_svc_ = std::make_shared<Service>(model::EcsModel(), ErrorStyle{});
    ecs_->RegisterAll(*ecs_svc_);
    ec2_ = std::make_unique<ec2::Ec2Api>(*store_, regions_);
    ec2_svc_ = std::make_shared<Service>(model::Ec2Model(), ErrorStyle{});
    ec2_->RegisterAll(*ec2_svc_);
    elbv2::Options o;
    o.host_address = "192.0.2.10";
    o.host_port_free = [](const std::string&, int) { return true; };
    elbv2_ = std::make_unique<elbv2::Elbv2Api>(*store_, regions_, o);
    elbv2_svc_ = std::make_shared<Service>(model::Elbv2Model(), ErrorStyle{});
    elbv2_->RegisterAll(*elbv2_svc_);
    ecs_->SetExpressPeers({ec2_svc_.get(), elbv2_svc_.get()});
  }

  Json Call(const std::shared_ptr<Service>& svc, const std::string& op, const Json& in) {
    RequestContext ctx;
    ctx.region = "us-east-1";
    ctx.account_id = "000000000000";
    ctx.now = kNow;
    ctx.operation = op;
    const OperationFn* fn = svc->Find(op);
    if (!fn) ADD_FAILURE() << op << " is not registered";
    return (*fn)(ctx, in);
  }
  Json Ecs(const std::string& op, const Json& in) { return Call(ecs_svc_, op, in); }
  Json Elb(const std::string& op, const Json& in) { return Call(elbv2_svc_, op, in); }
  Json Ec2(const std::string& op, const Json& in) { return Call(ec2_svc_, op, in); }

  // {code, message} of a failing ECS call ("" when it succeeds).
  std::pair<std::string, std::string> Error(const std::string& op, const Json& in) {
    try {
      Ecs(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message()};
    }
    return {"", ""};
  }

  Json Create(Json extra = Json::object()) {
    Json in{{"infrastructureRoleArn", kInfraRole},
            {"serviceName", "web"},
            {"primaryContainer", {{"image", "public.ecr.aws/nginx/nginx:latest"}}}};
    for (auto& [k, v] : extra.items()) in[k] = v;
    return Ecs("CreateExpressGatewayService", in)["service"];
  }

  Json EcsService(const std::string& cluster = "default", const std::string& name = "web") {
    return Ecs("DescribeServices", {{"cluster", cluster}, {"services", {name}}})["services"][0];
  }

  size_t Count(const std::string& op, const char* member, const Json& in = Json::object()) {
    return Elb(op, in)[member].size();
  }

  void RunScheduler() {
    FakeClock clock(kNow);
    reconcile::ServiceController scheduler(*store_, *ecs_, reconcile::ServiceController::Options{}, clock);
    scheduler.RunOnce();  // the DRAINING service, with no task left, goes INACTIVE
    scheduler.RunOnce();  // before this pass, its infrastructure is removed
  }

  // Changes the stored Express record of default/web as `f` says.
  void Tamper(const std::function<void(state::Object&)>& f) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto rec, tx.Get("ecs:express-service", "us-east-1", "default/web"));
      if (!rec) return kecs::Internal("no record");
      f(*rec);
      return tx.Put(*rec);
    }).ok());
  }
  // The ports the task security group of default/web lets in.
  std::vector<int> TaskPorts() {
    std::string sg = EcsService()["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"][0];
    std::vector<int> out;
    Json groups = Ec2("DescribeSecurityGroups", {{"GroupIds", {sg}}})["SecurityGroups"];
    for (const auto& p : groups[0]["IpPermissions"]) {
      out.push_back(p["FromPort"].get<int>());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Nothing Express makes is left.
  void ExpectNothingLeft() {
    EXPECT_EQ(Count("DescribeLoadBalancers", "LoadBalancers"), 0u);
    EXPECT_EQ(Count("DescribeTargetGroups", "TargetGroups"), 0u);
    Json groups = Ec2("DescribeSecurityGroups", Json::object())["SecurityGroups"];  // kept: the loop refers into it
    for (const auto& g : groups) {
      EXPECT_THAT(g["GroupName"].get<std::string>(), ::testing::Not(HasSubstr("express")));
    }
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<EcsApi> ecs_;
  std::unique_ptr<ec2::Ec2Api> ec2_;
  std::unique_ptr<elbv2::Elbv2Api> elbv2_;
  std::shared_ptr<Service> ecs_svc_, ec2_svc_, elbv2_svc_;
};

TEST_F(ExpressTest, CreateMakesTheTaskDefinitionServiceLoadBalancerAndSecurityGroups) {
  Json s = Create({{"scalingTarget", {{"minTaskCount", 2}, {"maxTaskCount", 4}}}});
  const std::string arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
  EXPECT_EQ(s["serviceArn"], arn);
  EXPECT_EQ(s["cluster"], "arn:aws:ecs:us-east-1:000000000000:cluster/default");
  EXPECT_EQ(s["status"]["statusCode"], "ACTIVE");
  EXPECT_EQ(s["infrastructureRoleArn"], kInfraRole);
  ASSERT_EQ(s["activeConfigurations"].size(), 1u);
  const Json& cfg = s["activeConfigurations"][0];
  // The model's documented defaults.
  EXPECT_EQ(cfg["cpu"], "256");
  EXPECT_EQ(cfg["memory"], "512");
  EXPECT_EQ(cfg["healthCheckPath"], "/ping");
  EXPECT_EQ(cfg["primaryContainer"]["containerPort"], 80);
  EXPECT_EQ(cfg["scalingTarget"]["minTaskCount"], 2);
  EXPECT_EQ(cfg["scalingTarget"]["maxTaskCount"], 4);
  EXPECT_EQ(cfg["scalingTarget"]["autoScalingMetric"], "AVERAGE_CPU");
  EXPECT_EQ(cfg["scalingTarget"]["autoScalingTargetValue"], 60);
  EXPECT_GE(cfg["networkConfiguration"]["subnets"].size(), 2u) << "the default VPC's subnets";

  // The task definition: one container "Main", FARGATE, awsvpc.
  Json td = Ecs("DescribeTaskDefinition", {{"taskDefinition", cfg["taskDefinitionArn"]}})["taskDefinition"];
  EXPECT_EQ(td["family"], "web");
  EXPECT_EQ(td["networkMode"], "awsvpc");
  EXPECT_EQ(td["cpu"], "256");
  ASSERT_EQ(td["containerDefinitions"].size(), 1u);
  EXPECT_EQ(td["containerDefinitions"][0]["name"], "Main");
  EXPECT_EQ(td["containerDefinitions"][0]["portMappings"][0]["containerPort"], 80);

  // The ECS service: FARGATE, minTaskCount tasks, behind the target group.
  Json svc = EcsService();
  EXPECT_EQ(svc["status"], "ACTIVE");
  EXPECT_EQ(svc["desiredCount"], 2);
  EXPECT_EQ(svc["launchType"], "FARGATE");
  EXPECT_EQ(svc["taskDefinition"], cfg["taskDefinitionArn"]);
  ASSERT_EQ(svc["loadBalancers"].size(), 1u);
  std::string tg_arn = svc["loadBalancers"][0]["targetGroupArn"];
  EXPECT_EQ(svc["loadBalancers"][0]["containerName"], "Main");
  std::string task_sg = svc["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"][0];

  // The target group, load balancer, listener and rule.
  Json tg = Elb("DescribeTargetGroups", {{"TargetGroupArns", {tg_arn}}})["TargetGroups"][0];
  EXPECT_EQ(tg["HealthCheckPath"], "/ping");
  EXPECT_EQ(tg["TargetType"], "ip");
  EXPECT_EQ(tg["Port"], 80);
  ASSERT_EQ(tg["LoadBalancerArns"].size(), 1u);
  std::string lb_arn = tg["LoadBalancerArns"][0];
  Json lb = Elb("DescribeLoadBalancers", {{"LoadBalancerArns", {lb_arn}}})["LoadBalancers"][0];
  EXPECT_EQ(lb["Scheme"], "internet-facing");
  EXPECT_EQ(lb["Type"], "application");
  EXPECT_EQ(lb["AvailabilityZones"].size(), cfg["networkConfiguration"]["subnets"].size()) << "one node per subnet";
  ASSERT_EQ(lb["SecurityGroups"].size(), 1u);
  std::string lb_sg = lb["SecurityGroups"][0];
  Json listeners = Elb("DescribeListeners", {{"LoadBalancerArn", lb_arn}})["Listeners"];
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0]["Port"], 80);
  EXPECT_EQ(listeners[0]["Protocol"], "HTTP");
  Json rules = Elb("DescribeRules", {{"ListenerArn", listeners[0]["ListenerArn"]}})["Rules"];
  ASSERT_EQ(rules.size(), 2u);  // the service's and the default
  EXPECT_EQ(rules[0]["Actions"][0]["TargetGroupArn"], tg_arn);

  // The security groups: HTTP from anywhere to the load balancer; the container port from
  // the load balancer's group only to the tasks.
  Json groups = Ec2("DescribeSecurityGroups", {{"GroupIds", {lb_sg, task_sg}}})["SecurityGroups"];
  ASSERT_EQ(groups.size(), 2u);
  for (const auto& g : groups) {
    ASSERT_EQ(g["IpPermissions"].size(), 1u) << g.dump();
    const Json& p = g["IpPermissions"][0];
    EXPECT_EQ(p["FromPort"], 80);
    if (g["GroupId"] == lb_sg) {
      EXPECT_EQ(p["IpRanges"][0]["CidrIp"], "0.0.0.0/0");
    } else {
      EXPECT_EQ(p["UserIdGroupPairs"][0]["GroupId"], lb_sg);
    }
  }

  // The URL: the listener's host port on the published address.
  std::string endpoint = cfg["ingressPaths"][0]["endpoint"];
  EXPECT_THAT(endpoint, ::testing::MatchesRegex("http://192\\.0\\.2\\.10:31[0-9]{3}/"));
  EXPECT_EQ(cfg["ingressPaths"][0]["accessType"], "PUBLIC");

  // Describe shows the same, with the tags on request.
  Json d = Ecs("DescribeExpressGatewayService", {{"serviceArn", arn}, {"include", {"TAGS"}}})["service"];
  EXPECT_EQ(d["activeConfigurations"], s["activeConfigurations"]);
  EXPECT_TRUE(d.contains("tags"));
  EXPECT_FALSE(Ecs("DescribeExpressGatewayService", {{"serviceArn", arn}})["service"].contains("tags"));

  // The service revision reports the managed resources.
  Json rev = Ecs("DescribeServiceRevisions", {{"serviceRevisionArns", {d["activeConfigurations"][0]["serviceRevisionArn"]}}});
  ASSERT_EQ(rev["serviceRevisions"].size(), 1u) << rev.dump();
  const Json& m = rev["serviceRevisions"][0]["ecsManagedResources"];
  const Json& ip = m["ingressPaths"][0];
  EXPECT_EQ(ip["endpoint"], endpoint);
  EXPECT_EQ(ip["loadBalancer"]["arn"], lb_arn);
  EXPECT_EQ(ip["loadBalancer"]["status"], "ACTIVE");
  EXPECT_EQ(ip["targetGroups"][0]["arn"], tg_arn);
  EXPECT_EQ(ip["targetGroups"][0]["healthCheckPath"], "/ping");
  EXPECT_EQ(ip["listener"]["arn"], listeners[0]["ListenerArn"]);
  EXPECT_EQ(ip["rule"]["arn"], rules[0]["RuleArn"]);
  EXPECT_THAT(ip["loadBalancerSecurityGroups"][0]["arn"].get<std::string>(), HasSubstr(lb_sg));
  EXPECT_THAT(m["serviceSecurityGroups"][0]["arn"].get<std::string>(), HasSubstr(task_sg));
  EXPECT_EQ(m["autoScaling"]["scalableTarget"]["status"], "FAILED") << "kecs has no Application Auto Scaling";
  EXPECT_EQ(m["autoScaling"]["scalableTarget"]["minCapacity"], 2);
}

TEST_F(ExpressTest, RequestsAreCheckedBeforeAnythingIsMade) {
  Json base{{"infrastructureRoleArn", kInfraRole}, {"serviceName", "web"},
            {"primaryContainer", {{"image", "nginx"}}}};
  auto with = [&](const char* k, Json v) {
    Json in = base;
    in[k] = std::move(v);
    return Error("CreateExpressGatewayService", in);
  };
  EXPECT_EQ(with("scalingTarget", {{"minTaskCount", 5}, {"maxTaskCount", 2}}).first, "InvalidParameterException");
  EXPECT_EQ(with("healthCheckPath", "ping").first, "InvalidParameterException");
  EXPECT_EQ(with("serviceName", "no spaces").second,
            "Service names can have up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.");
  EXPECT_EQ(with("cluster", "nope").first, "ClusterNotFoundException");
  Json no_container = base;
  no_container.erase("primaryContainer");
  EXPECT_EQ(Error("CreateExpressGatewayService", no_container).first, "InvalidParameterException");
  EXPECT_EQ(Count("DescribeLoadBalancers", "LoadBalancers"), 0u) << "a refused request makes nothing";

  Create();
  EXPECT_EQ(Error("CreateExpressGatewayService", base),
            (std::pair<std::string, std::string>{"InvalidParameterException", "Creation of service was not idempotent."}));
  EXPECT_EQ(Count("DescribeLoadBalancers", "LoadBalancers"), 1u);

  const std::string other = "arn:aws:ecs:us-east-1:000000000000:service/default/other";
  EXPECT_EQ(Error("DescribeExpressGatewayService", {{"serviceArn", other}}).first, "ResourceNotFoundException");
  EXPECT_EQ(Error("DeleteExpressGatewayService", {{"serviceArn", other}}).first, "ServiceNotFoundException");
  EXPECT_EQ(Error("UpdateExpressGatewayService", {{"serviceArn", other}}).first, "ServiceNotFoundException");
}

TEST_F(ExpressTest, AFailedStepUndoesWhatWasMade) {
  // One subnet only: the security groups are made, then CreateLoadBalancer refuses it (an
  // ALB needs subnets in two Availability Zones), and all is undone.
  Json subnets = Ec2("DescribeSubnets", Json::object())["Subnets"];
  ASSERT_FALSE(subnets.empty());
  std::string one = subnets[0]["SubnetId"];
  auto e = Error("CreateExpressGatewayService",
                 {{"infrastructureRoleArn", kInfraRole}, {"serviceName", "web"},
                  {"primaryContainer", {{"image", "nginx"}}},
                  {"networkConfiguration", {{"subnets", {one}}}}});
  EXPECT_EQ(e.first, "InvalidParameterException");
  EXPECT_EQ(Count("DescribeLoadBalancers", "LoadBalancers"), 0u);
  EXPECT_EQ(Count("DescribeTargetGroups", "TargetGroups"), 0u);
  Json groups = Ec2("DescribeSecurityGroups", Json::object())["SecurityGroups"];
  for (const auto& g : groups) EXPECT_THAT(g["GroupName"].get<std::string>(), ::testing::Not(HasSubstr("express")));
  EXPECT_EQ(Ecs("DescribeTaskDefinition", {{"taskDefinition", "web:1"}})["taskDefinition"]["status"], "INACTIVE");
  EXPECT_EQ(Error("DescribeServices", {{"services", {"web"}}}).first, "") << "the cluster exists";
  EXPECT_TRUE(Ecs("DescribeServices", {{"services", {"web"}}})["services"].empty());
}

TEST_F(ExpressTest, DeleteDrainsTheServiceThenRemovesItsInfrastructure) {
  Json s = Create();
  std::string arn = s["serviceArn"];
  Json svc = EcsService();
  std::string tg_arn = svc["loadBalancers"][0]["targetGroupArn"];
  std::string task_sg = svc["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"][0];

  std::string revision = s["activeConfigurations"][0]["serviceRevisionArn"];
  Json d = Ecs("DeleteExpressGatewayService", {{"serviceArn", arn}})["service"];
  EXPECT_EQ(d["status"]["statusCode"], "DRAINING");
  EXPECT_EQ(EcsService()["status"], "DRAINING");
  // Nothing is removed while the service drains.
  EXPECT_EQ(Count("DescribeLoadBalancers", "LoadBalancers"), 1u);
  EXPECT_EQ(Error("DeleteExpressGatewayService", {{"serviceArn", arn}}).first, "ServiceNotActiveException");
  EXPECT_EQ(Error("UpdateExpressGatewayService", {{"serviceArn", arn}, {"cpu", "512"}}).first,
            "ServiceNotActiveException");

  RunScheduler();
  EXPECT_EQ(EcsService()["status"], "INACTIVE");
  EXPECT_EQ(Ecs("DescribeExpressGatewayService", {{"serviceArn", arn}})["service"]["status"]["statusCode"], "INACTIVE");
  EXPECT_EQ(Count("DescribeLoadBalancers", "LoadBalancers"), 0u);
  EXPECT_EQ(Count("DescribeTargetGroups", "TargetGroups"), 0u);
  // DeleteService deletes the service's history (service-deployment.html), revisions too.
  EXPECT_TRUE(Ecs("DescribeServiceRevisions", {{"serviceRevisionArns", {revision}}})["serviceRevisions"].empty());
  try {
    Ec2("DescribeSecurityGroups", {{"GroupIds", {task_sg}}});
    ADD_FAILURE() << "the task security group is still there";
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code(), "InvalidGroup.NotFound");
  }
  Json left = Ec2("DescribeSecurityGroups", Json::object())["SecurityGroups"];
  for (const auto& g : left) {
    EXPECT_THAT(g["GroupName"].get<std::string>(), ::testing::Not(HasSubstr("express")));
  }
  // The name is free again.
  EXPECT_EQ(Create()["status"]["statusCode"], "ACTIVE");
}

TEST_F(ExpressTest, UpdateRegistersARevisionAndRollsTheService) {
  Json s = Create();
  std::string arn = s["serviceArn"];
  std::string td1 = s["activeConfigurations"][0]["taskDefinitionArn"];
  Json u = Ecs("UpdateExpressGatewayService",
               {{"serviceArn", arn},
                {"primaryContainer", {{"image", "nginx:2"}, {"containerPort", 8080}}},
                {"cpu", "512"},
                {"memory", "1024"},
                {"healthCheckPath", "/health"},
                {"scalingTarget", {{"minTaskCount", 3}}}})["service"];
  EXPECT_EQ(u["status"]["statusCode"], "ACTIVE");
  const Json& t = u["targetConfiguration"];
  std::string td2 = t["taskDefinitionArn"];
  EXPECT_NE(td2, td1);
  EXPECT_EQ(t["scalingTarget"]["minTaskCount"], 3);
  EXPECT_EQ(t["scalingTarget"]["maxTaskCount"], 20) << "members not given keep their value";
  Json td = Ecs("DescribeTaskDefinition", {{"taskDefinition", td2}})["taskDefinition"];
  EXPECT_EQ(td["revision"], 2);
  EXPECT_EQ(td["cpu"], "512");
  EXPECT_EQ(td["containerDefinitions"][0]["image"], "nginx:2");

  Json svc = EcsService();
  EXPECT_EQ(svc["taskDefinition"], td2);
  EXPECT_EQ(svc["desiredCount"], 3);
  EXPECT_EQ(svc["loadBalancers"][0]["containerPort"], 8080);
  ASSERT_EQ(svc["deployments"].size(), 2u) << "a rolling deployment from the old revision";
  Json tg = Elb("DescribeTargetGroups", {{"TargetGroupArns", {svc["loadBalancers"][0]["targetGroupArn"]}}});
  EXPECT_EQ(tg["TargetGroups"][0]["HealthCheckPath"], "/health");

  // Both revisions are active while the deployment rolls.
  Json d = Ecs("DescribeExpressGatewayService", {{"serviceArn", arn}})["service"];
  ASSERT_EQ(d["activeConfigurations"].size(), 2u);
  EXPECT_EQ(d["activeConfigurations"][0]["taskDefinitionArn"], td2);
  EXPECT_EQ(d["activeConfigurations"][1]["taskDefinitionArn"], td1);
  EXPECT_TRUE(d.contains("currentDeployment"));

  // Scaling only: no new revision.
  u = Ecs("UpdateExpressGatewayService", {{"serviceArn", arn}, {"scalingTarget", {{"minTaskCount", 1}}}})["service"];
  EXPECT_EQ(u["targetConfiguration"]["taskDefinitionArn"], td2);
  EXPECT_EQ(EcsService()["desiredCount"], 1);
  EXPECT_EQ(Error("UpdateExpressGatewayService", {{"serviceArn", arn}, {"scalingTarget", {{"maxTaskCount", 0}}}}).first,
            "InvalidParameterException");
}

TEST_F(ExpressTest, CreateRecordsEachResourceAsMadeAndAFailureRemovesThemAll) {
  // An ELBv2 peer whose CreateListener fails (after looking at the record); the others pass.
  auto faulty = std::make_shared<Service>(model::Elbv2Model(), ErrorStyle{});
  bool looked = false;
  for (const char* op : {"CreateTargetGroup", "CreateLoadBalancer", "CreateRule", "DeleteRule", "DeleteListener",
                         "DeleteLoadBalancer", "DeleteTargetGroup", "ModifyTargetGroup"}) {
    const OperationFn* real = elbv2_svc_->Find(op);
    faulty->Register(op, [real](RequestContext& ctx, const Json& in) { return (*real)(ctx, in); });
  }
  faulty->Register("CreateListener", [&](RequestContext&, const Json&) -> Json {
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto rec, tx.Get("ecs:express-service", "us-east-1", "default/web"));
      EXPECT_TRUE(rec.has_value()) << "the record is written first";
      if (!rec) return Status::Ok();
      EXPECT_EQ(rec->status, "PROVISIONING");
      const Json& res = rec->doc["kecs:resources"];
      for (const char* k : {"taskDefinitionArn", "loadBalancerSecurityGroup", "serviceSecurityGroup", "targetGroupArn",
                            "loadBalancerArn"}) {
        EXPECT_TRUE(res.contains(k)) << k << " is recorded as made: " << res.dump();
      }
      looked = true;
      return Status::Ok();
    }).ok());
    throw AwsError("InternalFailure", "injected", 500);
  });
  ecs_->SetExpressPeers({ec2_svc_.get(), faulty.get()});
  EXPECT_EQ(Error("CreateExpressGatewayService", {{"infrastructureRoleArn", kInfraRole}, {"serviceName", "web"},
                                                  {"primaryContainer", {{"image", "nginx"}}}}).first,
            "InternalFailure");
  EXPECT_TRUE(looked);
  ExpectNothingLeft();
  EXPECT_EQ(Ecs("DescribeTaskDefinition", {{"taskDefinition", "web:1"}})["taskDefinition"]["status"], "INACTIVE");
  const std::string arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
  EXPECT_EQ(Error("DescribeExpressGatewayService", {{"serviceArn", arn}}).first, "ResourceNotFoundException");
  ecs_->SetExpressPeers({ec2_svc_.get(), elbv2_svc_.get()});
  EXPECT_EQ(Create()["status"]["statusCode"], "ACTIVE") << "the name is free";
}

TEST_F(ExpressTest, ACreateThatStoppedBeforeItsServiceIsRemoved) {
  // As a kecs that stopped midway leaves it: the infrastructure and a PROVISIONING record
  // of another process, no ECS service.
  std::string td = Create()["activeConfigurations"][0]["taskDefinitionArn"];
  Tamper([&](state::Object& r) {
    r.status = "PROVISIONING";
    r.doc["kecs:creator"] = "a-kecs-that-stopped";
    r.doc["kecs:resources"]["taskDefinitionArn"] = td;
  });
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return tx.Delete(model::kService, "us-east-1", "default/web").status(); }).ok());
  const std::string arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
  EXPECT_EQ(Error("DescribeExpressGatewayService", {{"serviceArn", arn}}).first, "ResourceNotFoundException");
  ExpectNothingLeft();
  EXPECT_EQ(Ecs("DescribeTaskDefinition", {{"taskDefinition", td}})["taskDefinition"]["status"], "INACTIVE");
  EXPECT_EQ(Create()["status"]["statusCode"], "ACTIVE") << "the name is free";
}

TEST_F(ExpressTest, ACreateThatStoppedAfterMakingItsServiceIsFinished) {
  Json s = Create();
  Tamper([&](state::Object& r) {
    r.status = "PROVISIONING";
    r.doc["kecs:creator"] = "a-kecs-that-stopped";
    r.doc["kecs:resources"]["taskDefinitionArn"] = s["activeConfigurations"][0]["taskDefinitionArn"];
    r.doc["kecs:made"] = Json::object();
  });
  Json d = Ecs("DescribeExpressGatewayService", {{"serviceArn", s["serviceArn"]}})["service"];
  EXPECT_EQ(d["status"]["statusCode"], "ACTIVE");
  EXPECT_EQ(d["activeConfigurations"], s["activeConfigurations"]);
  Json rev = Ecs("DescribeServiceRevisions", {{"serviceRevisionArns", {d["activeConfigurations"][0]["serviceRevisionArn"]}}});
  EXPECT_EQ(rev["serviceRevisions"][0]["ecsManagedResources"]["ingressPaths"][0]["loadBalancer"]["status"], "ACTIVE");
  EXPECT_EQ(Count("DescribeLoadBalancers", "LoadBalancers"), 1u);
}

TEST_F(ExpressTest, APlainDeleteServiceIsNoticedAndTheInfrastructureRemoved) {
  Json s = Create();
  Ecs("DeleteService", {{"cluster", "default"}, {"service", "web"}, {"force", true}});
  EXPECT_EQ(Ecs("DescribeExpressGatewayService", {{"serviceArn", s["serviceArn"]}})["service"]["status"]["statusCode"],
            "DRAINING");
  RunScheduler();
  EXPECT_EQ(Ecs("DescribeExpressGatewayService", {{"serviceArn", s["serviceArn"]}})["service"]["status"]["statusCode"],
            "INACTIVE");
  ExpectNothingLeft();
  EXPECT_EQ(Create()["status"]["statusCode"], "ACTIVE") << "the name is free";
}

TEST_F(ExpressTest, ADeleteThatStoppedBeforeDeletingTheServiceIsFinished) {
  Json s = Create();
  Tamper([](state::Object& r) { r.status = "DRAINING"; });  // kecs stopped after marking it
  EXPECT_EQ(EcsService()["status"], "ACTIVE");
  Ecs("DescribeExpressGatewayService", {{"serviceArn", s["serviceArn"]}});
  EXPECT_EQ(EcsService()["status"], "DRAINING");
  RunScheduler();
  EXPECT_EQ(Ecs("DescribeExpressGatewayService", {{"serviceArn", s["serviceArn"]}})["service"]["status"]["statusCode"],
            "INACTIVE");
  ExpectNothingLeft();
}

TEST_F(ExpressTest, AnUpdateUpdateServiceRefusesChangesNothing) {
  Json s = Create();
  std::string arn = s["serviceArn"];
  auto e = Error("UpdateExpressGatewayService",
                 {{"serviceArn", arn},
                  {"primaryContainer", {{"image", "nginx:2"}, {"containerPort", 8080}}},
                  {"healthCheckPath", "/health"},
                  {"networkConfiguration", {{"securityGroups", {"sg-0123456789abcdef0"}}}}});
  EXPECT_EQ(e.first, "InvalidParameterException");
  EXPECT_THAT(e.second, HasSubstr("sg-0123456789abcdef0"));
  Json svc = EcsService();
  EXPECT_EQ(svc["taskDefinition"], s["activeConfigurations"][0]["taskDefinitionArn"]);
  Json tg = Elb("DescribeTargetGroups", {{"TargetGroupArns", {svc["loadBalancers"][0]["targetGroupArn"]}}});
  EXPECT_EQ(tg["TargetGroups"][0]["HealthCheckPath"], "/ping") << "the health check path is put back";
  EXPECT_EQ(TaskPorts(), std::vector<int>{80}) << "the new port's rule is revoked";
  EXPECT_EQ(Ecs("DescribeTaskDefinition", {{"taskDefinition", "web:2"}})["taskDefinition"]["status"], "INACTIVE");
  Json d = Ecs("DescribeExpressGatewayService", {{"serviceArn", arn}})["service"];
  EXPECT_EQ(d["activeConfigurations"], s["activeConfigurations"]);
}

TEST_F(ExpressTest, APortChangeRevokesTheOldPortOnceTheOldTasksAreGone) {
  Json s = Create({{"scalingTarget", {{"minTaskCount", 0}}}});
  Ecs("UpdateExpressGatewayService", {{"serviceArn", s["serviceArn"]},
                                      {"primaryContainer", {{"image", "nginx:2"}, {"containerPort", 8080}}}});
  EXPECT_EQ(TaskPorts(), (std::vector<int>{80, 8080})) << "the old tasks still take traffic on 80";
  RunScheduler();
  Ecs("DescribeExpressGatewayService", {{"serviceArn", s["serviceArn"]}});
  ASSERT_EQ(EcsService()["deployments"].size(), 1u);
  EXPECT_EQ(TaskPorts(), std::vector<int>{8080});
}

TEST_F(ExpressTest, TheScalingTargetKeepsItsOwnMembersOnly) {
  Json s = Create({{"scalingTarget", {{"minTaskCount", 1}, {"surplus", 5}}}});
  EXPECT_FALSE(s["activeConfigurations"][0]["scalingTarget"].contains("surplus"));
  // The router checks the enum for a request; the handler too.
  Json in{{"infrastructureRoleArn", kInfraRole}, {"serviceName", "other"},
          {"primaryContainer", {{"image", "nginx"}}}, {"scalingTarget", {{"autoScalingMetric", "NOPE"}}}};
  EXPECT_EQ(Error("CreateExpressGatewayService", in).first, "InvalidParameterException");
}

}  // namespace
}  // namespace kecs::api::ecs
