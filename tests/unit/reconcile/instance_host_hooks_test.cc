// Tasks placed on an EC2 instance kecs runs (issue 17): provisioning records the instance
// and its address, a bridge task's address comes from the instance's own pool and goes back
// with the task, the record round-trips through the store, and SpecFromTask hands both to
// the runtime.
#include <gtest/gtest.h>

#include "model/kinds.h"
#include "net/domain/ip.h"
#include "net/domain/ipam.h"
#include "net/domain/vpc.h"
#include "reconcile/network_hooks.h"
#include "reconcile/task_spec.h"
#include "state/records/tasks.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

constexpr const char* kRegion = "us-east-1";

class InstanceHostHooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  // A container instance "ci-<n>" whose ec2InstanceId is `ec2_id`, and (unless `state` is
  // empty) the ec2:instance it names, in `state`.
  void Instances(const std::string& ci, const std::string& ec2_id, const std::string& state) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
      state::Object c{model::kInstance, kRegion, ci, "default", ci, "ACTIVE", 0, Json{{"ec2InstanceId", ec2_id}}};
      RETURN_IF_ERROR(tx.Put(c));
      if (state.empty()) return Status::Ok();
      state::Object i{net::kEc2Instance, kRegion, ec2_id, "", ec2_id, state, 0,
                      Json{{"InstanceId", ec2_id}, {"PrivateIpAddress", "10.0.1.20"}, {"State", {{"Name", state}}}}};
      return tx.Put(i);
    }).ok());
  }
  model::Task TaskOn(const std::string& ci, model::NetworkMode mode) {
    model::Task t;
    t.region = kRegion;
    t.id = "0123456789abcdef0123456789abcd" + std::to_string(++n_);
    t.cluster = "default";
    t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + t.id;
    t.internal.network_mode = mode;
    t.internal.placement = model::TaskPlacement{ci, 256, 512, {{"tcp", 49153}}, false};
    model::Container c;
    c.name = "web";
    c.network_bindings = {{"", 80, 49153, "tcp"}};
    t.containers = {c};
    return t;
  }
  Status Provision(model::Task& t) {
    NetworkHookOptions o;
    o.bridge_cidr = "172.17.0.0/16";
    o.bind_ip = "192.0.2.7";
    o.probe_host_ports = false;
    return store_->Write([&](state::Tx& tx) { return ProvisionNetwork(tx, t, 0, o); });
  }
  int64_t Allocated(const std::string& pool) {
    int64_t n = -1;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(n, net::CountAllocated(tx, "local", pool));
      return Status::Ok();
    }).ok());
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  int n_ = 0;
};

TEST_F(InstanceHostHooksTest, ABridgeTaskOnARunningInstanceLivesBehindItsBridge) {
  Instances("ci-1", "i-0123456789abcdef0", "running");
  model::Task t = TaskOn("ci-1", model::NetworkMode::kBridge);
  Status st = Provision(t);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(t.internal.network.instance.has_value());
  EXPECT_EQ(t.internal.network.instance->instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(t.internal.network.instance->ip, "10.0.1.20");
  ASSERT_TRUE(t.internal.network.bridge_ip.has_value());
  EXPECT_EQ(Allocated(BridgePool("i-0123456789abcdef0")), 1);
  EXPECT_EQ(Allocated("kecs-bridge"), 0) << "this host's bridge pool is not the instance's";
  EXPECT_EQ(t.containers[0].network_bindings[0].bind_ip, "0.0.0.0");
  ASSERT_TRUE(Provision(t).ok()) << "a repeated step";
  EXPECT_EQ(Allocated(BridgePool("i-0123456789abcdef0")), 1);

  // The store keeps it; the runtime gets it.
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::InsertTask(tx, t); }).ok());
  std::optional<model::Task> back;
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(back, state::records::GetTask(tx, kRegion, t.id));
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->internal.network, t.internal.network);
  runtime::TaskSpec spec = SpecFromTask(*back);
  EXPECT_EQ(spec.network.instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(spec.network.instance_ip, "10.0.1.20");
  EXPECT_EQ(spec.network.bridge_ip, *t.internal.network.bridge_ip);

  // Released with the task.
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return ReleaseNetwork(tx, t); }).ok());
  EXPECT_EQ(Allocated(BridgePool("i-0123456789abcdef0")), 0);
}

TEST_F(InstanceHostHooksTest, AHostTaskOnAnInstanceAndTasksOnThisHost) {
  Instances("ci-1", "i-0123456789abcdef0", "running");
  model::Task host = TaskOn("ci-1", model::NetworkMode::kHost);
  ASSERT_TRUE(Provision(host).ok());
  ASSERT_TRUE(host.internal.network.instance.has_value());
  EXPECT_FALSE(host.internal.network.bridge_ip.has_value());
  EXPECT_EQ(SpecFromTask(host).network.instance_ip, "10.0.1.20");

  // A container instance whose ec2InstanceId names no instance kecs runs is this host.
  Instances("ci-2", "i-00000000000000001", "");
  model::Task here = TaskOn("ci-2", model::NetworkMode::kBridge);
  ASSERT_TRUE(Provision(here).ok());
  EXPECT_FALSE(here.internal.network.instance.has_value());
  EXPECT_EQ(Allocated("kecs-bridge"), 1);
  EXPECT_EQ(here.containers[0].network_bindings[0].bind_ip, "192.0.2.7");
  EXPECT_EQ(SpecFromTask(here).network.instance_id, "");

  // none and awsvpc keep their own namespaces.
  model::Task none = TaskOn("ci-1", model::NetworkMode::kNone);
  ASSERT_TRUE(Provision(none).ok());
  EXPECT_FALSE(none.internal.network.instance.has_value());
}

TEST_F(InstanceHostHooksTest, AnInstanceThatIsNotRunningFailsTheTask) {
  Instances("ci-1", "i-0123456789abcdef0", "stopped");
  model::Task t = TaskOn("ci-1", model::NetworkMode::kBridge);
  Status st = Provision(t);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message(), "ResourceInitializationError: instance i-0123456789abcdef0 is stopped, not running");
  EXPECT_FALSE(t.internal.network.instance.has_value());
}

// What ApplyInstanceHost is given for an instance's primary ENI: the ENI as a task's.
TEST(EniNetworkSpec, IsTheAwsvpcSpecOfTheEni) {
  model::TaskEni e;
  e.id = "eni-0123456789abcdef0";
  e.mac = "02:00:00:00:00:01";
  e.ip = "10.0.1.20";
  e.prefix_len = 24;
  e.gateway = "10.0.1.1";
  e.subnet_id = "subnet-1";
  e.vpc_id = "vpc-1";
  e.dns_server = "10.0.0.2";
  e.hostname = "ip-10-0-1-20";
  e.transit_slot = 3;
  e.ipv6 = "2600:1f18::4";
  runtime::NetworkSpec n = EniNetworkSpec(e);
  EXPECT_EQ(n.mode, model::NetworkMode::kAwsvpc);
  EXPECT_EQ(n.eni_id, e.id);
  EXPECT_EQ(n.ip, "10.0.1.20");
  EXPECT_EQ(n.hostname, "ip-10-0-1-20");
  EXPECT_EQ(n.dns_server, "10.0.0.2");
  EXPECT_EQ(n.transit_slot, 3);
  EXPECT_EQ(n.ipv6, "2600:1f18::4");
  EXPECT_EQ(n.instance_id, "");
}

}  // namespace
}  // namespace kecs::reconcile
