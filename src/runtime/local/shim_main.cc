// kecs-shim: watches one container, and outlives the daemon.
//
//   kecs-shim [detach] RUNC_ROOT BUNDLE ID LOG
//
// It makes itself a child subreaper and runs `runc run -d`, so the container's init is
// re-parented to it; it reaps it and writes its exit status to BUNDLE/exit ("N", or
// "error: <runc's message>" when the container never started), and the times it saw the
// container start and end to BUNDLE/times ("started <epoch s>", "finished <epoch s>").
// It links nothing but libc (and the C++ runtime), so each running container costs a few
// hundred kilobytes of shim, not a daemon's worth.
//
// Health checks: when BUNDLE/health.conf exists (written by the daemon, health.h), the shim
// forks a monitor that joins the container's namespaces once, then on the check's
// schedule forks each check into the container's cgroups, as its user with its
// capabilities, environment and working directory, and writes the verdict to
// BUNDLE/health (health_files.h) after each. A check costs a fork and an exec, not a
// `runc exec`. The monitor dies with the container (the shim kills it) or with the shim.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "runtime/local/health_files.h"

namespace {

namespace health = kecs::runtime::local::health;

std::string ReadFile(const std::string& path) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// Writes `content` to `path` through a temporary file and a rename; synced unless `sync`
// is false (for records a crash may lose, such as the start time).
void WriteAtomic(const std::string& path, const std::string& content, bool sync = true) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, content.data(), content.size());
  (void)ignored;
  if (sync) fsync(fd);
  close(fd);
  rename(tmp.c_str(), path.c_str());
}

// runc's last log line, e.g. {"level":"error","msg":"..."} or level=error msg="...".
std::string RuncError(const std::string& log) {
  size_t end = log.find_last_not_of(" \n");
  if (end == std::string::npos) return "runc run failed";
  size_t start = log.rfind('\n', end);
  std::string line = log.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
  size_t m = line.find("msg=\"");
  if (m != std::string::npos) {
    line = line.substr(m + 5);
    if (!line.empty() && line.back() == '"') line.pop_back();
  }
  return line;
}

double RealNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int64_t MonoMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

void SleepMs(int64_t ms) {
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
  }
}

std::vector<std::string> SplitOn(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

// Opens cgroup.procs of each hierarchy `pid` belongs to (v1 controllers and the unified
// one), found through this process's mount table, so that a check can join them.
std::vector<int> OpenCgroupProcs(pid_t pid) {
  struct CgroupMount {
    std::string root, point;
    std::vector<std::string> options;  // v1: the super options (controllers, name=...)
    bool v2 = false;
  };
  std::vector<CgroupMount> mounts;
  for (const auto& line : SplitOn(ReadFile("/proc/self/mountinfo"), '\n')) {
    // "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices"
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto left = SplitOn(line.substr(0, dash), ' ');
    auto right = SplitOn(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    if (right[0] != "cgroup" && right[0] != "cgroup2") continue;
    mounts.push_back({left[3], left[4], SplitOn(right[2], ','), right[0] == "cgroup2"});
  }
  std::vector<int> fds;
  for (const auto& line : SplitOn(ReadFile("/proc/" + std::to_string(pid) + "/cgroup"), '\n')) {
    // "4:memory:/kecs/<task>/<container>", "0::/kecs/<task>/<container>"
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    for (const auto& m : mounts) {
      bool match = controllers.empty() ? m.v2 : !m.v2;
      for (const auto& want : controllers.empty() ? std::vector<std::string>{} : SplitOn(controllers, ',')) {
        bool has = false;
        for (const auto& o : m.options) has = has || o == want;
        match = match && has;
      }
      if (!match) continue;
      std::string rel = path;
      if (m.root != "/" && rel.rfind(m.root, 0) == 0) rel = rel.substr(m.root.size());
      int fd = open((m.point + rel + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) fds.push_back(fd);
      break;
    }
  }
  return fds;
}

// The runc wording of an exec that could not start, as Docker reports it for a check
// (runc libcontainer; Docker's daemon/health.go gives the error as the output, exit -1).
[[noreturn]] void FailExec(int err_fd, const std::string& why) {
  std::string msg = "OCI runtime exec failed: exec failed: unable to start container process: " + why + ": unknown";
  ssize_t ignored = write(err_fd, msg.data(), msg.size());
  (void)ignored;
  _exit(127);
}

// In the check's process (forked by the monitor, so already in the container's
// namespaces and root): joins its cgroups, becomes its user, and execs the command.
[[noreturn]] void ExecCheck(const health::Config& c, const std::vector<int>& cgroups, int devnull, int out_fd,
                            int err_fd, int last_cap) {
  setpgid(0, 0);
  signal(SIGPIPE, SIG_DFL);  // the shim ignores it; an exec would keep that
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  dup2(devnull, 0);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  for (int fd : cgroups) {
    if (write(fd, "0", 1) != 1 && errno != ENOENT && errno != ESRCH) {
      FailExec(err_fd, std::string("joining the container's cgroup: ") + std::strerror(errno));
    }
  }
  for (const auto& r : c.rlimits) {
    rlimit l{r.soft, r.hard};
    setrlimit(static_cast<__rlimit_resource>(r.resource), &l);
  }
  for (int cap = 0; cap <= last_cap && cap < 64; ++cap) {
    if (!(c.cap_bounding & (uint64_t{1} << cap))) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  std::vector<gid_t> groups(c.groups.begin(), c.groups.end());
  if (setgroups(groups.size(), groups.data()) != 0 || setresgid(c.gid, c.gid, c.gid) != 0) {
    FailExec(err_fd, std::string("setting the container's groups: ") + std::strerror(errno));
  }
  prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
  if (setresuid(c.uid, c.uid, c.uid) != 0) {
    FailExec(err_fd, std::string("setting the container's user: ") + std::strerror(errno));
  }
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(c.cap_effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(c.cap_permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(c.cap_inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) != 0) {
    FailExec(err_fd, std::string("setting the container's capabilities: ") + std::strerror(errno));
  }
  for (int cap = 0; cap <= last_cap && cap < 64; ++cap) {
    if (c.cap_ambient & (uint64_t{1} << cap)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  }
  if (c.no_new_privs) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (chdir(c.cwd.c_str()) != 0) {
    FailExec(err_fd, "chdir to cwd (\"" + c.cwd + "\") set in config.json failed: " + std::strerror(errno));
  }
  std::vector<char*> argv, envp;
  for (const auto& a : c.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : c.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  envp.push_back(nullptr);
  const std::string& name = c.argv[0];
  if (name.find('/') != std::string::npos) {
    execve(name.c_str(), argv.data(), envp.data());
    FailExec(err_fd, "exec: \"" + name + "\": " + std::strerror(errno));
  }
  // The container's PATH, as runc looks the command up.
  int denied = 0;
  for (const auto& dir : SplitOn(path, ':')) {
    std::string full = (dir.empty() ? "." : dir) + "/" + name;
    execve(full.c_str(), argv.data(), envp.data());
    if (errno == EACCES) denied = errno;
  }
  if (denied) FailExec(err_fd, "exec: \"" + name + "\": " + std::strerror(denied));
  FailExec(err_fd, "exec: \"" + name + "\": executable file not found in $PATH");
}

struct Monitor {
  health::Config config;
  std::vector<int> cgroups;
  int devnull = -1;
  int last_cap = 40;
};

void ReadSome(int fd, std::string& out, bool& eof) {
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      size_t room = health::kMaxOutput > out.size() ? health::kMaxOutput - out.size() : 0;
      out.append(buf, std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    eof = n == 0;
    return;  // EOF, or EAGAIN: nothing more for now
  }
}

// Runs one check; its output is the command's stdout and stderr.
health::Result RunCheck(const Monitor& m) {
  health::Result r;
  r.started = RealNow();
  auto cannot_run = [&r](int e) {
    r.exit_code = -1;
    r.output = std::string("cannot run the health check: ") + std::strerror(e);
    r.ended = RealNow();
    return r;
  };
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return cannot_run(errno);
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    close(out[0]);
    close(out[1]);
    return cannot_run(e);
  }
  pid_t child = fork();
  if (child == 0) {
    close(out[0]);
    close(err[0]);
    ExecCheck(m.config, m.cgroups, m.devnull, out[1], err[1], m.last_cap);
  }
  int fork_errno = errno;
  close(out[1]);
  close(err[1]);
  if (child < 0) {
    close(out[0]);
    close(err[0]);
    return cannot_run(fork_errno);
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  int64_t deadline = MonoMs() + m.config.timeout_ms;
  bool out_open = true, exited = false, timed_out = false;
  int status = 0;
  while (!exited) {
    int64_t left = deadline - MonoMs();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (pidfd >= 0) fds[n++] = {pidfd, POLLIN, 0};
    if (out_open) fds[n++] = {out[0], POLLIN, 0};
    // Without a pidfd (kernels before 5.3) the exit is polled for.
    int wait_ms = static_cast<int>(pidfd >= 0 ? left : std::min<int64_t>(left, 20));
    if (poll(fds, n, wait_ms) < 0 && errno != EINTR) break;
    if (out_open) {
      bool eof = false;
      ReadSome(out[0], r.output, eof);
      out_open = !eof;
    }
    if (waitpid(child, &status, WNOHANG) == child) exited = true;
  }
  if (!exited) {
    // Docker's timeout; the check's whole process group goes.
    kill(-child, SIGKILL);
    kill(child, SIGKILL);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (out_open) {
    bool eof = false;
    ReadSome(out[0], r.output, eof);  // what is left (a background process may hold it open)
  }
  std::string exec_error;
  bool ignored_eof = false;
  ReadSome(err[0], exec_error, ignored_eof);
  close(out[0]);
  close(err[0]);
  if (pidfd >= 0) close(pidfd);
  r.ended = RealNow();
  if (timed_out) {
    // Docker's words (daemon/health.go): "Health check exceeded timeout (5s)", exit -1.
    r.exit_code = -1;
    r.output = "Health check exceeded timeout (" + health::GoDuration(m.config.timeout_ms) + ")";
  } else if (!exec_error.empty()) {
    r.exit_code = -1;
    r.output = exec_error;
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

void WriteStateAt(int dirfd, const health::State& s) {
  std::string text = health::EncodeState(s);
  std::string tmp = std::string(health::kStateFile) + ".tmp";
  int fd = openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, text.data(), text.size());
  (void)ignored;
  close(fd);
  renameat(dirfd, tmp.c_str(), dirfd, health::kStateFile);
}

// The monitor's process: enters the container, then checks on its schedule for ever.
[[noreturn]] void RunMonitor(const std::string& bundle, pid_t pid, double started, Monitor m) {
  prctl(PR_SET_NAME, "kecs-health", 0, 0, 0);
  int dirfd = open(bundle.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dirfd < 0) _exit(1);
  health::State state;
  state.changed_at = started;
  WriteStateAt(dirfd, state);
  m.last_cap = std::atoi(ReadFile("/proc/sys/kernel/cap_last_cap").c_str());
  if (m.last_cap <= 0) m.last_cap = CAP_LAST_CAP;
  m.cgroups = OpenCgroupProcs(pid);
  m.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  std::string proc = "/proc/" + std::to_string(pid);
  // Readable once the container's init has exited: a check that could not run because
  // the container was going away is then no verdict.
  int init = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  int root = open((proc + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  // The mount namespace last: the other namespaces' files are found through /proc here.
  std::vector<int> ns;
  for (const char* name : {"ipc", "uts", "net", "pid", "mnt"}) {
    ns.push_back(open((proc + "/ns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
  }
  bool entered = root >= 0 && m.devnull >= 0;
  for (int fd : ns) entered = entered && fd >= 0 && setns(fd, 0) == 0;
  entered = entered && fchdir(root) == 0 && chroot(".") == 0;
  for (int fd : ns) {
    if (fd >= 0) close(fd);
  }
  if (root >= 0) close(root);
  if (!entered) {
    // The container is gone (or was never reachable): nothing to check.
    state.output = std::string("cannot enter the container: ") + std::strerror(errno);
    WriteStateAt(dirfd, state);
    _exit(1);
  }
  // Docker: the first check one interval after the start, then one interval after each
  // check ends (daemon/health.go defaultProbeInterval).
  while (true) {
    SleepMs(m.config.interval_ms);
    health::Result r = RunCheck(m);
    pollfd gone{init, POLLIN, 0};
    if (init >= 0 && poll(&gone, 1, 0) > 0) _exit(0);  // the shim kills us in a moment anyway
    health::Apply(state, r, started, m.config);
    WriteStateAt(dirfd, state);
  }
}

// Forks the health monitor when the bundle has a health check; its pid, or 0.
pid_t StartHealthMonitor(const std::string& bundle, pid_t pid, double started) {
  auto config = health::DecodeConfig(ReadFile(bundle + "/" + health::kConfigFile));
  if (!config) return 0;
  pid_t shim = getpid();
  pid_t m = fork();
  if (m != 0) return m > 0 ? m : 0;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != shim) _exit(0);
  Monitor monitor;
  monitor.config = std::move(*config);
  RunMonitor(bundle, pid, started, std::move(monitor));
}

std::string Times(double started, std::optional<double> finished) {
  char buf[96];
  if (finished) {
    std::snprintf(buf, sizeof buf, "started %.3f\nfinished %.3f\n", started, *finished);
  } else {
    std::snprintf(buf, sizeof buf, "started %.3f\n", started);
  }
  return buf;
}

}  // namespace

int NsHolderMain(int argc, char** argv);  // ns_holder_main.cc: `kecs-shim ns-holder ...`

// `kecs-shim detach ...`: the daemon spawns the shim (posix_spawn: no copy of the daemon's
// page tables, as a fork of it would make) and waits for this process; it forks the shim
// proper in a new session, with /dev/null for stdin, stdout and stderr (the daemon's pipes
// end with this process), and exits, so the shim is re-parented to init (or the nearest
// subreaper) and outlives the daemon, as the daemon's double fork made it.
bool Detach() {
  pid_t child = fork();
  if (child < 0) return false;
  if (child > 0) _exit(0);
  setsid();
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
  return true;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "ns-holder") == 0) return NsHolderMain(argc, argv);
  if (argc == 6 && std::strcmp(argv[1], "detach") == 0) {
    if (!Detach()) {
      std::perror("kecs-shim: fork");
      return 1;
    }
    ++argv;
    --argc;
  }
  if (argc != 5) {
    std::fprintf(stderr, "usage: kecs-shim [detach] RUNC_ROOT BUNDLE ID LOG\n");
    return 2;
  }
  std::string runc_root = argv[1], bundle = argv[2], id = argv[3], log_file = argv[4];
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  int log = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  std::string runc_log = bundle + "/runc.log";
  std::string pid_file = bundle + "/pid";
  pid_t runc = fork();
  if (runc == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    execlp("runc", "runc", "--root", runc_root.c_str(), "--log", runc_log.c_str(), "run", "-d",
           "--pid-file", pid_file.c_str(), "--bundle", bundle.c_str(), id.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  if (runc < 0) {
    WriteAtomic(bundle + "/exit", "error: cannot fork runc\n");
    return 1;
  }
  int st = 0;
  while (waitpid(runc, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    WriteAtomic(bundle + "/exit", "error: " + RuncError(ReadFile(runc_log)) + "\n");
    return 1;
  }
  pid_t pid = static_cast<pid_t>(std::atoi(ReadFile(pid_file).c_str()));
  double started = RealNow();
  WriteAtomic(bundle + "/times", Times(started, std::nullopt), /*sync=*/false);
  pid_t monitor = pid > 0 ? StartHealthMonitor(bundle, pid, started) : 0;
  // The container's init was re-parented to us; reap everything until it is gone. Its exit
  // status is peeked first (WNOWAIT) and recorded before it is reaped: while the exit file is
  // missing the init stays a zombie, so nobody mistakes "exited" for "killed with the shim".
  int code = 0;
  while (true) {
    siginfo_t info{};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing left
    }
    if (info.si_pid == pid) {
      code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
      break;
    }
    if (info.si_pid == monitor) monitor = 0;  // it could not enter the container
    while (waitpid(info.si_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  // No check outlives the container: the monitor is in its namespaces.
  if (monitor > 0) kill(monitor, SIGKILL);
  WriteAtomic(bundle + "/times", Times(started, RealNow()), /*sync=*/false);
  WriteAtomic(bundle + "/exit", std::to_string(code) + "\n");
  while (pid > 0 && waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  while (monitor > 0 && waitpid(monitor, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (log >= 0) close(log);
  return 0;
}
