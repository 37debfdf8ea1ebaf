#include "api/ecs/placement.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/errors.h"
#include "model/kinds.h"

namespace kecs::api::ecs {
namespace {

std::string ArnOf(const std::string& id) {
  return "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + id;
}

struct InstanceSpec {
  std::string id;
  int64_t cpu = 2048;
  int64_t memory = 4096;
  std::map<std::string, std::string> attributes;
  int eni_limit = -1;  // -1: no "kecs:eniLimit" member
  std::string status = "ACTIVE";
};

state::Object Instance(const InstanceSpec& s) {
  state::Object o;
  o.kind = model::kInstance;
  o.region = "us-east-1";
  o.id = s.id;
  o.parent = "default";
  o.status = s.status;
  Json attrs = Json::array();
  for (const auto& [k, v] : s.attributes) attrs.push_back({{"name", k}, {"value", v}});
  o.doc = {{"containerInstanceArn", ArnOf(s.id)},
           {"ec2InstanceId", "i-" + s.id},
           {"status", s.status},
           {"registeredResources",
            Json::array({{{"name", "CPU"}, {"type", "INTEGER"}, {"integerValue", s.cpu}},
                         {{"name", "MEMORY"}, {"type", "INTEGER"}, {"integerValue", s.memory}},
                         {{"name", "PORTS"}, {"type", "STRINGSET"}, {"stringSetValue", Json::array()}}})},
           {"attributes", attrs}};
  if (s.eni_limit >= 0) o.doc["kecs:eniLimit"] = s.eni_limit;
  return o;
}

PlacementRequest Needs(int64_t cpu, int64_t memory, int count = 1) {
  PlacementRequest r;
  r.needs.cpu = cpu;
  r.needs.memory = memory;
  r.needs.group = "family:web";
  r.count = count;
  return r;
}

Json Failure(const std::string& id, const std::string& reason) {
  return {{"arn", ArnOf(id)}, {"reason", reason}};
}

std::map<std::string, int> CountPerInstance(const PlacementResult& r) {
  std::map<std::string, int> out;
  for (const auto& id : r.instances) ++out[id];
  return out;
}

TEST(Placement, PlacesOnAnInstanceWithRoom) {
  auto r = Place({Instance({.id = "a"})}, {}, Needs(512, 512));
  EXPECT_EQ(r.instances, std::vector<std::string>{"a"});
  EXPECT_TRUE(r.failures.empty());
}

TEST(Placement, ResourceCpuFailureNamesTheInstance) {
  auto r = Place({Instance({.id = "a", .cpu = 1024})}, {}, Needs(2048, 128));
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:CPU"));
}

TEST(Placement, CpuHeldByRunningTasksCounts) {
  std::map<std::string, InstanceUsage> usage;
  usage["a"].cpu = 1536;
  auto r = Place({Instance({.id = "a", .cpu = 2048})}, usage, Needs(1024, 128));
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:CPU"));
  // Exactly what is left fits.
  EXPECT_EQ(Place({Instance({.id = "a", .cpu = 2048})}, usage, Needs(512, 128)).instances.size(), 1u);
}

TEST(Placement, ResourceMemoryFailure) {
  auto r = Place({Instance({.id = "a", .memory = 1024})}, {}, Needs(0, 2048));
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:MEMORY"));
  std::map<std::string, InstanceUsage> usage;
  usage["b"].memory = 3584;
  auto held = Place({Instance({.id = "b", .memory = 4096})}, usage, Needs(0, 1024));
  ASSERT_EQ(held.failures.size(), 1u);
  EXPECT_EQ(held.failures[0], Failure("b", "RESOURCE:MEMORY"));
}

TEST(Placement, CpuIsCheckedBeforeMemory) {
  auto r = Place({Instance({.id = "a", .cpu = 128, .memory = 128})}, {}, Needs(1024, 1024));
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0]["reason"], "RESOURCE:CPU");
}

TEST(Placement, ReservedAgentPortIsUnavailable) {
  PlacementRequest req = Needs(0, 0);
  req.needs.static_ports = {{"tcp", 22}};
  auto r = Place({Instance({.id = "a"})}, {}, req);
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:PORTS"));
  for (int port : kReservedPorts) {
    req.needs.static_ports = {{"tcp", port}};
    EXPECT_TRUE(Place({Instance({.id = "a"})}, {}, req).instances.empty()) << port;
  }
}

TEST(Placement, ReservedPortsAreTcpOnly) {
  PlacementRequest req = Needs(0, 0);
  req.needs.static_ports = {{"udp", 22}};
  EXPECT_EQ(Place({Instance({.id = "a"})}, {}, req).instances.size(), 1u);
}

TEST(Placement, PortUsedByAnotherTaskIsUnavailable) {
  std::map<std::string, InstanceUsage> usage;
  usage["a"].ports.insert({"tcp", 8080});
  PlacementRequest req = Needs(0, 0);
  req.needs.static_ports = {{"tcp", 8080}};
  auto r = Place({Instance({.id = "a"})}, usage, req);
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:PORTS"));
  // The same number on the other protocol is free.
  req.needs.static_ports = {{"udp", 8080}};
  EXPECT_EQ(Place({Instance({.id = "a"})}, usage, req).instances.size(), 1u);
}

TEST(Placement, StaticPortTakenByAnEarlierTaskOfTheSameCall) {
  PlacementRequest req = Needs(0, 0, 2);
  req.needs.static_ports = {{"tcp", 80}};
  auto r = Place({Instance({.id = "a"})}, {}, req);
  EXPECT_EQ(r.instances, std::vector<std::string>{"a"});
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:PORTS"));
}

TEST(Placement, EniLimitFromTheInstance) {
  std::map<std::string, InstanceUsage> usage;
  usage["a"].enis = 1;
  PlacementRequest req = Needs(0, 0);
  req.needs.eni = true;
  auto r = Place({Instance({.id = "a", .eni_limit = 1})}, usage, req);
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:ENI"));
  // A task without an ENI still fits.
  EXPECT_EQ(Place({Instance({.id = "a", .eni_limit = 1})}, usage, Needs(0, 0)).instances.size(), 1u);
}

TEST(Placement, EniLimitDefaultsToM5Large) {
  PlacementRequest req = Needs(0, 0, 3);
  req.needs.eni = true;
  auto r = Place({Instance({.id = "a"})}, {}, req);
  EXPECT_EQ(r.instances.size(), 2u);  // m5.large: 3 ENIs, one is the primary
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:ENI"));
}

TEST(Placement, ResourcesAreChargedAcrossTasksOfOneCall) {
  auto r = Place({Instance({.id = "a", .cpu = 1024})}, {}, Needs(512, 0, 3));
  EXPECT_EQ(r.instances, (std::vector<std::string>{"a", "a"}));
  ASSERT_EQ(r.failures.size(), 1u);  // reported once, not once per task
  EXPECT_EQ(r.failures[0], Failure("a", "RESOURCE:CPU"));
}

TEST(Placement, InactiveInstanceIsNotUsed) {
  auto r = Place({Instance({.id = "a", .status = "DRAINING"})}, {}, Needs(0, 0));
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0]["arn"], ArnOf("a"));
}

TEST(Placement, RequiredAttributeMustBePresent) {
  PlacementRequest req = Needs(0, 0);
  req.needs.required_attributes = {"ecs.capability.task-eni"};
  auto r = Place({Instance({.id = "a"}),
                  Instance({.id = "b", .attributes = {{"ecs.capability.task-eni", ""}}})},
                 {}, req);
  EXPECT_EQ(r.instances, std::vector<std::string>{"b"});
  auto none = Place({Instance({.id = "a"})}, {}, req);
  EXPECT_TRUE(none.instances.empty());
  ASSERT_EQ(none.failures.size(), 1u);
  EXPECT_EQ(none.failures[0], Failure("a", "ATTRIBUTE"));
}

TEST(Placement, DistinctInstanceSpreadsTwoTasksOverTwoInstances) {
  PlacementRequest req = Needs(128, 128, 2);
  req.constraints = Json::array({{{"type", "distinctInstance"}}});
  for (int i = 0; i < 20; ++i) {  // the tie-break is random; the outcome must not be
    auto r = Place({Instance({.id = "a"}), Instance({.id = "b"})}, {}, req);
    ASSERT_EQ(r.instances.size(), 2u);
    EXPECT_EQ(std::set<std::string>(r.instances.begin(), r.instances.end()),
              (std::set<std::string>{"a", "b"}));
    EXPECT_TRUE(r.failures.empty());
  }
}

TEST(Placement, DistinctInstanceCannotPlaceMoreTasksThanInstances) {
  PlacementRequest req = Needs(128, 128, 3);
  req.constraints = Json::array({{{"type", "distinctInstance"}}});
  auto r = Place({Instance({.id = "a"}), Instance({.id = "b"})}, {}, req);
  EXPECT_EQ(r.instances.size(), 2u);
  EXPECT_EQ(r.failures.size(), 1u);
}

TEST(Placement, MemberOfFiltersByExpression) {
  PlacementRequest req = Needs(0, 0, 3);
  req.constraints =
      Json::array({{{"type", "memberOf"}, {"expression", "attribute:ecs.instance-type =~ t2.*"}}});
  auto r = Place({Instance({.id = "m5", .attributes = {{"ecs.instance-type", "m5.large"}}}),
                  Instance({.id = "t2", .attributes = {{"ecs.instance-type", "t2.small"}}})},
                 {}, req);
  EXPECT_EQ(r.instances, (std::vector<std::string>{"t2", "t2", "t2"}));
  EXPECT_TRUE(r.failures.empty());
}

TEST(Placement, MemberOfWithNoMatchFailsOnTheFirstCandidate) {
  PlacementRequest req = Needs(0, 0);
  req.constraints = Json::array(
      {{{"type", "memberOf"}, {"expression", "attribute:ecs.availability-zone == us-east-1c"}}});
  auto r = Place({Instance({.id = "a", .attributes = {{"ecs.availability-zone", "us-east-1a"}}})},
                 {}, req);
  EXPECT_TRUE(r.instances.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0]["arn"], ArnOf("a"));
}

TEST(Placement, MemberOfSeesInstanceIdAndRunningTasks) {
  std::map<std::string, InstanceUsage> usage;
  usage["busy"].running = 3;
  PlacementRequest req = Needs(0, 0);
  req.constraints = Json::array({{{"type", "memberOf"}, {"expression", "runningTasksCount < 2"}}});
  auto r = Place({Instance({.id = "busy"}), Instance({.id = "idle"})}, usage, req);
  EXPECT_EQ(r.instances, std::vector<std::string>{"idle"});
  req.constraints = Json::array({{{"type", "memberOf"}, {"expression", "ec2InstanceId == i-busy"}}});
  r = Place({Instance({.id = "busy"}), Instance({.id = "idle"})}, usage, req);
  EXPECT_EQ(r.instances, std::vector<std::string>{"busy"});
}

TEST(Placement, MemberOfTaskGroupMatchesAnInstanceRunningThatGroup) {
  std::map<std::string, InstanceUsage> usage;
  usage["db"].groups["service:databases"] = 1;
  PlacementRequest req = Needs(0, 0);
  req.constraints =
      Json::array({{{"type", "memberOf"}, {"expression", "task:group == service:databases"}}});
  auto r = Place({Instance({.id = "db"}), Instance({.id = "empty"})}, usage, req);
  EXPECT_EQ(r.instances, std::vector<std::string>{"db"});
}

TEST(Placement, MemberOfTaskGroupConsidersEveryGroupOnTheInstance) {
  // BUG: Place()'s lookup for "task:group" (src/api/ecs/placement.cc) returns only the first
  // group (in map order) with a task on the instance, so an instance running tasks of
  // "family:cache" and "service:databases" does not match "task:group == service:databases".
  std::map<std::string, InstanceUsage> usage;
  usage["db"].groups["family:cache"] = 1;
  usage["db"].groups["service:databases"] = 1;
  PlacementRequest req = Needs(0, 0);
  req.constraints =
      Json::array({{{"type", "memberOf"}, {"expression", "task:group == service:databases"}}});
  auto r = Place({Instance({.id = "db"}), Instance({.id = "empty"})}, usage, req);
  EXPECT_EQ(r.instances, std::vector<std::string>{"db"});
}

TEST(Placement, MalformedMemberOfIsInvalidParameter) {
  PlacementRequest req = Needs(0, 0);
  req.constraints = Json::array({{{"type", "memberOf"}, {"expression", "attribute:x =="}}});
  try {
    Place({Instance({.id = "a"})}, {}, req);
    FAIL() << "no exception";
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code(), "InvalidParameterException");
    EXPECT_TRUE(e.message().starts_with("The placement constraint expression is invalid: "))
        << e.message();
  }
}

TEST(Placement, BinpackCpuChoosesTheFullestInstance) {
  std::map<std::string, InstanceUsage> usage;
  usage["half"].cpu = 2048;    // 2048 left
  usage["full"].cpu = 3584;    // 512 left
  usage["nearly"].cpu = 3072;  // 1024 left
  PlacementRequest req = Needs(512, 0);
  req.strategy = Json::array({{{"type", "binpack"}, {"field", "cpu"}}});
  for (int i = 0; i < 10; ++i) {
    auto r = Place({Instance({.id = "empty", .cpu = 4096}), Instance({.id = "half", .cpu = 4096}),
                    Instance({.id = "full", .cpu = 4096}), Instance({.id = "nearly", .cpu = 4096})},
                   usage, req);
    EXPECT_EQ(r.instances, std::vector<std::string>{"full"});
  }
}

TEST(Placement, BinpackMemoryChoosesTheLeastFreeMemory) {
  std::map<std::string, InstanceUsage> usage;
  usage["b"].memory = 3000;
  PlacementRequest req = Needs(0, 512);
  req.strategy = Json::array({{{"type", "binpack"}, {"field", "memory"}}});
  for (int i = 0; i < 10; ++i) {
    auto r = Place({Instance({.id = "a", .memory = 4096}), Instance({.id = "b", .memory = 4096}),
                    Instance({.id = "c", .memory = 8192})},
                   usage, req);
    EXPECT_EQ(r.instances, std::vector<std::string>{"b"});
  }
}

TEST(Placement, BinpackFillsOneInstanceBeforeTheNext) {
  PlacementRequest req = Needs(1024, 0, 3);
  req.strategy = Json::array({{{"type", "binpack"}, {"field", "CPU"}}});
  std::map<std::string, InstanceUsage> usage;
  usage["b"].cpu = 1;  // b is fuller, so it fills first
  auto r = Place({Instance({.id = "a", .cpu = 2048}), Instance({.id = "b", .cpu = 2048})}, usage, req);
  EXPECT_EQ(r.instances, (std::vector<std::string>{"b", "a", "a"}));
}

TEST(Placement, SpreadByInstanceIdBalances) {
  PlacementRequest req = Needs(0, 0, 4);
  req.strategy = Json::array({{{"type", "spread"}, {"field", "instanceId"}}});
  auto r = Place({Instance({.id = "a"}), Instance({.id = "b"})}, {}, req);
  EXPECT_EQ(CountPerInstance(r), (std::map<std::string, int>{{"a", 2}, {"b", 2}}));
}

TEST(Placement, SpreadCountsExistingTasksOfTheGroup) {
  std::map<std::string, InstanceUsage> usage;
  usage["a"].groups["family:web"] = 2;
  usage["b"].groups["family:other"] = 5;  // another group does not count
  PlacementRequest req = Needs(0, 0, 2);
  req.strategy = Json::array({{{"type", "spread"}, {"field", "instanceId"}}});
  auto r = Place({Instance({.id = "a"}), Instance({.id = "b"})}, usage, req);
  EXPECT_EQ(r.instances, (std::vector<std::string>{"b", "b"}));
}

TEST(Placement, SpreadByAvailabilityZone) {
  PlacementRequest req = Needs(0, 0, 2);
  req.strategy =
      Json::array({{{"type", "spread"}, {"field", "attribute:ecs.availability-zone"}}});
  for (int i = 0; i < 10; ++i) {
    auto r = Place({Instance({.id = "a1", .attributes = {{"ecs.availability-zone", "az-a"}}}),
                    Instance({.id = "a2", .attributes = {{"ecs.availability-zone", "az-a"}}}),
                    Instance({.id = "b1", .attributes = {{"ecs.availability-zone", "az-b"}}})},
                   {}, req);
    ASSERT_EQ(r.instances.size(), 2u);
    std::set<std::string> got(r.instances.begin(), r.instances.end());
    EXPECT_TRUE(got.count("b1")) << r.instances[0] << "," << r.instances[1];
  }
}

TEST(Placement, NoCandidatesPlacesNothing) {
  auto r = Place({}, {}, Needs(0, 0, 2));
  EXPECT_TRUE(r.instances.empty());
}

TEST(RegisteredInt, ReadsNamedResource) {
  Json inst = Instance({.id = "a", .cpu = 1234, .memory = 5678}).doc;
  EXPECT_EQ(RegisteredInt(inst, "CPU"), 1234);
  EXPECT_EQ(RegisteredInt(inst, "MEMORY"), 5678);
  EXPECT_EQ(RegisteredInt(inst, "GPU"), 0);
  EXPECT_EQ(RegisteredInt(Json::object(), "CPU"), 0);
}

TEST(EniTaskLimit, FollowsThePublishedTable) {
  EXPECT_EQ(EniTaskLimit("m5.large", false), 2);
  EXPECT_EQ(EniTaskLimit("m5.large", true), 10);
  EXPECT_EQ(EniTaskLimit("t3.micro", false), 1);
  EXPECT_EQ(EniTaskLimit("t3.micro", true), 1);  // no trunking support: the plain limit
  EXPECT_EQ(EniTaskLimit("m5.24xlarge", false), 14);
  EXPECT_EQ(EniTaskLimit("c5.18xlarge", true), 120);
  EXPECT_EQ(EniTaskLimit("m6g.medium", true), 4);
}

TEST(EniTaskLimit, UnknownTypesAreTreatedAsM5Large) {
  EXPECT_EQ(EniTaskLimit("x9.mega", false), 2);
  EXPECT_EQ(EniTaskLimit("x9.mega", true), 10);
  EXPECT_EQ(EniTaskLimit("", false), 2);
}

}  // namespace
}  // namespace kecs::api::ecs
