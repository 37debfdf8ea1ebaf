#include "api/metadata/metadata_json.h"

#include <cmath>

#include "base/clock.h"
#include "model/arn.h"

namespace kecs::api::metadata {
namespace {

using model::ContainerStatus;
using model::NetworkMode;
using model::TaskStatus;

// The agent spells its own statuses (amazon-ecs-agent agent/api/{task,container}/status):
// NONE, PULLED, CREATED, RUNNING, STOPPED. kecs's are ECS's; map them onto the agent's.
std::string AgentTaskStatus(const model::Task& t, TaskStatus s) {
  switch (s) {
    case TaskStatus::kProvisioning:
    case TaskStatus::kPending: return t.pull_stopped_at ? "PULLED" : "NONE";
    case TaskStatus::kActivating: return "CREATED";
    case TaskStatus::kRunning:
    case TaskStatus::kDeactivating:
    case TaskStatus::kStopping: return "RUNNING";
    case TaskStatus::kDeprovisioning:
    case TaskStatus::kStopped: return "STOPPED";
  }
  return "NONE";
}

std::string AgentContainerStatus(const model::Task& t, ContainerStatus s) {
  switch (s) {
    case ContainerStatus::kPending: return t.pull_stopped_at ? "PULLED" : "NONE";
    case ContainerStatus::kRunning: return "RUNNING";
    case ContainerStatus::kStopped: return "STOPPED";
  }
  return "NONE";
}

std::string Revision(const model::Task& t) {
  size_t colon = t.task_definition_arn.rfind(':');
  return colon == std::string::npos ? "" : t.task_definition_arn.substr(colon + 1);
}

const model::Container* FindContainer(const model::Task& t, const std::string& name) {
  for (const auto& c : t.containers) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const model::ContainerProgress* FindProgress(const model::Task& t, const std::string& name) {
  for (const auto& p : t.internal.progress) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// The ENI's subnet prefix length rides on the gateway address, as the agent sends it
// ("10.0.1.1/24"; ecs-agent/api/eni: "the IPv4 subnet prefix length is sent with IPv4
// subnet gateway address").
std::string GatewayWithPrefix(const model::TaskEni& e) {
  if (e.gateway.empty()) return "";
  return e.prefix_len > 0 ? e.gateway + "/" + std::to_string(e.prefix_len) : e.gateway;
}

Json Networks(const model::Task& t, int version) {
  Json n = Json::object();
  switch (t.internal.network_mode) {
    case NetworkMode::kAwsvpc: {
      n["NetworkMode"] = "awsvpc";
      const auto& eni = t.internal.network.eni;
      if (!eni) break;
      n["IPv4Addresses"] = Json::array({eni->ip});
      if (eni->ipv6) n["IPv6Addresses"] = Json::array({*eni->ipv6});
      if (version < 4) break;
      n["AttachmentIndex"] = 0;
      if (!eni->mac.empty()) n["MACAddress"] = eni->mac;
      if (!eni->subnet_cidr.empty()) n["IPv4SubnetCIDRBlock"] = eni->subnet_cidr;
      if (eni->ipv6_prefix) n["IPv6SubnetCIDRBlock"] = *eni->ipv6_prefix;
      // The VPC's DHCP options when the task started (net/domain/dhcp.h), else its resolver;
      // the search list as Fargate's v4 metadata shows it (DomainNameSearchList).
      if (!eni->dhcp_nameservers.empty()) {
        n["DomainNameServers"] = eni->dhcp_nameservers;
      } else if (!eni->dns_server.empty()) {
        n["DomainNameServers"] = Json::array({eni->dns_server});
      }
      if (!eni->dhcp_search.empty()) n["DomainNameSearchList"] = eni->dhcp_search;
      if (!eni->private_dns_name.empty()) n["PrivateDNSName"] = eni->private_dns_name;
      if (std::string gw = GatewayWithPrefix(*eni); !gw.empty()) n["SubnetGatewayIpv4Address"] = gw;
      break;
    }
    case NetworkMode::kBridge:
      n["NetworkMode"] = "bridge";
      if (t.internal.network.bridge_ip) n["IPv4Addresses"] = Json::array({*t.internal.network.bridge_ip});
      break;
    // Docker reports no address of a host-mode or none-mode container's own.
    case NetworkMode::kHost: n["NetworkMode"] = "host"; break;
    case NetworkMode::kNone: n["NetworkMode"] = "none"; break;
  }
  return Json::array({n});
}

Json Ports(const model::Task& t, const model::ContainerDefinition& def, const model::Container* c, int version) {
  Json out = Json::array();
  auto add = [&](int container_port, const std::string& protocol, int host_port, const std::string& host_ip) {
    Json p{{"ContainerPort", container_port}, {"Protocol", protocol}, {"HostPort", host_port}};
    if (version >= 4 && !host_ip.empty()) p["HostIp"] = host_ip;
    out.push_back(std::move(p));
  };
  if (t.internal.network_mode == NetworkMode::kBridge) {
    if (c) {
      for (const auto& b : c->network_bindings) add(b.container_port, b.protocol, b.host_port, b.bind_ip);
    }
  } else if (t.internal.network_mode != NetworkMode::kNone) {
    // awsvpc and host: the host port is the container port.
    for (const auto& m : def.port_mappings) add(m.container_port, m.protocol, m.container_port, "");
  }
  return out;
}

Json Labels(const model::Task& t, const model::ContainerDefinition& def) {
  // The labels the agent puts on every container (agent/engine/docker_task_engine.go),
  // then the definition's dockerLabels.
  Json l = Json::object();
  l["com.amazonaws.ecs.cluster"] = t.cluster;
  l["com.amazonaws.ecs.container-name"] = def.name;
  l["com.amazonaws.ecs.task-arn"] = t.task_arn;
  l["com.amazonaws.ecs.task-definition-family"] = t.family;
  l["com.amazonaws.ecs.task-definition-version"] = Revision(t);
  for (const auto& kv : def.docker_labels) l[kv.name] = kv.value;
  return l;
}

Json Health(const model::Container* c, const model::ContainerProgress* p) {
  // apicontainer.HealthStatus: status, statusSince, exitCode and output, each omitempty.
  Json h = Json::object();
  h["status"] = std::string(model::ToString(c ? c->health_status : model::HealthStatus::kUnknown));
  if (p && p->health_since) h["statusSince"] = Iso8601(*p->health_since);
  if (p && p->health_exit_code && *p->health_exit_code != 0) h["exitCode"] = *p->health_exit_code;
  if (p && !p->health_output.empty()) h["output"] = p->health_output;
  return h;
}

}  // namespace

std::string Iso8601Seconds(double epoch_seconds) {
  std::string s = Iso8601(std::floor(epoch_seconds));
  size_t dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(0, dot) + "Z";
}

std::string DockerId(const model::Task& task, const std::string& container) {
  const model::Container* c = FindContainer(task, container);
  if (c && c->runtime_id && !c->runtime_id->empty()) return *c->runtime_id;
  return task.id + "-" + container;
}

Json ContainerDocument(const model::Task& t, const model::ContainerDefinition& def, const Context& ctx) {
  const model::Container* c = FindContainer(t, def.name);
  const model::ContainerProgress* p = FindProgress(t, def.name);
  std::string id = DockerId(t, def.name);
  Json j = Json::object();
  j["DockerId"] = id;
  j["Name"] = def.name;
  j["DockerName"] = id;
  j["Image"] = def.image;
  j["ImageID"] = c && c->image_digest ? *c->image_digest : "";
  Json ports = Ports(t, def, c, ctx.version);
  if (!ports.empty()) j["Ports"] = std::move(ports);
  j["Labels"] = Labels(t, def);
  j["DesiredStatus"] = std::string(t.desired_status == TaskStatus::kStopped ? "STOPPED" : "RUNNING");
  j["KnownStatus"] = AgentContainerStatus(t, c ? c->last_status : ContainerStatus::kPending);
  if (c && c->exit_code) j["ExitCode"] = *c->exit_code;
  // Agent versions >= 1.2.0 give Docker at least 2 CPU shares, and report that.
  j["Limits"] = Json{{"CPU", std::max<int64_t>(def.cpu, 2)}, {"Memory", def.memory.value_or(0)}};
  if (p && p->created_at) j["CreatedAt"] = Iso8601(*p->created_at);
  if (p && p->started_at) j["StartedAt"] = Iso8601(*p->started_at);
  if (p && p->finished_at) j["FinishedAt"] = Iso8601(*p->finished_at);
  j["Type"] = "NORMAL";
  if (ctx.version < 4) j["Networks"] = Networks(t, ctx.version);
  if (def.health_check) j["Health"] = Health(c, p);
  if (!def.mount_points.empty()) {
    Json vols = Json::array();
    for (const auto& m : def.mount_points) {
      vols.push_back(Json{{"DockerName", m.source_volume}, {"Destination", m.container_path}});
    }
    j["Volumes"] = std::move(vols);
  }
  if (ctx.version >= 4) {
    if (c && !c->container_arn.empty()) j["ContainerARN"] = c->container_arn;
    j["Networks"] = Networks(t, ctx.version);
  }
  return j;
}

Json TaskDocument(const model::Task& t, const Context& ctx) {
  Json j = Json::object();
  j["Cluster"] = t.cluster_arn.empty() ? t.cluster : t.cluster_arn;
  j["TaskARN"] = t.task_arn;
  j["Family"] = t.family;
  j["Revision"] = Revision(t);
  j["DesiredStatus"] = std::string(t.desired_status == TaskStatus::kStopped ? "STOPPED" : "RUNNING");
  j["KnownStatus"] = AgentTaskStatus(t, t.last_status);
  Json containers = Json::array();
  for (const auto& def : t.internal.containers) containers.push_back(ContainerDocument(t, def, ctx));
  // The task's limits: CPU in vCPUs (units / 1024), memory in MiB, when the task sets them.
  Json limits = Json::object();
  if (!t.cpu.empty() && std::all_of(t.cpu.begin(), t.cpu.end(), ::isdigit)) {
    limits["CPU"] = static_cast<double>(std::stoll(t.cpu)) / 1024.0;
  }
  if (!t.memory.empty() && std::all_of(t.memory.begin(), t.memory.end(), ::isdigit)) {
    limits["Memory"] = std::stoll(t.memory);
  }
  if (!limits.empty()) j["Limits"] = std::move(limits);
  if (t.pull_started_at) j["PullStartedAt"] = Iso8601(*t.pull_started_at);
  if (t.pull_stopped_at) j["PullStoppedAt"] = Iso8601(*t.pull_stopped_at);
  if (t.execution_stopped_at) j["ExecutionStoppedAt"] = Iso8601(*t.execution_stopped_at);
  if (!t.availability_zone.empty()) j["AvailabilityZone"] = t.availability_zone;
  if (ctx.version >= 4) j["LaunchType"] = std::string(model::ToString(t.launch_type));
  if (!containers.empty()) j["Containers"] = std::move(containers);
  if (ctx.version >= 4) {
    if (t.internal.network_mode == NetworkMode::kAwsvpc && !t.internal.network.vpc_id.empty()) {
      j["VPCID"] = t.internal.network.vpc_id;
    }
    if (!t.internal.service.empty()) j["ServiceName"] = t.internal.service;
    if (ctx.clock) {
      j["ClockDrift"] = Json{{"ClockErrorBound", ctx.clock->error_bound_ms},
                             {"ReferenceTimestamp", Iso8601(ctx.clock->reference)},
                             {"ClockSynchronizationStatus", ctx.clock->synchronized ? "SYNCHRONIZED" : "NOT_SYNCHRONIZED"}};
    }
    // EphemeralStorageMetrics is Fargate's (platform 1.4.0 and later): an EC2 task has none.
    j["FaultInjectionEnabled"] = false;
  }
  return j;
}

namespace {

Json CpuStats(const runtime::ContainerStats* s) {
  Json usage = Json::object();
  usage["total_usage"] = s ? s->cpu_total_ns : 0;
  if (s && !s->percpu_ns.empty()) usage["percpu_usage"] = s->percpu_ns;
  usage["usage_in_kernelmode"] = s ? s->cpu_kernel_ns : 0;
  usage["usage_in_usermode"] = s ? s->cpu_user_ns : 0;
  Json j = Json::object();
  j["cpu_usage"] = std::move(usage);
  if (s && s->system_cpu_ns) j["system_cpu_usage"] = s->system_cpu_ns;
  if (s && s->online_cpus) j["online_cpus"] = s->online_cpus;
  j["throttling_data"] = Json{{"periods", s ? s->throttling_periods : 0},
                              {"throttled_periods", s ? s->throttled_periods : 0},
                              {"throttled_time", s ? s->throttled_time_ns : 0}};
  return j;
}

Json BlkioEntries(const std::vector<runtime::ContainerStats::Blkio>& entries) {
  if (entries.empty()) return nullptr;  // Docker's nil slice
  Json out = Json::array();
  for (const auto& e : entries) {
    out.push_back(Json{{"major", e.major}, {"minor", e.minor}, {"op", e.op}, {"value", e.value}});
  }
  return out;
}

}  // namespace

Json StatsDocument(const model::Task& task, const runtime::ContainerStats& now,
                   const std::optional<runtime::ContainerStats>& prev, int version) {
  // Docker's StatsJSON (github.com/docker/docker/api/types/stats.go), key order as Docker
  // writes it; a time Docker never read is Go's zero time.
  Json j = Json::object();
  j["read"] = Iso8601(now.read_at);
  j["preread"] = prev ? Iso8601(prev->read_at) : "0001-01-01T00:00:00Z";
  j["pids_stats"] = Json{{"current", now.pids}};
  j["blkio_stats"] = Json{{"io_service_bytes_recursive", BlkioEntries(now.io_service_bytes)},
                          {"io_serviced_recursive", BlkioEntries(now.io_serviced)},
                          {"io_queue_recursive", nullptr},
                          {"io_service_time_recursive", nullptr},
                          {"io_wait_time_recursive", nullptr},
                          {"io_merged_recursive", nullptr},
                          {"io_time_recursive", nullptr},
                          {"sectors_recursive", nullptr}};
  j["num_procs"] = 0;
  j["storage_stats"] = Json::object();
  j["cpu_stats"] = CpuStats(&now);
  j["precpu_stats"] = CpuStats(prev ? &*prev : nullptr);
  Json stat = Json::object();
  for (const auto& [k, v] : now.memory_stat) stat[k] = v;
  j["memory_stats"] = Json{{"usage", now.memory_usage},
                           {"max_usage", now.memory_max_usage},
                           {"stats", std::move(stat)},
                           {"limit", now.memory_limit}};
  std::string id = DockerId(task, now.name);
  j["name"] = "/" + id;
  j["id"] = id;
  if (!now.networks.empty()) {
    Json nets = Json::object();
    for (const auto& n : now.networks) {
      nets[n.name] = Json{{"rx_bytes", n.rx_bytes},     {"rx_packets", n.rx_packets},
                          {"rx_errors", n.rx_errors},   {"rx_dropped", n.rx_dropped},
                          {"tx_bytes", n.tx_bytes},     {"tx_packets", n.tx_packets},
                          {"tx_errors", n.tx_errors},   {"tx_dropped", n.tx_dropped}};
    }
    j["networks"] = std::move(nets);
    // v4 adds the agent's rates over its last two samples (ecs-agent/stats
    // NetworkStatsPerSec).
    if (version >= 4 && prev && now.read_at > prev->read_at) {
      auto total = [](const runtime::ContainerStats& s, bool rx) {
        uint64_t sum = 0;
        for (const auto& n : s.networks) sum += rx ? n.rx_bytes : n.tx_bytes;
        return sum;
      };
      double dt = now.read_at - prev->read_at;
      auto rate = [&](bool rx) {
        uint64_t a = total(*prev, rx), b = total(now, rx);
        return b >= a ? static_cast<double>(b - a) / dt : 0.0;
      };
      j["network_rate_stats"] = Json{{"rx_bytes_per_sec", rate(true)}, {"tx_bytes_per_sec", rate(false)}};
    }
  }
  return j;
}

Json CredentialsDocument(const RoleCredentials& c) {
  // ecs-agent/credentials IAMRoleCredentials: RoleArn, AccessKeyId, SecretAccessKey,
  // Token, Expiration.
  return Json{{"RoleArn", c.role_arn},
              {"AccessKeyId", c.access_key_id},
              {"SecretAccessKey", c.secret_access_key},
              {"Token", c.token},
              {"Expiration", Iso8601Seconds(c.expiration)}};
}

}  // namespace kecs::api::metadata
