#include "reconcile/task_spec.h"

#include <algorithm>

namespace kecs::reconcile {

runtime::TaskSpec SpecFromTask(const Json& task, const Json& internal, const std::string& task_id,
                               const std::string& cluster) {
  runtime::TaskSpec s;
  s.task_id = task_id;
  s.task_arn = JStr(task, "taskArn");
  s.cluster = cluster;
  const Json& net = internal.value("network", Json::object());
  s.network.mode = JStr(internal, "networkMode", "bridge");
  const Json& eni = net.value("eni", Json::object());
  s.network.eni_id = JStr(eni, "id");
  s.network.mac = JStr(eni, "mac");
  s.network.ip = JStr(eni, "ip");
  s.network.prefix_len = static_cast<int>(JInt(eni, "prefixLen"));
  s.network.gateway = JStr(eni, "gateway");
  s.network.subnet_id = JStr(eni, "subnetId");
  s.network.subnet_cidr = JStr(eni, "subnetCidr");
  s.network.vpc_id = JStr(eni, "vpcId");
  s.network.vpc_cidr = JStr(eni, "vpcCidr");
  s.network.dns_server = JStr(eni, "dnsServer");
  s.network.internet_egress = JBool(eni, "internetEgress");
  s.network.hostname = JStr(eni, "hostname");
  s.network.vpc_cidrs = eni.value("vpcCidrs", std::vector<std::string>{});
  s.network.transit_slot = static_cast<int>(JInt(eni, "transitSlot", -1));
  s.network.ipv6 = JStr(eni, "ipv6");
  s.network.ipv6_prefix = JStr(eni, "ipv6Prefix");
  s.network.bridge_ip = JStr(net, "bridgeIp");
  for (const auto& p : net.value("published", Json::array())) {
    runtime::PortBinding b;
    b.protocol = JStr(p, "protocol", "tcp");
    b.container_port = static_cast<int>(JInt(p, "containerPort"));
    b.host_port = static_cast<int>(JInt(p, "hostPort"));
    b.host_ip = JStr(p, "bindIp");
    s.network.published.push_back(b);
  }
  for (const auto& c : internal.value("containers", Json::array())) {
    runtime::ContainerSpec cs;
    cs.name = JStr(c, "name");
    cs.image = JStr(c, "image");
    cs.entry_point = c.value("entryPoint", std::vector<std::string>{});
    cs.command = c.value("command", std::vector<std::string>{});
    for (const auto& e : c.value("environment", Json::array())) {
      cs.environment.emplace_back(JStr(e, "name"), JStr(e, "value"));
    }
    cs.working_directory = JStr(c, "workingDirectory");
    cs.user = JStr(c, "user");
    cs.cpu_units = JInt(c, "cpu");
    cs.memory_mib = JInt(c, "memory");
    cs.memory_reservation_mib = JInt(c, "memoryReservation");
    cs.essential = JBool(c, "essential", true);
    cs.readonly_rootfs = JBool(c, "readonlyRootFilesystem");
    for (const auto& u : c.value("ulimits", Json::array())) {
      cs.ulimits.push_back({JStr(u, "name"), JInt(u, "softLimit"), JInt(u, "hardLimit")});
    }
    cs.stop_timeout_s = static_cast<int>(JInt(c, "stopTimeout", 30));
    cs.hostname = JStr(c, "hostname");
    cs.dns_servers = c.value("dnsServers", std::vector<std::string>{});
    cs.dns_search_domains = c.value("dnsSearchDomains", std::vector<std::string>{});
    for (const auto& h : c.value("extraHosts", Json::array())) {
      cs.extra_hosts.emplace_back(JStr(h, "hostname"), JStr(h, "ipAddress"));
    }
    for (const auto& pm : c.value("portMappings", Json::array())) {
      runtime::PortBinding b;
      b.protocol = JStr(pm, "protocol", "tcp");
      b.container_port = static_cast<int>(JInt(pm, "containerPort"));
      b.host_port = static_cast<int>(JInt(pm, "hostPort"));
      cs.ports.push_back(b);
    }
    s.containers.push_back(std::move(cs));
  }
  return s;
}

}  // namespace kecs::reconcile
