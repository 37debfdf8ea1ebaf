#include "reconcile/task_spec.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace kecs::reconcile {
namespace {

// Where the ECS agent serves the task metadata and credentials endpoints.
constexpr const char* kEndpointBase = "http://169.254.170.2";

// The variables the ECS agent gives each container: the task metadata endpoint (v3 and
// v4) and, with a task role, the credentials endpoint. The agent merges them over the
// container definition's environment (its values win), so the caller drops the user's
// entries of the same names.
std::vector<std::pair<std::string, std::string>> AgentEnvironment(const model::Task& task,
                                                                  const model::ContainerDefinition& c) {
  std::vector<std::pair<std::string, std::string>> env;
  if (!c.metadata_id.empty()) {
    env.emplace_back("ECS_CONTAINER_METADATA_URI", std::string(kEndpointBase) + "/v3/" + c.metadata_id);
    env.emplace_back("ECS_CONTAINER_METADATA_URI_V4", std::string(kEndpointBase) + "/v4/" + c.metadata_id);
    // The agent's own API (task scale-in protection, issue 18), as amazon-ecs-agent's
    // AgentURIFormat "http://169.254.170.2/api/%s" with the container's v3 endpoint id.
    env.emplace_back("ECS_AGENT_URI", std::string(kEndpointBase) + "/api/" + c.metadata_id);
  }
  if (!task.internal.task_role_arn.empty() && !task.internal.credentials_id.empty()) {
    env.emplace_back("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/" + task.internal.credentials_id);
  }
  return env;
}

std::vector<std::pair<std::string, std::string>> Pairs(const std::vector<model::KeyValuePair>& kvs) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : kvs) out.emplace_back(kv.name, kv.value);
  return out;
}

}  // namespace

runtime::NetworkSpec EniNetworkSpec(const model::TaskEni& eni) {
  runtime::NetworkSpec n;
  n.mode = model::NetworkMode::kAwsvpc;
  n.eni_id = eni.id;
  n.mac = eni.mac;
  n.ip = eni.ip;
  n.prefix_len = eni.prefix_len;
  n.gateway = eni.gateway;
  n.subnet_id = eni.subnet_id;
  n.subnet_cidr = eni.subnet_cidr;
  n.vpc_id = eni.vpc_id;
  n.vpc_cidr = eni.vpc_cidr;
  n.dns_server = eni.dns_server;
  n.dhcp_nameservers = eni.dhcp_nameservers;
  n.dhcp_search = eni.dhcp_search;
  n.internet_egress = eni.internet_egress;
  n.hostname = eni.hostname;
  n.vpc_cidrs = eni.vpc_cidrs;
  n.transit_slot = eni.transit_slot;
  n.ipv6 = eni.ipv6.value_or("");
  n.ipv6_prefix = eni.ipv6_prefix.value_or("");
  return n;
}

runtime::TaskSpec SpecFromTask(const model::Task& task) {
  runtime::TaskSpec s;
  s.task_id = task.id;
  s.task_arn = task.task_arn;
  s.cluster = task.cluster;
  s.family = task.family;
  const model::TaskNetwork& net = task.internal.network;
  s.network.mode = task.internal.network_mode;
  if (net.eni) {
    s.network = EniNetworkSpec(*net.eni);
    s.network.mode = task.internal.network_mode;
  }
  s.network.bridge_ip = net.bridge_ip.value_or("");
  if (net.instance) {
    s.network.instance_id = net.instance->instance_id;
    s.network.instance_ip = net.instance->ip;
  }
  for (const auto& p : net.published) {
    s.network.published.push_back({p.protocol, p.container_port, p.host_port, p.bind_ip});
  }
  for (const auto& c : task.internal.containers) {
    runtime::ContainerSpec cs;
    cs.name = c.name;
    cs.image = c.image;
    cs.entry_point = c.entry_point;
    cs.command = c.command;
    cs.environment = AgentEnvironment(task, c);
    std::set<std::string> agent_names;
    for (const auto& [name, value] : cs.environment) agent_names.insert(name);
    for (const auto& e : c.environment) {
      if (!agent_names.count(e.name)) cs.environment.emplace_back(e.name, e.value);
    }
    cs.working_directory = c.working_directory;
    cs.user = c.user;
    cs.cpu_units = c.cpu;
    cs.memory_mib = c.memory.value_or(0);
    cs.memory_reservation_mib = c.memory_reservation.value_or(0);
    cs.essential = c.essential;
    cs.readonly_rootfs = c.readonly_root_filesystem;
    for (const auto& u : c.ulimits) cs.ulimits.push_back({u.name, u.soft_limit, u.hard_limit});
    cs.stop_timeout_s = c.stop_timeout.value_or(30);
    cs.hostname = c.hostname;
    cs.dns_servers = c.dns_servers;
    cs.dns_search_domains = c.dns_search_domains;
    for (const auto& h : c.extra_hosts) cs.extra_hosts.emplace_back(h.hostname, h.ip_address);
    for (const auto& pm : c.port_mappings) cs.ports.push_back({pm.protocol, pm.container_port, pm.host_port, ""});
    cs.health_check = c.health_check;
    cs.depends_on = c.depends_on;
    cs.mount_points = c.mount_points;
    cs.volumes_from = c.volumes_from;
    cs.linux_parameters = c.linux_parameters;
    cs.privileged = c.privileged;
    cs.system_controls = Pairs(c.system_controls);
    cs.docker_labels = Pairs(c.docker_labels);
    if (c.log_configuration) {
      cs.log_driver = c.log_configuration->log_driver;
      cs.log_options = Pairs(c.log_configuration->options);
    }
    s.containers.push_back(std::move(cs));
  }
  s.volumes = task.internal.volumes;
  s.pid_mode = task.internal.pid_mode;
  s.ipc_mode = task.internal.ipc_mode;
  return s;
}

}  // namespace kecs::reconcile
