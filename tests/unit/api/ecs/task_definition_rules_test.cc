#include "api/ecs/task_definition_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "api/errors.h"

namespace kecs::api::ecs {
namespace {

Json Container(const std::string& name, Json extra = Json::object()) {
  Json c = {{"name", name}, {"image", "nginx"}, {"memory", 512}};
  for (auto it = extra.begin(); it != extra.end(); ++it) c[it.key()] = it.value();
  return c;
}

Json TaskDef(Json containers, Json extra = Json::object()) {
  Json td = {{"family", "web"}, {"containerDefinitions", std::move(containers)}};
  for (auto it = extra.begin(); it != extra.end(); ++it) td[it.key()] = it.value();
  return td;
}

Json PortMapping(int container_port, Json extra = Json::object()) {
  Json pm = {{"containerPort", container_port}};
  for (auto it = extra.begin(); it != extra.end(); ++it) pm[it.key()] = it.value();
  return pm;
}

// The ClientException message NormalizeTaskDefinition refuses `td` with, or "" if it accepts.
std::string Refusal(const Json& td) {
  try {
    NormalizeTaskDefinition(td);
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code(), "ClientException");
    EXPECT_EQ(e.http_status(), 400);
    return e.message();
  }
  return "";
}

bool HasRequiredAttribute(const Json& td, const std::string& name) {
  for (const auto& a : td["requiresAttributes"]) {
    if (a["name"] == name) return true;
  }
  return false;
}

// ---- Defaults ----

TEST(NormalizeTaskDefinition, FillsContainerDefaults) {
  Json out = NormalizeTaskDefinition(TaskDef(Json::array({Container("app")})));
  ASSERT_EQ(out["containerDefinitions"].size(), 1u);
  const Json& c = out["containerDefinitions"][0];
  EXPECT_EQ(c["name"], "app");
  EXPECT_EQ(c["image"], "nginx");
  EXPECT_EQ(c["memory"], 512);
  EXPECT_EQ(c["essential"], true);
  EXPECT_EQ(c["cpu"], 0);
  EXPECT_EQ(c["portMappings"], Json::array());
  EXPECT_EQ(c["environment"], Json::array());
  EXPECT_EQ(c["mountPoints"], Json::array());
  EXPECT_EQ(c["volumesFrom"], Json::array());
  EXPECT_EQ(c["systemControls"], Json::array());
}

TEST(NormalizeTaskDefinition, KeepsExplicitContainerValues) {
  Json out = NormalizeTaskDefinition(TaskDef(Json::array(
      {Container("app", {{"cpu", 128}, {"essential", true}}),
       Container("sidecar", {{"essential", false},
                             {"environment", Json::array({{{"name", "A"}, {"value", "1"}}})}})})));
  EXPECT_EQ(out["containerDefinitions"][0]["cpu"], 128);
  EXPECT_EQ(out["containerDefinitions"][1]["essential"], false);
  EXPECT_EQ(out["containerDefinitions"][1]["environment"][0]["name"], "A");
}

TEST(NormalizeTaskDefinition, FillsTaskDefaultsForBridge) {
  Json out = NormalizeTaskDefinition(TaskDef(Json::array({Container("app")})));
  EXPECT_EQ(out["family"], "web");
  EXPECT_FALSE(out.contains("networkMode"));
  EXPECT_EQ(NetworkModeOf(out), "bridge");
  EXPECT_EQ(out["volumes"], Json::array());
  EXPECT_EQ(out["placementConstraints"], Json::array());
  EXPECT_EQ(out["compatibilities"], Json::array({"EC2"}));
  EXPECT_TRUE(HasRequiredAttribute(out, "com.amazonaws.ecs.capability.docker-remote-api.1.18"));
  EXPECT_FALSE(HasRequiredAttribute(out, "ecs.capability.task-eni"));
  EXPECT_FALSE(out.contains("cpu"));
  EXPECT_FALSE(out.contains("memory"));
  EXPECT_FALSE(out.contains("requiresCompatibilities"));
}

TEST(NormalizeTaskDefinition, PortMappingDefaultsToTcpAndBridgeKeepsHostPortUnset) {
  Json out = NormalizeTaskDefinition(TaskDef(Json::array(
      {Container("app", {{"portMappings", Json::array({PortMapping(80),
                                                        PortMapping(53, {{"protocol", "udp"},
                                                                         {"hostPort", 5353}})})}})})));
  const Json& pms = out["containerDefinitions"][0]["portMappings"];
  ASSERT_EQ(pms.size(), 2u);
  EXPECT_EQ(pms[0]["protocol"], "tcp");
  EXPECT_FALSE(pms[0].contains("hostPort"));  // dynamic host port under bridge
  EXPECT_EQ(pms[1]["protocol"], "udp");
  EXPECT_EQ(pms[1]["hostPort"], 5353);
}

TEST(NormalizeTaskDefinition, AwsvpcSetsHostPortToContainerPort) {
  Json out = NormalizeTaskDefinition(TaskDef(
      Json::array({Container("app", {{"portMappings", Json::array({PortMapping(8080)})}})}),
      {{"networkMode", "awsvpc"}}));
  EXPECT_EQ(out["networkMode"], "awsvpc");
  const Json& pm = out["containerDefinitions"][0]["portMappings"][0];
  EXPECT_EQ(pm["hostPort"], 8080);
  EXPECT_EQ(pm["protocol"], "tcp");
  EXPECT_TRUE(HasRequiredAttribute(out, "ecs.capability.task-eni"));
  EXPECT_TRUE(HasRequiredAttribute(out, "com.amazonaws.ecs.capability.docker-remote-api.1.18"));
}

TEST(NormalizeTaskDefinition, AwsvpcAcceptsMatchingHostPort) {
  Json out = NormalizeTaskDefinition(TaskDef(
      Json::array({Container("app", {{"portMappings",
                                      Json::array({PortMapping(80, {{"hostPort", 80}})})}})}),
      {{"networkMode", "awsvpc"}}));
  EXPECT_EQ(out["containerDefinitions"][0]["portMappings"][0]["hostPort"], 80);
}

TEST(NormalizeTaskDefinition, HostModeSetsHostPortToContainerPort) {
  Json out = NormalizeTaskDefinition(TaskDef(
      Json::array({Container("app", {{"portMappings", Json::array({PortMapping(9000)})}})}),
      {{"networkMode", "host"}}));
  EXPECT_EQ(out["containerDefinitions"][0]["portMappings"][0]["hostPort"], 9000);
  EXPECT_FALSE(HasRequiredAttribute(out, "ecs.capability.task-eni"));
}

TEST(NormalizeTaskDefinition, AwsvpcWithValidFargateSizeIsFargateCompatible) {
  Json out = NormalizeTaskDefinition(TaskDef(Json::array({Container("app")}),
                                             {{"networkMode", "awsvpc"}, {"cpu", "256"}, {"memory", "512"}}));
  EXPECT_EQ(out["compatibilities"], Json::array({"EC2", "FARGATE"}));
  EXPECT_EQ(out["cpu"], "256");
  EXPECT_EQ(out["memory"], "512");
}

TEST(NormalizeTaskDefinition, UnitStringsAreNormalisedToNumbers) {
  Json out = NormalizeTaskDefinition(TaskDef(
      Json::array({Container("app")}),
      {{"networkMode", "awsvpc"}, {"cpu", "1 vCPU"}, {"memory", "2GB"},
       {"requiresCompatibilities", Json::array({"FARGATE"})}}));
  EXPECT_EQ(out["cpu"], "1024");
  EXPECT_EQ(out["memory"], "2048");
  EXPECT_EQ(out["compatibilities"], Json::array({"EC2", "FARGATE"}));
  EXPECT_EQ(out["requiresCompatibilities"], Json::array({"FARGATE"}));
}

TEST(NormalizeTaskDefinition, AwsvpcWithoutFargateSizeIsEc2Only) {
  Json out = NormalizeTaskDefinition(
      TaskDef(Json::array({Container("app")}), {{"networkMode", "awsvpc"}}));
  EXPECT_EQ(out["compatibilities"], Json::array({"EC2"}));
  Json odd = NormalizeTaskDefinition(TaskDef(Json::array({Container("app")}),
                                             {{"networkMode", "awsvpc"}, {"cpu", "256"}, {"memory", "4096"}}));
  EXPECT_EQ(odd["compatibilities"], Json::array({"EC2"}));
}

TEST(NormalizeTaskDefinition, BridgeWithFargateSizeIsEc2Only) {
  Json out = NormalizeTaskDefinition(
      TaskDef(Json::array({Container("app")}), {{"cpu", "256"}, {"memory", "512"}}));
  EXPECT_EQ(out["compatibilities"], Json::array({"EC2"}));
}

TEST(NormalizeTaskDefinition, ExternalIsAddedWhenRequired) {
  Json out = NormalizeTaskDefinition(TaskDef(
      Json::array({Container("app")}), {{"requiresCompatibilities", Json::array({"EXTERNAL"})}}));
  EXPECT_EQ(out["compatibilities"], Json::array({"EC2", "EXTERNAL"}));
}

TEST(NormalizeTaskDefinition, TaskMemoryReplacesContainerMemory) {
  Json c = {{"name", "app"}, {"image", "nginx"}};
  Json out = NormalizeTaskDefinition(TaskDef(Json::array({c}), {{"memory", "1024"}}));
  EXPECT_EQ(out["memory"], "1024");
  EXPECT_FALSE(out["containerDefinitions"][0].contains("memory"));
}

TEST(NormalizeTaskDefinition, MemoryReservationAloneIsEnough) {
  Json c = {{"name", "app"}, {"image", "nginx"}, {"memoryReservation", 128}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({c}))), "");
}

TEST(NormalizeTaskDefinition, CopiesOptionalTaskMembers) {
  Json out = NormalizeTaskDefinition(TaskDef(
      Json::array({Container("app")}),
      {{"taskRoleArn", "arn:aws:iam::000000000000:role/t"},
       {"executionRoleArn", "arn:aws:iam::000000000000:role/e"},
       {"pidMode", "task"},
       {"ipcMode", "none"},
       {"volumes", Json::array({{{"name", "data"}}})},
       {"placementConstraints",
        Json::array({{{"type", "memberOf"}, {"expression", "attribute:a exists"}}})},
       {"ephemeralStorage", {{"sizeInGiB", 30}}},
       {"runtimePlatform", {{"operatingSystemFamily", "LINUX"}}},
       {"tags", Json::array({{{"key", "k"}, {"value", "v"}}})}}));
  EXPECT_EQ(out["taskRoleArn"], "arn:aws:iam::000000000000:role/t");
  EXPECT_EQ(out["executionRoleArn"], "arn:aws:iam::000000000000:role/e");
  EXPECT_EQ(out["pidMode"], "task");
  EXPECT_EQ(out["ipcMode"], "none");
  EXPECT_EQ(out["volumes"][0]["name"], "data");
  EXPECT_EQ(out["placementConstraints"][0]["type"], "memberOf");
  EXPECT_EQ(out["ephemeralStorage"]["sizeInGiB"], 30);
  EXPECT_EQ(out["runtimePlatform"]["operatingSystemFamily"], "LINUX");
  EXPECT_FALSE(out.contains("tags"));  // tags are the resource's, not the document's
}

TEST(NormalizeTaskDefinition, SameHostPortOnDifferentProtocolsIsAllowed) {
  Json pms = Json::array({PortMapping(53, {{"hostPort", 53}}),
                          PortMapping(53, {{"hostPort", 53}, {"protocol", "udp"}})});
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("dns", {{"portMappings", pms}})}))), "");
}

TEST(NormalizeTaskDefinition, DynamicHostPortsMayRepeat) {
  Json pms = Json::array({PortMapping(80, {{"hostPort", 0}}), PortMapping(81, {{"hostPort", 0}})});
  Json td = TaskDef(Json::array({Container("a", {{"portMappings", pms}}),
                                 Container("b", {{"portMappings", Json::array({PortMapping(80)})}})}));
  EXPECT_EQ(Refusal(td), "");
}

// ---- Refusals ----

TEST(NormalizeTaskDefinition, RefusesAwsvpcHostPortMismatch) {
  Json td = TaskDef(Json::array({Container(
                        "app", {{"portMappings", Json::array({PortMapping(80, {{"hostPort", 8080}})})}})}),
                    {{"networkMode", "awsvpc"}});
  EXPECT_EQ(Refusal(td),
            "When networkMode=awsvpc, the host ports and container ports in port mappings must "
            "match.");
}

TEST(NormalizeTaskDefinition, RefusesHostModeHostPortMismatch) {
  Json td = TaskDef(Json::array({Container(
                        "app", {{"portMappings", Json::array({PortMapping(80, {{"hostPort", 81}})})}})}),
                    {{"networkMode", "host"}});
  EXPECT_EQ(Refusal(td),
            "When networkMode=host, the host ports and container ports in port mappings must "
            "match.");
}

TEST(NormalizeTaskDefinition, RefusesDuplicateHostPortAcrossContainers) {
  Json a = Container("a", {{"portMappings", Json::array({PortMapping(8080, {{"hostPort", 80}})})}});
  Json b = Container("b", {{"portMappings", Json::array({PortMapping(9090, {{"hostPort", 80}})})}});
  EXPECT_EQ(Refusal(TaskDef(Json::array({a, b}))), "TCP host port '80' is mapped multiple times in task.");
}

TEST(NormalizeTaskDefinition, RefusesDuplicateContainerPortUnderAwsvpc) {
  Json a = Container("a", {{"portMappings", Json::array({PortMapping(80)})}});
  Json b = Container("b", {{"portMappings", Json::array({PortMapping(80)})}});
  EXPECT_EQ(Refusal(TaskDef(Json::array({a, b}), {{"networkMode", "awsvpc"}})),
            "TCP host port '80' is mapped multiple times in task.");
}

TEST(NormalizeTaskDefinition, RefusesDuplicateUdpHostPort) {
  Json pms = Json::array({PortMapping(53, {{"hostPort", 53}, {"protocol", "udp"}}),
                          PortMapping(54, {{"hostPort", 53}, {"protocol", "udp"}})});
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("dns", {{"portMappings", pms}})}))),
            "UDP host port '53' is mapped multiple times in task.");
}

TEST(NormalizeTaskDefinition, RefusesPortMappingsUnderNone) {
  Json td = TaskDef(Json::array({Container("app", {{"portMappings", Json::array({PortMapping(80)})}})}),
                    {{"networkMode", "none"}});
  EXPECT_EQ(Refusal(td), "Port mappings are not supported when networkMode=none.");
  Json ok = TaskDef(Json::array({Container("app")}), {{"networkMode", "none"}});
  EXPECT_EQ(Refusal(ok), "");
}

TEST(NormalizeTaskDefinition, RefusesFargateWithoutAwsvpc) {
  const std::string msg = "Fargate only supports network mode \u2018awsvpc\u2019.";
  EXPECT_EQ(msg, "Fargate only supports network mode \xE2\x80\x98" "awsvpc\xE2\x80\x99.");
  Json fargate = {{"requiresCompatibilities", Json::array({"FARGATE"})}, {"cpu", "256"}, {"memory", "512"}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), fargate)), msg);  // bridge by default
  Json host = fargate;
  host["networkMode"] = "host";
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), host)), msg);
}

TEST(NormalizeTaskDefinition, RefusesFargateWithoutTaskCpuOrMemory) {
  Json no_cpu = {{"requiresCompatibilities", Json::array({"FARGATE"})},
                 {"networkMode", "awsvpc"},
                 {"memory", "512"}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), no_cpu)),
            "Fargate requires that 'cpu' be defined at the task level.");
  Json no_mem = {{"requiresCompatibilities", Json::array({"FARGATE"})},
                 {"networkMode", "awsvpc"},
                 {"cpu", "256"}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), no_mem)),
            "Fargate requires that 'memory' be defined at the task level.");
}

TEST(NormalizeTaskDefinition, RefusesInvalidFargateCpuMemoryPair) {
  Json td = TaskDef(Json::array({Container("app")}),
                    {{"requiresCompatibilities", Json::array({"FARGATE"})},
                     {"networkMode", "awsvpc"},
                     {"cpu", "256"},
                     {"memory", "4096"}});
  EXPECT_EQ(Refusal(td),
            "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the "
            "Amazon ECS documentation for the valid values.");
  Json units = TaskDef(Json::array({Container("app")}),
                       {{"requiresCompatibilities", Json::array({"FARGATE"})},
                        {"networkMode", "awsvpc"},
                        {"cpu", "1 vCPU"},
                        {"memory", "1GB"}});
  EXPECT_EQ(Refusal(units),
            "No Fargate configuration exists for given values: 1024 CPU, 1024 memory. See the "
            "Amazon ECS documentation for the valid values.");
}

TEST(NormalizeTaskDefinition, RefusesDuplicateContainerNames) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app"), Container("app")}))),
            "Container names must be unique within a Task Definition.");
}

TEST(NormalizeTaskDefinition, RefusesTaskWithoutEssentialContainer) {
  Json td = TaskDef(Json::array({Container("a", {{"essential", false}}),
                                 Container("b", {{"essential", false}})}));
  EXPECT_EQ(Refusal(td), "Task definition must have at least one essential container.");
}

TEST(NormalizeTaskDefinition, RefusesAwslogsOptionsFromSecrets) {
  Json lc = {{"logDriver", "awslogs"},
             {"options", {{"awslogs-region", "us-east-1"}}},
             {"secretOptions", Json::array({{{"name", "awslogs-group"}, {"valueFrom", "/logs/group"}}})}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"logConfiguration", lc}})}))),
            "Log driver awslogs takes no secretOptions; set these in options instead: awslogs-group");
  // Other drivers take theirs (secrets want an execution role, as on ECS).
  lc = {{"logDriver", "splunk"},
        {"secretOptions", Json::array({{{"name", "splunk-token"}, {"valueFrom", "/logs/token"}}})}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"logConfiguration", lc}})}),
                            {{"executionRoleArn", "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"}})),
            "");
}

TEST(NormalizeTaskDefinition, RefusesHostnameUnderAwsvpc) {
  Json td = TaskDef(Json::array({Container("app", {{"hostname", "web"}})}), {{"networkMode", "awsvpc"}});
  EXPECT_EQ(Refusal(td), "hostname is not supported on container when networkMode=awsvpc.");
  // Allowed under bridge.
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"hostname", "web"}})}))), "");
}

TEST(NormalizeTaskDefinition, RefusesLinksUnderAwsvpc) {
  Json td = TaskDef(Json::array({Container("app", {{"links", Json::array({"db"})}}), Container("db")}),
                    {{"networkMode", "awsvpc"}});
  EXPECT_EQ(Refusal(td), "Links are not supported when networkMode=awsvpc.");
  Json empty = TaskDef(Json::array({Container("app", {{"links", Json::array()}})}),
                       {{"networkMode", "awsvpc"}});
  EXPECT_EQ(Refusal(empty), "");
}

TEST(NormalizeTaskDefinition, RefusesMissingMemoryForEc2) {
  Json c = {{"name", "app"}, {"image", "nginx"}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({c}))),
            "Invalid setting for container 'app'. At least one of 'memory' or "
            "'memoryReservation' must be specified.");
}

TEST(NormalizeTaskDefinition, RefusesReservationAboveLimit) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"memoryReservation", 1024}})}))),
            "Invalid setting for container 'app'. The memory reservation value must be less "
            "than or equal to the memory limit.");
}

TEST(NormalizeTaskDefinition, RefusesTinyMemoryLimit) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"memory", 4}})}))),
            "Invalid setting for container 'app'. The memory limit must be at least 6 MiB.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"memory", 6}})}))), "");
}

TEST(NormalizeTaskDefinition, RefusesBadFamily) {
  Json td = TaskDef(Json::array({Container("app")}));
  td["family"] = "";
  EXPECT_EQ(Refusal(td), "Family can not be blank.");
  td["family"] = "bad family!";
  EXPECT_EQ(Refusal(td), "Family contains invalid characters.");
  td["family"] = std::string(256, 'a');
  EXPECT_EQ(Refusal(td), "Family contains invalid characters.");
  td["family"] = std::string(255, 'a');
  EXPECT_EQ(Refusal(td), "");
}

TEST(NormalizeTaskDefinition, RefusesEmptyContainerList) {
  EXPECT_EQ(Refusal(TaskDef(Json::array())), "Container list cannot be empty.");
}

TEST(NormalizeTaskDefinition, RefusesBadContainerNameOrImage) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("")}))),
            "Container.name should not be null or empty.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("my app")}))),
            "Container.name contains invalid characters.");
  Json no_image = {{"name", "app"}, {"memory", 512}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({no_image}))), "Container.image should not be null or empty.");
}

TEST(NormalizeTaskDefinition, RefusesBadTaskCpuOrMemory) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), {{"cpu", "lots"}})),
            "Invalid 'cpu' setting for task.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), {{"cpu", "0"}})),
            "Invalid 'cpu' setting for task.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), {{"memory", "big"}})),
            "Invalid 'memory' setting for task.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), {{"memory", "0"}})),
            "Invalid 'memory' setting for task.");
}

TEST(NormalizeTaskDefinition, RefusesContainerCpuAboveTaskCpu) {
  Json td = TaskDef(Json::array({Container("a", {{"cpu", 200}}), Container("b", {{"cpu", 100}})}),
                    {{"cpu", "256"}});
  EXPECT_EQ(Refusal(td),
            "The sum of all container 'cpu' values cannot be greater than the value of the task "
            "'cpu'.");
}

TEST(NormalizeTaskDefinition, RefusesOutOfRangePorts) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"portMappings", Json::array({PortMapping(0)})}})}))),
            "Invalid 'containerPort' setting for container 'app'.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"portMappings", Json::array({PortMapping(65536)})}})}))),
            "Invalid 'containerPort' setting for container 'app'.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container(
                "app", {{"portMappings", Json::array({PortMapping(80, {{"hostPort", 65536}})})}})}))),
            "Invalid 'hostPort' setting for container 'app'.");
}

// ---- ParseCpu / ParseMemory / FargateSizeValid ----

TEST(ParseCpu, AcceptsUnitsAndVcpuStrings) {
  EXPECT_EQ(ParseCpu("256"), 256);
  EXPECT_EQ(ParseCpu("1 vCPU"), 1024);
  EXPECT_EQ(ParseCpu("1 vcpu"), 1024);
  EXPECT_EQ(ParseCpu("2vCPU"), 2048);
  EXPECT_EQ(ParseCpu(".25 vcpu"), 256);
  EXPECT_EQ(ParseCpu("0.5 VCPU"), 512);
  EXPECT_EQ(ParseCpu(" 512 "), 512);
  EXPECT_EQ(ParseCpu("16 vCPU"), 16384);
}

TEST(ParseCpu, RejectsGarbage) {
  EXPECT_EQ(ParseCpu(""), std::nullopt);
  EXPECT_EQ(ParseCpu("abc"), std::nullopt);
  EXPECT_EQ(ParseCpu("vcpu"), std::nullopt);
  EXPECT_EQ(ParseCpu("1 GB"), std::nullopt);
  EXPECT_EQ(ParseCpu("-256"), std::nullopt);
  EXPECT_EQ(ParseCpu("256.5"), std::nullopt);  // CPU units are whole numbers
  EXPECT_EQ(ParseCpu("1 vCPU extra"), std::nullopt);
  EXPECT_EQ(ParseCpu("nan"), std::nullopt);
}

TEST(ParseMemory, AcceptsMibAndGb) {
  EXPECT_EQ(ParseMemory("512"), 512);
  EXPECT_EQ(ParseMemory("2GB"), 2048);
  EXPECT_EQ(ParseMemory("2 gb"), 2048);
  EXPECT_EQ(ParseMemory("0.5 GB"), 512);
  EXPECT_EQ(ParseMemory("120 GB"), 122880);
}

TEST(ParseMemory, RejectsGarbage) {
  EXPECT_EQ(ParseMemory(""), std::nullopt);
  EXPECT_EQ(ParseMemory("lots"), std::nullopt);
  EXPECT_EQ(ParseMemory("GB"), std::nullopt);
  EXPECT_EQ(ParseMemory("512 MiB"), std::nullopt);
  EXPECT_EQ(ParseMemory("1 vCPU"), std::nullopt);
  EXPECT_EQ(ParseMemory("-1"), std::nullopt);
  EXPECT_EQ(ParseMemory("100.5"), std::nullopt);
}

TEST(ParseCpu, RejectsNonFiniteAndOverflowingValues) {
  // BUG: ParseCpu/ParseMemory (src/api/ecs/task_definition_rules.cc) pass strtod's "inf" /
  // "infinity" / "1e300" through and cast the non-finite or out-of-range double to int64_t,
  // which is undefined behaviour (x86 yields INT64_MIN) instead of returning nullopt.
  EXPECT_EQ(ParseCpu("inf"), std::nullopt);
  EXPECT_EQ(ParseCpu("infinity vcpu"), std::nullopt);
  EXPECT_EQ(ParseCpu("1e300"), std::nullopt);
  EXPECT_EQ(ParseMemory("inf"), std::nullopt);
  EXPECT_EQ(ParseMemory("1e300 GB"), std::nullopt);
}

TEST(FargateSizeValid, AcceptsTheDocumentedTable) {
  EXPECT_TRUE(FargateSizeValid(256, 512));
  EXPECT_TRUE(FargateSizeValid(256, 1024));
  EXPECT_TRUE(FargateSizeValid(256, 2048));
  EXPECT_TRUE(FargateSizeValid(512, 1024));
  EXPECT_TRUE(FargateSizeValid(512, 4096));
  EXPECT_TRUE(FargateSizeValid(1024, 2048));
  EXPECT_TRUE(FargateSizeValid(1024, 8192));
  EXPECT_TRUE(FargateSizeValid(2048, 4096));
  EXPECT_TRUE(FargateSizeValid(2048, 16384));
  EXPECT_TRUE(FargateSizeValid(4096, 8192));
  EXPECT_TRUE(FargateSizeValid(4096, 30720));
  EXPECT_TRUE(FargateSizeValid(8192, 16384));
  EXPECT_TRUE(FargateSizeValid(8192, 20480));  // 16 GB + one 4 GB step
  EXPECT_TRUE(FargateSizeValid(8192, 61440));
  EXPECT_TRUE(FargateSizeValid(16384, 32768));
  EXPECT_TRUE(FargateSizeValid(16384, 40960));  // 32 GB + one 8 GB step
  EXPECT_TRUE(FargateSizeValid(16384, 122880));
}

TEST(FargateSizeValid, RejectsValuesOutsideTheTable) {
  EXPECT_FALSE(FargateSizeValid(256, 4096));
  EXPECT_FALSE(FargateSizeValid(256, 256));
  EXPECT_FALSE(FargateSizeValid(256, 1536));
  EXPECT_FALSE(FargateSizeValid(512, 512));
  EXPECT_FALSE(FargateSizeValid(512, 5120));
  EXPECT_FALSE(FargateSizeValid(1024, 1024));
  EXPECT_FALSE(FargateSizeValid(1024, 2500));   // not a 1 GB step
  EXPECT_FALSE(FargateSizeValid(4096, 31744));
  EXPECT_FALSE(FargateSizeValid(8192, 18432));  // 4 GB steps only
  EXPECT_FALSE(FargateSizeValid(8192, 65536));
  EXPECT_FALSE(FargateSizeValid(16384, 36864));  // 8 GB steps only
  EXPECT_FALSE(FargateSizeValid(16384, 131072));
  EXPECT_FALSE(FargateSizeValid(128, 512));
  EXPECT_FALSE(FargateSizeValid(32768, 65536));
  EXPECT_FALSE(FargateSizeValid(0, 0));
}

TEST(NetworkModeOf, DefaultsToBridge) {
  EXPECT_EQ(NetworkModeOf(Json::object()), "bridge");
  EXPECT_EQ(NetworkModeOf({{"networkMode", nullptr}}), "bridge");
  EXPECT_EQ(NetworkModeOf({{"networkMode", "awsvpc"}}), "awsvpc");
}

// ---- Issue 12: health checks, dependsOn, volumes, Linux parameters, Fargate's limits ----

Json Fargate(Json containers, Json extra = Json::object()) {
  Json td = TaskDef(std::move(containers), {{"networkMode", "awsvpc"},
                                            {"requiresCompatibilities", Json::array({"FARGATE"})},
                                            {"cpu", "256"},
                                            {"memory", "512"}});
  for (auto it = extra.begin(); it != extra.end(); ++it) td[it.key()] = it.value();
  return td;
}

Json Check(Json extra = Json::object()) {
  Json hc = {{"command", Json::array({"CMD-SHELL", "test -f /ok"})}};
  for (auto it = extra.begin(); it != extra.end(); ++it) hc[it.key()] = it.value();
  return hc;
}

Json DependsOn(const std::string& name, const std::string& condition) {
  return Json::array({{{"containerName", name}, {"condition", condition}}});
}

// ---- Accepted as sent ----

TEST(TaskDefinitionSettings, EverySettingIsKeptAsSent) {
  Json app = Container("app", {{"healthCheck", Check({{"interval", 5}, {"timeout", 2}, {"retries", 1},
                                                      {"startPeriod", 0}})},
                               {"dependsOn", DependsOn("init", "SUCCESS")},
                               {"startTimeout", 20},
                               {"mountPoints", Json::array({{{"sourceVolume", "data"},
                                                             {"containerPath", "/data"},
                                                             {"readOnly", true}}})},
                               {"linuxParameters", {{"capabilities", {{"add", Json::array({"NET_ADMIN"})},
                                                                      {"drop", Json::array({"ALL"})}}},
                                                    {"initProcessEnabled", true},
                                                    {"sharedMemorySize", 64},
                                                    {"tmpfs", Json::array({{{"containerPath", "/scratch"},
                                                                            {"size", 16}}})},
                                                    {"devices", Json::array({{{"hostPath", "/dev/null"}}})}}},
                               {"privileged", true},
                               {"systemControls", Json::array({{{"namespace", "net.core.somaxconn"},
                                                                {"value", "1024"}}})},
                               {"dockerLabels", {{"b", "2"}, {"a", "1"}}}});
  Json init = Container("init", {{"essential", false}, {"volumesFrom", Json::array({{{"sourceContainer", "app"}}})}});
  Json volumes = Json::array({{{"name", "data"}, {"host", {{"sourcePath", "/srv/data"}}}},
                              {{"name", "scratch"}},
                              {{"name", "shared"},
                               {"dockerVolumeConfiguration", {{"scope", "shared"}, {"autoprovision", true}}}},
                              {{"name", "efs"},
                               {"efsVolumeConfiguration", {{"fileSystemId", "fs-1"},
                                                           {"transitEncryption", "ENABLED"},
                                                           {"authorizationConfig", {{"accessPointId", "fsap-1"},
                                                                                    {"iam", "ENABLED"}}}}}}});
  Json td = TaskDef(Json::array({app, init}), {{"volumes", volumes}, {"pidMode", "task"}, {"ipcMode", "host"}});
  Json out = NormalizeTaskDefinition(td);
  for (const char* k : {"healthCheck", "dependsOn", "startTimeout", "mountPoints", "linuxParameters",
                        "privileged", "systemControls", "dockerLabels"}) {
    EXPECT_EQ(out["containerDefinitions"][0][k], app[k]) << k;
  }
  EXPECT_EQ(out["containerDefinitions"][0]["dockerLabels"].begin().key(), "b");  // order kept
  EXPECT_EQ(out["containerDefinitions"][1]["volumesFrom"], init["volumesFrom"]);
  Json filled = volumes;  // ECS fills an EFS volume's rootDirectory with "/"
  filled[3]["efsVolumeConfiguration"]["rootDirectory"] = "/";
  EXPECT_EQ(out["volumes"], filled);
  EXPECT_EQ(out["pidMode"], "task");
  EXPECT_EQ(out["ipcMode"], "host");
}

TEST(TaskDefinitionSettings, DependencyChainsAndDiamondsAreNotCycles) {
  Json td = TaskDef(Json::array({Container("a", {{"dependsOn", Json::array({{{"containerName", "b"}, {"condition", "START"}},
                                                                           {{"containerName", "c"}, {"condition", "START"}}})}}),
                                 Container("b", {{"dependsOn", DependsOn("d", "START")}}),
                                 Container("c", {{"dependsOn", DependsOn("d", "HEALTHY")}}),
                                 Container("d", {{"healthCheck", Check()}})}));
  EXPECT_EQ(Refusal(td), "");
}

TEST(TaskDefinitionSettings, FargateAcceptsPidModeTaskAndSysPtrace) {
  Json td = Fargate(Json::array({Container("app", {{"linuxParameters",
                                                    {{"capabilities", {{"add", Json::array({"SYS_PTRACE"})}}}}}})}),
                    {{"pidMode", "task"}});
  EXPECT_EQ(Refusal(td), "");
}

TEST(TaskDefinitionSettings, TaskScopedDockerVolumeMayAskForAutoprovision) {
  // ECS refuses only an explicit false with scope task (see the rules' comment).
  Json td = TaskDef(Json::array({Container("app")}),
                    {{"volumes", Json::array({{{"name", "v"},
                                               {"dockerVolumeConfiguration", {{"scope", "task"}, {"autoprovision", true}}}}})}});
  EXPECT_EQ(Refusal(td), "");
}

// ---- dependsOn ----

TEST(TaskDefinitionSettings, RefusesDependencyOnUnknownContainer) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"dependsOn", DependsOn("ghost", "START")}})}))),
            "Cannot depend on container + 'ghost' because it does not exist");
}

// The code and message NormalizeTaskDefinition refuses `td` with.
std::pair<std::string, std::string> Error(const Json& td) {
  try {
    NormalizeTaskDefinition(td);
  } catch (const AwsError& e) {
    return {e.code(), e.message()};
  }
  return {};
}

// The front end's enum check answers first with these (InvalidParameterException); the
// rules say the same to callers that bypass it.
TEST(TaskDefinitionSettings, RefusesUnknownCondition) {
  EXPECT_EQ(Error(TaskDef(Json::array({Container("app", {{"dependsOn", DependsOn("side", "READY")}}),
                                       Container("side")}))),
            std::make_pair(std::string("InvalidParameterException"),
                           std::string("condition should be one of [START,COMPLETE,SUCCESS,HEALTHY]")));
}

TEST(TaskDefinitionSettings, RefusesCompleteOrSuccessOnAnEssentialContainer) {
  for (const char* cond : {"COMPLETE", "SUCCESS"}) {
    EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"dependsOn", DependsOn("init", cond)}}),
                                           Container("init")}))),
              "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container")
        << cond;
  }
}

TEST(TaskDefinitionSettings, RefusesHealthyOnAContainerWithoutHealthCheck) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"dependsOn", DependsOn("db", "HEALTHY")}}),
                                         Container("db")}))),
            "Container 'app' depends on container 'db' with condition HEALTHY, but 'db' has no healthCheck.");
}

TEST(TaskDefinitionSettings, RefusesDependencyCycles) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("a", {{"dependsOn", DependsOn("b", "START")}}),
                                         Container("b", {{"dependsOn", DependsOn("c", "START")}}),
                                         Container("c", {{"dependsOn", DependsOn("a", "START")}})}))),
            "Container dependencies must not form a cycle: a -> b -> c -> a.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("a", {{"dependsOn", DependsOn("a", "START")}})}))),
            "Container dependencies must not form a cycle: a -> a.");
}

// ---- healthCheck ----

TEST(TaskDefinitionSettings, RefusesHealthCheckWithoutCmdOrCmdShell) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"healthCheck", {{"command", Json::array({"/bin/check"})}}}})}))),
            "Health check command must start with 'CMD' or 'CMD-SHELL' for container 'app'.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"healthCheck", {{"command", Json::array()}}}})}))),
            "Health check command should not be empty for container 'app'.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"healthCheck", {{"command", Json::array({"CMD"})}}}})}))),
            "Health check command has nothing to run after 'CMD' for container 'app'.");
}

TEST(TaskDefinitionSettings, RefusesHealthCheckValuesOutOfRange) {
  struct Case {
    const char* member;
    int value;
    const char* message;
  };
  for (const Case& c : {
           Case{"interval", 4, "Health check interval must be greater than or equal to the minimum allowed value 5 for container 'app'"},
           Case{"interval", 301, "Health check interval must be less than or equal to the maximum allowed value 300 for container 'app'"},
           Case{"timeout", 1, "Health check timeout must be greater than or equal to the minimum allowed value 2 for container 'app'"},
           Case{"timeout", 61, "Health check timeout must be less than or equal to the maximum allowed value 60 for container 'app'"},
           Case{"retries", 0, "Health check retries must be greater than or equal to the minimum allowed value 1 for container 'app'"},
           Case{"retries", 11, "Health check retries must be less than or equal to the maximum allowed value 10 for container 'app'"},
           Case{"startPeriod", -1, "Health check startPeriod must be greater than or equal to the minimum allowed value 0 for container 'app'"},
           Case{"startPeriod", 301, "Health check startPeriod must be less than or equal to the maximum allowed value 300 for container 'app'"},
       }) {
    EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"healthCheck", Check({{c.member, c.value}})}})}))), c.message);
  }
}

// ---- volumes, mountPoints, volumesFrom ----

TEST(TaskDefinitionSettings, RefusesMountPointOfUnknownVolume) {
  Json mp = Json::array({{{"sourceVolume", "nope"}, {"containerPath", "/x"}}});
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"mountPoints", mp}})}))), "Unknown volume 'nope'.");
  Json no_source = Json::array({{{"containerPath", "/x"}}});
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"mountPoints", no_source}})}))), "Unknown volume 'null'.");
}

TEST(TaskDefinitionSettings, RefusesMountPointWithoutAbsoluteContainerPath) {
  Json td = TaskDef(Json::array({Container("app", {{"mountPoints", Json::array({{{"sourceVolume", "v"},
                                                                                 {"containerPath", "data"}}})}})}),
                    {{"volumes", Json::array({{{"name", "v"}}})}});
  EXPECT_EQ(Refusal(td), "Invalid 'mountPoints' setting for container 'app': containerPath must be an absolute path.");
}

TEST(TaskDefinitionSettings, RefusesVolumesFromUnknownOrItself) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"volumesFrom", Json::array({{{"sourceContainer", "x"}}})}})}))),
            "Invalid 'volumesFrom' setting. Unknown container: 'x'.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"volumesFrom", Json::array({{{"sourceContainer", "app"}}})}})}))),
            "Invalid 'volumesFrom' setting. Unknown container: 'app'.");
}

TEST(TaskDefinitionSettings, RefusesBadOrRepeatedVolumeNames) {
  Json app = Json::array({Container("app")});
  EXPECT_EQ(Refusal(TaskDef(app, {{"volumes", Json::array({{{"name", "a b"}}})}})),
            "Volume name should be 1-255 letters (uppercase and lowercase), numbers, underscores and hyphens.");
  EXPECT_EQ(Refusal(TaskDef(app, {{"volumes", Json::array({Json::object()})}})),
            "Volume name should be 1-255 letters (uppercase and lowercase), numbers, underscores and hyphens.");
  EXPECT_EQ(Refusal(TaskDef(app, {{"volumes", Json::array({{{"name", "v"}}, {{"name", "v"}}})}})),
            "Volume name 'v' is used more than once.");
}

TEST(TaskDefinitionSettings, RefusesVolumeOfTwoKinds) {
  Json v = {{"name", "v"}, {"host", {{"sourcePath", "/x"}}}, {"efsVolumeConfiguration", {{"fileSystemId", "fs-1"}}}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), {{"volumes", Json::array({v})}})),
            "Volume 'v' can have only one of 'host', 'dockerVolumeConfiguration' and 'efsVolumeConfiguration'.");
}

TEST(TaskDefinitionSettings, RefusesTaskScopedVolumeWithAutoprovisionFalse) {
  Json v = {{"name", "v"}, {"dockerVolumeConfiguration", {{"scope", "task"}, {"autoprovision", false}}}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app")}), {{"volumes", Json::array({v})}})),
            "When 'scope' parameter is 'task', 'autoprovision' must either not be specified or set to 'True'.");
}

TEST(TaskDefinitionSettings, RefusesEfsVolumesInTheWrongShape) {
  auto refusal = [](Json efs) {
    return Refusal(TaskDef(Json::array({Container("app")}),
                           {{"volumes", Json::array({{{"name", "v"}, {"efsVolumeConfiguration", efs}}})}}));
  };
  EXPECT_EQ(refusal({{"rootDirectory", "/"}}), "Volume 'v': efsVolumeConfiguration.fileSystemId should not be blank.");
  std::string tls = "Volume 'v': transit encryption must be enabled in efsVolumeConfiguration when IAM authorization or an access point is used.";
  EXPECT_EQ(refusal({{"fileSystemId", "fs-1"}, {"authorizationConfig", {{"iam", "ENABLED"}}}}), tls);
  EXPECT_EQ(refusal({{"fileSystemId", "fs-1"}, {"transitEncryption", "DISABLED"},
                     {"authorizationConfig", {{"accessPointId", "fsap-1"}}}}),
            tls);
  EXPECT_EQ(refusal({{"fileSystemId", "fs-1"}, {"rootDirectory", "/data"}, {"transitEncryption", "ENABLED"},
                     {"authorizationConfig", {{"accessPointId", "fsap-1"}}}}),
            "When using an EFS access point, the root directory must either be set to \"/\" or be omitted.");
  EXPECT_EQ(refusal({{"fileSystemId", "fs-1"}, {"rootDirectory", "/data"}}), "");
}

// ---- Linux parameters, privileged, modes, Fargate ----

TEST(TaskDefinitionSettings, RefusesUnknownCapability) {
  Json lp = {{"capabilities", {{"drop", Json::array({"CAP_CHOWN"})}}}};
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"linuxParameters", lp}})}))),
            "Invalid 'linuxParameters.capabilities.drop' setting for container 'app': 'CAP_CHOWN' is not a Linux capability ECS supports.");
}

TEST(TaskDefinitionSettings, RefusesTmpfsAndDevicesInTheWrongShape) {
  auto refusal = [](Json lp) { return Refusal(TaskDef(Json::array({Container("app", {{"linuxParameters", lp}})}))); };
  EXPECT_EQ(refusal({{"tmpfs", Json::array({{{"containerPath", "tmp"}, {"size", 1}}})}}),
            "Invalid 'linuxParameters.tmpfs' setting for container 'app': containerPath must be an absolute path.");
  EXPECT_EQ(refusal({{"tmpfs", Json::array({{{"containerPath", "/tmp"}, {"size", 0}}})}}),
            "Invalid 'linuxParameters.tmpfs' setting for container 'app': size must be greater than 0.");
  EXPECT_EQ(refusal({{"devices", Json::array({{{"containerPath", "/dev/x"}}})}}),
            "Invalid 'linuxParameters.devices' setting for container 'app': hostPath should not be blank.");
  EXPECT_EQ(refusal({{"sharedMemorySize", 0}}),
            "Invalid 'linuxParameters.sharedMemorySize' setting for container 'app': it must be greater than 0.");
}

TEST(TaskDefinitionSettings, RefusesWhatFargateDoesNotSupport) {
  EXPECT_EQ(Refusal(Fargate(Json::array({Container("app")}), {{"ipcMode", "task"}})),
            "Tasks using the Fargate launch type do not support ipcMode.");
  EXPECT_EQ(Refusal(Fargate(Json::array({Container("app")}), {{"pidMode", "host"}})),
            "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.");
  EXPECT_EQ(Refusal(Fargate(Json::array({Container("app", {{"privileged", true}})}))),
            "Tasks using the Fargate launch type do not support privileged containers (container 'app').");
  EXPECT_EQ(Refusal(Fargate(Json::array({Container("app", {{"linuxParameters", {{"sharedMemorySize", 64}}}})}))),
            "Tasks using the Fargate launch type do not support linuxParameters.sharedMemorySize (container 'app').");
  EXPECT_EQ(Refusal(Fargate(Json::array({Container("app", {{"linuxParameters",
                                                             {{"capabilities", {{"add", Json::array({"NET_ADMIN"})}}}}}})}))),
            "Tasks using the Fargate launch type only support adding the SYS_PTRACE capability; container 'app' adds 'NET_ADMIN'.");
  EXPECT_EQ(Refusal(Fargate(Json::array({Container("app")}),
                            {{"volumes", Json::array({{{"name", "v"}, {"dockerVolumeConfiguration", {{"scope", "shared"}}}}})}})),
            "Tasks using the Fargate launch type do not support dockerVolumeConfiguration.");
}

TEST(TaskDefinitionSettings, RefusesUnknownNamespaceModes) {
  EXPECT_EQ(Error(TaskDef(Json::array({Container("app")}), {{"pidMode", "container"}})),
            std::make_pair(std::string("InvalidParameterException"), std::string("pidMode should be one of [host,task]")));
  EXPECT_EQ(Error(TaskDef(Json::array({Container("app")}), {{"ipcMode", "shareable"}})),
            std::make_pair(std::string("InvalidParameterException"),
                           std::string("ipcMode should be one of [host,task,none]")));
}

TEST(TaskDefinitionSettings, RefusesBlankSysctlAndNegativeStartTimeout) {
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"systemControls", Json::array({{{"value", "1"}}})}})}))),
            "Invalid 'systemControls' setting for container 'app': namespace should not be blank.");
  EXPECT_EQ(Refusal(TaskDef(Json::array({Container("app", {{"startTimeout", -1}})}))),
            "Invalid 'startTimeout' setting for container 'app'.");
}

}  // namespace
}  // namespace kecs::api::ecs
