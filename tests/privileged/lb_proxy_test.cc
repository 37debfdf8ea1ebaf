// LbProxies (runtime/local/lb_proxy.h) for real (root: namespaces): HAProxy started by
// kecs binds an ALB listener inside a node namespace and routes by path to targets in
// another namespace (python3 http.server processes), its health checks see a target that
// stops, targets are added and removed through the runtime API without a reload (the
// master's pid and the worker's stay the same), a new LbProxies adopts the running proxy
// instead of starting a second one, and Remove stops it and takes its files.
//
// Topology: namespace <p>-lbn (the node, 10.77.0.1/24) and <p>-lbt (the targets,
// 10.77.0.2, .3 on one veth), private to the test so the addresses clash with nothing.
// TearDown stops HAProxy and the servers, and sweeps the prefix, also after a failure.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "privileged/privileged.h"
#include "base/strings.h"
#include "runtime/local/haproxy_admin.h"
#include "runtime/local/lb_proxy.h"
#include "unit/support/lb_specs.h"

extern char** environ;

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;
using model::TargetHealthState;
using privileged::Sh;
using privileged::WaitFor;
using testing::Forward;
using testing::Target;

constexpr const char* kHaproxy = "/usr/sbin/haproxy";
constexpr const char* kLbId = "00000000000000a1";
constexpr const char* kApi = "00000000000000b1";
constexpr const char* kWeb = "00000000000000b2";

// Whether `pid` runs (a zombie does not: HAProxy's master is re-parented to init).
bool Alive(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

class LbProxyTest : public privileged::PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    if (access(kHaproxy, X_OK) != 0) GTEST_SKIP() << kHaproxy << " is not installed (scripts/install-deps.sh)";
    dir_ = privileged::MakeTempDir("lb");
    ASSERT_FALSE(dir_.empty());
    node_ns_ = P() + "-lbn";
    targets_ns_ = P() + "-lbt";
    std::string a = privileged::LinkName("hv0"), b = privileged::LinkName("hv1");
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "netns", "add", node_ns_},
             {"ip", "netns", "add", targets_ns_},
             {"ip", "link", "add", a, "type", "veth", "peer", "name", b},
             {"ip", "link", "set", a, "netns", node_ns_},
             {"ip", "link", "set", b, "netns", targets_ns_},
             {"ip", "-n", node_ns_, "addr", "add", "10.77.0.1/24", "dev", a},
             {"ip", "-n", targets_ns_, "addr", "add", "10.77.0.2/24", "dev", b},
             {"ip", "-n", targets_ns_, "addr", "add", "10.77.0.3/24", "dev", b},
             {"ip", "-n", node_ns_, "link", "set", a, "up"},
             {"ip", "-n", targets_ns_, "link", "set", b, "up"},
             {"ip", "-n", node_ns_, "link", "set", "lo", "up"},
             {"ip", "-n", targets_ns_, "link", "set", "lo", "up"},
         }) {
      auto r = Sh(argv);
      ASSERT_EQ(r.code, 0) << Join(argv, " ") << ": " << r.out;
    }
    // Three sites: "A" under /api/ on .2:8080, "B" under /web/ on .3:8080, "C" under /api/
    // on .3:8081.
    for (const auto& [site, path] : std::vector<std::pair<std::string, std::string>>{
             {"a", "api"}, {"b", "web"}, {"c", "api"}}) {
      fs::create_directories(dir_ + "/sites/" + site + "/" + path);
      std::ofstream(dir_ + "/sites/" + site + "/" + path + "/index.html") << "site-" << site << "\n";
      std::ofstream(dir_ + "/sites/" + site + "/index.html") << "root-" << site << "\n";
    }
    server_a_ = Serve("10.77.0.2", 8080, "a");
    server_b_ = Serve("10.77.0.3", 8080, "b");
    server_c_ = Serve("10.77.0.3", 8081, "c");
    ASSERT_TRUE(server_a_ > 0 && server_b_ > 0 && server_c_ > 0);
    proxies_ = std::make_unique<LbProxies>(Options());
  }

  void TearDown() override {
    if (proxies_) (void)proxies_->Remove(kLbId);
    // A proxy started by an adopting instance has the same directory: make sure.
    if (!dir_.empty()) (void)LbProxies(Options()).Remove(kLbId);
    for (pid_t pid : {server_a_, server_b_, server_c_}) Stop(pid);
    if (!dir_.empty()) privileged::RemoveTree(dir_);
    PrivilegedTest::TearDown();
  }

  ProxyOptions Options() const {
    ProxyOptions o;
    o.haproxy = kHaproxy;
    o.dir = dir_ + "/lb";
    return o;
  }

  pid_t Serve(const std::string& ip, int port, const std::string& site) {
    std::vector<std::string> argv = {"/usr/sbin/ip", "netns", "exec", targets_ns_, "/usr/bin/python3", "-m",
                                     "http.server", std::to_string(port), "--bind", ip,
                                     "--directory", dir_ + "/sites/" + site};
    std::vector<char*> args;
    for (auto& s : argv) args.push_back(s.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
  }

  static void Stop(pid_t& pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }

  LoadBalancerSpec Spec() const {
    LoadBalancerSpec lb;
    lb.id = kLbId;
    lb.name = "priv";
    LbNodeSpec n;
    n.ip = "10.77.0.1";
    lb.nodes = {n};
    for (const auto& [id, target] : {std::pair{kApi, Target("10.77.0.2", 8080)}, {kWeb, Target("10.77.0.3", 8080)}}) {
      LbTargetGroupSpec tg;
      tg.id = id;
      tg.health_check.interval_s = 1;
      tg.health_check.timeout_s = 1;
      tg.health_check.healthy_threshold = 2;
      tg.health_check.unhealthy_threshold = 2;
      tg.targets = {target};
      lb.target_groups.push_back(tg);
    }
    LbListenerSpec l;
    l.id = "00000000000000c1";
    l.port = 80;
    l.default_actions = {testing::FixedResponse("404", "no route")};
    LbRuleSpec api;
    api.id = "00000000000000d1";
    api.priority = 1;
    api.conditions = {model::RuleCondition{"path-pattern", {"/api/*"}}};
    api.actions = {Forward(kApi)};
    LbRuleSpec web = api;
    web.id = "00000000000000d2";
    web.priority = 2;
    web.conditions = {model::RuleCondition{"path-pattern", {"/web/*"}}};
    web.actions = {Forward(kWeb)};
    l.rules = {api, web};
    lb.listeners = {l};
    return lb;
  }

  ProxyInputs Inputs() const {
    ProxyInputs in;
    in.node_netns = {node_ns_};
    return in;
  }

  // The body of GET <path> through the load balancer, from the node's namespace (with
  // more curl arguments in `extra`).
  std::string Get(const std::string& path, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"ip", "netns", "exec", node_ns_, "curl", "-s", "-m", "5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("http://10.77.0.1" + path);
    return Sh(argv).out;
  }

  int MasterPid() {
    std::ifstream in(dir_ + "/lb/" + kLbId + "/haproxy.pid");
    int pid = 0;
    in >> pid;
    return pid;
  }

  std::string WorkerPids() {
    return Sh({"pgrep", "-P", std::to_string(MasterPid())}).out;
  }

  std::optional<TargetObservation> Health(LbProxies& p, const LoadBalancerSpec& lb, const std::string& target,
                                          int port) {
    auto obs = p.Observe(lb);
    if (!obs.ok()) return std::nullopt;
    for (const auto& o : *obs) {
      if (o.target_id == target && o.port == port) return o;
    }
    return std::nullopt;
  }

  bool WaitForState(const LoadBalancerSpec& lb, const std::string& target, int port, TargetHealthState want) {
    return WaitFor(
        [&] {
          auto o = Health(*proxies_, lb, target, port);
          return o && o->state == want;
        },
        std::chrono::seconds(30));
  }

  std::string dir_, node_ns_, targets_ns_;
  pid_t server_a_ = -1, server_b_ = -1, server_c_ = -1;
  std::unique_ptr<LbProxies> proxies_;
};

TEST_F(LbProxyTest, RoutesChecksAndChangesTargetsWithoutReload) {
  LoadBalancerSpec lb = Spec();
  Status st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  int master = MasterPid();
  ASSERT_GT(master, 0);
  // New targets start initial and turn healthy after `rise` checks.
  ASSERT_TRUE(WaitForState(lb, "10.77.0.2", 8080, TargetHealthState::kHealthy));
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8080, TargetHealthState::kHealthy));

  EXPECT_EQ(Get("/api/"), "site-a\n");
  EXPECT_EQ(Get("/web/"), "site-b\n");
  EXPECT_EQ(Get("/other"), "no route");

  // Runtime API: add C to the api group, then take A out. No reload: same worker.
  std::string workers = WorkerPids();
  ASSERT_FALSE(workers.empty());
  lb.target_groups[0].targets.push_back(Target("10.77.0.3", 8081));
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto fresh = Health(*proxies_, lb, "10.77.0.3", 8081);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_NE(fresh->state, TargetHealthState::kUnhealthy);
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8081, TargetHealthState::kHealthy));
  EXPECT_TRUE(WaitFor([&] { return Get("/api/") == "site-c\n"; }, std::chrono::seconds(10)));
  lb.target_groups[0].targets.erase(lb.target_groups[0].targets.begin());
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Get("/api/"), "site-c\n");
  EXPECT_EQ(MasterPid(), master);
  EXPECT_EQ(WorkerPids(), workers) << "target changes must not reload HAProxy";
  std::ifstream cfg(dir_ + "/lb/" + kLbId + "/haproxy.cfg");
  std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("10.77.0.3:8081"), std::string::npos) << "haproxy.cfg keeps runtime changes";
  EXPECT_EQ(text.find("10.77.0.2:8080"), std::string::npos);

  // A target that stops answering goes unhealthy, with AWS's reason.
  Stop(server_b_);
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8080, TargetHealthState::kUnhealthy));
  auto down = Health(*proxies_, lb, "10.77.0.3", 8080);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->reason, "Target.FailedHealthChecks");
  EXPECT_EQ(down->description, "Health checks failed");

  // Another change (a rule) reloads: a new worker, the same master, health kept.
  lb.listeners[0].rules.pop_back();
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(MasterPid(), master);
  EXPECT_EQ(Get("/web/"), "no route");
  auto kept = Health(*proxies_, lb, "10.77.0.3", 8081);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->state, TargetHealthState::kHealthy) << "the server-state file keeps health over a reload";

  // A restarted daemon adopts the running proxy.
  LbProxies adopting(Options());
  st = adopting.Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(MasterPid(), master);
  // One master and one worker (the worker of before the reload finishes and leaves).
  EXPECT_TRUE(WaitFor([&] { return Sh({"pgrep", "-c", "-f", dir_ + "/lb/" + kLbId + "/haproxy.cfg"}).out == "2\n"; }))
      << Sh({"pgrep", "-a", "-f", dir_ + "/lb/" + kLbId + "/haproxy.cfg"}).out;

  // Remove stops it and takes its files.
  st = proxies_->Remove(kLbId);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(WaitFor([&] { return !Alive(master); }));
  EXPECT_FALSE(fs::exists(dir_ + "/lb/" + kLbId));
}

// Listener rules with AWS's semantics, each answering with its own fixed response:
// path-pattern is case-sensitive, host-header case-insensitive without the port,
// http-header values case-insensitive wildcards, query-string URL-decoded (an empty key
// matches any), source-ip on the client address, conditions ANDed, priority order, and a
// redirect's templates.
TEST_F(LbProxyTest, RuleConditionsFollowAwsSemantics) {
  LoadBalancerSpec lb = Spec();
  lb.target_groups.clear();
  LbListenerSpec& l = lb.listeners[0];
  l.default_actions = {testing::FixedResponse("404", "default")};
  l.rules.clear();
  auto rule = [&](std::vector<model::RuleCondition> conditions, model::Action action) {
    LbRuleSpec r;
    r.priority = static_cast<int>(l.rules.size()) + 1;
    r.id = fmt::format("{:016x}", r.priority);
    r.conditions = std::move(conditions);
    r.actions = {std::move(action)};
    l.rules.push_back(std::move(r));
  };
  using Cond = model::RuleCondition;
  rule({Cond{"path-pattern", {"/prio*"}}}, testing::FixedResponse("200", "first"));
  rule({Cond{"path-pattern", {"/prio/x"}}}, testing::FixedResponse("200", "second"));
  rule({Cond{"path-pattern", {"/CaseSensitive/*"}}}, testing::FixedResponse("200", "path"));
  rule({Cond{"host-header", {"*.Example.com"}}}, testing::FixedResponse("200", "host"));
  Cond header{"http-header", {"prod-?"}};
  header.header_name = "X-Env";
  rule({header}, testing::FixedResponse("200", "header"));
  rule({Cond{"http-request-method", {"DELETE"}}}, testing::FixedResponse("200", "method"));
  Cond query{"query-string", {}};
  query.query = {{"q", "hello world*"}, {"", "flag"}};
  rule({query}, testing::FixedResponse("200", "query"));
  rule({Cond{"source-ip", {"192.0.2.0/24"}}, Cond{"path-pattern", {"/src"}}}, testing::FixedResponse("200", "wrong"));
  rule({Cond{"source-ip", {"10.77.0.0/24"}}, Cond{"path-pattern", {"/src"}}}, testing::FixedResponse("200", "source"));
  rule({Cond{"path-pattern", {"/multi"}}, Cond{"http-request-method", {"POST"}}}, testing::FixedResponse("200", "and"));
  model::Action redirect;
  redirect.type = model::ActionType::kRedirect;
  redirect.redirect_protocol = "HTTPS";
  redirect.redirect_path = "/new/#{path}";
  redirect.redirect_status = "HTTP_301";
  rule({Cond{"path-pattern", {"/old/*"}}}, redirect);
  Status st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();

  EXPECT_EQ(Get("/prio/x"), "first");
  EXPECT_EQ(Get("/CaseSensitive/a"), "path");
  EXPECT_EQ(Get("/casesensitive/a"), "default");
  EXPECT_EQ(Get("/x", {"-H", "Host: API.example.COM:8080"}), "host");
  EXPECT_EQ(Get("/x", {"-H", "Host: example.com"}), "default");
  EXPECT_EQ(Get("/x", {"-H", "X-Env: PROD-1"}), "header");
  EXPECT_EQ(Get("/x", {"-H", "x-env: prod-12"}), "default");
  EXPECT_EQ(Get("/x", {"-X", "DELETE"}), "method");
  EXPECT_EQ(Get("/x?q=Hello%20World%21"), "query");
  EXPECT_EQ(Get("/x?a=1&other=flag"), "query");
  EXPECT_EQ(Get("/x?q=bye"), "default");
  EXPECT_EQ(Get("/src"), "source");
  EXPECT_EQ(Get("/multi", {"-X", "POST"}), "and");
  EXPECT_EQ(Get("/multi"), "default");
  EXPECT_EQ(Get("/old/a?x=1", {"-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", "Host: h.test"}),
            "301 https://h.test:80/new/old/a?x=1");
}

// A weighted forward splits requests as its weights say (30/70 here, over 400 requests on
// keep-alive connections: the bounds are more than 4 standard deviations wide).
TEST_F(LbProxyTest, WeightedForwardSplitsTraffic) {
  LoadBalancerSpec lb = Spec();
  model::Action weighted;
  weighted.type = model::ActionType::kForward;
  weighted.forward = {{testing::TgArn(kApi), 30}, {testing::TgArn(kWeb), 70}};
  weighted.forward_given = true;
  lb.listeners[0].rules.clear();
  lb.listeners[0].default_actions = {weighted};
  Status st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(WaitForState(lb, "10.77.0.2", 8080, TargetHealthState::kHealthy));
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8080, TargetHealthState::kHealthy));
  std::vector<std::string> args;
  for (int i = 0; i < 399; ++i) args.push_back("http://10.77.0.1/");
  std::string out = Get("/", args);
  int a = 0, b = 0;
  for (size_t pos = 0; (pos = out.find("root-", pos)) != std::string::npos; pos += 5) {
    (out.compare(pos, 6, "root-a") == 0 ? a : b)++;
  }
  ASSERT_EQ(a + b, 400) << out.substr(0, 300);
  EXPECT_GE(a, 80);
  EXPECT_LE(a, 160);
}

// New weights of a weighted forward go through the weight map (runtime API): no reload,
// traffic follows at once, all weights 0 answer 503, and a restarted daemon that adopts
// the proxy puts the current weights in again.
TEST_F(LbProxyTest, WeightChangesNeedNoReload) {
  LoadBalancerSpec lb = Spec();
  auto weighted = [&](int api, int web) {
    model::Action a;
    a.type = model::ActionType::kForward;
    a.forward = {{testing::TgArn(kApi), api}, {testing::TgArn(kWeb), web}};
    a.forward_given = true;
    lb.listeners[0].rules.clear();
    lb.listeners[0].default_actions = {a};
    Status st = proxies_->Apply(lb, Inputs());
    EXPECT_TRUE(st.ok()) << st.ToString();
  };
  // The sites answering 20 requests, as "a"/"b" counts.
  auto split = [&] {
    std::vector<std::string> args;
    for (int i = 0; i < 19; ++i) args.push_back("http://10.77.0.1/");
    std::string out = Get("/", args);
    std::pair<int, int> n;
    for (size_t pos = 0; (pos = out.find("root-", pos)) != std::string::npos; pos += 5) {
      (out.compare(pos, 6, "root-a") == 0 ? n.first : n.second)++;
    }
    return n;
  };
  weighted(100, 0);
  ASSERT_TRUE(WaitForState(lb, "10.77.0.2", 8080, TargetHealthState::kHealthy));
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8080, TargetHealthState::kHealthy));
  EXPECT_EQ(split(), std::make_pair(20, 0));
  const int master = MasterPid();
  const std::string workers = WorkerPids();
  ASSERT_FALSE(workers.empty());
  std::ifstream cfg(dir_ + "/lb/" + kLbId + "/haproxy.cfg");
  const std::string before((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());

  weighted(0, 100);
  EXPECT_EQ(split(), std::make_pair(0, 20));
  weighted(1, 1);
  auto both = split();
  EXPECT_EQ(both.first + both.second, 20);
  EXPECT_GT(both.first, 0);
  EXPECT_GT(both.second, 0);
  weighted(0, 0);
  EXPECT_EQ(Sh({"ip", "netns", "exec", node_ns_, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                "http://10.77.0.1/"})
                .out,
            "503");
  weighted(0, 7);
  EXPECT_EQ(split(), std::make_pair(0, 20));
  EXPECT_EQ(MasterPid(), master);
  EXPECT_EQ(WorkerPids(), workers) << "weight changes must not reload HAProxy";
  std::ifstream after_cfg(dir_ + "/lb/" + kLbId + "/haproxy.cfg");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(after_cfg)), std::istreambuf_iterator<char>()), before);

  // A daemon that restarts adopts the proxy and puts its weights in (here it had been
  // stopped before the last change reached HAProxy: the files say web, HAProxy api).
  auto maps = RenderWeightMaps(lb, dir_ + "/lb/" + kLbId);
  ASSERT_EQ(maps.size(), 1u);
  std::string map_path = maps.begin()->first;
  const std::string admin = dir_ + "/lb/" + kLbId + "/admin.sock";
  auto version = haproxy::Command(admin, "prepare map " + map_path);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  std::string v(Trim(version->substr(version->rfind(':') + 1)));
  for (const std::string& cmd : {"add map @" + v + " " + map_path + " 0:999999 " + kApi,
                                 "commit map @" + v + " " + map_path}) {
    auto r = haproxy::Command(admin, cmd);
    ASSERT_TRUE(r.ok() && !haproxy::CommandFailed(*r)) << cmd << ": " << (r.ok() ? *r : r.status().ToString());
  }
  EXPECT_EQ(split(), std::make_pair(20, 0));
  LbProxies adopting(Options());
  Status st = adopting.Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(split(), std::make_pair(0, 20));
  EXPECT_EQ(WorkerPids(), workers);
}

// A group whose targets all fail their checks (a 404 from the check path) reports AWS's
// Target.ResponseCodeMismatch and still gets requests (fail open); a draining target gets
// no new requests, through the runtime API and after a reload alike.
TEST_F(LbProxyTest, FailsOpenReportsCodesAndDrains) {
  LoadBalancerSpec lb = Spec();
  lb.target_groups[0].health_check.path = "/nope";
  lb.target_groups[1].targets.push_back(Target("10.77.0.3", 8081));
  lb.listeners[0].default_actions = {Forward(kWeb)};
  Status st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(WaitForState(lb, "10.77.0.2", 8080, TargetHealthState::kUnhealthy));
  auto o = Health(*proxies_, lb, "10.77.0.2", 8080);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->reason, "Target.ResponseCodeMismatch");
  EXPECT_EQ(o->description, "Health checks failed with these codes: [404]");
  EXPECT_EQ(Get("/api/"), "site-a\n") << "a group with no healthy target fails open";

  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8081, TargetHealthState::kHealthy));
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8080, TargetHealthState::kHealthy));
  lb.target_groups[1].targets[1].draining = true;
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Get("/"), "root-b\n") << "a draining target gets no new requests";
  // Nothing in flight to it, and no older worker: its deregistration may end.
  auto drained = Health(*proxies_, lb, "10.77.0.3", 8081);
  ASSERT_TRUE(drained.has_value());
  EXPECT_EQ(drained->connections, 0);
  lb.listeners[0].rules.pop_back();  // a reload
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Get("/"), "root-b\n") << "still draining after a reload";
  lb.target_groups[1].targets[1].draining = false;
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(WaitFor([&] { return Get("/") == "root-c\n"; })) << "back in rotation";
}

// The load balancer's own errors, as an ALB's: 502 for a target that refuses the
// connection (at once: no retry), 503 for a group with no target at all; a target's own
// error statuses pass through.
TEST_F(LbProxyTest, ItsOwnErrorsAreAnAlbs) {
  LoadBalancerSpec lb = Spec();
  lb.target_groups[0].targets = {Target("10.77.0.2", 9)};  // nothing listens there
  lb.target_groups[0].health_check.enabled = false;
  lb.target_groups[1].targets.clear();
  Status st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::vector<std::string> status = {"-o", "/dev/null", "-w", "%{http_code}"};
  EXPECT_TRUE(WaitFor([&] { return Get("/api/", status) == "502"; }));
  EXPECT_NE(Get("/api/").find("<center><h1>502 Bad Gateway</h1></center>"), std::string::npos);
  EXPECT_EQ(Get("/web/", status), "503");
  EXPECT_NE(Get("/web/").find("<title>503 Service Temporarily Unavailable</title>"), std::string::npos);
  // A target's own 404 is passed on, not rewritten.
  lb.target_groups[1].targets = {Target("10.77.0.3", 8080)};
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(WaitFor([&] { return Get("/web/missing", status) == "404"; }));
}

// lb_cookie stickiness: a client that sends the AWSALB cookie back stays on one target;
// one that does not is balanced over both.
TEST_F(LbProxyTest, LbCookieKeepsAClientOnItsTarget) {
  LoadBalancerSpec lb = Spec();
  LbTargetGroupSpec& web = lb.target_groups[1];
  web.targets.push_back(Target("10.77.0.3", 8081));
  web.stickiness = true;
  web.stickiness_type = "lb_cookie";
  lb.listeners[0].default_actions = {Forward(kWeb)};
  Status st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8080, TargetHealthState::kHealthy));
  ASSERT_TRUE(WaitForState(lb, "10.77.0.3", 8081, TargetHealthState::kHealthy));
  std::vector<std::string> urls(9, "http://10.77.0.1/");
  std::string plain = Get("/", urls);
  EXPECT_NE(plain.find("root-b"), std::string::npos) << plain;
  EXPECT_NE(plain.find("root-c"), std::string::npos) << plain;
  std::vector<std::string> with_cookies = {"-b", ""};  // curl's cookie engine, in memory
  with_cookies.insert(with_cookies.end(), urls.begin(), urls.end());
  std::string sticky = Get("/", with_cookies);
  std::string first = sticky.substr(0, 7);
  ASSERT_TRUE(first == "root-b\n" || first == "root-c\n") << sticky;
  std::string all;
  for (int i = 0; i < 10; ++i) all += first;
  EXPECT_EQ(sticky, all);
}

// A proxy whose sockets are gone cannot be reloaded: Apply starts it afresh (one proxy,
// with the new configuration).
TEST_F(LbProxyTest, RestartsAProxyWhoseSocketsAreGone) {
  LoadBalancerSpec lb = Spec();
  Status st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  int master = MasterPid();
  ASSERT_GT(master, 0);
  fs::remove(dir_ + "/lb/" + kLbId + "/admin.sock");
  fs::remove(dir_ + "/lb/" + kLbId + "/master.sock");
  lb.listeners[0].default_actions = {testing::FixedResponse("418", "teapot")};
  st = proxies_->Apply(lb, Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_NE(MasterPid(), master);
  EXPECT_TRUE(WaitFor([&] { return !Alive(master); }));
  EXPECT_EQ(Get("/other"), "teapot");
  EXPECT_EQ(Sh({"pgrep", "-c", "-f", dir_ + "/lb/" + kLbId + "/haproxy.cfg"}).out, "2\n");
}

TEST_F(LbProxyTest, GarbageCollectStopsProxiesOfGoneLoadBalancers) {
  Status st = proxies_->Apply(Spec(), Inputs());
  ASSERT_TRUE(st.ok()) << st.ToString();
  int master = MasterPid();
  ASSERT_GT(master, 0);
  st = proxies_->GarbageCollect({kLbId});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(Alive(master)) << "a live load balancer's proxy stays";
  st = proxies_->GarbageCollect({});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(WaitFor([&] { return !Alive(master); }));
  EXPECT_FALSE(fs::exists(dir_ + "/lb/" + kLbId));
}

}  // namespace
}  // namespace kecs::runtime::local
