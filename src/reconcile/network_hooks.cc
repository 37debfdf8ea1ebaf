#include "reconcile/network_hooks.h"

#include <functional>
#include <optional>

#include <fmt/format.h>

#include "model/arn.h"
#include "net/domain/ip.h"
#include "net/kernel/host_ports.h"
#include "net/domain/ipam.h"
#include "net/domain/vpc.h"

namespace kecs::reconcile {

namespace {

// The VPC's resolver: base+2 of its primary CIDR (Amazon's Route 53 Resolver address).
std::string VpcResolver(const std::optional<state::Object>& vpc) {
  if (!vpc) return "";
  auto c = net::Ipv4Cidr::Parse(JStr(vpc->doc, "CidrBlock"));
  return c ? net::Ipv4ToString(c->dns()) : "";
}

// The host bridge of bridge-mode tasks; addresses are durable allocations like any other.
constexpr const char* kBridgePool = "kecs-bridge";
constexpr const char* kLocal = "local";

// The slot of the VPC's link to the host, assigned once per VPC.
Result<int64_t> TransitSlot(state::Tx& tx, const std::string& region, const std::string& vpc_id) {
  ASSIGN_OR_RETURN(auto vpc, tx.Get(net::kVpc, region, vpc_id));
  if (!vpc) return NotFound("VPC " + vpc_id + " no longer exists");
  if (auto slot = JOptInt(vpc->doc, "kecs:transitSlot")) return *slot;
  ASSIGN_OR_RETURN(int64_t n, tx.NextSequence("kecs-transit-slot"));
  vpc->doc["kecs:transitSlot"] = n - 1;
  RETURN_IF_ERROR(tx.Put(*vpc));
  return n - 1;
}

}  // namespace

Status ProvisionNetwork(state::Tx& tx, state::Object& task, double now,
                        const NetworkHookOptions& options) {
  const std::string& bridge_cidr = options.bridge_cidr;
  Json& plan = task.doc["kecs:network"];
  std::string mode = JStr(task.doc, "kecs:networkMode");
  if (mode == "bridge") {
    if (JGet(plan, "bridgeIp")) return Status::Ok();
    auto cidr = net::Ipv4Cidr::Parse(bridge_cidr);
    if (!cidr) return InvalidArgument("bad bridge CIDR " + bridge_cidr);
    auto ip = net::AllocateIpv4(tx, kLocal, kBridgePool, *cidr, "task:" + task.id);
    if (!ip.ok()) return ResourceExhausted("ResourceInitializationError: " + ip.status().message());
    plan["bridgeIp"] = net::Ipv4ToString(*ip);
    return Status::Ok();
  }
  if (mode != "awsvpc") return Status::Ok();
  if (JGet(plan, "eni")) return Status::Ok();  // already provisioned (a repeated step)
  auto subnets = plan.value("subnets", std::vector<std::string>{});
  if (subnets.empty()) return FailedPrecondition("ResourceInitializationError: the task has no subnet");
  auto arn = model::Arn::Parse(JStr(task.doc, "taskArn"));
  std::string account = arn ? arn->account : "000000000000";
  std::string attachment;
  for (const auto& a : task.doc.value("attachments", Json::array())) {
    if (JStr(a, "type") == "ElasticNetworkInterface") attachment = JStr(a, "id");
  }
  // The listed subnets in order (the launch put the roomiest first): a full one is skipped,
  // as ECS moves on to the task's other subnets.
  std::optional<state::Object> subnet;
  Result<state::Object> eni = NotFound("no subnet");
  for (const auto& id : subnets) {
    ASSIGN_OR_RETURN(auto candidate, tx.Get(net::kSubnet, task.region, id));
    if (!candidate) continue;
    net::EniSpec spec;
    spec.subnet = &*candidate;
    spec.groups = plan.value("securityGroups", std::vector<std::string>{});
    spec.description = fmt::format("arn:aws:ecs:{}:{}:attachment/{}", task.region, account, attachment);
    spec.requester_managed = true;
    spec.attached = true;
    spec.ipv6 = !candidate->doc.value("Ipv6CidrBlockAssociationSet", Json::array()).empty();
    eni = net::CreateEni(tx, net::Scope{task.region, account, now}, spec);
    if (eni.ok()) {
      subnet = std::move(candidate);
      break;
    }
    if (eni.status().code() != Code::kResourceExhausted) return eni.status();
  }
  if (!eni.ok()) {
    if (eni.status().code() == Code::kResourceExhausted) {
      return ResourceExhausted("ResourceInitializationError: failed to configure ENI: " +
                               eni.status().message());
    }
    return NotFound(fmt::format("ResourceInitializationError: subnet {} no longer exists", subnets.front()));
  }
  if (subnet->id != subnets.front()) {
    // The task landed in another of its subnets: its attachment and zone say so.
    for (auto& a : task.doc["attachments"]) {
      if (JStr(a, "type") != "ElasticNetworkInterface") continue;
      for (auto& d : a["details"]) {
        if (JStr(d, "name") == "subnetId") d["value"] = subnet->id;
      }
    }
    task.doc["availabilityZone"] = JStr(subnet->doc, "AvailabilityZone");
  }
  auto cidr = net::Ipv4Cidr::Parse(JStr(subnet->doc, "CidrBlock"));
  ASSIGN_OR_RETURN(auto vpc, tx.Get(net::kVpc, task.region, subnet->parent));
  ASSIGN_OR_RETURN(bool is_public, net::SubnetIsPublic(tx, task.region, *subnet));
  uint32_t ip = *net::ParseIpv4(JStr(eni->doc, "PrivateIpAddress"));
  Json e = {{"id", eni->id},
            {"mac", JStr(eni->doc, "MacAddress")},
            {"ip", JStr(eni->doc, "PrivateIpAddress")},
            {"prefixLen", cidr->prefix},
            {"gateway", net::Ipv4ToString(cidr->router())},
            {"subnetId", subnet->id},
            {"subnetCidr", cidr->ToString()},
            {"vpcId", subnet->parent},
            {"vpcCidr", vpc ? JStr(vpc->doc, "CidrBlock") : ""},
            {"dnsServer", VpcResolver(vpc)},
            {"internetEgress", is_public},
            {"hostname", net::IpHostname(ip)},
            {"privateDnsName", JStr(eni->doc, "PrivateDnsName")}};
  Json cidrs = Json::array();
  if (vpc) {
    for (const auto& a : vpc->doc.value("CidrBlockAssociationSet", Json::array())) cidrs.push_back(JStr(a, "CidrBlock"));
  }
  e["vpcCidrs"] = cidrs;
  ASSIGN_OR_RETURN(int64_t slot, TransitSlot(tx, task.region, subnet->parent));
  e["transitSlot"] = slot;
  if (JBool(plan, "assignPublicIp")) {
    // One host port per port mapping, forwarded to the ENI's address.
    Json published = Json::array();
    for (const auto& c : task.doc.value("kecs:containers", Json::array())) {
      for (const auto& pm : c.value("portMappings", Json::array())) {
        std::string proto = JStr(pm, "protocol", "tcp");
        auto port = net::AllocatePort(
            tx, "public", proto, {options.public_port_first, options.public_port_last}, task.id,
            options.probe_host_ports ? std::function<bool(int)>([&](int p) { return net::HostPortFree(proto, p); })
                                     : std::function<bool(int)>());
        if (!port.ok()) {
          if (port.status().code() == Code::kResourceExhausted) {
            return ResourceExhausted(fmt::format(
                "ResourceInitializationError: unable to assign a public IP: every host port in "
                "{}-{} is in use (--public-port-range)",
                options.public_port_first, options.public_port_last));
          }
          return port.status();
        }
        published.push_back({{"container", JStr(c, "name")}, {"protocol", proto},
                             {"containerPort", JInt(pm, "containerPort")}, {"hostPort", *port},
                             {"bindIp", options.bind_ip}});
      }
    }
    plan["published"] = published;
    e["publicIp"] = options.public_ip;
    // The ENI's association carries the public address, as on AWS.
    std::string dashed = options.public_ip;
    for (char& ch : dashed) ch = ch == '.' ? '-' : ch;
    Json assoc = {{"IpOwnerId", "amazon"},
                  {"PublicDnsName", task.region == "us-east-1"
                                        ? fmt::format("ec2-{}.compute-1.amazonaws.com", dashed)
                                        : fmt::format("ec2-{}.{}.compute.amazonaws.com", dashed, task.region)},
                  {"PublicIp", options.public_ip}};
    eni->doc["Association"] = assoc;
    eni->doc["PrivateIpAddresses"][0]["Association"] = assoc;
    RETURN_IF_ERROR(tx.Put(*eni));
  }
  if (auto v6 = JOptStr(eni->doc, "Ipv6Address")) {
    e["ipv6"] = *v6;
    for (const auto& a : subnet->doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
      e["ipv6Prefix"] = JStr(a, "Ipv6CidrBlock");
    }
  }
  plan["eni"] = e;
  return Status::Ok();
}

Status ReleaseNetwork(state::Tx& tx, state::Object& task) {
  const Json& plan = task.doc.value("kecs:network", Json::object());
  RETURN_IF_ERROR(net::ReleaseIps(tx, kLocal, "task:" + task.id));
  if (const Json* eni = JGet(plan, "eni")) {
    RETURN_IF_ERROR(net::DeleteEni(tx, task.region, JStr(*eni, "id")));
  }
  return net::ReleasePorts(tx, task.id);
}

}  // namespace kecs::reconcile
