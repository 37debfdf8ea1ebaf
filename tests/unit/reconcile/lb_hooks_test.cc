// A service task's targets in its target groups: registered at RUNNING with
// RegisterTargets' rules, drained as it stops, and the task held in DEACTIVATING until
// they have left their groups.
#include "reconcile/lb_hooks.h"

#include <gtest/gtest.h>

#include <string>

#include "base/clock.h"
#include "model/service.h"
#include "reconcile/task_controller.h"
#include "runtime/simulated/simulated_runtime.h"
#include "state/records/elb.h"
#include "state/records/services.h"
#include "state/records/tasks.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

using model::TargetHealthState;

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr double kNow = 1800000000;

class LbHooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    options_.host_ip = "192.0.2.10";
    options_.instance_id = [](state::Tx&, const model::Task& t) -> Result<std::string> {
      return std::string(t.internal.placement ? "i-0123456789abcdef0" : "");
    };
  }

  // A target group with its deregistration delay, which a load balancer's listener
  // forwards to unless `unused`; returns its ARN.
  std::string MakeGroup(const std::string& name, model::TargetType type, int delay_s, bool unused = false) {
    model::TargetGroup tg;
    tg.region = kRegion;
    tg.id = model::NewElbId();
    tg.name = name;
    tg.arn = model::TargetGroupArn(kRegion, kAccount, name, tg.id);
    tg.target_type = type;
    tg.protocol = model::LbProtocol::kHttp;
    tg.port = 80;
    tg.attributes = model::DefaultTargetGroupAttributes(type, tg.protocol);
    model::SetValue(tg.attributes, "deregistration_delay.timeout_seconds", std::to_string(delay_s));
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTargetGroup(tx, tg); }).ok());
    if (!unused) {
      model::LoadBalancer lb;
      lb.region = kRegion;
      lb.id = model::NewElbId();
      lb.name = "lb-" + name;
      lb.type = model::LbType::kApplication;
      lb.arn = model::LoadBalancerArn(kRegion, kAccount, lb.type, lb.name, lb.id);
      model::Listener l;
      l.region = kRegion;
      l.id = model::NewElbId();
      l.load_balancer_id = lb.id;
      l.load_balancer_arn = lb.arn;
      l.arn = model::ListenerArn(lb, kAccount, l.id);
      l.protocol = model::LbProtocol::kHttp;
      l.port = 80;
      model::Action forward;
      forward.type = model::ActionType::kForward;
      forward.target_group_arn = tg.arn;
      l.default_actions = {forward};
      EXPECT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
        RETURN_IF_ERROR(state::records::PutLoadBalancer(tx, lb));
        return state::records::PutListener(tx, l);
      }).ok());
    }
    return tg.arn;
  }

  void MakeService(const std::vector<model::ServiceLoadBalancer>& lbs) {
    model::Service svc;
    svc.region = kRegion;
    svc.cluster = "default";
    svc.name = "web";
    svc.arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
    svc.load_balancers = lbs;
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutService(tx, svc); }).ok());
  }

  model::Task AwsvpcTask(const std::string& id, const std::string& ip) {
    model::Task t = BaseTask(id);
    t.internal.network_mode = model::NetworkMode::kAwsvpc;
    t.internal.network.eni = model::TaskEni{};
    t.internal.network.eni->ip = ip;
    return t;
  }

  // A bridge task whose container "app" maps port 8080 to the dynamic host port 32768.
  model::Task BridgeTask(const std::string& id) {
    model::Task t = BaseTask(id);
    t.internal.network_mode = model::NetworkMode::kBridge;
    t.internal.containers[0].port_mappings = {{8080, 0, "tcp"}};
    t.containers[0].network_bindings = {{"0.0.0.0", 8080, 32768, "tcp"}};
    t.internal.placement = model::TaskPlacement{};
    t.internal.placement->instance = "ci-1";
    return t;
  }

  model::TargetGroup Group(const std::string& arn) {
    model::TargetGroup out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto g, state::records::GetTargetGroup(tx, kRegion, model::IdFromArn(arn, "targetgroup")));
      if (g) out = *g;
      return Status::Ok();
    }).ok());
    return out;
  }

  std::vector<std::string> Events() {
    std::vector<std::string> out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto s, state::records::GetService(tx, kRegion, "default", "web"));
      if (!s) return NotFound("no service default/web");
      for (const auto& e : s->events) out.push_back(e.message);
      return Status::Ok();
    }).ok());
    return out;  // newest first
  }

  void Register(model::Task& t, double now = kNow) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return RegisterTaskTargets(tx, t, now, options_); }).ok());
  }
  void Deregister(model::Task& t, double now) {
    t.stopping_at = now;
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return DeregisterTaskTargets(tx, t, now); }).ok());
  }
  bool Drained(const model::Task& t, double now) {
    bool out = false;
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, TaskTargetsDrained(tx, t, now, options_));
      return Status::Ok();
    }).ok());
    return out;
  }
  // What the load balancer controller does once a target's drain is over.
  void RemoveDrained(const std::string& arn, double now) {
    model::TargetGroup g = Group(arn);
    std::erase_if(g.targets, [&](const model::Target& t) { return t.drain_until && *t.drain_until <= now; });
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTargetGroup(tx, g); }).ok());
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  LbHookOptions options_;

 private:
  model::Task BaseTask(const std::string& id) {
    model::Task t;
    t.region = kRegion;
    t.id = id;
    t.cluster = "default";
    t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + id;
    t.availability_zone = "us-east-1b";
    t.internal.service = "web";
    model::ContainerDefinition d;
    d.name = "app";
    d.port_mappings = {{8080, 0, "tcp"}};
    t.internal.containers.push_back(d);
    model::Container c;
    c.name = "app";
    t.containers.push_back(c);
    return t;
  }
};

TEST_F(LbHooksTest, AnAwsvpcTaskIsRegisteredAsItsEniAddressAndContainerPort) {
  std::string arn = MakeGroup("web", model::TargetType::kIp, 30);
  MakeService({{arn, "", "app", 8080}});
  model::Task t = AwsvpcTask("t1", "10.0.1.5");
  Register(t);

  model::TargetGroup g = Group(arn);
  ASSERT_EQ(g.targets.size(), 1u);
  const model::Target& target = g.targets[0];
  EXPECT_EQ(target.id, "10.0.1.5");
  EXPECT_EQ(target.port, 8080);
  EXPECT_EQ(target.address, "10.0.1.5");
  EXPECT_EQ(target.availability_zone, "us-east-1b");
  EXPECT_EQ(target.registered_at, kNow);
  EXPECT_EQ(target.state, TargetHealthState::kInitial);
  EXPECT_EQ(target.reason, "Elb.RegistrationInProgress");
  EXPECT_EQ(target.description, "Target registration is in progress");
  EXPECT_FALSE(target.drain_until);
  ASSERT_EQ(t.internal.targets.size(), 1u);
  EXPECT_EQ(t.internal.targets[0], (model::TaskTarget{arn, "10.0.1.5", 8080, kNow}));
  EXPECT_EQ(Events().at(0), "(service web) registered 1 targets in (target-group " + arn + ")");
}

TEST_F(LbHooksTest, ABridgeTaskIsRegisteredAsItsInstanceAndHostPort) {
  std::string arn = MakeGroup("web", model::TargetType::kInstance, 30);
  MakeService({{arn, "", "app", 8080}});
  model::Task t = BridgeTask("t1");
  Register(t);

  model::TargetGroup g = Group(arn);
  ASSERT_EQ(g.targets.size(), 1u);
  EXPECT_EQ(g.targets[0].id, "i-0123456789abcdef0");
  EXPECT_EQ(g.targets[0].port, 32768);
  EXPECT_EQ(g.targets[0].address, "192.0.2.10");
  EXPECT_EQ(t.internal.targets.at(0).port, 32768);
}

// On an EC2 instance kecs runs (issue 17), the task is reached at the instance's address.
TEST_F(LbHooksTest, ABridgeTaskOnAnEc2InstanceIsReachedAtTheInstancesAddress) {
  std::string inst = MakeGroup("web", model::TargetType::kInstance, 30);
  std::string ip = MakeGroup("api", model::TargetType::kIp, 30);
  MakeService({{inst, "", "app", 8080}, {ip, "", "app", 8080}});
  model::Task t = BridgeTask("t1");
  t.internal.network.instance = model::TaskInstanceHost{"i-0123456789abcdef0", "10.0.1.20"};
  Register(t);
  ASSERT_EQ(Group(inst).targets.size(), 1u);
  EXPECT_EQ(Group(inst).targets[0].address, "10.0.1.20");
  ASSERT_EQ(Group(ip).targets.size(), 1u);
  EXPECT_EQ(Group(ip).targets[0].id, "10.0.1.20");
  EXPECT_EQ(Group(ip).targets[0].port, 32768);
}

TEST_F(LbHooksTest, EachTargetGroupOfTheServiceGetsTheTask) {
  std::string a = MakeGroup("a", model::TargetType::kIp, 30);
  std::string b = MakeGroup("b", model::TargetType::kIp, 30);
  MakeService({{a, "", "app", 8080}, {b, "", "app", 8080}});
  model::Task t = AwsvpcTask("t1", "10.0.1.5");
  Register(t);
  EXPECT_EQ(Group(a).targets.size(), 1u);
  EXPECT_EQ(Group(b).targets.size(), 1u);
  EXPECT_EQ(t.internal.targets.size(), 2u);
}

TEST_F(LbHooksTest, ATaskOfNoServiceOrAMissingGroupRegistersNothing) {
  MakeService({{model::TargetGroupArn(kRegion, kAccount, "gone", "0123456789abcdef"), "", "app", 8080}});
  model::Task t = AwsvpcTask("t1", "10.0.1.5");
  Register(t);
  EXPECT_TRUE(t.internal.targets.empty());
  model::Task solo = AwsvpcTask("t2", "10.0.1.6");
  solo.internal.service.clear();
  Register(solo);
  EXPECT_TRUE(solo.internal.targets.empty());
}

TEST_F(LbHooksTest, StoppingDrainsTheTargetsAndTheTaskWaitsUntilTheyAreGone) {
  std::string arn = MakeGroup("web", model::TargetType::kIp, 30);
  MakeService({{arn, "", "app", 8080}});
  model::Task t = AwsvpcTask("t1", "10.0.1.5");
  Register(t);
  Deregister(t, kNow + 100);

  const model::Target target = Group(arn).targets.at(0);
  EXPECT_EQ(target.state, TargetHealthState::kDraining);
  EXPECT_EQ(target.reason, "Target.DeregistrationInProgress");
  EXPECT_EQ(target.description, "Target deregistration is in progress");
  EXPECT_EQ(target.drain_until, kNow + 130);
  std::vector<std::string> events = Events();
  EXPECT_EQ(events.at(0), "(service web) has begun draining connections on 1 tasks.");
  EXPECT_EQ(events.at(1), "(service web) deregistered 1 targets in (target-group " + arn + ")");

  EXPECT_FALSE(Drained(t, kNow + 101));
  EXPECT_FALSE(Drained(t, kNow + 131));  // drained, but the controller has not removed it yet
  RemoveDrained(arn, kNow + 131);
  EXPECT_TRUE(Group(arn).targets.empty());
  EXPECT_TRUE(Drained(t, kNow + 131));
}

TEST_F(LbHooksTest, ATaskNeverWaitsLongerThanItsDrainAndTheMargin) {
  std::string arn = MakeGroup("web", model::TargetType::kIp, 30);
  MakeService({{arn, "", "app", 8080}});
  model::Task t = AwsvpcTask("t1", "10.0.1.5");
  Register(t);
  Deregister(t, kNow);
  // No controller removes the target: the task moves on once the margin is past too.
  EXPECT_FALSE(Drained(t, kNow + 30 + options_.drain_margin_s - 1));
  EXPECT_TRUE(Drained(t, kNow + 30 + options_.drain_margin_s));
  // Release takes away what is left.
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return ReleaseTaskTargets(tx, t); }).ok());
  EXPECT_TRUE(Group(arn).targets.empty());
  EXPECT_TRUE(t.internal.targets.empty());
}

// AWS completes a deregistration at once when the target has no connections: so it is in
// a group no load balancer forwards to (its load balancer was deleted).
TEST_F(LbHooksTest, ATargetOfAGroupNoLoadBalancerUsesIsDrainedAtOnce) {
  std::string arn = MakeGroup("web", model::TargetType::kIp, 300, /*unused=*/true);
  MakeService({{arn, "", "app", 8080}});
  model::Task t = AwsvpcTask("t1", "10.0.1.5");
  Register(t);
  Deregister(t, kNow);
  EXPECT_EQ(Group(arn).targets.at(0).state, TargetHealthState::kDraining);
  EXPECT_TRUE(Drained(t, kNow + 1));
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return ReleaseTaskTargets(tx, t); }).ok());
  EXPECT_TRUE(Group(arn).targets.empty());
}

TEST_F(LbHooksTest, AZeroDeregistrationDelayRemovesTheTargetAtOnce) {
  std::string arn = MakeGroup("web", model::TargetType::kIp, 0);
  MakeService({{arn, "", "app", 8080}});
  model::Task t = AwsvpcTask("t1", "10.0.1.5");
  Register(t);
  Deregister(t, kNow + 1);
  EXPECT_TRUE(Group(arn).targets.empty());
  EXPECT_TRUE(Drained(t, kNow + 1));
}

TEST_F(LbHooksTest, AnAddressReusedByALaterTaskIsThatTasksRegistration) {
  std::string arn = MakeGroup("web", model::TargetType::kIp, 300);
  MakeService({{arn, "", "app", 8080}});
  model::Task old_task = AwsvpcTask("t1", "10.0.1.5");
  Register(old_task);
  Deregister(old_task, kNow + 10);
  // The address comes back to a new task while the old one drains: its registration
  // takes the entry's place.
  model::Task new_task = AwsvpcTask("t2", "10.0.1.5");
  Register(new_task, kNow + 20);
  ASSERT_EQ(Group(arn).targets.size(), 1u);
  EXPECT_EQ(Group(arn).targets[0].state, TargetHealthState::kInitial);
  EXPECT_FALSE(Group(arn).targets[0].drain_until);
  // The old task has nothing left to wait for, and its release leaves the new one alone.
  EXPECT_TRUE(Drained(old_task, kNow + 21));
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return ReleaseTaskTargets(tx, old_task); }).ok());
  ASSERT_EQ(Group(arn).targets.size(), 1u);
  EXPECT_EQ(Group(arn).targets[0].registered_at, kNow + 20);
}

// The hooks as the daemon wires them, through the task controller: the task registers as
// it reaches RUNNING, and after StopTask waits in DEACTIVATING until its target is gone.
TEST_F(LbHooksTest, TheTaskControllerHoldsAStoppingTaskUntilItsTargetsHaveDrained) {
  std::string arn = MakeGroup("web", model::TargetType::kInstance, 30);
  MakeService({{arn, "", "app", 8080}});
  FakeClock clock(kNow);
  runtime::SimulatedRuntime runtime;
  TaskHooks hooks;
  hooks.running = [&](state::Tx& tx, model::Task& t) { return RegisterTaskTargets(tx, t, clock.Now(), options_); };
  hooks.stopping = [&](state::Tx& tx, model::Task& t) { return DeregisterTaskTargets(tx, t, clock.Now()); };
  hooks.deactivated = [&](state::Tx& tx, const model::Task& t) {
    return TaskTargetsDrained(tx, t, clock.Now(), options_);
  };
  hooks.release = [](state::Tx& tx, model::Task& t) { return ReleaseTaskTargets(tx, t); };
  TaskController::Options o;
  o.workers = 0;
  o.stop_beside_workers = false;
  TaskController controller(*store_, runtime, hooks, o, clock);

  model::Task t = BridgeTask("00000000000000000000000000000001");
  t.last_status = model::TaskStatus::kPending;
  t.desired_status = model::TaskStatus::kRunning;
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::InsertTask(tx, t); }).ok());
  auto status = [&] {
    std::optional<model::Task> got;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(got, state::records::GetTask(tx, kRegion, t.id));
      return Status::Ok();
    }).ok());
    return got ? got->last_status : model::TaskStatus::kStopped;
  };
  for (int i = 0; i < 10 && status() != model::TaskStatus::kRunning; ++i) controller.StepForTest(kRegion, t.id);
  ASSERT_EQ(status(), model::TaskStatus::kRunning);
  ASSERT_EQ(Group(arn).targets.size(), 1u);
  EXPECT_EQ(Group(arn).targets[0].state, TargetHealthState::kInitial);

  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto cur, state::records::GetTask(tx, kRegion, t.id));
    cur->desired_status = model::TaskStatus::kStopped;
    return state::records::PutTask(tx, *cur);
  }).ok());
  controller.StepForTest(kRegion, t.id);
  EXPECT_EQ(status(), model::TaskStatus::kDeactivating);
  EXPECT_EQ(Group(arn).targets.at(0).state, TargetHealthState::kDraining);
  clock.Advance(10);
  controller.StepForTest(kRegion, t.id);
  EXPECT_EQ(status(), model::TaskStatus::kDeactivating);  // draining
  clock.Advance(25);
  RemoveDrained(arn, clock.Now());  // the load balancer controller's part
  controller.StepForTest(kRegion, t.id);
  EXPECT_EQ(status(), model::TaskStatus::kStopping);
  for (int i = 0; i < 10 && status() != model::TaskStatus::kStopped; ++i) controller.StepForTest(kRegion, t.id);
  EXPECT_EQ(status(), model::TaskStatus::kStopped);
  EXPECT_TRUE(Group(arn).targets.empty());
}

TEST(LbHooks, DeregistrationDelayIsTheAttributeOrAwsDefault) {
  model::TargetGroup g;
  EXPECT_EQ(model::DeregistrationDelaySeconds(g), 300);
  model::SetValue(g.attributes, "deregistration_delay.timeout_seconds", "45");
  EXPECT_EQ(model::DeregistrationDelaySeconds(g), 45);
  model::SetValue(g.attributes, "deregistration_delay.timeout_seconds", "soon");
  EXPECT_EQ(model::DeregistrationDelaySeconds(g), 300);
}

}  // namespace
}  // namespace kecs::reconcile
