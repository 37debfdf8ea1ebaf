#include "runtime/kubernetes/nodes.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "base/strings.h"

namespace kecs::runtime::kubernetes {
namespace {

bool Digit(char c) { return c >= '0' && c <= '9'; }

// The multiplier a quantity's suffix stands for; false for an unknown suffix.
bool SuffixScale(std::string_view s, long double& scale) {
  static const std::pair<std::string_view, long double> kSuffixes[] = {
      {"", 1.0L},       {"n", 1e-9L},     {"u", 1e-6L},     {"m", 1e-3L},     {"k", 1e3L},
      {"M", 1e6L},      {"G", 1e9L},      {"T", 1e12L},     {"P", 1e15L},     {"E", 1e18L},
      {"Ki", 1024.0L},  {"Mi", 1048576.0L}, {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L},
      {"Pi", 1125899906842624.0L}, {"Ei", 1152921504606846976.0L}};
  for (const auto& [name, value] : kSuffixes) {
    if (s == name) {
      scale = value;
      return true;
    }
  }
  // A decimal exponent: e or E and a signed integer ("1e9", "5E-3").
  if (s.size() < 2 || (s[0] != 'e' && s[0] != 'E')) return false;
  std::string_view exp = s.substr(1);
  if (exp[0] == '+' || exp[0] == '-') exp.remove_prefix(1);
  if (exp.empty() || exp.size() > 3) return false;
  for (char c : exp) {
    if (!Digit(c)) return false;
  }
  int e = 0;
  std::from_chars(s.data() + (s[1] == '+' ? 2 : 1), s.data() + s.size(), e);
  scale = std::pow(10.0L, static_cast<long double>(e));
  return true;
}

std::string Label(const Json& labels, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (std::string v = JStr(labels, k); !v.empty()) return v;
  }
  return "";
}

// allocatable.<what>, else capacity.<what>, parsed by `parse`.
Result<int64_t> Resource(const Json& status, const std::string& node, const char* what,
                         Result<int64_t> (*parse)(std::string_view), bool required) {
  for (const char* from : {"allocatable", "capacity"}) {
    const Json* section = JGet(status, from);
    const Json* v = section ? JGet(*section, what) : nullptr;
    if (!v) continue;
    // Quantities are strings on the wire; a client may send a bare number.
    std::string text = v->is_string() ? v->get<std::string>() : v->is_number() ? v->dump() : "";
    auto r = parse(text);
    if (!r.ok()) {
      return InvalidArgument(fmt::format("node {}: status.{}.{} is not a quantity: {}", node, from, what,
                                         r.status().message()));
    }
    return *r;
  }
  if (!required) return int64_t{0};
  return InvalidArgument(fmt::format("node {} reports no allocatable or capacity {}", node, what));
}

// j[key] when it is an object, else {} (a malformed node reads as one that says nothing).
Json Section(const Json& j, const char* key) {
  const Json* v = JGet(j, key);
  return v && v->is_object() ? *v : Json::object();
}

// j[key] when it is an array, else [].
Json List(const Json& j, const char* key) {
  const Json* v = JGet(j, key);
  return v && v->is_array() ? *v : Json::array();
}

Result<int64_t> PodCount(std::string_view q) {
  ASSIGN_OR_RETURN(long double v, ParseQuantity(q));
  return static_cast<int64_t>(std::floor(v));
}

}  // namespace

Result<long double> ParseQuantity(std::string_view q) {
  std::string_view s = q;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (!s.empty() && s[0] == '-') return InvalidArgument(fmt::format("'{}' is negative", q));
  size_t i = 0, digits = 0;
  while (i < s.size() && Digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && Digit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return InvalidArgument(fmt::format("'{}' is not a Kubernetes quantity", q));
  long double number = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + i, number);
  long double scale = 1;
  if (ec != std::errc() || end != s.data() + i || !SuffixScale(s.substr(i), scale)) {
    return InvalidArgument(fmt::format("'{}' is not a Kubernetes quantity", q));
  }
  long double v = number * scale;
  if (!std::isfinite(v) || v > 9.2e18L) return InvalidArgument(fmt::format("'{}' is too large", q));
  return v;
}

Result<int64_t> CpuUnits(std::string_view q) {
  ASSIGN_OR_RETURN(long double cores, ParseQuantity(q));
  // Rounded to a thousandth of a core first: "0.1" is 102 units, not 102.39999.
  return static_cast<int64_t>(std::floor(std::round(cores * 1000.0L) * 1024.0L / 1000.0L));
}

Result<int64_t> MemoryMib(std::string_view q) {
  ASSIGN_OR_RETURN(long double bytes, ParseQuantity(q));
  return static_cast<int64_t>(std::floor(std::round(bytes) / 1048576.0L));
}

Result<NodeInfo> NodeFromJson(const Json& node) {
  NodeInfo n;
  const Json meta = Section(node, "metadata");
  n.name = JStr(meta, "name");
  if (n.name.empty()) return InvalidArgument("a node without metadata.name");
  n.uid = JStr(meta, "uid");
  const Json labels = Section(meta, "labels");
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (it.value().is_string()) n.labels[it.key()] = it.value().get<std::string>();
  }
  const Json status = Section(node, "status");
  const Json spec = Section(node, "spec");
  ASSIGN_OR_RETURN(n.cpu_units, Resource(status, n.name, "cpu", &CpuUnits, true));
  ASSIGN_OR_RETURN(n.memory_mib, Resource(status, n.name, "memory", &MemoryMib, true));
  ASSIGN_OR_RETURN(n.pods, Resource(status, n.name, "pods", &PodCount, false));

  n.zone = Label(labels, {"topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"});
  n.region = Label(labels, {"topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"});
  n.instance_type = Label(labels, {"node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"});
  const Json info = Section(status, "nodeInfo");
  n.arch = Label(labels, {"kubernetes.io/arch", "beta.kubernetes.io/arch"});
  if (n.arch.empty()) n.arch = JStr(info, "architecture");
  n.os = Label(labels, {"kubernetes.io/os", "beta.kubernetes.io/os"});
  if (n.os.empty()) n.os = JStr(info, "operatingSystem");

  for (const auto& c : List(status, "conditions")) {
    if (JStr(c, "type") == "Ready") n.ready = JStr(c, "status") == "True";
  }
  for (const auto& a : List(status, "addresses")) {
    if (JStr(a, "type") == "InternalIP" && n.internal_ip.empty()) n.internal_ip = JStr(a, "address");
  }
  n.unschedulable = JBool(spec, "unschedulable");
  for (const auto& t : List(spec, "taints")) {
    n.taints.push_back({JStr(t, "key"), JStr(t, "value"), JStr(t, "effect")});
  }
  // aws:///us-east-1a/i-0123456789abcdef0 (EKS, kops, the AWS cloud provider).
  std::string provider = JStr(spec, "providerID");
  if (provider.starts_with("aws://")) {
    std::string last = provider.substr(provider.rfind('/') + 1);
    if (last.starts_with("i-") && last.size() > 2) n.ec2_instance_id = last;
  }
  return n;
}

std::string NodeEc2InstanceId(const NodeInfo& node) {
  if (!node.ec2_instance_id.empty()) return node.ec2_instance_id;
  const std::string& key = node.uid.empty() ? node.name : node.uid;
  return "i-" + Sha256Hex(key).substr(0, 17);
}

}  // namespace kecs::runtime::kubernetes
