// The policy controller hands the runtime an interface's secondary addresses when they
// change (reconcile/policy_controller.h).
#include "reconcile/policy_controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "net/domain/vpc.h"
#include "runtime/simulated/simulated_runtime.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

constexpr const char* kRegion = "us-east-1";

class RecordingRuntime : public runtime::SimulatedRuntime {
 public:
  Status ApplyEniAddresses(const runtime::EniAddresses& eni) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(eni);
    return carried_ ? Status::Ok() : NotFound("no task here carries " + eni.eni_id);
  }
  // Whether a task here carries the interface (else ApplyEniAddresses answers NotFound).
  void SetCarried(bool c) {
    std::lock_guard<std::mutex> lock(mu_);
    carried_ = c;
  }
  std::vector<runtime::EniAddresses> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::vector<runtime::EniAddresses> calls_;
  bool carried_ = true;
};

class PolicyControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
      net::Scope scope{kRegion, "000000000000", 1.0};
      ASSIGN_OR_RETURN(auto vpc, net::CreateVpc(tx, scope, *net::Ipv4Cidr::Parse("10.1.0.0/16"), false,
                                                Json::array(), "default", false));
      ASSIGN_OR_RETURN(subnet_, net::CreateSubnet(tx, scope, vpc, *net::Ipv4Cidr::Parse("10.1.3.0/24"),
                                                  net::Zones(kRegion).at(0), false, false, Json::array(),
                                                  std::nullopt));
      net::EniSpec spec;
      spec.subnet = &subnet_;
      ASSIGN_OR_RETURN(auto eni, net::CreateEni(tx, scope, spec));
      eni_ = eni.id;
      vpc_ = vpc.id;
      return Status::Ok();
    }).ok());
    controller_ = std::make_unique<PolicyController>(*store_, runtime_, PolicyController::Options{});
    store_->OnCommit([this] { controller_->Notify(); });
  }
  void TearDown() override { controller_->Stop(); }

  void Edit(const std::function<Status(state::Tx&, state::Object&)>& fn) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto eni, tx.Get(net::kEni, kRegion, eni_));
      return fn(tx, *eni);
    }).ok());
  }

  // Waits (up to a generous bound, so a slow machine does not fail it) for the runtime to
  // have been called `n` times.
  std::vector<runtime::EniAddresses> WaitForCalls(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (runtime_.Calls().size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return runtime_.Calls();
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  state::Object subnet_;
  std::string eni_, vpc_;
  RecordingRuntime runtime_;
  std::unique_ptr<PolicyController> controller_;
};

TEST_F(PolicyControllerTest, HandsTheRuntimeSecondaryAddressesWhenTheyChange) {
  controller_->Start();
  Edit([&](state::Tx& tx, state::Object& eni) {
    return net::AssignEniPrivateIps(tx, kRegion, eni, subnet_, {*net::ParseIpv4("10.1.3.20")}, 0).status();
  });
  auto calls = WaitForCalls(1);
  ASSERT_EQ(calls.size(), 1u);  // an interface that never had extra addresses is left alone
  EXPECT_EQ(calls[0].eni_id, eni_);
  EXPECT_EQ(calls[0].vpc_id, vpc_);
  EXPECT_EQ(calls[0].primary_ip, "10.1.3.4");
  EXPECT_EQ(calls[0].ipv4, std::vector<std::string>{"10.1.3.20"});

  Edit([&](state::Tx& tx, state::Object& eni) {
    return net::UnassignEniPrivateIps(tx, kRegion, eni, {*net::ParseIpv4("10.1.3.20")});
  });
  calls = WaitForCalls(2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[1].ipv4.empty());  // removed from the interface too
}

TEST_F(PolicyControllerTest, SyncVpcPutsOnAddressesThatFoundNoTaskBefore) {
  // Secondary addresses assigned before the task's interface is plumbed: the pass after the
  // commit finds no task (NotFound); the task controller's SyncVpc, once the interface is
  // up, must put them on then, not at the next full pass.
  runtime_.SetCarried(false);
  controller_->Start();
  Edit([&](state::Tx& tx, state::Object& eni) {
    return net::AssignEniPrivateIps(tx, kRegion, eni, subnet_, {*net::ParseIpv4("10.1.3.30")}, 0).status();
  });
  ASSERT_EQ(WaitForCalls(1).size(), 1u);
  runtime_.SetCarried(true);
  ASSERT_TRUE(controller_->SyncVpc(kRegion, vpc_).ok());
  auto calls = runtime_.Calls();  // SyncVpc applies synchronously
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].eni_id, eni_);
  EXPECT_EQ(calls[1].ipv4, std::vector<std::string>{"10.1.3.30"});
  // Applied now: a further SyncVpc leaves the unchanged addresses alone.
  ASSERT_TRUE(controller_->SyncVpc(kRegion, vpc_).ok());
  EXPECT_EQ(runtime_.Calls().size(), 2u);
}

}  // namespace
}  // namespace kecs::reconcile
