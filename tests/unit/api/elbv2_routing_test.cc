// The router picks ELBv2 (a Query service) beside EC2 (also form posts): by the SigV4 scope's
// service, elasticloadbalancing, or by Version 2015-12-01 when the request is unsigned.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/router.h"
#include "model/shapes.h"

namespace kecs::api {
namespace {

HttpRequest FormPost(const std::string& body, const std::string& service) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = body;
  r.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  if (!service.empty()) {
    r.headers.emplace_back("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/" + service +
                                                "/aws4_request, SignedHeaders=host, Signature=00");
  }
  return r;
}

class Elbv2RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ec2 = std::make_shared<Service>(model::Ec2Model(), ErrorStyle{});
    ec2->Register("DescribeVpcs", [](RequestContext&, const Json&) { return Json{{"Vpcs", Json::array()}}; });
    auto elb = std::make_shared<Service>(model::Elbv2Model(), ErrorStyle{});
    elb->Register("DescribeLoadBalancers", [this](RequestContext& ctx, const Json&) {
      service_ = ctx.service;
      return Json{{"LoadBalancers", Json::array()}};
    });
    router_.AddService(ec2);
    router_.AddService(elb);
  }

  Router router_{Router::Options{}};
  std::string service_;
};

TEST_F(Elbv2RoutingTest, SignedWithElasticLoadBalancingReachesElbv2) {
  HttpResponse r = router_.Handle(FormPost("Action=DescribeLoadBalancers&Version=2015-12-01", "elasticloadbalancing"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("<DescribeLoadBalancersResponse"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("elasticloadbalancing.amazonaws.com/doc/2015-12-01/"), std::string::npos) << r.body;
  EXPECT_FALSE(service_.empty());
}

TEST_F(Elbv2RoutingTest, UnsignedRequestsArePickedByVersion) {
  HttpResponse r = router_.Handle(FormPost("Action=DescribeLoadBalancers&Version=2015-12-01", ""));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("<DescribeLoadBalancersResponse"), std::string::npos) << r.body;
  // EC2 beside it keeps its own version.
  HttpResponse v = router_.Handle(FormPost("Action=DescribeVpcs&Version=2016-11-15", ""));
  EXPECT_EQ(v.status, 200) << v.body;
  EXPECT_NE(v.body.find("DescribeVpcsResponse"), std::string::npos) << v.body;
}

TEST_F(Elbv2RoutingTest, AnOperationElbv2LacksIsAQueryInvalidAction) {
  HttpResponse r = router_.Handle(FormPost("Action=DescribeListeners&Version=2015-12-01", "elasticloadbalancing"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("<ErrorResponse"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("<Code>InvalidAction</Code>"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("Could not find operation DescribeListeners for version 2015-12-01"), std::string::npos)
      << r.body;
}

}  // namespace
}  // namespace kecs::api
