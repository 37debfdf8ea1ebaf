// The EC2 instance state machine: each transition waits for the runtime, a failed runtime
// call leaves the state for the next pass, and the agent registers at running.
#include "reconcile/instance_controller.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "model/kinds.h"
#include "net/domain/vpc.h"
#include "runtime/simulated/simulated_runtime.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr const char* kId = "i-0123456789abcdef0";

class FakeRuntime : public runtime::SimulatedRuntime {
 public:
  std::vector<runtime::InstanceHostSpec> applied;
  std::vector<std::string> deleted;
  Status apply_error, delete_error;
  std::optional<std::set<std::string>> collected;
  Status ApplyInstanceHost(const runtime::InstanceHostSpec& h) override {
    applied.push_back(h);
    return apply_error;
  }
  Status DeleteInstanceHost(const std::string& id) override {
    deleted.push_back(id);
    return delete_error;
  }
  Status GarbageCollectInstanceHosts(const std::set<std::string>& live) override {
    collected = live;
    return Status::Ok();
  }
};

class FakeAgent : public InstanceAgent {
 public:
  std::vector<std::string> clusters;
  Status error;
  Result<std::string> RegisterInstance(state::Tx&, const state::Object&, const std::string& cluster, double) override {
    clusters.push_back(cluster);
    if (!error.ok()) return error;
    return std::string("ci-1");
  }
};

class InstanceControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
      net::Scope scope{kRegion, kAccount, 1000};
      ASSIGN_OR_RETURN(auto vpc, net::CreateVpc(tx, scope, *net::Ipv4Cidr::Parse("10.7.0.0/16"), false,
                                                Json::array(), "default", false));
      ASSIGN_OR_RETURN(auto subnet, net::CreateSubnet(tx, scope, vpc, *net::Ipv4Cidr::Parse("10.7.3.0/24"),
                                                      net::Zones(kRegion).at(0), false, false, Json::array(),
                                                      std::nullopt));
      net::EniSpec spec;
      spec.subnet = &subnet;
      spec.attached = true;
      ASSIGN_OR_RETURN(auto eni, net::CreateEni(tx, scope, spec));
      eni_ = eni.id;
      ip_ = JStr(eni.doc, "PrivateIpAddress");
      Json doc = {{"InstanceId", kId}, {"SubnetId", subnet.id}, {"VpcId", vpc.id},
                  {"State", {{"Code", 0}, {"Name", "pending"}}},
                  {"NetworkInterfaces", Json::array({{{"NetworkInterfaceId", eni.id},
                                                      {"Attachment", {{"DeviceIndex", 0}, {"DeleteOnTermination", true}}}}})},
                  {"kecs:ownerId", kAccount}, {"kecs:ecsCluster", "fleet"}};
      return tx.Insert({net::kEc2Instance, kRegion, kId, vpc.id, "r-0123456789abcdef0", "pending", 0, doc});
    }).ok());
  }
  state::Object Instance() {
    std::optional<state::Object> o;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(o, tx.Get(net::kEc2Instance, kRegion, kId));
      return Status::Ok();
    }).ok());
    return *o;
  }
  void SetState(const std::string& s) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto o, tx.Get(net::kEc2Instance, kRegion, kId));
      o->status = s;
      o->doc["State"]["Name"] = s;
      return tx.Put(*o);
    }).ok());
  }
  bool EniExists() {
    bool found = false;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto e, tx.Get(net::kEni, kRegion, eni_));
      found = e.has_value();
      return Status::Ok();
    }).ok());
    return found;
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  FakeRuntime rt_;
  FakeAgent agent_;
  FakeClock clock_{2000};
  std::string eni_, ip_;
};

TEST_F(InstanceControllerTest, PendingWaitsForTheHostThenRunsAndRegisters) {
  InstanceController c(*store_, rt_, agent_, {}, clock_);
  rt_.apply_error = Unavailable("no bridge yet");
  c.RunOnce();
  EXPECT_EQ(Instance().status, "pending");  // the next pass tries again
  ASSERT_EQ(rt_.applied.size(), 1u);
  const runtime::NetworkSpec& n = rt_.applied[0].network;
  EXPECT_EQ(rt_.applied[0].instance_id, kId);
  EXPECT_EQ(n.mode, model::NetworkMode::kAwsvpc);
  EXPECT_EQ(n.eni_id, eni_);
  EXPECT_EQ(n.ip, ip_);
  EXPECT_EQ(n.gateway, "10.7.3.1");
  EXPECT_EQ(n.dns_server, "10.7.0.2");
  EXPECT_EQ(n.subnet_cidr, "10.7.3.0/24");
  std::string dashed = ip_;
  std::replace(dashed.begin(), dashed.end(), '.', '-');
  EXPECT_EQ(n.hostname, "ip-" + dashed);
  EXPECT_TRUE(n.hostname.starts_with("ip-10-7-3-"));
  EXPECT_GE(n.transit_slot, 0);
  EXPECT_TRUE(agent_.clusters.empty());
  rt_.apply_error = Status::Ok();
  c.RunOnce();
  state::Object o = Instance();
  EXPECT_EQ(o.status, "running");
  EXPECT_EQ(o.doc["State"], (Json{{"Code", 16}, {"Name", "running"}}));
  EXPECT_EQ(agent_.clusters, std::vector<std::string>{"fleet"});
  EXPECT_EQ(JStr(o.doc, "kecs:containerInstance"), "ci-1");
  c.RunOnce();  // registered once
  EXPECT_EQ(agent_.clusters.size(), 1u);
}

TEST_F(InstanceControllerTest, FailedRegistrationIsRetriedWhileRunning) {
  InstanceController c(*store_, rt_, agent_, {}, clock_);
  agent_.error = FailedPrecondition("Cluster not found.");
  c.RunOnce();
  EXPECT_EQ(Instance().status, "running");
  EXPECT_EQ(JStr(Instance().doc, "kecs:agentError"), "Cluster not found.");
  agent_.error = Status::Ok();
  c.RunOnce();
  EXPECT_EQ(JStr(Instance().doc, "kecs:containerInstance"), "ci-1");
  EXPECT_FALSE(Instance().doc.contains("kecs:agentError"));
}

TEST_F(InstanceControllerTest, TerminateWaitsForTheHostDeletionThenFreesTheInterface) {
  InstanceController c(*store_, rt_, agent_, {}, clock_);
  c.RunOnce();
  SetState("shutting-down");
  rt_.delete_error = Unavailable("busy");
  c.RunOnce();
  EXPECT_EQ(Instance().status, "shutting-down");
  EXPECT_TRUE(EniExists());
  rt_.delete_error = Status::Ok();
  c.RunOnce();
  state::Object o = Instance();
  EXPECT_EQ(o.status, "terminated");
  EXPECT_EQ(o.doc["State"]["Code"], 48);
  EXPECT_FALSE(EniExists());
  EXPECT_EQ(o.doc["NetworkInterfaces"], Json::array());
  EXPECT_EQ(rt_.deleted, (std::vector<std::string>{kId, kId}));
  // Gone an hour later.
  clock_.Advance(3601);
  c.RunOnce();
  bool gone = false;
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto x, tx.Get(net::kEc2Instance, kRegion, kId));
    gone = !x;
    return Status::Ok();
  }).ok());
  EXPECT_TRUE(gone);
}

TEST_F(InstanceControllerTest, StopKeepsTheInterfaceAndGarbageCollectKeepsLiveHosts) {
  InstanceController c(*store_, rt_, agent_, {}, clock_);
  c.RunOnce();
  SetState("stopping");
  c.RunOnce();
  EXPECT_EQ(Instance().status, "stopped");
  EXPECT_TRUE(EniExists());
  ASSERT_TRUE(c.GarbageCollect().ok());
  EXPECT_EQ(rt_.collected, (std::set<std::string>{kId}));
}

TEST(HostStoppedReasonTest, Wording) {
  EXPECT_EQ(HostStoppedReason("i-0a", false), "Host EC2 (instance i-0a) stopped.");
  EXPECT_EQ(HostStoppedReason("i-0a", true), "Host EC2 (instance i-0a) terminated.");
}

}  // namespace
}  // namespace kecs::reconcile
