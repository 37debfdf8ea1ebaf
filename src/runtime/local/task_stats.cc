// LocalRuntime::Stats: a task's containers' usage from their cgroups and their network
// namespace, in the units Docker's stats report (nanoseconds of CPU, bytes).
#include <unistd.h>

#include <sstream>

#include "base/strings.h"
#include "runtime/local/local_runtime.h"

namespace kecs::runtime::local {
namespace {

std::string Read(Env* env, const std::string& path) {
  auto r = env->ReadFile(path);
  return r.ok() ? *r : "";
}

uint64_t ToU64(std::string_view s) {
  s = Trim(s);
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return v;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

uint64_t ReadU64(Env* env, const std::string& path) { return ToU64(Read(env, path)); }

// "key value" lines (memory.stat, cpu.stat, cpuacct.stat), in file order.
std::vector<std::pair<std::string, uint64_t>> KeyValues(const std::string& text) {
  std::vector<std::pair<std::string, uint64_t>> out;
  std::istringstream in(text);
  std::string key, value;
  while (in >> key >> value) out.emplace_back(key, ToU64(value));
  return out;
}

uint64_t Get(const std::vector<std::pair<std::string, uint64_t>>& kv, std::string_view key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return v;
  }
  return 0;
}

uint64_t TicksToNs(uint64_t ticks) {
  static const long hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
  return ticks * (1000000000ULL / static_cast<uint64_t>(hz));
}

// blkio.throttle.* (v1): "8:0 Read 4096" lines and a closing "Total N".
std::vector<ContainerStats::Blkio> V1Blkio(const std::string& text) {
  std::vector<ContainerStats::Blkio> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string dev, op, value;
    if (!(l >> dev >> op >> value)) continue;
    size_t colon = dev.find(':');
    if (colon == std::string::npos) continue;
    out.push_back({ToU64(dev.substr(0, colon)), ToU64(dev.substr(colon + 1)), op, ToU64(value)});
  }
  return out;
}

// io.stat (v2): "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0", as Docker turns
// it into Read and Write entries.
void V2Io(const std::string& text, ContainerStats& s) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto fields = Split(line, ' ');
    if (fields.empty()) continue;
    size_t colon = fields[0].find(':');
    if (colon == std::string::npos) continue;
    uint64_t major = ToU64(fields[0].substr(0, colon)), minor = ToU64(fields[0].substr(colon + 1));
    for (size_t i = 1; i < fields.size(); ++i) {
      size_t eq = fields[i].find('=');
      if (eq == std::string::npos) continue;
      std::string key = fields[i].substr(0, eq);
      uint64_t v = ToU64(fields[i].substr(eq + 1));
      if (key == "rbytes") s.io_service_bytes.push_back({major, minor, "read", v});
      if (key == "wbytes") s.io_service_bytes.push_back({major, minor, "write", v});
      if (key == "rios") s.io_serviced.push_back({major, minor, "read", v});
      if (key == "wios") s.io_serviced.push_back({major, minor, "write", v});
    }
  }
}

}  // namespace

Result<ContainerStats> ReadContainerStats(Env* env, const StatsSources& src, int pid, const std::string& name,
                                          bool host_network, double now) {
  std::string proc = src.proc_root + "/" + std::to_string(pid);
  auto cgroups = env->ReadFile(proc + "/cgroup");
  if (!cgroups.ok()) return NotFound("container " + name + " is not running");
  ContainerStats s;
  s.name = name;
  s.read_at = now;

  // "hierarchy:controllers:path"; v1 controllers have their own lines, v2 is "0::path".
  std::map<std::string, std::string> v1;  // controller -> its directory
  std::string unified_path;
  bool has_unified = false;
  std::istringstream lines(*cgroups);
  std::string line;
  while (std::getline(lines, line)) {
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers.empty()) {
      has_unified = true;
      unified_path = path;
      continue;
    }
    for (const auto& c : Split(controllers, ',')) v1[c] = src.cgroup_root + "/" + controllers + path;
  }
  bool use_v1 = v1.count("memory") || v1.count("cpuacct");
  if (use_v1) {
    if (v1.count("cpuacct")) {
      const std::string& d = v1["cpuacct"];
      s.cpu_total_ns = ReadU64(env, d + "/cpuacct.usage");
      std::istringstream percpu(Read(env, d + "/cpuacct.usage_percpu"));
      uint64_t v;
      while (percpu >> v) s.percpu_ns.push_back(v);
      auto st = KeyValues(Read(env, d + "/cpuacct.stat"));
      s.cpu_user_ns = TicksToNs(Get(st, "user"));
      s.cpu_kernel_ns = TicksToNs(Get(st, "system"));
    }
    if (v1.count("cpu")) {
      auto st = KeyValues(Read(env, v1["cpu"] + "/cpu.stat"));
      s.throttling_periods = Get(st, "nr_periods");
      s.throttled_periods = Get(st, "nr_throttled");
      s.throttled_time_ns = Get(st, "throttled_time");
    }
    if (v1.count("memory")) {
      const std::string& d = v1["memory"];
      s.memory_usage = ReadU64(env, d + "/memory.usage_in_bytes");
      s.memory_max_usage = ReadU64(env, d + "/memory.max_usage_in_bytes");
      s.memory_limit = ReadU64(env, d + "/memory.limit_in_bytes");
      s.memory_stat = KeyValues(Read(env, d + "/memory.stat"));
    }
    if (v1.count("pids")) s.pids = ReadU64(env, v1["pids"] + "/pids.current");
    if (v1.count("blkio")) {
      const std::string& d = v1["blkio"];
      std::string bytes = Read(env, d + "/blkio.throttle.io_service_bytes_recursive");
      if (bytes.empty()) bytes = Read(env, d + "/blkio.throttle.io_service_bytes");
      std::string ios = Read(env, d + "/blkio.throttle.io_serviced_recursive");
      if (ios.empty()) ios = Read(env, d + "/blkio.throttle.io_serviced");
      s.io_service_bytes = V1Blkio(bytes);
      s.io_serviced = V1Blkio(ios);
    }
  } else if (has_unified) {
    // Pure cgroup v2 mounts the unified hierarchy at the root; a hybrid host at unified/.
    std::string root = env->Exists(src.cgroup_root + "/cgroup.controllers") ? src.cgroup_root
                                                                              : src.cgroup_root + "/unified";
    std::string d = root + unified_path;
    auto cpu = KeyValues(Read(env, d + "/cpu.stat"));
    s.cpu_total_ns = Get(cpu, "usage_usec") * 1000;
    s.cpu_user_ns = Get(cpu, "user_usec") * 1000;
    s.cpu_kernel_ns = Get(cpu, "system_usec") * 1000;
    s.throttling_periods = Get(cpu, "nr_periods");
    s.throttled_periods = Get(cpu, "nr_throttled");
    s.throttled_time_ns = Get(cpu, "throttled_usec") * 1000;
    s.memory_usage = ReadU64(env, d + "/memory.current");
    s.memory_max_usage = ReadU64(env, d + "/memory.peak");
    std::string max = std::string(Trim(Read(env, d + "/memory.max")));
    if (!max.empty() && max != "max") {
      s.memory_limit = ToU64(max);
    } else {
      // No limit: Docker reports the host's memory.
      for (const auto& [k, v] : KeyValues(Read(env, src.proc_root + "/meminfo"))) {
        if (k == "MemTotal:") s.memory_limit = v * 1024;
      }
    }
    s.memory_stat = KeyValues(Read(env, d + "/memory.stat"));
    s.pids = ReadU64(env, d + "/pids.current");
    V2Io(Read(env, d + "/io.stat"), s);
  }

  // The host's CPU time (Docker's system_cpu_usage: user..softirq of /proc/stat's "cpu"
  // line) and its CPUs.
  std::istringstream stat(Read(env, src.proc_root + "/stat"));
  while (std::getline(stat, line)) {
    if (line.starts_with("cpu ")) {
      std::istringstream l(line.substr(4));
      uint64_t v, sum = 0;
      for (int i = 0; i < 7 && (l >> v); ++i) sum += v;
      s.system_cpu_ns = TicksToNs(sum);
    } else if (line.starts_with("cpu")) {
      ++s.online_cpus;
    }
  }

  if (!host_network) {
    std::istringstream dev(Read(env, proc + "/net/dev"));
    while (std::getline(dev, line)) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;  // the two header lines
      std::string ifname(Trim(line.substr(0, colon)));
      if (ifname == "lo") continue;
      std::istringstream l(line.substr(colon + 1));
      uint64_t f[16] = {};
      for (auto& x : f) l >> x;
      ContainerStats::NetDev n;
      n.name = ifname;
      n.rx_bytes = f[0], n.rx_packets = f[1], n.rx_errors = f[2], n.rx_dropped = f[3];
      n.tx_bytes = f[8], n.tx_packets = f[9], n.tx_errors = f[10], n.tx_dropped = f[11];
      s.networks.push_back(n);
    }
  }
  return s;
}

Result<std::vector<ContainerStats>> LocalRuntime::Stats(const TaskSpec& task) {
  std::vector<ContainerStats> out;
  // A host-mode task on an EC2 instance has the instance's interfaces.
  bool host = task.network.mode == model::NetworkMode::kHost && task.network.instance_id.empty();
  for (const auto& c : task.containers) {
    ContainerStatus st = driver_.Inspect(BundleDir(task.task_id, c.name));
    if (st.phase != ContainerStatus::Phase::kRunning || st.pid <= 0) continue;
    auto s = ReadContainerStats(env_, StatsSources{}, st.pid, c.name, host, env_->Now());
    if (s.ok()) out.push_back(std::move(*s));
  }
  return out;
}

std::optional<std::string> LocalRuntime::MetadataNetns(const TaskSpec& task) { return network_.NetnsPath(task); }

}  // namespace kecs::runtime::local
