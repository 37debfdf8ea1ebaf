#include "runtime/local/oci_spec.h"

#include <algorithm>
#include <cctype>

#include "runtime/local/seccomp.h"

namespace kecs::runtime::local {
namespace oci = model::oci;
namespace {

// Where Docker's --init puts its init (moby daemon/config's DefaultInitBinary path).
constexpr const char* kInitPath = "/sbin/docker-init";

// Docker's default capability set, which ECS containers on EC2 run with.
const std::vector<std::string>& DefaultCaps() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
      "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
      "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return kCaps;
}

// Every capability the kernel defines, in bit order (up to CAP_CHECKPOINT_RESTORE, 40): what a privileged
// container, or one that adds "ALL", gets. runc leaves out the ones this kernel lacks.
const std::vector<std::string>& AllCaps() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
      "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
      "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
      "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
      "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
      "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
      "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
      "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
  return kCaps;
}

bool In(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// AWS's "NET_ADMIN" (any case, "CAP_" optional, as Docker accepts) -> "CAP_NET_ADMIN";
// "ALL" stays "ALL".
std::string NormalizeCap(const std::string& name) {
  std::string up = name;
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "ALL" || up.rfind("CAP_", 0) == 0) return up;
  return "CAP_" + up;
}

// Docker's sysctls that live in a container's own IPC namespace (moby opts.ValidateSysctl).
bool IpcSysctl(const std::string& key) {
  static const std::vector<std::string> kIpc = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                                "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                                                "kernel.shm_rmid_forced"};
  return In(kIpc, key) || key.rfind("fs.mqueue.", 0) == 0;
}

// The option a tmpfs mount option overrides: "exec" and "noexec" are one flag, as are
// "ro" and "rw", and every propagation mode; "size=1m" and "size=2m" are one datum.
std::string TmpfsOptionKey(const std::string& o) {
  static const std::vector<std::string> kPropagation = {"private", "rprivate", "shared", "rshared",
                                                        "slave", "rslave", "unbindable", "runbindable"};
  if (In(kPropagation, o)) return "propagation";
  if (o == "ro" || o == "rw") return "rw";
  if (o == "sync" || o == "async") return "sync";
  if (size_t eq = o.find('='); eq != std::string::npos) return o.substr(0, eq) + "=";
  if (o.rfind("no", 0) == 0 && o != "nomand") return o.substr(2);
  if (o == "nomand") return "mand";
  return o;
}

// A tmpfs mount's options as Docker gives them (moby daemon/oci_linux.go: "noexec",
// "nosuid", "nodev" and the default propagation, then the mount's own, merged by
// mount.MergeTmpfsOptions: the last of options that collide wins, in its place). The ECS
// agent appends the size as "size=<N>m".
std::vector<std::string> TmpfsOptions(const model::Tmpfs& t) {
  std::vector<std::string> in = {"noexec", "nosuid", "nodev", "rprivate"};
  for (const auto& o : t.mount_options) {
    if (o != "defaults") in.push_back(o);
  }
  if (t.size_mib > 0) in.push_back("size=" + std::to_string(t.size_mib) + "m");
  std::vector<std::string> out, seen;
  for (auto it = in.rbegin(); it != in.rend(); ++it) {
    std::string key = TmpfsOptionKey(*it);
    if (In(seen, key)) continue;
    seen.push_back(key);
    out.insert(out.begin(), *it);
  }
  return out;
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

namespace {
std::vector<std::string> RequestedCapabilities(const ContainerSpec& c);
}  // namespace

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
  const std::vector<std::string> caps = ContainerCapabilities(c, in.host_caps);
  proc.capabilities.bounding = proc.capabilities.effective = proc.capabilities.permitted = caps;
  proc.no_new_privileges = false;
  // initProcessEnabled: as `docker run --init`, the init runs the container's command.
  if (c.linux_parameters.init_process_enabled && !in.init_path.empty()) {
    std::vector<std::string> wrapped = {kInitPath, "--"};
    wrapped.insert(wrapped.end(), proc.args.begin(), proc.args.end());
    proc.args = wrapped;
  }

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

  const model::LinuxParameters& lp = c.linux_parameters;
  // /dev/shm: private with its size (sharedMemorySize), the task's (ipcMode task), the
  // host's (ipcMode host), or none (ipcMode none), as Docker sets up IpcMode.
  for (auto& m : mounts) {
    if (m.destination != "/dev/shm") continue;
    if (in.ipc_mode == "task" && !in.task_shm_dir.empty()) {
      m = BindMount(in.task_shm_dir, "/dev/shm", false);
    } else if (in.ipc_mode == "host") {
      m = BindMount("/dev/shm", "/dev/shm", false);
    } else if (lp.shared_memory_size_mib && *lp.shared_memory_size_mib > 0 && m.options) {
      std::erase_if(*m.options, [](const std::string& o) { return o.rfind("size=", 0) == 0; });
      m.options->push_back("size=" + std::to_string(*lp.shared_memory_size_mib * 1024 * 1024));
    }
  }
  if (in.ipc_mode == "none") std::erase_if(mounts, [](const oci::Mount& m) { return m.destination == "/dev/shm"; });
  if (c.privileged) {
    // Docker mounts sysfs and the cgroup hierarchy writable for privileged containers.
    for (auto& m : mounts) {
      if ((m.type == "sysfs" || m.type == "cgroup") && m.options) std::erase(*m.options, std::string("ro"));
    }
  }
  for (const auto& t : lp.tmpfs) {
    std::erase_if(mounts, [&](const oci::Mount& m) { return m.destination == t.container_path; });
    mounts.push_back({t.container_path, "tmpfs", "tmpfs", TmpfsOptions(t)});
  }
  for (const auto& m : in.volume_mounts) {
    std::erase_if(mounts, [&](const oci::Mount& old) { return old.destination == m.destination; });
    mounts.push_back(m);
  }
  if (c.linux_parameters.init_process_enabled && !in.init_path.empty()) {
    mounts.push_back({kInitPath, "bind", in.init_path, std::vector<std::string>{"bind", "ro"}});
  }

  // dockerLabels: Docker keeps them as container labels; the OCI spec's annotations are
  // their counterpart (what `runc state` and containerd show).
  if (!c.docker_labels.empty()) {
    auto& ann = spec.annotations ? *spec.annotations : spec.annotations.emplace();
    for (const auto& [k, v] : c.docker_labels) {
      std::erase_if(ann, [&](const auto& a) { return a.first == k; });
      ann.emplace_back(k, v);
    }
  }

  oci::Linux& linux_spec = spec.linux_spec ? *spec.linux_spec : spec.linux_spec.emplace();
  linux_spec.namespaces.clear();
  if (in.pid_mode == "task" && !in.pid_ns_path.empty()) linux_spec.namespaces.push_back({"pid", in.pid_ns_path});
  else if (in.pid_mode != "host") linux_spec.namespaces.push_back({"pid", ""});
  if (in.ipc_mode == "task" && !in.ipc_ns_path.empty()) linux_spec.namespaces.push_back({"ipc", in.ipc_ns_path});
  else if (in.ipc_mode != "host") linux_spec.namespaces.push_back({"ipc", ""});
  for (const char* t : {"uts", "mount"}) linux_spec.namespaces.push_back({t, ""});
  if (!in.netns_path.empty()) linux_spec.namespaces.push_back({"network", in.netns_path});
  if (!c.system_controls.empty()) {
    auto& sysctl = linux_spec.sysctl ? *linux_spec.sysctl : linux_spec.sysctl.emplace();
    for (const auto& [k, v] : c.system_controls) {
      std::erase_if(sysctl, [&](const auto& e) { return e.first == k; });
      sysctl.emplace_back(k, v);
    }
  }
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

  // Devices: the nodes runc makes, and the device cgroup rules that let the container use
  // them. A privileged container gets every host device and may use any (Docker's
  // `--privileged`), and no seccomp filter, masked or read-only /proc paths.
  if (c.privileged) {
    linux_spec.devices = in.host_devices;
    resources.devices = std::vector<oci::DeviceRule>{{true, std::nullopt, std::nullopt, std::nullopt, std::string("rwm")}};
    linux_spec.masked_paths.reset();
    linux_spec.readonly_paths.reset();
    linux_spec.seccomp.reset();
  } else {
    if (!in.devices.empty()) {
      auto& nodes = linux_spec.devices ? *linux_spec.devices : linux_spec.devices.emplace();
      auto& rules = resources.devices ? *resources.devices : resources.devices.emplace();
      for (const auto& d : in.devices) {
        std::erase_if(nodes, [&](const oci::LinuxDevice& n) { return n.path == d.node.path; });
        nodes.push_back(d.node);
        rules.push_back({true, d.node.type, d.node.major, d.node.minor, d.access});
      }
    }
    if (in.seccomp_profile != nullptr) {
      SeccompTarget target{in.go_arch, in.kernel_release, caps};
      auto sc = ResolveSeccomp(*in.seccomp_profile, target);
      if (sc.ok()) linux_spec.seccomp = std::move(*sc);
    }
  }
  return spec;
}

std::vector<std::string> CapabilityNames(uint64_t mask) {
  std::vector<std::string> out;
  for (size_t bit = 0; bit < AllCaps().size() && bit < 64; ++bit) {
    if (mask & (uint64_t{1} << bit)) out.push_back(AllCaps()[bit]);
  }
  return out;
}

int CapabilityNumber(std::string_view name) {
  std::string full = name.starts_with("CAP_") ? std::string(name) : "CAP_" + std::string(name);
  for (size_t bit = 0; bit < AllCaps().size(); ++bit) {
    if (AllCaps()[bit] == full) return static_cast<int>(bit);
  }
  return -1;
}

std::vector<std::string> ContainerCapabilities(const ContainerSpec& c, const std::vector<std::string>& host_caps) {
  std::vector<std::string> caps = RequestedCapabilities(c);
  if (!host_caps.empty()) std::erase_if(caps, [&](const std::string& cap) { return !In(host_caps, cap); });
  return caps;
}

namespace {

std::vector<std::string> RequestedCapabilities(const ContainerSpec& c) {
  if (c.privileged) return AllCaps();
  const auto& lp = c.linux_parameters;
  if (lp.capabilities_add.empty() && lp.capabilities_drop.empty()) return DefaultCaps();
  auto normalized = [](const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& n : names) {
      std::string cap = NormalizeCap(n);
      if ((cap == "ALL" || In(AllCaps(), cap)) && !In(out, cap)) out.push_back(cap);
    }
    return out;
  };
  std::vector<std::string> add = normalized(lp.capabilities_add), drop = normalized(lp.capabilities_drop);
  std::vector<std::string> caps;
  // moby oci/caps.TweakCapabilities: adding ALL keeps every capability but the dropped
  // ones; dropping ALL keeps only the added ones; else the default set less the dropped,
  // plus the added.
  if (In(add, "ALL")) {
    for (const auto& cap : AllCaps()) {
      if (!In(drop, cap)) caps.push_back(cap);
    }
  } else if (In(drop, "ALL")) {
    caps = add;
  } else {
    for (const auto& cap : DefaultCaps()) {
      if (!In(drop, cap)) caps.push_back(cap);
    }
    for (const auto& cap : add) {
      if (!In(caps, cap)) caps.push_back(cap);
    }
  }
  return caps;
}

}  // namespace

Status CheckContainerSettings(const ContainerSpec& c, const SpecInputs& in) {
  const auto& lp = c.linux_parameters;
  for (const auto* list : {&lp.capabilities_add, &lp.capabilities_drop}) {
    for (const auto& n : *list) {
      std::string cap = NormalizeCap(n);
      // moby oci/caps.NormalizeLegacyCapabilities: "unknown capability: %q".
      if (cap != "ALL" && !In(AllCaps(), cap)) return InvalidArgument("unknown capability: \"" + cap + "\"");
    }
  }
  const bool host_network = in.netns_path.empty();
  for (const auto& [key, value] : c.system_controls) {
    (void)value;
    // The rules are Docker's (opts.ValidateSysctl) and runc's (configs/validate), whose
    // messages these are: only sysctls of the container's own IPC or network namespace.
    if (key.rfind("net.", 0) == 0) {
      if (host_network) return InvalidArgument("sysctl \"" + key + "\" not allowed in host network namespace");
    } else if (IpcSysctl(key)) {
      if (in.ipc_mode == "host") return InvalidArgument("sysctl \"" + key + "\" is not allowed in the hosts ipc namespace");
    } else {
      return InvalidArgument("sysctl '" + key + "' is not allowed: a container can only set namespaced sysctls "
                             "(kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, "
                             "kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced, fs.mqueue.*, net.*)");
    }
  }
  if (lp.init_process_enabled && in.init_path.empty()) {
    return FailedPrecondition("initProcessEnabled needs an init: install Debian's tini package "
                              "(scripts/install-deps.sh), whose tini-static kecs mounts at /sbin/docker-init");
  }
  for (const auto& t : lp.tmpfs) {
    if (t.container_path.empty() || t.container_path[0] != '/') {
      return InvalidArgument("invalid tmpfs mount path: '" + t.container_path + "' mount path must be absolute");
    }
  }
  return Status::Ok();
}

}  // namespace kecs::runtime::local
