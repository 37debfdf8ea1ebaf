// Golden-file tests of RenderHaproxyConfig (lb_proxy.h): the haproxy.cfg a load balancer
// becomes, compared byte for byte with testdata/haproxy/<case>.cfg, and checked by HAProxy
// itself (`haproxy -c`) when /usr/sbin/haproxy is installed. Also AssignSlots and the
// parsers of HAProxy's runtime API answers (haproxy_admin.h).
//
// To regenerate the goldens after an intended change:
//   KECS_UPDATE_GOLDEN=1 build/tests/kecs_unit_tests --gtest_filter='HaproxyConfig*'
// then review every changed line by hand before committing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/subprocess.h"
#include "runtime/local/haproxy_admin.h"
#include "runtime/local/lb_proxy.h"
#include "unit/support/golden.h"
#include "unit/support/lb_specs.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;
using model::Action;
using model::ActionType;
using model::LbProtocol;
using model::RuleCondition;
using model::TargetHealthState;
using testing::Forward;
using testing::TgArn;

constexpr const char* kHaproxy = "/usr/sbin/haproxy";
constexpr const char* kLbId = "0123456789abcdef";
constexpr const char* kApi = "1111111111111111";
constexpr const char* kWeb = "2222222222222222";

LbTargetSpec Target(const std::string& ip, int port, bool draining = false) {
  LbTargetSpec t = testing::Target(ip, port, draining);
  t.zone = "us-east-1a";
  return t;
}

LoadBalancerSpec BaseLb(model::LbType type) {
  LoadBalancerSpec lb;
  lb.id = kLbId;
  lb.name = "web";
  lb.type = type;
  lb.idle_timeout_s = 60;
  for (int i = 0; i < 2; ++i) {
    LbNodeSpec n;
    n.eni_id = "eni-0000000000000000" + std::to_string(i);
    n.ip = "10.0." + std::to_string(i + 1) + ".10";
    n.zone = i == 0 ? "us-east-1a" : "us-east-1b";
    lb.nodes.push_back(n);
  }
  return lb;
}

// An ALB with every routing feature: each condition type, weighted forwards (one weight
// 0), a redirect, fixed responses, an HTTPS listener; groups with a status-code range,
// stickiness, slow start, least outstanding requests, a draining target and a numbered
// health-check port over HTTPS.
LoadBalancerSpec Alb() {
  LoadBalancerSpec lb = BaseLb(model::LbType::kApplication);
  LbTargetGroupSpec api;
  api.id = kApi;
  api.name = "api";
  api.health_check.path = "/health";
  api.health_check.matcher_http = "200-299";
  api.health_check.interval_s = 10;
  api.health_check.timeout_s = 3;
  api.health_check.healthy_threshold = 3;
  api.health_check.unhealthy_threshold = 2;
  api.stickiness = true;
  api.stickiness_type = "lb_cookie";
  api.stickiness_duration_s = 3600;
  api.slow_start_s = 30;
  api.targets = {Target("10.0.1.20", 8080), Target("10.0.2.20", 8080, true)};
  LbTargetGroupSpec web;
  web.id = kWeb;
  web.name = "web";
  web.algorithm = "least_outstanding_requests";
  web.health_check.protocol = LbProtocol::kHttps;
  web.health_check.port = "8443";
  web.health_check.matcher_http = "200,202,301-302";
  web.deregistration_delay_s = 120;
  web.targets = {Target("10.0.1.30", 80)};
  lb.target_groups = {api, web};

  LbListenerSpec http;
  http.id = "aaaaaaaaaaaaaaaa";
  http.port = 80;
  http.default_actions = {testing::FixedResponse("404", "no route for \"$PATH\"\n")};
  LbRuleSpec r1;
  r1.id = "r000000000000001";
  r1.priority = 1;
  RuleCondition path{"path-pattern", {"/api/*", "/v?/api"}};
  RuleCondition host{"host-header", {"*.example.com"}};
  r1.conditions = {path, host};
  r1.actions = {Forward(kApi)};
  LbRuleSpec r2;
  r2.id = "r000000000000002";
  r2.priority = 5;
  RuleCondition header{"http-header", {"beta*"}};
  header.header_name = "X-Canary";
  RuleCondition method{"http-request-method", {"GET", "HEAD"}};
  RuleCondition query{"query-string", {}};
  query.query = {{"version", "2*"}, {"", "debug"}};
  RuleCondition source{"source-ip", {"192.0.2.0/24", "2001:db8::/32"}};
  r2.conditions = {header, method, query, source};
  Action weighted;
  weighted.type = ActionType::kForward;
  weighted.forward = {{TgArn(kApi), 30}, {TgArn(kWeb), 70}, {TgArn("3333333333333333"), 0}};
  weighted.forward_given = true;
  r2.actions = {weighted};
  LbRuleSpec r3;
  r3.id = "r000000000000003";
  r3.priority = 10;
  r3.conditions = {RuleCondition{"path-pattern", {"/old/*"}}};
  Action redirect;
  redirect.type = ActionType::kRedirect;
  redirect.redirect_protocol = "HTTPS";
  redirect.redirect_port = "443";
  redirect.redirect_path = "/new/#{path}";
  redirect.redirect_status = "HTTP_301";
  r3.actions = {redirect};
  LbRuleSpec r4;
  r4.id = "r000000000000004";
  r4.priority = 20;
  r4.conditions = {RuleCondition{"path-pattern", {"/web*"}}};
  r4.actions = {Forward(kWeb)};
  http.rules = {r1, r2, r3, r4};

  LbListenerSpec https;
  https.id = "bbbbbbbbbbbbbbbb";
  https.port = 443;
  https.protocol = LbProtocol::kHttps;
  Action plain;
  plain.type = ActionType::kFixedResponse;
  plain.fixed_status = "503";
  https.default_actions = {Forward(kWeb)};
  LbRuleSpec r5;
  r5.id = "r000000000000005";
  r5.priority = 1;
  r5.conditions = {RuleCondition{"path-pattern", {"/maintenance"}}};
  r5.actions = {plain};
  https.rules = {r5};
  lb.listeners = {http, https};
  lb.xff_mode = "append";
  return lb;
}

LoadBalancerSpec Nlb() {
  LoadBalancerSpec lb = BaseLb(model::LbType::kNetwork);
  LbTargetGroupSpec tcp;
  tcp.id = kApi;
  tcp.protocol = LbProtocol::kTcp;
  tcp.health_check.protocol = LbProtocol::kTcp;
  tcp.health_check.interval_s = 10;
  tcp.health_check.healthy_threshold = 3;
  tcp.health_check.unhealthy_threshold = 3;
  tcp.targets = {Target("10.0.1.20", 5432)};
  LbTargetGroupSpec http;
  http.id = kWeb;
  http.protocol = LbProtocol::kUdp;
  http.health_check.protocol = LbProtocol::kHttp;
  http.health_check.port = "8080";
  http.health_check.path = "/ping";
  http.targets = {Target("10.0.2.20", 53)};
  lb.target_groups = {tcp, http};
  LbListenerSpec l;
  l.id = "cccccccccccccccc";
  l.port = 5432;
  l.protocol = LbProtocol::kTcp;
  l.default_actions = {Forward(kApi)};
  // TLS: HAProxy terminates it and forwards to the TCP group (the kernel does not).
  LbListenerSpec tls;
  tls.id = "dddddddddddddddd";
  tls.port = 8443;
  tls.protocol = LbProtocol::kTls;
  tls.ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06";
  tls.default_actions = {Forward(kApi)};
  lb.listeners = {l, tls};
  return lb;
}

ProxyInputs Inputs(bool with_netns = true) {
  ProxyInputs in;
  if (with_netns) {
    in.node_netns = {"kecs-l-eni-00000000000000000", "kecs-l-eni-00000000000000001"};
  } else {
    in.node_netns = {"", ""};
  }
  in.certificate_pem_path = "/var/lib/kecs/runtime/lb/0123456789abcdef/crt.pem";
  in.certificate_fingerprint = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
  return in;
}

fs::path Golden(const std::string& name) { return fs::path(KECS_TESTDATA_DIR) / "haproxy" / (name + ".cfg"); }

const std::string kStateDir = "/var/lib/kecs/runtime/lb/0123456789abcdef";

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(HaproxyConfigGolden, ApplicationLoadBalancer) {
  testing::ExpectGoldenText(Golden("alb"), RenderHaproxyConfig(Alb(), Inputs(), kStateDir));
}

TEST(HaproxyConfigGolden, NetworkLoadBalancerChecksAndTerminatesTls) {
  std::string cfg = RenderHaproxyConfig(Nlb(), Inputs(), kStateDir);
  // The kernel forwards TCP and UDP; HAProxy terminates the TLS listener only.
  EXPECT_FALSE(Contains(cfg, "frontend ft_cccccccccccccccc")) << cfg;
  EXPECT_TRUE(Contains(cfg, "frontend ft_dddddddddddddddd_n0\n  mode tcp\n  bind 10.0.1.10:8443 ssl crt ")) << cfg;
  EXPECT_EQ(ProxiedGroups(Nlb()), std::set<std::string>{kApi});
  testing::ExpectGoldenText(Golden("nlb"), cfg);
}

// A weighted forward's groups share [0, kWeightScale) in its map, by weight; a group of
// weight 0 or one the load balancer does not have gets no range, and the configuration
// holds no weights (so new weights change only the map).
TEST(HaproxyConfig, WeightedForwardsUseWeightMaps) {
  LoadBalancerSpec lb = Alb();
  auto maps = RenderWeightMaps(lb, kStateDir);
  const std::string path = WeightMapPath(kStateDir, "aaaaaaaaaaaaaaaa", "r000000000000002");
  EXPECT_EQ(path, kStateDir + "/w_aaaaaaaaaaaaaaaa_r000000000000002.map");
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(maps[path], std::string("0:299999 ") + kApi + "\n300000:999999 " + kWeb + "\n");
  std::string cfg = RenderHaproxyConfig(lb, Inputs(), kStateDir);
  EXPECT_TRUE(Contains(cfg, "set-var(txn.kecs_tg) rand(1000000),map_int(" + path + ")")) << cfg;

  LbRuleSpec& weighted = lb.listeners[0].rules[1];
  ASSERT_EQ(weighted.id, "r000000000000002");
  weighted.actions[0].forward[0].weight = 1;
  weighted.actions[0].forward[1].weight = 2;
  EXPECT_EQ(RenderWeightMaps(lb, kStateDir)[path],
            std::string("0:333332 ") + kApi + "\n333333:999999 " + kWeb + "\n");
  EXPECT_EQ(RenderHaproxyConfig(lb, Inputs(), kStateDir), cfg);
  // Every weight 0: an empty map, and the rule answers 503.
  weighted.actions[0].forward[0].weight = 0;
  weighted.actions[0].forward[1].weight = 0;
  EXPECT_EQ(RenderWeightMaps(lb, kStateDir)[path], "");
  EXPECT_EQ(RenderHaproxyConfig(lb, Inputs(), kStateDir), cfg);
  // A group keeps its backends at weight 0 (use_backend lines), so that weights can move
  // to it without a new configuration.
  weighted.actions[0].forward[0].weight = 1;
  EXPECT_EQ(RenderWeightMaps(lb, kStateDir)[path], std::string("0:999999 ") + kApi + "\n");
  std::string one = RenderHaproxyConfig(lb, Inputs(), kStateDir);
  EXPECT_EQ(one, cfg);
  EXPECT_TRUE(Contains(one, std::string("use_backend bk_") + kWeb + "_n0 if")) << one;
}

TEST(HaproxyConfig, IsDeterministic) {
  EXPECT_EQ(RenderHaproxyConfig(Alb(), Inputs(), kStateDir), RenderHaproxyConfig(Alb(), Inputs(), kStateDir));
}

TEST(HaproxyConfig, XffModes) {
  LoadBalancerSpec lb = Alb();
  lb.xff_mode = "remove";
  EXPECT_NE(RenderHaproxyConfig(lb, Inputs(), kStateDir).find("http-request del-header X-Forwarded-For"),
            std::string::npos);
  lb.xff_mode = "preserve";
  std::string cfg = RenderHaproxyConfig(lb, Inputs(), kStateDir);
  EXPECT_EQ(cfg.find("X-Forwarded-For"), std::string::npos);
  EXPECT_NE(cfg.find("X-Forwarded-Proto https"), std::string::npos);
  lb.xff_mode = "append";
  lb.xff_client_port = true;
  EXPECT_NE(RenderHaproxyConfig(lb, Inputs(), kStateDir).find("%[src]:%[src_port]"), std::string::npos);
}

TEST(HaproxyConfig, HostGetsTheListenerPortUnlessPreservedOrTheSchemes) {
  LoadBalancerSpec lb = Alb();
  const std::string rule = "http-request set-header Host \"%[req.hdr(host)]:";
  // Ports 80 (HTTP) and 443 (HTTPS): nothing appended.
  EXPECT_EQ(RenderHaproxyConfig(lb, Inputs(), kStateDir).find(rule), std::string::npos);
  lb.listeners[0].port = 8080;
  std::string cfg = RenderHaproxyConfig(lb, Inputs(), kStateDir);
  EXPECT_NE(cfg.find(rule + "8080\" if { req.hdr(host) -m found } !{ req.hdr(host) -m reg :[0-9]+$ }"),
            std::string::npos)
      << cfg;
  lb.preserve_host_header = true;
  EXPECT_EQ(RenderHaproxyConfig(lb, Inputs(), kStateDir).find(rule), std::string::npos);
}

TEST(HaproxyConfig, ACertificateMadeAgainChangesTheConfiguration) {
  ProxyInputs in = Inputs();
  std::string before = RenderHaproxyConfig(Alb(), in, kStateDir);
  in.certificate_fingerprint = "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35";
  std::string after = RenderHaproxyConfig(Alb(), in, kStateDir);
  EXPECT_NE(before, after);
  EXPECT_TRUE(Contains(after, "\n# certificate sha256 d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35\n"));
}

TEST(HaproxyConfig, HttpsListenersApplyTheirSslPolicy) {
  LoadBalancerSpec lb = Alb();
  auto with = [&](const std::string& policy) {
    lb.listeners[1].ssl_policy = policy;
    return RenderHaproxyConfig(lb, Inputs(), kStateDir);
  };
  // No policy recorded: the API's default, ELBSecurityPolicy-2016-08 (TLS 1.0 to 1.2).
  std::string cfg = with("");
  EXPECT_TRUE(Contains(cfg, "ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.2 ciphers ECDHE-ECDSA-AES128-GCM-SHA256:")) << cfg;
  EXPECT_TRUE(Contains(cfg, ":AES256-SHA:@SECLEVEL=0 ")) << cfg;
  cfg = with("ELBSecurityPolicy-TLS13-1-2-2021-06");
  EXPECT_TRUE(Contains(cfg, "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers ECDHE-ECDSA-AES128-GCM-SHA256:")) << cfg;
  EXPECT_TRUE(Contains(cfg, " ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"))
      << cfg;
  EXPECT_FALSE(Contains(cfg, "SECLEVEL")) << cfg;
  cfg = with("ELBSecurityPolicy-TLS13-1-3-2021-06");
  EXPECT_TRUE(Contains(cfg, "ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256:")) << cfg;
  EXPECT_FALSE(Contains(cfg, " ciphers ")) << cfg;
  // A policy AWS has and the table does not: the versions its name gives, never none.
  cfg = with("ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04");
  EXPECT_TRUE(Contains(cfg, "ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3 namespace")) << cfg;
  cfg = with("ELBSecurityPolicy-FS-1-2-Res-2020-10");
  EXPECT_TRUE(Contains(cfg, "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 namespace")) << cfg;
}

TEST(HaproxyConfig, DropsInvalidHeaderFieldsWhenAsked) {
  LoadBalancerSpec lb = Alb();
  const std::string rule = "http-request del-header [^-A-Za-z0-9] -m reg";
  EXPECT_EQ(RenderHaproxyConfig(lb, Inputs(), kStateDir).find(rule), std::string::npos);
  lb.drop_invalid_header_fields = true;
  std::string cfg = RenderHaproxyConfig(lb, Inputs(), kStateDir);
  // Before the first rule's ACLs, in every frontend.
  size_t at = cfg.find(rule);
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(at, cfg.find("  acl r1c1"));
  size_t frontends = 0, rules = 0;
  for (size_t p = cfg.find("\nfrontend "); p != std::string::npos; p = cfg.find("\nfrontend ", p + 1)) ++frontends;
  for (size_t p = cfg.find(rule); p != std::string::npos; p = cfg.find(rule, p + 1)) ++rules;
  EXPECT_EQ(rules, frontends);
}

// A file HAProxy can load as `crt`: a self-signed certificate and its key.
std::string MakeCertificate(const std::string& dir) {
  std::string key = dir + "/key.pem", crt = dir + "/crt.pem";
  auto r = RunProcess({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test", "-days",
                       "1", "-keyout", key, "-out", crt},
                      std::chrono::seconds(60));
  if (!r.ok() || r->exit_code != 0) return "";
  std::ifstream k(key), c(crt);
  std::ofstream out(dir + "/bundle.pem");
  out << c.rdbuf() << k.rdbuf();
  return dir + "/bundle.pem";
}

// HAProxy accepts what the renderer writes. Without namespaces (they need root), as a node
// with no namespace name renders.
TEST(HaproxyConfig, HaproxyAcceptsRenderedConfigs) {
  if (access(kHaproxy, X_OK) != 0) GTEST_SKIP() << kHaproxy << " is not installed (scripts/install-deps.sh)";
  testing::TempDir dir;
  ProxyInputs in = Inputs(false);
  in.certificate_pem_path = MakeCertificate(dir.path());
  ASSERT_FALSE(in.certificate_pem_path.empty()) << "openssl could not make a test certificate";
  std::ofstream(dir.path() + "/servers.state") << "1\n";  // as LbProxies starts with
  LoadBalancerSpec dropping = Alb();
  dropping.drop_invalid_header_fields = true;
  dropping.listeners[0].port = 8080;  // and a Host header that gets the port
  LoadBalancerSpec tls13 = Alb();
  tls13.listeners[1].ssl_policy = "ELBSecurityPolicy-TLS13-1-3-2021-06";
  LoadBalancerSpec tls12 = Alb();
  tls12.listeners[1].ssl_policy = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06";
  for (const auto& lb : {Alb(), Nlb(), dropping, tls13, tls12}) {
    std::string cfg = RenderHaproxyConfig(lb, in, dir.path());
    EXPECT_EQ(cfg.find("namespace"), std::string::npos);
    for (const auto& [map, text] : RenderWeightMaps(lb, dir.path())) std::ofstream(map, std::ios::trunc) << text;
    std::string path = dir.path() + "/haproxy.cfg";
    std::ofstream(path, std::ios::trunc) << cfg;
    auto r = RunProcess({kHaproxy, "-c", "-f", path}, std::chrono::seconds(30));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->exit_code, 0) << r->out << r->err << "\nconfig:\n" << cfg;
    EXPECT_EQ(r->err.find("WARNING"), std::string::npos) << r->err;
  }
}

TEST(HaproxySlots, KeepSlotsAndFillTheLowestFree) {
  LoadBalancerSpec lb = Alb();
  ServerSlots first = AssignSlots(lb, {});
  ASSERT_EQ(first[kApi].size(), 8u);
  EXPECT_EQ(first[kApi][0], "10.0.1.20:8080");
  EXPECT_EQ(first[kApi][1], "10.0.2.20:8080");
  EXPECT_EQ(first[kApi][2], "");
  // The first target leaves, a new one comes: it takes slot 1, the second stays in 2.
  lb.target_groups[0].targets = {Target("10.0.2.20", 8080), Target("10.0.3.20", 8080)};
  ServerSlots second = AssignSlots(lb, first);
  ASSERT_EQ(second[kApi].size(), 8u);
  EXPECT_EQ(second[kApi][0], "10.0.3.20:8080");
  EXPECT_EQ(second[kApi][1], "10.0.2.20:8080");
  // More targets than slots: the group grows to a multiple of 8 with 4 free.
  lb.target_groups[0].targets.clear();
  for (int i = 0; i < 9; ++i) lb.target_groups[0].targets.push_back(Target("10.0.4." + std::to_string(i), 80));
  ServerSlots third = AssignSlots(lb, second);
  EXPECT_EQ(third[kApi].size(), 16u);
  EXPECT_EQ(third[kApi][8], "10.0.4.8:80");
  EXPECT_EQ(SlotKey(Target("fd00::1", 80)), "[fd00::1]:80");
}

TEST(HaproxyAdmin, ParsesServersState) {
  std::string text =
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
      "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
      "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
      "srv_check_addr srv_agent_addr srv_agent_port\n"
      "3 bk_1_n0 1 s1 10.0.1.20 2 0 1 1 6 15 3 3 6 0 0 0 - 8080 - 0 0 - - 0\n"
      "3 bk_1_n0 2 s2 0.0.0.0 0 5 1 1 0 1 0 0 6 0 0 0 - 0 - 0 0 - - 0\n";
  auto rows = haproxy::ParseServersState(text);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].backend, "bk_1_n0");
  EXPECT_EQ(rows[0].server, "s1");
  EXPECT_EQ(rows[0].addr, "10.0.1.20");
  EXPECT_EQ(rows[0].port, 8080);
  EXPECT_EQ(rows[0].op_state, 2);
  EXPECT_EQ(rows[1].admin_state, 5);
}

TEST(HaproxyAdmin, ParsesStat) {
  std::string csv =
      "# pxname,svname,qcur,scur,status,check_status,check_code\n"
      "ft,FRONTEND,,3,OPEN,,\n"
      "bk_1_n0,s1,1,2,UP,L7OK,200\n"
      "bk_1_n0,s2,0,0,DOWN,* L7STS,503\n"
      "bk_1_n0,BACKEND,1,2,UP,,\n";
  auto stat = haproxy::ParseStat(csv);
  ASSERT_EQ(stat.size(), 2u);
  EXPECT_EQ(stat["bk_1_n0/s1"].status, "UP");
  EXPECT_EQ(stat["bk_1_n0/s1"].scur, 2);
  EXPECT_EQ(stat["bk_1_n0/s1"].qcur, 1);
  EXPECT_EQ(stat["bk_1_n0/s2"].scur, 0);
  EXPECT_EQ(stat["bk_1_n0/s2"].check_status, "L7STS");
  EXPECT_TRUE(stat["bk_1_n0/s2"].check_running);
  EXPECT_FALSE(stat["bk_1_n0/s1"].check_running);
  EXPECT_EQ(stat["bk_1_n0/s2"].check_code, "503");
}

TEST(HaproxyAdmin, RecognisesRefusals) {
  EXPECT_TRUE(haproxy::CommandFailed("No such server.\n"));
  EXPECT_TRUE(haproxy::CommandFailed("Unknown command: 'foo'\n"));
  EXPECT_FALSE(haproxy::CommandFailed("\n"));
  EXPECT_FALSE(haproxy::CommandFailed("IP changed from '0.0.0.0' to '10.0.0.1', port changed from '0' to '80' by "
                                      "'stats socket command'\n"));
  EXPECT_EQ(haproxy::InfoField("Name: HAProxy\nPid: 4242\n", "Pid"), "4242");
}

// ---- Target health from `show stat` (Observe's core).

haproxy::ServerStat Row(const std::string& status, const std::string& check, const std::string& code = "") {
  haproxy::ServerStat s;
  s.status = status;
  s.check_status = check;
  s.check_code = code;
  return s;
}

class TargetHealth : public ::testing::Test {
 protected:
  // The api group's first target (slot s1) on both nodes.
  std::vector<TargetObservation> Observe(const haproxy::ServerStat& n0, const haproxy::ServerStat& n1,
                                         model::LbType type = model::LbType::kApplication) {
    LoadBalancerSpec lb = type == model::LbType::kApplication ? Alb() : Nlb();
    lb.target_groups.resize(1);
    lb.target_groups[0].targets.resize(1);
    std::map<std::string, haproxy::ServerStat> rows = {{std::string("bk_") + kApi + "_n0/s1", n0},
                                                       {std::string("bk_") + kApi + "_n1/s1", n1}};
    return TargetHealthFromStat(lb, AssignSlots(lb, {}), &rows, memo_, now_);
  }
  TargetObservation One(const haproxy::ServerStat& n0, const haproxy::ServerStat& n1,
                        model::LbType type = model::LbType::kApplication) {
    auto obs = Observe(n0, n1, type);
    EXPECT_EQ(obs.size(), 1u);
    return obs.empty() ? TargetObservation{} : obs[0];
  }
  TargetMemo memo_;
  double now_ = 1000;
};

TEST_F(TargetHealth, HealthyOnlyWhenEveryNodeSaysUp) {
  auto o = One(Row("UP", "L7OK", "200"), Row("UP 1/2", "L7OK", "200"));
  EXPECT_EQ(o.state, TargetHealthState::kHealthy);
  EXPECT_EQ(o.target_group_id, kApi);
  EXPECT_EQ(o.target_id, "10.0.1.20");
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(One(Row("UP", "L7OK"), Row("DOWN 1/3", "L7OK")).state, TargetHealthState::kInitial);
}

TEST_F(TargetHealth, InitialUntilTheChecksConclude) {
  auto o = One(Row("DOWN", "INI"), Row("DOWN 1/3", "L7OK"));
  EXPECT_EQ(o.state, TargetHealthState::kInitial);
  EXPECT_EQ(o.reason, "Elb.InitialHealthChecking");
  EXPECT_EQ(o.description, "Initial health checks in progress");
}

TEST_F(TargetHealth, ReasonsFromTheLastCheck) {
  ASSERT_EQ(One(Row("UP", "L7OK"), Row("UP", "L7OK")).state, TargetHealthState::kHealthy);  // healthy once
  auto codes = One(Row("UP", "L7OK"), Row("DOWN", "L7STS", "503"));
  EXPECT_EQ(codes.state, TargetHealthState::kUnhealthy);
  EXPECT_EQ(codes.reason, "Target.ResponseCodeMismatch");
  EXPECT_EQ(codes.description, "Health checks failed with these codes: [503]");
  auto timeout = One(Row("DOWN", "L7TOUT"), Row("DOWN", "L4TOUT"));
  EXPECT_EQ(timeout.reason, "Target.Timeout");
  EXPECT_EQ(timeout.description, "Request timed out");
  auto refused = One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON"));
  EXPECT_EQ(refused.reason, "Target.FailedHealthChecks");
  EXPECT_EQ(refused.description, "Health checks failed");
  // A network load balancer has only Target.FailedHealthChecks.
  One(Row("UP", "L4OK"), Row("UP", "L4OK"), model::LbType::kNetwork);  // healthy once
  auto nlb_timeout = One(Row("DOWN", "L4TOUT"), Row("DOWN", "L4TOUT"), model::LbType::kNetwork);
  EXPECT_EQ(nlb_timeout.reason, "Target.FailedHealthChecks");
}

TEST_F(TargetHealth, NeverHealthyStaysInitialUntilTheThresholdOfFailures) {
  // Alb(): checks every 10 s, unhealthy after 2 failures in a row.
  auto first = One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON"));
  EXPECT_EQ(first.state, TargetHealthState::kInitial);
  EXPECT_EQ(first.reason, "Elb.InitialHealthChecking");
  now_ += 9.5;
  EXPECT_EQ(One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON")).state, TargetHealthState::kInitial);
  now_ += 0.5;
  auto second = One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON"));
  EXPECT_EQ(second.state, TargetHealthState::kUnhealthy);
  EXPECT_EQ(second.reason, "Target.FailedHealthChecks");
  // A pass in between starts the count again.
  memo_.clear();
  EXPECT_EQ(One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON")).state, TargetHealthState::kInitial);
  now_ += 5;
  EXPECT_EQ(One(Row("DOWN 1/3", "L7OK"), Row("DOWN 1/3", "L7OK")).state, TargetHealthState::kInitial);
  now_ += 5;
  EXPECT_EQ(One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON")).state, TargetHealthState::kInitial);
  // The proxy not answering loses nothing.
  LoadBalancerSpec lb = Alb();
  lb.target_groups.resize(1);
  lb.target_groups[0].targets.resize(1);
  TargetHealthFromStat(lb, AssignSlots(lb, {}), nullptr, memo_, now_);
  now_ += 10;
  EXPECT_EQ(One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON")).state, TargetHealthState::kUnhealthy);
}

// HAProxy 2.6 shows a running check as "* L7STS" with check_code 0 (seen under load in
// LbProxyTest.FailsOpenReportsCodesAndDrains: "Health checks failed with these codes: [0]").
// Such a row keeps what the last pass concluded, and never makes up a reason of its own.
TEST_F(TargetHealth, ARunningCheckKeepsTheLastConclusion) {
  haproxy::ServerStat running = Row("DOWN", "L7STS", "0");
  running.check_running = true;
  // No conclusion yet: the running check is not one.
  EXPECT_EQ(One(running, running).state, TargetHealthState::kInitial);
  ASSERT_EQ(One(Row("UP", "L7OK"), Row("UP", "L7OK")).state, TargetHealthState::kHealthy);  // healthy once
  auto codes = One(Row("DOWN", "L7STS", "404"), Row("DOWN", "L7STS", "404"));
  ASSERT_EQ(codes.description, "Health checks failed with these codes: [404]");
  for (int pass = 0; pass < 2; ++pass) {
    auto o = One(running, Row("DOWN", "L7STS", "404"));
    EXPECT_EQ(o.reason, "Target.ResponseCodeMismatch");
    EXPECT_EQ(o.description, "Health checks failed with these codes: [404]") << "the second node's row concludes";
    o = One(running, running);
    EXPECT_EQ(o.state, TargetHealthState::kUnhealthy);
    EXPECT_EQ(o.description, "Health checks failed with these codes: [404]") << "pass " << pass;
  }
}

TEST_F(TargetHealth, RecoveringTargetStaysUnhealthyUntilUp) {
  ASSERT_EQ(One(Row("UP", "L7OK"), Row("UP", "L7OK")).state, TargetHealthState::kHealthy);  // healthy once
  EXPECT_EQ(One(Row("DOWN", "L4CON"), Row("DOWN", "L4CON")).state, TargetHealthState::kUnhealthy);
  auto rising = One(Row("DOWN 1/3", "L7OK"), Row("DOWN 1/3", "L7OK"));
  EXPECT_EQ(rising.state, TargetHealthState::kUnhealthy);
  EXPECT_EQ(rising.reason, "Target.FailedHealthChecks");
  EXPECT_EQ(One(Row("UP", "L7OK"), Row("UP", "L7OK")).state, TargetHealthState::kHealthy);
}

TEST_F(TargetHealth, DrainingAndUncheckedFollowTheirChecks) {
  EXPECT_EQ(One(Row("DRAIN", "L7OK"), Row("no check", "")).state, TargetHealthState::kHealthy);
  EXPECT_EQ(One(Row("DRAIN", "L4CON"), Row("UP", "L7OK")).state, TargetHealthState::kUnhealthy);
}

TEST_F(TargetHealth, ConnectionsOfADrainingTargetAreCountedOnEveryNode) {
  LoadBalancerSpec lb = Alb();
  lb.target_groups.resize(1);
  lb.target_groups[0].targets.resize(1);
  haproxy::ServerStat n0 = Row("DRAIN", "L7OK"), n1 = Row("DRAIN", "L7OK"), all0, all1;
  n0.scur = 2;
  n1.qcur = 1;
  all1.scur = 4;  // through the fail-open backend (no target healthy)
  const std::string api = std::string("bk_") + kApi;
  std::map<std::string, haproxy::ServerStat> rows = {
      {api + "_n0/s1", n0}, {api + "_n1/s1", n1}, {api + "_n0_all/s1", all0}, {api + "_n1_all/s1", all1}};
  ServerSlots slots = AssignSlots(lb, {});
  auto connections = [&](const LoadBalancerSpec& spec, bool old_workers = false) {
    return TargetHealthFromStat(spec, slots, &rows, memo_, now_, old_workers)[0].connections;
  };
  // Not draining in the spec: not counted (HAProxy may still send it new ones).
  EXPECT_EQ(connections(lb), -1);
  lb.target_groups[0].targets[0].draining = true;
  EXPECT_EQ(connections(lb), 7);
  // Workers of an earlier configuration still run: their requests are not in the rows.
  EXPECT_EQ(connections(lb, true), -1);
  for (auto& [name, row] : rows) row.scur = row.qcur = 0;
  EXPECT_EQ(connections(lb), 0);
  // A network load balancer's traffic does not pass through HAProxy: not known.
  LoadBalancerSpec nlb = lb;
  nlb.type = model::LbType::kNetwork;
  EXPECT_EQ(connections(nlb), -1);
  // A node without the server's rows, checked or fail-open: not known.
  rows.erase(api + "_n1_all/s1");
  EXPECT_EQ(connections(lb), -1);
  rows[api + "_n1_all/s1"] = all1;
  rows.erase(api + "_n0/s1");
  EXPECT_EQ(connections(lb), -1);
}

TEST(HaproxyAdmin, FindsOldWorkersInShowProc) {
  const std::string now =
      "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
      "883             master          1 [failed: 0]   0d00h00m09s     2.6.12-1+deb12u4\n"
      "# workers\n"
      "901             worker          0               0d00h00m02s     2.6.12-1+deb12u4\n"
      "# programs\n\n";
  EXPECT_FALSE(haproxy::HasOldWorkers(now));
  const std::string reloading =
      "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
      "883             master          1 [failed: 0]   0d00h00m09s     2.6.12-1+deb12u4\n"
      "# workers\n"
      "901             worker          0               0d00h00m02s     2.6.12-1+deb12u4\n"
      "# old workers\n"
      "885             worker          1               0d00h00m09s     2.6.12-1+deb12u4\n"
      "# programs\n\n";
  EXPECT_TRUE(haproxy::HasOldWorkers(reloading));
}

TEST_F(TargetHealth, UnavailableWithoutTheProxyAndRegisteringWithoutASlot) {
  LoadBalancerSpec lb = Alb();
  auto none = TargetHealthFromStat(lb, AssignSlots(lb, {}), nullptr, memo_, now_);
  ASSERT_EQ(none.size(), 3u);
  for (const auto& o : none) EXPECT_EQ(o.state, TargetHealthState::kUnavailable);
  std::map<std::string, haproxy::ServerStat> rows;
  auto fresh = TargetHealthFromStat(lb, {}, &rows, memo_, now_);
  ASSERT_EQ(fresh.size(), 3u);
  EXPECT_EQ(fresh[0].reason, "Elb.RegistrationInProgress");
  EXPECT_EQ(fresh[0].description, "Target registration is in progress");
}

}  // namespace
}  // namespace kecs::runtime::local
