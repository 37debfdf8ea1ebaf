// SpecFromTask: the typed task record as the runtime's TaskSpec, issue 12's members and the
// environment the ECS agent gives every container.
#include "reconcile/task_spec.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace kecs::reconcile {
namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

model::Task TaskWithOneContainer() {
  model::Task t;
  t.id = "0123456789abcdef0123456789abcdef";
  t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + t.id;
  t.cluster = "default";
  t.family = "web";
  model::ContainerDefinition d;
  d.name = "app";
  d.image = "busybox";
  d.environment = {{"MODE", "prod"}};
  d.metadata_id = "aaaabbbbccccddddeeeeffff00001111";
  t.internal.containers.push_back(d);
  return t;
}

TEST(SpecFromTask, CarriesIssue12SettingsToTheRuntime) {
  model::Task t = TaskWithOneContainer();
  model::ContainerDefinition& d = t.internal.containers[0];
  d.health_check = model::HealthCheck{{"CMD", "true"}, 5, 2, 1, 0};
  d.depends_on = {{"init", model::DependencyCondition::kComplete}};
  d.mount_points = {{"data", "/data", true}};
  d.volumes_from = {{"init", false}};
  d.linux_parameters.capabilities_add = {"NET_ADMIN"};
  d.linux_parameters.init_process_enabled = true;
  d.linux_parameters.tmpfs = {{"/run", 8, {"noexec"}}};
  d.privileged = true;
  d.system_controls = {{"net.ipv4.ip_forward", "1"}};
  d.docker_labels = {{"team", "a"}};
  model::Volume v;
  v.name = "data";
  v.host_source_path = "/srv/data";
  t.internal.volumes = {v};
  t.internal.pid_mode = "task";
  t.internal.ipc_mode = "host";

  runtime::TaskSpec s = SpecFromTask(t);
  ASSERT_EQ(s.containers.size(), 1u);
  const runtime::ContainerSpec& c = s.containers[0];
  EXPECT_EQ(c.health_check, d.health_check);
  EXPECT_EQ(c.depends_on, d.depends_on);
  EXPECT_EQ(c.mount_points, d.mount_points);
  EXPECT_EQ(c.volumes_from, d.volumes_from);
  EXPECT_EQ(c.linux_parameters, d.linux_parameters);
  EXPECT_TRUE(c.privileged);
  EXPECT_EQ(c.system_controls, Env({{"net.ipv4.ip_forward", "1"}}));
  EXPECT_EQ(c.docker_labels, Env({{"team", "a"}}));
  EXPECT_EQ(s.volumes, t.internal.volumes);
  EXPECT_EQ(s.pid_mode, "task");
  EXPECT_EQ(s.ipc_mode, "host");
}

TEST(SpecFromTask, EachContainerGetsItsMetadataUrisFirst) {
  model::Task t = TaskWithOneContainer();
  runtime::TaskSpec s = SpecFromTask(t);
  EXPECT_EQ(s.containers[0].environment,
            Env({{"ECS_CONTAINER_METADATA_URI", "http://169.254.170.2/v3/aaaabbbbccccddddeeeeffff00001111"},
                 {"ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/aaaabbbbccccddddeeeeffff00001111"},
                 {"ECS_AGENT_URI", "http://169.254.170.2/api/aaaabbbbccccddddeeeeffff00001111"},
                 {"MODE", "prod"}}));
}

TEST(SpecFromTask, ATaskRoleAddsTheCredentialsUri) {
  model::Task t = TaskWithOneContainer();
  t.internal.credentials_id = "ffffeeeeddddccccbbbbaaaa99998888";
  // Without a task role there are no credentials to serve.
  for (const auto& [name, value] : SpecFromTask(t).containers[0].environment) {
    EXPECT_NE(name, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  }
  t.internal.task_role_arn = "arn:aws:iam::000000000000:role/app";
  const Env env = SpecFromTask(t).containers[0].environment;
  ASSERT_EQ(env.size(), 5u);
  EXPECT_EQ(env[3], (std::pair<std::string, std::string>{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                                         "/v2/credentials/ffffeeeeddddccccbbbbaaaa99998888"}));
}

TEST(SpecFromTask, TheDefinitionCannotOverrideTheAgentsVariables) {
  model::Task t = TaskWithOneContainer();
  t.internal.task_role_arn = "arn:aws:iam::000000000000:role/app";
  t.internal.credentials_id = "ffffeeeeddddccccbbbbaaaa99998888";
  t.internal.containers[0].environment = {{"ECS_CONTAINER_METADATA_URI_V4", "http://evil/"},
                                          {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/other"},
                                          {"KEEP", "1"}};
  const Env env = SpecFromTask(t).containers[0].environment;
  ASSERT_EQ(env.size(), 5u);
  EXPECT_EQ(env[1].second, "http://169.254.170.2/v4/aaaabbbbccccddddeeeeffff00001111");
  EXPECT_EQ(env[3].second, "/v2/credentials/ffffeeeeddddccccbbbbaaaa99998888");
  EXPECT_EQ(env[4], (std::pair<std::string, std::string>{"KEEP", "1"}));
}

TEST(SpecFromTask, ATaskFromBeforeIssue12HasNoEndpointVariables) {
  model::Task t = TaskWithOneContainer();
  t.internal.containers[0].metadata_id.clear();
  EXPECT_EQ(SpecFromTask(t).containers[0].environment, Env({{"MODE", "prod"}}));
}

}  // namespace
}  // namespace kecs::reconcile
