// Kubernetes nodes as ECS container instances (reconcile/node_controller.h) over a
// temporary store and the real ECS API: registration into every cluster of every region,
// nodes that change, drain, go NotReady and disappear, a restart that finds its instances,
// placement by zone onto a node's instance, and the nodes followed through the fake API
// server's list and watch (real HTTP, the real client).
#include "reconcile/node_controller.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "model/kinds.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "runtime/kubernetes/client.h"
#include "unit/support/fake_kube_apiserver.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

using runtime::kubernetes::NodeInfo;

constexpr double kNow = 1'800'000'000;

Json NodeJson(const std::string& name, const std::string& zone, const std::string& cpu = "2",
              const std::string& memory = "4Gi") {
  Json labels = {{"kubernetes.io/arch", "amd64"}, {"kubernetes.io/os", "linux"},
                 {"node.kubernetes.io/instance-type", "m5.large"}, {"team", "blue"},
                 {"node-role.kubernetes.io/worker", ""}, {"kubernetes.io/hostname", name}};
  if (!zone.empty()) labels["topology.kubernetes.io/zone"] = zone;
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"labels", labels}}},
          {"spec", Json::object()},
          {"status", {{"allocatable", {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}}},
                      {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

NodeInfo Node(const Json& j) {
  auto n = runtime::kubernetes::NodeFromJson(j);
  EXPECT_TRUE(n.ok()) << n.status().message();
  return *n;
}

NodeInfo Node(const std::string& name, const std::string& zone, const std::string& cpu = "2",
              const std::string& memory = "4Gi") {
  return Node(NodeJson(name, zone, cpu, memory));
}

std::optional<std::string> Attribute(const Json& inst, const std::string& name) {
  for (const auto& a : inst.value("attributes", Json::array())) {
    if (JStr(a, "name") == name) return JOptStr(a, "value").value_or("");
  }
  return std::nullopt;
}

int64_t ResourceOf(const Json& inst, const char* list, const char* name) {
  for (const auto& r : inst.value(list, Json::array())) {
    if (JStr(r, "name") == name) return JInt(r, "integerValue");
  }
  return -1;
}

class NodeControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    api::ecs::EcsOptions o;
    o.host_instance = false;  // as the daemon runs with the kubernetes runtime
    ecs_ = std::make_unique<api::ecs::EcsApi>(*store_, regions_, o);
    svc_ = std::make_shared<api::Service>(model::EcsModel(), api::ErrorStyle{});
    ecs_->RegisterAll(*svc_);
  }

  Json Ecs(const std::string& op, const Json& in, const std::string& region = "us-east-1") {
    api::RequestContext ctx;
    ctx.region = region;
    ctx.account_id = "000000000000";
    ctx.now = kNow;
    ctx.operation = op;
    const api::OperationFn* fn = svc_->Find(op);
    if (!fn) ADD_FAILURE() << op << " is not registered";
    return (*fn)(ctx, in);
  }
  // The cluster's container instances as DescribeContainerInstances shows them, by node.
  std::map<std::string, Json> Instances(const std::string& cluster, const std::string& region = "us-east-1",
                                        const std::string& status = "") {
    Json in = {{"cluster", cluster}};
    if (!status.empty()) in["status"] = status;
    Json arns = Ecs("ListContainerInstances", in, region)["containerInstanceArns"];
    std::map<std::string, Json> out;
    if (arns.empty()) return out;
    Json described = Ecs("DescribeContainerInstances", {{"cluster", cluster}, {"containerInstances", arns}}, region);
    for (const auto& i : described["containerInstances"]) {
      std::string node = Attribute(i, kNodeAttribute).value_or("");
      EXPECT_FALSE(out.contains(node)) << "two instances of node " << node;
      out[node] = i;
    }
    return out;
  }
  void TaskDefinition(int cpu = 512, int memory = 1024) {
    Ecs("RegisterTaskDefinition",
        {{"family", "work"},
         {"containerDefinitions", {{{"name", "w"}, {"image", "busybox"}, {"cpu", cpu}, {"memory", memory}}}}});
  }
  Json RunTask(const std::string& cluster, Json extra = Json::object()) {
    Json in = {{"cluster", cluster}, {"taskDefinition", "work"}};
    for (auto it = extra.begin(); it != extra.end(); ++it) in[it.key()] = it.value();
    return Ecs("RunTask", in);
  }
  Json Task(const std::string& cluster, const std::string& arn) {
    return Ecs("DescribeTasks", {{"cluster", cluster}, {"tasks", {arn}}})["tasks"][0];
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<api::ecs::EcsApi> ecs_;
  std::shared_ptr<api::Service> svc_;
  FakeClock clock_{kNow};
};

TEST_F(NodeControllerTest, EveryNodeIsAnInstanceOfEveryActiveClusterInEveryRegion) {
  Ecs("CreateCluster", {{"clusterName", "east"}});
  Ecs("CreateCluster", {{"clusterName", "west"}}, "us-west-2");
  Ecs("CreateCluster", {{"clusterName", "gone"}});
  Ecs("DeleteCluster", {{"cluster", "gone"}});
  EXPECT_TRUE(Instances("east").empty());  // no host instance with the kubernetes runtime
  NodeController c(*store_, *ecs_, {}, clock_);
  c.SetNodes({Node("n1", "us-east-1a"), Node("kind-worker", "")});
  c.RunOnce();

  auto east = Instances("east");
  ASSERT_EQ(east.size(), 2u);
  const Json& n1 = east.at("n1");
  EXPECT_EQ(JStr(n1, "status"), "ACTIVE");
  EXPECT_TRUE(JBool(n1, "agentConnected"));
  EXPECT_EQ(Attribute(n1, "ecs.availability-zone"), "us-east-1a");
  EXPECT_EQ(Attribute(n1, "ecs.instance-type"), "m5.large");
  EXPECT_EQ(Attribute(n1, "ecs.cpu-architecture"), "x86_64");
  EXPECT_EQ(Attribute(n1, "ecs.os-type"), "linux");
  EXPECT_EQ(Attribute(n1, "team"), "blue");
  EXPECT_EQ(Attribute(n1, "kubernetes.io/hostname"), "n1");
  EXPECT_EQ(Attribute(n1, "node-role.kubernetes.io/worker"), "");  // an empty label: a name-only attribute
  EXPECT_FALSE(n1["attributes"].dump().find("kecs:") != std::string::npos);
  std::set<std::string> names;
  for (const auto& a : n1["attributes"]) EXPECT_TRUE(names.insert(JStr(a, "name")).second) << a.dump();
  EXPECT_TRUE(names.contains("ecs.capability.task-eni"));  // RegisterContainerInstance's own attributes
  EXPECT_EQ(ResourceOf(n1, "registeredResources", "CPU"), 2048);
  EXPECT_EQ(ResourceOf(n1, "registeredResources", "MEMORY"), 4096);
  EXPECT_EQ(ResourceOf(n1, "remainingResources", "MEMORY"), 4096);
  EXPECT_EQ(JStr(n1, "ec2InstanceId"), runtime::kubernetes::NodeEc2InstanceId(Node("n1", "us-east-1a")));
  EXPECT_FALSE(n1.contains("kecs:nodeAttributes"));
  // No zone label: the region's first zone, as the host's own instance.
  EXPECT_EQ(Attribute(east.at("kind-worker"), "ecs.availability-zone"), "us-east-1a");

  auto west = Instances("west", "us-west-2");
  ASSERT_EQ(west.size(), 2u);
  EXPECT_TRUE(JStr(west.at("n1"), "containerInstanceArn")
                  .starts_with("arn:aws:ecs:us-west-2:000000000000:container-instance/west/"));
  EXPECT_EQ(Attribute(west.at("kind-worker"), "ecs.availability-zone"), "us-west-2a");
  EXPECT_EQ(Ecs("DescribeClusters", {{"clusters", {"east"}}})["clusters"][0]["registeredContainerInstancesCount"], 2);

  // A pass with nothing to do changes nothing.
  int64_t version = JInt(n1, "version");
  c.RunOnce();
  EXPECT_EQ(JInt(Instances("east").at("n1"), "version"), version);
}

TEST_F(NodeControllerTest, TheHostInstanceStaysByDefault) {
  api::ecs::EcsApi lenient(*store_, regions_, api::ecs::EcsOptions{});
  api::Service svc(model::EcsModel(), api::ErrorStyle{});
  lenient.RegisterAll(svc);
  api::RequestContext ctx;
  ctx.region = "us-east-1";
  ctx.account_id = "000000000000";
  ctx.now = kNow;
  (*svc.Find("CreateCluster"))(ctx, {{"clusterName", "host"}});
  EXPECT_EQ(Ecs("ListContainerInstances", {{"cluster", "host"}})["containerInstanceArns"].size(), 1u);
}

TEST_F(NodeControllerTest, AllocatableChangesMoveRegisteredAndRemainingFollowsTheTasks) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  NodeController c(*store_, *ecs_, {}, clock_);
  c.SetNodes({Node("n1", "us-east-1a")});
  c.RunOnce();
  TaskDefinition(512, 1024);
  Json run = RunTask("c");
  ASSERT_EQ(run["tasks"].size(), 1u) << run.dump();
  c.SetNodes({Node("n1", "us-east-1a", "3500m", "8Gi")});
  c.RunOnce();
  Json n1 = Instances("c").at("n1");
  EXPECT_EQ(ResourceOf(n1, "registeredResources", "CPU"), 3584);
  EXPECT_EQ(ResourceOf(n1, "registeredResources", "MEMORY"), 8192);
  EXPECT_EQ(ResourceOf(n1, "remainingResources", "CPU"), 3584 - 512);
  EXPECT_EQ(ResourceOf(n1, "remainingResources", "MEMORY"), 8192 - 1024);
  // Shrunk below what runs there: nothing more fits.
  c.SetNodes({Node("n1", "us-east-1a", "500m", "8Gi")});
  c.RunOnce();
  Json full = RunTask("c");
  EXPECT_TRUE(full["tasks"].empty());
  EXPECT_EQ(JStr(full["failures"][0], "reason"), "RESOURCE:CPU");
}

TEST_F(NodeControllerTest, NotReadyDisconnectsCordonAndTaintsDrainAndAUsersDrainStays) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  NodeController c(*store_, *ecs_, {}, clock_);
  NodeInfo n1 = Node("n1", "us-east-1a"), n2 = Node("n2", "us-east-1b");
  c.SetNodes({n1, n2});
  c.RunOnce();
  n1.ready = false;
  c.SetNodes({n1, n2});
  c.RunOnce();
  EXPECT_FALSE(JBool(Instances("c").at("n1"), "agentConnected"));
  EXPECT_EQ(JStr(Instances("c").at("n1"), "status"), "ACTIVE");
  TaskDefinition();
  const Json in_1a = {{"placementConstraints",
                       {{{"type", "memberOf"}, {"expression", "attribute:ecs.availability-zone == us-east-1a"}}}}};
  EXPECT_TRUE(RunTask("c", in_1a)["tasks"].empty());  // a NotReady node's kubelet would never start it
  n1.ready = true;
  n1.unschedulable = true;
  n2.taints = {{"dedicated", "gpu", "NoSchedule"}};
  c.SetNodes({n1, n2});
  c.RunOnce();
  auto all = Instances("c");
  EXPECT_TRUE(JBool(all.at("n1"), "agentConnected"));
  EXPECT_EQ(JStr(all.at("n1"), "status"), "DRAINING");
  EXPECT_EQ(JStr(all.at("n2"), "status"), "DRAINING");
  // No new placements on a draining node: with none ACTIVE, RunTask's own error.
  try {
    RunTask("c");
    ADD_FAILURE() << "RunTask placed a task on a draining node";
  } catch (const api::AwsError& e) {
    EXPECT_EQ(std::string(e.message()), "No Container Instances were found in your cluster.");
  }
  // Uncordoned; n2's taint only prefers: both take tasks again.
  n1.unschedulable = false;
  n2.taints = {{"dedicated", "gpu", "PreferNoSchedule"}};
  c.SetNodes({n1, n2});
  c.RunOnce();
  all = Instances("c");
  EXPECT_EQ(JStr(all.at("n1"), "status"), "ACTIVE");
  EXPECT_EQ(JStr(all.at("n2"), "status"), "ACTIVE");
  EXPECT_EQ(RunTask("c")["tasks"].size(), 1u);
  // A drain the user asked for is theirs: the node's being schedulable does not undo it.
  Ecs("UpdateContainerInstancesState",
      {{"cluster", "c"}, {"containerInstances", {JStr(all.at("n2"), "containerInstanceArn")}}, {"status", "DRAINING"}});
  c.RunOnce();
  EXPECT_EQ(JStr(Instances("c").at("n2"), "status"), "DRAINING");
}

TEST_F(NodeControllerTest, ADeletedNodeIsDeregisteredAndItsTasksStopped) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  NodeController c(*store_, *ecs_, {}, clock_);
  c.SetNodes({Node("n1", "us-east-1a")});
  c.RunOnce();
  TaskDefinition();
  std::string task = JStr(RunTask("c")["tasks"][0], "taskArn");
  ASSERT_FALSE(task.empty());
  std::string arn = JStr(Instances("c").at("n1"), "containerInstanceArn");
  c.SetNodes({});
  c.RunOnce();
  EXPECT_TRUE(Instances("c").empty());
  auto inactive = Instances("c", "us-east-1", "INACTIVE");
  ASSERT_EQ(inactive.size(), 1u);
  EXPECT_EQ(JStr(inactive.at("n1"), "containerInstanceArn"), arn);
  EXPECT_FALSE(JBool(inactive.at("n1"), "agentConnected"));
  Json t = Task("c", task);
  EXPECT_EQ(JStr(t, "desiredStatus"), "STOPPED");
  EXPECT_EQ(JStr(t, "stopCode"), "TaskFailedToStart");
  EXPECT_EQ(JStr(t, "stoppedReason"), "Kubernetes node n1 was deleted.");
  // The node comes back: a new instance, the old one stays INACTIVE.
  c.SetNodes({Node("n1", "us-east-1a")});
  c.RunOnce();
  ASSERT_EQ(Instances("c").size(), 1u);
  EXPECT_NE(JStr(Instances("c").at("n1"), "containerInstanceArn"), arn);
}

TEST_F(NodeControllerTest, ARestartFindsItsInstancesAndNeverDuplicatesNorDeregistersBeforeItsFirstList) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  std::map<std::string, std::string> before;
  {
    NodeController first(*store_, *ecs_, {}, clock_);
    first.SetNodes({Node("n1", "us-east-1a"), Node("n2", "us-east-1b")});
    first.RunOnce();
    for (const auto& [node, inst] : Instances("c")) before[node] = JStr(inst, "containerInstanceArn");
  }
  ASSERT_EQ(before.size(), 2u);
  // The user's own attribute on a node's instance is kept through every pass.
  Ecs("PutAttributes", {{"cluster", "c"}, {"attributes", {{{"name", "mine"}, {"value", "x"}, {"targetId", before["n1"]}}}}});
  NodeController second(*store_, *ecs_, {}, clock_);
  second.RunOnce();  // no list yet: it knows no nodes, and must not take that for "none"
  EXPECT_FALSE(second.has_list());
  EXPECT_EQ(Instances("c").size(), 2u);
  second.SetNodes({Node("n1", "us-east-1a"), Node("n2", "us-east-1b")});
  second.RunOnce();
  second.RunOnce();
  std::map<std::string, std::string> after;
  for (const auto& [node, inst] : Instances("c")) after[node] = JStr(inst, "containerInstanceArn");
  EXPECT_EQ(after, before);
  EXPECT_TRUE(Instances("c", "us-east-1", "INACTIVE").empty());
  EXPECT_EQ(Attribute(Instances("c").at("n1"), "mine"), "x");
  // A label that goes takes its attribute with it; the user's stays.
  NodeInfo n1 = Node("n1", "us-east-1a");
  n1.labels.erase("team");
  second.SetNodes({n1, Node("n2", "us-east-1b")});
  second.RunOnce();
  EXPECT_EQ(Attribute(Instances("c").at("n1"), "team"), std::nullopt);
  EXPECT_EQ(Attribute(Instances("c").at("n1"), "mine"), "x");
}

TEST_F(NodeControllerTest, TheNodesDecideWhatAUserChangesAndAFullPassRepairsAttributes) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  NodeController c(*store_, *ecs_, {}, clock_);
  c.SetNodes({Node("n1", "us-east-1a")});
  c.RunOnce();
  std::string first = JStr(Instances("c").at("n1"), "containerInstanceArn");
  // Deregistered by a user while its node exists: back at the next pass, as a new instance.
  Ecs("DeregisterContainerInstance", {{"cluster", "c"}, {"containerInstance", first}});
  c.RunOnce();
  ASSERT_EQ(Instances("c").size(), 1u);
  std::string second = JStr(Instances("c").at("n1"), "containerInstanceArn");
  EXPECT_NE(second, first);
  c.RunOnce();  // finds the cluster in sync, and remembers its rows
  // DeleteAttributes moves no version: passes skip the unchanged cluster until the full
  // pass a minute later puts the node's attribute back.
  Ecs("DeleteAttributes", {{"cluster", "c"}, {"attributes", {{{"name", "team"}, {"targetId", second}}}}});
  c.RunOnce();
  EXPECT_EQ(Attribute(Instances("c").at("n1"), "team"), std::nullopt);
  clock_.Advance(61);
  c.RunOnce();
  EXPECT_EQ(Attribute(Instances("c").at("n1"), "team"), "blue");
}

TEST_F(NodeControllerTest, ANodeWithABadQuantityKeepsItsLastFactsAndANewOneIsLeftOut) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  NodeController c(*store_, *ecs_, {}, clock_);
  c.ApplyList({{"items", {NodeJson("n1", "us-east-1a"), NodeJson("n2", "us-east-1b")}}});
  c.RunOnce();
  ASSERT_EQ(Instances("c").size(), 2u);
  // A relist where n2 reports a malformed quantity and n3 (new) another.
  c.ApplyList({{"items", {NodeJson("n1", "us-east-1a"), NodeJson("n2", "us-east-1b", "two"),
                          NodeJson("n3", "us-east-1c", "2", "lots")}}});
  c.RunOnce();
  auto all = Instances("c");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(ResourceOf(all.at("n2"), "registeredResources", "CPU"), 2048);
  // The same through the watch: n1 MODIFIED with a bad quantity keeps its facts; n2
  // DELETED goes.
  c.ApplyEvent({"MODIFIED", NodeJson("n1", "us-east-1a", "1", "-4Gi")});
  c.ApplyEvent({"DELETED", NodeJson("n2", "us-east-1b")});
  c.RunOnce();
  all = Instances("c");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(ResourceOf(all.at("n1"), "registeredResources", "MEMORY"), 4096);
}

TEST_F(NodeControllerTest, AnInstanceItDidNotMakeIsLeftAloneWhateverItsAttributes) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  std::string mine = JStr(Ecs("RegisterContainerInstance",
                              {{"cluster", "c"}, {"attributes", {{{"name", kNodeAttribute}, {"value", "n9"}}}}})
                              ["containerInstance"],
                          "containerInstanceArn");
  NodeController c(*store_, *ecs_, {}, clock_);
  c.SetNodes({Node("n1", "us-east-1a")});
  c.RunOnce();
  Json arns = Ecs("ListContainerInstances", {{"cluster", "c"}})["containerInstanceArns"];
  EXPECT_EQ(arns.size(), 2u);
  Json inst = Ecs("DescribeContainerInstances", {{"cluster", "c"}, {"containerInstances", {mine}}})["containerInstances"][0];
  EXPECT_EQ(JStr(inst, "status"), "ACTIVE");
  EXPECT_EQ(Attribute(inst, kNodeAttribute), "n9");
}

TEST_F(NodeControllerTest, AClusterCreatedLaterGetsTheNodesAtOnceAndTakesThemWhenDeleted) {
  NodeController c(*store_, *ecs_, {}, clock_);
  ecs_->SetNodeController(&c);
  c.SetNodes({Node("n1", "us-east-1a"), Node("n2", "us-east-1b")});
  Ecs("CreateCluster", {{"clusterName", "late"}});
  EXPECT_EQ(Instances("late").size(), 2u);  // in CreateCluster's own transaction, before any pass
  TaskDefinition();
  EXPECT_EQ(RunTask("late")["tasks"].size(), 1u);
  ecs_->SetNodeController(nullptr);
}

TEST_F(NodeControllerTest, PlacementByZoneAttributePicksTheNodesInstance) {
  Ecs("CreateCluster", {{"clusterName", "c"}});
  NodeController c(*store_, *ecs_, {}, clock_);
  c.SetNodes({Node("n1", "us-east-1a"), Node("n2", "us-east-1b"), Node("n3", "us-east-1c")});
  c.RunOnce();
  TaskDefinition(256, 256);
  Json run = RunTask("c", {{"count", 4},
                           {"placementConstraints",
                            {{{"type", "memberOf"}, {"expression", "attribute:ecs.availability-zone == us-east-1b"}}}}});
  ASSERT_EQ(run["tasks"].size(), 4u) << run.dump();
  std::string n2 = JStr(Instances("c").at("n2"), "containerInstanceArn");
  for (const auto& t : run["tasks"]) EXPECT_EQ(JStr(t, "containerInstanceArn"), n2);
  // And by a node label, as a custom attribute.
  run = RunTask("c", {{"placementConstraints",
                       {{{"type", "memberOf"}, {"expression", "attribute:kubernetes.io/hostname == n3"}}}}});
  ASSERT_EQ(run["tasks"].size(), 1u) << run.dump();
  EXPECT_EQ(JStr(run["tasks"][0], "containerInstanceArn"), JStr(Instances("c").at("n3"), "containerInstanceArn"));
}

// ---- Through the fake API server's list and watch ---------------------------------------------

template <typename F>
bool WaitFor(F f, std::chrono::milliseconds d = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

runtime::kubernetes::Client::Options Fast() {
  runtime::kubernetes::Client::Options o;
  o.backoff = std::chrono::milliseconds(10);
  o.timeout = std::chrono::seconds(2);
  o.watch_timeout = std::chrono::seconds(30);
  return o;
}

TEST_F(NodeControllerTest, FollowsTheApiServerThroughItsListAndWatch) {
  kecs::testing::FakeKubeApiServer server;
  const std::string kNodes = "/api/v1/nodes";
  server.Put(kNodes, NodeJson("n1", "us-east-1a"));
  runtime::kubernetes::Credentials creds;
  creds.server = server.url();
  runtime::kubernetes::Client client(creds, Fast());
  Ecs("CreateCluster", {{"clusterName", "east"}});
  Ecs("CreateCluster", {{"clusterName", "west"}}, "us-west-2");
  auto nodes_of = [&](const std::string& cluster, const std::string& region) {
    std::set<std::string> out;
    for (const auto& [node, inst] : Instances(cluster, region)) out.insert(node);
    return out;
  };
  auto everywhere = [&](std::set<std::string> want) {
    return nodes_of("east", "us-east-1") == want && nodes_of("west", "us-west-2") == want;
  };
  std::map<std::string, std::string> arns;
  {
    NodeController c(*store_, *ecs_, {.resync = std::chrono::milliseconds(50)}, Clock::Real());
    c.Start(&client);
    ASSERT_TRUE(WaitFor([&] { return everywhere({"n1"}); }));
    // A node joins; another changes; one is cordoned.
    server.Put(kNodes, NodeJson("n2", "us-east-1b"));
    ASSERT_TRUE(WaitFor([&] { return everywhere({"n1", "n2"}); }));
    server.Put(kNodes, NodeJson("n1", "us-east-1a", "4", "16Gi"));
    ASSERT_TRUE(WaitFor([&] {
      auto west = Instances("west", "us-west-2");
      return west.contains("n1") && ResourceOf(west.at("n1"), "registeredResources", "MEMORY") == 16384;
    }));
    Json cordoned = NodeJson("n2", "us-east-1b");
    cordoned["spec"]["unschedulable"] = true;
    server.Put(kNodes, cordoned);
    ASSERT_TRUE(WaitFor([&] {
      auto east = Instances("east");
      return east.contains("n2") && JStr(east.at("n2"), "status") == "DRAINING";
    }));
    // Deleted by another client: deregistered everywhere.
    ASSERT_TRUE(client.Delete(kNodes + "/n2").ok());
    ASSERT_TRUE(WaitFor([&] { return everywhere({"n1"}); }));
    EXPECT_EQ(Instances("east", "us-east-1", "INACTIVE").size(), 1u);
    // The history is compacted while n3 joins: the relist brings it.
    server.Compact();
    server.Put(kNodes, NodeJson("n3", "us-east-1c"));
    ASSERT_TRUE(WaitFor([&] { return everywhere({"n1", "n3"}); }));
    for (const auto& [node, inst] : Instances("east")) arns[node] = JStr(inst, "containerInstanceArn");
    c.Stop();
  }
  // kecs restarts against the same API server: it adopts what it made.
  NodeController again(*store_, *ecs_, {.resync = std::chrono::milliseconds(50)}, Clock::Real());
  again.Start(&client);
  ASSERT_TRUE(WaitFor([&] { return again.has_list(); }));
  again.RunOnce();
  std::map<std::string, std::string> after;
  for (const auto& [node, inst] : Instances("east")) after[node] = JStr(inst, "containerInstanceArn");
  EXPECT_EQ(after, arns);
  EXPECT_EQ(Instances("east", "us-east-1", "INACTIVE").size(), 1u);
  again.Stop();
}

}  // namespace
}  // namespace kecs::reconcile
