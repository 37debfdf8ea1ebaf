// The load balancer controller, driven pass by pass: no root, no thread of its own, no
// sleeps. A temporary store with a VPC, a subnet and a node ENI made by the real EC2 code,
// ELB records written through the converter, a FakeClock, and a runtime that records what
// it is asked to apply and returns scripted observations.
#include "reconcile/lb_controller.h"

#include <gtest/gtest.h>

#include <atomic>

#include "net/domain/vpc.h"
#include "runtime/simulated/simulated_runtime.h"
#include "state/records/elb.h"
#include "state/records/network.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

using model::TargetHealthState;

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr double kT0 = 1800000000;
constexpr const char* kLbId = "0123456789abcdef";
constexpr const char* kListenerId = "1111111111111111";
constexpr const char* kTgId = "2222222222222222";
constexpr const char* kOtherTgId = "3333333333333333";

class FakeRuntime : public runtime::SimulatedRuntime {
 public:
  std::vector<runtime::LoadBalancerSpec> applied;
  std::vector<std::string> deleted;
  std::optional<std::set<std::string>> collected;
  Status apply_error;
  std::map<std::string, Result<std::vector<runtime::TargetObservation>>> observations;  // by lb id

  Status ApplyLoadBalancer(const runtime::LoadBalancerSpec& lb) override {
    applied.push_back(lb);
    return apply_error;
  }
  Status DeleteLoadBalancer(const std::string& id) override {
    deleted.push_back(id);
    return Status::Ok();
  }
  Result<std::vector<runtime::TargetObservation>> ObserveTargets(const runtime::LoadBalancerSpec& lb) override {
    auto it = observations.find(lb.id);
    if (it == observations.end()) return std::vector<runtime::TargetObservation>{};
    return it->second;
  }
  void Script(const std::string& lb_id, Result<std::vector<runtime::TargetObservation>> r) {
    observations.insert_or_assign(lb_id, std::move(r));
  }
  Status GarbageCollectLoadBalancers(const std::set<std::string>& live) override {
    collected = live;
    return Status::Ok();
  }
};

runtime::TargetObservation Seen(const std::string& tg, const std::string& id, int port, TargetHealthState s,
                                std::string reason = "", std::string description = "") {
  runtime::TargetObservation o;
  o.target_group_id = tg;
  o.target_id = id;
  o.port = port;
  o.state = s;
  o.reason = std::move(reason);
  o.description = std::move(description);
  return o;
}

class LbControllerTest : public ::testing::Test {
 protected:
  model::LoadBalancer PutSecondLoadBalancer();
  model::TargetGroup DrainSecondTarget();
  std::vector<runtime::TargetObservation> Draining(int connections);
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    store_->OnCommit([this] { ++commits_; });
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
      net::Scope scope{kRegion, kAccount, kT0};
      ASSIGN_OR_RETURN(auto vpc, net::CreateVpc(tx, scope, *net::Ipv4Cidr::Parse("10.1.0.0/16"), false,
                                                Json::array(), "default", false));
      zone_ = net::Zones(kRegion).at(0);
      ASSIGN_OR_RETURN(auto subnet, net::CreateSubnet(tx, scope, vpc, *net::Ipv4Cidr::Parse("10.1.3.0/24"), zone_,
                                                      false, false, Json::array(), std::nullopt));
      net::EniSpec spec;
      spec.subnet = &subnet;
      spec.description = "ELB app/web/0123456789abcdef";
      spec.requester_managed = true;
      ASSIGN_OR_RETURN(auto eni, net::CreateEni(tx, scope, spec));
      vpc_ = vpc.id;
      subnet_ = subnet.id;
      eni_ = state::records::ReadEni(eni);
      return Status::Ok();
    }).ok());
    PutLb(NewLb(kLbId, "web"));
    model::Listener l;
    l.region = kRegion;
    l.id = kListenerId;
    l.load_balancer_id = kLbId;
    l.arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/" + std::string(kLbId) + "/" +
            kListenerId;
    l.port = 80;
    l.host_port = 31000;
    model::Action forward;
    forward.target_group_arn = TgArn(kTgId);
    l.default_actions = {forward};
    Put(l);
    model::TargetGroup tg = NewTg(kTgId, "api");
    tg.targets = {NewTarget("10.1.3.20", 8080), NewTarget("10.1.3.21", 0)};
    Put(tg);
    controller_ = std::make_unique<LbController>(*store_, runtime_, LbController::Options{}, clock_);
  }

  static std::string TgArn(const std::string& id) {
    return "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg-" + id + "/" + id;
  }

  model::LoadBalancer NewLb(const std::string& id, const std::string& name) {
    model::LoadBalancer lb;
    lb.region = kRegion;
    lb.id = id;
    lb.name = name;
    lb.arn = model::LoadBalancerArn(kRegion, kAccount, model::LbType::kApplication, name, id);
    lb.dns_name = name + "-1.us-east-1.elb.amazonaws.com";
    lb.vpc_id = vpc_;
    lb.nodes = {model::LbNode{zone_.name, zone_.id, subnet_, eni_.id, eni_.private_ip_address, ""}};
    lb.attributes = model::DefaultLoadBalancerAttributes(model::LbType::kApplication);
    model::SetValue(lb.attributes, "idle_timeout.timeout_seconds", "120");
    return lb;
  }

  model::TargetGroup NewTg(const std::string& id, const std::string& name) {
    model::TargetGroup tg;
    tg.region = kRegion;
    tg.id = id;
    tg.name = name;
    tg.arn = TgArn(id);
    tg.target_type = model::TargetType::kIp;
    tg.protocol = model::LbProtocol::kHttp;
    tg.port = 80;
    tg.vpc_id = vpc_;
    tg.protocol_version = "HTTP1";
    tg.health_check.path = "/";
    tg.health_check.matcher_http = "200";
    tg.attributes = model::DefaultTargetGroupAttributes(tg.target_type, tg.protocol);
    return tg;
  }

  model::Target NewTarget(const std::string& ip, int port) {
    model::Target t;
    t.id = ip;
    t.port = port;
    t.availability_zone = zone_.name;
    t.registered_at = clock_.Now();
    t.reason = "Elb.RegistrationInProgress";
    t.description = "Target registration is in progress";
    return t;
  }

  void PutLb(const model::LoadBalancer& lb) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutLoadBalancer(tx, lb); }).ok());
  }
  void Put(const model::Listener& l) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutListener(tx, l); }).ok());
  }
  void Put(const model::Rule& r) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutRule(tx, r); }).ok());
  }
  void Put(const model::TargetGroup& tg) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTargetGroup(tx, tg); }).ok());
  }

  model::LoadBalancer Lb(const std::string& id = kLbId) {
    model::LoadBalancer out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto lb, state::records::GetLoadBalancer(tx, kRegion, id));
      if (lb) out = *lb;
      return Status::Ok();
    }).ok());
    return out;
  }
  model::TargetGroup Tg(const std::string& id = kTgId) {
    model::TargetGroup out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto tg, state::records::GetTargetGroup(tx, kRegion, id));
      if (tg) out = *tg;
      return Status::Ok();
    }).ok());
    return out;
  }

  // A rule of the listener forwarding to `tg_id`.
  model::Rule NewRule(const std::string& id, int priority, const std::string& tg_id, const std::string& path) {
    model::Rule r;
    r.region = kRegion;
    r.id = id;
    r.listener_id = kListenerId;
    r.priority = priority;
    model::RuleCondition c;
    c.field = "path-pattern";
    c.values = {path};
    r.conditions = {c};
    model::Action a;
    a.target_group_arn = TgArn(tg_id);
    r.actions = {a};
    return r;
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  FakeClock clock_{kT0};
  FakeRuntime runtime_;
  std::unique_ptr<LbController> controller_;
  std::atomic<int> commits_{0};
  net::Zone zone_;
  std::string vpc_, subnet_;
  state::records::EniView eni_;
};

TEST_F(LbControllerTest, BuildsTheSpecFromTheRecords) {
  Put(NewRule("aaaaaaaaaaaaaaa2", 20, kTgId, "/b/*"));
  Put(NewRule("aaaaaaaaaaaaaaa1", 10, kOtherTgId, "/a/*"));
  model::TargetGroup other = NewTg(kOtherTgId, "other");
  model::SetValue(other.attributes, "deregistration_delay.timeout_seconds", "5");
  model::SetValue(other.attributes, "stickiness.enabled", "true");
  model::SetValue(other.attributes, "stickiness.lb_cookie.duration_seconds", "60");
  model::SetValue(other.attributes, "load_balancing.cross_zone.enabled", "false");
  model::SetValue(other.attributes, "slow_start.duration_seconds", "30");
  model::Target draining = NewTarget("10.1.3.30", 80);
  draining.drain_until = kT0 + 5;
  model::Target drained = NewTarget("10.1.3.31", 80);
  drained.drain_until = kT0 - 1;
  model::Target instance = NewTarget("i-0123456789abcdef0", 32768);
  instance.address = "192.0.2.10";
  other.targets = {draining, drained, instance};
  Put(other);
  model::TargetGroup unused = NewTg("4444444444444444", "unused");
  Put(unused);

  controller_->Reconcile(false);
  ASSERT_EQ(runtime_.applied.size(), 1u);
  const runtime::LoadBalancerSpec& s = runtime_.applied[0];
  EXPECT_EQ(s.id, kLbId);
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.vpc_id, vpc_);
  EXPECT_EQ(s.vpc_cidr, "10.1.0.0/16");
  EXPECT_EQ(s.vpc_cidrs, std::vector<std::string>{"10.1.0.0/16"});
  EXPECT_EQ(s.dns_server, "10.1.0.2");
  EXPECT_GE(s.transit_slot, 0);
  EXPECT_EQ(s.idle_timeout_s, 120);
  EXPECT_TRUE(s.cross_zone);
  ASSERT_EQ(s.nodes.size(), 1u);
  EXPECT_EQ(s.nodes[0].eni_id, eni_.id);
  EXPECT_EQ(s.nodes[0].mac, eni_.mac_address);
  EXPECT_FALSE(s.nodes[0].mac.empty());
  EXPECT_EQ(s.nodes[0].ip, eni_.private_ip_address);
  EXPECT_EQ(s.nodes[0].prefix_len, 24);
  EXPECT_EQ(s.nodes[0].gateway, "10.1.3.1");
  EXPECT_EQ(s.nodes[0].subnet_cidr, "10.1.3.0/24");
  EXPECT_EQ(s.nodes[0].zone, zone_.name);

  ASSERT_EQ(s.listeners.size(), 1u);
  EXPECT_EQ(s.listeners[0].port, 80);
  EXPECT_EQ(s.listeners[0].host_port, 31000);
  ASSERT_EQ(s.listeners[0].rules.size(), 2u);
  EXPECT_EQ(s.listeners[0].rules[0].priority, 10);  // by priority, whatever the order written
  EXPECT_EQ(s.listeners[0].rules[1].priority, 20);

  // The default action's group, then the rules' (by priority); never the unused group.
  ASSERT_EQ(s.target_groups.size(), 2u);
  const runtime::LbTargetGroupSpec& api = s.target_groups[0];
  EXPECT_EQ(api.id, kTgId);
  EXPECT_EQ(api.deregistration_delay_s, 300);
  EXPECT_FALSE(api.stickiness);
  EXPECT_EQ(api.cross_zone, std::nullopt);
  ASSERT_EQ(api.targets.size(), 2u);
  EXPECT_EQ(api.targets[0].address, "10.1.3.20");
  EXPECT_EQ(api.targets[0].port, 8080);
  EXPECT_EQ(api.targets[1].port, 80);  // no port registered: the group's
  const runtime::LbTargetGroupSpec& o = s.target_groups[1];
  EXPECT_EQ(o.id, kOtherTgId);
  EXPECT_EQ(o.deregistration_delay_s, 5);
  EXPECT_TRUE(o.stickiness);
  EXPECT_EQ(o.stickiness_type, "lb_cookie");
  EXPECT_EQ(o.stickiness_duration_s, 60);
  EXPECT_EQ(o.slow_start_s, 30);
  EXPECT_EQ(o.cross_zone, std::optional<bool>(false));
  ASSERT_EQ(o.targets.size(), 2u);  // the drained one is gone
  EXPECT_EQ(o.targets[0].id, "10.1.3.30");
  EXPECT_TRUE(o.targets[0].draining);
  EXPECT_EQ(o.targets[1].address, "192.0.2.10");
  EXPECT_FALSE(o.targets[1].draining);
}

TEST_F(LbControllerTest, AppliesOnceThenOnlyChangesAndActivates) {
  EXPECT_EQ(Lb().state, model::LbState::kProvisioning);
  controller_->Reconcile(false);
  ASSERT_EQ(runtime_.applied.size(), 1u);
  EXPECT_EQ(Lb().state, model::LbState::kActive);
  ASSERT_TRUE(runtime_.collected.has_value());
  EXPECT_EQ(*runtime_.collected, std::set<std::string>{kLbId});

  controller_->Reconcile(false);
  EXPECT_EQ(runtime_.applied.size(), 1u);  // unchanged

  model::TargetGroup tg = Tg();
  tg.targets.push_back(NewTarget("10.1.3.22", 80));
  Put(tg);
  controller_->Reconcile(false);
  ASSERT_EQ(runtime_.applied.size(), 2u);
  EXPECT_EQ(runtime_.applied[1].target_groups[0].targets.size(), 3u);
  ASSERT_TRUE(controller_->Applied(kLbId).has_value());
  EXPECT_EQ(*controller_->Applied(kLbId), runtime_.applied[1]);

  controller_->Reconcile(true);  // the periodic resync re-applies
  EXPECT_EQ(runtime_.applied.size(), 3u);
}

TEST_F(LbControllerTest, FailedAppliesAreRetriedWithBackoffThenMarkFailed) {
  runtime_.apply_error = Unavailable("haproxy would not start");
  controller_->Reconcile(false);
  EXPECT_EQ(runtime_.applied.size(), 1u);
  EXPECT_EQ(Lb().state, model::LbState::kProvisioning);

  controller_->Reconcile(false);  // within the backoff: not tried again
  EXPECT_EQ(runtime_.applied.size(), 1u);

  for (int i = 2; i <= 5; ++i) {
    clock_.Advance(60);
    controller_->Reconcile(false);
    EXPECT_EQ(runtime_.applied.size(), static_cast<size_t>(i));
  }
  model::LoadBalancer lb = Lb();
  EXPECT_EQ(lb.state, model::LbState::kFailed);
  EXPECT_EQ(lb.state_reason, "haproxy would not start");

  runtime_.apply_error = Status::Ok();
  clock_.Advance(60);
  controller_->Reconcile(false);
  EXPECT_EQ(Lb().state, model::LbState::kActive);
  EXPECT_EQ(Lb().state_reason, "");
}

TEST_F(LbControllerTest, AChangedSpecIsTriedAtOnceDespiteTheBackoff) {
  runtime_.apply_error = Unavailable("no");
  controller_->Reconcile(false);
  model::TargetGroup tg = Tg();
  tg.targets.push_back(NewTarget("10.1.3.22", 80));
  Put(tg);
  runtime_.apply_error = Status::Ok();
  controller_->Reconcile(false);
  EXPECT_EQ(runtime_.applied.size(), 2u);
  EXPECT_EQ(Lb().state, model::LbState::kActive);
}

TEST_F(LbControllerTest, DeletedLoadBalancersLeaveTheDataPlane) {
  controller_->Reconcile(false);
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return tx.Delete(model::kLoadBalancer, kRegion, kLbId).status(); }).ok());
  controller_->Reconcile(false);
  EXPECT_EQ(runtime_.deleted, std::vector<std::string>{kLbId});
  EXPECT_FALSE(controller_->Applied(kLbId).has_value());
  controller_->Reconcile(false);
  EXPECT_EQ(runtime_.deleted.size(), 1u);
}

TEST_F(LbControllerTest, TargetsGoThroughAwsHealthStates) {
  // Not applied yet: registering.
  controller_->Observe();
  EXPECT_EQ(Tg().targets[0].state, TargetHealthState::kInitial);
  EXPECT_EQ(Tg().targets[0].reason, "Elb.RegistrationInProgress");

  controller_->Reconcile(false);
  runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kInitial)});
  controller_->Observe();
  model::TargetGroup tg = Tg();
  EXPECT_EQ(tg.targets[0].state, TargetHealthState::kInitial);
  EXPECT_EQ(tg.targets[0].reason, "Elb.InitialHealthChecking");
  EXPECT_EQ(tg.targets[0].description, "Initial health checks in progress");
  EXPECT_EQ(tg.targets[1].reason, "Elb.RegistrationInProgress");  // the data plane has not reported it

  runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kHealthy),
      Seen(kTgId, "10.1.3.21", 80, TargetHealthState::kUnhealthy, "Target.ResponseCodeMismatch",
           "Health checks failed with these codes: [503]")});
  controller_->Observe();
  tg = Tg();
  EXPECT_EQ(tg.targets[0].state, TargetHealthState::kHealthy);
  EXPECT_EQ(tg.targets[0].reason, "");
  EXPECT_EQ(tg.targets[0].description, "");
  EXPECT_EQ(tg.targets[1].state, TargetHealthState::kUnhealthy);
  EXPECT_EQ(tg.targets[1].reason, "Target.ResponseCodeMismatch");
  EXPECT_EQ(tg.targets[1].description, "Health checks failed with these codes: [503]");

  // The data plane cannot tell: what its checks last said stands.
  runtime_.Script(kLbId, Unavailable("the proxy is restarting"));
  controller_->Observe();
  EXPECT_EQ(Tg().targets, tg.targets);
  runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kUnavailable)});
  controller_->Observe();
  EXPECT_EQ(Tg().targets[0].state, TargetHealthState::kHealthy);
}

TEST_F(LbControllerTest, WritesOnlyWhatChanged) {
  controller_->Reconcile(false);
  runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kHealthy),
      Seen(kTgId, "10.1.3.21", 80, TargetHealthState::kHealthy)});
  controller_->Observe();
  int after_first = commits_.load();
  controller_->Observe();
  controller_->Observe();
  EXPECT_EQ(commits_.load(), after_first);
}

// The group's second target deregistered (300 s delay) and the spec applied.
model::TargetGroup LbControllerTest::DrainSecondTarget() {
  model::TargetGroup tg = Tg();
  tg.targets[1].drain_until = kT0 + 300;
  Put(tg);
  controller_->Reconcile(false);
  return tg;
}

// What a data plane reports of the draining target, with `connections` to it.
std::vector<runtime::TargetObservation> LbControllerTest::Draining(int connections) {
  runtime::TargetObservation o = Seen(kTgId, "10.1.3.21", 80, TargetHealthState::kHealthy);
  o.connections = connections;
  return {o};
}

// A second load balancer whose listener forwards to the same group (kTgId).
model::LoadBalancer LbControllerTest::PutSecondLoadBalancer() {
  model::LoadBalancer second = NewLb("fedcba9876543210", "second");
  PutLb(second);
  model::Listener l;
  l.region = kRegion;
  l.id = "5555555555555555";
  l.load_balancer_id = second.id;
  l.port = 8080;
  model::Action forward;
  forward.target_group_arn = TgArn(kTgId);
  l.default_actions = {forward};
  Put(l);
  return second;
}

TEST_F(LbControllerTest, ObservationsOfSeveralLoadBalancersMergeWorstFirst) {
  model::LoadBalancer second = PutSecondLoadBalancer();
  controller_->Reconcile(false);
  ASSERT_EQ(runtime_.applied.size(), 2u);
  runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kHealthy)});
  runtime_.Script(second.id, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kUnhealthy, "Target.Timeout", "Request timed out")});
  controller_->Observe();
  EXPECT_EQ(Tg().targets[0].state, TargetHealthState::kUnhealthy);
  EXPECT_EQ(Tg().targets[0].reason, "Target.Timeout");
}

TEST_F(LbControllerTest, DrainingTargetsLeaveAfterTheirDelay) {
  model::TargetGroup tg = Tg();
  tg.targets[1].drain_until = kT0 + 10;
  tg.targets[1].state = TargetHealthState::kHealthy;
  Put(tg);
  controller_->Reconcile(false);
  runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kHealthy),
      Seen(kTgId, "10.1.3.21", 80, TargetHealthState::kHealthy)});
  controller_->Observe();
  tg = Tg();
  ASSERT_EQ(tg.targets.size(), 2u);
  EXPECT_EQ(tg.targets[1].state, TargetHealthState::kDraining);
  EXPECT_EQ(tg.targets[1].reason, "Target.DeregistrationInProgress");
  EXPECT_EQ(tg.targets[1].description, "Target deregistration is in progress");
  EXPECT_TRUE(runtime_.applied.back().target_groups[0].targets[1].draining);

  clock_.Advance(9);
  controller_->Observe();
  EXPECT_EQ(Tg().targets.size(), 2u);

  clock_.Advance(1);
  controller_->Observe();
  tg = Tg();
  ASSERT_EQ(tg.targets.size(), 1u);
  EXPECT_EQ(tg.targets[0].id, "10.1.3.20");
  controller_->Reconcile(false);
  ASSERT_EQ(runtime_.applied.back().target_groups[0].targets.size(), 1u);
}

TEST_F(LbControllerTest, DrainingTargetsWithNoConnectionsLeaveAtOnce) {
  model::TargetGroup tg = DrainSecondTarget();
  auto draining = [&](int connections) { return Draining(connections)[0]; };
  // Connections in flight (or not known): it drains on.
  for (int connections : {2, -1}) {
    runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
        Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kHealthy), draining(connections)});
    controller_->Observe();
    ASSERT_EQ(Tg().targets.size(), 2u);
    EXPECT_EQ(Tg().targets[1].state, TargetHealthState::kDraining);
  }
  // The data plane could not be observed: nothing is known of its connections.
  runtime_.Script(kLbId, Unavailable("admin socket"));
  controller_->Observe();
  EXPECT_EQ(Tg().targets.size(), 2u);
  // None left: deregistered long before the delay.
  runtime_.Script(kLbId, std::vector<runtime::TargetObservation>{
      Seen(kTgId, "10.1.3.20", 8080, TargetHealthState::kHealthy), draining(0)});
  controller_->Observe();
  tg = Tg();
  ASSERT_EQ(tg.targets.size(), 1u);
  EXPECT_EQ(tg.targets[0].id, "10.1.3.20");
}

TEST_F(LbControllerTest, ADrainingTargetLeavesOnlyWhenNoLoadBalancerHasConnections) {
  model::LoadBalancer second = PutSecondLoadBalancer();
  DrainSecondTarget();
  auto draining = [&](int connections) { return Draining(connections); };
  runtime_.Script(kLbId, draining(0));
  runtime_.Script(second.id, draining(1));
  controller_->Observe();
  EXPECT_EQ(Tg().targets.size(), 2u);
  runtime_.Script(second.id, Unavailable("admin socket"));
  controller_->Observe();
  EXPECT_EQ(Tg().targets.size(), 2u);
  runtime_.Script(second.id, draining(0));
  controller_->Observe();
  EXPECT_EQ(Tg().targets.size(), 1u);
}

TEST_F(LbControllerTest, GroupsNoLoadBalancerUsesAreUnused) {
  model::TargetGroup idle = NewTg(kOtherTgId, "idle");
  idle.targets = {NewTarget("10.1.3.40", 80)};
  Put(idle);
  controller_->Reconcile(false);
  controller_->Observe();
  model::TargetGroup tg = Tg(kOtherTgId);
  EXPECT_EQ(tg.targets[0].state, TargetHealthState::kUnused);
  EXPECT_EQ(tg.targets[0].reason, "Target.NotInUse");
  EXPECT_EQ(tg.targets[0].description, "Target group is not configured to receive traffic from the load balancer");

  // A rule starts forwarding to it: the target registers.
  Put(NewRule("aaaaaaaaaaaaaaa1", 10, kOtherTgId, "/idle/*"));
  controller_->Reconcile(false);
  controller_->Observe();
  EXPECT_EQ(Tg(kOtherTgId).targets[0].reason, "Elb.RegistrationInProgress");
}

TEST_F(LbControllerTest, DisabledHealthChecksMakeTargetsUnavailable) {
  model::TargetGroup tg = Tg();
  tg.health_check.enabled = false;
  Put(tg);
  controller_->Reconcile(false);
  controller_->Observe();
  tg = Tg();
  EXPECT_EQ(tg.targets[0].state, TargetHealthState::kUnavailable);
  EXPECT_EQ(tg.targets[0].reason, "Target.HealthCheckDisabled");
  EXPECT_EQ(tg.targets[0].description, "Health checks are disabled");
}

TEST_F(LbControllerTest, AMissingNodeInterfaceFailsTheLoadBalancerInTheEnd) {
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return tx.Delete(net::kEni, kRegion, eni_.id).status(); }).ok());
  for (int i = 0; i < 5; ++i) {
    controller_->Reconcile(false);
    EXPECT_TRUE(runtime_.applied.empty());
    clock_.Advance(60);
  }
  model::LoadBalancer lb = Lb();
  EXPECT_EQ(lb.state, model::LbState::kFailed);
  EXPECT_NE(lb.state_reason.find(eni_.id), std::string::npos) << lb.state_reason;
}

TEST_F(LbControllerTest, TheThreadAppliesEverythingFirst) {
  controller_->Start();
  controller_->Notify();
  controller_->Stop();
  ASSERT_FALSE(runtime_.applied.empty());  // the start-up pass runs before any wait
  EXPECT_TRUE(runtime_.collected.has_value());
  controller_->Stop();  // a repeated Stop does nothing
}

TEST(SimulatedRuntimeLb, ReportsEveryTargetNotDrainingHealthy) {
  runtime::SimulatedRuntime rt;
  runtime::LoadBalancerSpec spec;
  spec.id = kLbId;
  runtime::LbTargetGroupSpec g;
  g.id = kTgId;
  g.targets = {runtime::LbTargetSpec{"10.0.0.5", "10.0.0.5", 80, "us-east-1a", false},
               runtime::LbTargetSpec{"10.0.0.6", "10.0.0.6", 80, "us-east-1a", true}};
  spec.target_groups = {g};
  EXPECT_TRUE(rt.ApplyLoadBalancer(spec).ok());
  auto obs = rt.ObserveTargets(spec);
  ASSERT_TRUE(obs.ok());
  ASSERT_EQ(obs->size(), 1u);
  EXPECT_EQ((*obs)[0], Seen(kTgId, "10.0.0.5", 80, TargetHealthState::kHealthy));
}

// A target recorded unused (its group was unused at the controller's last pass) shows
// initial, registration in progress, once a listener uses the group, until the data plane
// reports on it; what the checks recorded stands meanwhile; draining and unused win.
TEST(LbTargetHealth, RecordedUnusedTargetIsInitialOnceTheGroupIsUsed) {
  model::TargetGroup tg;
  model::Target t;
  t.id = "10.0.0.5";
  t.port = 80;
  t.state = TargetHealthState::kUnused;
  t.reason = model::kReasonNotInUse;
  t.description = std::string(model::TargetHealthDescription(t.reason));
  const model::TargetHealthView initial{TargetHealthState::kInitial, "Elb.RegistrationInProgress",
                                        "Target registration is in progress"};
  EXPECT_EQ(model::RecordedTargetHealth(tg, t, /*used=*/true), initial);
  EXPECT_EQ(TargetHealthOf(tg, t, true, std::nullopt, /*known=*/false), initial);
  EXPECT_EQ(TargetHealthOf(tg, t, true, std::nullopt, /*known=*/true), initial);
  EXPECT_EQ(model::RecordedTargetHealth(tg, t, /*used=*/false).state, TargetHealthState::kUnused);

  t.state = TargetHealthState::kHealthy;
  t.reason.clear();
  t.description.clear();
  EXPECT_EQ(model::RecordedTargetHealth(tg, t, true), (model::TargetHealthView{TargetHealthState::kHealthy, "", ""}));
  EXPECT_EQ(TargetHealthOf(tg, t, true, std::nullopt, /*known=*/false).state, TargetHealthState::kHealthy);

  t.drain_until = 100.0;
  EXPECT_EQ(model::RecordedTargetHealth(tg, t, true),
            (model::TargetHealthView{TargetHealthState::kDraining, "Target.DeregistrationInProgress",
                                     "Target deregistration is in progress"}));
  EXPECT_EQ(model::TargetHealthDescription("Target.NotRegistered"), "Target is not registered to the target group");
  EXPECT_EQ(model::TargetHealthDescription("Elb.Unknown"), "");
}

}  // namespace
}  // namespace kecs::reconcile
