#include "runtime/local/containers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <filesystem>

#include <fmt/format.h>

#include "base/fd.h"
#include "base/strings.h"

namespace kecs::runtime::local {
namespace fs = std::filesystem;
namespace {

// A zombie counts as alive: the shim records the exit code before it reaps the container's
// init, so an init that is gone without an exit file means the shim itself was killed.
bool Alive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

// Whether `pid` still is the container of bundle <...>/<task>/containers/<name>: after a
// reboot the recorded pid may belong to an unrelated process, which must be neither
// reported as the container nor signalled. runc puts the container in the cgroup
// <prefix>/<task>/<name>. A zombie (whose cgroup may read as empty) is the container the
// shim is about to reap.
bool IsContainerInit(Env* env, int pid, const fs::path& bundle) {
  auto cgroup = env->ReadFile(fmt::format("/proc/{}/cgroup", pid));
  if (!cgroup.ok() || cgroup->empty()) return true;
  std::string want = fmt::format("/{}/{}", bundle.parent_path().parent_path().filename().string(),
                                 bundle.filename().string());
  for (const auto& line : Split(*cgroup, '\n')) {
    if (line.size() >= want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0) return true;
  }
  auto stat = env->ReadFile(fmt::format("/proc/{}/stat", pid));
  size_t paren = stat.ok() ? stat->rfind(')') : std::string::npos;
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

// <bundle>/times: "started <epoch s>" and, once it exited, "finished <epoch s>".
void ReadTimes(Env* env, const fs::path& bundle, ContainerStatus& s) {
  auto text = env->ReadFile(bundle / "times");
  if (!text.ok()) return;
  for (const auto& line : Split(*text, '\n')) {
    auto words = Split(line, ' ');
    if (words.size() != 2) continue;
    char* end = nullptr;
    double v = std::strtod(words[1].c_str(), &end);
    if (end == words[1].c_str() || *end != '\0') continue;
    if (words[0] == "started") s.started_at = v;
    if (words[0] == "finished") s.finished_at = v;
  }
}

// Whether the process behind `pidfd` has exited (a zombie has): its pidfd reads as ready.
bool Exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR) {
  }
  return n != 0;  // an error counts as exited: the caller then checks the slow way
}

}  // namespace

ContainerDriver::ContainerDriver(std::string runc_root, std::string shim_exe, Env* env)
    : runc_root_(std::move(runc_root)), shim_exe_(std::move(shim_exe)), env_(env) {
  (void)env_->CreateDirs(runc_root_);  // a failure shows at the first start, from runc
}

ContainerDriver::~ContainerDriver() {
  for (auto& [bundle, v] : verified_) close(v.pidfd);
}

bool ContainerDriver::StillVerified(const std::string& bundle, int pid) {
  std::lock_guard<std::mutex> lock(verified_mu_);
  auto it = verified_.find(bundle);
  if (it == verified_.end()) return false;
  if (it->second.pid == pid && !Exited(it->second.pidfd)) return true;
  close(it->second.pidfd);
  verified_.erase(it);
  return false;
}

void ContainerDriver::Forget(const std::string& bundle) {
  std::lock_guard<std::mutex> lock(verified_mu_);
  auto it = verified_.find(bundle);
  if (it == verified_.end()) return;
  close(it->second.pidfd);
  verified_.erase(it);
}

bool ContainerDriver::IsRunningInit(const std::string& bundle, int pid) {
  if (StillVerified(bundle, pid)) return true;
  // The pidfd is taken before the checks: if it still shows the process running after
  // them, the checks read that process and not one that took over its pid meanwhile.
  int pidfd = pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, pid, 0)) : -1;
  bool running = Alive(pid) && IsContainerInit(env_, pid, fs::path(bundle));
  if (pidfd >= 0) pidfd = MoveAboveSelectRange(pidfd);
  if (!running || pidfd < kFirstHighFd || Exited(pidfd)) {
    if (pidfd >= 0) close(pidfd);
    return running;
  }
  std::lock_guard<std::mutex> lock(verified_mu_);
  auto [it, fresh] = verified_.try_emplace(bundle, Verified{pid, pidfd});
  if (!fresh) {
    close(it->second.pidfd);
    it->second = Verified{pid, pidfd};
  }
  if (verified_.size() >= verified_sweep_at_) {
    // Bundles no longer inspected (their tasks cleaned up) leave with their process.
    std::erase_if(verified_, [](auto& e) {
      if (!Exited(e.second.pidfd)) return false;
      close(e.second.pidfd);
      return true;
    });
    verified_sweep_at_ = std::max<size_t>(64, 2 * verified_.size());
  }
  return true;
}

Status ContainerDriver::Start(const std::string& id, const std::string& bundle,
                              const std::string& log_file) {
  ContainerStatus now = Inspect(bundle);
  if (now.phase == ContainerStatus::Phase::kRunning) return Status::Ok();
  RETURN_IF_ERROR(env_->RemoveFile(bundle + "/exit"));
  RETURN_IF_ERROR(env_->RemoveFile(bundle + "/pid"));
  RETURN_IF_ERROR(env_->RemoveFile(bundle + "/times"));
  // A leftover runc record with this id (from a crash before the shim wrote its exit)
  // would make runc refuse the id. runc keeps its record in <root>/<id>; without one there
  // is nothing to delete, and no `runc delete` process is spent on it.
  if (env_->Stat(runc_root_ + "/" + id).ok()) (void)Delete(id);

  // Detached: the shim is re-parented to init and outlives the daemon. `detach`: the shim
  // forks itself into the background (shim_main.cc), so the daemon only spawns and waits
  // for a small process, and never forks itself (a copy of its page tables, and a stall of
  // its other threads, per start).
  ProcessOptions shim;
  shim.argv = {shim_exe_, "detach", runc_root_, bundle, id, log_file};
  shim.timeout = std::chrono::seconds(30);
  ASSIGN_OR_RETURN(ProcessResult detached, env_->Run(shim));
  if (detached.exit_code != 0) {
    return Internal(fmt::format("cannot start {}: {}", shim_exe_, LastLine(detached.err)));
  }
  auto start = env_->MonotonicNow();
  auto deadline = start + std::chrono::seconds(60);
  while (env_->MonotonicNow() < deadline) {
    // Only the pid and exit files: the start time is the shim's business afterwards.
    ContainerStatus s = InspectFiles(bundle);
    if (s.phase == ContainerStatus::Phase::kRunning) return Status::Ok();
    if (s.phase == ContainerStatus::Phase::kExited) {
      // It ran and already exited: that is the task's business, not a start failure.
      if (s.error.empty()) return Status::Ok();
      return Internal(s.error);
    }
    // `runc run` takes some 15 ms at best: a 1 ms look for the first half second (a pid
    // file checked costs a few microseconds), then every 5 ms.
    bool early = env_->MonotonicNow() - start < std::chrono::milliseconds(500);
    env_->SleepFor(std::chrono::milliseconds(early ? 1 : 5));
  }
  return Unavailable(fmt::format("container {} did not start within 60s", id));
}

ContainerStatus ContainerDriver::Inspect(const std::string& bundle) {
  ContainerStatus s = InspectFiles(bundle);
  // Read after the exit file: the shim writes the finish time first.
  if (s.phase != ContainerStatus::Phase::kMissing) ReadTimes(env_, bundle, s);
  return s;
}

ContainerStatus ContainerDriver::InspectFiles(const std::string& bundle) {
  ContainerStatus s;
  fs::path b(bundle);
  // The exit file the shim wrote: "N", or "error: ..." when runc could not start it.
  auto read_exit = [&]() {
    auto exit = env_->ReadFile(b / "exit");
    if (!exit.ok()) return false;
    Forget(bundle);
    s.phase = ContainerStatus::Phase::kExited;
    std::string t(Trim(*exit));
    if (t.rfind("error:", 0) == 0) {
      s.error = std::string(Trim(t.substr(6)));
      s.exit_code = -1;
    } else {
      s.exit_code = t.empty() ? 0 : std::atoi(t.c_str());
    }
    return true;
  };
  if (read_exit()) return s;
  if (auto pid = env_->ReadFile(b / "pid"); pid.ok()) {
    s.pid = std::atoi(pid->c_str());
    if (IsRunningInit(bundle, s.pid)) {
      s.phase = ContainerStatus::Phase::kRunning;
      return s;
    }
    // The shim writes the exit file before it reaps the init, so an init found gone may
    // have exited (and been reaped) after the first look: that look is taken again.
    if (read_exit()) return s;
    // Dead without an exit file: the shim was killed (or the host rebooted).
    s.phase = ContainerStatus::Phase::kExited;
    s.exit_code = 137;
    s.error = "";
    return s;
  }
  Forget(bundle);
  return s;
}

ContainerStatus ContainerDriver::Stop(const std::string& bundle, std::chrono::seconds timeout) {
  ContainerStatus s = Inspect(bundle);
  if (s.phase != ContainerStatus::Phase::kRunning) return s;
  kill(s.pid, SIGTERM);
  auto wait_exit = [&](std::chrono::milliseconds d) {
    auto deadline = env_->MonotonicNow() + d;
    while (env_->MonotonicNow() < deadline) {
      ContainerStatus now = Inspect(bundle);
      if (now.phase != ContainerStatus::Phase::kRunning) return now;
      env_->SleepFor(std::chrono::milliseconds(10));
    }
    return Inspect(bundle);
  };
  s = wait_exit(timeout);
  if (s.phase == ContainerStatus::Phase::kRunning) {
    kill(s.pid, SIGKILL);
    s = wait_exit(std::chrono::seconds(10));
  }
  return s;
}

Status ContainerDriver::Delete(const std::string& id) {
  auto r = env_->Run({"runc", "--root", runc_root_, "delete", "--force", id}, std::chrono::seconds(30));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0 && r->err.find("does not exist") == std::string::npos &&
      r->err.find("not exist") == std::string::npos) {
    return Internal("runc delete " + id + ": " + LastLine(r->err));
  }
  return Status::Ok();
}

Result<std::unique_ptr<ExecProcess>> ContainerDriver::Exec(const std::string& id, const std::vector<std::string>& argv,
                                                          bool tty, uint16_t cols, uint16_t rows,
                                                          const std::string& pid_file) {
  if (argv.empty()) return InvalidArgument("no command to execute");
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args = {"runc", "--root", runc_root_, "exec", "--pid-file", pid_file};
  if (tty) args.insert(args.end(), {"--env", "TERM=xterm"});
  args.push_back(id);
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);

  int parent_in = -1, parent_out = -1, child_in = -1, child_out = -1;
  auto close_all = [&] {  // on a terminal, in and out are one descriptor
    for (int fd : {parent_in, child_in}) close(fd);
    if (parent_out != parent_in) close(parent_out);
    if (child_out != child_in) close(child_out);
  };
  if (tty) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
      int e = errno;
      if (master >= 0) close(master);
      return Internal(fmt::format("allocating a pseudo-terminal: {}", std::strerror(e)));
    }
    char name[128];
    if (ptsname_r(master, name, sizeof name) != 0) {
      close(master);
      return Internal("allocating a pseudo-terminal: no name");
    }
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
      close(master);
      return Internal(fmt::format("opening the pseudo-terminal: {}", std::strerror(errno)));
    }
    struct winsize ws {};
    ws.ws_col = cols;
    ws.ws_row = rows;
    (void)ioctl(slave, TIOCSWINSZ, &ws);
    parent_in = parent_out = master;
    child_in = child_out = slave;
  } else {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return Internal(fmt::format("pipe: {}", std::strerror(errno)));
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      return Internal(fmt::format("pipe: {}", std::strerror(errno)));
    }
    child_in = in[0];
    parent_in = in[1];
    parent_out = out[0];
    child_out = out[1];
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close_all();
    return Internal(fmt::format("fork: {}", std::strerror(e)));
  }
  if (pid == 0) {
    if (tty) {
      setsid();
      ioctl(child_in, TIOCSCTTY, 0);
    }
    dup2(child_in, 0);
    dup2(child_out, 1);
    dup2(child_out, 2);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the daemon blocks SIGTERM and SIGINT
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  if (tty) {
    close(child_in);
    return std::make_unique<ExecProcess>(pid, parent_in, parent_out, true, pid_file);
  }
  close(child_in);
  close(child_out);
  return std::make_unique<ExecProcess>(pid, parent_in, parent_out, false, pid_file);
}

std::vector<std::string> ContainerDriver::List() {
  std::vector<std::string> out;
  auto names = env_->ListDir(runc_root_);
  if (!names.ok()) return out;
  for (const auto& n : *names) {
    auto info = env_->Stat(runc_root_ + "/" + n);
    if (info.ok() && info->is_dir) out.push_back(n);
  }
  return out;
}

}  // namespace kecs::runtime::local
