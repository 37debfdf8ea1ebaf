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
#include "net/domain/vpc.h"
#include "reconcile/service_controller.h"
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
  Json Call(const std::string& op, const Json& body, int want_status = 200) {
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
    auto resp = router_.Handle(r);
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

}  // namespace
}  // namespace kecs::api::ecs
