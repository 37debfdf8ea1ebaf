#include "state/records/elb.h"

#include <gtest/gtest.h>

#include <string>

#include "model/shapes.h"
#include "unit/support/model_shape.h"

namespace kecs::state::records {
namespace {

using model::Action;
using model::ActionType;

model::LoadBalancer FullLoadBalancer() {
  model::LoadBalancer lb;
  lb.region = "us-east-1";
  lb.id = "50dc6c495c0c9188";
  lb.seq = 7;
  lb.name = "web";
  lb.type = model::LbType::kApplication;
  lb.arn = model::LoadBalancerArn(lb.region, "000000000000", lb.type, lb.name, lb.id);
  lb.dns_name = "web-1234567890.us-east-1.elb.amazonaws.com";
  lb.canonical_hosted_zone_id = "Z35SXDOTRQ7X7K";
  lb.created_time = 1700000000.5;
  lb.scheme = model::LbScheme::kInternal;
  lb.vpc_id = "vpc-0123456789abcdef0";
  lb.state = model::LbState::kActive;
  lb.nodes = {{"us-east-1a", "use1-az6", "subnet-a", "eni-a", "10.0.1.10", ""},
              {"us-east-1b", "use1-az1", "subnet-b", "eni-b", "10.0.2.10", "2600:1f18::10"}};
  lb.security_groups = {"sg-1"};
  lb.ip_address_type = "dualstack";
  lb.attributes = model::DefaultLoadBalancerAttributes(lb.type);
  model::SetValue(lb.attributes, "idle_timeout.timeout_seconds", "30");
  lb.tags = {{"team", "a"}, {"empty", ""}};
  return lb;
}

Action Forward(const std::string& arn) {
  Action a;
  a.type = ActionType::kForward;
  a.target_group_arn = arn;
  return a;
}

const std::string kTg1 = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/a/0123456789abcdef";
const std::string kTg2 = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/b/fedcba9876543210";

TEST(ElbCodec, LoadBalancerRoundTripKeepsEveryMember) {
  model::LoadBalancer lb = FullLoadBalancer();
  Object row = EncodeLoadBalancer(lb);
  EXPECT_EQ(row.kind, model::kLoadBalancer);
  EXPECT_EQ(row.parent, lb.vpc_id);
  EXPECT_EQ(row.name, "web");
  EXPECT_EQ(row.status, "active");
  auto back = DecodeLoadBalancer(row);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, lb);
}

TEST(ElbCodec, LoadBalancerToAwsMatchesTheModelAndShowsAddresses) {
  const model::ServiceModel& m = model::Elbv2Model();
  Json aws = LoadBalancerToAws(FullLoadBalancer(), "192.0.2.7");
  kecs::testing::ExpectMatchesShape(m, m.FindShape("LoadBalancer"), aws, "lb");
  EXPECT_EQ(aws["State"]["Code"], "active");
  EXPECT_EQ(aws["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"], "192.0.2.7");
  EXPECT_EQ(aws["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["PrivateIPv4Address"], "10.0.1.10");
  EXPECT_EQ(aws["AvailabilityZones"][1]["LoadBalancerAddresses"][0]["IPv6Address"], "2600:1f18::10");
  EXPECT_FALSE(aws["AvailabilityZones"][0].contains("EniId"));
}

TEST(ElbCodec, ListenerAndRuleRoundTripWithEveryActionAndCondition) {
  model::LoadBalancer lb = FullLoadBalancer();
  model::Listener l;
  l.region = lb.region;
  l.id = "1111111111111111";
  l.arn = model::ListenerArn(lb, "000000000000", l.id);
  l.load_balancer_id = lb.id;
  l.load_balancer_arn = lb.arn;
  l.port = 443;
  l.protocol = model::LbProtocol::kHttps;
  l.certificates = {{"arn:aws:acm:us-east-1:000000000000:certificate/x", true},
                    {"arn:aws:acm:us-east-1:000000000000:certificate/y", false}};
  l.ssl_policy = "ELBSecurityPolicy-2016-08";
  Action fixed;
  fixed.type = ActionType::kFixedResponse;
  fixed.fixed_status = "404";
  fixed.fixed_content_type = "text/plain";
  fixed.fixed_body = "nothing here";
  l.default_actions = {fixed};
  l.default_rule_id = "2222222222222222";
  l.host_port = 31000;
  l.tags = {{"k", "v"}};
  auto lback = DecodeListener(EncodeListener(l));
  ASSERT_TRUE(lback.ok()) << lback.status().message();
  EXPECT_EQ(*lback, l);
  // DescribeListeners shows the default certificate only.
  Json aws = ListenerToAws(l);
  ASSERT_EQ(aws["Certificates"].size(), 1u);
  EXPECT_FALSE(aws["Certificates"][0].contains("IsDefault"));

  model::Rule r;
  r.region = lb.region;
  r.id = "3333333333333333";
  r.listener_id = l.id;
  r.listener_arn = l.arn;
  r.arn = model::RuleArn(lb, "000000000000", l.id, r.id);
  r.priority = 10;
  model::RuleCondition path{"path-pattern", {"/api/*"}, true, "", {}};
  model::RuleCondition host{"host-header", {"*.example.com"}, false, "", {}};
  model::RuleCondition header{"http-header", {"a*"}, false, "X-Env", {}};
  model::RuleCondition query{"query-string", {}, false, "", {{"", "x"}, {"v", "1"}}};
  r.conditions = {path, host, header, query};
  Action weighted;
  weighted.type = ActionType::kForward;
  weighted.forward = {{kTg1, 70}, {kTg2, 30}};
  weighted.forward_given = true;
  weighted.stickiness_enabled = true;
  weighted.stickiness_duration_s = 60;
  weighted.order = 2;
  Action redirect;
  redirect.type = ActionType::kRedirect;
  redirect.redirect_protocol = "HTTPS";
  redirect.redirect_port = "443";
  redirect.redirect_status = "HTTP_301";
  redirect.order = 1;
  r.actions = {redirect, weighted};
  auto rback = DecodeRule(EncodeRule(r));
  ASSERT_TRUE(rback.ok()) << rback.status().message();
  EXPECT_EQ(*rback, r);

  const model::ServiceModel& m = model::Elbv2Model();
  kecs::testing::ExpectMatchesShape(m, m.FindShape("Rule"), RuleToAws(r), "rule");
  kecs::testing::ExpectMatchesShape(m, m.FindShape("Listener"), ListenerToAws(l), "listener");
  Json legacy = ConditionToAws(path);
  EXPECT_EQ(legacy["Values"], Json::array({"/api/*"}));
  EXPECT_EQ(legacy["PathPatternConfig"]["Values"], Json::array({"/api/*"}));
  EXPECT_FALSE(ConditionToAws(host).contains("Values"));
  EXPECT_EQ(ForwardedTargetGroupIds(r.actions), (std::vector<std::string>{"0123456789abcdef", "fedcba9876543210"}));
  EXPECT_EQ(ForwardedTargetGroupIds({Forward(kTg2), fixed, Forward(kTg2)}), (std::vector<std::string>{"fedcba9876543210"}));
}

TEST(ElbCodec, TargetGroupRoundTripKeepsTargetsAndHealth) {
  model::TargetGroup tg;
  tg.region = "us-east-1";
  tg.id = "0123456789abcdef";
  tg.name = "a";
  tg.arn = kTg1;
  tg.target_type = model::TargetType::kIp;
  tg.protocol = model::LbProtocol::kHttp;
  tg.port = 80;
  tg.vpc_id = "vpc-1";
  tg.protocol_version = "HTTP1";
  tg.health_check.path = "/health";
  tg.health_check.matcher_http = "200-299";
  tg.attributes = model::DefaultTargetGroupAttributes(tg.target_type, tg.protocol);
  model::Target t;
  t.id = "10.0.1.20";
  t.port = 8080;
  t.availability_zone = "us-east-1a";
  t.registered_at = 1700000000;
  t.state = model::TargetHealthState::kUnhealthy;
  t.reason = "Target.ResponseCodeMismatch";
  t.description = "Health checks failed with these codes: [503]";
  t.address = "10.0.1.20";
  model::Target d = t;
  d.id = "10.0.1.21";
  d.state = model::TargetHealthState::kDraining;
  d.drain_until = 1700000300;
  tg.targets = {t, d};
  auto back = DecodeTargetGroup(EncodeTargetGroup(tg));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, tg);
  const model::ServiceModel& m = model::Elbv2Model();
  Json aws = TargetGroupToAws(tg, {"arn:lb"});
  kecs::testing::ExpectMatchesShape(m, m.FindShape("TargetGroup"), aws, "tg");
  EXPECT_EQ(aws["LoadBalancerArns"], Json::array({"arn:lb"}));
  EXPECT_EQ(aws["Matcher"]["HttpCode"], "200-299");
}

TEST(ElbCodec, AWrongTypeIsAnErrorNamingTheResource) {
  Object row = EncodeLoadBalancer(FullLoadBalancer());
  row.doc["Scheme"] = "sideways";
  auto lb = DecodeLoadBalancer(row);
  ASSERT_FALSE(lb.ok());
  EXPECT_NE(lb.status().message().find("50dc6c495c0c9188"), std::string::npos) << lb.status().message();
  row = EncodeLoadBalancer(FullLoadBalancer());
  row.internal["tags"] = "no";
  EXPECT_FALSE(DecodeLoadBalancer(row).ok());
}

TEST(ElbArns, IdFromArnChecksTheResourceAndTheId) {
  EXPECT_EQ(model::IdFromArn(kTg1, "targetgroup"), "0123456789abcdef");
  EXPECT_EQ(model::IdFromArn(kTg1, "loadbalancer"), "");
  EXPECT_EQ(model::IdFromArn("arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/a/XYZ", "targetgroup"), "");
  EXPECT_EQ(model::IdFromArn("arn:aws:ecs:us-east-1:0:targetgroup/a/0123456789abcdef", "targetgroup"), "");
  model::LoadBalancer lb = FullLoadBalancer();
  std::string rule = model::RuleArn(lb, "000000000000", "1111111111111111", "3333333333333333");
  EXPECT_EQ(rule,
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/50dc6c495c0c9188/"
            "1111111111111111/3333333333333333");
  EXPECT_EQ(model::IdFromArn(rule, "listener-rule"), "3333333333333333");
  EXPECT_EQ(model::IdFromArn(rule, "listener"), "");
}

}  // namespace
}  // namespace kecs::state::records
