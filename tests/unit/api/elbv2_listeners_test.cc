// The ELBv2 listener and rule operations against a temporary store: load balancers and
// target groups are written directly as records (their own operations are another
// file's), listeners and rules go through the registered handlers, and one request goes
// through the router as the aws CLI sends it (Query form in, XML out). Host ports are
// "probed" by a fake, so the tests never touch the host's sockets.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "api/elbv2/elbv2_api.h"
#include "api/router.h"
#include "model/elb.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "state/records/elb.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::elbv2 {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";

class Elbv2ListenersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    Options o;
    o.lb_port_first = 31000;
    o.lb_port_last = 31060;
    o.host_port_free = [this](const std::string& proto, int port) {
      return !busy_.count({proto, port});
    };
    api_ = std::make_unique<Elbv2Api>(*store_, regions_, o);
    service_ = std::make_shared<Service>(model::Elbv2Model(), ErrorStyle{});
    api_->RegisterAll(*service_);
    router_.AddService(service_);
  }

  model::LoadBalancer MakeLb(const std::string& name, model::LbType type, const std::string& vpc = "vpc-1") {
    model::LoadBalancer lb;
    lb.region = kRegion;
    lb.id = model::NewElbId();
    lb.name = name;
    lb.type = type;
    lb.arn = model::LoadBalancerArn(kRegion, kAccount, type, name, lb.id);
    lb.vpc_id = vpc;
    lb.state = model::LbState::kActive;
    lb.attributes = model::DefaultLoadBalancerAttributes(type);
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutLoadBalancer(tx, lb); }).ok());
    return lb;
  }

  std::string MakeTg(const std::string& name, model::LbProtocol protocol, const std::string& vpc = "vpc-1") {
    model::TargetGroup tg;
    tg.region = kRegion;
    tg.id = model::NewElbId();
    tg.name = name;
    tg.arn = model::TargetGroupArn(kRegion, kAccount, name, tg.id);
    tg.protocol = protocol;
    tg.port = 80;
    tg.vpc_id = vpc;
    tg.target_type = model::TargetType::kIp;
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTargetGroup(tx, tg); }).ok());
    return tg.arn;
  }

  Json Call(const std::string& op, const Json& in) {
    RequestContext ctx;
    ctx.region = kRegion;
    ctx.account_id = kAccount;
    ctx.operation = op;
    const OperationFn* fn = service_->Find(op);
    EXPECT_NE(fn, nullptr) << op;
    return (*fn)(ctx, in);
  }

  // The error `op` refuses `in` with; "" when it succeeds.
  std::pair<std::string, std::string> Fail(const std::string& op, const Json& in) {
    try {
      Call(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message()};
    }
    return {"", ""};
  }

  static Json Forward(const std::string& tg) { return Json::array({{{"Type", "forward"}, {"TargetGroupArn", tg}}}); }
  static Json Fixed(const std::string& status = "404") {
    return Json::array({{{"Type", "fixed-response"},
                         {"FixedResponseConfig", {{"StatusCode", status}, {"ContentType", "text/plain"}}}}});
  }
  static Json Path(const std::string& p) {
    return Json::array({{{"Field", "path-pattern"}, {"PathPatternConfig", {{"Values", {p}}}}}});
  }

  Json CreateHttp(const model::LoadBalancer& lb, int port, Json actions = Fixed()) {
    return Call("CreateListener", {{"LoadBalancerArn", lb.arn},
                                   {"Protocol", "HTTP"},
                                   {"Port", port},
                                   {"DefaultActions", std::move(actions)}})["Listeners"][0];
  }

  Json CreateRule(const std::string& listener, int priority, const std::string& path, Json actions = Fixed("200")) {
    return Call("CreateRule", {{"ListenerArn", listener},
                               {"Priority", priority},
                               {"Conditions", Path(path)},
                               {"Actions", std::move(actions)}})["Rules"][0];
  }

  model::Listener Stored(const std::string& arn) {
    std::optional<model::Listener> l;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
                  auto r = state::records::GetListener(tx, kRegion, model::IdFromArn(arn, "listener"));
                  if (r.ok()) l = *r;
                  return r.status();
                }).ok());
    return l.value_or(model::Listener{});
  }

  std::vector<std::string> Priorities(const std::string& listener) {
    std::vector<std::string> out;
    const Json rules = Call("DescribeRules", {{"ListenerArn", listener}})["Rules"];
    for (const auto& r : rules) {
      out.push_back(r["Priority"].get<std::string>());
    }
    return out;
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::set<std::pair<std::string, int>> busy_;  // host ports "another program" holds
  std::unique_ptr<Elbv2Api> api_;
  std::shared_ptr<Service> service_;
  Router router_{Router::Options{}};
};

TEST_F(Elbv2ListenersTest, ListenersTakeTheLowestHostPortNoListenerOrProgramHolds) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  busy_.insert({"tcp", 31000});
  Json a = CreateHttp(lb, 80);
  Json b = CreateHttp(lb, 8080);
  EXPECT_EQ(Stored(a["ListenerArn"]).host_port, 31001);
  EXPECT_EQ(Stored(b["ListenerArn"]).host_port, 31002);
  EXPECT_FALSE(a.contains("Tags"));
  // Deleting a listener frees its port for the next one.
  Call("DeleteListener", {{"ListenerArn", a["ListenerArn"]}});
  Json c = CreateHttp(lb, 81);
  EXPECT_EQ(Stored(c["ListenerArn"]).host_port, 31001);
  // A UDP listener needs the port free for UDP only.
  auto nlb = MakeLb("udp", model::LbType::kNetwork);
  busy_.insert({"udp", 31003});
  busy_.erase({"tcp", 31000});
  Json u = Call("CreateListener", {{"LoadBalancerArn", nlb.arn}, {"Protocol", "UDP"}, {"Port", 53},
                                   {"DefaultActions", Forward(MakeTg("dns", model::LbProtocol::kUdp))}})["Listeners"][0];
  EXPECT_EQ(Stored(u["ListenerArn"]).host_port, 31000);
}

TEST_F(Elbv2ListenersTest, ProtocolMustFitTheLoadBalancerType) {
  auto alb = MakeLb("alb", model::LbType::kApplication);
  auto nlb = MakeLb("nlb", model::LbType::kNetwork);
  auto e = Fail("CreateListener", {{"LoadBalancerArn", alb.arn}, {"Protocol", "TCP"}, {"Port", 80},
                                   {"DefaultActions", Fixed()}});
  EXPECT_EQ(e.first, "ValidationError");
  EXPECT_EQ(e.second, "Listener protocol 'TCP' must be one of 'HTTP, HTTPS'");
  e = Fail("CreateListener", {{"LoadBalancerArn", nlb.arn}, {"Protocol", "HTTP"}, {"Port", 80},
                              {"DefaultActions", Fixed()}});
  EXPECT_EQ(e.second, "Listener protocol 'HTTP' must be one of 'TLS, TCP, TCP_UDP, UDP'");
  e = Fail("CreateListener", {{"LoadBalancerArn", alb.arn}, {"Protocol", "GENEVE"}, {"Port", 80},
                              {"DefaultActions", Fixed()}});
  EXPECT_EQ(e.first, "UnsupportedProtocol");
  // NLB listeners forward only.
  e = Fail("CreateListener", {{"LoadBalancerArn", nlb.arn}, {"Protocol", "TCP"}, {"Port", 80},
                              {"DefaultActions", Fixed()}});
  EXPECT_EQ(e.first, "ValidationError");
  e = Fail("CreateListener", {{"LoadBalancerArn", alb.arn + "0"}, {"Protocol", "HTTP"}, {"Port", 80},
                              {"DefaultActions", Fixed()}});
  EXPECT_EQ(e.first, "ValidationError") << "a malformed ARN";
}

TEST_F(Elbv2ListenersTest, SamePortIsDuplicateUnlessTheRequestIsIdentical) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  Json a = CreateHttp(lb, 80);
  Json again = CreateHttp(lb, 80);
  EXPECT_EQ(again["ListenerArn"], a["ListenerArn"]);
  auto e = Fail("CreateListener", {{"LoadBalancerArn", lb.arn}, {"Protocol", "HTTP"}, {"Port", 80},
                                   {"DefaultActions", Fixed("503")}});
  EXPECT_EQ(e.first, "DuplicateListener");
  EXPECT_EQ(e.second, "A listener already exists on this port for this load balancer '" + lb.arn + "'");
  Json b = CreateHttp(lb, 81);
  e = Fail("ModifyListener", {{"ListenerArn", b["ListenerArn"]}, {"Port", 80}});
  EXPECT_EQ(e.first, "DuplicateListener");
  EXPECT_EQ(Call("DescribeListeners", {{"LoadBalancerArn", lb.arn}})["Listeners"].size(), 2u);
}

TEST_F(Elbv2ListenersTest, HttpsNeedsACertificateAndGetsTheDefaultPolicy) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  Json in = {{"LoadBalancerArn", lb.arn}, {"Protocol", "HTTPS"}, {"Port", 443}, {"DefaultActions", Fixed()}};
  auto e = Fail("CreateListener", in);
  EXPECT_EQ(e, std::make_pair(std::string("ValidationError"),
                              std::string("A certificate must be specified for HTTPS listeners")));
  in["Certificates"] = Json::array({{{"CertificateArn", "not-an-arn"}}});
  EXPECT_EQ(Fail("CreateListener", in).first, "CertificateNotFound");
  in["Certificates"] = Json::array({{{"CertificateArn", "arn:aws:acm:us-east-1:000000000000:certificate/abc"}}});
  Json l = Call("CreateListener", in)["Listeners"][0];
  EXPECT_EQ(l["SslPolicy"], "ELBSecurityPolicy-2016-08");
  EXPECT_EQ(l["Certificates"][0]["CertificateArn"], "arn:aws:acm:us-east-1:000000000000:certificate/abc");
  in["Port"] = 8443;
  in["SslPolicy"] = "MyPolicy";
  EXPECT_EQ(Fail("CreateListener", in), std::make_pair(std::string("SSLPolicyNotFound"),
                                                       std::string("SSL policy 'MyPolicy' not found.")));
  in["Protocol"] = "HTTP";
  EXPECT_EQ(Fail("CreateListener", in).second, "An SSL policy cannot be specified for HTTP listeners.");

  // Certificates: the default one stays first and cannot be removed.
  std::string iam = "arn:aws:iam::000000000000:server-certificate/extra";
  Call("AddListenerCertificates", {{"ListenerArn", l["ListenerArn"]}, {"Certificates", {{{"CertificateArn", iam}}}}});
  Json certs = Call("DescribeListenerCertificates", {{"ListenerArn", l["ListenerArn"]}})["Certificates"];
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(certs[0]["IsDefault"], true);
  EXPECT_EQ(certs[1]["CertificateArn"], iam);
  EXPECT_EQ(Fail("RemoveListenerCertificates",
                 {{"ListenerArn", l["ListenerArn"]}, {"Certificates", {{{"CertificateArn", certs[0]["CertificateArn"]}}}}})
                .first,
            "OperationNotPermitted");
  Call("RemoveListenerCertificates", {{"ListenerArn", l["ListenerArn"]}, {"Certificates", {{{"CertificateArn", iam}}}}});
  EXPECT_EQ(Call("DescribeListenerCertificates", {{"ListenerArn", l["ListenerArn"]}})["Certificates"].size(), 1u);

  // Turning it into an HTTP listener drops certificates and policy.
  Json m = Call("ModifyListener", {{"ListenerArn", l["ListenerArn"]}, {"Protocol", "HTTP"}})["Listeners"][0];
  EXPECT_FALSE(m.contains("SslPolicy"));
  EXPECT_FALSE(m.contains("Certificates"));
}

TEST_F(Elbv2ListenersTest, ForwardChecksTheTargetGroups) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  auto other = MakeLb("other", model::LbType::kApplication);
  std::string http = MakeTg("http", model::LbProtocol::kHttp);
  std::string tcp = MakeTg("tcp", model::LbProtocol::kTcp);
  std::string elsewhere = MakeTg("elsewhere", model::LbProtocol::kHttp, "vpc-2");
  auto create = [&](const model::LoadBalancer& on, Json actions) {
    return Fail("CreateListener", {{"LoadBalancerArn", on.arn}, {"Protocol", "HTTP"}, {"Port", 80},
                                   {"DefaultActions", std::move(actions)}});
  };
  EXPECT_EQ(create(lb, Forward(model::TargetGroupArn(kRegion, kAccount, "gone", model::NewElbId()))).first,
            "TargetGroupNotFound");
  auto e = create(lb, Forward(tcp));
  EXPECT_EQ(e, std::make_pair(std::string("IncompatibleProtocols"),
                              "The listener and the following target groups have incompatible protocols: " + tcp));
  EXPECT_EQ(create(lb, Forward(elsewhere)).first, "ValidationError");
  EXPECT_EQ(create(lb, Forward(http)).first, "");
  // AWS shows a forward in both forms, and a lone action's order.
  EXPECT_EQ(Call("DescribeListeners", {{"LoadBalancerArn", lb.arn}})["Listeners"][0]["DefaultActions"][0],
            Json::parse(R"({"Type":"forward","Order":1,"TargetGroupArn":")" + http +
                        R"(","ForwardConfig":{"TargetGroups":[{"TargetGroupArn":")" + http +
                        R"(","Weight":1}],"TargetGroupStickinessConfig":{"Enabled":false}}})"));
  // The group now belongs to `lb`: another load balancer cannot forward to it.
  e = create(other, Forward(http));
  EXPECT_EQ(e.first, "TargetGroupAssociationLimit");
  EXPECT_EQ(e.second, "The following target groups cannot be associated with more than one load balancer: " + http);

  // Weighted forwards: 1-5 groups, weights 0-999, each group once.
  std::string http2 = MakeTg("http2", model::LbProtocol::kHttp);
  auto weighted = [&](Json groups) {
    return Json::array({{{"Type", "forward"}, {"ForwardConfig", {{"TargetGroups", std::move(groups)}}}}});
  };
  Json l = Call("DescribeListeners", {{"LoadBalancerArn", lb.arn}})["Listeners"][0];
  EXPECT_EQ(Fail("ModifyListener", {{"ListenerArn", l["ListenerArn"]},
                                    {"DefaultActions", weighted({{{"TargetGroupArn", http}, {"Weight", 1000}}})}})
                .first,
            "ValidationError");
  EXPECT_EQ(Fail("ModifyListener",
                 {{"ListenerArn", l["ListenerArn"]},
                  {"DefaultActions", weighted({{{"TargetGroupArn", http}, {"Weight", 1}}, {{"TargetGroupArn", http}}})}})
                .first,
            "ValidationError");
  Json m = Call("ModifyListener",
                {{"ListenerArn", l["ListenerArn"]},
                 {"DefaultActions",
                  weighted({{{"TargetGroupArn", http}, {"Weight", 90}}, {{"TargetGroupArn", http2}, {"Weight", 10}}})}});
  EXPECT_EQ(m["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"][1]["Weight"], 10);
}

TEST_F(Elbv2ListenersTest, ActionsAreValidatedAsAwsDoes) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  auto create = [&](Json actions) {
    return Fail("CreateListener", {{"LoadBalancerArn", lb.arn}, {"Protocol", "HTTP"}, {"Port", 80},
                                   {"DefaultActions", std::move(actions)}});
  };
  auto e = create(Json::array({{{"Type", "redirect"}, {"RedirectConfig", {{"StatusCode", "HTTP_301"}}}}}));
  EXPECT_EQ(e, std::make_pair(std::string("InvalidLoadBalancerAction"),
                              std::string("The redirect configuration is not valid because it creates a loop.")));
  EXPECT_EQ(create(Json::array({{{"Type", "redirect"},
                                 {"RedirectConfig", {{"Protocol", "HTTPS"}, {"Port", "443"}, {"StatusCode", "HTTP_301"}}}}}))
                .first,
            "");
  EXPECT_EQ(create(Json::array({{{"Type", "fixed-response"},
                                 {"FixedResponseConfig", {{"StatusCode", "200"}, {"ContentType", "image/png"}}}}}))
                .first,
            "InvalidLoadBalancerAction");
  e = create(Json::array({{{"Type", "authenticate-oidc"}, {"Order", 1}}, Fixed()[0]}));
  EXPECT_EQ(e.first, "ValidationError");
  EXPECT_NE(e.second.find("kecs"), std::string::npos) << e.second;
  // Exactly one terminal action; orders unique.
  Json a = Fixed()[0], b = Fixed("503")[0];
  EXPECT_EQ(create(Json::array({a, b})).first, "ValidationError") << "several actions need orders";
  a["Order"] = 1;
  b["Order"] = 2;
  EXPECT_EQ(create(Json::array({a, b})).first, "InvalidLoadBalancerAction");
  b["Order"] = 1;
  EXPECT_EQ(create(Json::array({a, b})).first, "ValidationError");
  EXPECT_EQ(create(Json::array()).first, "ValidationError");

}

TEST_F(Elbv2ListenersTest, ConditionsAreValidatedAsAwsDoes) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  std::string l = CreateHttp(lb, 80)["ListenerArn"];
  auto rule = [&](Json conditions) {
    return Fail("CreateRule", {{"ListenerArn", l}, {"Priority", 10}, {"Conditions", std::move(conditions)},
                               {"Actions", Fixed("200")}});
  };
  auto e = rule(Json::array(
      {{{"Field", "path-pattern"}, {"PathPatternConfig", {{"Values", {"/a", "/b", "/c"}}}}},
       {{"Field", "host-header"}, {"HostHeaderConfig", {{"Values", {"a.example.com", "b.example.com", "c.example.com"}}}}}}));
  EXPECT_EQ(e, std::make_pair(std::string("ValidationError"), std::string("A rule can only have '5' condition values")));
  // The legacy Values form: one value, host-header and path-pattern only, not with the config.
  EXPECT_EQ(rule(Json::array({{{"Field", "path-pattern"}, {"Values", {"/a", "/b"}}}})).second,
            "The 'path-pattern' field contains too many values; the limit is '1'");
  EXPECT_EQ(rule(Json::array({{{"Field", "source-ip"}, {"Values", {"10.0.0.0/8"}}}})).second,
            "The 'Values' field is not compatible with 'source-ip'");
  EXPECT_EQ(rule(Json::array({{{"Field", "path-pattern"}, {"Values", {"/a"}}, {"PathPatternConfig", {{"Values", {"/a"}}}}}}))
                .second,
            "You cannot provide both Values and 'PathPatternConfig' for a condition of type 'path-pattern'");
  EXPECT_EQ(rule(Json::array({{{"Field", "http-header"}}})).second,
            "A 'HttpHeaderConfig' must be specified with 'http-header'");
  EXPECT_EQ(Fail("CreateRule", {{"ListenerArn", l}, {"Priority", 11},
                                {"Conditions", {{{"Field", "path-pattern"}, {"Values", {"/a"}}}}},
                                {"Actions", Fixed("200")}})
                .first,
            "")
      << "the legacy form with one value";
  EXPECT_EQ(rule(Json::array({{{"PathPatternConfig", {{"Values", {"/a"}}}}}})).second,
            "A condition field must be specified");
  EXPECT_EQ(rule(Json::array({{{"Field", "cookie"}, {"Values", {"x"}}}})).first, "ValidationError");
  EXPECT_EQ(rule(Path("/a b")).first, "ValidationError") << "a space is no path character";
  EXPECT_EQ(rule(Path(std::string(129, 'a'))).second, "The 'path-pattern' value is too long; the limit is '128'");
  EXPECT_EQ(rule(Json::array({{{"Field", "host-header"}, {"HostHeaderConfig", {{"Values", {"a_b.example.com"}}}}}})).first,
            "ValidationError");
  EXPECT_EQ(rule(Json::array({{{"Field", "http-request-method"}, {"HttpRequestMethodConfig", {{"Values", {"get"}}}}}}))
                .first,
            "ValidationError");
  EXPECT_EQ(rule(Json::array({{{"Field", "source-ip"}, {"SourceIpConfig", {{"Values", {"10.0.0.300/8"}}}}}})).first,
            "ValidationError");
  EXPECT_EQ(rule(Json::array({Path("/a")[0], Path("/b")[0]})).first, "ValidationError") << "path-pattern twice";
  EXPECT_EQ(rule(Json::array({{{"Field", "path-pattern"}, {"PathPatternConfig", {{"Values", Json::array()}}}}})).second,
            "A condition value must be specified");
  // Everything AWS allows at once: two http-header conditions, a query string, a CIDR.
  EXPECT_EQ(rule(Json::array({{{"Field", "http-header"},
                               {"HttpHeaderConfig", {{"HttpHeaderName", "User-Agent"}, {"Values", {"*Mobile*"}}}}},
                              {{"Field", "http-header"},
                               {"HttpHeaderConfig", {{"HttpHeaderName", "X-Env"}, {"Values", {"dev"}}}}},
                              {{"Field", "query-string"},
                               {"QueryStringConfig", {{"Values", {{{"Key", "v"}, {"Value", "2"}}}}}}},
                              {{"Field", "source-ip"}, {"SourceIpConfig", {{"Values", {"10.0.0.0/8"}}}}},
                              Path("/api/*")[0]}))
                .first,
            "");
}

TEST_F(Elbv2ListenersTest, RulesKeepPriorityOrderWithTheDefaultRuleLast) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  Json l = CreateHttp(lb, 80);
  std::string arn = l["ListenerArn"];
  Json r20 = CreateRule(arn, 20, "/b/*");
  Json r10 = CreateRule(arn, 10, "/a/*");
  EXPECT_EQ(Fail("CreateRule", {{"ListenerArn", arn}, {"Priority", 10}, {"Conditions", Path("/c")},
                                {"Actions", Fixed()}}),
            std::make_pair(std::string("PriorityInUse"), std::string("Priority '10' is currently in use")));
  EXPECT_EQ(Priorities(arn), (std::vector<std::string>{"10", "20", "default"}));

  Json rules = Call("DescribeRules", {{"ListenerArn", arn}})["Rules"];
  Json def = rules[2];
  EXPECT_EQ(def["IsDefault"], true);
  EXPECT_EQ(def["RuleArn"], model::RuleArn(lb, kAccount, Stored(arn).id, Stored(arn).default_rule_id));
  EXPECT_EQ(def["Actions"], l["DefaultActions"]);
  // Paging, and lookup by ARN (the default rule's too).
  Json page = Call("DescribeRules", {{"ListenerArn", arn}, {"PageSize", 2}});
  ASSERT_EQ(page["Rules"].size(), 2u);
  Json rest = Call("DescribeRules", {{"ListenerArn", arn}, {"PageSize", 2}, {"Marker", page["NextMarker"]}});
  ASSERT_EQ(rest["Rules"].size(), 1u);
  EXPECT_EQ(rest["Rules"][0]["IsDefault"], true);
  EXPECT_EQ(Call("DescribeRules", {{"RuleArns", {def["RuleArn"], r20["RuleArn"]}}})["Rules"].size(), 2u);

  // The default rule cannot be deleted, moved or modified (ModifyListener changes it).
  EXPECT_EQ(Fail("DeleteRule", {{"RuleArn", def["RuleArn"]}}).first, "OperationNotPermitted");
  EXPECT_EQ(Fail("SetRulePriorities", {{"RulePriorities", {{{"RuleArn", def["RuleArn"]}, {"Priority", 5}}}}}).first,
            "OperationNotPermitted");
  EXPECT_EQ(Fail("ModifyRule", {{"RuleArn", def["RuleArn"]}, {"Actions", Fixed("503")}}),
            std::make_pair(std::string("OperationNotPermitted"),
                           "Default rule '" + def["RuleArn"].get<std::string>() + "' cannot be modified"));
  Call("ModifyListener", {{"ListenerArn", arn}, {"DefaultActions", Fixed("503")}});
  EXPECT_EQ(Call("DescribeRules", {{"RuleArns", {def["RuleArn"]}}})["Rules"][0]["Actions"][0]["FixedResponseConfig"]
                ["StatusCode"],
            "503");

  // Swapping two priorities in one request is fine; colliding with a third is not, and
  // changes nothing.
  Json swapped = Call("SetRulePriorities", {{"RulePriorities", {{{"RuleArn", r10["RuleArn"]}, {"Priority", 20}},
                                                                 {{"RuleArn", r20["RuleArn"]}, {"Priority", 10}}}}});
  EXPECT_EQ(swapped["Rules"][0]["Priority"], "20");
  Json r30 = CreateRule(arn, 30, "/c/*");
  EXPECT_EQ(Fail("SetRulePriorities", {{"RulePriorities", {{{"RuleArn", r30["RuleArn"]}, {"Priority", 20}}}}}).first,
            "PriorityInUse");
  EXPECT_EQ(Fail("SetRulePriorities", {{"RulePriorities", {{{"RuleArn", r30["RuleArn"]}, {"Priority", 40}},
                                                           {{"RuleArn", r10["RuleArn"]}, {"Priority", 40}}}}})
                .first,
            "ValidationError");
  EXPECT_EQ(Priorities(arn), (std::vector<std::string>{"10", "20", "30", "default"}));
  rules = Call("DescribeRules", {{"ListenerArn", arn}})["Rules"];
  EXPECT_EQ(rules[0]["RuleArn"], r20["RuleArn"]);

  // ModifyRule replaces conditions; DeleteRule removes; DeleteListener takes the rest.
  Json m = Call("ModifyRule", {{"RuleArn", r30["RuleArn"]}, {"Conditions", Path("/d/*")}})["Rules"][0];
  EXPECT_EQ(m["Conditions"][0]["PathPatternConfig"]["Values"][0], "/d/*");
  Call("DeleteRule", {{"RuleArn", r30["RuleArn"]}});
  EXPECT_EQ(Fail("DeleteRule", {{"RuleArn", r30["RuleArn"]}}).first, "RuleNotFound");
  Call("DeleteListener", {{"ListenerArn", arn}});
  EXPECT_EQ(Fail("DescribeRules", {{"RuleArns", {r10["RuleArn"]}}}).first, "RuleNotFound");
  EXPECT_EQ(Fail("DescribeRules", {{"ListenerArn", arn}}).first, "ListenerNotFound");
}

TEST_F(Elbv2ListenersTest, RulesAreForApplicationLoadBalancersAndLimitedPerLoadBalancer) {
  auto nlb = MakeLb("nlb", model::LbType::kNetwork);
  std::string tcp = MakeTg("tcp", model::LbProtocol::kTcp);
  Json l = Call("CreateListener", {{"LoadBalancerArn", nlb.arn}, {"Protocol", "TCP"}, {"Port", 80},
                                   {"DefaultActions", Forward(tcp)}})["Listeners"][0];
  EXPECT_EQ(Fail("CreateRule", {{"ListenerArn", l["ListenerArn"]}, {"Priority", 1}, {"Conditions", Path("/")},
                                {"Actions", Forward(tcp)}})
                .first,
            "ValidationError");

  auto alb = MakeLb("alb", model::LbType::kApplication);
  std::string a = CreateHttp(alb, 80)["ListenerArn"];
  std::string b = CreateHttp(alb, 81)["ListenerArn"];
  for (int i = 1; i <= 100; ++i) CreateRule(i % 2 ? a : b, i, "/" + std::to_string(i));
  EXPECT_EQ(Fail("CreateRule", {{"ListenerArn", a}, {"Priority", 101}, {"Conditions", Path("/x")},
                                {"Actions", Fixed()}})
                .first,
            "TooManyRules");
}

TEST_F(Elbv2ListenersTest, AnApplicationLoadBalancerForwardsToAtMostOneHundredTargetGroups) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  std::vector<std::string> tgs;
  for (int i = 0; i < 101; ++i) tgs.push_back(MakeTg("tg" + std::to_string(i), model::LbProtocol::kHttp));
  std::string l = CreateHttp(lb, 80, Forward(tgs[0]))["ListenerArn"];
  auto five = [&](int first) {
    Json groups = Json::array();
    for (int i = first; i < first + 5; ++i) groups.push_back({{"TargetGroupArn", tgs[i]}, {"Weight", 1}});
    return Json::array({{{"Type", "forward"}, {"ForwardConfig", {{"TargetGroups", groups}}}}});
  };
  for (int r = 0; r < 19; ++r) CreateRule(l, r + 1, "/" + std::to_string(r), five(1 + 5 * r));  // tg1..tg95
  // 96 groups in use; a rule reusing groups adds none, one with five new ones is one too many.
  CreateRule(l, 50, "/again", five(1));
  EXPECT_EQ(Fail("CreateRule", {{"ListenerArn", l}, {"Priority", 60}, {"Conditions", Path("/x")},
                                {"Actions", five(96)}})
                .first,
            "TooManyUniqueTargetGroupsPerLoadBalancer");
  // Replacing the default action's group frees its place.
  Call("ModifyListener", {{"ListenerArn", l}, {"DefaultActions", Fixed()}});
  EXPECT_EQ(Fail("CreateRule", {{"ListenerArn", l}, {"Priority", 60}, {"Conditions", Path("/x")},
                                {"Actions", five(96)}})
                .first,
            "");
}

TEST_F(Elbv2ListenersTest, AttributesAreTheListenerTypesAndValidated) {
  auto nlb = MakeLb("nlb", model::LbType::kNetwork);
  Json l = Call("CreateListener", {{"LoadBalancerArn", nlb.arn}, {"Protocol", "TCP"}, {"Port", 80},
                                   {"DefaultActions", Forward(MakeTg("tcp", model::LbProtocol::kTcp))}})["Listeners"][0];
  Json attrs = Call("DescribeListenerAttributes", {{"ListenerArn", l["ListenerArn"]}})["Attributes"];
  EXPECT_EQ(attrs, Json::parse(R"([{"Key":"tcp.idle_timeout.seconds","Value":"350"}])"));
  auto modify = [&](const std::string& key, const std::string& value) {
    return Fail("ModifyListenerAttributes",
                {{"ListenerArn", l["ListenerArn"]}, {"Attributes", {{{"Key", key}, {"Value", value}}}}});
  };
  EXPECT_EQ(modify("tcp.idle_timeout.seconds", "7000").first, "ValidationError");
  EXPECT_EQ(modify("tcp.idle_timeout.seconds", "abc").first, "ValidationError");
  EXPECT_EQ(modify("routing.http.response.server.enabled", "false").first, "ValidationError");
  EXPECT_EQ(modify("tcp.idle_timeout.seconds", "120").first, "");
  EXPECT_EQ(Stored(l["ListenerArn"]).attributes, (model::KeyValues{{"tcp.idle_timeout.seconds", "120"}}));
  // A protocol change revalidates the forward, and the attributes follow the protocol.
  EXPECT_EQ(Fail("ModifyListener", {{"ListenerArn", l["ListenerArn"]}, {"Protocol", "UDP"}}).first,
            "IncompatibleProtocols");
  // Its host port moves to one that is free for UDP.
  EXPECT_EQ(Stored(l["ListenerArn"]).host_port, 31000);
  busy_.insert({"udp", 31001});
  Call("ModifyListener", {{"ListenerArn", l["ListenerArn"]}, {"Protocol", "UDP"},
                          {"DefaultActions", Forward(MakeTg("udp", model::LbProtocol::kUdp))}});
  EXPECT_TRUE(Stored(l["ListenerArn"]).attributes.empty());
  EXPECT_EQ(Stored(l["ListenerArn"]).host_port, 31002);
  Call("ModifyListener", {{"ListenerArn", l["ListenerArn"]}, {"Protocol", "TCP_UDP"},
                          {"DefaultActions", Forward(MakeTg("both", model::LbProtocol::kTcpUdp))}});
  EXPECT_EQ(Stored(l["ListenerArn"]).attributes, (model::KeyValues{{"tcp.idle_timeout.seconds", "350"}}));

  auto alb = MakeLb("alb", model::LbType::kApplication);
  std::string h = CreateHttp(alb, 80)["ListenerArn"];
  EXPECT_EQ(Fail("ModifyListenerAttributes", {{"ListenerArn", h},
                                              {"Attributes", {{{"Key", "tcp.idle_timeout.seconds"}, {"Value", "60"}}}}})
                .first,
            "ValidationError");
  Call("ModifyListenerAttributes",
       {{"ListenerArn", h}, {"Attributes", {{{"Key", "routing.http.response.server.enabled"}, {"Value", "false"}}}}});
  EXPECT_EQ(*model::FindValue(Stored(h).attributes, "routing.http.response.server.enabled"), "false");
}

TEST_F(Elbv2ListenersTest, FiftyListenersPerLoadBalancer) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  for (int i = 0; i < 50; ++i) CreateHttp(lb, 1000 + i);
  auto e = Fail("CreateListener", {{"LoadBalancerArn", lb.arn}, {"Protocol", "HTTP"}, {"Port", 2000},
                                   {"DefaultActions", Fixed()}});
  EXPECT_EQ(e.first, "TooManyListeners");
  Json page = Call("DescribeListeners", {{"LoadBalancerArn", lb.arn}, {"PageSize", 30}});
  EXPECT_EQ(page["Listeners"].size(), 30u);
  Json rest = Call("DescribeListeners", {{"LoadBalancerArn", lb.arn}, {"Marker", page["NextMarker"]}});
  EXPECT_EQ(rest["Listeners"].size(), 20u);
  EXPECT_FALSE(rest.contains("NextMarker"));
}

TEST_F(Elbv2ListenersTest, TheRouterDecodesAndEncodesAQueryRequest) {
  auto lb = MakeLb("web", model::LbType::kApplication);
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = "Action=CreateListener&Version=2015-12-01&LoadBalancerArn=" + lb.arn +
           "&Protocol=HTTP&Port=80&DefaultActions.member.1.Type=fixed-response"
           "&DefaultActions.member.1.FixedResponseConfig.StatusCode=404"
           "&DefaultActions.member.1.FixedResponseConfig.MessageBody=nope";
  r.headers = {{"content-type", "application/x-www-form-urlencoded"},
               {"authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, "
                "SignedHeaders=host, Signature=00"}};
  HttpResponse resp = router_.Handle(r);
  EXPECT_EQ(resp.status, 200) << resp.body;
  EXPECT_NE(resp.body.find("<ListenerArn>arn:aws:elasticloadbalancing:us-east-1:"), std::string::npos) << resp.body;
  EXPECT_NE(resp.body.find("<MessageBody>nope</MessageBody>"), std::string::npos) << resp.body;
  // The router's own range check: priorities are 1-50000.
  r.body = "Action=CreateRule&Version=2015-12-01&ListenerArn=x&Priority=0&Conditions.member.1.Field=path-pattern"
           "&Conditions.member.1.Values.member.1=/&Actions.member.1.Type=fixed-response"
           "&Actions.member.1.FixedResponseConfig.StatusCode=200";
  resp = router_.Handle(r);
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("<Code>ValidationError</Code>"), std::string::npos) << resp.body;
}

}  // namespace
}  // namespace kecs::api::elbv2
