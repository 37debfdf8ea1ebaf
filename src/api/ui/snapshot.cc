#include "api/ui/snapshot.h"

#include <algorithm>
#include <map>
#include <set>

#include "model/elb.h"
#include "model/kinds.h"
#include "model/service.h"
#include "model/task.h"
#include "net/domain/discovery.h"
#include "net/domain/ip.h"
#include "net/domain/vpc.h"
#include "state/records/elb.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::api::ui {
namespace {

// Member `key` of `j` when it is an array (an object), else an empty one: a document of an
// unexpected shape shows less, never fails the snapshot.
const Json& ArrayOf(const Json& j, std::string_view key) {
  static const Json empty = Json::array();
  const Json* m = JGet(j, key);
  return m && m->is_array() ? *m : empty;
}
const Json& ObjectOf(const Json& j, std::string_view key) {
  static const Json empty = Json::object();
  const Json* m = JGet(j, key);
  return m && m->is_object() ? *m : empty;
}

std::string NameTag(const Json& doc) {
  for (const auto& t : ArrayOf(doc, "Tags")) {
    if (JStr(t, "Key") == "Name") return JStr(t, "Value");
  }
  return "";
}

Result<std::vector<state::Object>> ListAll(state::Tx& tx, const char* kind) {
  state::Query q;
  q.kind = kind;
  q.any_region = true;
  return tx.List(q);
}

// The last path segment of an ARN ("arn:...:service/srv-abc" -> "srv-abc").
std::string ArnTail(const std::string& arn) {
  auto slash = arn.rfind('/');
  return slash == std::string::npos ? arn : arn.substr(slash + 1);
}

bool OnItsWay(model::TaskStatus s) {
  using model::TaskStatus;
  return s == TaskStatus::kProvisioning || s == TaskStatus::kPending || s == TaskStatus::kActivating;
}

Status ReadNetwork(state::Tx& tx, Snapshot& out) {
  ASSIGN_OR_RETURN(auto vpcs, ListAll(tx, net::kVpc));
  ASSIGN_OR_RETURN(auto subnets, ListAll(tx, net::kSubnet));
  std::map<std::string, size_t> vpc_index;
  for (const auto& v : vpcs) {
    VpcNode n;
    n.region = v.region;
    n.id = v.id;
    n.cidr = JStr(v.doc, "CidrBlock");
    n.name = NameTag(v.doc);
    n.is_default = JBool(v.doc, "IsDefault");
    vpc_index[v.id] = out.vpcs.size();
    out.vpcs.push_back(std::move(n));
  }
  for (const auto& s : subnets) {
    auto it = vpc_index.find(JStr(s.doc, "VpcId"));
    if (it == vpc_index.end()) continue;
    SubnetNode n;
    n.id = s.id;
    n.cidr = JStr(s.doc, "CidrBlock");
    n.zone = JStr(s.doc, "AvailabilityZone");
    n.name = NameTag(s.doc);
    if (auto c = net::Ipv4Cidr::Parse(n.cidr)) n.total = static_cast<int64_t>(c->size()) - 5;
    ASSIGN_OR_RETURN(n.available, net::AvailableIpAddressCount(tx, s.region, s));
    out.vpcs[it->second].subnets.push_back(std::move(n));
  }
  ASSIGN_OR_RETURN(auto groups, ListAll(tx, net::kSecurityGroup));
  for (const auto& g : groups) {
    out.groups.push_back({g.id, JStr(g.doc, "GroupName"), JStr(g.doc, "VpcId")});
    for (const auto& r : ArrayOf(g.doc, "kecs:rules")) {
      if (JBool(r, "IsEgress")) continue;
      GroupEdge e;
      e.to = g.id;
      e.protocol = JStr(r, "IpProtocol");
      e.from_port = JInt(r, "FromPort", -1);
      e.to_port = JInt(r, "ToPort", -1);
      if (const Json* ref = JGet(r, "ReferencedGroupInfo")) {
        e.from = JStr(*ref, "GroupId");
        e.from_kind = "group";
      } else if (auto c4 = JOptStr(r, "CidrIpv4")) {
        e.from = *c4;
        e.from_kind = "cidr";
      } else if (auto c6 = JOptStr(r, "CidrIpv6")) {
        e.from = *c6;
        e.from_kind = "cidr";
      } else if (auto pl = JOptStr(r, "PrefixListId")) {
        e.from = *pl;
        e.from_kind = "prefix-list";
      } else {
        continue;
      }
      out.edges.push_back(std::move(e));
    }
  }
  return Status::Ok();
}

Status ReadTasks(state::Tx& tx, Snapshot& out) {
  state::Query q;
  q.any_region = true;
  q.status_not = std::string(model::ToString(model::TaskStatus::kStopped));
  ASSIGN_OR_RETURN(auto tasks, state::records::ListTasks(tx, q));
  for (const auto& t : tasks) {
    TaskNode n;
    n.region = t.region;
    n.id = t.id;
    n.arn = t.task_arn;
    n.cluster = t.cluster;
    n.family = t.family;
    n.task_definition_arn = t.task_definition_arn;
    n.last_status = std::string(model::ToString(t.last_status));
    n.desired_status = std::string(model::ToString(t.desired_status));
    n.health = std::string(model::ToString(t.health_status));
    n.launch_type = std::string(model::ToString(t.launch_type));
    n.network_mode = std::string(model::ToString(t.internal.network_mode));
    n.group = t.group;
    if (t.group.starts_with("service:")) n.service = t.group.substr(8);
    n.bridge_ip = t.internal.network.bridge_ip;
    n.started_at = t.started_at;
    if (const auto& eni = t.internal.network.eni) {
      EniNode e;
      e.id = eni->id;
      e.subnet_id = eni->subnet_id;
      e.vpc_id = eni->vpc_id;
      e.private_ip = eni->ip;
      e.ipv6 = eni->ipv6;
      e.public_ip = eni->public_ip;
      e.security_groups = t.internal.network.security_groups;
      n.eni = std::move(e);
    }
    for (const auto& p : t.internal.network.published) {
      n.host_ports.push_back({p.container, p.protocol, p.container_port, p.host_port, p.bind_ip});
    }
    for (const auto& c : t.containers) n.containers.push_back(c.name);
    out.tasks.push_back(std::move(n));
  }
  return Status::Ok();
}

Status ReadDiscovery(state::Tx& tx, Snapshot& out) {
  ASSIGN_OR_RETURN(auto namespaces, ListAll(tx, net::discovery::kNamespace));
  std::map<std::string, std::string> ns_names;
  for (const auto& ns : namespaces) ns_names[ns.id] = JStr(ns.doc, "Name");
  ASSIGN_OR_RETURN(auto services, ListAll(tx, net::discovery::kService));
  ASSIGN_OR_RETURN(auto instances, ListAll(tx, net::discovery::kInstance));
  std::map<std::string, size_t> by_id;
  for (const auto& s : services) {
    DiscoveryNode n;
    n.region = s.region;
    n.id = s.id;
    n.arn = JStr(s.doc, "Arn");
    n.name = JStr(s.doc, "Name");
    n.namespace_name = ns_names[JStr(s.doc, "NamespaceId")];
    n.dns_name = n.namespace_name.empty() ? n.name : n.name + "." + n.namespace_name;
    by_id[s.id] = out.discovery.size();
    out.discovery.push_back(std::move(n));
  }
  for (const auto& i : instances) {
    auto it = by_id.find(i.parent);
    if (it == by_id.end()) continue;
    const Json& attrs = ObjectOf(i.doc, "Attributes");
    out.discovery[it->second].instances.push_back(
        {JStr(i.doc, "Id"), JStr(attrs, "AWS_INSTANCE_IPV4"), JStr(attrs, "AWS_INSTANCE_PORT"),
         JStr(i.doc, "kecs:health", "HEALTHY")});
  }
  return Status::Ok();
}

Status ReadServices(state::Tx& tx, Snapshot& out) {
  state::records::ServiceQuery q;
  q.any_region = true;
  ASSIGN_OR_RETURN(auto services, state::records::ListServices(tx, q));
  for (const auto& s : services) {
    if (s.status == model::ServiceStatus::kInactive) continue;
    ServiceNode n;
    n.region = s.region;
    n.name = s.name;
    n.arn = s.arn;
    n.cluster = s.cluster;
    n.status = std::string(model::ToString(s.status));
    n.desired = s.desired_count;
    for (const auto& d : s.deployments) {
      n.deployments.push_back({d.id, std::string(model::ToString(d.status)), d.task_definition,
                               std::string(model::ToString(d.rollout_state)), d.desired_count, 0});
    }
    const Json& awsvpc = ObjectOf(s.network_configuration, "awsvpcConfiguration");
    for (const auto& g : ArrayOf(awsvpc, "securityGroups")) {
      if (g.is_string()) n.security_groups.push_back(g.get<std::string>());
    }
    for (const auto& g : ArrayOf(awsvpc, "subnets")) {
      if (g.is_string()) n.subnets.push_back(g.get<std::string>());
    }
    for (const auto& r : s.service_registries) {
      std::string id = ArnTail(r.registry_arn);
      for (const auto& d : out.discovery) {
        if (d.id == id && d.region == s.region) n.dns_names.push_back(d.dns_name);
      }
    }
    for (const auto& lb : s.load_balancers) {
      if (!lb.target_group_arn.empty()) n.target_groups.push_back(lb.target_group_arn);
    }
    for (const auto& t : out.tasks) {
      if (t.region != s.region || t.cluster != s.cluster || t.service != s.name) continue;
      auto st = model::ParseTaskStatus(t.last_status);
      if (st == model::TaskStatus::kRunning) ++n.running;
      if (st && OnItsWay(*st)) ++n.pending;
    }
    out.services.push_back(std::move(n));
  }
  return Status::Ok();
}

Status ReadLoadBalancers(state::Tx& tx, Snapshot& out) {
  ASSIGN_OR_RETURN(auto lbs, state::records::ListLoadBalancers(tx, "", /*any_region=*/true));
  ASSIGN_OR_RETURN(auto tgs, state::records::ListTargetGroups(tx, "", /*any_region=*/true));
  std::map<std::string, const model::TargetGroup*> tg_by_id;
  for (const auto& tg : tgs) tg_by_id[tg.id] = &tg;
  for (const auto& lb : lbs) {
    LoadBalancerNode n;
    n.region = lb.region;
    n.id = lb.id;
    n.arn = lb.arn;
    n.name = lb.name;
    n.dns_name = lb.dns_name;
    n.type = std::string(model::ToString(lb.type));
    n.scheme = std::string(model::ToString(lb.scheme));
    n.state = std::string(model::ToString(lb.state));
    n.vpc_id = lb.vpc_id;
    n.security_groups = lb.security_groups;
    std::set<std::string> forwarded;
    ASSIGN_OR_RETURN(auto listeners, state::records::ListListeners(tx, lb.region, lb.id));
    for (const auto& l : listeners) {
      for (const auto& id : state::records::ForwardedTargetGroupIds(l.default_actions)) forwarded.insert(id);
      ASSIGN_OR_RETURN(auto rules, state::records::ListRules(tx, lb.region, l.id));
      for (const auto& r : rules) {
        for (const auto& id : state::records::ForwardedTargetGroupIds(r.actions)) forwarded.insert(id);
      }
    }
    for (const auto& id : forwarded) {
      auto it = tg_by_id.find(id);
      if (it == tg_by_id.end()) continue;
      const model::TargetGroup& tg = *it->second;
      TargetGroupNode g;
      g.id = tg.id;
      g.arn = tg.arn;
      g.name = tg.name;
      g.protocol = tg.protocol ? std::string(model::ToString(*tg.protocol)) : "";
      g.port = tg.port.value_or(0);
      for (const auto& t : tg.targets) {
        g.targets.push_back({t.id, t.port, std::string(model::ToString(t.state)), t.reason});
      }
      n.target_groups.push_back(std::move(g));
    }
    out.load_balancers.push_back(std::move(n));
  }
  return Status::Ok();
}

Json OptStr(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

}  // namespace

Result<Snapshot> BuildSnapshot(state::Tx& tx) {
  Snapshot out;
  RETURN_IF_ERROR(ReadNetwork(tx, out));
  RETURN_IF_ERROR(ReadTasks(tx, out));
  RETURN_IF_ERROR(ReadDiscovery(tx, out));
  RETURN_IF_ERROR(ReadServices(tx, out));
  RETURN_IF_ERROR(ReadLoadBalancers(tx, out));
  return out;
}

Json SnapshotToJson(const Snapshot& s) {
  Json vpcs = Json::array();
  for (const auto& v : s.vpcs) {
    Json subnets = Json::array();
    for (const auto& n : v.subnets) {
      subnets.push_back({{"id", n.id}, {"cidr", n.cidr}, {"zone", n.zone}, {"name", n.name},
                         {"totalIps", n.total}, {"availableIps", n.available},
                         {"usedIps", std::max<int64_t>(0, n.total - n.available)}});
    }
    vpcs.push_back({{"region", v.region}, {"id", v.id}, {"cidr", v.cidr}, {"name", v.name},
                    {"isDefault", v.is_default}, {"subnets", subnets}});
  }
  Json groups = Json::array();
  for (const auto& g : s.groups) groups.push_back({{"id", g.id}, {"name", g.name}, {"vpcId", g.vpc_id}});
  Json edges = Json::array();
  for (const auto& e : s.edges) {
    Json flows = nullptr;
    if (e.flows) {
      flows = {{"packets", e.flows->packets}, {"bytes", e.flows->bytes}, {"accepted", e.flows->accepted},
               {"rejected", e.flows->rejected}};
    }
    edges.push_back({{"from", e.from}, {"fromKind", e.from_kind}, {"to", e.to}, {"protocol", e.protocol},
                     {"fromPort", e.from_port}, {"toPort", e.to_port}, {"flows", flows}});
  }
  Json tasks = Json::array();
  for (const auto& t : s.tasks) {
    Json eni = nullptr;
    if (t.eni) {
      eni = {{"id", t.eni->id}, {"subnetId", t.eni->subnet_id}, {"vpcId", t.eni->vpc_id},
             {"privateIp", t.eni->private_ip}, {"ipv6", OptStr(t.eni->ipv6)},
             {"publicIp", OptStr(t.eni->public_ip)}, {"securityGroups", t.eni->security_groups}};
    }
    Json ports = Json::array();
    for (const auto& p : t.host_ports) {
      ports.push_back({{"container", p.container}, {"protocol", p.protocol}, {"containerPort", p.container_port},
                       {"hostPort", p.host_port}, {"bindIp", p.bind_ip}});
    }
    tasks.push_back({{"region", t.region}, {"id", t.id}, {"arn", t.arn}, {"cluster", t.cluster},
                     {"family", t.family}, {"taskDefinitionArn", t.task_definition_arn},
                     {"lastStatus", t.last_status}, {"desiredStatus", t.desired_status},
                     {"health", t.health}, {"launchType", t.launch_type}, {"networkMode", t.network_mode},
                     {"group", t.group}, {"service", t.service}, {"bridgeIp", OptStr(t.bridge_ip)},
                     {"eni", eni}, {"hostPorts", ports}, {"containers", t.containers},
                     {"startedAt", t.started_at ? Json(*t.started_at) : Json(nullptr)}});
  }
  Json services = Json::array();
  for (const auto& v : s.services) {
    Json deps = Json::array();
    for (const auto& d : v.deployments) {
      deps.push_back({{"id", d.id}, {"status", d.status}, {"taskDefinition", d.task_definition},
                      {"rolloutState", d.rollout_state}, {"desiredCount", d.desired}});
    }
    services.push_back({{"region", v.region}, {"name", v.name}, {"arn", v.arn}, {"cluster", v.cluster},
                        {"status", v.status}, {"desiredCount", v.desired}, {"runningCount", v.running},
                        {"pendingCount", v.pending}, {"deployments", deps},
                        {"securityGroups", v.security_groups}, {"subnets", v.subnets},
                        {"dnsNames", v.dns_names}, {"targetGroups", v.target_groups}});
  }
  Json lbs = Json::array();
  for (const auto& l : s.load_balancers) {
    Json tgs = Json::array();
    for (const auto& g : l.target_groups) {
      Json targets = Json::array();
      for (const auto& t : g.targets) {
        targets.push_back({{"id", t.id}, {"port", t.port}, {"state", t.state}, {"reason", t.reason}});
      }
      tgs.push_back({{"id", g.id}, {"arn", g.arn}, {"name", g.name}, {"protocol", g.protocol},
                     {"port", g.port}, {"targets", targets}});
    }
    lbs.push_back({{"region", l.region}, {"id", l.id}, {"arn", l.arn}, {"name", l.name},
                   {"dnsName", l.dns_name}, {"type", l.type}, {"scheme", l.scheme}, {"state", l.state},
                   {"vpcId", l.vpc_id}, {"securityGroups", l.security_groups}, {"targetGroups", tgs}});
  }
  Json discovery = Json::array();
  for (const auto& d : s.discovery) {
    Json inst = Json::array();
    for (const auto& i : d.instances) {
      inst.push_back({{"id", i.id}, {"ipv4", i.ipv4}, {"port", i.port}, {"health", i.health}});
    }
    discovery.push_back({{"region", d.region}, {"id", d.id}, {"arn", d.arn}, {"name", d.name},
                         {"namespace", d.namespace_name}, {"dnsName", d.dns_name}, {"instances", inst}});
  }
  return {{"vpcs", vpcs}, {"securityGroups", groups}, {"edges", edges}, {"tasks", tasks},
          {"services", services}, {"loadBalancers", lbs}, {"cloudMap", discovery}};
}

namespace {

bool ProtocolAdmits(const std::string& rule, int protocol) {
  if (rule == "-1" || rule == "all") return true;
  if (rule == "tcp") return protocol == 6;
  if (rule == "udp") return protocol == 17;
  if (rule == "icmp") return protocol == 1;
  if (rule == "icmpv6") return protocol == 58;
  return rule == std::to_string(protocol);
}

bool Has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

void AddFlowsToEdges(Snapshot& s, const std::vector<net::ObservedFlow>& flows) {
  std::map<std::pair<std::string, std::string>, const std::vector<std::string>*> groups_at;  // (vpc, ip)
  for (const auto& t : s.tasks) {
    if (t.eni) groups_at[{t.eni->vpc_id, t.eni->private_ip}] = &t.eni->security_groups;
  }
  std::map<std::string, std::string> vpc_of;
  for (const auto& g : s.groups) vpc_of[g.id] = g.vpc_id;
  for (auto& e : s.edges) {
    const std::string& vpc = vpc_of[e.to];
    std::optional<net::Ipv4Cidr> cidr;
    if (e.from_kind == "cidr") cidr = net::Ipv4Cidr::Parse(e.from);
    for (const auto& f : flows) {
      if (f.vpc_id != vpc || !ProtocolAdmits(e.protocol, f.protocol)) continue;
      bool ports = f.protocol == 6 || f.protocol == 17;
      if (ports && e.protocol != "-1" && e.from_port >= 0 && (f.dst_port < e.from_port || f.dst_port > e.to_port)) continue;
      auto dst = groups_at.find({vpc, f.dst});
      if (dst == groups_at.end() || !Has(*dst->second, e.to)) continue;
      bool from = false;
      if (e.from_kind == "group") {
        auto src = groups_at.find({vpc, f.src});
        from = src != groups_at.end() && Has(*src->second, e.from);
      } else if (cidr) {
        auto ip = net::ParseIpv4(f.src);
        from = ip && cidr->Contains(*ip);
      }
      if (!from) continue;
      if (!e.flows) e.flows = FlowCount{};
      e.flows->packets += static_cast<int64_t>(f.packets);
      e.flows->bytes += static_cast<int64_t>(f.bytes);
      (f.accepted ? e.flows->accepted : e.flows->rejected) += static_cast<int64_t>(f.flows);
    }
  }
}

}  // namespace kecs::api::ui
