// The task controller, driven step by step: no root, no threads of its own, no sleeps.
// A temporary store (with write faults on demand), a FakeClock, the simulated runtime with
// knobs, and the real network hooks on a VPC made in the store.
#include "reconcile/task_controller.h"

#include <gtest/gtest.h>

#include <future>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "model/kinds.h"
#include "net/domain/ipam.h"
#include "net/domain/vpc.h"
#include "reconcile/network_hooks.h"
#include "runtime/simulated/simulated_runtime.h"
#include "state/records/tasks.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

using kecs::testing::TempDir;
using model::AttachmentStatus;
using model::ContainerStatus;
using model::NetworkMode;
using model::StopCode;
using model::Task;
using model::TaskStatus;

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr const char* kPublish = "192.0.2.10";
constexpr double kT0 = 1800000000;

// The simulated runtime with failures and observations on demand.
class FakeRuntime : public runtime::SimulatedRuntime {
 public:
  Status sandbox_error, pull_error, start_error, delete_error, stop_error;
  std::set<std::string> exited;            // containers that report an exit (code 1)
  std::map<std::string, int> exit_codes;   // containers that report an exit with this code
  std::set<std::string> held;              // started containers that keep running (no init exit)
  std::map<std::string, model::HealthStatus> health;  // reported health, by container
  std::map<std::string, std::pair<double, double>> times;  // started_at, finished_at
  std::vector<std::set<std::string>> start_calls;  // the names of each StartContainers
  std::function<void()> during_start;      // runs inside StartContainers
  std::shared_future<void> stop_gate;      // when valid, StopContainers waits for it
  int sandboxes = 0, pulls = 0, starts = 0, stops = 0, deletes = 0;
  std::vector<runtime::TaskSpec> stopped_specs;
  std::vector<runtime::TaskSpec> pulled_specs, started_specs;  // what PullImages and StartContainers got

  Status CreateSandbox(const runtime::TaskSpec& t) override {
    ++sandboxes;
    return sandbox_error.ok() ? SimulatedRuntime::CreateSandbox(t) : sandbox_error;
  }
  Result<std::map<std::string, std::string>> PullImages(const runtime::TaskSpec& t) override {
    ++pulls;
    pulled_specs.push_back(t);
    if (!pull_error.ok()) return pull_error;
    return SimulatedRuntime::PullImages(t);
  }
  using SimulatedRuntime::StartContainers;
  Status StartContainers(const runtime::TaskSpec& t, const std::set<std::string>& names) override {
    ++starts;
    start_calls.push_back(names);
    started_specs.push_back(t);
    if (during_start) during_start();
    return start_error.ok() ? SimulatedRuntime::StartContainers(t, names) : start_error;
  }
  Result<runtime::TaskState> Inspect(const runtime::TaskSpec& t) override {
    ASSIGN_OR_RETURN(auto st, SimulatedRuntime::Inspect(t));
    for (auto& c : st.containers) {
      bool started = c.phase != runtime::ContainerState::Phase::kMissing;
      if (started && held.count(c.name)) {
        c.phase = runtime::ContainerState::Phase::kRunning;
        c.exit_code.reset();
      }
      if (exited.count(c.name)) {
        c.phase = runtime::ContainerState::Phase::kExited;
        c.exit_code = 1;
      }
      if (started && exit_codes.count(c.name)) {
        c.phase = runtime::ContainerState::Phase::kExited;
        c.exit_code = exit_codes.at(c.name);
      }
      if (started && health.count(c.name)) c.health = health.at(c.name);
      if (started && times.count(c.name)) {
        c.started_at = times.at(c.name).first;
        if (c.phase == runtime::ContainerState::Phase::kExited) c.finished_at = times.at(c.name).second;
      }
    }
    return st;
  }
  Result<runtime::TaskState> StopContainers(const runtime::TaskSpec& t) override {
    if (stop_gate.valid()) stop_gate.wait();
    ++stops;
    stopped_specs.push_back(t);
    if (!stop_error.ok()) return stop_error;
    return SimulatedRuntime::StopContainers(t);
  }
  Status GarbageCollect(const std::set<std::string>& live, const std::set<std::string>& known) override {
    gc_live = live;
    gc_known = known;
    return Status::Ok();
  }
  Status UpdatePublishing(const runtime::TaskSpec& t) override {
    republished.push_back(t.task_id);
    return Status::Ok();
  }
  std::set<std::string> gc_live, gc_known;
  std::vector<std::string> republished;
  Status Delete(const runtime::TaskSpec& t) override {
    ++deletes;
    return delete_error.ok() ? SimulatedRuntime::Delete(t) : delete_error;
  }
};

// Secret values by reference; every other reference is NotFound, naming it.
struct FakeSecrets : SecretSource {
  std::map<std::string, std::string> values;
  std::vector<std::string> asked;  // "region account reference"
  Result<std::string> Resolve(std::string_view ref, std::string_view region, std::string_view account) override {
    asked.push_back(fmt::format("{} {} {}", region, account, ref));
    auto it = values.find(std::string(ref));
    if (it == values.end()) return NotFound(std::string(ref) + " not found");
    return it->second;
  }
};

class TaskControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      net::Scope scope{kRegion, kAccount, kT0};
      ASSIGN_OR_RETURN(auto vpc, net::CreateVpc(tx, scope, *net::Ipv4Cidr::Parse("10.1.0.0/16"), false,
                                                Json::array(), "default", false));
      ASSIGN_OR_RETURN(auto zone_a, [&]() -> Result<net::Zone> { return net::Zones(kRegion).at(0); }());
      ASSIGN_OR_RETURN(auto subnet, net::CreateSubnet(tx, scope, vpc, *net::Ipv4Cidr::Parse("10.1.0.0/24"), zone_a,
                                                      false, false, Json::array(), std::nullopt));
      // A /28 has 11 usable addresses: small enough to fill.
      ASSIGN_OR_RETURN(auto tiny, net::CreateSubnet(tx, scope, vpc, *net::Ipv4Cidr::Parse("10.1.9.0/28"), zone_a,
                                                    false, false, Json::array(), std::nullopt));
      vpc_ = vpc.id;
      subnet_ = subnet.id;
      tiny_ = tiny.id;
      return Status::Ok();
    }).ok());
    NewController();
  }

  void NewController(bool stop_beside_workers = false) {
    controller_.reset();
    NetworkHookOptions nopts;
    nopts.public_ip = kPublish;
    nopts.bind_ip = kPublish;
    nopts.probe_host_ports = false;
    TaskHooks hooks;
    hooks.provision = [nopts, this](state::Tx& tx, Task& t) {
      return ProvisionNetwork(tx, t, clock_.Now(), nopts);
    };
    hooks.running = [this](state::Tx&, Task&) {
      ++running_hooks_;
      return running_hook_error_;
    };
    hooks.stopping = [this](state::Tx&, Task&) {
      ++stopping_hooks_;
      return Status::Ok();
    };
    hooks.release = [](state::Tx& tx, Task& t) { return ReleaseNetwork(tx, t); };
    hooks.deactivated = [this](state::Tx&, const Task&) -> Result<bool> {
      ++deactivated_hooks_;
      return drained_;
    };
    hooks.before_start = [this](const Task&, const runtime::TaskSpec&) {
      ++before_starts_;
      return before_start_error_;
    };
    hooks.health_changed = [this](state::Tx&, Task& t) {
      health_changes_.push_back(t.health_status);
      return Status::Ok();
    };
    TaskController::Options o;
    o.workers = 0;
    o.stop_beside_workers = stop_beside_workers;
    o.stopped_retention_s = 3600;
    o.secrets = &secrets_;
    controller_ = std::make_unique<TaskController>(*store_, runtime_, hooks, o, clock_);
  }

  Task NewTask(NetworkMode mode, std::vector<std::string> subnets = {}) {
    Task t;
    t.region = kRegion;
    t.id = fmt::format("{:032x}", ++next_id_);
    t.cluster = "default";
    t.family = "web";
    t.task_arn = fmt::format("arn:aws:ecs:{}:{}:task/default/{}", kRegion, kAccount, t.id);
    t.cluster_arn = fmt::format("arn:aws:ecs:{}:{}:cluster/default", kRegion, kAccount);
    t.task_definition_arn = fmt::format("arn:aws:ecs:{}:{}:task-definition/web:1", kRegion, kAccount);
    t.created_at = kT0;
    t.desired_status = TaskStatus::kRunning;
    t.last_status = mode == NetworkMode::kAwsvpc ? TaskStatus::kProvisioning : TaskStatus::kPending;
    t.cpu = "256";
    t.memory = "512";
    t.group = "family:web";
    t.internal.network_mode = mode;
    for (const char* name : {"app", "sidecar"}) {
      model::Container c;
      c.container_arn = t.task_arn + "/" + name;
      c.task_arn = t.task_arn;
      c.name = name;
      c.image = std::string("example/") + name;
      if (mode == NetworkMode::kBridge && std::string(name) == "app") c.network_bindings = {{"0.0.0.0", 80, 32768, "tcp"}};
      t.containers.push_back(c);
      model::ContainerDefinition d;
      d.name = name;
      d.image = c.image;
      d.essential = std::string(name) == "app";
      if (std::string(name) == "app") {
        d.stop_timeout = 5;
        d.port_mappings = {{80, mode == NetworkMode::kBridge ? 32768 : 0, "tcp"}};
      }
      t.internal.containers.push_back(d);
    }
    if (mode == NetworkMode::kAwsvpc) {
      t.attachments.push_back({"att-" + t.id, "ElasticNetworkInterface", AttachmentStatus::kPrecreated,
                               {{"subnetId", subnets.empty() ? subnet_ : subnets.front()}}});
      t.internal.network.subnets = subnets.empty() ? std::vector<std::string>{subnet_} : subnets;
      t.internal.network.vpc_id = vpc_;
    }
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::InsertTask(tx, t); }).ok());
    return t;
  }

  Task Get(const Task& t) {
    std::optional<Task> out;
    Status st = store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, state::records::GetTask(tx, t.region, t.id));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Task{});
  }
  bool Exists(const Task& t) {
    bool found = false;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto o, tx.Get(model::kTask, t.region, t.id));
      found = o.has_value();
      return Status::Ok();
    }).ok());
    return found;
  }
  int64_t Count(const char* kind) {
    int64_t n = 0;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      state::Query q{kind, kRegion};
      ASSIGN_OR_RETURN(n, tx.Count(q));
      return Status::Ok();
    }).ok());
    return n;
  }

  // A bridge task with these containers instead of app and sidecar.
  Task NewTaskWith(const std::vector<model::ContainerDefinition>& defs) {
    Task t = NewTask(NetworkMode::kBridge);
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto cur, state::records::GetTask(tx, t.region, t.id));
      cur->containers.clear();
      cur->internal.containers = defs;
      for (const auto& d : defs) {
        model::Container c;
        c.container_arn = cur->task_arn + "/" + d.name;
        c.task_arn = cur->task_arn;
        c.name = d.name;
        c.image = d.image;
        cur->containers.push_back(c);
      }
      return state::records::PutTask(tx, *cur);
    }).ok());
    return Get(t);
  }
  static model::ContainerDefinition Def(const std::string& name, bool essential,
                                        std::vector<model::ContainerDependency> deps = {}) {
    model::ContainerDefinition d;
    d.name = name;
    d.image = "example/" + name;
    d.essential = essential;
    d.depends_on = std::move(deps);
    return d;
  }
  static model::ContainerDefinition Checked(model::ContainerDefinition d) {
    d.health_check = model::HealthCheck{.command = {"CMD-SHELL", "true"}};
    return d;
  }
  static const model::Container& C(const Task& t, const std::string& name) {
    for (const auto& c : t.containers) {
      if (c.name == name) return c;
    }
    throw std::runtime_error("no container " + name);
  }
  static const model::ContainerProgress* P(const Task& t, const std::string& name) {
    for (const auto& p : t.internal.progress) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }

  // What StopTask writes.
  void StopTask(const Task& t) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto cur, state::records::GetTask(tx, t.region, t.id));
      cur->desired_status = TaskStatus::kStopped;
      cur->stop_code = StopCode::kUserInitiated;
      cur->stopped_reason = "Task stopped by user";
      cur->stopping_at = EpochMillis(clock_.Now());
      cur->version += 1;
      return state::records::PutTask(tx, *cur);
    }).ok());
  }

  TaskStatus Step(const Task& t) {
    controller_->StepForTest(t.region, t.id);
    return Get(t).last_status;
  }
  // Steps until the task reaches `want` (or gives up after a bound).
  void StepTo(const Task& t, TaskStatus want) {
    for (int i = 0; i < 20 && Get(t).last_status != want; ++i) controller_->StepForTest(t.region, t.id);
    ASSERT_EQ(Get(t).last_status, want);
  }
  // Fails `count` writes after letting `skip` through.
  void FailWrites(int skip, int count = 1 << 30) {
    writes_ = 0;
    store_->SetWriteFault([this, skip, count] {
      int n = writes_++;
      if (n >= skip && n < skip + count) return Unavailable("injected write failure");
      return Status::Ok();
    });
  }
  void HealStore() { store_->SetWriteFault(nullptr); }
  // Takes every one of the /28's 11 usable addresses.
  void FillTinySubnet() {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto subnet, tx.Get(net::kSubnet, kRegion, tiny_));
      for (int i = 0; i < 11; ++i) {
        net::EniSpec spec;
        spec.subnet = &*subnet;
        RETURN_IF_ERROR(net::CreateEni(tx, net::Scope{kRegion, kAccount, kT0}, spec).status());
      }
      return Status::Ok();
    }).ok());
  }

  TempDir dir_;
  std::unique_ptr<state::Store> store_;
  FakeClock clock_{kT0};
  FakeRuntime runtime_;
  FakeSecrets secrets_;
  std::unique_ptr<TaskController> controller_;
  std::string vpc_, subnet_, tiny_;
  int next_id_ = 0;
  int writes_ = 0;
  int running_hooks_ = 0, stopping_hooks_ = 0, before_starts_ = 0, deactivated_hooks_ = 0;
  Result<bool> drained_ = true;  // what the deactivated hook answers
  std::vector<model::HealthStatus> health_changes_;
  Status running_hook_error_, before_start_error_;
};

// ---- Transitions ----------------------------------------------------------------------

TEST_F(TaskControllerTest, AwsvpcTaskGoesThroughEachStateToRunning) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  Task p = Get(t);
  ASSERT_TRUE(p.internal.network.eni.has_value());
  EXPECT_EQ(p.version, 2);
  EXPECT_EQ(p.attachments[0].status, AttachmentStatus::kAttached);
  EXPECT_EQ(p.attachments[0].details[1].name, "networkInterfaceId");
  EXPECT_EQ(p.attachments[0].details[1].value, p.internal.network.eni->id);
  EXPECT_EQ(p.containers[0].network_interfaces[0].private_ipv4_address, p.internal.network.eni->ip);
  EXPECT_EQ(runtime_.sandboxes, 1);
  clock_.Advance(1);
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  Task a = Get(t);
  EXPECT_EQ(a.version, 3);
  EXPECT_EQ(a.pull_started_at, EpochMillis(kT0 + 1));
  EXPECT_EQ(a.pull_stopped_at, EpochMillis(kT0 + 1));
  EXPECT_EQ(a.connectivity, model::Connectivity::kConnected);
  EXPECT_TRUE(a.containers[0].image_digest.has_value());
  clock_.Advance(1);
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  Task r = Get(t);
  EXPECT_EQ(r.version, 4);
  EXPECT_EQ(r.started_at, EpochMillis(kT0 + 2));
  EXPECT_EQ(r.containers[0].last_status, ContainerStatus::kRunning);
  EXPECT_EQ(running_hooks_, 1);
  EXPECT_EQ(Step(t), TaskStatus::kRunning);  // nothing changed: nothing written
  EXPECT_EQ(Get(t).version, 4);
}

// Issue 18: a task its container instance's own agent drives moves only by the agent's
// reports: the controller neither starts nor stops it, and adopts nothing of it.
TEST_F(TaskControllerTest, AgentDrivenTaskIsLeftToItsAgent) {
  Task t = NewTask(NetworkMode::kBridge);
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto cur, state::records::GetTask(tx, t.region, t.id));
    cur->internal.agent = true;
    return state::records::PutTask(tx, *cur);
  }).ok());
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  StopTask(t);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(Get(t).desired_status, TaskStatus::kStopped);
  EXPECT_EQ(runtime_.sandboxes, 0);
  EXPECT_EQ(runtime_.starts, 0);
}

TEST_F(TaskControllerTest, BridgeTaskStartsAtPendingWithABridgeAddress) {
  Task t = NewTask(NetworkMode::kBridge);
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  Task a = Get(t);
  ASSERT_TRUE(a.internal.network.bridge_ip.has_value());
  EXPECT_TRUE(a.attachments.empty());
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
}

// Defect 6: networkBindings' bindIP is the configured publish address, not 0.0.0.0.
TEST_F(TaskControllerTest, BridgeBindingsShowThePublishAddress) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  Task r = Get(t);
  ASSERT_EQ(r.containers[0].network_bindings.size(), 1u);
  EXPECT_EQ(r.containers[0].network_bindings[0].bind_ip, kPublish);
  EXPECT_EQ(state::records::TaskToAws(r, false)["containers"][0]["networkBindings"][0]["bindIP"], kPublish);
}

TEST_F(TaskControllerTest, AssignPublicIpPublishesPortsOnThePublishAddress) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto cur, state::records::GetTask(tx, t.region, t.id));
    cur->internal.network.assign_public_ip = true;
    return state::records::PutTask(tx, *cur);
  }).ok());
  StepTo(t, TaskStatus::kRunning);
  Task r = Get(t);
  ASSERT_EQ(r.internal.network.published.size(), 1u);
  ASSERT_EQ(r.containers[0].network_bindings.size(), 1u);
  EXPECT_EQ(r.containers[0].network_bindings[0].bind_ip, kPublish);
  EXPECT_EQ(r.containers[0].network_bindings[0].host_port, r.internal.network.published[0].host_port);
  EXPECT_EQ(r.internal.network.eni->public_ip, kPublish);
  EXPECT_EQ(r.attachments[0].details.back().name, "publicIPv4Address");
}

TEST_F(TaskControllerTest, StoppedAwsvpcTaskGoesThroughEachStopState) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  StepTo(t, TaskStatus::kRunning);
  EXPECT_EQ(Count(net::kEni), 1);
  StopTask(t);
  int64_t v = Get(t).version;
  clock_.Advance(5);
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  EXPECT_EQ(stopping_hooks_, 1);
  EXPECT_EQ(Get(t).version, v + 1);
  EXPECT_EQ(Step(t), TaskStatus::kStopping);
  EXPECT_EQ(Step(t), TaskStatus::kDeprovisioning);
  Task d = Get(t);
  EXPECT_EQ(d.attachments[0].status, AttachmentStatus::kDetaching);
  EXPECT_EQ(d.containers[0].last_status, ContainerStatus::kStopped);
  EXPECT_EQ(d.containers[0].exit_code, 0);
  EXPECT_EQ(d.execution_stopped_at, EpochMillis(kT0 + 5));
  EXPECT_EQ(Step(t), TaskStatus::kStopped);
  Task s = Get(t);
  EXPECT_EQ(s.attachments[0].status, AttachmentStatus::kDeleted);
  EXPECT_EQ(s.stopped_at, EpochMillis(kT0 + 5));
  EXPECT_EQ(s.stop_code, StopCode::kUserInitiated);
  EXPECT_EQ(s.version, v + 4);
  EXPECT_EQ(Count(net::kEni), 0);  // released
  EXPECT_EQ(runtime_.deletes, 1);
}

// A service task behind a load balancer stays DEACTIVATING while its targets drain.
TEST_F(TaskControllerTest, DeactivatingWaitsForTheDeactivatedHook) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  StopTask(t);
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  drained_ = false;
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  drained_ = Unavailable("store busy");  // a failing hook is retried, the task waits
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  EXPECT_EQ(deactivated_hooks_, 3);
  drained_ = true;
  EXPECT_EQ(Step(t), TaskStatus::kStopping);
  EXPECT_EQ(deactivated_hooks_, 4);
}

TEST_F(TaskControllerTest, StoppedBridgeTaskReleasesItsAddress) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  std::string ip = *Get(t).internal.network.bridge_ip;
  StopTask(t);
  StepTo(t, TaskStatus::kStopped);
  EXPECT_TRUE(Get(t).attachments.empty());
  // The address is free again: the next bridge task gets it.
  Task u = NewTask(NetworkMode::kBridge);
  StepTo(u, TaskStatus::kRunning);
  EXPECT_EQ(*Get(u).internal.network.bridge_ip, ip);
}

TEST_F(TaskControllerTest, TaskStoppedWhileProvisioningGoesStraightToDeprovisioning) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  StopTask(t);
  EXPECT_EQ(Step(t), TaskStatus::kDeprovisioning);
  EXPECT_EQ(runtime_.sandboxes, 0);
  EXPECT_EQ(Get(t).containers[1].last_status, ContainerStatus::kStopped);
  EXPECT_EQ(Step(t), TaskStatus::kStopped);
  EXPECT_EQ(stopping_hooks_, 0);
}

TEST_F(TaskControllerTest, TaskStoppedWhilePendingGoesStraightToDeprovisioning) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  StopTask(t);
  EXPECT_EQ(Step(t), TaskStatus::kDeprovisioning);
  EXPECT_EQ(runtime_.starts, 0);
  EXPECT_EQ(Step(t), TaskStatus::kStopped);
  EXPECT_EQ(Count(net::kEni), 0);
}

TEST_F(TaskControllerTest, TaskStoppedWhileActivatingNeverRuns) {
  Task t = NewTask(NetworkMode::kBridge);
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  StopTask(t);
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  StepTo(t, TaskStatus::kStopped);
  EXPECT_FALSE(Get(t).started_at.has_value());
  EXPECT_EQ(running_hooks_, 0);
}

// ---- Failed writes --------------------------------------------------------------------

// The regression: a failed provisioning write used to stop the task with a misleading
// "task has no VPC link". The task stays PROVISIONING and starts once writes succeed.
TEST_F(TaskControllerTest, FailedProvisioningWriteKeepsTheTaskProvisioning) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kProvisioning);
  Task p = Get(t);
  EXPECT_EQ(p.desired_status, TaskStatus::kRunning);
  EXPECT_FALSE(p.stopped_reason.has_value());
  EXPECT_FALSE(p.internal.network.eni.has_value());
  EXPECT_EQ(runtime_.sandboxes, 0);
  EXPECT_EQ(Count(net::kEni), 0);
  HealStore();
  controller_->RunPending();
  EXPECT_EQ(Get(t).last_status, TaskStatus::kRunning);
  EXPECT_FALSE(Get(t).stopped_reason.has_value());
}

TEST_F(TaskControllerTest, FailedWriteAfterTheSandboxKeepsTheTaskProvisioning) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  FailWrites(1);  // the provisioning write goes through, the move to PENDING does not
  EXPECT_EQ(Step(t), TaskStatus::kProvisioning);
  EXPECT_TRUE(Get(t).internal.network.eni.has_value());
  EXPECT_EQ(Get(t).attachments[0].status, AttachmentStatus::kPrecreated);
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(Count(net::kEni), 1);  // the same ENI, not a second one
  EXPECT_EQ(runtime_.sandboxes, 2);
}

TEST_F(TaskControllerTest, FailedPullStartWriteKeepsTheTaskPending) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(runtime_.pulls, 0);
  HealStore();
  StepTo(t, TaskStatus::kRunning);
}

TEST_F(TaskControllerTest, FailedPullStopWriteKeepsTheTaskPending) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  FailWrites(1);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_TRUE(Get(t).pull_started_at.has_value());
  EXPECT_FALSE(Get(t).pull_stopped_at.has_value());
  EXPECT_EQ(runtime_.starts, 0);
  HealStore();
  StepTo(t, TaskStatus::kRunning);
}

TEST_F(TaskControllerTest, FailedActivatingWriteKeepsTheTaskPendingAndStartsAgain) {
  Task t = NewTask(NetworkMode::kBridge);
  // provision, pullStartedAt, pullStoppedAt and the start request go through; ACTIVATING
  // does not.
  FailWrites(4);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(runtime_.starts, 1);
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  EXPECT_EQ(runtime_.starts, 1);  // the start request was recorded: the containers run
  EXPECT_EQ(runtime_.pulls, 1);   // and the pre-start work is not done again
}

TEST_F(TaskControllerTest, FailedStartRequestWriteStartsNothing) {
  Task t = NewTask(NetworkMode::kBridge);
  FailWrites(3);  // provision, pullStartedAt, pullStoppedAt go through; the start request does not
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(runtime_.starts, 0);
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  EXPECT_EQ(runtime_.starts, 1);
}

TEST_F(TaskControllerTest, FailedRunningWriteKeepsTheTaskActivating) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kActivating);
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  EXPECT_FALSE(Get(t).started_at.has_value());
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
}

TEST_F(TaskControllerTest, FailedWriteOfAnEssentialExitKeepsTheTaskRunningUntilWritten) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  runtime_.exited = {"app"};
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  EXPECT_EQ(Get(t).desired_status, TaskStatus::kRunning);
  HealStore();
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kEssentialContainerExited);
}

TEST_F(TaskControllerTest, FailedDeactivatingWriteKeepsTheTaskRunning) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  StopTask(t);
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  EXPECT_EQ(stopping_hooks_, 0);  // nothing of the failed transaction happened
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  EXPECT_EQ(stopping_hooks_, 1);
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kStopping);
}

TEST_F(TaskControllerTest, FailedStoppingWriteKeepsTheTaskStoppingAndStopsAgain) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  StopTask(t);
  StepTo(t, TaskStatus::kStopping);
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kStopping);
  EXPECT_EQ(runtime_.stops, 1);
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kDeprovisioning);
  EXPECT_EQ(runtime_.stops, 2);
}

TEST_F(TaskControllerTest, FailedStoppedWriteKeepsTheTaskDeprovisioningWithItsResources) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  StepTo(t, TaskStatus::kRunning);
  StopTask(t);
  StepTo(t, TaskStatus::kDeprovisioning);
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kDeprovisioning);
  EXPECT_EQ(Count(net::kEni), 1);  // the release rolled back with the write
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kStopped);
  EXPECT_EQ(Count(net::kEni), 0);
}

TEST_F(TaskControllerTest, FailedWriteOfAStartFailureIsRetried) {
  Task t = NewTask(NetworkMode::kBridge);
  runtime_.pull_error = Unavailable("registry unreachable");
  FailWrites(2);  // provision and pullStartedAt go through; the failure's write does not
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(Get(t).desired_status, TaskStatus::kRunning);
  HealStore();
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kTaskFailedToStart);
  EXPECT_EQ(s.stopped_reason, "CannotPullContainerError: registry unreachable");
}

// ---- Failures to start ----------------------------------------------------------------

TEST_F(TaskControllerTest, PullFailureStopsTheTaskWithCannotPullContainerError) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  runtime_.pull_error = Unavailable("manifest unknown");
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kTaskFailedToStart);
  EXPECT_EQ(s.stopped_reason, "CannotPullContainerError: manifest unknown");
  EXPECT_EQ(s.containers[0].reason, "CannotPullContainerError: manifest unknown");
  EXPECT_EQ(runtime_.starts, 0);
  EXPECT_EQ(Count(net::kEni), 0);
}

TEST_F(TaskControllerTest, StartFailureStopsTheTaskWithCannotStartContainerError) {
  Task t = NewTask(NetworkMode::kBridge);
  runtime_.start_error = Internal("exec format error");
  controller_->RunPending();
  EXPECT_EQ(Get(t).stopped_reason, "CannotStartContainerError: exec format error");
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopped);
}

// A runtime error already in the agent's words (a volume that cannot be made) keeps them.
TEST_F(TaskControllerTest, StartFailureInTheAgentsWordsKeepsThem) {
  Task t = NewTask(NetworkMode::kBridge);
  runtime_.start_error = FailedPrecondition("CannotCreateVolumeError: create data: no such volume");
  controller_->RunPending();
  EXPECT_EQ(Get(t).stopped_reason, "CannotCreateVolumeError: create data: no such volume");
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopped);
}

TEST_F(TaskControllerTest, SandboxFailureStopsTheTaskWithResourceInitializationError) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  runtime_.sandbox_error = Internal("no link");
  controller_->RunPending();
  EXPECT_EQ(Get(t).stopped_reason, "ResourceInitializationError: failed to configure ENI: no link");
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopped);
  EXPECT_EQ(Count(net::kEni), 0);
}

TEST_F(TaskControllerTest, BeforeStartFailureStopsTheTask) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  before_start_error_ = Internal("cannot enforce security groups");
  controller_->RunPending();
  EXPECT_EQ(Get(t).stopped_reason, "ResourceInitializationError: cannot enforce security groups");
  EXPECT_EQ(runtime_.starts, 0);
}

TEST_F(TaskControllerTest, BeforeStartFailureInTheAgentsWordsIsTheContainersReasonToo) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  const std::string reason =
      "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: failed to "
      "create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist.";
  before_start_error_ = FailedPrecondition(reason);
  controller_->RunPending();
  Task p = Get(t);
  EXPECT_EQ(p.stopped_reason, reason);
  EXPECT_EQ(p.stop_code, StopCode::kTaskFailedToStart);
  EXPECT_EQ(p.containers[0].reason, reason);
  EXPECT_EQ(runtime_.starts, 0);
}

TEST_F(TaskControllerTest, ExhaustedSubnetStopsTheTaskAndLeavesNothingBehind) {
  FillTinySubnet();
  Task t = NewTask(NetworkMode::kAwsvpc, {tiny_});
  EXPECT_EQ(Step(t), TaskStatus::kProvisioning);
  Task p = Get(t);
  EXPECT_EQ(p.desired_status, TaskStatus::kStopped);
  EXPECT_EQ(p.stop_code, StopCode::kTaskFailedToStart);
  ASSERT_TRUE(p.stopped_reason.has_value());
  EXPECT_EQ(p.stopped_reason->rfind("ResourceInitializationError: failed to configure ENI: ", 0), 0u)
      << *p.stopped_reason;
  EXPECT_FALSE(p.internal.network.eni.has_value());
  EXPECT_EQ(Count(net::kEni), 11);
  controller_->RunPending();
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopped);
  EXPECT_EQ(runtime_.sandboxes, 0);
}

TEST_F(TaskControllerTest, FullFirstSubnetMovesTheTaskToItsNextSubnet) {
  FillTinySubnet();
  Task t = NewTask(NetworkMode::kAwsvpc, {tiny_, subnet_});
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  Task p = Get(t);
  EXPECT_EQ(p.internal.network.eni->subnet_id, subnet_);
  EXPECT_EQ(p.attachments[0].details[0].value, subnet_);
}

// ---- Running ---------------------------------------------------------------------------

TEST_F(TaskControllerTest, EssentialContainerExitStopsTheTask) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  runtime_.exited = {"app"};
  int64_t v = Get(t).version;
  EXPECT_TRUE(controller_->StepForTest(t.region, t.id));  // the next step follows at once
  Task r = Get(t);
  EXPECT_EQ(r.last_status, TaskStatus::kRunning);
  EXPECT_EQ(r.desired_status, TaskStatus::kStopped);
  EXPECT_EQ(r.stop_code, StopCode::kEssentialContainerExited);
  EXPECT_EQ(r.stopped_reason, "Essential container in task exited");
  EXPECT_EQ(r.containers[0].exit_code, 1);
  EXPECT_EQ(r.containers[0].last_status, ContainerStatus::kStopped);
  EXPECT_EQ(r.version, v + 1);  // the container change
  EXPECT_EQ(Step(t), TaskStatus::kDeactivating);
  EXPECT_EQ(Get(t).version, v + 2);
  StepTo(t, TaskStatus::kStopped);
  EXPECT_EQ(Get(t).containers[0].exit_code, 1);  // the first exit code is kept
}

TEST_F(TaskControllerTest, NonEssentialContainerExitKeepsTheTaskRunning) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  runtime_.exited = {"sidecar"};
  int64_t v = Get(t).version;
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  Task r = Get(t);
  EXPECT_EQ(r.desired_status, TaskStatus::kRunning);
  EXPECT_EQ(r.containers[1].last_status, ContainerStatus::kStopped);
  EXPECT_EQ(r.version, v + 1);
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  EXPECT_EQ(Get(t).version, v + 1);  // seen once
}

TEST_F(TaskControllerTest, RunningHookFailureIsRetried) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kActivating);
  running_hook_error_ = Unavailable("registry busy");
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  running_hook_error_ = Status::Ok();
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
}

// ---- stopTimeout -----------------------------------------------------------------------

TEST_F(TaskControllerTest, EachContainersStopTimeoutReachesTheRuntime) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  StopTask(t);
  StepTo(t, TaskStatus::kDeprovisioning);
  ASSERT_EQ(runtime_.stopped_specs.size(), 1u);
  EXPECT_EQ(runtime_.stopped_specs[0].containers[0].stop_timeout_s, 5);
  EXPECT_EQ(runtime_.stopped_specs[0].containers[1].stop_timeout_s, 30);  // ECS's default
}

// A stop waits out stopTimeout beside the workers: the step does not block, and the task
// stays STOPPING until the runtime's stop returns.
TEST_F(TaskControllerTest, StopRunsBesideTheWorkersAndTheTaskWaitsInStopping) {
  NewController(/*stop_beside_workers=*/true);
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  StopTask(t);
  std::promise<void> release;
  runtime_.stop_gate = release.get_future().share();
  StepTo(t, TaskStatus::kStopping);
  EXPECT_FALSE(controller_->StepForTest(t.region, t.id));  // the stop is under way
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopping);
  EXPECT_FALSE(controller_->StepForTest(t.region, t.id));
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopping);
  release.set_value();
  controller_->RunPending();
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopped);
  EXPECT_EQ(runtime_.stops, 1);
}

TEST_F(TaskControllerTest, FailedStopIsRetried) {
  Task t = NewTask(NetworkMode::kBridge);
  StepTo(t, TaskStatus::kRunning);
  StopTask(t);
  StepTo(t, TaskStatus::kStopping);
  runtime_.stop_error = Internal("runc kill failed");
  EXPECT_EQ(Step(t), TaskStatus::kStopping);
  runtime_.stop_error = Status::Ok();
  EXPECT_EQ(Step(t), TaskStatus::kDeprovisioning);
}

// ---- Races -----------------------------------------------------------------------------

TEST_F(TaskControllerTest, StopTaskDuringTheStartIsNotLost) {
  Task t = NewTask(NetworkMode::kBridge);
  runtime_.during_start = [&] { StopTask(t); };
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  runtime_.during_start = nullptr;
  EXPECT_EQ(Get(t).desired_status, TaskStatus::kStopped);
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kUserInitiated);
  EXPECT_FALSE(s.started_at.has_value());
}

TEST_F(TaskControllerTest, StopTaskDuringTheProvisioningSandboxIsNotLost) {
  Task t = NewTask(NetworkMode::kAwsvpc);
  runtime_.during_start = nullptr;
  // The StopTask lands between the provisioning write and the move to PENDING.
  FailWrites(1, 0);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  StopTask(t);
  controller_->RunPending();
  EXPECT_EQ(Get(t).last_status, TaskStatus::kStopped);
  EXPECT_EQ(Get(t).stop_code, StopCode::kUserInitiated);
  EXPECT_EQ(Count(net::kEni), 0);
}

// ---- dependsOn -------------------------------------------------------------------------

using model::DependencyCondition;
using model::HealthStatus;
using Names = std::vector<std::set<std::string>>;

TEST_F(TaskControllerTest, StartDependencyStartsInWavesWithinOneStep) {
  Task t = NewTaskWith({Def("web", true, {{"app", DependencyCondition::kStart}}),
                        Def("app", true, {{"db", DependencyCondition::kStart}}), Def("db", true)});
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  EXPECT_EQ(runtime_.start_calls, (Names{{"db"}, {"app"}, {"web"}}));
  Task a = Get(t);
  for (const char* name : {"web", "app", "db"}) {
    ASSERT_NE(P(a, name), nullptr) << name;
    EXPECT_EQ(P(a, name)->created_at, EpochMillis(kT0)) << name;
    EXPECT_TRUE(P(a, name)->started_at.has_value()) << name;
  }
}

TEST_F(TaskControllerTest, CompleteDependencyWaitsForTheExit) {
  Task t = NewTaskWith({Def("init", false), Def("app", true, {{"init", DependencyCondition::kComplete}})});
  runtime_.held = {"init"};
  EXPECT_FALSE(controller_->StepForTest(t.region, t.id));  // waiting: the resync comes back
  EXPECT_EQ(Get(t).last_status, TaskStatus::kPending);
  EXPECT_EQ(runtime_.start_calls, (Names{{"init"}}));
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(runtime_.start_calls.size(), 1u);
  runtime_.held.clear();
  runtime_.exit_codes["init"] = 3;  // COMPLETE takes any exit code
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  EXPECT_EQ(runtime_.start_calls, (Names{{"init"}, {"app"}}));
  StepTo(t, TaskStatus::kRunning);
  Task r = Get(t);
  EXPECT_EQ(C(r, "init").last_status, ContainerStatus::kStopped);  // a non-essential exit
  EXPECT_EQ(C(r, "init").exit_code, 3);
  EXPECT_EQ(C(r, "app").last_status, ContainerStatus::kRunning);
  EXPECT_EQ(r.desired_status, TaskStatus::kRunning);
}

TEST_F(TaskControllerTest, SuccessDependencyStartsAfterAZeroExit) {
  // The simulated runtime runs a container waited on with SUCCESS as an init container.
  Task t = NewTaskWith({Def("migrate", false), Def("app", true, {{"migrate", DependencyCondition::kSuccess}})});
  StepTo(t, TaskStatus::kRunning);
  EXPECT_EQ(runtime_.start_calls, (Names{{"migrate"}, {"app"}}));
  Task r = Get(t);
  EXPECT_EQ(C(r, "migrate").exit_code, 0);
  EXPECT_EQ(r.desired_status, TaskStatus::kRunning);
}

TEST_F(TaskControllerTest, SuccessDependencyThatExitsNonZeroStopsTheTaskInTheAgentsWords) {
  Task t = NewTaskWith({Def("migrate", false), Def("app", true, {{"migrate", DependencyCondition::kSuccess}})});
  runtime_.exit_codes["migrate"] = 2;
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kEssentialContainerExited);
  EXPECT_EQ(s.stopped_reason, "Essential container in task exited");
  EXPECT_EQ(C(s, "app").exit_code, 143);
  EXPECT_EQ(C(s, "app").reason,
            "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency "
            "[migrate(example/migrate)] for target [app(example/app)] as dependency did not exit successfully.");
  EXPECT_EQ(C(s, "migrate").exit_code, 2);
  EXPECT_EQ(runtime_.start_calls, (Names{{"migrate"}}));  // app never started
}

TEST_F(TaskControllerTest, HealthyDependencyWaitsForHealth) {
  Task t = NewTaskWith({Checked(Def("db", true)), Def("app", true, {{"db", DependencyCondition::kHealthy}})});
  runtime_.health["db"] = HealthStatus::kUnknown;
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(runtime_.start_calls, (Names{{"db"}}));
  runtime_.health["db"] = HealthStatus::kUnhealthy;  // may still turn healthy: wait
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(C(Get(t), "db").health_status, HealthStatus::kUnhealthy);
  runtime_.health["db"] = HealthStatus::kHealthy;
  clock_.Advance(4);
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  EXPECT_EQ(runtime_.start_calls, (Names{{"db"}, {"app"}}));
  Task a = Get(t);
  EXPECT_EQ(C(a, "db").health_status, HealthStatus::kHealthy);
  EXPECT_EQ(P(a, "db")->health_since, EpochMillis(kT0 + 4));
  EXPECT_EQ(P(a, "app")->created_at, EpochMillis(kT0 + 4));
  EXPECT_EQ(a.health_status, HealthStatus::kHealthy);  // the one essential container with a check
}

TEST_F(TaskControllerTest, HealthyDependencyThatExitsCanNeverBeMet) {
  Task t = NewTaskWith({Checked(Def("db", false)), Def("app", true, {{"db", DependencyCondition::kHealthy}})});
  runtime_.exit_codes["db"] = 1;
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kEssentialContainerExited);
  EXPECT_NE(C(s, "app").reason->find("[db(example/db)] for target [app(example/app)] as dependency exited"),
            std::string::npos);
}

TEST_F(TaskControllerTest, StartTimeoutOfTheDependencyStopsTheWait) {
  model::ContainerDefinition db = Checked(Def("db", true));
  db.start_timeout = 10;
  Task t = NewTaskWith({db, Def("app", true, {{"db", DependencyCondition::kHealthy}})});
  runtime_.health["db"] = HealthStatus::kUnknown;
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  clock_.Advance(9);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(Get(t).desired_status, TaskStatus::kRunning);
  clock_.Advance(1);
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kEssentialContainerExited);
  EXPECT_EQ(C(s, "app").reason,
            "CannotStartContainerError: dependency graph: container ordering dependency [db(example/db)] for target "
            "[app(example/app)] has timed out.");
  EXPECT_EQ(C(s, "app").exit_code, 143);
}

TEST_F(TaskControllerTest, WithoutStartTimeoutTheWaitGoesOn) {
  Task t = NewTaskWith({Checked(Def("db", true)), Def("app", true, {{"db", DependencyCondition::kHealthy}})});
  runtime_.health["db"] = HealthStatus::kUnknown;
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  clock_.Advance(24 * 3600);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(Get(t).desired_status, TaskStatus::kRunning);
}

TEST_F(TaskControllerTest, ADependencyThatWillNeverStartStopsItsDependents) {
  // check fails its SUCCESS dependency; app waits on check: it will never start.
  Task t = NewTaskWith({Def("migrate", false), Def("check", false, {{"migrate", DependencyCondition::kSuccess}}),
                        Def("app", true, {{"check", DependencyCondition::kStart}})});
  runtime_.exit_codes["migrate"] = 1;
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(C(s, "check").exit_code, 143);
  EXPECT_EQ(C(s, "app").reason,
            "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency "
            "[check(example/check)] for target [app(example/app)] because dependency will never start");
}

TEST_F(TaskControllerTest, ANonEssentialContainerThatCannotStartLeavesTheTaskRunning) {
  Task t = NewTaskWith({Def("migrate", false), Def("report", false, {{"migrate", DependencyCondition::kSuccess}}),
                        Def("app", true)});
  runtime_.exit_codes["migrate"] = 1;
  StepTo(t, TaskStatus::kRunning);
  Task r = Get(t);
  EXPECT_EQ(r.desired_status, TaskStatus::kRunning);
  EXPECT_EQ(C(r, "report").last_status, ContainerStatus::kStopped);
  EXPECT_EQ(C(r, "report").exit_code, 143);
  EXPECT_EQ(C(r, "app").last_status, ContainerStatus::kRunning);
  EXPECT_EQ(C(r, "migrate").exit_code, 1);
  EXPECT_EQ(runtime_.start_calls, (Names{{"app", "migrate"}}));
}

TEST_F(TaskControllerTest, AnEssentialContainerThatExitsWhilePendingStopsTheTask) {
  Task t = NewTaskWith({Def("init", true), Def("app", true, {{"init", DependencyCondition::kComplete}})});
  runtime_.exit_codes["init"] = 0;
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kEssentialContainerExited);
  EXPECT_EQ(s.stopped_reason, "Essential container in task exited");
}

TEST_F(TaskControllerTest, StopTaskDuringTheWaitWins) {
  Task t = NewTaskWith({Def("init", false), Def("app", true, {{"init", DependencyCondition::kComplete}})});
  runtime_.held = {"init"};
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  StopTask(t);
  runtime_.held.clear();
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kUserInitiated);
  EXPECT_EQ(runtime_.start_calls, (Names{{"init"}}));  // app never started
}

TEST_F(TaskControllerTest, FailedStartRequestWriteDuringTheWavesIsRetried) {
  Task t = NewTaskWith({Def("init", false), Def("app", true, {{"init", DependencyCondition::kComplete}})});
  runtime_.held = {"init"};
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  runtime_.held.clear();
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(runtime_.start_calls, (Names{{"init"}}));  // not asked before it is written
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kActivating);
  EXPECT_EQ(runtime_.start_calls, (Names{{"init"}, {"app"}}));
}

TEST_F(TaskControllerTest, RestartDuringTheWavesResumesThemWithoutTheWorkBefore) {
  Task t = NewTaskWith({Def("init", false), Def("app", true, {{"init", DependencyCondition::kComplete}})});
  runtime_.held = {"init"};
  EXPECT_EQ(Step(t), TaskStatus::kPending);
  EXPECT_EQ(runtime_.pulls, 1);
  EXPECT_EQ(before_starts_, 1);
  NewController();
  controller_->Recover();
  runtime_.held.clear();
  controller_->RunPending();
  EXPECT_EQ(Get(t).last_status, TaskStatus::kRunning);
  EXPECT_EQ(runtime_.pulls, 1);
  EXPECT_EQ(before_starts_, 1);
  EXPECT_EQ(runtime_.start_calls, (Names{{"init"}, {"app"}}));
}

// ---- Health ----------------------------------------------------------------------------

TEST(TaskHealth, AggregatesTheEssentialContainersWithAHealthCheck) {
  auto task = [](std::vector<std::tuple<bool, bool, HealthStatus>> cs) {  // essential, checked, health
    Task t;
    int i = 0;
    for (auto [essential, checked, health] : cs) {
      model::ContainerDefinition d;
      d.name = "c" + std::to_string(i++);
      d.essential = essential;
      if (checked) d.health_check = model::HealthCheck{};
      t.internal.containers.push_back(d);
      model::Container c;
      c.name = d.name;
      c.health_status = health;
      t.containers.push_back(c);
    }
    return TaskHealth(t);
  };
  const auto H = HealthStatus::kHealthy, U = HealthStatus::kUnhealthy, K = HealthStatus::kUnknown;
  EXPECT_EQ(task({{true, true, U}, {true, true, K}}), U);
  EXPECT_EQ(task({{true, true, U}, {true, true, H}}), U);
  EXPECT_EQ(task({{true, true, H}, {true, true, K}}), K);
  EXPECT_EQ(task({{true, true, H}, {true, true, H}}), H);
  EXPECT_EQ(task({{true, true, H}, {false, true, U}}), H);   // a non-essential container does not count
  EXPECT_EQ(task({{true, true, H}, {true, false, K}}), H);   // nor one without a check
  EXPECT_EQ(task({{true, false, K}, {false, true, U}}), U);  // unless no essential one has a check
  EXPECT_EQ(task({{true, false, K}, {false, false, K}}), K); // no check at all
}

TEST_F(TaskControllerTest, RunningTaskFollowsItsContainersHealthAndKeepsRunningWhenUnhealthy) {
  Task t = NewTaskWith({Checked(Def("app", true)), Def("sidecar", false)});
  runtime_.health["app"] = HealthStatus::kUnknown;
  StepTo(t, TaskStatus::kRunning);
  EXPECT_EQ(Get(t).health_status, HealthStatus::kUnknown);
  int64_t v = Get(t).version;
  runtime_.health["app"] = HealthStatus::kHealthy;
  clock_.Advance(5);
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  Task h = Get(t);
  EXPECT_EQ(h.health_status, HealthStatus::kHealthy);
  EXPECT_EQ(C(h, "app").health_status, HealthStatus::kHealthy);
  EXPECT_EQ(C(h, "sidecar").health_status, HealthStatus::kUnknown);
  EXPECT_EQ(P(h, "app")->health_since, EpochMillis(kT0 + 5));
  EXPECT_EQ(h.version, v + 1);
  EXPECT_EQ(health_changes_, std::vector<HealthStatus>{HealthStatus::kHealthy});
  EXPECT_EQ(Step(t), TaskStatus::kRunning);  // no change: nothing written
  EXPECT_EQ(Get(t).version, v + 1);
  runtime_.health["app"] = HealthStatus::kUnhealthy;
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  Task u = Get(t);
  EXPECT_EQ(u.health_status, HealthStatus::kUnhealthy);
  // A task run by hand goes on whatever its health (the API's HealthCheck: "If a task is run
  // manually, and not as part of a service, the task will continue its lifecycle regardless
  // of its health status"); a service's scheduler replaces it.
  EXPECT_EQ(u.desired_status, TaskStatus::kRunning);
  EXPECT_EQ(health_changes_, (std::vector<HealthStatus>{HealthStatus::kHealthy, HealthStatus::kUnhealthy}));
}

TEST_F(TaskControllerTest, FailedWriteOfAHealthChangeIsSeenAgain) {
  Task t = NewTaskWith({Checked(Def("app", true))});
  runtime_.health["app"] = HealthStatus::kUnknown;
  StepTo(t, TaskStatus::kRunning);
  runtime_.health["app"] = HealthStatus::kUnhealthy;
  FailWrites(0);
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  EXPECT_EQ(Get(t).health_status, HealthStatus::kUnknown);
  HealStore();
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  EXPECT_EQ(Get(t).health_status, HealthStatus::kUnhealthy);
}

TEST_F(TaskControllerTest, ProgressKeepsTheRuntimesTimestamps) {
  Task t = NewTaskWith({Def("app", true), Def("job", false)});
  runtime_.times["job"] = {kT0 - 5, kT0 + 7};
  StepTo(t, TaskStatus::kRunning);
  runtime_.exit_codes["job"] = 0;
  EXPECT_EQ(Step(t), TaskStatus::kRunning);
  Task r = Get(t);
  ASSERT_NE(P(r, "job"), nullptr);
  EXPECT_EQ(P(r, "job")->started_at, kT0 - 5);
  EXPECT_EQ(P(r, "job")->finished_at, kT0 + 7);
  EXPECT_EQ(P(r, "app")->started_at, EpochMillis(kT0));  // not reported: when first seen
  EXPECT_FALSE(P(r, "app")->finished_at.has_value());
}

// ---- Restart ---------------------------------------------------------------------------

struct RestartCase {
  TaskStatus at;
  bool stop;  // StopTask before getting there
  TaskStatus ends;
};

class TaskControllerRestartTest : public TaskControllerTest,
                                  public ::testing::WithParamInterface<RestartCase> {};

// A new controller on the same store takes each task up where its stored status says.
TEST_P(TaskControllerRestartTest, NewControllerResumesTheTask) {
  const RestartCase& c = GetParam();
  Task t = NewTask(NetworkMode::kAwsvpc);
  if (c.stop && (c.at == TaskStatus::kProvisioning || c.at == TaskStatus::kPending)) {
    StepTo(t, c.at);
    StopTask(t);
  } else {
    if (c.stop) {
      StepTo(t, TaskStatus::kRunning);
      StopTask(t);
    }
    StepTo(t, c.at);
  }
  NewController();  // the old one is gone: a daemon restart
  controller_->Recover();
  controller_->RunPending();
  Task e = Get(t);
  EXPECT_EQ(e.last_status, c.ends);
  EXPECT_EQ(Count(net::kEni), c.ends == TaskStatus::kStopped ? 0 : 1);
}

INSTANTIATE_TEST_SUITE_P(
    EachState, TaskControllerRestartTest,
    ::testing::Values(RestartCase{TaskStatus::kProvisioning, false, TaskStatus::kRunning},
                      RestartCase{TaskStatus::kPending, false, TaskStatus::kRunning},
                      RestartCase{TaskStatus::kActivating, false, TaskStatus::kRunning},
                      RestartCase{TaskStatus::kRunning, false, TaskStatus::kRunning},
                      RestartCase{TaskStatus::kProvisioning, true, TaskStatus::kStopped},
                      RestartCase{TaskStatus::kPending, true, TaskStatus::kStopped},
                      RestartCase{TaskStatus::kDeactivating, true, TaskStatus::kStopped},
                      RestartCase{TaskStatus::kStopping, true, TaskStatus::kStopped},
                      RestartCase{TaskStatus::kDeprovisioning, true, TaskStatus::kStopped}),
    [](const ::testing::TestParamInfo<RestartCase>& i) {
      return std::string(i.param.stop ? "Stopped" : "Running") + "In" +
             std::string(model::ToString(i.param.at));
    });

// At start, the runtime keeps only what live tasks own, and running tasks publish again.
TEST_F(TaskControllerTest, RecoverCollectsGarbageAndRepublishesRunningTasks) {
  Task running = NewTask(NetworkMode::kBridge);
  Task stopped = NewTask(NetworkMode::kBridge);
  Task pending = NewTask(NetworkMode::kBridge);
  StepTo(running, TaskStatus::kRunning);
  StopTask(stopped);
  StepTo(stopped, TaskStatus::kStopped);
  NewController();
  controller_->Recover();
  EXPECT_EQ(runtime_.gc_live, (std::set<std::string>{running.id, pending.id}));
  EXPECT_EQ(runtime_.gc_known, (std::set<std::string>{running.id, stopped.id, pending.id}));
  EXPECT_EQ(runtime_.republished, std::vector<std::string>{running.id});
}

TEST_F(TaskControllerTest, HostModeBindingsShowThePublishAddress) {
  Task t = NewTask(NetworkMode::kHost);
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto cur, state::records::GetTask(tx, t.region, t.id));
    cur->containers[0].network_bindings = {{"0.0.0.0", 80, 80, "tcp"}};
    return state::records::PutTask(tx, *cur);
  }).ok());
  StepTo(t, TaskStatus::kRunning);
  Task r = Get(t);
  EXPECT_EQ(r.containers[0].network_bindings[0].bind_ip, kPublish);
  EXPECT_FALSE(r.internal.network.bridge_ip.has_value());
}

// ---- Retention -------------------------------------------------------------------------

TEST_F(TaskControllerTest, StoppedTasksStayForTheRetentionThenGo) {
  Task t = NewTask(NetworkMode::kBridge);
  Task live = NewTask(NetworkMode::kBridge);
  StopTask(t);
  controller_->RunPending();
  ASSERT_EQ(Get(t).last_status, TaskStatus::kStopped);
  clock_.Advance(3599);
  ASSERT_TRUE(controller_->SweepRetention().ok());
  EXPECT_TRUE(Exists(t));
  clock_.Advance(2);
  ASSERT_TRUE(controller_->SweepRetention().ok());
  EXPECT_FALSE(Exists(t));
  EXPECT_TRUE(Exists(live));  // a running task is never swept
}

TEST_F(TaskControllerTest, MalformedTaskIsSkippedAndNamed) {
  Task t = NewTask(NetworkMode::kBridge);
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    return tx.conn().Exec("UPDATE objects SET doc = json_set(doc, '$.desiredStatus', 'SLEEPING') WHERE id = '" +
                          t.id + "'");
  }).ok());
  EXPECT_FALSE(controller_->StepForTest(t.region, t.id));
  Task other = NewTask(NetworkMode::kBridge);
  controller_->RunPending();
  EXPECT_EQ(Get(other).last_status, TaskStatus::kRunning);  // the bad one holds up nobody
}

// ---- Secrets (issue 14) --------------------------------------------------------------

constexpr const char* kSmArn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf:password::";
constexpr const char* kResourceInit =
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: ";

class TaskSecretsTest : public TaskControllerTest {
 protected:
  // app with two secrets, a secret log option and registry credentials; sidecar with one.
  Task SecretTask(const std::string& missing_app = "", const std::string& missing_sidecar = "") {
    model::ContainerDefinition app = Def("app", true);
    app.environment = {{"API_URL", "overridden"}, {"PLAIN", "plain-value"}};
    app.secrets = {{"API_URL", missing_app.empty() ? "/app/api-url" : missing_app}, {"DB_PASSWORD", kSmArn}};
    app.log_configuration = model::LogConfiguration{"awslogs", {{"awslogs-group", "/ecs/web"}}, {{"token", "/app/log-token"}}};
    app.repository_credentials = "pull-creds";
    model::ContainerDefinition sidecar = Def("sidecar", false);
    sidecar.secrets = {{"API_URL", missing_sidecar.empty() ? "arn:aws:ssm:us-east-1:000000000000:parameter/app/api-url"
                                                           : missing_sidecar}};
    secrets_.values = {{"/app/api-url", "https://api.example"},
                       {"arn:aws:ssm:us-east-1:000000000000:parameter/app/api-url", "https://api.example"},
                       {kSmArn, "hunter2-db-password"},
                       {"/app/log-token", "log-token-value"},
                       {"arn:aws:secretsmanager:us-east-1:000000000000:secret:pull-creds",
                        R"({"username":"puller","password":"pull-pass-value"})"}};
    return NewTaskWith({app, sidecar});
  }
  static std::string Env(const runtime::ContainerSpec& c, const std::string& name) {
    for (const auto& [k, v] : c.environment) {
      if (k == name) return v;
    }
    return "<unset>";
  }
  // The stored row, as text: what DescribeTasks and a restart read.
  std::string Row(const Task& t) {
    std::string text;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto o, tx.Get(model::kTask, t.region, t.id));
      if (o) text = o->doc.dump() + o->internal.dump();
      return Status::Ok();
    }).ok());
    return text;
  }
  void ExpectNoValues(const std::string& text) {
    for (const char* v : {"https://api.example", "hunter2-db-password", "log-token-value", "puller", "pull-pass-value"}) {
      EXPECT_EQ(text.find(v), std::string::npos) << v << " in " << text;
    }
  }
};

TEST_F(TaskSecretsTest, SecretsResolveIntoTheRuntimeSpecOnly) {
  Task t = SecretTask();
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kRunning) << s.stopped_reason.value_or("");
  ASSERT_FALSE(runtime_.pulled_specs.empty());
  ASSERT_FALSE(runtime_.started_specs.empty());
  // The pull has the registry credentials (the secret's name, asked of Secrets Manager).
  const runtime::ContainerSpec& pulled = runtime_.pulled_specs.back().containers[0];
  ASSERT_TRUE(pulled.registry_auth.has_value());
  EXPECT_EQ(pulled.registry_auth->username, "puller");
  EXPECT_EQ(pulled.registry_auth->password, "pull-pass-value");
  EXPECT_FALSE(runtime_.pulled_specs.back().containers[1].registry_auth.has_value());
  // Every started container has its secrets, over the environment of the same name.
  for (const auto& spec : runtime_.started_specs) {
    for (const auto& c : spec.containers) {
      EXPECT_EQ(Env(c, "API_URL"), "https://api.example") << c.name;
      if (c.name != "app") continue;
      EXPECT_EQ(Env(c, "DB_PASSWORD"), "hunter2-db-password");
      EXPECT_EQ(Env(c, "PLAIN"), "plain-value");
      EXPECT_EQ(c.log_driver, "awslogs");
      EXPECT_EQ(c.log_options, (std::vector<std::pair<std::string, std::string>>{{"awslogs-group", "/ecs/web"},
                                                                                 {"token", "log-token-value"}}));
    }
  }
  EXPECT_NE(std::find(secrets_.asked.begin(), secrets_.asked.end(), "us-east-1 000000000000 /app/api-url"),
            secrets_.asked.end());
  // The record keeps the references, never the values.
  ExpectNoValues(Row(t));
  EXPECT_NE(Row(t).find("/app/api-url"), std::string::npos);
  // Nor after the task stops.
  StopTask(t);
  controller_->RunPending();
  ExpectNoValues(Row(t));
}

TEST_F(TaskSecretsTest, MissingSsmParametersStopTheTaskNamingEachOne) {
  Task t = SecretTask("/app/missing", "arn:aws:ssm:us-east-1:000000000000:parameter/gone");
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kTaskFailedToStart);
  EXPECT_EQ(s.stopped_reason, std::string(kResourceInit) +
                                  "unable to retrieve secrets from ssm: service call has been retried 1 time(s): "
                                  "invalid ssm parameters: /app/missing,arn:aws:ssm:us-east-1:000000000000:parameter/gone");
  EXPECT_EQ(runtime_.pulls, 0);
  EXPECT_EQ(runtime_.starts, 0);
  ExpectNoValues(Row(t));
}

TEST_F(TaskSecretsTest, MissingSecretsManagerSecretStopsTheTask) {
  Task t = SecretTask();
  secrets_.values.erase(kSmArn);
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stop_code, StopCode::kTaskFailedToStart);
  EXPECT_EQ(s.stopped_reason, std::string(kResourceInit) +
                                  "unable to retrieve secret from asm: service call has been retried 1 time(s): "
                                  "failed to fetch secret " + kSmArn +
                                  " from secrets manager: ResourceNotFoundException: Secrets Manager can't find the "
                                  "specified secret.");
  EXPECT_EQ(runtime_.starts, 0);
  ExpectNoValues(Row(t));
}

TEST_F(TaskSecretsTest, RegistryCredentialsThatAreNotJsonStopTheTaskWithoutTheirValue) {
  Task t = SecretTask();
  secrets_.values["arn:aws:secretsmanager:us-east-1:000000000000:secret:pull-creds"] = "puller:pull-pass-value";
  controller_->RunPending();
  Task s = Get(t);
  EXPECT_EQ(s.last_status, TaskStatus::kStopped);
  EXPECT_EQ(s.stopped_reason.value_or("").rfind(std::string(kResourceInit) +
                                       "unable to get registry auth from asm: service call has been retried 1 "
                                       "time(s): asm fetching secret from the service for pull-creds: ",
                                   0),
            0u)
      << s.stopped_reason.value_or("");
  ExpectNoValues(Row(t));
  // Missing registry credentials.
  Task u = SecretTask();
  secrets_.values.erase("arn:aws:secretsmanager:us-east-1:000000000000:secret:pull-creds");
  controller_->RunPending();
  EXPECT_NE(Get(u).stopped_reason.value_or("").find("pull-creds: ResourceNotFoundException"), std::string::npos)
      << Get(u).stopped_reason.value_or("");
}

TEST_F(TaskSecretsTest, ATaskWithoutASecretSourceFailsToStartAsIfTheSecretWereMissing) {
  TaskController::Options o;
  o.workers = 0;
  o.stop_beside_workers = false;
  controller_ = std::make_unique<TaskController>(*store_, runtime_, TaskHooks{}, o, clock_);
  model::ContainerDefinition app = Def("app", true);
  app.secrets = {{"API_URL", "/app/api-url"}};
  Task t = NewTaskWith({app});
  controller_->RunPending();
  EXPECT_EQ(Get(t).stopped_reason, std::string(kResourceInit) +
                                       "unable to retrieve secrets from ssm: service call has been retried 1 "
                                       "time(s): invalid ssm parameters: /app/api-url");
}

}  // namespace
}  // namespace kecs::reconcile
