#include "reconcile/service_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/ids.h"
#include "model/kinds.h"
#include "model/task.h"
#include "reconcile/deployment_history.h"
#include "reconcile/lb_hooks.h"
#include "reconcile/traffic_shift.h"
#include "state/records/elb.h"
#include "state/records/services.h"
#include "state/records/tasks.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

using model::Deployment;
using model::RolloutState;
using model::Service;
using model::Task;
using model::TaskStatus;

constexpr const char* kRegion = "us-east-1";
constexpr const char* kCluster = "prod";
constexpr const char* kTdA = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1";
constexpr const char* kTdB = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2";

// Starts tasks as RunTask would, PENDING, and remembers how many it was asked for. With
// `capacity` set it places at most that many live tasks in total; DAEMON tasks go to an
// ACTIVE instance without a live task of the service, as the API's launcher does.
class FakeLauncher : public TaskLauncher {
 public:
  LaunchedTasks LaunchServiceTasks(state::Tx& tx, const Service& service, const Deployment& deployment, int count,
                                   double now) override {
    LaunchedTasks out;
    requests.push_back(count);
    auto tasks = state::records::ListTasks(tx, {model::kTask, service.region, service.cluster});
    if (!tasks.ok()) return out;
    int live = 0;
    std::set<std::string> busy;
    for (const auto& t : *tasks) {
      if (t.internal.service != service.name || t.last_status == TaskStatus::kStopped ||
          t.desired_status == TaskStatus::kStopped) {
        continue;
      }
      ++live;
      if (t.internal.placement) busy.insert(t.internal.placement->instance);
    }
    for (int i = 0; i < count; ++i) {
      if (capacity >= 0 && live >= capacity) {
        out.failure = "RESOURCE:MEMORY";
        break;
      }
      Task t;
      t.region = service.region;
      t.cluster = service.cluster;
      t.id = RandomHex(32);
      t.family = "web";
      t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/" + service.cluster + "/" + t.id;
      t.cluster_arn = service.cluster_arn;
      t.task_definition_arn = deployment.task_definition;
      t.group = "service:" + service.name;
      t.started_by = deployment.id;
      t.created_at = now;
      t.last_status = TaskStatus::kPending;
      t.desired_status = TaskStatus::kRunning;
      t.internal.service = service.name;
      t.internal.deployment = deployment.id;
      if (health_checked) {
        model::ContainerDefinition d;
        d.name = "app";
        d.essential = true;
        d.health_check = model::HealthCheck{.command = {"CMD-SHELL", "true"}};
        t.internal.containers.push_back(d);
        model::Container c;
        c.name = "app";
        t.containers.push_back(c);
      }
      if (service.scheduling_strategy == model::SchedulingStrategy::kDaemon) {
        auto instances = tx.List({model::kInstance, service.region, service.cluster});
        if (!instances.ok()) break;
        std::string chosen;
        for (const auto& inst : *instances) {
          if (inst.status == "ACTIVE" && !busy.count(inst.id)) {
            chosen = inst.id;
            break;
          }
        }
        if (chosen.empty()) break;
        busy.insert(chosen);
        model::TaskPlacement p;
        p.instance = chosen;
        t.internal.placement = p;
      }
      if (!state::records::InsertTask(tx, t).ok()) break;
      out.task_ids.push_back(t.id);
      ++live;
    }
    return out;
  }

  std::vector<int> requests;
  int capacity = -1;
  bool health_checked = false;  // the tasks' essential container has a health check
};

class ServiceControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    MakeController(std::chrono::milliseconds(0));
  }

  void MakeController(std::chrono::milliseconds settle) {
    ServiceController::Options o;
    o.settle = settle;
    controller_ = std::make_unique<ServiceController>(*store_, launcher_, o, clock_);
  }

  // A service with one PRIMARY deployment, IN_PROGRESS, of kTdA.
  Service NewService(int desired, int min_pct = 100, int max_pct = 200, bool breaker = false, bool rollback = false) {
    Service s;
    s.region = kRegion;
    s.cluster = kCluster;
    s.name = "web";
    s.arn = "arn:aws:ecs:us-east-1:000000000000:service/prod/web";
    s.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod";
    s.desired_count = desired;
    s.task_definition = kTdA;
    s.deployment_configuration.minimum_healthy_percent = min_pct;
    s.deployment_configuration.maximum_percent = max_pct;
    s.deployment_configuration.circuit_breaker_enable = breaker;
    s.deployment_configuration.circuit_breaker_rollback = rollback;
    s.deployments = {NewDeployment(s)};
    return s;
  }

  Deployment NewDeployment(const Service& s) {
    Deployment d;
    d.id = model::NewDeploymentId();
    d.task_definition = s.task_definition;
    d.desired_count = s.desired_count;
    d.created_at = clock_.Now();
    d.updated_at = clock_.Now();
    d.rollout_state_reason = "ECS deployment " + d.id + " in progress.";
    return d;
  }

  void Put(const Service& s) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutService(tx, s); }).ok());
  }

  Service Get() {
    Service out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto s, state::records::GetService(tx, kRegion, kCluster, "web"));
      if (s) out = *s;
      return Status::Ok();
    }).ok());
    return out;
  }

  // Puts the service and runs it to its steady state (every task RUNNING).
  void PutSteady(const Service& s) {
    Put(s);
    controller_->RunOnce();
    Settle();
    controller_->RunOnce();
  }

  // UpdateService with a new task definition: a new PRIMARY deployment.
  void Deploy(const std::string& td) {
    Service s = Get();
    s.task_definition = td;
    for (auto& d : s.deployments) d.status = model::DeploymentStatus::kActive;
    s.deployments.insert(s.deployments.begin(), NewDeployment(s));
    s.internal.steady = false;
    Put(s);
  }

  void SetDesired(int n) {
    Service s = Get();
    s.desired_count = n;
    s.deployments[0].desired_count = n;
    s.internal.steady = false;
    Put(s);
  }

  // DeleteService's part: the service DRAINING, nothing desired.
  void MarkDraining() {
    Service s = Get();
    s.status = model::ServiceStatus::kDraining;
    s.desired_count = 0;
    Put(s);
  }

  // UpdateTaskProtection's part: every task (or the first `n`) protected until `until`, or
  // unprotected (nullopt); returns the ids changed.
  std::set<std::string> Protect(std::optional<double> until, size_t n = SIZE_MAX) {
    std::set<std::string> ids;
    Change([&](Task& t) {
      if (ids.size() == n) return false;
      ids.insert(t.id);
      t.internal.protected_until = until;
      return true;
    });
    return ids;
  }

  std::vector<Task> Tasks() {
    std::vector<Task> out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, state::records::ListTasks(tx, {model::kTask, kRegion, kCluster}));
      return Status::Ok();
    }).ok());
    return out;
  }

  // The task controller's part, for every task `pick` selects.
  void Change(const std::function<bool(Task&)>& change) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx, {model::kTask, kRegion, kCluster}));
      for (auto& t : all) {
        if (change(t)) RETURN_IF_ERROR(state::records::PutTask(tx, t));
      }
      return Status::Ok();
    }).ok());
  }
  // PENDING tasks that should run reach RUNNING; tasks told to stop reach STOPPED.
  void Settle() {
    Change([&](Task& t) {
      if (t.last_status == TaskStatus::kStopped) return false;
      if (t.desired_status == TaskStatus::kStopped) {
        t.last_status = TaskStatus::kStopped;
        t.stopped_at = clock_.Now();
        return true;
      }
      if (t.last_status != TaskStatus::kRunning) {
        t.last_status = TaskStatus::kRunning;
        t.started_at = clock_.Now();
        return true;
      }
      return false;
    });
  }
  // Tasks told to stop reach STOPPED; nothing else moves.
  void FinishStopping() {
    Change([&](Task& t) {
      if (t.last_status == TaskStatus::kStopped || t.desired_status != TaskStatus::kStopped) return false;
      t.last_status = TaskStatus::kStopped;
      return true;
    });
  }
  // Every live task of `deployment` (all when empty) fails on its own.
  void CrashAll(const std::string& deployment = "") {
    Change([&](Task& t) {
      if (t.last_status == TaskStatus::kStopped) return false;
      if (!deployment.empty() && t.internal.deployment != deployment) return false;
      t.last_status = TaskStatus::kStopped;
      t.desired_status = TaskStatus::kStopped;
      t.stop_code = model::StopCode::kEssentialContainerExited;
      t.stopped_reason = "Essential container in task exited";
      return true;
    });
  }

  struct Counts {
    int live = 0;     // not stopping and not stopped
    int running = 0;  // of those, RUNNING
    std::map<std::string, int> live_by_deployment;
  };
  Counts Count() {
    Counts c;
    for (const auto& t : Tasks()) {
      if (t.last_status == TaskStatus::kStopped || t.desired_status == TaskStatus::kStopped) continue;
      ++c.live;
      ++c.live_by_deployment[t.internal.deployment];
      if (t.last_status == TaskStatus::kRunning) ++c.running;
    }
    return c;
  }

  void AddInstance(const std::string& id, const std::string& status = "ACTIVE") {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      return tx.Put({model::kInstance, kRegion, id, kCluster, id, status, 0, Json::object()});
    }).ok());
  }

  bool HasEvent(const std::string& text) {
    for (const auto& e : Get().events) {
      if (e.message.find(text) != std::string::npos) return true;
    }
    return false;
  }

  // Runs passes, letting tasks start and stop in between, until the PRIMARY deployment
  // completes; after every pass, never more than `max_live` tasks and, once `min_running`
  // were reached, never fewer RUNNING than that.
  void RollOut(int max_live, int min_running, int passes = 20) {
    for (int i = 0; i < passes; ++i) {
      controller_->RunOnce();
      Counts c = Count();
      EXPECT_LE(c.live, max_live) << "pass " << i;
      EXPECT_GE(c.running, min_running) << "pass " << i;
      if (Get().deployments.size() == 1 && Get().deployments[0].rollout_state == RolloutState::kCompleted) return;
      // Starting tasks first, then stopping ones: the RUNNING floor is checked in between.
      FinishStopping();
      c = Count();
      EXPECT_GE(c.running, min_running) << "pass " << i << " after stops";
      Settle();
    }
    ADD_FAILURE() << "the deployment did not complete";
  }

  // ---- Load balancers (issue 13) ----

  // An `ip` target group the service's tasks register in (tg_arn_).
  void MakeTargetGroup() {
    model::TargetGroup tg;
    tg.region = kRegion;
    tg.id = model::NewElbId();
    tg.name = "web";
    tg.arn = model::TargetGroupArn(kRegion, "000000000000", tg.name, tg.id);
    tg.target_type = model::TargetType::kIp;
    tg.protocol = model::LbProtocol::kHttp;
    tg.attributes = model::DefaultTargetGroupAttributes(tg.target_type, tg.protocol);
    tg_arn_ = tg.arn;
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTargetGroup(tx, tg); }).ok());
  }
  Service NewServiceBehindLb(int desired, bool breaker = false) {
    MakeTargetGroup();
    Service s = NewService(desired, 100, 200, breaker);
    s.load_balancers = {{tg_arn_, "", "app", 8080}};
    return s;
  }
  // Settle, and the running hook's part: each task that reached RUNNING gets an ENI
  // address and registers in the service's target group.
  void SettleBehindLb() {
    Settle();
    Change([&](Task& t) {
      if (t.last_status != TaskStatus::kRunning || t.desired_status != TaskStatus::kRunning ||
          !t.internal.targets.empty()) {
        return false;
      }
      t.internal.network_mode = model::NetworkMode::kAwsvpc;
      t.internal.network.eni = model::TaskEni{};
      t.internal.network.eni->ip = fmt::format("10.0.0.{}", ++next_ip_);
      return true;
    });
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto all, state::records::ListTasks(tx, {model::kTask, kRegion, kCluster}));
      for (auto& t : all) {
        if (!t.internal.network.eni || !t.internal.targets.empty()) continue;
        RETURN_IF_ERROR(RegisterTaskTargets(tx, t, clock_.Now(), LbHookOptions{}));
        RETURN_IF_ERROR(state::records::PutTask(tx, t));
      }
      return Status::Ok();
    }).ok());
  }
  // What the load balancer controller records of the health checks: every target of the
  // group (or only `id`'s) in `state`.
  void SetTargets(model::TargetHealthState state, const std::string& id = "",
                  const std::string& description = "") {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto tg, state::records::GetTargetGroup(tx, kRegion, model::IdFromArn(tg_arn_, "targetgroup")));
      if (!tg) return NotFound("no target group " + tg_arn_);
      for (auto& t : tg->targets) {
        if (!id.empty() && t.id != id) continue;
        t.state = state;
        t.reason = state == model::TargetHealthState::kUnhealthy ? "Target.FailedHealthChecks" : "";
        t.description = description;
      }
      return state::records::PutTargetGroup(tx, *tg);
    }).ok());
  }
  Task TaskWithIp(const std::string& ip) {
    for (const auto& t : Tasks()) {
      if (t.internal.network.eni && t.internal.network.eni->ip == ip) return t;
    }
    ADD_FAILURE() << "no task has " << ip;
    return Task();
  }

  std::string tg_arn_;
  int next_ip_ = 0;

  kecs::testing::TempDir dir_;
  FakeClock clock_{1700000000};
  std::unique_ptr<state::Store> store_;
  FakeLauncher launcher_;
  std::unique_ptr<ServiceController> controller_;
};

TEST(CircuitBreakerThreshold, IsHalfOfDesiredBetweenThreeAndTwoHundred) {
  EXPECT_EQ(CircuitBreakerThreshold(1), 3);
  EXPECT_EQ(CircuitBreakerThreshold(6), 3);
  EXPECT_EQ(CircuitBreakerThreshold(7), 4);
  EXPECT_EQ(CircuitBreakerThreshold(10), 5);
  EXPECT_EQ(CircuitBreakerThreshold(400), 200);
  EXPECT_EQ(CircuitBreakerThreshold(1000), 200);
}

TEST_F(ServiceControllerTest, StartsDesiredTasksThenCompletesAndReachesSteadyState) {
  Put(NewService(3));
  controller_->RunOnce();
  EXPECT_EQ(launcher_.requests, std::vector<int>{3});
  EXPECT_EQ(Count().live, 3);
  EXPECT_TRUE(HasEvent("(service web) has started 3 tasks:"));
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kInProgress);
  Settle();
  controller_->RunOnce();
  Service s = Get();
  EXPECT_EQ(s.deployments[0].rollout_state, RolloutState::kCompleted);
  EXPECT_EQ(s.deployments[0].rollout_state_reason, "ECS deployment " + s.deployments[0].id + " completed.");
  EXPECT_EQ(s.events[0].message, "(service web) has reached a steady state.");
  EXPECT_EQ(s.events[1].message, "(service web) (deployment " + s.deployments[0].id + ") deployment completed.");
  EXPECT_TRUE(s.internal.steady);
  ASSERT_TRUE(s.internal.last_completed);
  EXPECT_EQ(s.internal.last_completed->id, s.deployments[0].id);
  // Nothing more to do: a further pass changes nothing.
  controller_->RunOnce();
  EXPECT_EQ(Get(), s);
  EXPECT_EQ(launcher_.requests.size(), 1u);
}

TEST_F(ServiceControllerTest, ScaleOutStartsOnlyTheDifference) {
  PutSteady(NewService(2));
  SetDesired(5);
  controller_->RunOnce();
  EXPECT_EQ(launcher_.requests.back(), 3);
  EXPECT_EQ(Count().live, 5);
  EXPECT_FALSE(Get().internal.steady);
  Settle();
  controller_->RunOnce();
  EXPECT_TRUE(Get().internal.steady);
}

TEST_F(ServiceControllerTest, ScaleInStopsPendingTasksFirstWithTheSchedulersReason) {
  PutSteady(NewService(2));
  SetDesired(3);
  controller_->RunOnce();  // one more, PENDING
  SetDesired(1);
  controller_->RunOnce();
  auto tasks = Tasks();
  int stopping_pending = 0, stopping_running = 0;
  for (const auto& t : tasks) {
    if (t.desired_status != TaskStatus::kStopped) continue;
    EXPECT_EQ(t.stop_code, model::StopCode::kServiceSchedulerInitiated);
    EXPECT_EQ(t.stopped_reason, "Scaling activity initiated by (deployment " + Get().deployments[0].id + ")");
    EXPECT_TRUE(t.stopping_at);
    EXPECT_EQ(t.version, 2);
    (t.last_status == TaskStatus::kRunning ? stopping_running : stopping_pending)++;
  }
  EXPECT_EQ(stopping_pending, 1);
  EXPECT_EQ(stopping_running, 1);
  EXPECT_TRUE(HasEvent("(service web) has stopped 2 running tasks:"));
  EXPECT_EQ(Count().live, 1);
}

// A rolling deployment at one minimumHealthyPercent / maximumPercent setting: what the
// first pass does, and that no pass goes above maximumPercent or below
// minimumHealthyPercent until the new deployment completes.
struct RollCase {
  int desired, min_pct, max_pct;
  int live_after_first, running_after_first;  // tasks not stopping; of them RUNNING
  int max_live, min_running;                  // floor(desired*max%), ceil(desired*min%)
};

void PrintTo(const RollCase& c, std::ostream* os) {
  *os << "desired " << c.desired << " at " << c.min_pct << "%/" << c.max_pct << "%";
}

class RollingDeploymentTest : public ServiceControllerTest, public ::testing::WithParamInterface<RollCase> {};

TEST_P(RollingDeploymentTest, StaysWithinTheBoundsUntilComplete) {
  const RollCase& c = GetParam();
  PutSteady(NewService(c.desired, c.min_pct, c.max_pct));
  ASSERT_EQ(Count().running, c.desired);
  Deploy(kTdB);
  controller_->RunOnce();
  Counts first = Count();
  EXPECT_EQ(first.live, c.live_after_first);
  EXPECT_EQ(first.running, c.running_after_first);
  RollOut(c.max_live, c.min_running);
  for (const auto& t : Tasks()) {
    if (t.desired_status == TaskStatus::kRunning) {
      EXPECT_EQ(t.task_definition_arn, kTdB);
    }
  }
  EXPECT_EQ(Count().running, c.desired);
}

INSTANTIATE_TEST_SUITE_P(
    Percentages, RollingDeploymentTest,
    ::testing::Values(
        // 100/200: all new tasks start beside the old ones, which stop once those run.
        RollCase{4, 100, 200, 8, 4, 8, 4},
        // 50/100: half the old ones stop, and their replacements start, in one pass.
        RollCase{4, 50, 100, 4, 2, 4, 2},
        // 0/100: everything is replaced at once.
        RollCase{3, 0, 100, 3, 0, 3, 0},
        // 75/125: one old task stops and two new ones start (at most 5, at least 3).
        RollCase{4, 75, 125, 5, 3, 5, 3},
        // 50/150 with an odd count: 7 at most, 3 RUNNING at least.
        RollCase{5, 50, 150, 7, 3, 7, 3}));

TEST_F(ServiceControllerTest, OldTasksKeepRunningWhileTheNewOnesCannotStart) {
  PutSteady(NewService(2, /*min=*/100, /*max=*/200));
  Deploy(kTdB);
  for (int i = 0; i < 5; ++i) {
    controller_->RunOnce();  // the new tasks stay PENDING
    EXPECT_EQ(Count().running, 2);
  }
  EXPECT_EQ(Count().live, 4);
}

TEST_F(ServiceControllerTest, CircuitBreakerFailsTheDeploymentAtTheThreshold) {
  Put(NewService(2, 100, 200, /*breaker=*/true, /*rollback=*/false));
  controller_->RunOnce();
  CrashAll();  // 2 failed: below the threshold of 3
  controller_->RunOnce();
  Service s = Get();
  EXPECT_EQ(s.deployments[0].failed_tasks, 2);
  EXPECT_EQ(s.deployments[0].rollout_state, RolloutState::kInProgress);
  CrashAll();  // 4 failed
  controller_->RunOnce();
  s = Get();
  EXPECT_EQ(s.deployments[0].failed_tasks, 4);
  EXPECT_EQ(s.deployments[0].rollout_state, RolloutState::kFailed);
  EXPECT_EQ(s.deployments[0].rollout_state_reason, "ECS deployment circuit breaker: tasks failed to start.");
  EXPECT_TRUE(HasEvent("(deployment " + s.deployments[0].id + ") deployment failed: tasks failed to start."));
  // A FAILED deployment starts nothing more.
  size_t launches = launcher_.requests.size();
  controller_->RunOnce();
  controller_->RunOnce();
  EXPECT_EQ(launcher_.requests.size(), launches);
  EXPECT_EQ(Count().live, 0);
}

TEST_F(ServiceControllerTest, EachFailedTaskCountsOnce) {
  Put(NewService(1));
  controller_->RunOnce();
  CrashAll();
  for (int i = 0; i < 3; ++i) controller_->RunOnce();
  // One crash, counted once, whatever the passes; the replacements are still PENDING.
  EXPECT_EQ(Get().deployments[0].failed_tasks, 1);
  for (const auto& t : Tasks()) {
    if (t.last_status == TaskStatus::kStopped) {
      EXPECT_TRUE(t.internal.counted);
    }
  }
}

TEST_F(ServiceControllerTest, WithoutTheCircuitBreakerFailedTasksAreReplacedForever) {
  Put(NewService(1));
  for (int i = 0; i < 6; ++i) {
    controller_->RunOnce();
    CrashAll();
  }
  Service s = Get();
  EXPECT_EQ(s.deployments[0].rollout_state, RolloutState::kInProgress);
  EXPECT_EQ(s.deployments[0].failed_tasks, 5);
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 1);
}

TEST_F(ServiceControllerTest, CircuitBreakerRollsBackToTheLastCompletedDeployment) {
  PutSteady(NewService(2, 100, 200, /*breaker=*/true, /*rollback=*/true));
  std::string good = Get().deployments[0].id;
  ASSERT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
  Deploy(kTdB);
  std::string bad = Get().deployments[0].id;
  for (int i = 0; i < 3 && Get().deployments[0].id == bad; ++i) {
    controller_->RunOnce();
    CrashAll(bad);
  }
  controller_->RunOnce();
  Service s = Get();
  ASSERT_GE(s.deployments.size(), 2u);
  const Deployment& primary = s.deployments[0];
  EXPECT_NE(primary.id, bad);
  EXPECT_NE(primary.id, good);
  EXPECT_EQ(primary.status, model::DeploymentStatus::kPrimary);
  EXPECT_EQ(primary.task_definition, kTdA);
  EXPECT_EQ(primary.rollout_state, RolloutState::kInProgress);
  EXPECT_EQ(primary.failed_tasks, 0);
  EXPECT_EQ(s.task_definition, kTdA);
  EXPECT_TRUE(HasEvent("(service web) rolling back to deployment " + good + "."));
  // The old tasks kept serving throughout, and the rollback completes.
  EXPECT_EQ(Count().running, 2);
  RollOut(/*max_live=*/4, /*min_running=*/2);
  EXPECT_EQ(Get().task_definition, kTdA);
}

TEST_F(ServiceControllerTest, RollbackAfterTheOldDeploymentWasDroppedUsesTheRememberedOne) {
  PutSteady(NewService(1, 0, 100, /*breaker=*/true, /*rollback=*/true));
  std::string good = Get().deployments[0].id;
  Deploy(kTdB);
  controller_->RunOnce();  // min 0%: the old task stops at once
  FinishStopping();
  for (int i = 0; i < 4 && Get().deployments[0].task_definition == kTdB; ++i) {
    controller_->RunOnce();
    CrashAll();
  }
  EXPECT_EQ(Get().deployments[0].task_definition, kTdA);
  EXPECT_TRUE(HasEvent("rolling back to deployment " + good + "."));
}

TEST_F(ServiceControllerTest, DaemonRunsOneTaskPerActiveInstance) {
  AddInstance("i-1");
  AddInstance("i-2");
  AddInstance("i-old", "INACTIVE");
  Service s = NewService(0, /*min=*/0, /*max=*/100);
  s.scheduling_strategy = model::SchedulingStrategy::kDaemon;
  Put(s);
  controller_->RunOnce();
  EXPECT_EQ(Get().desired_count, 2);
  std::set<std::string> on;
  for (const auto& t : Tasks()) on.insert(t.internal.placement->instance);
  EXPECT_EQ(on, (std::set<std::string>{"i-1", "i-2"}));
  Settle();
  controller_->RunOnce();
  EXPECT_TRUE(Get().internal.steady);
  AddInstance("i-3");
  controller_->RunOnce();
  EXPECT_EQ(Get().desired_count, 3);
  EXPECT_EQ(Count().live, 3);
}

TEST_F(ServiceControllerTest, DaemonTaskOnADrainingInstanceStops) {
  AddInstance("i-1");
  AddInstance("i-2");
  Service s = NewService(0, /*min=*/0, /*max=*/100);
  s.scheduling_strategy = model::SchedulingStrategy::kDaemon;
  PutSteady(s);
  AddInstance("i-2", "DRAINING");
  controller_->RunOnce();
  EXPECT_EQ(Get().desired_count, 1);
  for (const auto& t : Tasks()) {
    bool on_drained = t.internal.placement->instance == "i-2";
    EXPECT_EQ(t.desired_status == TaskStatus::kStopped, on_drained);
  }
  FinishStopping();
  controller_->RunOnce();
  EXPECT_TRUE(Get().internal.steady);
}

TEST_F(ServiceControllerTest, ReplicaTaskOnADrainingInstanceIsReplacedBeforeItStops) {
  AddInstance("i-1");
  Put(NewService(1));  // 100% / 200%
  controller_->RunOnce();
  Change([](Task& t) {
    model::TaskPlacement p;
    p.instance = "i-1";
    t.internal.placement = p;
    return true;
  });
  Settle();
  controller_->RunOnce();
  AddInstance("i-1", "DRAINING");
  controller_->RunOnce();
  Counts c = Count();
  EXPECT_EQ(c.live, 2);  // the replacement starts; the leaving one keeps running
  EXPECT_EQ(c.running, 1);
  Settle();
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 1);
  int stopped_on_drained = 0;
  for (const auto& t : Tasks()) {
    if (t.internal.placement && t.desired_status == TaskStatus::kStopped) ++stopped_on_drained;
  }
  EXPECT_EQ(stopped_on_drained, 1);
}

TEST_F(ServiceControllerTest, ADrainingServiceBecomesInactiveOnceItsLastTaskIsStopping) {
  PutSteady(NewService(2));
  SetDesired(1);
  controller_->RunOnce();  // one of the two stops
  Service s = Get();
  s.status = model::ServiceStatus::kDraining;  // DeleteService --force
  s.desired_count = 0;
  Put(s);
  controller_->RunOnce();
  for (const auto& t : Tasks()) EXPECT_EQ(t.desired_status, TaskStatus::kStopped);
  EXPECT_EQ(Get().status, model::ServiceStatus::kInactive);
  // An INACTIVE service is no longer worked.
  FinishStopping();
  Service done = Get();
  controller_->RunOnce();
  EXPECT_EQ(Get(), done);
}

TEST_F(ServiceControllerTest, ADrainingServiceStopsTheTasksOfEveryDeployment) {
  PutSteady(NewService(2, /*min=*/100, /*max=*/200));
  Deploy(kTdB);
  controller_->RunOnce();  // two new tasks PENDING beside the two old ones
  MarkDraining();
  controller_->RunOnce();
  // Nothing is desired any more: every task is told to stop, and the service goes.
  EXPECT_EQ(Count().live, 0);
  EXPECT_EQ(Get().status, model::ServiceStatus::kInactive);
}

TEST_F(ServiceControllerTest, AYoungTaskDoesNotCompleteTheDeployment) {
  MakeController(std::chrono::milliseconds(3000));
  PutSteady(NewService(1));
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kInProgress);
  clock_.Advance(3.5);
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
}

// ---- Container health checks -----------------------------------------------------------

TEST_F(ServiceControllerTest, ATaskWithHealthChecksIsHealthyOnlyWhenItsHealthSaysSo) {
  launcher_.health_checked = true;
  PutSteady(NewService(2));  // RUNNING, health still UNKNOWN
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kInProgress);
  clock_.Advance(60);  // however long they run
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kInProgress);
  Change([](Task& t) {
    t.health_status = model::HealthStatus::kHealthy;
    return true;
  });
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
  EXPECT_TRUE(HasEvent("(service web) has reached a steady state."));
}

TEST_F(ServiceControllerTest, OldTasksStayUntilTheNewOnesAreHealthy) {
  launcher_.health_checked = true;
  PutSteady(NewService(2, /*min_pct=*/100, /*max_pct=*/200));
  Change([](Task& t) {
    t.health_status = model::HealthStatus::kHealthy;
    return true;
  });
  controller_->RunOnce();
  std::string old_dep = Get().deployments[0].id;
  Deploy(kTdB);
  controller_->RunOnce();  // two new tasks start
  Settle();                // and run, health UNKNOWN
  controller_->RunOnce();
  EXPECT_EQ(Count().live_by_deployment[old_dep], 2);  // none of the old ones stopped
  Change([](Task& t) {
    t.health_status = model::HealthStatus::kHealthy;
    return true;
  });
  controller_->RunOnce();
  EXPECT_EQ(Count().live_by_deployment[old_dep], 0);
}

TEST_F(ServiceControllerTest, AnUnhealthyTaskIsReplacedWithEcsEvents) {
  launcher_.health_checked = true;
  PutSteady(NewService(1));
  std::string bad = Tasks()[0].id;
  Change([](Task& t) {
    t.health_status = model::HealthStatus::kUnhealthy;
    return true;
  });
  controller_->RunOnce();
  Task stopped;
  for (const auto& t : Tasks()) {
    if (t.id == bad) stopped = t;
  }
  EXPECT_EQ(stopped.desired_status, TaskStatus::kStopped);
  EXPECT_EQ(stopped.stop_code, model::StopCode::kServiceSchedulerInitiated);
  EXPECT_EQ(stopped.stopped_reason, "Task failed container health checks");
  EXPECT_TRUE(HasEvent("(service web) (task " + bad + ") failed container health checks."));
  EXPECT_TRUE(HasEvent("(service web) has stopped 1 running tasks: (task " + bad + ")."));
  EXPECT_TRUE(HasEvent("Amazon ECS replaced 1 tasks due to an unhealthy status."));
  EXPECT_EQ(Count().live, 1);  // its replacement
  std::string replacement;
  for (const auto& t : Tasks()) {
    if (t.id != bad) replacement = t.id;
  }
  EXPECT_TRUE(HasEvent("(service web) has started 1 tasks: (task " + replacement + ")."));
}

TEST_F(ServiceControllerTest, TheGracePeriodHoldsOffTheReplacement) {
  launcher_.health_checked = true;
  Service s = NewService(1);
  s.health_check_grace_period_seconds = 60;
  PutSteady(s);
  Change([](Task& t) {
    t.health_status = model::HealthStatus::kUnhealthy;
    return true;
  });
  clock_.Advance(59);
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 1);
  EXPECT_EQ(Tasks()[0].desired_status, TaskStatus::kRunning);
  clock_.Advance(2);
  controller_->RunOnce();
  EXPECT_EQ(Tasks().size(), 2u);
  EXPECT_TRUE(HasEvent("failed container health checks."));
}

TEST_F(ServiceControllerTest, UnhealthyReplacementsCountTowardTheCircuitBreaker) {
  launcher_.health_checked = true;
  Put(NewService(1, 100, 200, /*breaker=*/true));
  for (int i = 0; i < 3; ++i) {
    controller_->RunOnce();
    Settle();
    Change([](Task& t) {
      if (t.desired_status == TaskStatus::kStopped) return false;
      t.health_status = model::HealthStatus::kUnhealthy;
      return true;
    });
  }
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kFailed);
}

TEST_F(ServiceControllerTest, ATaskThatCannotBePlacedIsAnEventInEcsWords) {
  launcher_.capacity = 1;
  Put(NewService(2));
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 1);
  EXPECT_TRUE(HasEvent("(service web) has started 1 tasks:"));
  EXPECT_TRUE(HasEvent("(service web) was unable to place a task. Reason: RESOURCE:MEMORY"));
}

TEST_F(ServiceControllerTest, AFailedStoreWriteCommitsNothingAndTheNextPassRetries) {
  Put(NewService(2));
  Service before = Get();
  int attempts = 0;
  store_->SetWriteFault([&] {
    ++attempts;
    return Unavailable("disk full");
  });
  controller_->RunOnce();
  EXPECT_GE(attempts, 1);
  EXPECT_EQ(Get(), before);
  EXPECT_TRUE(Tasks().empty());
  store_->SetWriteFault(nullptr);
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 2);
  EXPECT_TRUE(HasEvent("has started 2 tasks"));
}

TEST_F(ServiceControllerTest, AnUnreadableServiceDoesNotStopTheOthers) {
  Put(NewService(1));
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    state::Object bad{model::kService, kRegion, "prod/bad", kCluster, "bad", "ACTIVE", 0, Json::array()};
    return tx.Put(bad);
  }).ok());
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 1);
}

// ---- Services behind load balancers (issue 13) ----------------------------------------------

TEST_F(ServiceControllerTest, BehindALoadBalancerADeploymentCompletesOnlyOnceTheTargetsAreHealthy) {
  Put(NewServiceBehindLb(2));
  controller_->RunOnce();
  SettleBehindLb();
  clock_.Advance(600);  // however long they run: the targets are still `initial`
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kInProgress);
  SetTargets(model::TargetHealthState::kHealthy, "10.0.0.1");
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kInProgress);
  SetTargets(model::TargetHealthState::kHealthy);
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
  EXPECT_TRUE(HasEvent("(service web) has reached a steady state."));
}

TEST_F(ServiceControllerTest, OldTasksBehindALoadBalancerStayUntilTheNewTargetsAreHealthy) {
  Put(NewServiceBehindLb(1));
  controller_->RunOnce();
  SettleBehindLb();
  SetTargets(model::TargetHealthState::kHealthy);
  controller_->RunOnce();
  std::string old_dep = Get().deployments[0].id;
  ASSERT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
  Deploy(kTdB);
  controller_->RunOnce();  // the new task starts
  SettleBehindLb();        // runs, registered: `initial`
  controller_->RunOnce();
  EXPECT_EQ(Count().live_by_deployment[old_dep], 1);
  SetTargets(model::TargetHealthState::kHealthy, "10.0.0.2");
  controller_->RunOnce();
  EXPECT_EQ(Count().live_by_deployment[old_dep], 0);
}

TEST_F(ServiceControllerTest, ATaskFailingElbHealthChecksIsReplacedAfterTheGracePeriod) {
  Service s = NewServiceBehindLb(1);
  s.health_check_grace_period_seconds = 60;
  Put(s);
  controller_->RunOnce();
  SettleBehindLb();
  std::string bad = TaskWithIp("10.0.0.1").id;
  SetTargets(model::TargetHealthState::kUnhealthy, "", "Health checks failed with these codes: [503]");
  clock_.Advance(59);
  controller_->RunOnce();
  EXPECT_EQ(TaskWithIp("10.0.0.1").desired_status, TaskStatus::kRunning);  // within the grace period
  clock_.Advance(1);
  controller_->RunOnce();
  Task stopped = TaskWithIp("10.0.0.1");
  EXPECT_EQ(stopped.desired_status, TaskStatus::kStopped);
  EXPECT_EQ(stopped.stop_code, model::StopCode::kServiceSchedulerInitiated);
  EXPECT_EQ(stopped.stopped_reason, "Task failed ELB health checks in (target-group " + tg_arn_ + ")");
  EXPECT_TRUE(HasEvent("(service web) (task " + bad + ") (port 8080) is unhealthy in (target-group " + tg_arn_ +
                       ") due to (reason Health checks failed with these codes: [503])"));
  EXPECT_TRUE(HasEvent("Amazon ECS replaced 1 tasks due to an unhealthy status."));
  EXPECT_EQ(Count().live, 1);  // its replacement
}

TEST_F(ServiceControllerTest, ElbHealthCheckFailuresCountTowardTheCircuitBreaker) {
  Put(NewServiceBehindLb(1, /*breaker=*/true));
  for (int i = 0; i < 3; ++i) {
    controller_->RunOnce();
    SettleBehindLb();
    SetTargets(model::TargetHealthState::kUnhealthy);
  }
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kFailed);
  EXPECT_EQ(Get().deployments[0].failed_tasks, 3);
}

TEST_F(ServiceControllerTest, ATargetGroupDeletedSinceDoesNotHoldTheDeploymentBack) {
  Put(NewServiceBehindLb(1));
  controller_->RunOnce();
  SettleBehindLb();
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    return tx.Delete(model::kTargetGroup, kRegion, model::IdFromArn(tg_arn_, "targetgroup")).status();
  }).ok());
  controller_->RunOnce();
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
}

// ---- Task scale-in protection (issue 18) ----

TEST_F(ServiceControllerTest, ScaleInLeavesProtectedTasksUntilTheirProtectionIsUnset) {
  PutSteady(NewService(4));
  std::set<std::string> guarded = Protect(clock_.Now() + 3600, 2);
  SetDesired(1);
  controller_->RunOnce();
  // The two unprotected tasks stop; the two protected ones stay, one of them over desired.
  for (const auto& t : Tasks()) {
    EXPECT_EQ(t.desired_status == TaskStatus::kStopped, !guarded.count(t.id)) << t.id;
  }
  EXPECT_TRUE(HasEvent("(service web) was unable to scale in due to (reason: 1 tasks under protection)."));
  Settle();
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 2);
  EXPECT_FALSE(Get().internal.steady);
  // Unprotected: the surplus one stops on the next pass.
  Protect(std::nullopt);
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 1);
}

TEST_F(ServiceControllerTest, ProtectionThatHasExpiredNoLongerHoldsATask) {
  PutSteady(NewService(2));
  Protect(clock_.Now() + 60);
  SetDesired(0);
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 2);
  clock_.Advance(59);
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 2);
  clock_.Advance(1);  // the expiry itself: no longer protected
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 0);
}

TEST_F(ServiceControllerTest, ADeploymentWaitsForItsProtectedOldTasks) {
  PutSteady(NewService(2, /*min_pct=*/50, /*max_pct=*/200));
  std::string old_dep = Get().deployments[0].id;
  std::string guarded = *Protect(clock_.Now() + 3600, 1).begin();
  Deploy(kTdB);
  for (int i = 0; i < 5; ++i) {
    controller_->RunOnce();
    Settle();
  }
  // The unprotected old task was replaced; the protected one still runs, and the
  // deployment is not complete while it does.
  EXPECT_EQ(Count().live_by_deployment[old_dep], 1);
  for (const auto& t : Tasks()) {
    if (t.id == guarded) {
      EXPECT_EQ(t.desired_status, TaskStatus::kRunning);
    }
  }
  EXPECT_EQ(Get().deployments.size(), 2u);
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kInProgress);
  Protect(std::nullopt);
  controller_->RunOnce();
  Settle();
  controller_->RunOnce();
  EXPECT_EQ(Count().live_by_deployment[old_dep], 0);
  ASSERT_EQ(Get().deployments.size(), 1u);
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
}

TEST_F(ServiceControllerTest, ADeletedServiceStopsItsProtectedTasksToo) {
  PutSteady(NewService(2));
  Protect(clock_.Now() + 3600);
  MarkDraining();
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 0);
}

// ---- Task sets (issue 18) ----------------------------------------------------------------

class TaskSetControllerTest : public ServiceControllerTest {
 protected:
  // An EXTERNAL service of `desired` tasks, with a task set per scale (ids in sets_).
  Service NewExternalService(int desired, const std::vector<double>& scales) {
    Service s = NewService(desired);
    s.deployment_controller = "EXTERNAL";
    s.deployments.clear();
    for (size_t i = 0; i < scales.size(); ++i) {
      model::TaskSet ts;
      ts.id = model::NewDeploymentId();
      ts.arn = "arn:aws:ecs:us-east-1:000000000000:task-set/prod/web/" + ts.id;
      ts.task_definition = i == 0 ? kTdA : kTdB;
      ts.scale = scales[i];
      s.task_sets.push_back(ts);
      sets_.push_back(ts.id);
    }
    model::RecomputeTaskSetCounts(s, clock_.Now());
    return s;
  }
  void Scale(size_t i, double scale) {
    Service s = Get();
    s.task_sets[i].scale = scale;
    model::RecomputeTaskSetCounts(s, clock_.Now());
    Put(s);
  }
  void Pass() {
    controller_->RunOnce();
    Settle();
    controller_->RunOnce();
  }
  std::vector<std::string> sets_;
};

TEST_F(TaskSetControllerTest, EachTaskSetRunsItsShareOfTheDesiredCountAndSettles) {
  Put(NewExternalService(4, {50, 30}));
  controller_->RunOnce();
  Counts c = Count();
  EXPECT_EQ(c.live_by_deployment[sets_[0]], 2);
  EXPECT_EQ(c.live_by_deployment[sets_[1]], 2);  // ceil(1.2)
  EXPECT_EQ(Get().task_sets[0].stability_status, model::StabilityStatus::kStabilizing);
  for (const auto& t : Tasks()) {
    EXPECT_EQ(t.started_by, t.internal.deployment);
    EXPECT_EQ(t.group, "service:web");
    EXPECT_EQ(t.task_definition_arn, t.internal.deployment == sets_[0] ? kTdA : kTdB);
  }
  Settle();
  controller_->RunOnce();
  Service s = Get();
  EXPECT_TRUE(s.deployments.empty());
  for (const auto& ts : s.task_sets) {
    EXPECT_EQ(ts.stability_status, model::StabilityStatus::kSteadyState) << ts.id;
    EXPECT_EQ(ts.stability_status_at, clock_.Now());
  }
  EXPECT_TRUE(HasEvent("(service web) has reached a steady state."));
}

TEST_F(TaskSetControllerTest, ScalingDownStopsOnlyThatSetsSurplusPendingFirst) {
  Put(NewExternalService(4, {100, 50}));
  Pass();
  ASSERT_EQ(Count().live_by_deployment[sets_[0]], 4);
  // One of the first set's tasks is still PENDING: it goes first.
  std::string pending;
  Change([&](Task& t) {
    if (!pending.empty() || t.internal.deployment != sets_[0]) return false;
    pending = t.id;
    t.last_status = TaskStatus::kPending;
    return true;
  });
  Scale(0, 25);
  controller_->RunOnce();
  Counts c = Count();
  EXPECT_EQ(c.live_by_deployment[sets_[0]], 1);
  EXPECT_EQ(c.live_by_deployment[sets_[1]], 2);
  for (const auto& t : Tasks()) {
    if (t.id == pending) {
      EXPECT_EQ(t.desired_status, TaskStatus::kStopped);
      EXPECT_EQ(t.stopped_reason, "Scaling activity initiated by (deployment " + sets_[0] + ")");
    }
  }
  EXPECT_EQ(Get().task_sets[0].stability_status, model::StabilityStatus::kStabilizing);
}

TEST_F(TaskSetControllerTest, TheServicesDesiredCountDrivesEveryTaskSet) {
  Put(NewExternalService(2, {100, 50}));
  Pass();
  Service s = Get();
  s.desired_count = 6;
  Put(s);
  controller_->RunOnce();
  EXPECT_EQ(Get().task_sets[0].computed_desired_count, 6);
  EXPECT_EQ(Get().task_sets[1].computed_desired_count, 3);
  Counts c = Count();
  EXPECT_EQ(c.live_by_deployment[sets_[0]], 6);
  EXPECT_EQ(c.live_by_deployment[sets_[1]], 3);
}

TEST_F(TaskSetControllerTest, ADeletedTaskSetStopsItsTasksAndLeavesOnceTheyAreGone) {
  Put(NewExternalService(2, {100, 100}));
  Pass();
  Service s = Get();
  s.task_sets[1].status = model::TaskSetStatus::kDraining;
  Put(s);
  controller_->RunOnce();
  Counts c = Count();
  EXPECT_EQ(c.live_by_deployment[sets_[1]], 0);
  EXPECT_EQ(c.live_by_deployment[sets_[0]], 2);
  // Still there while its tasks are on their way out... (their stop is this pass's)
  ASSERT_EQ(Get().task_sets.size(), 2u);
  FinishStopping();
  controller_->RunOnce();
  ASSERT_EQ(Get().task_sets.size(), 1u);
  EXPECT_EQ(Get().task_sets[0].id, sets_[0]);
}

TEST_F(TaskSetControllerTest, TasksOfNoTaskSetStop) {
  Put(NewExternalService(2, {100}));
  Pass();
  Service s = Get();
  s.task_sets.clear();  // as if the set were gone without its tasks
  Put(s);
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 0);
}

TEST_F(TaskSetControllerTest, ADeletedServiceStopsEveryTaskSetAndBecomesInactive) {
  Put(NewExternalService(3, {100, 100}));
  Pass();
  MarkDraining();
  controller_->RunOnce();
  EXPECT_EQ(Count().live, 0);
  FinishStopping();
  controller_->RunOnce();
  EXPECT_EQ(Get().status, model::ServiceStatus::kInactive);
}

TEST_F(TaskSetControllerTest, ATaskSetsTasksRegisterInItsOwnTargetGroup) {
  MakeTargetGroup();
  Service s = NewExternalService(2, {100, 0});
  s.task_sets[0].load_balancers = {{tg_arn_, "", "app", 8080}};
  Put(s);
  controller_->RunOnce();
  SettleBehindLb();
  for (const auto& t : Tasks()) {
    ASSERT_EQ(t.internal.targets.size(), 1u) << t.id;
    EXPECT_EQ(t.internal.targets[0].target_group_arn, tg_arn_);
  }
  // Healthy targets make the set steady; `initial` ones do not.
  controller_->RunOnce();
  EXPECT_EQ(Get().task_sets[0].stability_status, model::StabilityStatus::kStabilizing);
  SetTargets(model::TargetHealthState::kHealthy);
  controller_->RunOnce();
  EXPECT_EQ(Get().task_sets[0].stability_status, model::StabilityStatus::kSteadyState);
}

// ---- Traffic-shifting deployments (issue 18) -------------------------------------------

class TrafficShiftTest : public ServiceControllerTest {
 protected:
  void SetUp() override {
    ServiceControllerTest::SetUp();
    ServiceController::Options o;
    o.settle = std::chrono::milliseconds(0);
    o.minute_seconds = 1;  // a deployment minute is a second of the fake clock
    controller_ = std::make_unique<ServiceController>(*store_, launcher_, o, clock_);
    blue_tg_ = model::TargetGroupArn(kRegion, "000000000000", "blue", "b1b1b1b1b1b1b1b1");
    green_tg_ = model::TargetGroupArn(kRegion, "000000000000", "green", "a2a2a2a2a2a2a2a2");
    prod_rule_ = MakeRule("1111111111111111");
    test_rule_ = MakeRule("2222222222222222");
  }

  // A listener rule forwarding to the blue target group.
  std::string MakeRule(const std::string& id) {
    model::Rule r;
    r.region = kRegion;
    r.id = id;
    r.listener_id = "3333333333333333";
    r.arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/lb/4444444444444444/"
            "3333333333333333/" + id;
    r.priority = id == "1111111111111111" ? 1 : 2;
    model::Action a;
    a.type = model::ActionType::kForward;
    a.target_group_arn = blue_tg_;
    r.actions = {a};
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutRule(tx, r); }).ok());
    return r.arn;
  }

  // The weights {blue group's, green group's} of a rule's forward action.
  std::pair<int, int> Weights(const std::string& rule_arn) {
    std::pair<int, int> out{-1, -1};
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto r, state::records::GetRule(tx, kRegion, model::IdFromArn(rule_arn, "listener-rule")));
      if (!r || r->actions.empty()) return Status::Ok();
      const std::vector<model::Action> actions = r->actions;
      for (const auto& w : actions.front().forward) {
        (w.target_group_arn == blue_tg_ ? out.first : out.second) = w.weight;
      }
      return Status::Ok();
    }).ok());
    return out;
  }

  Service NewShiftingService(const std::string& strategy, int desired = 2) {
    Service s = NewService(desired);
    model::ServiceLoadBalancer lb;
    lb.target_group_arn = blue_tg_;
    lb.container_name = "app";
    lb.container_port = 8080;
    lb.advanced = model::AdvancedConfiguration{green_tg_, prod_rule_, test_rule_, ""};
    s.load_balancers = {lb};
    s.deployment_configuration.strategy = strategy;
    s.deployment_configuration.bake_time_in_minutes = 5;
    return s;
  }

  void AddPauseHook(const std::string& stage) {
    Service s = Get();
    if (!s.deployment_configuration.lifecycle_hooks) s.deployment_configuration.lifecycle_hooks.emplace();
    s.deployment_configuration.lifecycle_hooks->push_back({"PAUSE", "", "", {stage}, Json(), Json()});
    Put(s);
  }

  // UpdateService's new deployment, recorded in the history as the API records it.
  std::string DeployRecorded(const std::string& td) {
    Deploy(td);
    Service s = Get();
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return RecordDeploymentStarted(tx, s, clock_.Now()).status(); }).ok());
    return s.deployments[0].id;
  }

  model::ServiceDeployment Record(const std::string& deployment_id) {
    model::ServiceDeployment out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto d, FindServiceDeployment(tx, Get(), deployment_id));
      if (d) out = *d;
      return Status::Ok();
    }).ok());
    return out;
  }

  // ContinueServiceDeployment's part.
  void Continue(const std::string& action) {
    Service s = Get();
    ASSERT_TRUE(s.internal.shift);
    ASSERT_FALSE(s.internal.shift->paused_hook.empty());
    s.internal.shift->action = action;
    Put(s);
  }

  // Passes with tasks starting and stopping in between.
  void Passes(int n) {
    for (int i = 0; i < n; ++i) {
      controller_->RunOnce();
      Settle();
    }
  }

  // `kecs alarm set NAME STATE`'s part.
  void SetAlarm(const std::string& name, const std::string& state) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return SetAlarmState(tx, kRegion, name, state, 0); }).ok());
  }

  // DeleteService --force's part: the service DRAINING, its deployment history deleted.
  void DeleteService() {
    MarkDraining();
    Service s = Get();
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return DeleteServiceHistory(tx, s); }).ok());
  }

  std::string blue_tg_, green_tg_, prod_rule_, test_rule_;
};

// Before any deployment, the production and test rules name the alternate group at weight
// 0 (so the load balancer has its backends, and no shift step adds a group); a rule
// forwarding to another group is left alone, and so is every rule when another load
// balancer forwards to the alternate group.
TEST_F(TrafficShiftTest, NamesTheAlternateGroupAtWeightZeroWhileNoShiftRuns) {
  const std::string other_tg = model::TargetGroupArn(kRegion, "000000000000", "other", "c3c3c3c3c3c3c3c3");
  const std::string elsewhere = MakeRule("5555555555555555");
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto r, state::records::GetRule(tx, kRegion, "5555555555555555"));
    if (!r) return NotFound("rule");
    model::Rule rule = *r;
    for (auto& a : rule.actions) a.target_group_arn = other_tg;
    return state::records::PutRule(tx, rule);
  }).ok());
  Service s = NewShiftingService("LINEAR");
  s.load_balancers[0].advanced->test_listener_rule = elsewhere;
  PutSteady(s);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto r, state::records::GetRule(tx, kRegion, "5555555555555555"));
    if (!r) return NotFound("rule");
    const std::vector<model::Action> actions = r->actions;
    EXPECT_EQ(actions.size(), 1u);
    for (const auto& a : actions) {
      EXPECT_EQ(a.target_group_arn, other_tg);
      EXPECT_TRUE(a.forward.empty());
    }
    return Status::Ok();
  }).ok());
}

TEST_F(TrafficShiftTest, LeavesTheRulesAloneWhenAnotherLoadBalancerUsesTheAlternateGroup) {
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    model::LoadBalancer lb;
    lb.region = kRegion;
    lb.id = "6666666666666666";
    lb.name = "other";
    lb.arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/other/6666666666666666";
    RETURN_IF_ERROR(state::records::PutLoadBalancer(tx, lb));
    model::Listener l;
    l.region = kRegion;
    l.id = "7777777777777777";
    l.load_balancer_id = lb.id;
    l.load_balancer_arn = lb.arn;
    l.arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/other/6666666666666666/7777777777777777";
    model::Action a;
    a.type = model::ActionType::kForward;
    a.target_group_arn = green_tg_;
    l.default_actions = {a};
    return state::records::PutListener(tx, l);
  }).ok());
  PutSteady(NewShiftingService("LINEAR"));
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(-1, -1)) << "still a plain forward to blue";
  EXPECT_EQ(Weights(test_rule_), std::make_pair(-1, -1));
}

TEST_F(TrafficShiftTest, BlueGreenPausesAtTestTrafficShiftWithTestTrafficOnGreenOnlyThenShiftsProductionAndCleansUp) {
  PutSteady(NewShiftingService("BLUE_GREEN"));
  const std::string blue = Get().deployments[0].id;
  ASSERT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
  AddPauseHook("TEST_TRAFFIC_SHIFT");
  const std::string green = DeployRecorded(kTdB);

  controller_->RunOnce();  // the shift starts: green scales up in the alternate group
  Service s = Get();
  ASSERT_TRUE(s.internal.shift);
  EXPECT_EQ(s.internal.shift->stage, "SCALE_UP");
  EXPECT_EQ(s.internal.alternate_deployments, std::vector<std::string>{green});
  EXPECT_EQ(model::LoadBalancersOf(s, green)[0].target_group_arn, green_tg_);
  EXPECT_EQ(model::LoadBalancersOf(s, blue)[0].target_group_arn, blue_tg_);
  EXPECT_EQ(Count().live_by_deployment[green], 2);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Record(green).lifecycle_stage, "SCALE_UP");

  Passes(3);  // green runs; the test traffic moves; the hook pauses
  EXPECT_EQ(Get().internal.shift->stage, "TEST_TRAFFIC_SHIFT");
  EXPECT_EQ(Weights(test_rule_), std::make_pair(0, 1));
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Count().live_by_deployment[blue], 2);
  auto rec = Record(green);
  ASSERT_EQ(rec.lifecycle_hook_details.size(), 1u);
  EXPECT_EQ(rec.lifecycle_hook_details[0]["status"], "AWAITING_ACTION");
  EXPECT_EQ(rec.lifecycle_hook_details[0]["targetType"], "PAUSE");
  EXPECT_EQ(rec.lifecycle_stage, "TEST_TRAFFIC_SHIFT");
  clock_.Advance(600);  // a pause holds (its timeout is 1440 minutes)
  Passes(2);
  EXPECT_EQ(Get().internal.shift->stage, "TEST_TRAFFIC_SHIFT");

  Continue("CONTINUE");
  Passes(1);
  EXPECT_EQ(Get().internal.shift->stage, "BAKE_TIME");
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(0, 1));
  EXPECT_EQ(Record(green).lifecycle_hook_details[0]["status"], "SUCCEEDED");
  EXPECT_EQ(Count().live_by_deployment[blue], 2) << "blue stays through the bake time";
  clock_.Advance(5);
  Passes(3);
  s = Get();
  EXPECT_FALSE(s.internal.shift);
  ASSERT_EQ(s.deployments.size(), 1u);
  EXPECT_EQ(s.deployments[0].id, green);
  EXPECT_EQ(s.deployments[0].rollout_state, RolloutState::kCompleted);
  EXPECT_EQ(Count().live_by_deployment[blue], 0);
  EXPECT_EQ(Count().live_by_deployment[green], 2);
  EXPECT_EQ(Record(green).status, model::ServiceDeploymentStatus::kSuccessful);
  EXPECT_EQ(Record(green).lifecycle_stage, "CLEAN_UP");

  // The roles swap: the next deployment's tasks go to the group blue had.
  const std::string next = DeployRecorded(kTdA);
  controller_->RunOnce();
  EXPECT_EQ(model::LoadBalancersOf(Get(), next)[0].target_group_arn, blue_tg_);
  EXPECT_EQ(model::LoadBalancersOf(Get(), green)[0].target_group_arn, green_tg_);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(0, 1)) << "production stays on the serving (green) group";
}

TEST_F(TrafficShiftTest, LinearShiftsProductionInStepsAfterEachStepsBakeTime) {
  Service svc = NewShiftingService("LINEAR");
  svc.deployment_configuration.linear = model::LinearConfiguration{25.0, 2};
  svc.deployment_configuration.bake_time_in_minutes = 0;
  PutSteady(svc);
  DeployRecorded(kTdB);
  Passes(4);
  std::vector<int> seen = {Weights(prod_rule_).second};
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(2);
    Passes(2);
    seen.push_back(Weights(prod_rule_).second);
  }
  // 25% (250 per mille), 50%, 75%, then 100% (weight 1 of 1), once each step has baked.
  EXPECT_EQ(seen, (std::vector<int>{250, 500, 750, 1, 1, 1}));
  EXPECT_EQ(Get().deployments.size(), 1u);
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
}

TEST_F(TrafficShiftTest, CanaryShiftsItsPercentThenTheRest) {
  Service svc = NewShiftingService("CANARY");
  svc.deployment_configuration.canary = model::CanaryConfiguration{5.5, 3};
  PutSteady(svc);
  DeployRecorded(kTdB);
  Passes(4);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(945, 55));
  clock_.Advance(2);
  Passes(1);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(945, 55));
  clock_.Advance(1);
  Passes(1);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(0, 1));
}

TEST_F(TrafficShiftTest, ARollbackAtAPausePutsTrafficBackOnBlueAndStopsGreen) {
  PutSteady(NewShiftingService("BLUE_GREEN"));
  const std::string blue = Get().deployments[0].id;
  AddPauseHook("POST_TEST_TRAFFIC_SHIFT");
  const std::string green = DeployRecorded(kTdB);
  Passes(4);
  ASSERT_EQ(Get().internal.shift->stage, "POST_TEST_TRAFFIC_SHIFT");
  EXPECT_EQ(Weights(test_rule_), std::make_pair(0, 1));
  Continue("ROLLBACK");
  controller_->RunOnce();
  EXPECT_EQ(Weights(test_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Get().deployments[0].id, blue);
  EXPECT_EQ(Get().task_definition, kTdA);
  EXPECT_EQ(Record(green).status, model::ServiceDeploymentStatus::kRollbackInProgress);
  EXPECT_EQ(Count().live_by_deployment[green], 0);
  Passes(3);
  EXPECT_EQ(Record(green).status, model::ServiceDeploymentStatus::kRollbackSuccessful);
  EXPECT_EQ(Get().deployments.size(), 1u);
  EXPECT_EQ(Count().live_by_deployment[blue], 2);
}

TEST_F(TrafficShiftTest, ALambdaHookFailsAsAMissingFunctionAndRollsBack) {
  Service svc = NewShiftingService("BLUE_GREEN");
  svc.deployment_configuration.lifecycle_hooks = std::vector<model::DeploymentLifecycleHook>{
      {"AWS_LAMBDA", "arn:aws:lambda:us-east-1:000000000000:function:check", "", {"POST_SCALE_UP"}, Json(), Json()}};
  PutSteady(svc);
  const std::string blue = Get().deployments[0].id;
  const std::string green = DeployRecorded(kTdB);
  Passes(3);
  auto rec = Record(green);
  ASSERT_EQ(rec.lifecycle_hook_details.size(), 1u);
  EXPECT_EQ(rec.lifecycle_hook_details[0]["status"], "FAILED");
  EXPECT_NE(rec.status_reason.find("Function not found"), std::string::npos) << rec.status_reason;
  EXPECT_EQ(Get().deployments[0].id, blue);
}

TEST_F(TrafficShiftTest, AnAlarmInAlarmDuringTheBakeTimeRollsBack) {
  Service svc = NewShiftingService("BLUE_GREEN");
  svc.deployment_configuration.alarms = model::DeploymentAlarms{{"high-5xx"}, true, true};
  PutSteady(svc);
  const std::string blue = Get().deployments[0].id;
  const std::string green = DeployRecorded(kTdB);
  Passes(3);
  ASSERT_EQ(Get().internal.shift->stage, "BAKE_TIME");
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(0, 1));
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return SetAlarmState(tx, kRegion, "high-5xx", "ALARM", 0); }).ok());
  controller_->RunOnce();
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Get().deployments[0].id, blue);
  auto rec = Record(green);
  EXPECT_EQ(rec.status, model::ServiceDeploymentStatus::kRollbackInProgress);
  EXPECT_EQ(rec.alarms_status, "TRIGGERED");
  EXPECT_NE(rec.status_reason.find("high-5xx"), std::string::npos);
}

// ---- Review 18b: the shift's ends ----

TEST_F(TrafficShiftTest, ADeletedServiceMidShiftPutsTrafficBackOnBlueAndBecomesInactive) {
  PutSteady(NewShiftingService("BLUE_GREEN"));
  AddPauseHook("TEST_TRAFFIC_SHIFT");
  DeployRecorded(kTdB);
  Passes(4);
  ASSERT_TRUE(Get().internal.shift);
  ASSERT_EQ(Get().internal.shift->stage, "TEST_TRAFFIC_SHIFT");
  ASSERT_EQ(Weights(test_rule_), std::make_pair(0, 1));
  DeleteService();  // the pause's record goes with the history
  Passes(4);
  Service s = Get();
  EXPECT_EQ(s.status, model::ServiceStatus::kInactive);
  EXPECT_FALSE(s.internal.shift);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Weights(test_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Count().live, 0);
}

TEST_F(TrafficShiftTest, ADeletedServiceNeverShiftsProductionToAGreenWithoutTasks) {
  PutSteady(NewShiftingService("BLUE_GREEN"));
  DeployRecorded(kTdB);
  controller_->RunOnce();
  ASSERT_EQ(Get().internal.shift->stage, "SCALE_UP");
  DeleteService();
  for (int i = 0; i < 5; ++i) {
    Passes(1);
    EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0)) << "pass " << i;
  }
  EXPECT_EQ(Get().status, model::ServiceStatus::kInactive);
}

TEST_F(TrafficShiftTest, APauseWhoseRecordIsGoneStillTimesOut) {
  Service svc = NewShiftingService("BLUE_GREEN");
  svc.deployment_configuration.lifecycle_hooks = std::vector<model::DeploymentLifecycleHook>{
      {"PAUSE", "", "", {"POST_SCALE_UP"}, Json(), Json{{"timeoutInMinutes", 2}, {"action", "ROLLBACK"}}}};
  PutSteady(svc);
  const std::string blue = Get().deployments[0].id;
  Deploy(kTdB);  // no service deployment record
  Passes(3);
  ASSERT_TRUE(Get().internal.shift);
  ASSERT_EQ(Get().internal.shift->stage, "POST_SCALE_UP");
  ASSERT_FALSE(Get().internal.shift->paused_hook.empty());
  clock_.Advance(1);  // a minute is a second here
  Passes(1);
  ASSERT_TRUE(Get().internal.shift) << "the pause holds for its 2 minutes";
  clock_.Advance(2);
  Passes(3);
  EXPECT_FALSE(Get().internal.shift);
  EXPECT_EQ(Get().deployments[0].id, blue);
  EXPECT_EQ(Count().live_by_deployment[blue], 2);
}

TEST_F(TrafficShiftTest, AHookTimeoutTakesItsTimeoutActionAndShowsTimedOut) {
  Service svc = NewShiftingService("BLUE_GREEN");
  svc.deployment_configuration.bake_time_in_minutes = 0;
  svc.deployment_configuration.lifecycle_hooks = std::vector<model::DeploymentLifecycleHook>{
      {"PAUSE", "", "", {"TEST_TRAFFIC_SHIFT"}, Json(), Json{{"timeoutInMinutes", 1}, {"action", "CONTINUE"}}}};
  PutSteady(svc);
  const std::string green = DeployRecorded(kTdB);
  Passes(4);
  ASSERT_EQ(Get().internal.shift->stage, "TEST_TRAFFIC_SHIFT");
  EXPECT_EQ(Record(green).lifecycle_hook_details[0]["status"], "AWAITING_ACTION");
  clock_.Advance(61);
  Passes(4);
  EXPECT_EQ(Record(green).lifecycle_hook_details[0]["status"], "TIMED_OUT");
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(0, 1));
  EXPECT_EQ(Get().deployments[0].id, green);
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
}

TEST_F(TrafficShiftTest, AFailureWithoutRollbackKeepsBlueServingWithAllItsTasks) {
  Service svc = NewShiftingService("BLUE_GREEN");
  svc.deployment_configuration.alarms = model::DeploymentAlarms{{"high-5xx"}, true, false};
  PutSteady(svc);
  const std::string blue = Get().deployments[0].id;
  const std::string green = DeployRecorded(kTdB);
  Passes(3);
  ASSERT_EQ(Get().internal.shift->stage, "BAKE_TIME");
  ASSERT_EQ(Weights(prod_rule_), std::make_pair(0, 1));
  SetAlarm("high-5xx", "ALARM");
  Passes(5);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  EXPECT_EQ(Count().live_by_deployment[blue], 2) << "blue serves: its tasks stay";
  EXPECT_EQ(Count().live_by_deployment[green], 0);
  Service s = Get();
  ASSERT_EQ(s.deployments[0].id, green);
  EXPECT_EQ(s.deployments[0].rollout_state, RolloutState::kFailed);
  EXPECT_NE(s.deployments[0].rollout_state_reason.find("high-5xx"), std::string::npos);
  auto rec = Record(green);
  EXPECT_EQ(rec.status, model::ServiceDeploymentStatus::kStopped);
  EXPECT_EQ(rec.alarms_status, "TRIGGERED");
  EXPECT_NE(rec.status_reason.find("high-5xx"), std::string::npos) << rec.status_reason;
  // A newer deployment shifts from blue, which still serves.
  SetAlarm("high-5xx", "OK");
  const std::string next = DeployRecorded(kTdB);
  Passes(2);
  ASSERT_TRUE(Get().internal.shift);
  EXPECT_EQ(Get().internal.shift->blue, blue);
  EXPECT_EQ(Get().internal.shift->green, next);
}

TEST_F(TrafficShiftTest, ADeploymentWithoutAShiftRegistersInTheGroupProductionServes) {
  PutSteady(NewShiftingService("BLUE_GREEN"));
  const std::string green = DeployRecorded(kTdB);
  Passes(3);
  clock_.Advance(5);
  Passes(3);
  ASSERT_EQ(Get().deployments.size(), 1u);
  ASSERT_EQ(Get().deployments[0].id, green);
  ASSERT_EQ(Weights(prod_rule_), std::make_pair(0, 1));
  // Scaled to 0, then a new revision with 2 tasks: nothing older runs, nothing shifts.
  SetDesired(0);
  Passes(2);
  ASSERT_EQ(Count().live, 0);
  SetDesired(2);
  const std::string next = DeployRecorded(kTdA);
  controller_->RunOnce();
  EXPECT_FALSE(Get().internal.shift);
  EXPECT_EQ(Count().live_by_deployment[next], 2);
  EXPECT_EQ(model::LoadBalancersOf(Get(), next)[0].target_group_arn, green_tg_);
  Passes(3);
  // The strategy switched to ROLLING: a rolling deployment goes where production goes.
  Service s = Get();
  s.deployment_configuration.strategy = "ROLLING";
  Put(s);
  const std::string rolling = DeployRecorded(kTdB);
  controller_->RunOnce();
  EXPECT_EQ(model::LoadBalancersOf(Get(), rolling)[0].target_group_arn, green_tg_);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(0, 1));
}

TEST_F(TrafficShiftTest, SwitchingToRollingMidShiftPutsTrafficBackOnBlueAndRollsGreenOutInBluesGroup) {
  Service svc = NewShiftingService("LINEAR");
  svc.deployment_configuration.linear = model::LinearConfiguration{25.0, 2};
  svc.deployment_configuration.bake_time_in_minutes = 0;
  PutSteady(svc);
  const std::string blue = Get().deployments[0].id;
  const std::string green = DeployRecorded(kTdB);
  Passes(4);
  ASSERT_EQ(Weights(prod_rule_).second, 250);
  Service s = Get();  // UpdateService's part
  s.deployment_configuration.strategy = "ROLLING";
  s.deployment_configuration.linear.reset();
  Put(s);
  Passes(1);
  EXPECT_FALSE(Get().internal.shift);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
  EXPECT_EQ(model::LoadBalancersOf(Get(), green)[0].target_group_arn, blue_tg_);
  Passes(6);
  s = Get();
  ASSERT_EQ(s.deployments.size(), 1u);
  EXPECT_EQ(s.deployments[0].id, green);
  EXPECT_EQ(s.deployments[0].rollout_state, RolloutState::kCompleted);
  EXPECT_EQ(Count().live_by_deployment[green], 2);
  EXPECT_EQ(Count().live_by_deployment[blue], 0);
  EXPECT_EQ(Weights(prod_rule_), std::make_pair(1, 0));
}

// DeploymentAlarms are documented for rolling updates too (the model: "see Rolling update").
TEST_F(TrafficShiftTest, AnAlarmFailsARollingDeploymentAndRollsBackOnce) {
  Service svc = NewService(2);
  svc.deployment_configuration.alarms = model::DeploymentAlarms{{"high-5xx"}, true, true};
  PutSteady(svc);
  const std::string blue = Get().deployments[0].id;
  ASSERT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
  const std::string green = DeployRecorded(kTdB);
  SetAlarm("high-5xx", "ALARM");
  controller_->RunOnce();
  Service s = Get();
  EXPECT_EQ(s.task_definition, kTdA);
  auto it = std::find_if(s.deployments.begin(), s.deployments.end(), [&](const Deployment& d) { return d.id == green; });
  ASSERT_NE(it, s.deployments.end());
  EXPECT_EQ(it->rollout_state, RolloutState::kFailed);
  EXPECT_NE(it->rollout_state_reason.find("high-5xx"), std::string::npos) << it->rollout_state_reason;
  auto rec = Record(green);
  EXPECT_EQ(rec.status, model::ServiceDeploymentStatus::kRollbackInProgress);
  EXPECT_EQ(rec.alarms_status, "TRIGGERED");
  EXPECT_EQ(rec.circuit_breaker_status, "DISABLED");
  // The rollback is not failed by the same alarm: it completes.
  Passes(4);
  EXPECT_EQ(Record(green).status, model::ServiceDeploymentStatus::kRollbackSuccessful);
  ASSERT_EQ(Get().deployments.size(), 1u);
  EXPECT_EQ(Get().deployments[0].task_definition, kTdA);
  EXPECT_EQ(Get().deployments[0].rollout_state, RolloutState::kCompleted);
}

TEST(TrafficShiftWeights, PerMilleBetweenTheEnds) {
  EXPECT_EQ(ShiftWeights(0), std::make_pair(1, 0));
  EXPECT_EQ(ShiftWeights(100), std::make_pair(0, 1));
  EXPECT_EQ(ShiftWeights(10), std::make_pair(900, 100));
  EXPECT_EQ(ShiftWeights(0.1), std::make_pair(999, 1));
}

}  // namespace
}  // namespace kecs::reconcile
