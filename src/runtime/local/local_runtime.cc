#include "runtime/local/local_runtime.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "base/host.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"
#include "net/domain/ip.h"
#include "net/kernel/netns.h"
#include "runtime/local/health.h"
#include "runtime/local/ns_holder.h"
#include "runtime/local/oci_spec.h"
#include "runtime/local/seccomp.h"
#include "runtime/local/volumes.h"

namespace kecs::runtime::local {
namespace fs = std::filesystem;
namespace {

// The file's content; "" when it cannot be read.
std::string ReadAll(Env* env, const fs::path& p) {
  auto r = env->ReadFile(p);
  return r.ok() ? *r : "";
}

// The names in a directory; none when it cannot be listed (or is gone).
std::vector<std::string> Names(Env* env, const fs::path& dir) {
  auto r = env->ListDir(dir);
  return r.ok() ? *r : std::vector<std::string>{};
}

bool IsMountPoint(Env* env, const fs::path& p) {
  std::istringstream in(ReadAll(env, "/proc/self/mountinfo"));
  std::string line;
  std::string want = " " + p.string() + " ";
  while (std::getline(in, line)) {
    if (line.find(want) != std::string::npos) return true;
  }
  return false;
}

// The host's resolvers that a namespace can reach (loopback resolvers cannot be).
std::vector<std::string> HostNameservers(Env* env) {
  std::vector<std::string> out;
  std::istringstream in(ReadAll(env, "/etc/resolv.conf"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string key, value;
    l >> key >> value;
    if (key == "nameserver" && !value.starts_with("127.") && value != "::1") out.push_back(value);
  }
  return out;
}

// A file of the image's root filesystem, resolved inside it (links cannot point the
// lookup at the host's files); "" when it cannot be read.
std::string ReadInRootfs(Env* env, const fs::path& rootfs, const std::string& rel) {
  auto r = env->ReadFileInRoot(rootfs, rel);
  return r.ok() ? *r : "";
}

// user "name[:group]" -> "uid[:gid]" from the image's /etc/passwd and /etc/group.
std::string ResolveUser(Env* env, const std::string& user, const fs::path& rootfs) {
  if (user.empty()) return user;
  size_t colon = user.find(':');
  std::string u = user.substr(0, colon), g = colon == std::string::npos ? "" : user.substr(colon + 1);
  auto lookup = [&](const char* file, const std::string& name, int field) -> std::string {
    if (name.empty() || std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return name;
    }
    std::istringstream in(ReadInRootfs(env, rootfs, file));
    std::string line;
    while (std::getline(in, line)) {
      auto parts = Split(line, ':');
      if (parts.size() > static_cast<size_t>(field) && parts[0] == name) return parts[static_cast<size_t>(field)];
    }
    return name;
  };
  std::string uid = lookup("etc/passwd", u, 2);
  std::string gid = g.empty() ? "" : lookup("etc/group", g, 2);
  if (gid.empty()) {
    // The user's primary group, by name or by uid; with no passwd entry Docker uses group 0,
    // which BuildOciSpec gives a bare uid.
    bool by_name = uid != u;
    std::istringstream in(ReadInRootfs(env, rootfs, "etc/passwd"));
    std::string line;
    while (std::getline(in, line)) {
      auto parts = Split(line, ':');
      if (parts.size() > 3 && (by_name ? parts[0] == u : parts[2] == u)) {
        gid = parts[3];
        break;
      }
    }
  }
  return gid.empty() ? uid : uid + ":" + gid;
}

std::vector<std::pair<std::string, int64_t>> HardLimits() {
  std::vector<std::pair<std::string, int64_t>> out;
  const std::pair<const char*, int> kLimits[] = {
      {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},
      {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
      {"RLIMIT_STACK", RLIMIT_STACK},   {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
  };
  for (const auto& [name, r] : kLimits) {
    rlimit l{};
    if (getrlimit(r, &l) == 0 && l.rlim_max != RLIM_INFINITY) out.emplace_back(name, static_cast<int64_t>(l.rlim_max));
  }
  return out;
}

// Debian's tini package: its static build runs in any image (Docker's docker-init is tini).
constexpr const char* kTiniStatic = "/usr/bin/tini-static";

// A device node on the host as runc makes it in a container, at `container_path`.
Result<model::oci::LinuxDevice> DeviceNode(const std::string& host_path, const std::string& container_path) {
  struct stat st {};
  if (stat(host_path.c_str(), &st) != 0) return PosixError(host_path, errno);
  model::oci::LinuxDevice d;
  if (S_ISCHR(st.st_mode)) d.type = "c";
  else if (S_ISBLK(st.st_mode)) d.type = "b";
  else return InvalidArgument(host_path + " is not a device node");
  d.path = container_path;
  d.major = major(st.st_rdev);
  d.minor = minor(st.st_rdev);
  d.file_mode = st.st_mode & 07777;
  d.uid = st.st_uid;
  d.gid = st.st_gid;
  return d;
}

// Every device node under /dev, as runc's devices.HostDevices lists them for a privileged
// container (without the pseudo-terminal, shm, fd and mqueue directories, nor the console).
void HostDevices(const fs::path& dir, std::vector<model::oci::LinuxDevice>& out) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_symlink(ec)) continue;
    if (e.is_directory(ec)) {
      if (name == "pts" || name == "shm" || name == "fd" || name == "mqueue" || name == ".lxc" ||
          name == ".lxd-mounts" || name == ".udev") {
        continue;
      }
      HostDevices(e.path(), out);
      continue;
    }
    if (name == "console") continue;
    auto d = DeviceNode(e.path().string(), e.path().string());
    if (d.ok() && !(d->major == 0 && d->minor == 0)) out.push_back(*d);
  }
}

// linuxParameters.devices permissions ("read", "write", "mknod") as a cgroup access.
std::string DeviceAccess(const std::vector<std::string>& permissions) {
  if (permissions.empty()) return "rwm";
  std::string out;
  for (const auto& [word, letter] : {std::pair{"read", 'r'}, {"write", 'w'}, {"mknod", 'm'}}) {
    if (std::find(permissions.begin(), permissions.end(), word) != permissions.end()) out.push_back(letter);
  }
  return out;
}

}  // namespace

LocalRuntime::LocalRuntime(LocalOptions options)
    : options_(std::move(options)),
      env_(options_.env),
      network_(options_.network),
      images_(options_.data_dir + "/images", options_.registries, env_),
      driver_(options_.data_dir + "/runtime/runc", options_.shim_exe, env_),
      lb_network_(network_, options_.data_dir),
      proxies_(ProxyOptions{options_.haproxy, options_.data_dir + "/runtime/lb"}) {}

std::string LocalRuntime::Describe() const {
  return fmt::format("local: runc containers in network namespaces (prefix '{}', bridge {})",
                     options_.network.prefix, options_.network.bridge_cidr);
}

Status LocalRuntime::Init() {
  if (!Host().is_root) {
    return PermissionDenied(
        "the local runtime needs root: it creates network namespaces, veth pairs, bridges and "
        "nftables rules and runs containers with runc. Run kecs as root, or start it with "
        "--runtime simulated (no data plane: tasks go through their states but nothing runs)");
  }
  if (access(options_.shim_exe.c_str(), X_OK) != 0) {
    return FailedPrecondition("the local runtime needs kecs-shim beside kecs (" + options_.shim_exe +
                              " is missing); rebuild with scripts/build.sh");
  }
  for (const char* tool : {"runc", "skopeo", "umoci"}) {
    auto r = env_->Run({tool, "--version"}, std::chrono::seconds(10));
    if (!r.ok() || r->exit_code != 0) {
      return FailedPrecondition(fmt::format(
          "the local runtime needs {} (Debian package {}); run scripts/install-deps.sh", tool, tool));
    }
  }
  if (ReadAll(env_, "/proc/filesystems").find("overlay") == std::string::npos) {
    return FailedPrecondition("the local runtime needs overlayfs, which this kernel does not offer");
  }
  RETURN_IF_ERROR(env_->CreateDirs(options_.data_dir + "/runtime/tasks"));
  // Unprivileged containers run under Docker's default seccomp profile, from Debian's
  // golang-github-containers-common. Without it they run unconfined, as Docker does on a
  // host without seccomp, and the log says so.
  if (auto text = env_->ReadFile(kDefaultSeccompProfile); text.ok()) {
    auto profile = model::oci::DecodeSeccompProfile(*text);
    if (!profile.ok()) return FailedPrecondition(std::string(kDefaultSeccompProfile) + ": " + profile.status().message());
    seccomp_ = std::move(*profile);
  } else {
    KLOG_WARN("{} is missing (Debian package golang-github-containers-common; scripts/install-deps.sh): "
              "containers run without a seccomp filter", kDefaultSeccompProfile);
  }
  if (env_->Exists(kTiniStatic)) init_path_ = kTiniStatic;
  utsname u{};
  if (uname(&u) == 0) kernel_release_ = u.release;
  // The capabilities runc can grant are the ones this process has.
  std::istringstream status(ReadAll(env_, "/proc/self/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapBnd:", 0) == 0) host_caps_ = CapabilityNames(std::stoull(std::string(Trim(line.substr(7))), nullptr, 16));
  }
  return network_.Init();
}

std::string LocalRuntime::TaskDir(const std::string& task_id) const {
  return options_.data_dir + "/runtime/tasks/" + task_id;
}

std::string LocalRuntime::InstanceDir(const std::string& instance_id) const {
  return options_.data_dir + "/runtime/instances/" + instance_id;
}

std::string LocalRuntime::BundleDir(const std::string& task_id, const std::string& container) const {
  return TaskDir(task_id) + "/containers/" + container;
}

std::string LocalRuntime::ContainerId(const std::string& task_id, const std::string& container) const {
  return options_.network.prefix + "-" + task_id + "-" + container;
}

Result<ContainerOutput> LocalRuntime::ReadOutput(const std::string& task_id, const std::string& container,
                                                 int64_t offset, size_t max) {
  // Both names become a path: a task id is hex, a container name letters, digits, '-' and '_'.
  auto plain = [](const std::string& s) {
    return !s.empty() && s.size() <= 255 &&
           std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
  };
  if (!plain(task_id) || !plain(container)) return InvalidArgument("not a task id and container name");
  if (offset < 0) return InvalidArgument("negative output offset");
  std::string path = LogPath(task_id, container);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(fmt::format("no output for container \"{}\" of task {}", container, task_id));
    return Internal(fmt::format("open {}: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Internal(fmt::format("stat {}: {}", path, std::strerror(e)));
  }
  ContainerOutput out;
  out.size = st.st_size;
  if (offset < out.size) {
    out.data.resize(static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(max), out.size - offset)));
    size_t got = 0;
    while (got < out.data.size()) {
      ssize_t n = ::pread(fd, out.data.data() + got, out.data.size() - got, static_cast<off_t>(offset + static_cast<int64_t>(got)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.data.resize(got);
  }
  ::close(fd);
  return out;
}

std::string LocalRuntime::LogPath(const std::string& task_id, const std::string& container) const {
  return TaskDir(task_id) + "/logs/" + container + ".log";
}

namespace {
// resolv.conf's text: the search list, then the nameservers.
std::string ResolvConfText(const std::vector<std::string>& servers, const std::vector<std::string>& search) {
  std::string text;
  if (!search.empty()) text += "search " + Join(search, " ") + "\n";
  for (const auto& s : servers) text += "nameserver " + s + "\n";
  return text;
}
}  // namespace

Status LocalRuntime::WriteTaskFiles(const TaskSpec& task) {
  fs::path dir = TaskDir(task.task_id);
  RETURN_IF_ERROR(env_->CreateDirs(dir / "logs"));
  RETURN_IF_ERROR(env_->CreateDirs(dir / "containers"));
  const NetworkSpec& n = task.network;
  std::string hostname = n.hostname;
  if (n.mode == model::NetworkMode::kHost) hostname = Host().hostname;
  if (hostname.empty()) hostname = task.task_id.substr(0, 12);
  std::string ip = n.mode == model::NetworkMode::kAwsvpc ? n.ip : n.mode == model::NetworkMode::kBridge ? n.bridge_ip : "";
  // A bridge- or host-mode task on an EC2 instance takes the instance's resolver (its
  // VPC's), and in host mode its name and address too.
  std::vector<std::string> instance_servers, instance_search;
  if (!n.instance_id.empty() && (n.mode == model::NetworkMode::kHost || n.mode == model::NetworkMode::kBridge)) {
    fs::path idir = IsInstanceId(n.instance_id) ? fs::path(InstanceDir(n.instance_id)) : fs::path();
    if (idir.empty() || !env_->Exists(idir / "hostname")) {
      return FailedPrecondition(fmt::format("instance {} is not running on this host", n.instance_id));
    }
    if (n.mode == model::NetworkMode::kHost) {
      hostname = std::string(Trim(ReadAll(env_, idir / "hostname")));
      ip = n.instance_ip;
    }
    std::istringstream resolv(ReadAll(env_, idir / "resolv.conf"));
    for (std::string line; std::getline(resolv, line);) {
      if (line.rfind("nameserver ", 0) == 0) instance_servers.push_back(std::string(Trim(line.substr(11))));
      if (line.rfind("search ", 0) == 0) instance_search = Split(std::string(Trim(line.substr(7))), ' ');
    }
  }
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  if (!ip.empty()) hosts += ip + "\t" + hostname + "\n";
  std::set<std::string> extra_seen;
  for (const auto& c : task.containers) {
    for (const auto& [h, addr] : c.extra_hosts) {
      if (extra_seen.insert(h + " " + addr).second) hosts += addr + "\t" + h + "\n";
    }
  }
  RETURN_IF_ERROR(env_->WriteFileAtomic(dir / "hosts", hosts));
  RETURN_IF_ERROR(env_->WriteFileAtomic(dir / "hostname", hostname + "\n"));
  // Resolvers: the container definitions' dnsServers, else the VPC's resolver (base+2)
  // for awsvpc tasks, else the host's.
  std::vector<std::string> servers, search;
  for (const auto& c : task.containers) {
    for (const auto& s : c.dns_servers) servers.push_back(s);
    for (const auto& s : c.dns_search_domains) search.push_back(s);
  }
  // awsvpc: the VPC's DHCP options set (its domain-name-servers, AmazonProvidedDNS being
  // the VPC resolver; its domain-name as the search list), else the VPC resolver.
  if (n.mode == model::NetworkMode::kAwsvpc) {
    if (servers.empty()) servers = n.dhcp_nameservers;
    if (search.empty()) search = n.dhcp_search;
  }
  if (servers.empty() && n.mode == model::NetworkMode::kAwsvpc && !n.dns_server.empty()) servers.push_back(n.dns_server);
  if (servers.empty()) servers = instance_servers;
  if (servers.empty()) servers = HostNameservers(env_);
  if (search.empty()) search = instance_search;
  return env_->WriteFileAtomic(dir / "resolv.conf", ResolvConfText(servers, search));
}

Status LocalRuntime::CreateSandbox(const TaskSpec& task) {
  RETURN_IF_ERROR(WriteTaskFiles(task));
  // pidMode/ipcMode task: namespaces that outlive any one container, held by a process
  // (the agent's pause container), and for IPC a /dev/shm the containers share.
  std::vector<std::string> shared;
  if (task.pid_mode == "task") shared.push_back("pid");
  if (task.ipc_mode == "task") shared.push_back("ipc");
  if (!shared.empty()) {
    RETURN_IF_ERROR(EnsureNsHolder(env_, options_.shim_exe, TaskDir(task.task_id) + "/ns-holder.pid", Join(shared, ",")).status());
  }
  if (task.ipc_mode == "task") {
    fs::path shm = fs::path(TaskDir(task.task_id)) / "shm";
    RETURN_IF_ERROR(env_->CreateDirs(shm));
    // Docker's default /dev/shm: 64 MiB.
    if (!IsMountPoint(env_, shm) &&
        mount("shm", shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") != 0) {
      return PosixError("mount the task's /dev/shm", errno);
    }
  }
  RETURN_IF_ERROR(network_.SetUpTask(task));
  return EnsureResolver(task);
}

namespace {

// The inode of a named network namespace; 0 when there is none.
uint64_t NetnsInode(Env* env, const std::string& name) {
  auto info = env->Stat(std::string(net::netns::kRunDir) + "/" + name);
  return info.ok() ? info->inode : 0;
}

}  // namespace

Status LocalRuntime::EnsureResolver(const TaskSpec& task, bool adopt_only) {
  const NetworkSpec& n = task.network;
  if (options_.dns == nullptr || n.mode != model::NetworkMode::kAwsvpc || n.vpc_id.empty() || n.dns_server.empty()) {
    return Status::Ok();
  }
  std::string router = network_.RouterNamespace(n.vpc_id);
  std::lock_guard<std::mutex> lock(resolvers_mu_);
  // A router made again is always made by CreateSandbox, which checks the inode itself.
  if (adopt_only && resolvers_.count(n.vpc_id)) return Status::Ok();
  uint64_t ino = NetnsInode(env_, router);
  if (ino == 0) return FailedPrecondition("VPC " + n.vpc_id + " has no router");
  auto it = resolvers_.find(n.vpc_id);
  if (it != resolvers_.end() && it->second == ino) return Status::Ok();
  options_.dns->Unlisten(n.vpc_id);  // a listener in a router that is gone
  RETURN_IF_ERROR(network_.EnsureResolverAddress(task).status());
  auto port = options_.dns->Listen(n.vpc_id, router, n.dns_server, 53);
  if (!port.ok()) return Status(port.status().code(), "VPC resolver: " + port.status().message());
  resolvers_[n.vpc_id] = ino;
  return Status::Ok();
}

void LocalRuntime::DropResolversWithoutRouter() {
  if (options_.dns == nullptr) return;
  std::lock_guard<std::mutex> lock(resolvers_mu_);
  for (auto it = resolvers_.begin(); it != resolvers_.end();) {
    if (NetnsInode(env_, network_.RouterNamespace(it->first)) == it->second) {
      ++it;
      continue;
    }
    // The listener's sockets would otherwise keep the deleted namespace alive.
    options_.dns->Unlisten(it->first);
    it = resolvers_.erase(it);
  }
}

Result<std::map<std::string, std::string>> LocalRuntime::PullImages(const TaskSpec& task) {
  std::map<std::string, std::string> digests;
  for (const auto& c : task.containers) {
    // The store's error says what it tried (and how often) in the agent's words.
    // repositoryCredentials, resolved by the controller: into skopeo's private auth file.
    std::string credentials = c.registry_auth ? c.registry_auth->username + ":" + c.registry_auth->password : "";
    ASSIGN_OR_RETURN(Image img, images_.Ensure(c.image, credentials));
    digests[c.name] = img.digest;
  }
  return digests;
}

Status LocalRuntime::PrepareBundle(const TaskSpec& task, const ContainerSpec& c, const Image& image) {
  fs::path b = BundleDir(task.task_id, c.name);
  for (const char* d : {"rootfs", "upper", "work"}) RETURN_IF_ERROR(env_->CreateDirs(b / d));
  if (!IsMountPoint(env_, b / "rootfs")) {
    std::string opts = fmt::format("lowerdir={}/rootfs,upperdir={},workdir={}", image.bundle,
                                   (b / "upper").string(), (b / "work").string());
    if (mount("overlay", (b / "rootfs").c_str(), "overlay", 0, opts.c_str()) != 0) {
      return PosixError("mount overlay for " + c.name, errno);
    }
  }
  ContainerSpec resolved = c;
  resolved.user = ResolveUser(env_, c.user, fs::path(image.bundle) / "rootfs");
  SpecInputs in;
  in.container = &resolved;
  in.image_config = image.config;
  in.image_entrypoint = image.entrypoint;
  in.image_cmd = image.cmd;
  in.rootfs = (b / "rootfs").string();
  in.netns_path = network_.NetnsPath(task);
  in.hostname = std::string(Trim(ReadAll(env_, fs::path(TaskDir(task.task_id)) / "hostname")));
  in.hosts_file = TaskDir(task.task_id) + "/hosts";
  in.resolv_file = TaskDir(task.task_id) + "/resolv.conf";
  in.hostname_file = TaskDir(task.task_id) + "/hostname";
  in.cgroups_path = fmt::format("{}/{}/{}", options_.network.prefix, task.task_id, c.name);
  in.hard_limits = HardLimits();
  in.extra_env = {"AWS_EXECUTION_ENV=AWS_ECS_EC2"};
  RETURN_IF_ERROR(LinuxInputs(task, resolved, in));
  // Root only: the process's environment holds the container's secrets (issue 14).
  return env_->WriteFileAtomic(b / "config.json", model::oci::EncodeSpec(BuildOciSpec(in)), 0600);
}

Status LocalRuntime::LinuxInputs(const TaskSpec& task, const ContainerSpec& c, SpecInputs& in) {
  const std::string task_dir = TaskDir(task.task_id);
  fs::path b = BundleDir(task.task_id, c.name);
  // The container hostname, where AWS allows one (bridge and none; awsvpc tasks take the
  // ENI's, host tasks the host's): its own /etc/hostname and the hosts line naming it.
  const auto mode = task.network.mode;
  if (!c.hostname.empty() && (mode == model::NetworkMode::kBridge || mode == model::NetworkMode::kNone)) {
    std::string hosts = ReadAll(env_, fs::path(task_dir) / "hosts");
    std::string old_line = "\t" + in.hostname + "\n";
    if (size_t at = hosts.find(old_line); at != std::string::npos) hosts.replace(at, old_line.size(), "\t" + c.hostname + "\n");
    RETURN_IF_ERROR(env_->WriteFileAtomic(b / "hostname", c.hostname + "\n"));
    RETURN_IF_ERROR(env_->WriteFileAtomic(b / "hosts", hosts));
    in.hostname = c.hostname;
    in.hostname_file = (b / "hostname").string();
    in.hosts_file = (b / "hosts").string();
  }
  VolumePaths paths{options_.data_dir, task_dir};
  ASSIGN_OR_RETURN(auto mounts, ContainerVolumeMounts(task, c, paths));
  for (const auto& m : mounts) {
    for (const auto& v : task.volumes) {
      if (v.name != m.volume || !SeedsFromImage(v)) continue;
      // Docker's copy-up into an empty named volume: the image's files at the mount path.
      if (Status st = SeedVolume(env_, in.rootfs, m.container_path, m.host_path); !st.ok()) {
        KLOG_WARN("task {} container {}: volume {}: {}", task.task_id, c.name, v.name, st.message());
      }
    }
  }
  in.volume_mounts = OciMounts(mounts);
  in.init_path = init_path_;
  in.seccomp_profile = seccomp_ ? &*seccomp_ : nullptr;
  in.go_arch = NativeGoArch();
  in.kernel_release = kernel_release_;
  in.host_caps = host_caps_;
  in.pid_mode = task.pid_mode;
  in.ipc_mode = task.ipc_mode;
  if (task.pid_mode == "task" || task.ipc_mode == "task") {
    auto holder = NsHolderPid(env_, task_dir + "/ns-holder.pid");
    if (!holder) return FailedPrecondition("the task's shared namespaces are gone (their holder process ended)");
    std::string proc = "/proc/" + std::to_string(*holder) + "/ns/";
    if (task.pid_mode == "task") in.pid_ns_path = proc + "pid";
    if (task.ipc_mode == "task") {
      in.ipc_ns_path = proc + "ipc";
      in.task_shm_dir = task_dir + "/shm";
    }
  }
  for (const auto& d : c.linux_parameters.devices) {
    std::string dst = d.container_path.empty() ? d.host_path : d.container_path;
    auto node = DeviceNode(d.host_path, dst);
    if (!node.ok()) {
      // moby daemon/oci_linux.go's words.
      return InvalidArgument(fmt::format("error gathering device information while adding custom device \"{}\": {}",
                                         d.host_path, node.status().message()));
    }
    in.devices.push_back({*node, DeviceAccess(d.permissions)});
  }
  if (c.privileged) HostDevices("/dev", in.host_devices);
  return CheckContainerSettings(c, in);
}

Status LocalRuntime::StartContainers(const TaskSpec& task, const std::set<std::string>& names) {
  // The task's volumes, before any container mounts them (the agent's volume resources).
  RETURN_IF_ERROR(PrepareVolumes(env_, task, VolumePaths{options_.data_dir, TaskDir(task.task_id)}));
  for (const auto& c : task.containers) {
    if (!names.count(c.name)) continue;
    // A repeated call (after a crash) leaves a container that runs or already ran alone: an
    // ECS task never runs a container twice.
    ContainerStatus now = driver_.Inspect(BundleDir(task.task_id, c.name));
    if (now.phase == ContainerStatus::Phase::kRunning) continue;
    if (now.phase == ContainerStatus::Phase::kExited) {
      if (now.error.empty()) continue;
      return Internal(fmt::format("failed to start container \"{}\": {}", c.name, now.error));
    }
    // repositoryCredentials, resolved by the controller: into skopeo's private auth file.
    std::string credentials = c.registry_auth ? c.registry_auth->username + ":" + c.registry_auth->password : "";
    ASSIGN_OR_RETURN(Image img, images_.Ensure(c.image, credentials));
    RETURN_IF_ERROR(PrepareBundle(task, c, img));
    RETURN_IF_ERROR(WriteHealthConfig(env_, BundleDir(task.task_id, c.name), c));
    Status st = driver_.Start(ContainerId(task.task_id, c.name), BundleDir(task.task_id, c.name),
                              LogPath(task.task_id, c.name));
    if (!st.ok()) return Status(st.code(), fmt::format("failed to start container \"{}\": {}", c.name, st.message()));
  }
  return network_.Publish(task);
}

namespace {

ContainerState ToState(const std::string& name, const ContainerStatus& s, const std::string& runtime_id) {
  ContainerState cs;
  cs.name = name;
  cs.runtime_id = runtime_id;
  switch (s.phase) {
    case ContainerStatus::Phase::kRunning: cs.phase = ContainerState::Phase::kRunning; break;
    case ContainerStatus::Phase::kExited:
      cs.phase = ContainerState::Phase::kExited;
      if (s.error.empty()) cs.exit_code = s.exit_code;
      if (!s.error.empty()) cs.reason = "CannotStartContainerError: " + s.error;
      if (s.exit_code == 137 && s.error.empty()) cs.reason = "";
      break;
    case ContainerStatus::Phase::kMissing: cs.phase = ContainerState::Phase::kMissing; break;
  }
  cs.started_at = s.started_at;
  cs.finished_at = s.finished_at;
  return cs;
}

}  // namespace

Result<TaskState> LocalRuntime::Inspect(const TaskSpec& task) {
  // After a daemon restart the routers of running tasks are adopted; their resolvers come
  // back with the first inspection.
  if (Status r = EnsureResolver(task, /*adopt_only=*/true); !r.ok() && r.code() != Code::kFailedPrecondition) {
    KLOG_WARN("{}", r.message());
  }
  TaskState st;
  for (const auto& c : task.containers) {
    st.containers.push_back(Observed(task, c, driver_.Inspect(BundleDir(task.task_id, c.name))));
  }
  return st;
}

ContainerState LocalRuntime::Observed(const TaskSpec& task, const ContainerSpec& c, const ContainerStatus& s) {
  ContainerState cs = ToState(c.name, s, ContainerId(task.task_id, c.name));
  if (c.health_check && s.phase != ContainerStatus::Phase::kMissing) ReadHealth(env_, BundleDir(task.task_id, c.name), cs);
  return cs;
}

Result<TaskState> LocalRuntime::StopContainers(const TaskSpec& task) {
  // Wave by wave in StopOrder (dependents first); within a wave every container gets
  // SIGTERM at once, and SIGKILL after its own stopTimeout.
  std::map<std::string, ContainerStatus> results;
  std::mutex mu;
  for (const auto& wave : StopOrder(task)) {
    std::vector<std::thread> stops;
    for (const auto& name : wave) {
      auto it = std::find_if(task.containers.begin(), task.containers.end(),
                             [&](const ContainerSpec& c) { return c.name == name; });
      if (it == task.containers.end()) continue;
      stops.emplace_back([&, c = &*it] {
        ContainerStatus s = driver_.Stop(BundleDir(task.task_id, c->name), std::chrono::seconds(c->stop_timeout_s));
        std::lock_guard<std::mutex> lock(mu);
        results[c->name] = s;
      });
    }
    for (auto& t : stops) t.join();
  }
  TaskState st;
  for (const auto& c : task.containers) {
    st.containers.push_back(Observed(task, c, results[c.name]));
  }
  return st;
}

Status LocalRuntime::RemoveTaskDir(const std::string& task_id) {
  fs::path containers = fs::path(TaskDir(task_id)) / "containers";
  for (const auto& name : Names(env_, containers)) {
    fs::path rootfs = containers / name / "rootfs";
    if (IsMountPoint(env_, rootfs) && umount2(rootfs.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
      return PosixError("umount " + rootfs.string(), errno);
    }
  }
  // Logs stay for `kecs logs`; the containers' writable layers, the task-scoped volumes,
  // the shared namespaces and /dev/shm go. Shared volumes and EFS directories stay.
  RETURN_IF_ERROR(env_->RemoveAll(containers));
  fs::path dir = TaskDir(task_id);
  RETURN_IF_ERROR(StopNsHolder(env_, (dir / "ns-holder.pid").string()));
  if (IsMountPoint(env_, dir / "shm") && umount2((dir / "shm").c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    return PosixError("umount " + (dir / "shm").string(), errno);
  }
  RETURN_IF_ERROR(env_->RemoveAll(dir / "shm"));
  return env_->RemoveAll(dir / "volumes");
}

namespace {

// The directories under which runc creates our cgroups: /sys/fs/cgroup itself (v2) and each
// v1 controller hierarchy, each holding <prefix>/<task>/<container>.
std::vector<fs::path> CgroupParents(Env* env, const std::string& prefix) {
  std::vector<fs::path> out;
  fs::path root("/sys/fs/cgroup");
  auto is_dir = [&](const fs::path& p) {
    auto info = env->Stat(p);
    return info.ok() && info->is_dir;
  };
  if (is_dir(root / prefix)) out.push_back(root / prefix);
  for (const auto& name : Names(env, root)) {
    if (is_dir(root / name / prefix)) out.push_back(root / name / prefix);
  }
  return out;
}

// runc removes a container's own cgroup; the task's cgroup above it is ours to remove.
// Removal only succeeds on an empty cgroup, so a task with a live process keeps it.
void RemoveTaskCgroups(Env* env, const std::string& prefix, const std::string& task_id) {
  for (const auto& parent : CgroupParents(env, prefix)) (void)env->RemoveFile(parent / task_id);
}

}  // namespace

Status LocalRuntime::Delete(const TaskSpec& task) {
  for (const auto& c : task.containers) {
    ContainerStatus s = driver_.Inspect(BundleDir(task.task_id, c.name));
    if (s.phase == ContainerStatus::Phase::kRunning) {
      driver_.Stop(BundleDir(task.task_id, c.name), std::chrono::seconds(0));
    }
    RETURN_IF_ERROR(driver_.Delete(ContainerId(task.task_id, c.name)));
  }
  RETURN_IF_ERROR(RemoveTaskDir(task.task_id));
  RemoveTaskCgroups(env_, options_.network.prefix, task.task_id);
  Status st = network_.TearDownTask(task);
  DropResolversWithoutRouter();
  return st;
}

Status LocalRuntime::GarbageCollect(const std::set<std::string>& live,
                                    const std::set<std::string>& known) {
  std::string prefix = options_.network.prefix + "-";
  // Containers of tasks that are gone.
  fs::path tasks = options_.data_dir + "/runtime/tasks";
  for (const auto& id : Names(env_, tasks)) {
    if (live.count(id)) continue;
    fs::path containers = tasks / id / "containers";
    for (const auto& name : Names(env_, containers)) {
      std::string bundle = containers / name;
      ContainerStatus s = driver_.Inspect(bundle);
      if (s.phase == ContainerStatus::Phase::kRunning) driver_.Stop(bundle, std::chrono::seconds(0));
      (void)driver_.Delete(ContainerId(id, name));
    }
    RETURN_IF_ERROR(RemoveTaskDir(id));
    if (!known.count(id)) (void)env_->RemoveAll(tasks / id);  // the task expired: its logs go too
  }
  for (const auto& cid : driver_.List()) {
    if (cid.rfind(prefix, 0) != 0) continue;
    std::string rest = cid.substr(prefix.size());
    std::string task_id = rest.substr(0, rest.find('-'));
    if (!live.count(task_id)) (void)driver_.Delete(cid);
  }
  for (const auto& parent : CgroupParents(env_, options_.network.prefix)) {
    for (const auto& id : Names(env_, parent)) {
      auto info = env_->Stat(parent / id);
      if (info.ok() && info->is_dir && !live.count(id)) RemoveTaskCgroups(env_, options_.network.prefix, id);
    }
  }
  Status st = network_.GarbageCollect(live);
  DropResolversWithoutRouter();
  return st;
}

Status LocalRuntime::UpdatePublishing(const TaskSpec& task) { return network_.Publish(task); }

Status LocalRuntime::ApplyVpcPolicy(const net::VpcPolicy& policy) { return network_.ApplyPolicy(policy); }

Status LocalRuntime::ApplyInstancePolicy(const net::SecurityGroupPolicy* group,
                                         const std::map<std::string, std::vector<std::string>>& members) {
  return network_.ApplyInstancePolicy(group, members);
}

// ---- EC2 instances as hosts (issue 17) ----

Status LocalRuntime::ApplyInstanceHost(const InstanceHostSpec& host) {
  RETURN_IF_ERROR(network_.SetUpInstance(host));  // checks the id, which names a directory
  const NetworkSpec& n = host.network;
  std::string hostname = n.hostname;
  if (hostname.empty()) {
    if (auto ip = net::ParseIpv4(n.ip)) hostname = net::IpHostname(*ip);
  }
  fs::path dir = InstanceDir(host.instance_id);
  RETURN_IF_ERROR(env_->CreateDirs(dir));
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + n.ip + "\t" + hostname + "\n";
  // As an awsvpc task's: the VPC's DHCP options set, else the VPC resolver.
  std::vector<std::string> servers = n.dhcp_nameservers;
  if (servers.empty() && !n.dns_server.empty()) servers.push_back(n.dns_server);
  if (servers.empty()) servers = HostNameservers(env_);
  RETURN_IF_ERROR(env_->WriteFileAtomic(dir / "hosts", hosts));
  RETURN_IF_ERROR(env_->WriteFileAtomic(dir / "resolv.conf", ResolvConfText(servers, n.dhcp_search)));
  RETURN_IF_ERROR(env_->WriteFileAtomic(dir / "hostname", hostname + "\n"));
  // Its VPC's resolver answers in the router, as for an awsvpc task.
  TaskSpec as_eni;
  as_eni.task_id = host.instance_id;
  as_eni.network = n;
  as_eni.network.mode = model::NetworkMode::kAwsvpc;
  return EnsureResolver(as_eni);
}

Status LocalRuntime::DeleteInstanceHost(const std::string& instance_id) {
  if (!IsInstanceId(instance_id)) return InvalidArgument("not an instance id: " + instance_id);
  Status st = network_.TearDownInstance(instance_id);
  DropResolversWithoutRouter();
  RETURN_IF_ERROR(st);
  return env_->RemoveAll(InstanceDir(instance_id));
}

Status LocalRuntime::GarbageCollectInstanceHosts(const std::set<std::string>& live) {
  Status st = network_.GarbageCollectInstances(live);
  DropResolversWithoutRouter();
  RETURN_IF_ERROR(st);
  fs::path dir = options_.data_dir + "/runtime/instances";
  for (const auto& id : Names(env_, dir)) {
    if (!live.count(id)) RETURN_IF_ERROR(env_->RemoveAll(dir / id));
  }
  return Status::Ok();
}

std::optional<std::string> LocalRuntime::InstanceNetns(const std::string& instance_id) {
  if (!IsInstanceId(instance_id) || !network_.InstanceExists(instance_id)) return std::nullopt;
  return std::string(net::netns::kRunDir) + "/" + network_.InstanceNetns(instance_id);
}

// ---- Load balancers ----

Status LocalRuntime::ApplyLoadBalancer(const LoadBalancerSpec& lb) {
  RETURN_IF_ERROR(lb_network_.SetUpNodes(lb));
  ProxyInputs in;
  for (const auto& node : lb.nodes) in.node_netns.push_back(lb_network_.NodeNetns(node.eni_id));
  bool tls = false;
  for (const auto& l : lb.listeners) {
    tls = tls || l.protocol == model::LbProtocol::kHttps || l.protocol == model::LbProtocol::kTls;
  }
  if (tls) {
    ASSIGN_OR_RETURN(auto cert, lb_network_.CertificateFor(lb));
    in.certificate_pem_path = cert.path;
    in.certificate_fingerprint = cert.fingerprint;
  }
  RETURN_IF_ERROR(proxies_.Apply(lb, in));
  RETURN_IF_ERROR(lb_network_.Publish(lb));
  if (lb.type == model::LbType::kNetwork) return ForwardNlb(lb, /*force=*/true);
  return Status::Ok();
}

Status LocalRuntime::ForwardNlb(const LoadBalancerSpec& lb, bool force) {
  std::lock_guard<std::mutex> lock(lbs_mu_);
  LbSeen& seen = lbs_[lb.id];
  auto rotation = TargetsInRotation(lb, seen.observed);
  if (!force && seen.forwarded && rotation == seen.in_rotation) return Status::Ok();
  // The router's table is replaced in one transaction: a failure leaves the previous
  // forwarding, and the next call tries again.
  seen.forwarded = false;
  RETURN_IF_ERROR(lb_network_.ApplyForwarding(lb, rotation));
  seen.in_rotation = std::move(rotation);
  seen.forwarded = true;
  return Status::Ok();
}

Result<std::vector<TargetObservation>> LocalRuntime::ObserveTargets(const LoadBalancerSpec& lb) {
  ASSIGN_OR_RETURN(auto observed, proxies_.Observe(lb));
  {
    std::lock_guard<std::mutex> lock(lbs_mu_);
    lbs_[lb.id].observed = observed;
  }
  // A network load balancer's kernel forwarding follows the health checks: a target that
  // turns healthy or unhealthy enters or leaves rotation at once.
  if (lb.type == model::LbType::kNetwork) RETURN_IF_ERROR(ForwardNlb(lb, /*force=*/false));
  return observed;
}

Status LocalRuntime::DeleteLoadBalancer(const std::string& lb_id) {
  // The proxy first: it listens in the nodes' namespaces.
  RETURN_IF_ERROR(proxies_.Remove(lb_id));
  RETURN_IF_ERROR(lb_network_.Remove(lb_id));
  std::lock_guard<std::mutex> lock(lbs_mu_);
  lbs_.erase(lb_id);
  return Status::Ok();
}

Status LocalRuntime::GarbageCollectLoadBalancers(const std::set<std::string>& live) {
  RETURN_IF_ERROR(proxies_.GarbageCollect(live));
  RETURN_IF_ERROR(lb_network_.GarbageCollect(live));
  std::lock_guard<std::mutex> lock(lbs_mu_);
  for (auto it = lbs_.begin(); it != lbs_.end();) {
    it = live.count(it->first) ? std::next(it) : lbs_.erase(it);
  }
  return Status::Ok();
}

Result<std::string> LocalRuntime::LoadBalancerCa() { return lb_network_.CaPem(); }

Result<std::unique_ptr<ExecProcess>> LocalRuntime::Exec(const TaskSpec& task, const ExecSpec& spec) {
  ContainerStatus s = driver_.Inspect(BundleDir(task.task_id, spec.container));
  if (s.phase != ContainerStatus::Phase::kRunning) {
    return NotFound(fmt::format("container {} of task {} is not running", spec.container, task.task_id));
  }
  std::string pid_file = BundleDir(task.task_id, spec.container) + "/exec-" + RandomHex(16) + ".pid";
  return driver_.Exec(ContainerId(task.task_id, spec.container), spec.argv, spec.tty, spec.cols, spec.rows, pid_file);
}

}  // namespace kecs::runtime::local
