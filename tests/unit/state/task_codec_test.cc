// The task converter (state/records/tasks.h): round trips, the AWS view against the ECS
// model's Task shape, strict decoding, and migration 4 on a row in the old layout.
#include "state/records/tasks.h"

#include <gtest/gtest.h>

#include "model/kinds.h"
#include "model/shapes.h"
#include "state/migrations.h"
#include "unit/support/model_shape.h"
#include "unit/support/temp_dir.h"

namespace kecs::state::records {
namespace {

using kecs::testing::TempDir;
using model::Task;

// Every member set, every optional present, so a member the converter forgets shows up.
Task FullTask() {
  Task t;
  t.region = "us-east-1";
  t.id = "0123456789abcdef0123456789abcdef";
  t.cluster = "default";
  t.family = "web";
  t.seq = 7;
  t.attachments.push_back({"att-1", "ElasticNetworkInterface", model::AttachmentStatus::kAttached,
                           {{"subnetId", "subnet-1"}, {"networkInterfaceId", "eni-1"}}});
  t.attributes = {{"ecs.cpu-architecture", "x86_64"}};
  t.availability_zone = "us-east-1a";
  t.capacity_provider_name = "FARGATE";
  t.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default";
  t.connectivity = model::Connectivity::kConnected;
  t.connectivity_at = 1700000001.5;
  t.container_instance_arn = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/ci";
  model::Container c;
  c.container_arn = "arn:aws:ecs:us-east-1:000000000000:container/default/x/y";
  c.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + t.id;
  c.name = "app";
  c.image = "nginx:latest";
  c.image_digest = "sha256:abc";
  c.runtime_id = "rt-1";
  c.last_status = model::ContainerStatus::kStopped;
  c.exit_code = 137;
  c.reason = "OOM";
  c.network_bindings = {{"10.0.0.5", 80, 32001, "tcp"}};
  c.network_interfaces = {{"att-1", "10.1.0.4", "2001:db8::4"}};
  c.health_status = model::HealthStatus::kHealthy;
  c.cpu = "256";
  c.memory = "512";
  c.memory_reservation = "128";
  c.managed_agents = {{"ExecuteCommandAgent", "RUNNING", "started", 1700000004.5}};
  t.containers.push_back(c);
  t.cpu = "256";
  t.created_at = 1700000000.25;
  t.desired_status = model::TaskStatus::kStopped;
  t.enable_execute_command = true;
  t.execution_stopped_at = 1700000009;
  t.group = "family:web";
  t.health_status = model::HealthStatus::kUnhealthy;
  t.last_status = model::TaskStatus::kDeprovisioning;
  t.launch_type = model::LaunchType::kFargate;
  t.memory = "512";
  t.overrides = {{"containerOverrides", Json::array({{{"name", "app"}}})},
                 {"inferenceAcceleratorOverrides", Json::array()}};
  t.platform_version = "1.4.0";
  t.platform_family = "Linux";
  t.pull_started_at = 1700000002;
  t.pull_stopped_at = 1700000003;
  t.started_at = 1700000004;
  t.started_by = "me";
  t.stop_code = model::StopCode::kEssentialContainerExited;
  t.stopped_at = 1700000010;
  t.stopped_reason = "Essential container in task exited";
  t.stopping_at = 1700000008;
  t.tags = {{"team", "a"}};
  t.task_arn = c.task_arn;
  t.task_definition_arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3";
  t.version = 5;
  t.ephemeral_storage_gib = 20;

  auto& in = t.internal;
  in.network_mode = model::NetworkMode::kAwsvpc;
  model::ContainerDefinition d;
  d.name = "app";
  d.image = "nginx:latest";
  d.entry_point = {"/bin/sh", "-c"};
  d.command = {"sleep 1"};
  d.environment = {{"A", "1"}};
  d.working_directory = "/srv";
  d.user = "1000";
  d.cpu = 256;
  d.memory = 512;
  d.memory_reservation = 128;
  d.essential = false;
  d.readonly_root_filesystem = true;
  d.ulimits = {{"nofile", 1024, 2048}};
  d.stop_timeout = 5;
  d.hostname = "app";
  d.dns_servers = {"10.0.0.2"};
  d.dns_search_domains = {"example.internal"};
  d.extra_hosts = {{"db", "10.0.0.9"}};
  d.port_mappings = {{80, 0, "tcp"}, {53, 0, "udp"}};
  d.health_check = model::HealthCheck{{"CMD-SHELL", "test -f /ok"}, 10, 3, 4, 15};
  d.depends_on = {{"init", model::DependencyCondition::kSuccess}, {"db", model::DependencyCondition::kHealthy}};
  d.start_timeout = 40;
  d.mount_points = {{"data", "/data", true}, {"efs", "/mnt/efs", false}};
  d.volumes_from = {{"init", true}};
  d.linux_parameters.capabilities_add = {"NET_ADMIN"};
  d.linux_parameters.capabilities_drop = {"ALL"};
  d.linux_parameters.init_process_enabled = true;
  d.linux_parameters.tmpfs = {{"/scratch", 64, {"noexec", "nosuid"}}};
  d.linux_parameters.shared_memory_size_mib = 128;
  d.linux_parameters.devices = {{"/dev/fuse", "/dev/fuse", {"read", "write"}}};
  d.privileged = true;
  d.system_controls = {{"net.core.somaxconn", "1024"}};
  d.docker_labels = {{"z.last", "1"}, {"a.first", "2"}};
  d.secrets = {{"DB_PASSWORD", "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf:password::"},
               {"API_URL", "/app/api-url"}};
  d.log_configuration = model::LogConfiguration{
      "awslogs", {{"awslogs-group", "/ecs/web"}, {"awslogs-region", "us-east-1"}}, {{"token", "/app/log-token"}}};
  d.repository_credentials = "arn:aws:secretsmanager:us-east-1:000000000000:secret:pull-AbCdEf";
  d.metadata_id = "0f0e0d0c0b0a09080706050403020100";
  in.containers.push_back(d);
  in.network.subnets = {"subnet-1", "subnet-2"};
  in.network.security_groups = {"sg-1"};
  in.network.assign_public_ip = true;
  in.network.vpc_id = "vpc-1";
  in.network.availability_zone = "us-east-1a";
  model::TaskEni eni;
  eni.id = "eni-1";
  eni.mac = "02:00:00:00:00:01";
  eni.ip = "10.1.0.4";
  eni.prefix_len = 24;
  eni.gateway = "10.1.0.1";
  eni.subnet_id = "subnet-1";
  eni.subnet_cidr = "10.1.0.0/24";
  eni.vpc_id = "vpc-1";
  eni.vpc_cidr = "10.1.0.0/16";
  eni.dns_server = "10.1.0.2";
  eni.internet_egress = true;
  eni.hostname = "ip-10-1-0-4";
  eni.private_dns_name = "ip-10-1-0-4.ec2.internal";
  eni.vpc_cidrs = {"10.1.0.0/16"};
  eni.transit_slot = 3;
  eni.dhcp_nameservers = {"10.1.0.53", "10.1.0.2"};  // a DHCP options set (issue 17)
  eni.dhcp_search = {"corp.example"};
  eni.public_ip = "192.0.2.1";
  eni.ipv6 = "2001:db8::4";
  eni.ipv6_prefix = "2001:db8::/64";
  in.network.eni = eni;
  in.network.bridge_ip = "172.17.0.9";
  in.network.published = {{"app", "tcp", 80, 32001, "10.0.0.5"}};
  in.service = "svc";
  in.deployment = "ecs-svc/1";
  in.counted = true;
  in.placement = model::TaskPlacement{"ci", 256, 512, {{"tcp", 32001}}, true};
  in.registries = {"srv-1"};
  model::Volume host{"data", model::Volume::Kind::kHost, "/srv/data", {}, {}};
  model::Volume scratch{"scratch", model::Volume::Kind::kHost, "", {}, {}};
  model::Volume docker{"shared", model::Volume::Kind::kDocker, "",
                       {"shared", true, "local", {{"type", "tmpfs"}}, {{"team", "a"}}}, {}};
  model::Volume efs{"efs", model::Volume::Kind::kEfs, "", {}, {"fs-1", "/", "fsap-1", "ENABLED", "ENABLED"}};
  in.volumes = {host, scratch, docker, efs};
  in.pid_mode = "task";
  in.ipc_mode = "none";
  in.task_role_arn = "arn:aws:iam::000000000000:role/app";
  in.execution_role_arn = "arn:aws:iam::000000000000:role/exec";
  in.credentials_id = "00112233445566778899aabbccddeeff";
  in.agent = true;
  model::ContainerProgress p;
  p.name = "app";
  p.created_at = 1700000003.5;
  p.started_at = 1700000004;
  p.finished_at = 1700000009;
  p.health_since = 1700000005;
  p.health_exit_code = 1;
  p.health_output = "no /ok";
  in.progress = {p, model::ContainerProgress{"init", 1700000003, std::nullopt, std::nullopt, std::nullopt, std::nullopt, ""}};
  in.targets = {{"arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef", "10.0.1.5",
                 8080, 1700000004.25}};
  in.protected_until = 1700007200.5;
  return t;
}

TEST(TaskCodec, EncodeThenDecodeGivesTheSameRecord) {
  Task t = FullTask();
  Object row = EncodeTask(t);
  EXPECT_EQ(row.kind, model::kTask);
  EXPECT_EQ(row.status, "DEPROVISIONING");
  EXPECT_EQ(row.parent, "default");
  EXPECT_EQ(row.name, "web");
  auto back = DecodeTask(row);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == t);
}

TEST(TaskCodec, DefaultRecordRoundTrips) {
  Task t;
  t.region = "r";
  t.id = "abc";
  auto back = DecodeTask(EncodeTask(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == t);
}

TEST(TaskCodec, RoundTripsThroughTheStore) {
  TempDir d;
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok());
  Task t = FullTask();
  ASSERT_TRUE((*store)->Write([&](Tx& tx) { return InsertTask(tx, t); }).ok());
  std::optional<Task> got;
  ASSERT_TRUE((*store)->Read([&](Tx& tx) {
    ASSIGN_OR_RETURN(got, GetTask(tx, t.region, t.id));
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(got.has_value());
  t.seq = got->seq;  // the store assigns it
  EXPECT_TRUE(*got == t);
  EXPECT_EQ((*store)->Write([&](Tx& tx) { return InsertTask(tx, t); }).code(), Code::kAlreadyExists);
  std::vector<Task> listed;
  ASSERT_TRUE((*store)->Read([&](Tx& tx) {
    Query q{"ignored", t.region, t.cluster};
    ASSIGN_OR_RETURN(listed, ListTasks(tx, q));
    return Status::Ok();
  }).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0] == t);
  // Queries can filter on the internal part (ListTasks' serviceName, containerInstance).
  auto count = [&](std::string member, std::string value) {
    size_t n = 99;
    EXPECT_TRUE((*store)->Read([&](Tx& tx) {
      Query q{model::kTask, t.region, t.cluster};
      q.internal_equals = {{member, value}};
      ASSIGN_OR_RETURN(auto rows, ListTasks(tx, q));
      n = rows.size();
      return Status::Ok();
    }).ok());
    return n;
  };
  EXPECT_EQ(count("service", "svc"), 1u);
  EXPECT_EQ(count("service", "other"), 0u);
  EXPECT_EQ(count("placement.instance", "ci"), 1u);
}

// Issue 12's members are kept in AWS's shapes inside the internal column, so that RunTask
// reads a task definition's container with the same reader.
TEST(TaskCodec, ContainerSettingsAreStoredInAwsShapes) {
  Object row = EncodeTask(FullTask());
  const Json& c = row.internal.at("containers").at(0);
  EXPECT_EQ(c.at("healthCheck"), Json({{"command", {"CMD-SHELL", "test -f /ok"}}, {"interval", 10}, {"timeout", 3},
                                       {"retries", 4}, {"startPeriod", 15}}));
  EXPECT_EQ(c.at("dependsOn").at(1), Json({{"containerName", "db"}, {"condition", "HEALTHY"}}));
  EXPECT_EQ(c.at("linuxParameters").at("capabilities").at("add"), Json::array({"NET_ADMIN"}));
  EXPECT_EQ(c.at("dockerLabels").begin().key(), "z.last");  // the labels keep their order
  EXPECT_EQ(c.at("systemControls").at(0).at("namespace"), "net.core.somaxconn");
  EXPECT_EQ(row.internal.at("volumes").at(3).at("efsVolumeConfiguration").at("authorizationConfig").at("accessPointId"),
            "fsap-1");
  EXPECT_EQ(row.internal.at("volumes").at(1), Json({{"name", "scratch"}, {"host", Json::object()}}));
  // The credentials and metadata ids never reach the AWS document.
  std::string doc = row.doc.dump();
  EXPECT_EQ(doc.find(FullTask().internal.credentials_id), std::string::npos);
  EXPECT_EQ(doc.find(FullTask().internal.containers[0].metadata_id), std::string::npos);
}

// Issue 18: a task's scale-in protection is kecs's own record (DescribeTasks does not show
// it); a row without it (written before issue 18, or never protected) decodes unprotected.
TEST(TaskCodec, ProtectionIsInternalAndOptional) {
  Object row = EncodeTask(FullTask());
  EXPECT_EQ(row.internal["protectedUntil"], 1700007200.5);
  EXPECT_EQ(row.doc.dump().find("rotect"), std::string::npos);
  row.internal.erase("protectedUntil");
  auto back = DecodeTask(row);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_FALSE(back->internal.protected_until);
  row.internal["protectedUntil"] = "soon";
  EXPECT_FALSE(DecodeTask(row).ok());
}

// A row written before issue 12 has none of its members: it decodes with the defaults.
TEST(TaskCodec, RowsWithoutIssue12MembersDecodeWithDefaults) {
  Object row = EncodeTask(FullTask());
  for (const char* k : {"volumes", "pidMode", "ipcMode", "taskRoleArn", "executionRoleArn", "credentialsId", "progress"}) {
    row.internal.erase(k);
  }
  Json& c = row.internal["containers"][0];
  for (const char* k : {"healthCheck", "dependsOn", "startTimeout", "mountPoints", "volumesFrom", "linuxParameters",
                        "privileged", "systemControls", "dockerLabels", "secrets", "logConfiguration",
                        "repositoryCredentials", "metadataId"}) {
    c.erase(k);
  }
  auto back = DecodeTask(row);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  Task want = FullTask();
  model::ContainerDefinition& d = want.internal.containers[0];
  model::ContainerDefinition plain;
  plain.name = d.name;
  plain.image = d.image;
  plain.entry_point = d.entry_point;
  plain.command = d.command;
  plain.environment = d.environment;
  plain.working_directory = d.working_directory;
  plain.user = d.user;
  plain.cpu = d.cpu;
  plain.memory = d.memory;
  plain.memory_reservation = d.memory_reservation;
  plain.essential = d.essential;
  plain.readonly_root_filesystem = d.readonly_root_filesystem;
  plain.ulimits = d.ulimits;
  plain.stop_timeout = d.stop_timeout;
  plain.hostname = d.hostname;
  plain.dns_servers = d.dns_servers;
  plain.dns_search_domains = d.dns_search_domains;
  plain.extra_hosts = d.extra_hosts;
  plain.port_mappings = d.port_mappings;
  d = plain;
  want.internal.volumes.clear();
  want.internal.pid_mode.clear();
  want.internal.ipc_mode.clear();
  want.internal.task_role_arn.clear();
  want.internal.execution_role_arn.clear();
  want.internal.credentials_id.clear();
  want.internal.progress.clear();
  EXPECT_TRUE(*back == want);
}

TEST(TaskCodec, Issue12MemberOfWrongTypeIsAnErrorNamingItsPath) {
  Object row = EncodeTask(FullTask());
  row.internal["containers"][0]["healthCheck"]["interval"] = "often";
  auto t = DecodeTask(row);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("internal.containers[0].healthCheck.interval"), std::string::npos)
      << t.status().message();
  row = EncodeTask(FullTask());
  row.internal["containers"][0]["dependsOn"][0]["condition"] = "EVENTUALLY";
  EXPECT_FALSE(DecodeTask(row).ok());
  row = EncodeTask(FullTask());
  row.internal["containers"][0]["dockerLabels"] = Json::array();
  t = DecodeTask(row);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("dockerLabels is not a map"), std::string::npos) << t.status().message();
}

// RunTask reads a task definition's container (AWS's ContainerDefinition as registered)
// with the store's reader; AWS's defaults fill what the definition leaves out.
TEST(TaskCodec, ReadContainerSettingsTakesAwsContainerDefinitions) {
  Json def = {{"name", "app"},
              {"healthCheck", {{"command", {"CMD", "true"}}}},
              {"dependsOn", Json::array({{{"containerName", "db"}, {"condition", "START"}}})},
              {"mountPoints", Json::array({{{"sourceVolume", "v"}, {"containerPath", "/v"}}})},
              {"linuxParameters", {{"initProcessEnabled", true}, {"maxSwap", 0}}},
              {"dockerLabels", {{"k", "v"}}},
              {"logConfiguration", {{"logDriver", "awslogs"}}}};
  model::ContainerDefinition d;
  ASSERT_TRUE(ReadContainerSettings("task definition web:1", def, d).ok());
  ASSERT_TRUE(d.health_check.has_value());
  EXPECT_EQ(d.health_check->command, (std::vector<std::string>{"CMD", "true"}));
  EXPECT_EQ(d.health_check->interval_s, 30);
  EXPECT_EQ(d.health_check->timeout_s, 5);
  EXPECT_EQ(d.health_check->retries, 3);
  EXPECT_EQ(d.health_check->start_period_s, 0);
  ASSERT_EQ(d.depends_on.size(), 1u);
  EXPECT_EQ(d.depends_on[0].condition, model::DependencyCondition::kStart);
  EXPECT_FALSE(d.mount_points[0].read_only);
  EXPECT_TRUE(d.linux_parameters.init_process_enabled);
  EXPECT_EQ(d.docker_labels, (std::vector<model::KeyValuePair>{{"k", "v"}}));
  def["privileged"] = "yes";
  Status st = ReadContainerSettings("task definition web:1", def, d);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("task definition web:1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("privileged"), std::string::npos) << st.message();
}

TEST(TaskCodec, ReadVolumesTellsTheKindsApart) {
  Json td = {{"volumes", Json::array({{{"name", "none"}},
                                      {{"name", "host"}, {"host", {{"sourcePath", "/srv"}}}},
                                      {{"name", "docker"}, {"dockerVolumeConfiguration", {{"scope", "shared"}}}},
                                      {{"name", "efs"}, {"efsVolumeConfiguration", {{"fileSystemId", "fs-9"}}}}})}};
  auto v = ReadVolumes("task definition web:1", td);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 4u);
  EXPECT_EQ((*v)[0].kind, model::Volume::Kind::kHost);
  EXPECT_EQ((*v)[0].host_source_path, "");
  EXPECT_EQ((*v)[1].host_source_path, "/srv");
  EXPECT_EQ((*v)[2].kind, model::Volume::Kind::kDocker);
  EXPECT_EQ((*v)[2].docker.scope, "shared");
  EXPECT_EQ((*v)[2].docker.driver, "local");
  EXPECT_FALSE((*v)[2].docker.autoprovision);
  EXPECT_EQ((*v)[3].kind, model::Volume::Kind::kEfs);
  EXPECT_EQ((*v)[3].efs.file_system_id, "fs-9");
  EXPECT_EQ((*v)[3].efs.root_directory, "/");
  EXPECT_TRUE(ReadVolumes("x", Json::object())->empty());
}

// The stored document is AWS's shape only: kecs's part is in the internal column.
TEST(TaskCodec, StoredDocumentCarriesNoInternalMembers) {
  Object row = EncodeTask(FullTask());
  EXPECT_EQ(row.doc.dump().find("kecs"), std::string::npos);
  EXPECT_EQ(row.internal.at("networkMode"), "awsvpc");
  EXPECT_EQ(row.internal.at("service"), "svc");
  EXPECT_EQ(row.doc, TaskToAws(FullTask(), true));
}

TEST(TaskCodec, AwsViewMatchesTheEcsTaskShape) {
  const model::ServiceModel& m = model::EcsModel();
  int idx = m.FindShape("Task");
  ASSERT_GE(idx, 0);
  Json view = TaskToAws(FullTask(), true);
  kecs::testing::ExpectMatchesShape(m, idx, view, "Task");
  // Every member kecs sets on a fully populated task is shown.
  for (const char* k : {"attachments", "attributes", "availabilityZone", "capacityProviderName", "clusterArn",
                        "connectivity", "connectivityAt", "containerInstanceArn", "containers", "cpu",
                        "createdAt", "desiredStatus", "enableExecuteCommand", "executionStoppedAt", "group",
                        "healthStatus", "lastStatus", "launchType", "memory", "overrides", "platformVersion",
                        "platformFamily", "pullStartedAt", "pullStoppedAt", "startedAt", "startedBy",
                        "stopCode", "stoppedAt", "stoppedReason", "stoppingAt", "tags", "taskArn",
                        "taskDefinitionArn", "version", "ephemeralStorage"}) {
    EXPECT_TRUE(view.contains(k)) << k;
  }
  EXPECT_EQ(view["containers"][0]["exitCode"], 137);
  EXPECT_EQ(view["containers"][0]["networkBindings"][0]["bindIP"], "10.0.0.5");
}

TEST(TaskCodec, AwsViewLeavesOutTagsUnlessAsked) {
  EXPECT_FALSE(TaskToAws(FullTask(), false).contains("tags"));
  EXPECT_TRUE(TaskToAws(FullTask(), true).contains("tags"));
}

TEST(TaskCodec, EnumsSpellAsAws) {
  for (int i = 0; i <= static_cast<int>(model::TaskStatus::kStopped); ++i) {
    auto s = static_cast<model::TaskStatus>(i);
    EXPECT_EQ(model::ParseTaskStatus(model::ToString(s)), s);
  }
  EXPECT_EQ(model::ToString(model::TaskStatus::kDeprovisioning), "DEPROVISIONING");
  EXPECT_EQ(model::ToString(model::StopCode::kServiceSchedulerInitiated), "ServiceSchedulerInitiated");
  EXPECT_EQ(model::ToString(model::NetworkMode::kAwsvpc), "awsvpc");
  EXPECT_EQ(model::ParseAttachmentStatus("DETACHING"), model::AttachmentStatus::kDetaching);
  EXPECT_EQ(model::ParseLaunchType("EXTERNAL"), model::LaunchType::kExternal);
  EXPECT_FALSE(model::ParseTaskStatus("running").has_value());
  EXPECT_FALSE(model::ParseNetworkMode("nat").has_value());
}

TEST(TaskCodec, WrongMemberTypeIsAnErrorNamingTheTask) {
  Object row = EncodeTask(FullTask());
  row.doc["containers"][0]["exitCode"] = "one";
  auto t = DecodeTask(row);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(row.id), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("containers[0].exitCode"), std::string::npos) << t.status().message();
}

TEST(TaskCodec, UnknownStatusIsAnErrorNamingTheTask) {
  Object row = EncodeTask(FullTask());
  row.doc["desiredStatus"] = "SLEEPING";
  auto t = DecodeTask(row);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(row.id), std::string::npos);
  EXPECT_NE(t.status().message().find("desiredStatus"), std::string::npos);
  row = EncodeTask(FullTask());
  row.status = "NAPPING";
  EXPECT_FALSE(DecodeTask(row).ok());
}

TEST(TaskCodec, InternalMemberOfWrongTypeIsAnErrorNamingTheTask) {
  Object row = EncodeTask(FullTask());
  row.internal["network"]["eni"]["transitSlot"] = "three";
  auto t = DecodeTask(row);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(row.id), std::string::npos);
  EXPECT_NE(t.status().message().find("internal.network.eni.transitSlot"), std::string::npos)
      << t.status().message();
}

// (SQLite's task indexes of migration 6 refuse text that is not JSON at all, so the
// closest a stored task gets is JSON of the wrong shape.)
TEST(TaskCodec, StoredDocumentOfTheWrongShapeIsAnErrorNamingTheTask) {
  TempDir d;
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok());
  std::string id = "feedfacefeedfacefeedfacefeedface";
  ASSERT_TRUE((*store)->Write([&](Tx& tx) {
    return tx.conn().Exec("INSERT INTO objects(kind, region, id, parent, name, status, doc) VALUES("
                          "'ecs:task', 'us-east-1', '" + id + "', 'default', 'web', 'RUNNING', '[1, 2]')");
  }).ok());
  Status st = (*store)->Read([&](Tx& tx) { return GetTask(tx, "us-east-1", id).status(); });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(id), std::string::npos) << st.message();
}

// DescribeTasks' batch read (issue 19): one statement, documents only. Each view is what
// TaskToAws makes of the decoded task; ids keep their order and repeats; a task of another
// cluster or none at all is nullopt; the internal part is not read, so a damaged one does
// not fail the view, while a damaged document still does.
TEST(TaskCodec, TaskViewsReadABatchInOrder) {
  TempDir d;
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok());
  Task a = FullTask(), b = FullTask(), other = FullTask();
  a.id = "aaaa";
  b.id = "bbbb";
  other.id = "cccc";
  other.cluster = "elsewhere";
  ASSERT_TRUE((*store)->Write([&](Tx& tx) {
    for (const Task* t : {&a, &b, &other}) RETURN_IF_ERROR(InsertTask(tx, *t));
    return tx.conn().Exec("UPDATE objects SET internal='[1]' WHERE id='bbbb'");
  }).ok());
  std::vector<std::optional<Json>> views;
  ASSERT_TRUE((*store)->Read([&](Tx& tx) {
    ASSIGN_OR_RETURN(views, TaskViews(tx, a.region, a.cluster, {"bbbb", "nope", "aaaa", "cccc", "bbbb"}, false));
    return Status::Ok();
  }).ok());
  ASSERT_EQ(views.size(), 5u);
  ASSERT_TRUE(views[0] && views[2] && views[4]);
  EXPECT_FALSE(views[1]);
  EXPECT_FALSE(views[3]);
  EXPECT_EQ(*views[2], TaskToAws(a, false));
  EXPECT_EQ(*views[0], TaskToAws(b, false));
  EXPECT_EQ(*views[4], *views[0]);
  EXPECT_FALSE(views[0]->contains("tags"));
  ASSERT_TRUE((*store)->Read([&](Tx& tx) {
    ASSIGN_OR_RETURN(views, TaskViews(tx, a.region, a.cluster, {"aaaa"}, true));
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(views[0]);
  EXPECT_EQ(*views[0], TaskToAws(a, true));
  ASSERT_TRUE((*store)->Write([&](Tx& tx) {
    return tx.conn().Exec("UPDATE objects SET doc='[1, 2]' WHERE id='aaaa'");
  }).ok());
  Status st = (*store)->Read([&](Tx& tx) { return TaskViews(tx, a.region, a.cluster, {"aaaa"}, false).status(); });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("aaaa"), std::string::npos) << st.message();
}

// A data dir written before migration 4 keeps working: the "kecs:" members of its task
// documents move to the internal column, and the task decodes.
TEST(TaskCodec, Migration4MovesOldInternalMembersOutOfTheDocument) {
  TempDir d;
  std::string id = "00112233445566778899aabbccddeeff";
  {
    std::vector<Migration> three(AllMigrations().begin(), AllMigrations().begin() + 3);
    auto db = Db::Open(d.path() + "/kecs.db", three);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    Json old = {
        {"taskArn", "arn:aws:ecs:us-east-1:000000000000:task/default/" + id},
        {"lastStatus", "RUNNING"},
        {"desiredStatus", "RUNNING"},
        {"version", 3},
        {"containers", Json::array({{{"name", "app"}, {"lastStatus", "RUNNING"}, {"cpu", "0"},
                                     {"networkInterfaces", Json::array()}, {"healthStatus", "UNKNOWN"}}})},
        {"kecs:networkMode", "bridge"},
        // Old rows keep the full container definition, with members the record ignores.
        {"kecs:containers", Json::array({{{"name", "app"}, {"image", "nginx"}, {"essential", true},
                                          {"logConfiguration", {{"logDriver", "awslogs"}}},
                                          {"portMappings", Json::array({{{"containerPort", 80},
                                                                         {"hostPort", 32768},
                                                                         {"protocol", "tcp"}}})}}})},
        {"kecs:network", {{"mode", "bridge"}, {"subnets", Json::array()}, {"bridgeIp", "172.17.0.3"}}},
        {"kecs:service", "svc"},
        {"kecs:deployment", "ecs-svc/9"},
        {"kecs:counted", true},
        {"kecs:placement", {{"instance", "ci-1"}, {"cpu", 0}, {"memory", 128},
                            {"ports", Json::array({{{"protocol", "tcp"}, {"port", 32768}}})}, {"eni", false}}},
        {"kecs:registries", Json::array({"srv-1"})}};
    Status st = (*db)->Write([&](Conn& c) {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO objects(kind, region, id, parent, name, status, doc) "
                                         "VALUES('ecs:task', 'us-east-1', ?, 'default', 'web', 'RUNNING', ?)"));
      s.Bind(1, id).Bind(2, old.dump());
      RETURN_IF_ERROR(s.Run());
      // Another kind's document is left alone.
      return c.Exec("INSERT INTO objects(kind, region, id, doc) VALUES('ecs:cluster', 'us-east-1', 'c', "
                    "'{\"kecs:x\":1}')");
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::optional<Object> row, cluster;
  std::optional<Task> task;
  ASSERT_TRUE((*store)->Read([&](Tx& tx) {
    ASSIGN_OR_RETURN(row, tx.Get(model::kTask, "us-east-1", id));
    ASSIGN_OR_RETURN(cluster, tx.Get(model::kCluster, "us-east-1", "c"));
    ASSIGN_OR_RETURN(task, GetTask(tx, "us-east-1", id));
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(row && task && cluster);
  EXPECT_EQ(row->doc.dump().find("kecs:"), std::string::npos) << row->doc.dump();
  EXPECT_EQ(row->internal.at("service"), "svc");
  EXPECT_EQ(cluster->doc.at("kecs:x"), 1);
  EXPECT_EQ(cluster->internal, Json::object());
  EXPECT_EQ(task->last_status, model::TaskStatus::kRunning);
  EXPECT_EQ(task->version, 3);
  EXPECT_EQ(task->internal.network_mode, model::NetworkMode::kBridge);
  ASSERT_EQ(task->internal.containers.size(), 1u);
  EXPECT_EQ(task->internal.containers[0].image, "nginx");
  ASSERT_EQ(task->internal.containers[0].port_mappings.size(), 1u);
  EXPECT_EQ(task->internal.containers[0].port_mappings[0].host_port, 32768);
  EXPECT_EQ(task->internal.network.bridge_ip, "172.17.0.3");
  EXPECT_EQ(task->internal.deployment, "ecs-svc/9");
  EXPECT_TRUE(task->internal.counted);
  ASSERT_TRUE(task->internal.placement.has_value());
  EXPECT_EQ(task->internal.placement->instance, "ci-1");
  EXPECT_EQ(task->internal.placement->ports[0].port, 32768);
  EXPECT_EQ(task->internal.registries, std::vector<std::string>{"srv-1"});
}

}  // namespace
}  // namespace kecs::state::records
