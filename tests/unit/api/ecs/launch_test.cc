#include "api/ecs/launch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/ecs/placement.h"
#include "api/errors.h"
#include "model/kinds.h"
#include "state/records/tasks.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ecs {
namespace {

using kecs::testing::TempDir;

constexpr const char* kRegion = "us-east-1";

// Every port free except those listed.
PortProbe::FreeFn FreeExcept(std::set<HostPort> busy, int* probes = nullptr) {
  return [busy, probes](const std::string& proto, int64_t port) {
    if (probes) ++*probes;
    return !busy.count({proto, port});
  };
}

Json Container(const std::string& name, Json port_mappings = Json::array()) {
  return {{"name", name}, {"image", "nginx"}, {"cpu", 0}, {"memory", 128},
          {"portMappings", std::move(port_mappings)}};
}

Json DynamicPort(int64_t container_port, const std::string& proto = "tcp") {
  return {{"containerPort", container_port}, {"hostPort", 0}, {"protocol", proto}};
}

// A store with cluster "default", task definitions and container instances put in directly.
class LaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ctx_.region = kRegion;
    ctx_.account_id = "000000000000";
    ctx_.now = 1700000000;
    Put({model::kCluster, kRegion, "default", "", "default", "ACTIVE", 0,
         {{"clusterArn", "arn:aws:ecs:us-east-1:000000000000:cluster/default"},
          {"clusterName", "default"}, {"status", "ACTIVE"}}});
    options_.ephemeral_port_first = 50000;
    options_.ephemeral_port_last = 50009;
  }

  void Put(const state::Object& o) {
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return tx.Put(o); }).ok());
  }

  void TaskDefinition(const std::string& family, const std::string& mode, Json containers,
                      Json compatibilities = Json::array({"EC2"})) {
    Json td = {{"taskDefinitionArn", "arn:aws:ecs:us-east-1:000000000000:task-definition/" + family + ":1"},
               {"family", family}, {"revision", 1}, {"status", "ACTIVE"},
               {"containerDefinitions", std::move(containers)},
               {"compatibilities", std::move(compatibilities)}};
    if (!mode.empty()) td["networkMode"] = mode;
    Put({model::kTaskDef, kRegion, family + ":1", family, family, "ACTIVE", 0, td});
  }

  void Instance(const std::string& id, bool agent_connected) {
    Put({model::kInstance, kRegion, id, "default", id, "ACTIVE", 0,
         {{"containerInstanceArn", "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + id},
          {"ec2InstanceId", "i-" + id},
          {"status", "ACTIVE"},
          {"agentConnected", agent_connected},
          {"registeredResources",
           Json::array({{{"name", "CPU"}, {"type", "INTEGER"}, {"integerValue", 2048}},
                        {{"name", "MEMORY"}, {"type", "INTEGER"}, {"integerValue", 4096}}})},
          {"attributes", Json::array()}}});
  }

  LaunchSpec Spec(const std::string& td, int count = 1) {
    LaunchSpec s;
    s.cluster = "default";
    s.task_definition = td;
    s.count = count;
    return s;
  }

  // Runs `fn` in a write transaction, rethrowing what it throws.
  template <typename Fn>
  void InTx(Fn fn) {
    Status st = store_->Write([&](state::Tx& tx) {
      fn(tx);
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  LaunchOutcome LaunchWith(const LaunchSpec& spec, const PortProbe& probe) {
    LaunchOutcome out;
    InTx([&](state::Tx& tx) { out = Launch(tx, ctx_, options_, spec, &probe); });
    return out;
  }

  TempDir dir_;
  std::unique_ptr<state::Store> store_;
  RequestContext ctx_;
  EcsOptions options_;
};

std::set<int64_t> HostPortsOf(const LaunchOutcome& out) {
  std::set<int64_t> ports;
  for (const auto& t : out.tasks) {
    for (const auto& c : t["containers"]) {
      for (const auto& b : c.value("networkBindings", Json::array())) ports.insert(JInt(b, "hostPort"));
    }
  }
  return ports;
}

// ---- PortProbe and AllocateDynamicPorts ----------------------------------------------------

TEST(PortProbe, GatherStopsOnceItHasFoundWhatWasAskedFor) {
  int probes = 0;
  PortProbe p = PortProbe::Gather({{"tcp", 2}}, 100, 199, {{"tcp", 101}},
                                  FreeExcept({{"tcp", 102}}, &probes));
  // 100 free, 101 in the books (probed, not counted), 102 busy, 103 free: done.
  EXPECT_EQ(probes, 4);
  EXPECT_EQ(p.Ask("tcp", 100), PortProbe::Answer::kFree);
  EXPECT_EQ(p.Ask("tcp", 102), PortProbe::Answer::kBusy);
  EXPECT_EQ(p.Ask("tcp", 103), PortProbe::Answer::kFree);
  EXPECT_EQ(p.Ask("tcp", 104), PortProbe::Answer::kUnknown);
  EXPECT_EQ(p.Ask("udp", 100), PortProbe::Answer::kUnknown);
}

TEST(PortProbe, GatherThatRunsOutCoversTheWholeRange) {
  PortProbe p = PortProbe::Gather({{"udp", 5}}, 100, 102, {}, FreeExcept({{"udp", 101}}));
  EXPECT_EQ(p.Ask("udp", 101), PortProbe::Answer::kBusy);
  EXPECT_EQ(p.Ask("udp", 102), PortProbe::Answer::kFree);
}

TEST(AllocateDynamicPorts, SkipsPortsInTheBooksAndPortsAnotherProgramHolds) {
  Json containers = Json::array({Container("a", Json::array({DynamicPort(80), DynamicPort(81)})),
                                 Container("b", Json::array({DynamicPort(53, "udp")}))});
  std::set<HostPort> taken = {{"tcp", 100}};
  PortProbe live = PortProbe::Live(FreeExcept({{"tcp", 101}, {"udp", 100}}));
  ASSERT_EQ(AllocateDynamicPorts(containers, taken, 100, 110, live), PortAllocation::kAllocated);
  EXPECT_EQ(containers[0]["portMappings"][0]["hostPort"], 102);
  EXPECT_EQ(containers[0]["portMappings"][1]["hostPort"], 103);
  EXPECT_EQ(containers[1]["portMappings"][0]["hostPort"], 101);
  EXPECT_EQ(taken, (std::set<HostPort>{{"tcp", 100}, {"tcp", 102}, {"tcp", 103}, {"udp", 101}}));
}

TEST(AllocateDynamicPorts, ExhaustedLeavesTheBooksAndContainersAlone) {
  Json containers = Json::array({Container("a", Json::array({DynamicPort(80), DynamicPort(81)}))});
  Json before = containers;
  std::set<HostPort> taken = {{"tcp", 101}};
  PortProbe live = PortProbe::Live(FreeExcept({}));
  EXPECT_EQ(AllocateDynamicPorts(containers, taken, 100, 101, live), PortAllocation::kExhausted);
  EXPECT_EQ(taken, (std::set<HostPort>{{"tcp", 101}}));
  EXPECT_EQ(containers, before);
}

TEST(AllocateDynamicPorts, AskesForAWiderProbeRatherThanGuess) {
  Json containers = Json::array({Container("a", Json::array({DynamicPort(80)}))});
  std::set<HostPort> taken = {{"tcp", 100}};  // taken after the probe was gathered
  PortProbe p = PortProbe::Gather({{"tcp", 1}}, 100, 110, {}, FreeExcept({}));
  EXPECT_EQ(AllocateDynamicPorts(containers, taken, 100, 110, p), PortAllocation::kUnprobed);
  EXPECT_EQ(taken.size(), 1u);
}

TEST(AllocateDynamicPorts, StaticHostPortsAreKept) {
  Json containers = Json::array({Container("a", Json::array({{{"containerPort", 80}, {"hostPort", 8080}}}))});
  std::set<HostPort> taken;
  EXPECT_EQ(AllocateDynamicPorts(containers, taken, 100, 110, PortProbe::Gather({}, 100, 110, {}, FreeExcept({}))),
            PortAllocation::kAllocated);
  EXPECT_EQ(containers[0]["portMappings"][0]["hostPort"], 8080);
  EXPECT_TRUE(taken.empty());
}

// ---- The stages against a store -------------------------------------------------------------

TEST_F(LaunchTest, ResolveKeepsEcsValidationMessages) {
  TaskDefinition("web", "bridge", Json::array({Container("web")}));
  InTx([&](state::Tx& tx) {
    LaunchSpec s = Spec("web");
    s.overrides = {{"containerOverrides", Json::array({{{"name", "nope"}}})}};
    try {
      ResolveLaunch(tx, ctx_, s);
      ADD_FAILURE() << "no error";
    } catch (const AwsError& e) {
      EXPECT_EQ(e.code(), "InvalidParameterException");
      EXPECT_EQ(e.message(), "Override for container named nope is not a container in the TaskDefinition.");
    }
    try {
      ResolveLaunch(tx, ctx_, Spec("missing"));
      ADD_FAILURE() << "no error";
    } catch (const AwsError& e) {
      EXPECT_EQ(e.code(), "ClientException");
      EXPECT_EQ(e.message(), "TaskDefinition not found.");
    }
    try {
      ResolveLaunch(tx, ctx_, Spec("web", 11));
      ADD_FAILURE() << "no error";
    } catch (const AwsError& e) {
      EXPECT_EQ(e.message(), "count must be between 1 and 10.");
    }
  });
}

TEST_F(LaunchTest, ResolveSumsContainerSizesAndAppliesOverrides) {
  Json a = Container("a"), b = Container("b");
  a["cpu"] = 128;
  b["cpu"] = 256;
  TaskDefinition("web", "bridge", Json::array({a, b}));
  InTx([&](state::Tx& tx) {
    LaunchSpec s = Spec("web");
    s.overrides = {{"containerOverrides", Json::array({{{"name", "b"}, {"memory", 512}}})}};
    ResolvedLaunch r = ResolveLaunch(tx, ctx_, s);
    EXPECT_EQ(r.launch_type, "EC2");
    EXPECT_EQ(r.mode, "bridge");
    EXPECT_EQ(r.cpu, 384);
    EXPECT_EQ(r.memory, 128 + 512);
    EXPECT_EQ(r.group, "family:web");
  });
}

// Defect 6: memberOf saw every instance as connected. Placement itself only considers
// connected instances ("Only instances connected to an agent can accept task placement
// requests", DescribeContainerInstances' agentConnected), so a constraint that asks for
// disconnected ones finds none.
TEST_F(LaunchTest, MemberOfSeesEachInstancesStoredAgentConnected) {
  TaskDefinition("web", "bridge", Json::array({Container("web")}));
  Instance("up", true);
  Instance("down", false);
  for (const std::string want : {"true", "false"}) {
    InTx([&](state::Tx& tx) {
      LaunchSpec s = Spec("web", 2);
      s.placement_constraints =
          Json::array({{{"type", "memberOf"}, {"expression", "agentConnected == " + want}}});
      PlacedTasks p = PlaceTasks(tx, ctx_, s, ResolveLaunch(tx, ctx_, s));
      if (want == "false") {
        EXPECT_TRUE(p.instances.empty());
        EXPECT_FALSE(p.failures.empty());
        return;
      }
      ASSERT_EQ(p.instances.size(), 2u);
      for (const auto& inst : p.instances) {
        ASSERT_TRUE(inst);
        EXPECT_EQ(inst->id, want == "true" ? "up" : "down");
      }
    });
  }
}

TEST_F(LaunchTest, PlaceGivesFargateTasksNoInstance) {
  TaskDefinition("fg", "awsvpc", Json::array({Container("web")}), Json::array({"EC2", "FARGATE"}));
  InTx([&](state::Tx& tx) {
    LaunchSpec s = Spec("fg", 3);
    s.launch_type = "FARGATE";
    s.network_configuration = {{"awsvpcConfiguration", {{"subnets", Json::array()}}}};
    ResolvedLaunch r;
    r.launch_type = "FARGATE";
    PlacedTasks p = PlaceTasks(tx, ctx_, s, r);
    EXPECT_EQ(p.instances.size(), 3u);
    for (const auto& inst : p.instances) EXPECT_FALSE(inst);
  });
}

TEST_F(LaunchTest, BuildRecordsPlacementAndBindings) {
  TaskDefinition("web", "bridge", Json::array({Container("web", Json::array({DynamicPort(80)}))}));
  Instance("i1", true);
  PortProbe probe = PortProbe::Gather({{"tcp", 1}}, 50000, 50009, {}, FreeExcept({{"tcp", 50000}}));
  LaunchOutcome out = LaunchWith(Spec("web"), probe);
  ASSERT_EQ(out.tasks.size(), 1u);
  const Json& t = out.tasks[0];
  EXPECT_EQ(t["lastStatus"], "PENDING");
  EXPECT_EQ(t["launchType"], "EC2");
  EXPECT_EQ(t["containerInstanceArn"], "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i1");
  EXPECT_EQ(HostPortsOf(out), (std::set<int64_t>{50001}));
  // The port is in the books: the next launch cannot take it.
  std::set<HostPort> books;
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    books = HostPortsInUse(tx);
    return Status::Ok();
  }).ok());
  EXPECT_TRUE(books.count({"tcp", 50001}));
}

// The task goes to the store as a typed record: kecs's own part in the row's internal
// column, the AWS document free of "kecs:" members.
TEST_F(LaunchTest, BuildStoresATypedRecordWithItsOwnPartApart) {
  TaskDefinition("web", "bridge", Json::array({Container("web", Json::array({DynamicPort(80)}))}));
  Instance("i1", true);
  LaunchSpec spec = Spec("web");
  spec.started_by = "me";
  LaunchOutcome out = LaunchWith(spec, PortProbe::Gather({{"tcp", 1}}, 50000, 50009, {}, FreeExcept({})));
  ASSERT_EQ(out.tasks.size(), 1u);
  std::string id = IdFromArnOrId(JStr(out.tasks[0], "taskArn"));
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto row = Check(tx.Get(model::kTask, kRegion, id));
    EXPECT_TRUE(row);
    for (auto it = row->doc.begin(); it != row->doc.end(); ++it) EXPECT_FALSE(it.key().starts_with("kecs:")) << it.key();
    auto t = Check(state::records::GetTask(tx, kRegion, id));
    EXPECT_TRUE(t);
    EXPECT_EQ(t->last_status, model::TaskStatus::kPending);
    EXPECT_EQ(t->started_by, "me");
    EXPECT_EQ(t->internal.network_mode, model::NetworkMode::kBridge);
    EXPECT_TRUE(t->internal.placement);
    EXPECT_EQ(t->internal.placement->instance, "i1");
    EXPECT_EQ(t->internal.placement->ports, (std::vector<model::PlacedPort>{{"tcp", 50000}}));
    EXPECT_EQ(t->internal.containers.size(), 1u);
    EXPECT_EQ(t->internal.containers[0].port_mappings[0].host_port, 50000);
    EXPECT_EQ(state::records::TaskToAws(*t, true), out.tasks[0]);
    return Status::Ok();
  }).ok());
}

// Issue 12: the task record carries the definition's health checks, dependencies, volumes,
// Linux settings and namespace modes; the roles with the request's overrides applied; and
// random ids for the metadata and credentials endpoints, new for every task.
TEST_F(LaunchTest, BuildCarriesContainerSettingsRolesAndRandomEndpointIds) {
  Json app = Container("app");
  app["healthCheck"] = {{"command", Json::array({"CMD-SHELL", "true"})}, {"interval", 10}};
  app["dependsOn"] = Json::array({{{"containerName", "init"}, {"condition", "SUCCESS"}}});
  app["startTimeout"] = 30;
  app["mountPoints"] = Json::array({{{"sourceVolume", "data"}, {"containerPath", "/data"}, {"readOnly", true}}});
  app["linuxParameters"] = {{"initProcessEnabled", true}, {"capabilities", {{"drop", Json::array({"NET_RAW"})}}}};
  app["privileged"] = true;
  app["systemControls"] = Json::array({{{"namespace", "net.core.somaxconn"}, {"value", "512"}}});
  app["dockerLabels"] = {{"team", "a"}};
  Json init = Container("init");
  init["essential"] = false;
  init["volumesFrom"] = Json::array({{{"sourceContainer", "app"}}});
  Json td = {{"taskDefinitionArn", "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"},
             {"family", "web"}, {"revision", 1}, {"status", "ACTIVE"}, {"networkMode", "host"},
             {"containerDefinitions", Json::array({app, init})}, {"compatibilities", Json::array({"EC2"})},
             {"volumes", Json::array({{{"name", "data"}, {"host", {{"sourcePath", "/srv/data"}}}}})},
             {"pidMode", "task"}, {"ipcMode", "none"},
             {"taskRoleArn", "arn:aws:iam::000000000000:role/from-td"}, {"executionRoleArn", "exec-role"}};
  Put({model::kTaskDef, kRegion, "web:1", "web", "web", "ACTIVE", 0, td});
  Instance("i1", true);
  LaunchSpec spec = Spec("web", 2);
  spec.overrides = {{"taskRoleArn", "arn:aws:iam::000000000000:role/override"}};
  LaunchOutcome out = LaunchWith(spec, PortProbe::Gather({}, 50000, 50009, {}, FreeExcept({})));
  ASSERT_EQ(out.tasks.size(), 2u);
  std::vector<model::Task> tasks;
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    for (const auto& t : out.tasks) {
      tasks.push_back(*Check(state::records::GetTask(tx, kRegion, IdFromArnOrId(JStr(t, "taskArn")))));
    }
    return Status::Ok();
  }).ok());
  const model::TaskInternal& in = tasks[0].internal;
  ASSERT_EQ(in.containers.size(), 2u);
  const model::ContainerDefinition& c = in.containers[0];
  ASSERT_TRUE(c.health_check);
  EXPECT_EQ(c.health_check->interval_s, 10);
  EXPECT_EQ(c.health_check->retries, 3);
  EXPECT_EQ(c.depends_on, (std::vector<model::ContainerDependency>{{"init", model::DependencyCondition::kSuccess}}));
  EXPECT_EQ(c.start_timeout, 30);
  EXPECT_EQ(c.mount_points, (std::vector<model::MountPoint>{{"data", "/data", true}}));
  EXPECT_TRUE(c.linux_parameters.init_process_enabled);
  EXPECT_EQ(c.linux_parameters.capabilities_drop, std::vector<std::string>{"NET_RAW"});
  EXPECT_TRUE(c.privileged);
  EXPECT_EQ(c.system_controls, (std::vector<model::KeyValuePair>{{"net.core.somaxconn", "512"}}));
  EXPECT_EQ(c.docker_labels, (std::vector<model::KeyValuePair>{{"team", "a"}}));
  EXPECT_EQ(in.containers[1].volumes_from, (std::vector<model::VolumeFrom>{{"app", false}}));
  ASSERT_EQ(in.volumes.size(), 1u);
  EXPECT_EQ(in.volumes[0].host_source_path, "/srv/data");
  EXPECT_EQ(in.pid_mode, "task");
  EXPECT_EQ(in.ipc_mode, "none");
  EXPECT_EQ(in.task_role_arn, "arn:aws:iam::000000000000:role/override");
  // A role's short name is the caller's account's role.
  EXPECT_EQ(in.execution_role_arn, "arn:aws:iam::000000000000:role/exec-role");
  // 128-bit ids, one per container and one per task, never repeated.
  std::set<std::string> ids;
  for (const auto& t : tasks) {
    EXPECT_EQ(t.internal.credentials_id.size(), 32u);
    ids.insert(t.internal.credentials_id);
    for (const auto& d : t.internal.containers) {
      EXPECT_EQ(d.metadata_id.size(), 32u);
      EXPECT_EQ(d.metadata_id.find_first_not_of("0123456789abcdef"), std::string::npos);
      ids.insert(d.metadata_id);
    }
  }
  EXPECT_EQ(ids.size(), 6u);
}

TEST_F(LaunchTest, ResolveRefusesARoleOverrideThatNamesNoRole) {
  TaskDefinition("web", "host", Json::array({Container("web")}));
  for (Json bad : {Json("arn:aws:s3:::bucket"), Json("has space"), Json(7)}) {
    LaunchSpec spec = Spec("web");
    spec.overrides = {{"taskRoleArn", bad}};
    InTx([&](state::Tx& tx) {
      try {
        ResolveLaunch(tx, ctx_, spec);
        ADD_FAILURE() << "accepted " << bad.dump();
      } catch (const AwsError& e) {
        EXPECT_EQ(e.code(), "InvalidParameterException");
        EXPECT_EQ(e.message(), "overrides.taskRoleArn should be the ARN or the name of an IAM role.");
      }
    });
  }
}

// Two RunTasks that gathered their probes at the same moment: the transaction's books
// keep them apart, and the second asks for a wider probe instead of reusing a port.
TEST_F(LaunchTest, LaunchesSharingAProbeNeverShareAPort) {
  TaskDefinition("web", "bridge", Json::array({Container("web", Json::array({DynamicPort(80)}))}));
  Instance("i1", true);
  PortProbe probe = PortProbe::Gather({{"tcp", 2}}, 50000, 50009, {}, FreeExcept({}));
  LaunchOutcome first = LaunchWith(Spec("web", 2), probe);
  EXPECT_EQ(HostPortsOf(first), (std::set<int64_t>{50000, 50001}));
  EXPECT_THROW(LaunchWith(Spec("web"), probe), NeedPortProbe);
  LaunchOutcome again;
  WriteWithPortProbe(*store_, ctx_, options_, Spec("web"), [&](state::Tx& tx, const PortProbe& p) {
    again = Launch(tx, ctx_, options_, Spec("web"), &p);
  });
  ASSERT_EQ(again.tasks.size(), 1u);
  EXPECT_FALSE(first.tasks.empty());
  for (int64_t port : HostPortsOf(again)) EXPECT_FALSE(HostPortsOf(first).count(port));
}

// Nothing probes host sockets inside the transaction: a launch given no probe asks for one.
TEST_F(LaunchTest, WithoutAProbeADynamicPortLaunchAsksForOne) {
  TaskDefinition("web", "bridge", Json::array({Container("web", Json::array({DynamicPort(80)}))}));
  Instance("i1", true);
  InTx([&](state::Tx& tx) { EXPECT_THROW(Launch(tx, ctx_, options_, Spec("web"), nullptr), NeedPortProbe); });
}

TEST_F(LaunchTest, NoFreePortFailsTheTaskWithResourcePorts) {
  TaskDefinition("web", "bridge", Json::array({Container("web", Json::array({DynamicPort(80)}))}));
  Instance("i1", true);
  options_.ephemeral_port_last = 50001;
  PortProbe probe = PortProbe::Gather({{"tcp", 3}}, 50000, 50001, {}, FreeExcept({{"tcp", 50000}}));
  LaunchOutcome out = LaunchWith(Spec("web", 2), probe);
  ASSERT_EQ(out.tasks.size(), 1u);
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0]["reason"], "RESOURCE:PORTS");
}

TEST_F(LaunchTest, DemandCountsDynamicPortsOfBridgeTasksOnly) {
  TaskDefinition("web", "bridge",
                 Json::array({Container("a", Json::array({DynamicPort(80), DynamicPort(53, "udp"),
                                                          {{"containerPort", 81}, {"hostPort", 8081}}}))}));
  TaskDefinition("h", "host", Json::array({Container("a", Json::array({{{"containerPort", 80}}}))}));
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    EXPECT_EQ(DynamicPortDemand(tx, ctx_, Spec("web", 3)), (std::map<std::string, int>{{"tcp", 3}, {"udp", 3}}));
    EXPECT_TRUE(DynamicPortDemand(tx, ctx_, Spec("h", 3)).empty());
    EXPECT_TRUE(DynamicPortDemand(tx, ctx_, Spec("missing")).empty());
    return Status::Ok();
  }).ok());
}

// ---- clientToken ------------------------------------------------------------------------

TEST(ClientToken, ValidatesAsTheModelConstrainsIt) {
  EXPECT_NO_THROW(ValidateClientToken(std::string(64, '~')));
  EXPECT_THROW(ValidateClientToken(std::string(65, 'a')), AwsError);
  EXPECT_THROW(ValidateClientToken("has space"), AwsError);
  EXPECT_THROW(ValidateClientToken(""), AwsError);
}

TEST_F(LaunchTest, ClientTokenReplaysTheSameTasksAndRefusesOtherParameters) {
  TaskDefinition("web", "bridge", Json::array({Container("web")}));
  Instance("i1", true);
  Json request = {{"taskDefinition", "web"}, {"count", 2}};
  LaunchOutcome first;
  InTx([&](state::Tx& tx) {
    EXPECT_FALSE(ReplayClientToken(tx, ctx_, "default", "tok", request));
    first = Launch(tx, ctx_, options_, Spec("web", 2));
    RecordClientToken(tx, ctx_, "default", "tok", request, first);
  });
  ASSERT_EQ(first.tasks.size(), 2u);
  InTx([&](state::Tx& tx) {
    auto again = ReplayClientToken(tx, ctx_, "default", "tok", request);
    ASSERT_TRUE(again);
    ASSERT_EQ(again->tasks.size(), 2u);
    EXPECT_EQ(again->tasks[0]["taskArn"], first.tasks[0]["taskArn"]);
    EXPECT_EQ(again->tasks[1]["taskArn"], first.tasks[1]["taskArn"]);
    // Another cluster's token of the same name is another token.
    EXPECT_FALSE(ReplayClientToken(tx, ctx_, "other", "tok", request));
    try {
      ReplayClientToken(tx, ctx_, "default", "tok", {{"taskDefinition", "web"}, {"count", 3}});
      ADD_FAILURE() << "no error";
    } catch (const AwsError& e) {
      EXPECT_EQ(e.code(), "ConflictException");
    }
  });
  // After its lifetime the token is free again.
  ctx_.now += 24 * 3600 + 1;
  InTx([&](state::Tx& tx) { EXPECT_FALSE(ReplayClientToken(tx, ctx_, "default", "tok", request)); });
}

TEST_F(LaunchTest, ClientTokenSurvivesReopeningTheStore) {
  TaskDefinition("web", "bridge", Json::array({Container("web")}));
  Instance("i1", true);
  Json request = {{"taskDefinition", "web"}};
  LaunchOutcome first;
  InTx([&](state::Tx& tx) {
    first = Launch(tx, ctx_, options_, Spec("web"));
    RecordClientToken(tx, ctx_, "default", "tok", request, first);
  });
  store_.reset();
  auto s = state::Store::Open(dir_.path());
  ASSERT_TRUE(s.ok());
  store_ = std::move(*s);
  InTx([&](state::Tx& tx) {
    auto again = ReplayClientToken(tx, ctx_, "default", "tok", request);
    ASSERT_TRUE(again);
    ASSERT_EQ(again->tasks.size(), 1u);
    EXPECT_EQ(again->tasks[0]["taskArn"], first.tasks[0]["taskArn"]);
  });
}

// UsageByInstance and HostPortsInUse read the task rows' columns with json_extract rather
// than decoding them: the same sums as the documents give, STOPPED tasks left out.
TEST_F(LaunchTest, UsageAndHostPortsReadTheLiveTasksPlacements) {
  auto task = [&](const std::string& id, const std::string& status, const std::string& cluster, Json placement,
                  const std::string& group) {
    Json internal = Json::object();
    if (!placement.is_null()) internal["placement"] = std::move(placement);
    Put({model::kTask, kRegion, id, cluster, "fam", status, 0,
         {{"taskArn", id}, {"group", group}, {"lastStatus", status}}, internal});
  };
  Json port = Json::array({{{"protocol", "tcp"}, {"port", 8080}}});
  task("t1", "RUNNING", "default", {{"instance", "i1"}, {"cpu", 256}, {"memory", 512}, {"ports", port}}, "family:a");
  task("t2", "PENDING", "default", {{"instance", "i1"}, {"cpu", 128}, {"memory", 64}, {"eni", true}}, "family:b");
  task("t3", "STOPPED", "default", {{"instance", "i1"}, {"cpu", 1024}, {"memory", 1024},
                                    {"ports", Json::array({{{"protocol", "udp"}, {"port", 53}}})}}, "family:a");
  task("t4", "RUNNING", "other", {{"instance", "i2"}, {"cpu", 1}, {"memory", 2},
                                  {"ports", Json::array({{{"protocol", "tcp"}, {"port", 9090}}})}}, "family:c");
  task("t5", "RUNNING", "default", Json(), "family:a");  // no placement (FARGATE)
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    auto usage = UsageByInstance(tx, kRegion, "default");
    EXPECT_EQ(usage.size(), 1u);
    const InstanceUsage& u = usage["i1"];
    EXPECT_EQ(u.cpu, 384);
    EXPECT_EQ(u.memory, 576);
    EXPECT_EQ(u.enis, 1);
    EXPECT_EQ(u.running, 1);
    EXPECT_EQ(u.pending, 1);
    EXPECT_EQ(u.ports, (std::set<std::pair<std::string, int64_t>>{{"tcp", 8080}}));
    EXPECT_EQ(u.groups.at("family:a"), 1);
    EXPECT_EQ(u.groups.at("family:b"), 1);
    EXPECT_TRUE(UsageByInstance(tx, kRegion, "default", /*groups=*/false)["i1"].groups.empty());
    EXPECT_EQ(HostPortsInUse(tx), (std::set<std::pair<std::string, int64_t>>{{"tcp", 8080}, {"tcp", 9090}}));
    return Status::Ok();
  }).ok());
}

// The placement memo (placement.cc) keeps the facts read from committed rows only: a
// placement written in a transaction that rolled back is never taken for the task's.
TEST_F(LaunchTest, UsageNeverCountsAPlacementThatRolledBack) {
  auto task = [&](const std::string& status, Json placement) {
    Json internal = Json::object();
    if (!placement.is_null()) internal["placement"] = std::move(placement);
    return state::Object{model::kTask, kRegion, "w1", "default", "fam", status, 0,
                         {{"taskArn", "w1"}, {"group", "family:fam"}, {"lastStatus", status}}, internal};
  };
  auto usage = [&] {
    std::map<std::string, InstanceUsage> u;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      u = UsageByInstance(tx, kRegion, "default");
      HostPortsInUse(tx);
      return Status::Ok();
    }).ok());
    return u;
  };
  Put(task("PROVISIONING", Json()));  // waiting for capacity
  EXPECT_TRUE(usage().empty());
  // Placed on i1, seen by the transaction, rolled back.
  Status st = store_->Write([&](state::Tx& tx) {
    Check(tx.Put(task("PENDING", {{"instance", "i1"}, {"cpu", 256}, {"memory", 512}})));
    EXPECT_EQ(UsageByInstance(tx, kRegion, "default")["i1"].cpu, 256);
    return Internal("rolled back");
  });
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(usage().empty());
  EXPECT_TRUE(usage().empty());
  // Placed on i2 for good: every read from then on (from the memo) says so.
  Put(task("PENDING", {{"instance", "i2"}, {"cpu", 128}, {"memory", 64}}));
  for (int i = 0; i < 2; ++i) {
    auto u = usage();
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u["i2"].cpu, 128);
    EXPECT_EQ(u["i2"].pending, 1);
  }
  // Running and then stopped: the live status is read each time.
  Put(task("RUNNING", {{"instance", "i2"}, {"cpu", 128}, {"memory", 64}}));
  EXPECT_EQ(usage()["i2"].running, 1);
  Put(task("STOPPED", {{"instance", "i2"}, {"cpu", 128}, {"memory", 64}}));
  EXPECT_TRUE(usage().empty());
}

// Concurrent launches on one instance, with reads filling the memo between them, place
// no more tasks than the instance holds: each launch reads the live tasks inside the
// write transaction, the memo only saving it the decoding.
TEST_F(LaunchTest, ConcurrentLaunchesNeverOverCommitAnInstance) {
  Json c = Container("app");
  c["memory"] = 1024;
  TaskDefinition("big", "bridge", Json::array({c}));
  Instance("i1", true);  // 4096 MiB: four tasks
  PortProbe probe = PortProbe::Gather({}, 50000, 50009, {}, FreeExcept({}));
  std::atomic<int> placed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < 8; ++n) {
    threads.emplace_back([&] {
      EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
        UsageByInstance(tx, kRegion, "default");
        return Status::Ok();
      }).ok());
      LaunchOutcome out;
      Status st = store_->Write([&](state::Tx& tx) {
        out = Launch(tx, ctx_, options_, Spec("big"), &probe);
        return Status::Ok();
      });
      EXPECT_TRUE(st.ok()) << st.ToString();
      placed += static_cast<int>(out.tasks.size());
      for (const auto& f : out.failures) {
        EXPECT_EQ(f["reason"], "RESOURCE:MEMORY");
        ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(placed.load(), 4);
  EXPECT_EQ(failed.load(), 4);
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    EXPECT_EQ(UsageByInstance(tx, kRegion, "default")["i1"].memory, 4096);
    return Status::Ok();
  }).ok());
}

TEST(PlacementReadsGroups, OnlyForSpreadOrAMemberOfThatNamesAGroup) {
  PlacementRequest req;
  EXPECT_FALSE(PlacementReadsGroups(req));
  req.strategy = Json::array({{{"type", "binpack"}, {"field", "cpu"}}});
  req.constraints = Json::array({{{"type", "distinctInstance"}},
                                 {{"type", "memberOf"}, {"expression", "attribute:ecs.os-type == linux"}}});
  EXPECT_FALSE(PlacementReadsGroups(req));
  req.constraints.push_back({{"type", "memberOf"}, {"expression", "task:group == service:web"}});
  EXPECT_TRUE(PlacementReadsGroups(req));
  req.constraints = Json::array();
  req.strategy.push_back({{"type", "spread"}, {"field", "instanceId"}});
  EXPECT_TRUE(PlacementReadsGroups(req));
}

}  // namespace
}  // namespace kecs::api::ecs
