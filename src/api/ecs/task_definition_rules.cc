#include "api/ecs/task_definition_rules.h"

#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "base/strings.h"

namespace kecs::api::ecs {
namespace {

const std::regex kFamilyRe("^[a-zA-Z0-9_-]{1,255}$");

std::optional<double> ParseNumberWithUnit(const std::string& raw, const std::string& unit) {
  std::string s = ToLower(Trim(raw));
  bool has_unit = false;
  if (s.size() > unit.size() && s.ends_with(unit)) {
    s = std::string(Trim(s.substr(0, s.size() - unit.size())));
    has_unit = true;
  }
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  // Finite and far below anything int64 cannot hold (1e12 MiB is a petabyte).
  if (*end != '\0' || !std::isfinite(v) || v < 0 || v > 1e12) return std::nullopt;
  return has_unit ? v : -v - 1;  // negative marks "no unit" to the callers below
}

}  // namespace

std::optional<int64_t> ParseCpu(const std::string& s) {
  auto v = ParseNumberWithUnit(s, "vcpu");
  if (!v) return std::nullopt;
  if (*v >= 0) return static_cast<int64_t>(std::llround(*v * 1024));
  double units = -*v - 1;
  if (units != std::floor(units)) return std::nullopt;
  return static_cast<int64_t>(units);
}

std::optional<int64_t> ParseMemory(const std::string& s) {
  auto v = ParseNumberWithUnit(s, "gb");
  if (!v) return std::nullopt;
  if (*v >= 0) return static_cast<int64_t>(std::llround(*v * 1024));
  double mib = -*v - 1;
  if (mib != std::floor(mib)) return std::nullopt;
  return static_cast<int64_t>(mib);
}

bool FargateSizeValid(int64_t cpu, int64_t mem) {
  auto range = [&](int64_t lo, int64_t hi, int64_t step) {
    return mem >= lo && mem <= hi && (mem - lo) % step == 0;
  };
  switch (cpu) {
    case 256: return mem == 512 || mem == 1024 || mem == 2048;
    case 512: return range(1024, 4096, 1024);
    case 1024: return range(2048, 8192, 1024);
    case 2048: return range(4096, 16384, 1024);
    case 4096: return range(8192, 30720, 1024);
    case 8192: return range(16384, 61440, 4096);
    case 16384: return range(32768, 122880, 8192);
    default: return false;
  }
}

std::string NetworkModeOf(const Json& td) { return JStr(td, "networkMode", "bridge"); }

Json NormalizeTaskDefinition(const Json& in, bool strict) {
  std::string family = JStr(in, "family");
  if (family.empty()) throw ClientException("Family can not be blank.");
  if (!std::regex_match(family, kFamilyRe)) throw ClientException("Family contains invalid characters.");

  const Json& defs = in.at("containerDefinitions");
  if (defs.empty()) throw ClientException("Container list cannot be empty.");
  std::string mode = NetworkModeOf(in);
  bool awsvpc = mode == "awsvpc", host = mode == "host", none = mode == "none";

  std::set<std::string> compat_req;
  if (const Json* rc = JGet(in, "requiresCompatibilities")) {
    for (const auto& c : *rc) compat_req.insert(c.get<std::string>());
  }
  bool wants_fargate = compat_req.count("FARGATE") > 0;

  std::optional<int64_t> task_cpu, task_mem;
  if (auto c = JOptStr(in, "cpu")) {
    task_cpu = ParseCpu(*c);
    if (!task_cpu || *task_cpu <= 0) throw ClientException("Invalid 'cpu' setting for task.");
  }
  if (auto m = JOptStr(in, "memory")) {
    task_mem = ParseMemory(*m);
    if (!task_mem || *task_mem <= 0) throw ClientException("Invalid 'memory' setting for task.");
  }
  if (wants_fargate) {
    // Observed: ECS's message for this uses typographic quotes around awsvpc.
    if (!awsvpc) throw ClientException("Fargate only supports network mode \u2018awsvpc\u2019.");
    if (!task_cpu) throw ClientException("Fargate requires that 'cpu' be defined at the task level.");
    if (!task_mem) throw ClientException("Fargate requires that 'memory' be defined at the task level.");
    if (!FargateSizeValid(*task_cpu, *task_mem)) {
      throw ClientException(fmt::format(
          "No Fargate configuration exists for given values: {} CPU, {} memory. See the Amazon "
          "ECS documentation for the valid values.",
          *task_cpu, *task_mem));
    }
  }

  Json containers = Json::array();
  std::set<std::string> names;
  std::set<std::pair<std::string, int64_t>> host_ports;
  bool any_essential = false;
  int64_t cpu_sum = 0;
  static const std::regex kNameRe("^[a-zA-Z0-9_-]{1,255}$");
  for (const auto& d : defs) {
    Json c = d;
    std::string name = JStr(c, "name");
    if (name.empty()) throw ClientException("Container.name should not be null or empty.");
    if (!std::regex_match(name, kNameRe)) throw ClientException("Container.name contains invalid characters.");
    if (JStr(c, "image").empty()) throw ClientException("Container.image should not be null or empty.");
    if (!names.insert(name).second) {
      throw ClientException("Container names must be unique within a Task Definition.");
    }
    if (!c.contains("cpu")) c["cpu"] = 0;
    if (!c.contains("essential")) c["essential"] = true;
    any_essential = any_essential || JBool(c, "essential", true);
    cpu_sum += JInt(c, "cpu");
    auto mem = JOptInt(c, "memory");
    auto res = JOptInt(c, "memoryReservation");
    if (strict && !task_mem && !mem && !res) {
      throw ClientException(fmt::format(
          "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' "
          "must be specified.",
          name));
    }
    if (mem && res && *res > *mem) {
      throw ClientException(fmt::format(
          "Invalid setting for container '{}'. The memory reservation value must be less than "
          "or equal to the memory limit.",
          name));
    }
    if (mem && *mem < 6) {
      throw ClientException(fmt::format(
          "Invalid setting for container '{}'. The memory limit must be at least 6 MiB.", name));
    }
    if (awsvpc && c.contains("hostname") && !c["hostname"].is_null()) {
      throw ClientException("hostname is not supported on container when networkMode=awsvpc.");
    }
    if (awsvpc && JGet(c, "links") && !c["links"].empty()) {
      throw ClientException("Links are not supported when networkMode=awsvpc.");
    }
    Json pms = c.value("portMappings", Json::array());
    if (none && !pms.empty()) {
      // AWS documents that port mappings cannot be given with networkMode none.
      throw ClientException("Port mappings are not supported when networkMode=none.");
    }
    for (auto& pm : pms) {
      auto cp = JOptInt(pm, "containerPort");
      if (!cp || *cp < 1 || *cp > 65535) {
        if (!JGet(pm, "containerPortRange")) {
          throw ClientException(fmt::format("Invalid 'containerPort' setting for container '{}'.", name));
        }
      }
      if (!pm.contains("protocol")) pm["protocol"] = "tcp";
      auto hp = JOptInt(pm, "hostPort");
      if ((awsvpc || host) && cp) {
        if (hp && *hp != *cp) {
          throw ClientException(fmt::format(
              "When networkMode={}, the host ports and container ports in port mappings must "
              "match.",
              mode));
        }
        pm["hostPort"] = *cp;
        hp = *cp;
      }
      if (hp && (*hp < 0 || *hp > 65535)) {
        throw ClientException(fmt::format("Invalid 'hostPort' setting for container '{}'.", name));
      }
      if (hp && *hp != 0) {
        std::string proto = JStr(pm, "protocol", "tcp");
        if (!host_ports.insert({proto, *hp}).second) {
          std::string upper = proto == "udp" ? "UDP" : "TCP";
          throw ClientException(fmt::format("{} host port '{}' is mapped multiple times in task.",
                                            upper, *hp));
        }
      }
    }
    c["portMappings"] = pms;
    for (const char* list : {"environment", "mountPoints", "volumesFrom", "systemControls"}) {
      if (!c.contains(list)) c[list] = Json::array();
    }
    containers.push_back(std::move(c));
  }
  if (!any_essential) {
    throw ClientException("Task definition must have at least one essential container.");
  }
  if (task_cpu && cpu_sum > *task_cpu) {
    throw ClientException(
        "The sum of all container 'cpu' values cannot be greater than the value of the task "
        "'cpu'.");
  }

  Json td = {{"containerDefinitions", containers}, {"family", JStr(in, "family")}};
  for (const char* k : {"taskRoleArn", "executionRoleArn", "networkMode"}) {
    if (JGet(in, k)) td[k] = in[k];
  }
  td["volumes"] = in.value("volumes", Json::array());
  td["placementConstraints"] = in.value("placementConstraints", Json::array());
  Json req_attrs = Json::array({{{"name", "com.amazonaws.ecs.capability.docker-remote-api.1.18"}}});
  if (awsvpc) req_attrs.push_back({{"name", "ecs.capability.task-eni"}});
  td["requiresAttributes"] = req_attrs;
  Json compat = Json::array({"EC2"});
  if (awsvpc && task_cpu && task_mem && FargateSizeValid(*task_cpu, *task_mem)) {
    compat.push_back("FARGATE");
  }
  if (compat_req.count("EXTERNAL")) compat.push_back("EXTERNAL");
  td["compatibilities"] = compat;
  if (!compat_req.empty()) td["requiresCompatibilities"] = in["requiresCompatibilities"];
  if (task_cpu) td["cpu"] = std::to_string(*task_cpu);
  if (task_mem) td["memory"] = std::to_string(*task_mem);
  for (const char* k : {"pidMode", "ipcMode", "proxyConfiguration", "inferenceAccelerators",
                        "ephemeralStorage", "runtimePlatform", "enableFaultInjection"}) {
    if (JGet(in, k)) td[k] = in[k];
  }
  return td;
}

}  // namespace kecs::api::ecs
