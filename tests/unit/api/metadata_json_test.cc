// The task metadata endpoint's documents (v4 and v3) for awsvpc, bridge and host tasks,
// Docker's stats format and the credentials document, without root.
#include "api/metadata/metadata_json.h"

#include <gtest/gtest.h>

namespace kecs::api::metadata {
namespace {

model::Task BaseTask(model::NetworkMode mode) {
  model::Task t;
  t.region = "us-west-2";
  t.id = "8f03e41243824aea923aca126495f665";
  t.cluster = "default";
  t.cluster_arn = "arn:aws:ecs:us-west-2:111122223333:cluster/default";
  t.family = "curltest";
  t.task_arn = "arn:aws:ecs:us-west-2:111122223333:task/default/" + t.id;
  t.task_definition_arn = "arn:aws:ecs:us-west-2:111122223333:task-definition/curltest:24";
  t.desired_status = model::TaskStatus::kRunning;
  t.last_status = model::TaskStatus::kRunning;
  t.availability_zone = "us-west-2a";
  t.cpu = "256";
  t.memory = "512";
  t.pull_started_at = 1601597706.5;
  t.pull_stopped_at = 1601597707.25;
  t.internal.network_mode = mode;
  model::ContainerDefinition d;
  d.name = "curl";
  d.image = "curltest:latest";
  d.cpu = 10;
  d.memory = 128;
  d.metadata_id = "0123456789abcdef0123456789abcdef";
  d.port_mappings.push_back({.container_port = 80, .host_port = 32768, .protocol = "tcp"});
  d.docker_labels.push_back({"team", "web"});
  t.internal.containers.push_back(d);
  model::Container c;
  c.name = "curl";
  c.container_arn = "arn:aws:ecs:us-west-2:111122223333:container/default/" + t.id + "/05966557";
  c.runtime_id = "kecs-" + t.id + "-curl";
  c.image_digest = "sha256:d691691e9652791a60114e67b365688d20d19940dde7c4736ea30e660d8d3553";
  c.last_status = model::ContainerStatus::kRunning;
  t.containers.push_back(c);
  model::ContainerProgress p;
  p.name = "curl";
  p.created_at = 1601597707.620;
  p.started_at = 1601597708.062;
  t.internal.progress.push_back(p);
  if (mode == model::NetworkMode::kAwsvpc) {
    model::TaskEni e;
    e.id = "eni-0a1b";
    e.mac = "0a:de:f6:10:51:e5";
    e.ip = "10.0.1.4";
    e.prefix_len = 24;
    e.gateway = "10.0.1.1";
    e.subnet_cidr = "10.0.1.0/24";
    e.vpc_id = "vpc-1234";
    e.dns_server = "10.0.0.2";
    e.private_dns_name = "ip-10-0-1-4.us-west-2.compute.internal";
    t.internal.network.eni = e;
    t.internal.network.vpc_id = "vpc-1234";
  }
  if (mode == model::NetworkMode::kBridge) {
    t.internal.network.bridge_ip = "172.17.0.5";
    t.containers[0].network_bindings.push_back({.bind_ip = "0.0.0.0", .container_port = 80, .host_port = 32768});
  }
  return t;
}

TEST(MetadataJson, V4AwsvpcContainerHasTheEniDetailsAfterContainerArn) {
  model::Task t = BaseTask(model::NetworkMode::kAwsvpc);
  Json c = ContainerDocument(t, t.internal.containers[0], Context{});
  EXPECT_EQ(c["DockerId"], "kecs-" + t.id + "-curl");
  EXPECT_EQ(c["Name"], "curl");
  EXPECT_EQ(c["ImageID"], t.containers[0].image_digest.value());
  EXPECT_EQ(c["Labels"]["com.amazonaws.ecs.task-arn"], t.task_arn);
  EXPECT_EQ(c["Labels"]["com.amazonaws.ecs.task-definition-version"], "24");
  EXPECT_EQ(c["Labels"]["team"], "web");
  EXPECT_EQ(c["DesiredStatus"], "RUNNING");
  EXPECT_EQ(c["KnownStatus"], "RUNNING");
  EXPECT_EQ(c["Limits"], (Json{{"CPU", 10}, {"Memory", 128}}));
  EXPECT_EQ(c["CreatedAt"], "2020-10-02T00:15:07.620Z");
  EXPECT_EQ(c["StartedAt"], "2020-10-02T00:15:08.062Z");
  EXPECT_FALSE(c.contains("FinishedAt"));
  EXPECT_EQ(c["Type"], "NORMAL");
  EXPECT_FALSE(c.contains("Health"));  // no health check
  EXPECT_EQ(c["ContainerARN"], t.containers[0].container_arn);
  // awsvpc: the host port is the container port.
  EXPECT_EQ(c["Ports"], Json::parse(R"([{"ContainerPort":80,"Protocol":"tcp","HostPort":80}])"));
  EXPECT_EQ(c["Networks"], Json::parse(R"([{
    "NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.1.4"], "AttachmentIndex": 0,
    "MACAddress": "0a:de:f6:10:51:e5", "IPv4SubnetCIDRBlock": "10.0.1.0/24",
    "DomainNameServers": ["10.0.0.2"], "PrivateDNSName": "ip-10-0-1-4.us-west-2.compute.internal",
    "SubnetGatewayIpv4Address": "10.0.1.1/24"}])"));
  // Networks comes after ContainerARN, as the agent's embedded v2 response orders them.
  std::vector<std::string> keys;
  for (auto it = c.begin(); it != c.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys.back(), "Networks");
}

TEST(MetadataJson, V4TaskHasTheTaskMembersAndItsContainers) {
  model::Task t = BaseTask(model::NetworkMode::kAwsvpc);
  t.internal.service = "MyService";
  Context ctx;
  ctx.clock = Context::Clock{.error_bound_ms = 0.5, .synchronized = true, .reference = 1601597710};
  Json j = TaskDocument(t, ctx);
  EXPECT_EQ(j["Cluster"], t.cluster_arn);
  EXPECT_EQ(j["TaskARN"], t.task_arn);
  EXPECT_EQ(j["Family"], "curltest");
  EXPECT_EQ(j["Revision"], "24");
  EXPECT_EQ(j["DesiredStatus"], "RUNNING");
  EXPECT_EQ(j["KnownStatus"], "RUNNING");
  EXPECT_EQ(j["Limits"], (Json{{"CPU", 0.25}, {"Memory", 512}}));
  EXPECT_EQ(j["PullStartedAt"], "2020-10-02T00:15:06.500Z");
  EXPECT_EQ(j["PullStoppedAt"], "2020-10-02T00:15:07.250Z");
  EXPECT_EQ(j["AvailabilityZone"], "us-west-2a");
  EXPECT_EQ(j["LaunchType"], "EC2");
  ASSERT_EQ(j["Containers"].size(), 1u);
  EXPECT_EQ(j["Containers"][0]["Networks"][0]["IPv4Addresses"][0], "10.0.1.4");
  EXPECT_EQ(j["VPCID"], "vpc-1234");
  EXPECT_EQ(j["ServiceName"], "MyService");
  EXPECT_EQ(j["ClockDrift"]["ClockSynchronizationStatus"], "SYNCHRONIZED");
  EXPECT_EQ(j["ClockDrift"]["ClockErrorBound"], 0.5);
  EXPECT_FALSE(j.contains("EphemeralStorageMetrics"));
}

TEST(MetadataJson, BridgeContainerShowsItsAddressAndPublishedPorts) {
  model::Task t = BaseTask(model::NetworkMode::kBridge);
  Json c = ContainerDocument(t, t.internal.containers[0], Context{});
  EXPECT_EQ(c["Networks"], Json::parse(R"([{"NetworkMode":"bridge","IPv4Addresses":["172.17.0.5"]}])"));
  EXPECT_EQ(c["Ports"],
            Json::parse(R"([{"ContainerPort":80,"Protocol":"tcp","HostPort":32768,"HostIp":"0.0.0.0"}])"));
  Json task = TaskDocument(t, Context{});
  EXPECT_FALSE(task.contains("VPCID"));
  EXPECT_FALSE(task.contains("ServiceName"));
}

TEST(MetadataJson, HostContainerHasNoAddressOfItsOwn) {
  model::Task t = BaseTask(model::NetworkMode::kHost);
  Json c = ContainerDocument(t, t.internal.containers[0], Context{});
  EXPECT_EQ(c["Networks"], Json::parse(R"([{"NetworkMode":"host"}])"));
  EXPECT_EQ(c["Ports"], Json::parse(R"([{"ContainerPort":80,"Protocol":"tcp","HostPort":80}])"));
}

TEST(MetadataJson, V3LeavesOutWhatOnlyV4Has) {
  model::Task t = BaseTask(model::NetworkMode::kAwsvpc);
  t.internal.service = "MyService";
  Context ctx;
  ctx.version = 3;
  Json c = ContainerDocument(t, t.internal.containers[0], ctx);
  EXPECT_EQ(c["Networks"], Json::parse(R"([{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.1.4"]}])"));
  EXPECT_FALSE(c.contains("ContainerARN"));
  Json j = TaskDocument(t, ctx);
  EXPECT_FALSE(j.contains("LaunchType"));
  EXPECT_FALSE(j.contains("ServiceName"));
  EXPECT_FALSE(j.contains("VPCID"));
  EXPECT_FALSE(j.contains("ClockDrift"));
  EXPECT_EQ(j["TaskARN"], t.task_arn);
}

TEST(MetadataJson, HealthIsShownForAContainerWithAHealthCheck) {
  model::Task t = BaseTask(model::NetworkMode::kAwsvpc);
  t.internal.containers[0].health_check = model::HealthCheck{.command = {"CMD-SHELL", "true"}};
  t.containers[0].health_status = model::HealthStatus::kUnhealthy;
  t.internal.progress[0].health_since = 1601597800;
  t.internal.progress[0].health_exit_code = 1;
  t.internal.progress[0].health_output = "down";
  Json c = ContainerDocument(t, t.internal.containers[0], Context{});
  EXPECT_EQ(c["Health"], Json::parse(R"({"status":"UNHEALTHY","statusSince":"2020-10-02T00:16:40.000Z",
                                         "exitCode":1,"output":"down"})"));
}

TEST(MetadataJson, StatusesAreTheAgentsWords) {
  model::Task t = BaseTask(model::NetworkMode::kAwsvpc);
  t.last_status = model::TaskStatus::kPending;
  t.pull_stopped_at.reset();
  t.containers[0].last_status = model::ContainerStatus::kPending;
  EXPECT_EQ(TaskDocument(t, Context{})["KnownStatus"], "NONE");
  t.pull_stopped_at = 1;
  EXPECT_EQ(TaskDocument(t, Context{})["KnownStatus"], "PULLED");
  EXPECT_EQ(TaskDocument(t, Context{})["Containers"][0]["KnownStatus"], "PULLED");
  t.last_status = model::TaskStatus::kStopped;
  t.desired_status = model::TaskStatus::kStopped;
  t.containers[0].last_status = model::ContainerStatus::kStopped;
  t.containers[0].exit_code = 137;
  Json j = TaskDocument(t, Context{});
  EXPECT_EQ(j["KnownStatus"], "STOPPED");
  EXPECT_EQ(j["DesiredStatus"], "STOPPED");
  EXPECT_EQ(j["Containers"][0]["ExitCode"], 137);
}

runtime::ContainerStats Sample(double at, uint64_t cpu, uint64_t rx) {
  runtime::ContainerStats s;
  s.name = "curl";
  s.read_at = at;
  s.cpu_total_ns = cpu;
  s.cpu_user_ns = cpu / 2;
  s.cpu_kernel_ns = cpu / 4;
  s.percpu_ns = {cpu / 2, cpu / 2};
  s.system_cpu_ns = 1000000000000;
  s.online_cpus = 2;
  s.memory_usage = 4096;
  s.memory_max_usage = 8192;
  s.memory_limit = 134217728;
  s.memory_stat = {{"cache", 1024}, {"rss", 2048}};
  s.pids = 3;
  s.io_service_bytes = {{8, 0, "Read", 512}};
  s.networks.push_back({.name = "eth0", .rx_bytes = rx, .rx_packets = 10, .tx_bytes = 2 * rx, .tx_packets = 20});
  return s;
}

TEST(MetadataJson, StatsAreInDockersFormatWithThePreviousSample) {
  model::Task t = BaseTask(model::NetworkMode::kAwsvpc);
  Json j = StatsDocument(t, Sample(1601597720, 3000000, 2000), Sample(1601597710, 1000000, 1000), 4);
  EXPECT_EQ(j["read"], "2020-10-02T00:15:20.000Z");
  EXPECT_EQ(j["preread"], "2020-10-02T00:15:10.000Z");
  EXPECT_EQ(j["pids_stats"]["current"], 3);
  EXPECT_EQ(j["blkio_stats"]["io_service_bytes_recursive"],
            Json::parse(R"([{"major":8,"minor":0,"op":"Read","value":512}])"));
  EXPECT_TRUE(j["blkio_stats"]["io_queue_recursive"].is_null());
  EXPECT_EQ(j["cpu_stats"]["cpu_usage"]["total_usage"], 3000000);
  EXPECT_EQ(j["cpu_stats"]["cpu_usage"]["percpu_usage"], Json::parse("[1500000,1500000]"));
  EXPECT_EQ(j["cpu_stats"]["online_cpus"], 2);
  EXPECT_EQ(j["precpu_stats"]["cpu_usage"]["total_usage"], 1000000);
  EXPECT_EQ(j["memory_stats"]["usage"], 4096);
  EXPECT_EQ(j["memory_stats"]["limit"], 134217728);
  EXPECT_EQ(j["memory_stats"]["stats"]["rss"], 2048);
  EXPECT_EQ(j["name"], "/kecs-" + t.id + "-curl");
  EXPECT_EQ(j["id"], "kecs-" + t.id + "-curl");
  EXPECT_EQ(j["networks"]["eth0"]["rx_bytes"], 2000);
  EXPECT_EQ(j["networks"]["eth0"]["tx_bytes"], 4000);
  EXPECT_EQ(j["network_rate_stats"]["rx_bytes_per_sec"], 100.0);
  EXPECT_EQ(j["network_rate_stats"]["tx_bytes_per_sec"], 200.0);
  Json v3 = StatsDocument(t, Sample(1601597720, 3000000, 2000), std::nullopt, 3);
  EXPECT_EQ(v3["preread"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(v3["precpu_stats"]["cpu_usage"]["total_usage"], 0);
  EXPECT_FALSE(v3.contains("network_rate_stats"));
}

TEST(MetadataJson, CredentialsDocumentIsTheAgentsShape) {
  RoleCredentials c{"arn:aws:iam::111122223333:role/app", "ASIAAAAAAAAAAAAAAAAA", "secret", "token", 1764889200};
  Json j = CredentialsDocument(c);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}));
  EXPECT_EQ(j["Expiration"], "2025-12-04T23:00:00Z");
}

}  // namespace
}  // namespace kecs::api::metadata
