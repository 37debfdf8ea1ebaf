#include "runtime/local/containers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "base/strings.h"
#include "base/subprocess.h"

namespace kecs::runtime::local {
namespace fs = std::filesystem;
namespace {

// POSIX reads, not iostreams: libstdc++'s filebuf throws when read(2) fails, which it does
// (ESRCH) for /proc/<pid>/ files of a process that exits while they are read.
std::optional<std::string> ReadFile(const fs::path& p) {
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

// A zombie counts as alive: the shim records the exit code before it reaps the container's
// init, so an init that is gone without an exit file means the shim itself was killed.
bool Alive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

// Whether `pid` still is the container of bundle <...>/<task>/containers/<name>: after a
// reboot the recorded pid may belong to an unrelated process, which must be neither
// reported as the container nor signalled. runc puts the container in the cgroup
// <prefix>/<task>/<name>. A zombie (whose cgroup may read as empty) is the container the
// shim is about to reap.
bool IsContainerInit(int pid, const fs::path& bundle) {
  auto cgroup = ReadFile(fmt::format("/proc/{}/cgroup", pid));
  if (!cgroup || cgroup->empty()) return true;
  std::string want = "/" + bundle.parent_path().parent_path().filename().string() + "/" + bundle.filename().string();
  for (const auto& line : Split(*cgroup, '\n')) {
    if (line.size() >= want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0) return true;
  }
  auto stat = ReadFile(fmt::format("/proc/{}/stat", pid));
  size_t paren = stat ? stat->rfind(')') : std::string::npos;
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

}  // namespace

ContainerDriver::ContainerDriver(std::string runc_root, std::string shim_exe)
    : runc_root_(std::move(runc_root)), shim_exe_(std::move(shim_exe)) {
  std::error_code ec;
  fs::create_directories(runc_root_, ec);
}

Status ContainerDriver::Start(const std::string& id, const std::string& bundle,
                              const std::string& log_file) {
  ContainerStatus now = Inspect(bundle);
  if (now.phase == ContainerStatus::Phase::kRunning) return Status::Ok();
  std::error_code ec;
  fs::remove(fs::path(bundle) / "exit", ec);
  fs::remove(fs::path(bundle) / "pid", ec);
  // A leftover runc record with this id (from a crash before the shim wrote its exit)
  // would make runc refuse the id.
  (void)Delete(id);

  // Double fork: the shim is re-parented to init and outlives the daemon.
  pid_t child = fork();
  if (child < 0) return PosixError("fork", errno);
  if (child == 0) {
    setsid();
    pid_t shim = fork();
    if (shim == 0) {
      // Nothing of the daemon's (its listening socket above all) may outlive it in the shim.
      syscall(SYS_close_range, 3, ~0U, 0);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(shim_exe_.c_str(), shim_exe_.c_str(), runc_root_.c_str(), bundle.c_str(), id.c_str(),
            log_file.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    _exit(shim < 0 ? 1 : 0);
  }
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    ContainerStatus s = Inspect(bundle);
    if (s.phase == ContainerStatus::Phase::kRunning) return Status::Ok();
    if (s.phase == ContainerStatus::Phase::kExited) {
      // It ran and already exited: that is the task's business, not a start failure.
      if (s.error.empty()) return Status::Ok();
      return Internal(s.error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Unavailable(fmt::format("container {} did not start within 60s", id));
}

ContainerStatus ContainerDriver::Inspect(const std::string& bundle) {
  ContainerStatus s;
  fs::path b(bundle);
  if (auto exit = ReadFile(b / "exit")) {
    s.phase = ContainerStatus::Phase::kExited;
    std::string t(Trim(*exit));
    if (t.rfind("error:", 0) == 0) {
      s.error = std::string(Trim(t.substr(6)));
      s.exit_code = -1;
    } else {
      s.exit_code = t.empty() ? 0 : std::atoi(t.c_str());
    }
    return s;
  }
  if (auto pid = ReadFile(b / "pid")) {
    s.pid = std::atoi(pid->c_str());
    if (Alive(s.pid) && IsContainerInit(s.pid, b)) {
      s.phase = ContainerStatus::Phase::kRunning;
      return s;
    }
    // Dead without an exit file: the shim was killed (or the host rebooted).
    s.phase = ContainerStatus::Phase::kExited;
    s.exit_code = 137;
    s.error = "";
    return s;
  }
  return s;
}

ContainerStatus ContainerDriver::Stop(const std::string& bundle, std::chrono::seconds timeout) {
  ContainerStatus s = Inspect(bundle);
  if (s.phase != ContainerStatus::Phase::kRunning) return s;
  kill(s.pid, SIGTERM);
  auto wait_exit = [&](std::chrono::milliseconds d) {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      ContainerStatus now = Inspect(bundle);
      if (now.phase != ContainerStatus::Phase::kRunning) return now;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
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
  auto r = RunProcess({"runc", "--root", runc_root_, "delete", "--force", id}, std::chrono::seconds(30));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0 && r->err.find("does not exist") == std::string::npos &&
      r->err.find("not exist") == std::string::npos) {
    return Internal("runc delete " + id + ": " + LastLine(r->err));
  }
  return Status::Ok();
}

std::vector<std::string> ContainerDriver::List() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(runc_root_, ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  return out;
}

}  // namespace kecs::runtime::local
