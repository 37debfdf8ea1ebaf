#include "runtime/local/oci_spec.h"

#include <algorithm>
#include <cctype>

namespace kecs::runtime::local {
namespace {

// Docker's default capability set, which ECS containers on EC2 run with.
const std::vector<std::string>& DefaultCaps() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
      "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
      "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return kCaps;
}

Json BindMount(const std::string& src, const std::string& dst, bool ro) {
  Json opts = Json::array({"rbind", "rprivate"});
  if (ro) opts.push_back("ro");
  return {{"destination", dst}, {"type", "bind"}, {"source", src}, {"options", opts}};
}

}  // namespace

std::string RlimitType(const std::string& ecs_name) {
  std::string up = ecs_name;
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return "RLIMIT_" + up;
}

Json BuildOciSpec(const SpecInputs& in) {
  const ContainerSpec& c = *in.container;
  Json spec = in.image_config.is_object() ? in.image_config : Json::object();
  Json& proc = spec["process"];
  const Json img_proc = proc.is_object() ? proc : Json::object();
  proc = Json::object();
  proc["terminal"] = false;

  // Docker's rules: an entryPoint replaces the image's Entrypoint and drops its Cmd; a
  // command alone replaces the Cmd and keeps the image's Entrypoint.
  std::vector<std::string> args;
  if (!c.entry_point.empty()) {
    args = c.entry_point;
    args.insert(args.end(), c.command.begin(), c.command.end());
  } else {
    args = in.image_entrypoint;
    const auto& cmd = c.command.empty() ? in.image_cmd : c.command;
    args.insert(args.end(), cmd.begin(), cmd.end());
    if (args.empty()) args = img_proc.value("args", std::vector<std::string>{});
  }
  proc["args"] = args;

  std::vector<std::string> env = img_proc.value("env", std::vector<std::string>{});
  // umoci's runtime template adds TERM=xterm as if a terminal were attached; ECS containers
  // have none, and Docker sets TERM only for a TTY.
  env.erase(std::remove(env.begin(), env.end(), std::string("TERM=xterm")), env.end());
  auto set_env = [&](const std::string& k, const std::string& v) {
    std::string prefix = k + "=";
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const std::string& e) { return e.rfind(prefix, 0) == 0; }),
              env.end());
    env.push_back(prefix + v);
  };
  if (std::none_of(env.begin(), env.end(), [](const std::string& e) { return e.rfind("PATH=", 0) == 0; })) {
    env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  if (!in.hostname.empty()) set_env("HOSTNAME", in.hostname);
  for (const auto& e : in.extra_env) {
    size_t eq = e.find('=');
    if (eq != std::string::npos) set_env(e.substr(0, eq), e.substr(eq + 1));
  }
  for (const auto& [k, v] : c.environment) set_env(k, v);
  proc["env"] = env;
  proc["cwd"] = c.working_directory.empty() ? img_proc.value("cwd", std::string("/")) : c.working_directory;

  Json user = img_proc.value("user", Json{{"uid", 0}, {"gid", 0}});
  if (!c.user.empty()) {
    // "uid", "uid:gid" (names were resolved by the caller into numbers when possible).
    size_t colon = c.user.find(':');
    std::string u = c.user.substr(0, colon);
    std::string g = colon == std::string::npos ? "" : c.user.substr(colon + 1);
    auto numeric = [](const std::string& s) {
      return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
    };
    if (numeric(u)) user["uid"] = std::stoll(u);
    if (numeric(g)) user["gid"] = std::stoll(g);
    else if (numeric(u) && g.empty()) user["gid"] = 0;  // Docker: no passwd entry, group 0
  }
  proc["user"] = user;
  Json caps = DefaultCaps();
  proc["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
  proc["noNewPrivileges"] = false;

  // rlimits: the image's, then the task's ulimits, each clamped to the host's hard limit.
  Json rlimits = Json::array();
  auto hard_of = [&](const std::string& type) -> int64_t {
    for (const auto& [t, v] : in.hard_limits) {
      if (t == type) return v;
    }
    return -1;
  };
  auto clamp = [&](const std::string& type, int64_t soft, int64_t hard) {
    int64_t limit = hard_of(type);
    if (limit >= 0) {
      hard = std::min(hard, limit);
      soft = std::min(soft, hard);
    }
    for (auto& r : rlimits) {
      if (r["type"] == type) {
        r["soft"] = soft;
        r["hard"] = hard;
        return;
      }
    }
    rlimits.push_back({{"type", type}, {"soft", soft}, {"hard", hard}});
  };
  for (const auto& r : img_proc.value("rlimits", Json::array())) {
    clamp(JStr(r, "type"), JInt(r, "soft"), JInt(r, "hard"));
  }
  for (const auto& u : c.ulimits) clamp(RlimitType(u.name), u.soft, u.hard);
  proc["rlimits"] = rlimits;

  spec["root"] = {{"path", in.rootfs}, {"readonly", c.readonly_rootfs}};
  spec["hostname"] = in.hostname;

  Json mounts = spec.value("mounts", Json::array());
  auto drop = [&](const std::string& dst) {
    Json kept = Json::array();
    for (const auto& m : mounts) {
      if (JStr(m, "destination") != dst) kept.push_back(m);
    }
    mounts = kept;
  };
  for (const char* dst : {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}) drop(dst);
  // Docker mounts the network files read-only when the root filesystem is.
  if (!in.hosts_file.empty()) mounts.push_back(BindMount(in.hosts_file, "/etc/hosts", c.readonly_rootfs));
  if (!in.resolv_file.empty()) mounts.push_back(BindMount(in.resolv_file, "/etc/resolv.conf", c.readonly_rootfs));
  if (!in.hostname_file.empty()) mounts.push_back(BindMount(in.hostname_file, "/etc/hostname", c.readonly_rootfs));
  spec["mounts"] = mounts;

  Json& linux = spec["linux"];
  Json ns = Json::array();
  for (const char* t : {"pid", "ipc", "uts", "mount"}) ns.push_back({{"type", t}});
  if (!in.netns_path.empty()) ns.push_back({{"type", "network"}, {"path", in.netns_path}});
  linux["namespaces"] = ns;
  // umoci's rootless-style uid mappings do not apply: kecs runs as root.
  linux.erase("uidMappings");
  linux.erase("gidMappings");
  if (!in.cgroups_path.empty()) linux["cgroupsPath"] = in.cgroups_path;
  Json resources = linux.value("resources", Json::object());
  if (c.memory_mib > 0 || c.memory_reservation_mib > 0) {
    Json mem = Json::object();
    if (c.memory_mib > 0) mem["limit"] = c.memory_mib * 1024 * 1024;
    if (c.memory_reservation_mib > 0) mem["reservation"] = c.memory_reservation_mib * 1024 * 1024;
    resources["memory"] = mem;
  }
  // ECS cpu units are Docker CPU shares. As the ECS agent does, 0 or unset is the kernel's
  // minimum of 2 shares, and more than the kernel's maximum is capped at 262144.
  resources["cpu"] = {{"shares", std::clamp<int64_t>(c.cpu_units, 2, 262144)}};
  linux["resources"] = resources;
  return spec;
}

}  // namespace kecs::runtime::local
