#include "runtime/local/oci_spec.h"

#include <algorithm>
#include <cctype>

namespace kecs::runtime::local {
namespace oci = model::oci;
namespace {

// Docker's default capability set, which ECS containers on EC2 run with.
const std::vector<std::string>& DefaultCaps() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
      "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
      "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return kCaps;
}

oci::Mount BindMount(const std::string& src, const std::string& dst, bool ro) {
  std::vector<std::string> opts = {"rbind", "rprivate"};
  if (ro) opts.push_back("ro");
  return {dst, "bind", src, opts};
}

bool Numeric(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
}

}  // namespace

std::string RlimitType(const std::string& ecs_name) {
  std::string up = ecs_name;
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return "RLIMIT_" + up;
}

oci::Spec BuildOciSpec(const SpecInputs& in) {
  const ContainerSpec& c = *in.container;
  oci::Spec spec = in.image_config;
  const oci::Process img_proc = spec.process.value_or(oci::Process{});
  oci::Process& proc = spec.process.emplace();
  proc.terminal = false;

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
    if (args.empty()) args = img_proc.args;
  }
  proc.args = args;

  std::vector<std::string> env = img_proc.env;
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
  proc.env = env;
  proc.cwd = c.working_directory.empty() ? img_proc.cwd : c.working_directory;

  oci::User user = img_proc.user.value_or(oci::User{});
  if (!c.user.empty()) {
    // "uid", "uid:gid" (names were resolved by the caller into numbers when possible).
    size_t colon = c.user.find(':');
    std::string u = c.user.substr(0, colon);
    std::string g = colon == std::string::npos ? "" : c.user.substr(colon + 1);
    if (Numeric(u)) user.uid = std::stoll(u);
    if (Numeric(g)) user.gid = std::stoll(g);
    else if (Numeric(u) && g.empty()) user.gid = 0;  // Docker: no passwd entry, group 0
  }
  proc.user = user;
  proc.capabilities = {};
  proc.capabilities.bounding = proc.capabilities.effective = proc.capabilities.permitted = DefaultCaps();
  proc.no_new_privileges = false;

  // rlimits: the image's, then the task's ulimits, each clamped to the host's hard limit.
  std::vector<oci::Rlimit>& rlimits = proc.rlimits;
  rlimits.clear();
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
      if (r.type == type) {
        r.soft = soft;
        r.hard = hard;
        return;
      }
    }
    rlimits.push_back({type, soft, hard});
  };
  for (const auto& r : img_proc.rlimits) clamp(r.type, r.soft, r.hard);
  for (const auto& u : c.ulimits) clamp(RlimitType(u.name), u.soft, u.hard);

  spec.root = oci::Root{in.rootfs, c.readonly_rootfs};
  spec.hostname = in.hostname;

  auto& mounts = spec.mounts;
  for (const char* dst : {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}) {
    std::erase_if(mounts, [&](const oci::Mount& m) { return m.destination == dst; });
  }
  // Docker mounts the network files read-only when the root filesystem is.
  if (!in.hosts_file.empty()) mounts.push_back(BindMount(in.hosts_file, "/etc/hosts", c.readonly_rootfs));
  if (!in.resolv_file.empty()) mounts.push_back(BindMount(in.resolv_file, "/etc/resolv.conf", c.readonly_rootfs));
  if (!in.hostname_file.empty()) mounts.push_back(BindMount(in.hostname_file, "/etc/hostname", c.readonly_rootfs));

  oci::Linux& linux_spec = spec.linux_spec ? *spec.linux_spec : spec.linux_spec.emplace();
  linux_spec.namespaces.clear();
  for (const char* t : {"pid", "ipc", "uts", "mount"}) linux_spec.namespaces.push_back({t, ""});
  if (!in.netns_path.empty()) linux_spec.namespaces.push_back({"network", in.netns_path});
  // umoci's rootless-style uid mappings do not apply: kecs runs as root.
  linux_spec.uid_mappings.reset();
  linux_spec.gid_mappings.reset();
  if (!in.cgroups_path.empty()) linux_spec.cgroups_path = in.cgroups_path;
  oci::Resources& resources = linux_spec.resources ? *linux_spec.resources : linux_spec.resources.emplace();
  if (c.memory_mib > 0 || c.memory_reservation_mib > 0) {
    resources.memory_limit.reset();
    resources.memory_reservation.reset();
    if (c.memory_mib > 0) resources.memory_limit = c.memory_mib * 1024 * 1024;
    if (c.memory_reservation_mib > 0) resources.memory_reservation = c.memory_reservation_mib * 1024 * 1024;
  }
  // ECS cpu units are Docker CPU shares. As the ECS agent does, 0 or unset is the kernel's
  // minimum of 2 shares, and more than the kernel's maximum is capped at 262144.
  resources.cpu_shares = std::clamp<int64_t>(c.cpu_units, 2, 262144);
  return spec;
}

}  // namespace kecs::runtime::local
