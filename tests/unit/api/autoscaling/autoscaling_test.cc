// EC2 Auto Scaling: the termination policy's choice, the API's refusals, and the group
// controller driven pass by pass against a real store and the real EC2 handlers (no
// router, no runtime: the test moves instances to running or terminated itself).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "api/autoscaling/autoscaling_api.h"
#include "api/autoscaling/group_controller.h"
#include "api/ec2/ec2_api.h"
#include "api/router.h"
#include "base/clock.h"
#include "model/autoscaling_model.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::autoscaling {
namespace {

Candidate C(std::string id, std::string az, bool prot = false, double launched = 0) {
  Candidate c;
  c.id = std::move(id);
  c.az = std::move(az);
  c.is_protected = prot;
  c.launched = launched;
  c.template_id = "lt-1";
  c.template_version = 2;
  return c;
}

TEST(ChooseScaleIn, BalancesZonesFirstAndSkipsProtected) {
  LaunchSource cur{"", "lt-1", 2};
  // a has 3 (one protected), b has 1: the first two come from a, never the protected one.
  std::vector<Candidate> m = {C("i-a1", "a", true), C("i-a2", "a"), C("i-a3", "a"), C("i-b1", "b")};
  auto out = ChooseScaleIn(m, cur, {"Default"}, 3, 1000);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(std::set<std::string>(out.begin(), out.begin() + 2), (std::set<std::string>{"i-a2", "i-a3"}));
  EXPECT_EQ(out[2], "i-b1");  // then a and b have 1 each, and a's is protected
  // Everything left is protected: nothing more to choose.
  EXPECT_EQ(ChooseScaleIn({C("i-a1", "a", true)}, cur, {}, 1, 1000).size(), 0u);
}

TEST(ChooseScaleIn, OldestLaunchSourceThenPolicies) {
  LaunchSource cur{"", "lt-1", 2};
  Candidate old_version = C("i-2", "a");
  old_version.template_version = 1;
  Candidate from_lc = C("i-3", "a");
  from_lc.template_id.clear();
  from_lc.launch_configuration = "lc";
  std::vector<Candidate> m = {C("i-1", "a"), old_version, from_lc};
  // Default: a launch configuration's instance first (the group uses a template), then the
  // older template version.
  EXPECT_EQ(ChooseScaleIn(m, cur, {"Default"}, 2, 1000), (std::vector<std::string>{"i-3", "i-2"}));
  // OldestInstance / NewestInstance come before Default's criteria.
  std::vector<Candidate> t = {C("i-1", "a", false, 100), C("i-2", "a", false, 50), C("i-3", "a", false, 200)};
  EXPECT_EQ(ChooseScaleIn(t, cur, {"OldestInstance"}, 1, 1000)[0], "i-2");
  EXPECT_EQ(ChooseScaleIn(t, cur, {"NewestInstance"}, 1, 1000)[0], "i-3");
  // ClosestToNextInstanceHour: launched 3500 s ago is closest.
  std::vector<Candidate> h = {C("i-1", "a", false, 10000 - 100), C("i-2", "a", false, 10000 - 3500)};
  EXPECT_EQ(ChooseScaleIn(h, cur, {"ClosestToNextInstanceHour"}, 1, 10000)[0], "i-2");
}

class AutoScalingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ec2_api_ = std::make_unique<ec2::Ec2Api>(*store_, regions_);
    ErrorStyle style;
    style.ec2_missing_parameter = true;
    ec2_ = std::make_shared<Service>(model::Ec2Model(), style);
    ec2_api_->RegisterAll(*ec2_);
    api_ = std::make_unique<AutoScalingApi>(*store_, regions_);
    asg_ = std::make_shared<Service>(model::AutoScalingModel(), ErrorStyle{});
    api_->RegisterAll(*asg_);
    GroupController::Options o;
    o.launch_retry_s = 10;
    controller_ = std::make_unique<GroupController>(*store_, *ec2_, clock_, o);
  }

  Json Call(const std::shared_ptr<Service>& svc, const std::string& op, const Json& in) {
    RequestContext ctx;
    ctx.region = "us-east-1";
    ctx.account_id = "000000000000";
    ctx.now = clock_.Now();
    return (*svc->Find(op))(ctx, in);
  }
  Json Asg(const std::string& op, const Json& in) { return Call(asg_, op, in); }
  Json Ec2(const std::string& op, const Json& in) { return Call(ec2_, op, in); }
  std::string Refusal(const std::string& op, const Json& in) {
    try {
      Asg(op, in);
    } catch (const AwsError& e) {
      return e.code() + ": " + e.message();
    }
    return "";
  }

  // A VPC with subnets in us-east-1a and us-east-1b, and a launch template "web".
  void Network() {
    std::string vpc = Ec2("CreateVpc", {{"CidrBlock", "10.9.0.0/16"}})["Vpc"]["VpcId"];
    a_ = Ec2("CreateSubnet", {{"VpcId", vpc}, {"CidrBlock", "10.9.1.0/24"}, {"AvailabilityZone", "us-east-1a"}})["Subnet"]["SubnetId"];
    b_ = Ec2("CreateSubnet", {{"VpcId", vpc}, {"CidrBlock", "10.9.2.0/24"}, {"AvailabilityZone", "us-east-1b"}})["Subnet"]["SubnetId"];
    std::string ami = Ec2("DescribeImages", {{"Owners", {"amazon"}},
                                             {"Filters", {{{"Name", "name"},
                                                           {"Values", {"al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"}}}}}})
                          ["Images"][0]["ImageId"];
    Ec2("CreateLaunchTemplate", {{"LaunchTemplateName", "web"},
                                 {"LaunchTemplateData", {{"ImageId", ami}, {"InstanceType", "m5.large"}}}});
  }
  void Group(int desired, int max = 4) {
    Asg("CreateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MinSize", 0}, {"MaxSize", max},
                                   {"DesiredCapacity", desired}, {"DefaultCooldown", 0},
                                   {"LaunchTemplate", {{"LaunchTemplateName", "web"}}},
                                   {"VPCZoneIdentifier", a_ + "," + b_},
                                   {"Tags", {{{"Key", "team"}, {"Value", "x"}, {"PropagateAtLaunch", true}}}}});
  }
  Json Described() { return Asg("DescribeAutoScalingGroups", {{"AutoScalingGroupNames", {"g"}}})["AutoScalingGroups"][0]; }
  std::vector<state::Object> Ec2Instances() {
    std::vector<state::Object> out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      out = *tx.List({net::kEc2Instance, "us-east-1"});
      return Status::Ok();
    }).ok());
    return out;
  }
  // What the instance controller would do: every instance in `from` moves to `to`.
  void Move(const std::string& id, const std::string& to) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
      auto o = **tx.Get(net::kEc2Instance, "us-east-1", id);
      o.status = to;
      o.doc["State"]["Name"] = to;
      return tx.Put(o);
    }).ok());
  }
  void AllRunning() {
    for (const auto& i : Ec2Instances()) {
      if (i.status == "pending") Move(i.id, "running");
      if (i.status == "shutting-down") Move(i.id, "terminated");
    }
  }

  testing::TempDir dir_;
  FakeClock clock_{1700000000};
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<ec2::Ec2Api> ec2_api_;
  std::shared_ptr<Service> ec2_, asg_;
  std::unique_ptr<AutoScalingApi> api_;
  std::unique_ptr<GroupController> controller_;
  std::string a_, b_;
};

TEST_F(AutoScalingTest, RefusalsInAwsWords) {
  Network();
  Json base = {{"AutoScalingGroupName", "g"}, {"LaunchTemplate", {{"LaunchTemplateName", "web"}}},
               {"VPCZoneIdentifier", a_}};
  Json bad = base;
  bad["MinSize"] = 3;
  bad["MaxSize"] = 2;
  EXPECT_EQ(Refusal("CreateAutoScalingGroup", bad), "ValidationError: Max bound, 2, must be greater than or equal to min bound, 3");
  bad["MinSize"] = 1;
  bad["DesiredCapacity"] = 4;
  EXPECT_EQ(Refusal("CreateAutoScalingGroup", bad),
            "ValidationError: Desired capacity:4 must be between the specified min size:1 and max size:2");
  bad = base;
  bad["MinSize"] = 0;
  bad["MaxSize"] = 1;
  bad["VPCZoneIdentifier"] = a_ + ",subnet-0000000000000000f";
  EXPECT_EQ(Refusal("CreateAutoScalingGroup", bad), "ValidationError: The subnet ID 'subnet-0000000000000000f' does not exist");
  bad.erase("VPCZoneIdentifier");
  EXPECT_EQ(Refusal("CreateAutoScalingGroup", bad), "ValidationError: At least one Availability Zone or VPC Subnet is required.");
  bad["VPCZoneIdentifier"] = a_;
  bad["LaunchTemplate"] = {{"LaunchTemplateName", "web"}, {"Version", "7"}};
  EXPECT_TRUE(Refusal("CreateAutoScalingGroup", bad).starts_with("ValidationError: You must use a valid fully-formed launch template."));
  bad["LaunchTemplate"] = {{"LaunchTemplateName", "web"}, {"LaunchTemplateId", "lt-0123456789abcdef0"}};
  EXPECT_EQ(Refusal("CreateAutoScalingGroup", bad),
            "ValidationError: Valid requests must contain either launchTemplateId or LaunchTemplateName");
  Group(1, 2);
  Json dup = base;
  dup["MinSize"] = 0;
  dup["MaxSize"] = 1;
  EXPECT_EQ(Refusal("CreateAutoScalingGroup", dup),
            "AlreadyExists: AutoScalingGroup by this name already exists - A group with the name g already exists");
  EXPECT_EQ(Refusal("SetDesiredCapacity", {{"AutoScalingGroupName", "g"}, {"DesiredCapacity", 3}}),
            "ValidationError: New SetDesiredCapacity value 3 is above max value 2 for the AutoScalingGroup.");
  EXPECT_EQ(Refusal("SetDesiredCapacity", {{"AutoScalingGroupName", "nope"}, {"DesiredCapacity", 1}}),
            "ValidationError: AutoScalingGroup name not found - AutoScalingGroup: nope not found");
  // A launch in flight is a scaling activity in progress: HonorCooldown refuses.
  controller_->RunOnce();
  AllRunning();
  EXPECT_EQ(Refusal("SetInstanceProtection", {{"AutoScalingGroupName", "g"}, {"InstanceIds", {"i-0123456789abcdef0"}},
                                              {"ProtectedFromScaleIn", true}}),
            "ValidationError: The instance i-0123456789abcdef0 is not part of Auto Scaling group g.");
  EXPECT_TRUE(Refusal("SetDesiredCapacity", {{"AutoScalingGroupName", "g"}, {"DesiredCapacity", 2}, {"HonorCooldown", true}})
                  .starts_with("ScalingActivityInProgress: Scaling activity "));
  EXPECT_EQ(Refusal("DeleteAutoScalingGroup", {{"AutoScalingGroupName", "g"}}),
            "ResourceInUse: You cannot delete an AutoScalingGroup while there are instances or pending Spot instance "
            "request(s) still in the group.");
}

TEST_F(AutoScalingTest, ControllerKeepsDesiredAcrossZonesAndReplaces) {
  Network();
  Group(2);
  controller_->RunOnce();
  auto insts = Ec2Instances();
  ASSERT_EQ(insts.size(), 2u);
  std::set<std::string> subnets;
  for (const auto& i : insts) {
    subnets.insert(JStr(i.doc, "SubnetId"));
    Json tags = i.doc["Tags"];
    EXPECT_NE(std::find(tags.begin(), tags.end(), Json{{"Key", "aws:autoscaling:groupName"}, {"Value", "g"}}), tags.end());
    EXPECT_NE(std::find(tags.begin(), tags.end(), Json{{"Key", "team"}, {"Value", "x"}}), tags.end());
  }
  EXPECT_EQ(subnets, (std::set<std::string>{a_, b_}));
  Json g = Described();
  ASSERT_EQ(g["Instances"].size(), 2u);
  EXPECT_EQ(g["Instances"][0]["LifecycleState"], "Pending");
  AllRunning();
  controller_->RunOnce();
  g = Described();
  for (const auto& i : g["Instances"]) EXPECT_EQ(i["LifecycleState"], "InService");
  // Terminated behind the group's back: unhealthy, terminated, replaced.
  std::string gone = g["Instances"][0]["InstanceId"];
  Move(gone, "terminated");
  controller_->RunOnce();
  g = Described();
  ASSERT_EQ(g["Instances"].size(), 3u);
  int counted = 0;
  for (const auto& i : g["Instances"]) {
    if (i["InstanceId"] == gone) {
      EXPECT_EQ(i["HealthStatus"], "Unhealthy");
      EXPECT_EQ(i["LifecycleState"], "Terminating");
    } else {
      ++counted;
    }
  }
  EXPECT_EQ(counted, 2);
  AllRunning();
  controller_->RunOnce();
  g = Described();
  EXPECT_EQ(g["Instances"].size(), 2u);
  EXPECT_EQ(Ec2Instances().size(), 3u);
  // Stopped behind its back: the same (EC2 terminates it at the group's request).
  std::string stopped = g["Instances"][0]["InstanceId"];
  Move(stopped, "stopped");
  controller_->RunOnce();
  bool terminating = false;
  for (const auto& o : Ec2Instances()) terminating |= o.id == stopped && o.status == "shutting-down";
  EXPECT_TRUE(terminating);
  AllRunning();
  controller_->RunOnce();
  AllRunning();
  controller_->RunOnce();
  g = Described();
  ASSERT_EQ(g["Instances"].size(), 2u);
  for (const auto& i : g["Instances"]) {
    EXPECT_NE(i["InstanceId"], stopped);
    EXPECT_EQ(i["LifecycleState"], "InService");
  }
  Json acts = Asg("DescribeScalingActivities", {{"AutoScalingGroupName", "g"}})["Activities"];
  EXPECT_EQ(acts[0]["Description"], "Launching a new EC2 instance: " + JStr(g["Instances"][1], "InstanceId"));
  EXPECT_TRUE(JStr(acts[0], "Cause").ends_with("an instance was started in response to a difference between desired "
                                               "and actual capacity, increasing the capacity from 1 to 2."));
}

TEST_F(AutoScalingTest, ScaleInSkipsProtectedAndDeleteFinishes) {
  Network();
  Group(3);
  controller_->RunOnce();
  AllRunning();
  controller_->RunOnce();
  Json g = Described();
  // Two in one zone: protect one of them.
  std::map<std::string, std::vector<std::string>> zones;
  for (const auto& i : g["Instances"]) zones[i["AvailabilityZone"]].push_back(i["InstanceId"]);
  std::string keep;
  for (auto& [z, ids] : zones) {
    if (ids.size() == 2) keep = ids[0];
  }
  ASSERT_FALSE(keep.empty());
  Asg("SetInstanceProtection", {{"AutoScalingGroupName", "g"}, {"InstanceIds", {keep}}, {"ProtectedFromScaleIn", true}});
  Asg("SetDesiredCapacity", {{"AutoScalingGroupName", "g"}, {"DesiredCapacity", 1}});
  controller_->RunOnce();
  AllRunning();
  controller_->RunOnce();
  g = Described();
  ASSERT_EQ(g["Instances"].size(), 1u);
  EXPECT_EQ(g["Instances"][0]["InstanceId"], keep);
  // ForceDelete: Delete in progress until its instances are gone.
  Asg("DeleteAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"ForceDelete", true}});
  EXPECT_EQ(Described()["Status"], "Delete in progress");
  controller_->RunOnce();
  AllRunning();
  controller_->RunOnce();
  EXPECT_TRUE(Asg("DescribeAutoScalingGroups", {{"AutoScalingGroupNames", {"g"}}})["AutoScalingGroups"].empty());
}

TEST_F(AutoScalingTest, LaunchIntentLeftByACrashIsFinishedWithoutADouble) {
  Network();
  Group(0);
  // A crash after RunInstances answered but before the group recorded it: the intent is
  // committed, the instance exists with the intent's token.
  std::string token;
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    auto g = **tx.Get(kGroup, "us-east-1", "g");
    token = JStr(g.internal, "uuid") + "-0";
    g.internal["next"] = 1;
    g.internal["launches"] = Json::array({{{"token", token}, {"SubnetId", a_}, {"AvailabilityZone", "us-east-1a"},
                                            {"activity", ""}}});
    g.doc["DesiredCapacity"] = 1;
    return tx.Put(g);
  }).ok());
  std::string id = Ec2("RunInstances", {{"MinCount", 1}, {"MaxCount", 1}, {"ClientToken", token}, {"SubnetId", a_},
                                        {"LaunchTemplate", {{"LaunchTemplateName", "web"}}}})["Instances"][0]["InstanceId"];
  controller_->RunOnce();
  ASSERT_EQ(Ec2Instances().size(), 1u);
  Json g = Described();
  ASSERT_EQ(g["Instances"].size(), 1u);
  EXPECT_EQ(g["Instances"][0]["InstanceId"], id);
  controller_->RunOnce();
  EXPECT_EQ(Ec2Instances().size(), 1u);
}

TEST_F(AutoScalingTest, FailedLaunchIsAFailedActivityAndRetriedLater) {
  Network();
  Asg("CreateLaunchConfiguration", {{"LaunchConfigurationName", "bad"}, {"ImageId", "ami-0000000000000000f"},
                                    {"InstanceType", "m5.large"}});
  Asg("CreateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MinSize", 1}, {"MaxSize", 1},
                                 {"LaunchConfigurationName", "bad"}, {"VPCZoneIdentifier", a_}});
  controller_->RunOnce();
  Json acts = Asg("DescribeScalingActivities", {{"AutoScalingGroupName", "g"}})["Activities"];
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0]["StatusCode"], "Failed");
  EXPECT_EQ(acts[0]["StatusMessage"], "The image id '[ami-0000000000000000f]' does not exist");
  controller_->RunOnce();  // within the retry delay: no new attempt
  EXPECT_EQ(Asg("DescribeScalingActivities", {{"AutoScalingGroupName", "g"}})["Activities"].size(), 1u);
  clock_.Advance(11);
  controller_->RunOnce();
  EXPECT_EQ(Asg("DescribeScalingActivities", {{"AutoScalingGroupName", "g"}})["Activities"].size(), 2u);
  // The second failure in a row doubles the delay: 20 s.
  clock_.Advance(11);
  controller_->RunOnce();
  EXPECT_EQ(Asg("DescribeScalingActivities", {{"AutoScalingGroupName", "g"}})["Activities"].size(), 2u);
  clock_.Advance(10);
  controller_->RunOnce();
  EXPECT_EQ(Asg("DescribeScalingActivities", {{"AutoScalingGroupName", "g"}})["Activities"].size(), 3u);
  EXPECT_EQ(Refusal("DeleteLaunchConfiguration", {{"LaunchConfigurationName", "bad"}}),
            "ResourceInUse: Cannot delete launch configuration bad because it is attached to AutoScalingGroup g");
}

TEST_F(AutoScalingTest, TagsInTheAwsPrefixAndTerminatingBelowMinAreRefused) {
  Network();
  Asg("CreateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MinSize", 1}, {"MaxSize", 2},
                                 {"LaunchTemplate", {{"LaunchTemplateName", "web"}}}, {"VPCZoneIdentifier", a_}});
  const std::string reserved = "ValidationError: Tag keys starting with 'aws:' are reserved for internal use.";
  Json tag = {{"ResourceId", "g"}, {"ResourceType", "auto-scaling-group"}, {"Key", "aws:foo"}, {"Value", "x"},
              {"PropagateAtLaunch", true}};
  Json ok = tag;
  ok["Key"] = "team";
  EXPECT_EQ(Refusal("CreateOrUpdateTags", {{"Tags", {ok, tag}}}), reserved);
  Json del = tag;
  del["Key"] = "aws:autoscaling:groupName";
  EXPECT_EQ(Refusal("DeleteTags", {{"Tags", {del}}}), reserved);
  EXPECT_TRUE(Described()["Tags"].empty());  // nothing of the refused request was kept
  controller_->RunOnce();
  std::string id = Described()["Instances"][0]["InstanceId"];
  EXPECT_EQ(Refusal("TerminateInstanceInAutoScalingGroup", {{"InstanceId", id}, {"ShouldDecrementDesiredCapacity", true}}),
            "ValidationError: Currently, desiredSize equals minSize (1). Terminating instance without replacement will "
            "violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower "
            "group's min size.");
}

TEST_F(AutoScalingTest, SizesAboveKecsCapAreRefused) {
  Network();
  Json in = {{"AutoScalingGroupName", "big"}, {"LaunchTemplate", {{"LaunchTemplateName", "web"}}},
             {"VPCZoneIdentifier", a_}, {"MinSize", 50000}, {"MaxSize", 50000}};
  EXPECT_EQ(Refusal("CreateAutoScalingGroup", in),
            "ValidationError: MaxSize 50000 is above kecs's limit of 1000 instances per Auto Scaling group.");
  Group(0);
  EXPECT_EQ(Refusal("UpdateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MaxSize", 1001}}),
            "ValidationError: MaxSize 1001 is above kecs's limit of 1000 instances per Auto Scaling group.");
  Asg("UpdateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MaxSize", 1000}});
  // A group stored before the cap: SetDesiredCapacity refuses above it too.
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    auto g = **tx.Get(kGroup, "us-east-1", "g");
    g.doc["MaxSize"] = 50000;
    return tx.Put(g);
  }).ok());
  EXPECT_EQ(Refusal("SetDesiredCapacity", {{"AutoScalingGroupName", "g"}, {"DesiredCapacity", 50000}}),
            "ValidationError: DesiredCapacity 50000 is above kecs's limit of 1000 instances per Auto Scaling group.");
  EXPECT_TRUE(Ec2Instances().empty());
}

TEST_F(AutoScalingTest, LaunchesAndTerminatesInBatches) {
  Network();
  Group(25, 30);
  for (size_t expect : {10u, 20u, 25u, 25u}) {
    controller_->RunOnce();
    EXPECT_EQ(Ec2Instances().size(), expect);
    EXPECT_EQ(Described()["Instances"].size(), expect);
  }
  AllRunning();
  controller_->RunOnce();
  Asg("SetDesiredCapacity", {{"AutoScalingGroupName", "g"}, {"DesiredCapacity", 0}});
  for (int expect : {10, 20, 25}) {
    controller_->RunOnce();
    int terminating = 0;
    Json g = Described();
    for (const auto& i : g["Instances"]) terminating += i["LifecycleState"] == "Terminating" ? 1 : 0;
    EXPECT_EQ(terminating, expect);
  }
  AllRunning();
  controller_->RunOnce();
  EXPECT_TRUE(Described()["Instances"].empty());
}

TEST_F(AutoScalingTest, FailingGroupBacksOffUpToTheCapAndPrunesItsActivities) {
  Network();
  GroupController::Options o;
  o.launch_retry_s = 10;
  o.launch_retry_max_s = 30;
  o.activities_kept = 4;
  controller_ = std::make_unique<GroupController>(*store_, *ec2_, clock_, o);
  Asg("CreateLaunchConfiguration", {{"LaunchConfigurationName", "bad"}, {"ImageId", "ami-0000000000000000f"},
                                    {"InstanceType", "m5.large"}});
  Asg("CreateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MinSize", 0}, {"MaxSize", 3}, {"DesiredCapacity", 3},
                                 {"LaunchConfigurationName", "bad"}, {"VPCZoneIdentifier", a_}});
  auto statuses = [&] {
    std::map<std::string, int> n;
    Json acts = Asg("DescribeScalingActivities", {{"AutoScalingGroupName", "g"}})["Activities"];
    for (const auto& a : acts) n[a["StatusCode"]]++;
    return n;
  };
  // One pass: three intents, the first fails and the other two wait for the retry time.
  controller_->RunOnce();
  EXPECT_EQ(statuses(), (std::map<std::string, int>{{"Failed", 1}, {"InProgress", 2}}));
  controller_->RunOnce();
  EXPECT_EQ(statuses()["Failed"], 1);
  // Delays 10, 20, then 30 (the cap, not 40), 30: one attempt each.
  for (double wait : {10.0, 20.0, 30.0, 30.0}) {
    int before = statuses()["Failed"];
    clock_.Advance(wait - 1);
    controller_->RunOnce();
    EXPECT_EQ(statuses()["Failed"], before) << wait;
    clock_.Advance(1);
    controller_->RunOnce();
    controller_->RunOnce();  // prunes what the attempt added
    EXPECT_EQ(statuses()["Failed"], std::min(before + 1, 4)) << wait;
  }
  // Only the newest 4 finished activities are kept; those in progress stay.
  EXPECT_EQ(statuses(), (std::map<std::string, int>{{"Failed", 4}, {"InProgress", 2}}));
  // Six weeks later the finished ones are gone.
  Asg("UpdateAutoScalingGroup", {{"AutoScalingGroupName", "g"}, {"MaxSize", 0}});
  clock_.Advance(30);
  controller_->RunOnce();  // an intent left fails
  clock_.Advance(42 * 86400 + 1);
  controller_->RunOnce();  // the last one fails
  controller_->RunOnce();
  EXPECT_TRUE(statuses().empty());
}

}  // namespace
}  // namespace kecs::api::autoscaling
