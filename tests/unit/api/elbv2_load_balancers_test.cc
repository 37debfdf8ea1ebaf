// The ELBv2 load balancer, target group, target, tag, limit and SSL policy handlers over a
// temporary store: each test calls the registered operations with the JSON a decoded
// Query request would carry (and one goes through the router for the XML wire shape).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>

#include <fmt/format.h>

#include "api/elbv2/elbv2_api.h"
#include "api/router.h"
#include "model/elb.h"
#include "model/kinds.h"
#include "model/shapes.h"
#include "net/domain/ip.h"
#include "net/domain/vpc.h"
#include "state/records/elb.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::elbv2 {
namespace {

using ::testing::HasSubstr;

constexpr double kNow = 1'800'000'000;

class Elbv2LoadBalancersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    Options o;
    o.host_address = "192.0.2.10";
    api_ = std::make_unique<Elbv2Api>(*store_, regions_, o);
    service_ = std::make_shared<Service>(model::Elbv2Model(), ErrorStyle{});
    api_->RegisterAll(*service_);
    ASSERT_TRUE(regions_.Ensure(*store_, "us-east-1", "000000000000", kNow).ok());
    ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
      state::Query q{net::kSubnet, "us-east-1"};
      auto subnets = tx.List(q);
      if (!subnets.ok()) return subnets.status();
      for (const auto& sn : *subnets) {
        subnets_.push_back(sn.id);
        vpc_id_ = JStr(sn.doc, "VpcId");
      }
      return Status::Ok();
    }).ok());
    ASSERT_GE(subnets_.size(), 3u);
  }

  // Calls an operation as the router would after decoding; an AwsError propagates.
  Json Call(const std::string& op, const Json& in, double now = kNow) {
    RequestContext ctx;
    ctx.region = "us-east-1";
    ctx.account_id = "000000000000";
    ctx.now = now;
    ctx.operation = op;
    const OperationFn* fn = service_->Find(op);
    if (!fn) ADD_FAILURE() << op << " is not registered";
    return (*fn)(ctx, in);
  }

  // The AWS error an operation answers ("" when it succeeds) and its message.
  std::pair<std::string, std::string> Error(const std::string& op, const Json& in) {
    try {
      Call(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message()};
    }
    return {"", ""};
  }

  Json CreateAlb(const std::string& name, Json extra = Json::object()) {
    Json in{{"Name", name}, {"Subnets", {subnets_[0], subnets_[1]}}};
    for (auto& [k, v] : extra.items()) in[k] = v;
    return Call("CreateLoadBalancer", in)["LoadBalancers"][0];
  }

  Json CreateGroup(const std::string& name, Json extra = Json::object()) {
    Json in{{"Name", name}, {"Protocol", "HTTP"}, {"Port", 80}, {"VpcId", vpc_id_}};
    for (auto& [k, v] : extra.items()) in[k] = v;
    return Call("CreateTargetGroup", in)["TargetGroups"][0];
  }

  std::optional<state::Object> Eni(const std::string& id) {
    std::optional<state::Object> out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      auto r = tx.Get(net::kEni, "us-east-1", id);
      if (!r.ok()) return r.status();
      out = *r;
      return Status::Ok();
    }).ok());
    return out;
  }

  // A listener of `lb_arn` forwarding to `tg_arn` (what the listener handlers would store).
  void AddListener(const std::string& lb_arn, const std::string& tg_arn) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      auto lb = state::records::GetLoadBalancer(tx, "us-east-1", model::IdFromArn(lb_arn, "loadbalancer"));
      if (!lb.ok()) return lb.status();
      model::Listener l;
      l.region = "us-east-1";
      l.id = model::NewElbId();
      l.load_balancer_id = (*lb)->id;
      l.load_balancer_arn = lb_arn;
      l.arn = model::ListenerArn(**lb, "000000000000", l.id);
      l.port = 80;
      model::Action a;
      a.target_group_arn = tg_arn;
      l.default_actions = {a};
      l.default_rule_id = model::NewElbId();
      return state::records::PutListener(tx, l);
    }).ok());
  }

  Json Health(const std::string& tg_arn, Json targets = Json()) {
    Json in{{"TargetGroupArn", tg_arn}};
    if (!targets.is_null()) in["Targets"] = targets;
    return Call("DescribeTargetHealth", in)["TargetHealthDescriptions"];
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<Elbv2Api> api_;
  std::shared_ptr<Service> service_;
  std::vector<std::string> subnets_;
  std::string vpc_id_;
};

TEST_F(Elbv2LoadBalancersTest, ApplicationLoadBalancerGetsOneNodeEniPerSubnetAndAwsNames) {
  Json lb = CreateAlb("web");
  EXPECT_THAT(lb["LoadBalancerArn"].get<std::string>(),
              ::testing::MatchesRegex("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/[0-9a-f]{16}"));
  EXPECT_TRUE(std::regex_match(lb["DNSName"].get<std::string>(), std::regex(R"(web-[0-9]{10}\.us-east-1\.elb\.amazonaws\.com)")))
      << lb["DNSName"];
  EXPECT_EQ(lb["CanonicalHostedZoneId"], "Z35SXDOTRQ7X7K");
  EXPECT_EQ(lb["State"]["Code"], "provisioning");
  EXPECT_EQ(lb["Scheme"], "internet-facing");
  EXPECT_EQ(lb["Type"], "application");
  EXPECT_EQ(lb["VpcId"], vpc_id_);
  ASSERT_EQ(lb["SecurityGroups"].size(), 1u) << "the VPC's default group when none is named";
  ASSERT_EQ(lb["AvailabilityZones"].size(), 2u);

  std::string id = model::IdFromArn(lb["LoadBalancerArn"].get<std::string>(), "loadbalancer");
  for (const auto& z : lb["AvailabilityZones"]) {
    EXPECT_EQ(z["LoadBalancerAddresses"][0]["IpAddress"], "192.0.2.10");
    EXPECT_FALSE(z["LoadBalancerAddresses"][0]["PrivateIPv4Address"].get<std::string>().empty());
  }
  // The stored nodes name their ENIs, which are requester-managed "ELB app/web/<id>".
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto rec = state::records::GetLoadBalancer(tx, "us-east-1", id);
    EXPECT_TRUE(rec.ok() && *rec);
    for (const auto& n : (*rec)->nodes) {
      auto eni = tx.Get(net::kEni, "us-east-1", n.eni_id);
      EXPECT_TRUE(eni.ok() && *eni) << n.eni_id;
      EXPECT_EQ(JStr((*eni)->doc, "Description"), "ELB app/web/" + id);
      EXPECT_TRUE(JBool((*eni)->doc, "RequesterManaged"));
      EXPECT_EQ(JStr((*eni)->doc, "Status"), "in-use");  // attached to the load balancer, as AWS lists it
      EXPECT_EQ(JStr((*eni)->doc, "RequesterId"), "amazon-elb");
      EXPECT_EQ((*eni)->doc["Attachment"]["InstanceOwnerId"], "amazon-elb");
      EXPECT_EQ(JStr((*eni)->doc, "PrivateIpAddress"), n.ip);
      EXPECT_EQ((*eni)->doc["Groups"][0]["GroupId"], lb["SecurityGroups"][0]);
      EXPECT_FALSE(n.zone_id.empty());
    }
    return Status::Ok();
  }).ok());

  Json internal = CreateAlb("inner", {{"Scheme", "internal"}});
  EXPECT_THAT(internal["DNSName"].get<std::string>(), ::testing::StartsWith("internal-inner-"));
}

TEST_F(Elbv2LoadBalancersTest, ApplicationLoadBalancerNeedsTwoZonesAndOneSubnetPerZone) {
  auto [code, msg] = Error("CreateLoadBalancer", {{"Name", "a"}, {"Subnets", {subnets_[0]}}});
  EXPECT_EQ(code, "ValidationError");
  EXPECT_EQ(msg, "At least two subnets in two different Availability Zones must be specified");
  EXPECT_EQ(Error("CreateLoadBalancer", {{"Name", "a"}, {"Subnets", {subnets_[0], "subnet-0000000000000000f"}}}).first,
            "SubnetNotFound");
  EXPECT_EQ(Error("CreateLoadBalancer", {{"Name", "-a"}, {"Subnets", {subnets_[0], subnets_[1]}}}).first,
            "ValidationError");
  EXPECT_EQ(Error("CreateLoadBalancer",
                  {{"Name", "a"}, {"Subnets", {subnets_[0], subnets_[1]}}, {"SecurityGroups", {"sg-0123456789abcdef0"}}})
                .first,
            "InvalidSecurityGroup");
  // Nothing was left behind by the refusals: no ENI is described as a load balancer's.
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto enis = tx.List({net::kEni, "us-east-1"});
    EXPECT_TRUE(enis.ok() && enis->empty());
    return Status::Ok();
  }).ok());
}

TEST_F(Elbv2LoadBalancersTest, CreateIsIdempotentForTheSameSettingsOnly) {
  Json first = CreateAlb("same");
  Json again = CreateAlb("same");
  EXPECT_EQ(first["LoadBalancerArn"], again["LoadBalancerArn"]);
  auto [code, msg] =
      Error("CreateLoadBalancer", {{"Name", "same"}, {"Subnets", {subnets_[0], subnets_[2]}}});
  EXPECT_EQ(code, "DuplicateLoadBalancerName");
  EXPECT_EQ(msg, "A load balancer with the same name 'same' exists, but with different settings");
  EXPECT_EQ(Call("DescribeLoadBalancers", Json::object())["LoadBalancers"].size(), 1u);
}

TEST_F(Elbv2LoadBalancersTest, NetworkLoadBalancerNamesAndNoSecurityGroups) {
  Json lb = Call("CreateLoadBalancer", {{"Name", "tcp"}, {"Type", "network"}, {"Subnets", {subnets_[0]}}})
                ["LoadBalancers"][0];
  std::string id = model::IdFromArn(lb["LoadBalancerArn"].get<std::string>(), "loadbalancer");
  EXPECT_THAT(lb["LoadBalancerArn"].get<std::string>(), HasSubstr(":loadbalancer/net/tcp/"));
  EXPECT_EQ(lb["DNSName"], "tcp-" + id + ".elb.us-east-1.amazonaws.com");
  EXPECT_EQ(lb["CanonicalHostedZoneId"], "Z26RNL4JYFTOTI");
  EXPECT_FALSE(lb.contains("SecurityGroups"));
  Json attrs = Call("DescribeLoadBalancerAttributes", {{"LoadBalancerArn", lb["LoadBalancerArn"]}})["Attributes"];
  EXPECT_EQ(attrs, state::records::KeyValuesToAws(model::DefaultLoadBalancerAttributes(model::LbType::kNetwork)));
}

TEST_F(Elbv2LoadBalancersTest, InternetFacingNeedsAnInternetGatewayAndDualstackNeedsIpv6Subnets) {
  // A VPC of its own: no internet gateway, no IPv6.
  std::vector<std::string> own;
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    net::Scope s{"us-east-1", "000000000000", kNow};
    auto vpc = net::CreateVpc(tx, s, *net::Ipv4Cidr::Parse("10.1.0.0/16"), false, Json::array(), "default", false);
    if (!vpc.ok()) return vpc.status();
    int i = 0;
    for (const char* zone : {"us-east-1a", "us-east-1b"}) {
      auto sn = net::CreateSubnet(tx, s, *vpc, *net::Ipv4Cidr::Parse(fmt::format("10.1.{}.0/24", i++)),
                                  *net::FindZone("us-east-1", zone), false, false, Json::array(), std::nullopt);
      if (!sn.ok()) return sn.status();
      own.push_back(sn->id);
    }
    return Status::Ok();
  }).ok());
  auto [code, msg] = Error("CreateLoadBalancer", {{"Name", "pub"}, {"Subnets", {own[0], own[1]}}});
  EXPECT_EQ(code, "InvalidSubnet");
  EXPECT_THAT(msg, HasSubstr("has no internet gateway"));
  Json internal = Call("CreateLoadBalancer", {{"Name", "priv"}, {"Scheme", "internal"}, {"Subnets", {own[0], own[1]}}})
                      ["LoadBalancers"][0];
  EXPECT_EQ(internal["Scheme"], "internal");
  EXPECT_THAT(internal["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["PrivateIPv4Address"].get<std::string>(),
              ::testing::StartsWith("10.1.0."));
  EXPECT_EQ(Error("CreateLoadBalancer", {{"Name", "dual"}, {"IpAddressType", "dualstack"}, {"Subnets", {subnets_[0], subnets_[1]}}})
                .first,
            "InvalidSubnet");
  EXPECT_EQ(Error("CreateLoadBalancer", {{"Name", "mixed"}, {"Subnets", {subnets_[0], own[1]}}}).first,
            "InvalidConfigurationRequest");
}

TEST_F(Elbv2LoadBalancersTest, SetSubnetsAndSecurityGroupsChangeTheNodes) {
  Json lb = CreateAlb("moves");
  std::string arn = lb["LoadBalancerArn"];
  std::string kept = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["PrivateIPv4Address"];
  Json zones = Call("SetSubnets", {{"LoadBalancerArn", arn}, {"Subnets", {subnets_[0], subnets_[2]}}})["AvailabilityZones"];
  ASSERT_EQ(zones.size(), 2u);
  EXPECT_EQ(zones[0]["SubnetId"], subnets_[0]);
  EXPECT_EQ(zones[0]["LoadBalancerAddresses"][0]["PrivateIPv4Address"], kept) << "the kept subnet keeps its node";
  EXPECT_EQ(zones[1]["SubnetId"], subnets_[2]);

  std::string sg;
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    auto g = net::CreateSecurityGroup(tx, {"us-east-1", "000000000000", kNow}, vpc_id_, "lb", "lb", Json::array(), false);
    if (!g.ok()) return g.status();
    sg = g->id;
    return Status::Ok();
  }).ok());
  EXPECT_EQ(Call("SetSecurityGroups", {{"LoadBalancerArn", arn}, {"SecurityGroups", {sg}}})["SecurityGroupIds"],
            Json::array({sg}));
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto enis = tx.List({net::kEni, "us-east-1"});
    EXPECT_EQ(enis->size(), 2u) << "the dropped subnet's ENI is gone";
    for (const auto& e : *enis) EXPECT_EQ(e.doc["Groups"][0]["GroupId"], sg);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(Call("DescribeLoadBalancers", {{"Names", {"moves"}}})["LoadBalancers"][0]["SecurityGroups"], Json::array({sg}));
}

TEST_F(Elbv2LoadBalancersTest, DescribeByNamesArnsAndPages) {
  std::string a = CreateAlb("a")["LoadBalancerArn"];
  CreateAlb("b");
  CreateAlb("c");
  Json byName = Call("DescribeLoadBalancers", {{"Names", {"b"}}})["LoadBalancers"];
  ASSERT_EQ(byName.size(), 1u);
  EXPECT_EQ(byName[0]["LoadBalancerName"], "b");
  EXPECT_EQ(Call("DescribeLoadBalancers", {{"LoadBalancerArns", {a}}})["LoadBalancers"][0]["LoadBalancerName"], "a");
  EXPECT_EQ(Error("DescribeLoadBalancers", {{"Names", {"nope"}}}).first, "LoadBalancerNotFound");

  Json page1 = Call("DescribeLoadBalancers", {{"PageSize", 2}});
  ASSERT_EQ(page1["LoadBalancers"].size(), 2u);
  ASSERT_TRUE(page1.contains("NextMarker"));
  Json page2 = Call("DescribeLoadBalancers", {{"PageSize", 2}, {"Marker", page1["NextMarker"]}});
  ASSERT_EQ(page2["LoadBalancers"].size(), 1u);
  EXPECT_EQ(page2["LoadBalancers"][0]["LoadBalancerName"], "c");
  EXPECT_FALSE(page2.contains("NextMarker"));
}

TEST_F(Elbv2LoadBalancersTest, DeleteRemovesListenersAndEnisHonoursProtectionAndIsIdempotent) {
  Json lb = CreateAlb("gone");
  std::string arn = lb["LoadBalancerArn"];
  std::string tg = CreateGroup("gone-tg")["TargetGroupArn"];
  AddListener(arn, tg);

  Call("ModifyLoadBalancerAttributes",
       {{"LoadBalancerArn", arn}, {"Attributes", {{{"Key", "deletion_protection.enabled"}, {"Value", "true"}}}}});
  auto [code, msg] = Error("DeleteLoadBalancer", {{"LoadBalancerArn", arn}});
  EXPECT_EQ(code, "OperationNotPermitted");
  EXPECT_EQ(msg, "Load balancer '" + arn + "' cannot be deleted because deletion protection is enabled");
  Call("ModifyLoadBalancerAttributes",
       {{"LoadBalancerArn", arn}, {"Attributes", {{{"Key", "deletion_protection.enabled"}, {"Value", "false"}}}}});

  EXPECT_EQ(Error("DeleteTargetGroup", {{"TargetGroupArn", tg}}).first, "ResourceInUse");
  Call("DeleteLoadBalancer", {{"LoadBalancerArn", arn}});
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    EXPECT_TRUE(tx.List({net::kEni, "us-east-1"})->empty());
    EXPECT_TRUE(tx.List({model::kListener, "us-east-1"})->empty());
    return Status::Ok();
  }).ok());
  EXPECT_EQ(Error("DeleteLoadBalancer", {{"LoadBalancerArn", arn}}).first, "") << "deleting a missing one succeeds";
  EXPECT_EQ(Error("DescribeLoadBalancers", {{"LoadBalancerArns", {arn}}}).first, "LoadBalancerNotFound");
  // With nothing using it, the group can go.
  Call("DeleteTargetGroup", {{"TargetGroupArn", tg}});
  EXPECT_EQ(Error("DescribeTargetGroups", {{"TargetGroupArns", {tg}}}).first, "TargetGroupNotFound");
}

TEST_F(Elbv2LoadBalancersTest, AttributesRefuseUnknownKeysAndValuesOutOfRange) {
  std::string arn = CreateAlb("attrs")["LoadBalancerArn"];
  auto bad = [&](const std::string& k, const std::string& v) {
    return Error("ModifyLoadBalancerAttributes",
                 {{"LoadBalancerArn", arn}, {"Attributes", {{{"Key", k}, {"Value", v}}}}});
  };
  EXPECT_EQ(bad("no.such.key", "1").first, "ValidationError");
  EXPECT_EQ(bad("idle_timeout.timeout_seconds", "0").first, "ValidationError");
  EXPECT_EQ(bad("idle_timeout.timeout_seconds", "abc").first, "ValidationError");
  EXPECT_EQ(bad("routing.http2.enabled", "yes").first, "ValidationError");
  EXPECT_EQ(bad("dns_record.client_routing_policy", "any_availability_zone").first, "ValidationError")
      << "a Network load balancer's attribute";
  Json out = Call("ModifyLoadBalancerAttributes",
                  {{"LoadBalancerArn", arn}, {"Attributes", {{{"Key", "idle_timeout.timeout_seconds"}, {"Value", "120"}}}}});
  Json described = Call("DescribeLoadBalancerAttributes", {{"LoadBalancerArn", arn}})["Attributes"];
  EXPECT_EQ(out["Attributes"], described);
  bool found = false;
  for (const auto& a : described) found |= a["Key"] == "idle_timeout.timeout_seconds" && a["Value"] == "120";
  EXPECT_TRUE(found);
}

TEST_F(Elbv2LoadBalancersTest, TargetGroupHealthCheckDefaultsFollowTheProtocol) {
  Json http = CreateGroup("http");
  EXPECT_EQ(http["HealthCheckProtocol"], "HTTP");
  EXPECT_EQ(http["HealthCheckPath"], "/");
  EXPECT_EQ(http["HealthCheckIntervalSeconds"], 30);
  EXPECT_EQ(http["HealthCheckTimeoutSeconds"], 5);
  EXPECT_EQ(http["HealthyThresholdCount"], 5);
  EXPECT_EQ(http["UnhealthyThresholdCount"], 2);
  EXPECT_EQ(http["Matcher"]["HttpCode"], "200");
  EXPECT_EQ(http["TargetType"], "instance");
  EXPECT_EQ(http["ProtocolVersion"], "HTTP1");
  EXPECT_EQ(http["LoadBalancerArns"], Json::array());

  Json tcp = CreateGroup("tcp", {{"Protocol", "TCP"}, {"TargetType", "ip"}});
  EXPECT_EQ(tcp["HealthCheckProtocol"], "TCP");
  EXPECT_EQ(tcp["HealthCheckTimeoutSeconds"], 10);
  EXPECT_FALSE(tcp.contains("Matcher"));
  EXPECT_FALSE(tcp.contains("HealthCheckPath"));

  Json tcp_http = CreateGroup("tcp-http", {{"Protocol", "TCP"}, {"HealthCheckProtocol", "HTTP"}});
  EXPECT_EQ(tcp_http["HealthCheckTimeoutSeconds"], 6);
  EXPECT_EQ(tcp_http["Matcher"]["HttpCode"], "200-399");
  EXPECT_EQ(tcp_http["HealthCheckPath"], "/");

  EXPECT_EQ(CreateGroup("http")["TargetGroupArn"], http["TargetGroupArn"]) << "idempotent";
  auto [code, msg] = Error("CreateTargetGroup", {{"Name", "http"}, {"Protocol", "HTTP"}, {"Port", 81}, {"VpcId", vpc_id_}});
  EXPECT_EQ(code, "DuplicateTargetGroupName");
  EXPECT_EQ(msg, "A target group with the same name 'http' exists, but with different settings");
  EXPECT_EQ(Error("CreateTargetGroup", {{"Name", "x"}, {"Protocol", "HTTP"}, {"Port", 80}, {"VpcId", "vpc-0123456789abcdef0"}})
                .first,
            "ValidationError");
  EXPECT_EQ(Error("CreateTargetGroup",
                  {{"Name", "x"}, {"Protocol", "HTTP"}, {"Port", 80}, {"VpcId", vpc_id_}, {"HealthCheckIntervalSeconds", 5},
                   {"HealthCheckTimeoutSeconds", 5}})
                .second,
            "Health check timeout '5' must be smaller than the interval '5'");

  Json modified = Call("ModifyTargetGroup", {{"TargetGroupArn", http["TargetGroupArn"]},
                                             {"HealthCheckPath", "/health"},
                                             {"Matcher", {{"HttpCode", "200-299"}}}})["TargetGroups"][0];
  EXPECT_EQ(modified["HealthCheckPath"], "/health");
  EXPECT_EQ(modified["Matcher"]["HttpCode"], "200-299");

  std::string arn = http["TargetGroupArn"];
  EXPECT_EQ(Error("ModifyTargetGroupAttributes",
                  {{"TargetGroupArn", arn}, {"Attributes", {{{"Key", "deregistration_delay.timeout_seconds"}, {"Value", "3601"}}}}})
                .first,
            "ValidationError");
  Call("ModifyTargetGroupAttributes",
       {{"TargetGroupArn", arn}, {"Attributes", {{{"Key", "deregistration_delay.timeout_seconds"}, {"Value", "0"}}}}});
  Json attrs = Call("DescribeTargetGroupAttributes", {{"TargetGroupArn", arn}})["Attributes"];
  EXPECT_EQ(attrs[0], (Json{{"Key", "deregistration_delay.timeout_seconds"}, {"Value", "0"}}));
}

TEST_F(Elbv2LoadBalancersTest, IpTargetsMustBeInTheVpcAndShowTheirHealth) {
  std::string tg = CreateGroup("ips", {{"TargetType", "ip"}})["TargetGroupArn"];
  EXPECT_EQ(Error("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", {{{"Id", "10.9.9.9"}}}}}).first, "InvalidTarget");
  EXPECT_EQ(Error("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", {{{"Id", "i-0123"}}}}}).first, "InvalidTarget");
  Call("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", {{{"Id", "172.31.0.20"}}, {{"Id", "172.31.0.21"}, {"Port", 8080}}}}});
  Call("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", {{{"Id", "10.9.9.9"}, {"AvailabilityZone", "all"}}}}});

  Json h = Health(tg);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0]["Target"]["Id"], "172.31.0.20");
  EXPECT_EQ(h[0]["Target"]["Port"], 80);
  EXPECT_FALSE(h[0]["Target"]["AvailabilityZone"].get<std::string>().empty());
  EXPECT_EQ(h[0]["HealthCheckPort"], "80");
  EXPECT_EQ(h[1]["HealthCheckPort"], "8080");
  EXPECT_EQ(h[2]["Target"]["AvailabilityZone"], "all");
  // No load balancer uses the group yet.
  EXPECT_EQ(h[0]["TargetHealth"],
            (Json{{"State", "unused"}, {"Reason", "Target.NotInUse"},
                  {"Description", "Target group is not configured to receive traffic from the load balancer"}}));

  Json missing = Health(tg, Json::array({{{"Id", "172.31.0.99"}}}));
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0]["TargetHealth"]["Reason"], "Target.NotRegistered");
  EXPECT_EQ(missing[0]["TargetHealth"]["State"], "unused");

  // Used by a listener: the recorded state shows.
  std::string lb = CreateAlb("ips-lb")["LoadBalancerArn"];
  AddListener(lb, tg);
  h = Health(tg);
  EXPECT_EQ(h[0]["TargetHealth"],
            (Json{{"State", "initial"}, {"Reason", "Elb.RegistrationInProgress"},
                  {"Description", "Target registration is in progress"}}));
  Json described = Call("DescribeTargetGroups", {{"LoadBalancerArn", lb}})["TargetGroups"];
  ASSERT_EQ(described.size(), 1u);
  EXPECT_EQ(described[0]["LoadBalancerArns"], Json::array({lb}));

  // Health checks off: unavailable.
  Call("ModifyTargetGroup", {{"TargetGroupArn", tg}, {"HealthCheckEnabled", false}});
  EXPECT_EQ(Health(tg)[0]["TargetHealth"]["Reason"], "Target.HealthCheckDisabled");
}

TEST_F(Elbv2LoadBalancersTest, DeregisteringDrainsAndRegisteringAgainRestoresTheTarget) {
  std::string tg = CreateGroup("drain", {{"TargetType", "ip"}})["TargetGroupArn"];
  std::string lb = CreateAlb("drain-lb")["LoadBalancerArn"];
  AddListener(lb, tg);
  Json target = Json::array({{{"Id", "172.31.0.30"}}});
  Call("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", target}});
  Call("DeregisterTargets", {{"TargetGroupArn", tg}, {"Targets", target}}, kNow + 10);

  Json h = Health(tg);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0]["TargetHealth"]["State"], "draining");
  EXPECT_EQ(h[0]["TargetHealth"]["Reason"], "Target.DeregistrationInProgress");
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto rec = state::records::GetTargetGroup(tx, "us-east-1", model::IdFromArn(tg, "targetgroup"));
    EXPECT_EQ((*rec)->targets[0].drain_until, kNow + 10 + 300);
    return Status::Ok();
  }).ok());

  Call("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", target}}, kNow + 20);
  h = Health(tg);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0]["TargetHealth"]["State"], "initial");

  // A group nothing uses has nothing to drain: the target goes at once.
  std::string idle = CreateGroup("idle", {{"TargetType", "ip"}})["TargetGroupArn"];
  Call("RegisterTargets", {{"TargetGroupArn", idle}, {"Targets", target}});
  Call("DeregisterTargets", {{"TargetGroupArn", idle}, {"Targets", target}});
  EXPECT_TRUE(Health(idle).empty());
  // Deregistering what is not registered (here: on another port) succeeds and changes nothing, as AWS.
  Call("RegisterTargets", {{"TargetGroupArn", idle}, {"Targets", target}});
  Call("DeregisterTargets", {{"TargetGroupArn", idle}, {"Targets", {{{"Id", "172.31.0.30"}, {"Port", 81}}}}});
  EXPECT_EQ(Health(idle).size(), 1u);
}

TEST_F(Elbv2LoadBalancersTest, InstanceTargetsAreContainerInstancesReachedAtTheHostAddress) {
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    Json doc{{"ec2InstanceId", "i-0abc"},
             {"status", "ACTIVE"},
             {"attributes", {{{"name", "ecs.availability-zone"}, {"value", "us-east-1b"}}}}};
    return tx.Insert({model::kInstance, "us-east-1", "ci1", "default", "ci1", "ACTIVE", 0, doc});
  }).ok());
  std::string tg = CreateGroup("inst")["TargetGroupArn"];
  auto [code, msg] = Error("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", {{{"Id", "i-0nothere"}}}}});
  EXPECT_EQ(code, "InvalidTarget");
  EXPECT_EQ(msg, "Instance ID 'i-0nothere' is not valid");
  Call("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", {{{"Id", "i-0abc"}, {"Port", 32768}}}}});
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto rec = state::records::GetTargetGroup(tx, "us-east-1", model::IdFromArn(tg, "targetgroup"));
    const auto& t = (*rec)->targets.at(0);
    EXPECT_EQ(t.address, "192.0.2.10");
    EXPECT_EQ(t.port, 32768);
    EXPECT_EQ(t.availability_zone, "us-east-1b");
    EXPECT_EQ(t.registered_at, kNow);
    return Status::Ok();
  }).ok());
}

TEST_F(Elbv2LoadBalancersTest, TagsOnEveryKindWithAwsLimits) {
  std::string lb = CreateAlb("tagged", {{"Tags", {{{"Key", "a"}, {"Value", "1"}}}}})["LoadBalancerArn"];
  std::string tg = CreateGroup("tagged")["TargetGroupArn"];
  Call("AddTags", {{"ResourceArns", {lb, tg}}, {"Tags", {{{"Key", "b"}, {"Value", "2"}}}}});
  Json d = Call("DescribeTags", {{"ResourceArns", {lb, tg}}})["TagDescriptions"];
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0]["Tags"], (Json{{{"Key", "a"}, {"Value", "1"}}, {{"Key", "b"}, {"Value", "2"}}}));
  EXPECT_EQ(d[1]["Tags"], (Json{{{"Key", "b"}, {"Value", "2"}}}));

  Call("RemoveTags", {{"ResourceArns", {lb}}, {"TagKeys", {"a"}}});
  EXPECT_EQ(Call("DescribeTags", {{"ResourceArns", {lb}}})["TagDescriptions"][0]["Tags"].size(), 1u);

  EXPECT_EQ(Error("AddTags", {{"ResourceArns", {lb}}, {"Tags", {{{"Key", "k"}, {"Value", "1"}}, {{"Key", "k"}, {"Value", "2"}}}}})
                .first,
            "DuplicateTagKeys");
  Json many = Json::array();
  for (int i = 0; i < 50; ++i) many.push_back({{"Key", "k" + std::to_string(i)}, {"Value", "v"}});
  EXPECT_EQ(Error("AddTags", {{"ResourceArns", {lb}}, {"Tags", many}}).first, "TooManyTags") << "51 with the one there";
  EXPECT_EQ(Error("DescribeTags", {{"ResourceArns", {lb + "0"}}}).first, "ValidationError");
  std::string gone = lb.substr(0, lb.size() - 16) + "0123456789abcdef";
  EXPECT_EQ(Error("DescribeTags", {{"ResourceArns", {gone}}}).first, "LoadBalancerNotFound");
}

TEST_F(Elbv2LoadBalancersTest, LimitsAndSslPolicies) {
  Json limits = Call("DescribeAccountLimits", Json::object())["Limits"];
  bool found = false;
  for (const auto& l : limits) found |= l["Name"] == "application-load-balancers" && l["Max"] == "50";
  EXPECT_TRUE(found);

  Json p = Call("DescribeSSLPolicies", {{"Names", {"ELBSecurityPolicy-TLS13-1-2-2021-06"}}})["SslPolicies"];
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0]["SslProtocols"], (Json{"TLSv1.3", "TLSv1.2"}));
  EXPECT_EQ(p[0]["Ciphers"][0], (Json{{"Name", "TLS_AES_128_GCM_SHA256"}, {"Priority", 1}}));
  EXPECT_EQ(Call("DescribeSSLPolicies", {{"Names", {"ELBSecurityPolicy-2016-08"}}})["SslPolicies"][0]["SslProtocols"],
            (Json{"TLSv1.2", "TLSv1.1", "TLSv1"}));
  EXPECT_EQ(Error("DescribeSSLPolicies", {{"Names", {"nope"}}}).first, "SSLPolicyNotFound");
}

TEST_F(Elbv2LoadBalancersTest, QueryRequestsThroughTheRouterAnswerXml) {
  Router::Options ro;
  ro.validate_responses = true;  // every answer must match its output shape in the model
  Router router{ro};
  router.AddService(service_);
  auto post = [&](const std::string& body) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.body = body;
    r.headers = {{"host", "127.0.0.1:8080"},
                 {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                 {"x-amz-date", "20240101T000000Z"},
                 {"authorization",
                  "AWS4-HMAC-SHA256 Credential=AKIDKECSTEST/20240101/us-east-1/elasticloadbalancing/aws4_request, "
                  "SignedHeaders=content-type;host;x-amz-date, Signature=00"},
                 {"content-length", std::to_string(body.size())}};
    return router.Handle(r);
  };
  auto created = post("Action=CreateLoadBalancer&Version=2015-12-01&Name=wire&Subnets.member.1=" + subnets_[0] +
                      "&Subnets.member.2=" + subnets_[1]);
  EXPECT_EQ(created.status, 200) << created.body;
  EXPECT_THAT(created.body, HasSubstr("<CreateLoadBalancerResult>"));
  EXPECT_THAT(created.body, HasSubstr("<LoadBalancerName>wire</LoadBalancerName>"));
  EXPECT_THAT(created.body, HasSubstr("<Code>provisioning</Code>"));

  std::string tg = CreateGroup("wire", {{"TargetType", "ip"}})["TargetGroupArn"];
  Call("RegisterTargets", {{"TargetGroupArn", tg}, {"Targets", {{{"Id", "172.31.0.40"}}}}});
  std::string lb = Call("DescribeLoadBalancers", {{"Names", {"wire"}}})["LoadBalancers"][0]["LoadBalancerArn"];
  for (const std::string& q : std::vector<std::string>{
           "Action=DescribeLoadBalancers&Version=2015-12-01", "Action=DescribeTargetGroups&Version=2015-12-01",
        "Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=" + tg,
        "Action=DescribeTargetGroupAttributes&Version=2015-12-01&TargetGroupArn=" + tg,
        "Action=DescribeLoadBalancerAttributes&Version=2015-12-01&LoadBalancerArn=" + lb,
        "Action=DescribeTags&Version=2015-12-01&ResourceArns.member.1=" + lb,
        "Action=DescribeAccountLimits&Version=2015-12-01", "Action=DescribeSSLPolicies&Version=2015-12-01"}) {
    auto r = post(q);
    EXPECT_EQ(r.status, 200) << q << ": " << r.body;
  }
  auto health = post("Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=" + tg);
  EXPECT_THAT(health.body, HasSubstr("<Reason>Target.NotInUse</Reason>"));

  auto missing = post("Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=nope");
  EXPECT_EQ(missing.status, 400);
  EXPECT_THAT(missing.body, HasSubstr("<Code>LoadBalancerNotFound</Code>"));
}

}  // namespace
}  // namespace kecs::api::elbv2
