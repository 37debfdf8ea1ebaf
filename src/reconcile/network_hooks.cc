#include "reconcile/network_hooks.h"

#include <functional>
#include <optional>

#include <fmt/format.h>

#include "base/json.h"
#include "model/arn.h"
#include "model/kinds.h"
#include "net/domain/ip.h"
#include "net/kernel/host_ports.h"
#include "net/domain/ipam.h"
#include "net/domain/dhcp.h"
#include "net/domain/vpc.h"
#include "state/records/network.h"

namespace kecs::reconcile {

namespace {

// The host bridge of bridge-mode tasks; addresses are durable allocations like any other.
constexpr const char* kBridgePool = "kecs-bridge";
constexpr const char* kLocal = "local";
constexpr const char* kEniAttachment = "ElasticNetworkInterface";

}  // namespace

std::string BridgePool(const std::string& instance_id) { return std::string(kBridgePool) + ":" + instance_id; }

namespace {

// A bridge- or host-mode task placed on a container instance that is one of kecs's EC2
// instances (its ec2InstanceId names an ec2:instance): that instance, which must be
// running. Any other container instance is this host (nothing recorded).
Status ProvisionInstanceHost(state::Tx& tx, model::Task& task) {
  auto& net = task.internal.network;
  if (net.instance || !task.internal.placement || task.internal.placement->instance.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto ci, tx.Get(model::kInstance, task.region, task.internal.placement->instance));
  if (!ci) return Status::Ok();
  const Json* ec2_id = JGet(ci->doc, "ec2InstanceId");
  if (!ec2_id || !ec2_id->is_string() || ec2_id->get<std::string>().empty()) return Status::Ok();
  std::string id = ec2_id->get<std::string>();
  ASSIGN_OR_RETURN(auto inst, tx.Get(net::kEc2Instance, task.region, id));
  if (!inst) return Status::Ok();
  std::string state;
  if (const Json* st = JGet(inst->doc, "State")) state = JStr(*st, "Name");
  // No source found for the agent's wording; kecs's.
  if (state != "running") {
    return FailedPrecondition(fmt::format("ResourceInitializationError: instance {} is {}, not running", id,
                                          state.empty() ? "in no state" : state));
  }
  std::string ip = JStr(inst->doc, "PrivateIpAddress");
  if (ip.empty()) return FailedPrecondition(fmt::format("ResourceInitializationError: instance {} has no private address", id));
  net.instance = model::TaskInstanceHost{id, ip};
  return Status::Ok();
}

Status ProvisionBridge(state::Tx& tx, model::Task& task, const NetworkHookOptions& options) {
  auto& net = task.internal.network;
  if (net.bridge_ip) return Status::Ok();
  auto cidr = net::Ipv4Cidr::Parse(options.bridge_cidr);
  if (!cidr) return InvalidArgument("bad bridge CIDR " + options.bridge_cidr);
  // Each EC2 instance has a bridge of its own (inside its namespace), so its own pool.
  std::string pool = net.instance ? BridgePool(net.instance->instance_id) : kBridgePool;
  auto ip = net::AllocateIpv4(tx, kLocal, pool, *cidr, "task:" + task.id);
  if (!ip.ok()) return ResourceExhausted("ResourceInitializationError: " + ip.status().message());
  net.bridge_ip = net::Ipv4ToString(*ip);
  return Status::Ok();
}

// One host port per port mapping, forwarded to the ENI's address.
Status PublishPorts(state::Tx& tx, model::Task& task, const NetworkHookOptions& options) {
  std::vector<model::PublishedPort> published;
  for (const auto& c : task.internal.containers) {
    for (const auto& pm : c.port_mappings) {
      const std::string& proto = pm.protocol;
      std::function<bool(int)> free;
      if (options.probe_host_ports) free = [&](int p) { return net::HostPortFree(proto, p); };
      auto port = net::AllocatePort(tx, "public", proto, {options.public_port_first, options.public_port_last},
                                    task.id, free);
      if (!port.ok()) {
        if (port.status().code() == Code::kResourceExhausted) {
          return ResourceExhausted(fmt::format(
              "ResourceInitializationError: unable to assign a public IP: every host port in "
              "{}-{} is in use (--public-port-range)",
              options.public_port_first, options.public_port_last));
        }
        return port.status();
      }
      published.push_back({c.name, proto, pm.container_port, *port, options.bind_ip});
    }
  }
  task.internal.network.published = std::move(published);
  return Status::Ok();
}

}  // namespace

Result<model::TaskEni> EniFacts(state::Tx& tx, const std::string& region, const state::Object& eni,
                                const state::Object& subnet) {
  state::records::SubnetView sv = state::records::ReadSubnet(subnet);
  state::records::EniView ev = state::records::ReadEni(eni);
  auto cidr = net::Ipv4Cidr::Parse(sv.cidr_block);
  if (!cidr) return Internal(fmt::format("subnet {} has no valid CIDR block", sv.id));
  ASSIGN_OR_RETURN(auto vpc, tx.Get(net::kVpc, region, sv.vpc_id));
  model::TaskEni e;
  e.id = ev.id;
  e.mac = ev.mac_address;
  e.ip = ev.private_ip_address;
  e.prefix_len = cidr->prefix;
  e.gateway = net::Ipv4ToString(cidr->router());
  e.subnet_id = sv.id;
  e.subnet_cidr = cidr->ToString();
  e.vpc_id = sv.vpc_id;
  if (auto ip = net::ParseIpv4(ev.private_ip_address)) e.hostname = net::IpHostname(*ip);
  e.private_dns_name = ev.private_dns_name;
  if (vpc) {
    state::records::VpcView vv = state::records::ReadVpc(*vpc);
    e.vpc_cidr = vv.cidr_block;
    e.vpc_cidrs = vv.cidr_blocks;
    // The VPC's resolver: base+2 of its primary CIDR (Amazon's Route 53 Resolver address).
    if (auto vc = net::Ipv4Cidr::Parse(vv.cidr_block)) e.dns_server = net::Ipv4ToString(vc->dns());
    // The VPC's DHCP options set as it is now; a later change reaches only tasks started
    // after it (on AWS, at the next lease renewal).
    ASSIGN_OR_RETURN(net::VpcDhcp dhcp, net::ReadVpcDhcp(tx, region, vpc->doc, e.dns_server));
    e.dhcp_nameservers = std::move(dhcp.nameservers);
    e.dhcp_search = std::move(dhcp.search);
  }
  ASSIGN_OR_RETURN(e.transit_slot, state::records::VpcTransitSlot(tx, region, sv.vpc_id));
  if (ev.ipv6_address) {
    e.ipv6 = ev.ipv6_address;
    if (!sv.ipv6_cidr_blocks.empty()) e.ipv6_prefix = sv.ipv6_cidr_blocks.back();
  }
  return e;
}

Status ProvisionNetwork(state::Tx& tx, model::Task& task, double now, const NetworkHookOptions& options) {
  // What the task publishes on the host is reached at the configured publish address.
  for (auto& c : task.containers) {
    for (auto& b : c.network_bindings) b.bind_ip = options.bind_ip;
  }
  const model::NetworkMode mode = task.internal.network_mode;
  if (mode == model::NetworkMode::kBridge || mode == model::NetworkMode::kHost) {
    RETURN_IF_ERROR(ProvisionInstanceHost(tx, task));
    if (task.internal.network.instance) {
      // Published on the instance's address, on every interface of it, as AWS shows it.
      for (auto& c : task.containers) {
        for (auto& b : c.network_bindings) b.bind_ip = "0.0.0.0";
      }
    }
  }
  if (mode == model::NetworkMode::kBridge) return ProvisionBridge(tx, task, options);
  if (task.internal.network_mode != model::NetworkMode::kAwsvpc) return Status::Ok();
  auto& net = task.internal.network;
  if (net.eni) return Status::Ok();  // already provisioned (a repeated step)
  if (net.subnets.empty()) return FailedPrecondition("ResourceInitializationError: the task has no subnet");
  auto arn = model::Arn::Parse(task.task_arn);
  std::string account = arn ? arn->account : "000000000000";
  std::string attachment;
  for (const auto& a : task.attachments) {
    if (a.type == kEniAttachment) attachment = a.id;
  }
  // The listed subnets in order (the launch put the roomiest first): a full one is skipped,
  // as ECS moves on to the task's other subnets.
  std::optional<state::Object> subnet;
  Result<state::Object> eni = NotFound("no subnet");
  for (const auto& id : net.subnets) {
    ASSIGN_OR_RETURN(auto candidate, tx.Get(net::kSubnet, task.region, id));
    if (!candidate) continue;
    net::EniSpec spec;
    spec.subnet = &*candidate;
    spec.groups = net.security_groups;
    spec.description = fmt::format("arn:aws:ecs:{}:{}:attachment/{}", task.region, account, attachment);
    spec.requester_managed = true;
    spec.attached = true;
    spec.ipv6 = !state::records::ReadSubnet(*candidate).ipv6_cidr_blocks.empty();
    eni = net::CreateEni(tx, net::Scope{task.region, account, now}, spec);
    if (eni.ok()) {
      subnet = std::move(candidate);
      break;
    }
    if (eni.status().code() != Code::kResourceExhausted) return eni.status();
  }
  if (!eni.ok()) {
    if (eni.status().code() == Code::kResourceExhausted) {
      return ResourceExhausted("ResourceInitializationError: failed to configure ENI: " + eni.status().message());
    }
    return NotFound(fmt::format("ResourceInitializationError: subnet {} no longer exists", net.subnets.front()));
  }
  state::records::SubnetView sv = state::records::ReadSubnet(*subnet);
  if (sv.id != net.subnets.front()) {
    // The task landed in another of its subnets: its attachment and zone say so.
    for (auto& a : task.attachments) {
      if (a.type != kEniAttachment) continue;
      for (auto& d : a.details) {
        if (d.name == "subnetId") d.value = sv.id;
      }
    }
    task.availability_zone = sv.availability_zone;
  }
  ASSIGN_OR_RETURN(bool is_public, net::SubnetIsPublic(tx, task.region, *subnet));
  ASSIGN_OR_RETURN(model::TaskEni e, EniFacts(tx, task.region, *eni, *subnet));
  e.internet_egress = is_public;
  if (net.assign_public_ip) {
    RETURN_IF_ERROR(PublishPorts(tx, task, options));
    e.public_ip = options.public_ip;
    // The ENI's association carries the public address, as on AWS.
    state::records::SetEniPublicIp(*eni, options.public_ip);
    RETURN_IF_ERROR(tx.Put(*eni));
  }
  net.eni = std::move(e);
  return Status::Ok();
}

Status ReleaseNetwork(state::Tx& tx, model::Task& task) {
  RETURN_IF_ERROR(net::ReleaseIps(tx, kLocal, "task:" + task.id));
  if (task.internal.network.eni) RETURN_IF_ERROR(net::DeleteEni(tx, task.region, task.internal.network.eni->id));
  return net::ReleasePorts(tx, task.id);
}

}  // namespace kecs::reconcile
