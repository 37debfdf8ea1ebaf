#include "runtime/kubernetes/manifests.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/strings.h"
#include "base/value_cipher.h"
#include "model/task.h"

namespace kecs::runtime::kubernetes {
namespace {

constexpr const char* kManagedBy = "kecs.dev/managed-by";

// Lowercase alphanumerics and '-', no leading or trailing '-', at most 63 characters.
std::string DnsLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  if (out.size() > 63) out = out.substr(0, 54) + "-" + Sha256Hex(s).substr(0, 8);
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "x" : out;
}

std::string Joined(const std::vector<std::string>& v) { return Join(v, ","); }

std::string PodName(const TaskSpec& t) { return "task-" + t.task_id; }

Json TaskLabels(const TaskSpec& t) {
  return Json{{"kecs.dev/task-id", t.task_id}, {kManagedBy, "kecs"}};
}

std::string Protocol(const std::string& p) { return p == "udp" ? "UDP" : p == "sctp" ? "SCTP" : "TCP"; }

// The ECS health check as a probe: CMD runs its arguments, CMD-SHELL a shell line.
Json Probe(const model::HealthCheck& h) {
  std::vector<std::string> cmd;
  if (!h.command.empty() && h.command[0] == "CMD-SHELL") {
    std::vector<std::string> rest(h.command.begin() + 1, h.command.end());
    cmd = {"/bin/sh", "-c", Join(rest, " ")};
  } else if (!h.command.empty() && h.command[0] == "CMD") {
    cmd.assign(h.command.begin() + 1, h.command.end());
  } else {
    cmd = h.command;
  }
  Json p = {{"exec", {{"command", cmd}}},
            {"periodSeconds", h.interval_s},
            {"timeoutSeconds", h.timeout_s},
            {"failureThreshold", h.retries}};
  if (h.start_period_s > 0) p["initialDelaySeconds"] = h.start_period_s;
  return p;
}

Json Container(const ContainerSpec& c, size_t index, const std::string& name, const TaskSpec& t,
               const std::set<std::string>& secret) {
  Json j = {{"name", name}, {"image", c.image}};
  if (!c.entry_point.empty()) j["command"] = c.entry_point;
  if (!c.command.empty()) j["args"] = c.command;
  if (!c.working_directory.empty()) j["workingDir"] = c.working_directory;
  if (!c.environment.empty()) {
    Json env = Json::array();
    for (const auto& [k, v] : c.environment) {
      if (secret.count(k)) {
        env.push_back({{"name", k},
                       {"valueFrom", {{"secretKeyRef", {{"name", PodName(t)}, {"key", SecretKey(index, k)}}}}}});
      } else {
        env.push_back({{"name", k}, {"value", v}});
      }
    }
    j["env"] = env;
  }
  Json requests = Json::object(), limits = Json::object();
  if (c.cpu_units > 0) requests["cpu"] = fmt::format("{}m", std::max<int64_t>(1, c.cpu_units * 1000 / 1024));
  if (c.memory_reservation_mib > 0) requests["memory"] = fmt::format("{}Mi", c.memory_reservation_mib);
  if (c.memory_mib > 0) limits["memory"] = fmt::format("{}Mi", c.memory_mib);
  if (!requests.empty() || !limits.empty()) {
    j["resources"] = Json::object();
    if (!requests.empty()) j["resources"]["requests"] = requests;
    if (!limits.empty()) j["resources"]["limits"] = limits;
  }
  bool host = t.network.mode == model::NetworkMode::kHost;
  if (!c.ports.empty()) {
    Json ports = Json::array();
    for (const auto& p : c.ports) {
      Json port = {{"containerPort", p.container_port}, {"protocol", Protocol(p.protocol)}};
      // Bridge mappings are the node's ports; in host mode the container's are.
      if (t.network.mode == model::NetworkMode::kBridge && p.host_port > 0) port["hostPort"] = p.host_port;
      if (host) port["hostPort"] = p.container_port;
      ports.push_back(port);
    }
    j["ports"] = ports;
  }
  Json sc = Json::object();
  // Kubernetes takes numeric ids only: "uid" or "uid:gid".
  auto parts = Split(c.user, ':');
  auto numeric = [](const std::string& s) {
    return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  };
  if (!parts.empty() && numeric(parts[0])) {
    sc["runAsUser"] = std::stoll(parts[0]);
    if (parts.size() == 2 && numeric(parts[1])) sc["runAsGroup"] = std::stoll(parts[1]);
  }
  if (c.readonly_rootfs) sc["readOnlyRootFilesystem"] = true;
  if (c.privileged) sc["privileged"] = true;
  if (!sc.empty()) j["securityContext"] = sc;
  if (c.health_check) j["readinessProbe"] = Probe(*c.health_check);
  return j;
}

}  // namespace

std::string NamespaceName(const std::string& cluster, const std::string& region) {
  return DnsLabel(cluster + "-" + region);
}

std::string LabelValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    out += std::isalnum(u) || c == '_' || c == '.' || c == '-' ? c : '-';
  }
  if (out.size() > 63) out.resize(63);
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  while (!out.empty() && !alnum(out.front())) out.erase(out.begin());
  while (!out.empty() && !alnum(out.back())) out.pop_back();
  return out;
}

std::vector<std::string> PodContainerNames(const TaskSpec& task) {
  std::vector<std::string> names;
  std::set<std::string> taken;
  for (const auto& c : task.containers) {
    std::string n = DnsLabel(c.name);
    if (taken.count(n)) {
      std::string base = n.substr(0, 54);
      for (int i = 2; taken.count(n); ++i) n = fmt::format("{}-{}", base, i);
    }
    taken.insert(n);
    names.push_back(n);
  }
  return names;
}

Json NamespaceManifest(const std::string& cluster, const std::string& region) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata",
           {{"name", NamespaceName(cluster, region)},
            {"labels", {{"kecs.dev/cluster", LabelValue(cluster)}, {"kecs.dev/region", region}, {kManagedBy, "kecs"}}},
            {"annotations", {{"kecs.dev/cluster-name", cluster}}}}}};
}

Json PodManifest(const TaskSpec& task, const PodFacts& facts) {
  const std::string mode(model::ToString(task.network.mode));
  Json labels = TaskLabels(task);
  labels["kecs.dev/cluster"] = LabelValue(task.cluster);
  labels["kecs.dev/task-family"] = LabelValue(task.family);
  labels["kecs.dev/task-revision"] = std::to_string(facts.revision);
  labels["kecs.dev/launch-type"] = facts.launch_type;
  // Membership, for the NetworkPolicies and headless Services that select the pod.
  if (task.network.mode == model::NetworkMode::kAwsvpc) {
    for (const auto& g : facts.security_groups) labels["kecs.dev/sg-" + g] = "true";
  }
  if (task.network.mode == model::NetworkMode::kNone) labels["kecs.dev/network-none"] = "true";
  for (const auto& s : facts.discovery_services) labels["kecs.dev/sd-" + s] = "true";

  std::vector<std::string> names = PodContainerNames(task);
  Json name_map = Json::object();
  for (size_t i = 0; i < names.size(); ++i) name_map[names[i]] = task.containers[i].name;
  Json annotations = {{"kecs.dev/task-arn", task.task_arn},
                      {"ecs.amazonaws.com/network-mode", mode},
                      {"ecs.amazonaws.com/subnets", Joined(facts.subnets)},
                      {"ecs.amazonaws.com/security-groups", Joined(facts.security_groups)},
                      {"ecs.amazonaws.com/assign-public-ip", facts.assign_public_ip ? "ENABLED" : "DISABLED"},
                      // Pod container name -> ECS container name, to map statuses back.
                      {"kecs.dev/containers", name_map.dump()}};

  // A container that others wait for with SUCCESS or COMPLETE and that is not essential
  // runs to its end before them: an init container. The others start together.
  std::set<std::string> init;
  for (const auto& c : task.containers) {
    for (const auto& d : c.depends_on) {
      if (d.condition == model::DependencyCondition::kSuccess || d.condition == model::DependencyCondition::kComplete) {
        init.insert(d.container_name);
      }
    }
  }
  // Volumes (the local runtime's layout, volumes.h, on the node): a task-scoped one is an
  // emptyDir shared by the pod's containers; a host path, a shared Docker volume and an EFS
  // file system are directories of the node (hostPath), so tasks on one node share them.
  Json volumes = Json::array();
  std::map<std::string, std::string> volume_names;  // ECS volume name -> pod volume name
  {
    std::set<std::string> taken;
    for (const auto& v : task.volumes) {
      std::string n = DnsLabel("v-" + v.name);
      for (int i = 2; taken.count(n); ++i) n = fmt::format("{}-{}", DnsLabel("v-" + v.name).substr(0, 54), i);
      taken.insert(n);
      volume_names[v.name] = n;
      Json vol = {{"name", n}};
      std::string host;
      if (v.kind == model::Volume::Kind::kHost) {
        host = v.host_source_path;
      } else if (v.kind == model::Volume::Kind::kDocker && v.docker.scope == "shared") {
        host = "/var/lib/kecs/volumes/" + v.name + "/_data";
      } else if (v.kind == model::Volume::Kind::kEfs) {
        host = "/var/lib/kecs/efs/" + v.efs.file_system_id +
               (v.efs.access_point_id.empty() ? v.efs.root_directory : "/access-points/" + v.efs.access_point_id);
      }
      if (host.empty()) {
        vol["emptyDir"] = Json::object();
      } else {
        vol["hostPath"] = {{"path", host}, {"type", "DirectoryOrCreate"}};
      }
      volumes.push_back(vol);
    }
  }
  // A container's mounts: what volumesFrom copies (read-only when it says so), then its own.
  std::function<void(const ContainerSpec&, bool, std::set<std::string>&, Json&)> mounts_of =
      [&](const ContainerSpec& c, bool read_only, std::set<std::string>& seen, Json& out) {
        if (!seen.insert(c.name).second) return;
        for (const auto& vf : c.volumes_from) {
          for (const auto& other : task.containers) {
            if (other.name == vf.source_container) mounts_of(other, read_only || vf.read_only, seen, out);
          }
        }
        for (const auto& m : c.mount_points) {
          auto n = volume_names.find(m.source_volume);
          if (n == volume_names.end()) continue;  // validation refuses it before a task runs
          Json mount = {{"name", n->second}, {"mountPath", m.container_path}};
          if (read_only || m.read_only) mount["readOnly"] = true;
          out.push_back(mount);
        }
      };
  Json containers = Json::array(), init_containers = Json::array();
  int grace = 0;
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const auto& c = task.containers[i];
    grace = std::max(grace, c.stop_timeout_s);
    bool as_init = init.count(c.name) && !c.essential;
    static const std::set<std::string> kNone;
    auto secret = facts.secret_env.find(c.name);
    Json container = Container(c, i, names[i], task, secret == facts.secret_env.end() ? kNone : secret->second);
    Json mounts = Json::array();
    std::set<std::string> seen;
    mounts_of(c, false, seen, mounts);
    if (!mounts.empty()) container["volumeMounts"] = mounts;
    (as_init ? init_containers : containers).push_back(container);
  }
  Json spec = {{"restartPolicy", "Never"},
               {"terminationGracePeriodSeconds", grace},
               {"enableServiceLinks", false},
               {"automountServiceAccountToken", false},
               {"containers", containers}};
  if (!init_containers.empty()) spec["initContainers"] = init_containers;
  if (!volumes.empty()) spec["volumes"] = volumes;
  if (!facts.node.empty()) spec["nodeName"] = facts.node;
  if (task.network.mode == model::NetworkMode::kHost) {
    spec["hostNetwork"] = true;
    spec["dnsPolicy"] = "ClusterFirstWithHostNet";
  }
  if (task.pid_mode == "host") spec["hostPID"] = true;
  if (task.pid_mode == "task") spec["shareProcessNamespace"] = true;
  if (task.ipc_mode == "host") spec["hostIPC"] = true;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", PodName(task)},
            {"namespace", NamespaceName(task.cluster, facts.region)},
            {"labels", labels},
            {"annotations", annotations}}},
          {"spec", spec}};
}

std::string SecretKey(size_t container_index, const std::string& name) {
  // Secret keys are [-._a-zA-Z0-9]+; ECS variable names may hold more, so each other byte
  // is written as _xx (hex), and '_' itself too, which keeps the key unique.
  std::string key = fmt::format("c{}.", container_index);
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.') {
      key += c;
    } else {
      key += fmt::format("_{:02x}", u);
    }
  }
  return key;
}

Json SecretManifest(const TaskSpec& task, const PodFacts& facts) {
  Json data = Json::object();
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const auto& c = task.containers[i];
    auto secret = facts.secret_env.find(c.name);
    if (secret == facts.secret_env.end()) continue;
    for (const auto& [k, v] : c.environment) {
      if (secret->second.count(k)) data[SecretKey(i, k)] = Base64Encode(v);
    }
  }
  if (data.empty()) return nullptr;
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", PodName(task)},
            {"namespace", NamespaceName(task.cluster, facts.region)},
            {"labels", TaskLabels(task)},
            {"annotations", {{"kecs.dev/task-arn", task.task_arn}}}}},
          {"type", "Opaque"},
          {"data", data}};
}

Json NodePortServiceManifest(const TaskSpec& task, const std::string& region, int public_first, int public_last,
                             int node_port_first) {
  Json ports = Json::array();
  for (const auto& p : task.network.published) {
    if (p.host_port < public_first || p.host_port > public_last) continue;
    ports.push_back({{"name", fmt::format("{}-{}", p.protocol == "udp" ? "udp" : "tcp", p.container_port)},
                     {"protocol", Protocol(p.protocol)},
                     {"port", p.container_port},
                     {"targetPort", p.container_port},
                     {"nodePort", node_port_first + (p.host_port - public_first)}});
  }
  if (ports.empty()) return nullptr;
  Json labels = TaskLabels(task);
  labels["kecs.dev/type"] = "task-nodeport";
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", PodName(task)},
            {"namespace", NamespaceName(task.cluster, region)},
            {"labels", labels},
            {"annotations", {{"kecs.dev/task-arn", task.task_arn}}}}},
          {"spec", {{"type", "NodePort"}, {"selector", {{"kecs.dev/task-id", task.task_id}}}, {"ports", ports}}}};
}

namespace {

// One rule's peer and ports; false when Kubernetes cannot say it (ICMP and other
// protocols: a NetworkPolicy filters TCP, UDP and SCTP only).
bool PolicyRule(const net::SgRule& r, Json& out) {
  Json peers = Json::array();
  // A group's members may be pods of any ECS cluster (namespace) in the VPC.
  if (!r.group.empty()) {
    peers.push_back({{"namespaceSelector", {{"matchLabels", {{kManagedBy, "kecs"}}}}},
                     {"podSelector", {{"matchLabels", {{"kecs.dev/sg-" + r.group, "true"}}}}}});
  }
  if (!r.cidr4.empty()) peers.push_back({{"ipBlock", {{"cidr", r.cidr4}}}});
  if (!r.cidr6.empty()) peers.push_back({{"ipBlock", {{"cidr", r.cidr6}}}});
  if (peers.empty()) return false;  // a prefix list: no CIDRs to name here
  std::string proto = r.protocol == "6" ? "tcp" : r.protocol == "17" ? "udp" : r.protocol == "132" ? "sctp" : r.protocol;
  out = {{r.egress ? "to" : "from", peers}};
  if (proto == "-1") return true;  // every protocol and port
  if (proto != "tcp" && proto != "udp" && proto != "sctp") return false;
  Json port = {{"protocol", Protocol(proto)}};
  bool all_ports = r.from <= 0 && (r.to <= 0 || r.to >= 65535);
  if (!all_ports) {
    port["port"] = r.from;
    if (r.to > r.from) port["endPort"] = r.to;
  }
  out["ports"] = Json::array({port});
  return true;
}

}  // namespace

Json NetworkPolicyManifest(const net::SecurityGroupPolicy& group, const std::string& ns) {
  Json ingress = Json::array(), egress = Json::array();
  for (const auto& r : group.rules) {
    Json rule;
    if (!PolicyRule(r, rule)) continue;
    (r.egress ? egress : ingress).push_back(rule);
  }
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata",
           {{"name", DnsLabel("sg-" + group.id)},
            {"namespace", ns},
            {"labels", {{kManagedBy, "kecs"}, {"kecs.dev/security-group", group.id}}}}},
          {"spec",
           {{"podSelector", {{"matchLabels", {{"kecs.dev/sg-" + group.id, "true"}}}}},
            {"policyTypes", {"Ingress", "Egress"}},
            {"ingress", ingress},
            {"egress", egress}}}};
}

Json NoNetworkPolicyManifest(const std::string& ns) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", {{"name", "network-none"}, {"namespace", ns}, {"labels", {{kManagedBy, "kecs"}}}}},
          {"spec",
           {{"podSelector", {{"matchLabels", {{"kecs.dev/network-none", "true"}}}}},
            {"policyTypes", {"Ingress", "Egress"}}}}};
}

Json HeadlessServiceManifest(const std::string& service_id, const std::string& service_name, const std::string& ns) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", DnsLabel("sd-" + service_id)},
            {"namespace", ns},
            {"labels", {{kManagedBy, "kecs"}, {"kecs.dev/type", "discovery"}}},
            {"annotations", {{"kecs.dev/discovery-service", service_name}}}}},
          {"spec",
           {{"clusterIP", "None"},
            {"publishNotReadyAddresses", false},
            {"selector", {{"kecs.dev/sd-" + service_id, "true"}}}}}};
}

}  // namespace kecs::runtime::kubernetes
