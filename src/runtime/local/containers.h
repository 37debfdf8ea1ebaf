#pragma once
// Containers under runc, each watched by a small shim process.
//
// Start() launches `kecs-shim` (shim_main.cc) detached from the daemon (it survives
// daemon restarts).
// The shim makes itself a child subreaper, runs `runc run -d`, and so becomes the parent
// of the container's init: it reaps it and writes its exit status to <bundle>/exit, and
// the times it saw it start and end to <bundle>/times. The daemon reads the state from
// files (<bundle>/pid, <bundle>/exit, <bundle>/times) rather than asking runc,
// so Inspect is a stat and a kill(pid, 0). Thread-safe: containers are independent.
//
// Files, time (the waits for a container to start or stop) and the shim and runc
// processes go through the Env; signals (kill(2)) go to the container directly.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "runtime/runtime.h"

namespace kecs::runtime::local {

struct ContainerStatus {
  enum class Phase { kRunning, kExited, kMissing } phase = Phase::kMissing;
  int exit_code = 0;
  std::string error;   // why it could not start (runc's message), when it never ran
  int pid = 0;
  // When the shim saw the container start and end (epoch seconds), from <bundle>/times.
  std::optional<double> started_at;
  std::optional<double> finished_at;
};

class ContainerDriver {
 public:
  // `runc_root` holds runc's state; `shim_exe` is the kecs-shim binary. `env` must
  // outlive the driver.
  ContainerDriver(std::string runc_root, std::string shim_exe, Env* env = Env::Default());
  ~ContainerDriver();
  ContainerDriver(const ContainerDriver&) = delete;
  ContainerDriver& operator=(const ContainerDriver&) = delete;

  // Starts container `id` from `bundle` (config.json inside), its stdout and stderr
  // appended to `log_file`. Returns once the container runs, or with runc's error.
  Status Start(const std::string& id, const std::string& bundle, const std::string& log_file);
  ContainerStatus Inspect(const std::string& bundle);
  // SIGTERM, then SIGKILL after `timeout` if it still runs. Returns the final status.
  ContainerStatus Stop(const std::string& bundle, std::chrono::seconds timeout);
  // Removes runc's record (and cgroups) of the container; succeeds when already gone.
  Status Delete(const std::string& id);
  // Starts `argv` in running container `id` with `runc exec` (which takes the process's
  // user, environment, working directory and capabilities from the container's own
  // config): on a new pseudo-terminal of `cols` x `rows` when `tty`, else on pipes (stdout
  // and stderr on one). Each call starts a new process.
  // `pid_file` (a new path) receives the command's host pid, for ExecProcess::Kill.
  Result<std::unique_ptr<ExecProcess>> Exec(const std::string& id, const std::vector<std::string>& argv, bool tty,
                                            uint16_t cols, uint16_t rows, const std::string& pid_file);
  // Container ids runc knows.
  std::vector<std::string> List();
  const std::string& runc_root() const { return runc_root_; }

 private:
  ContainerStatus InspectFiles(const std::string& bundle);
  // Whether `pid` is the running init of `bundle` (see InspectFiles); a zombie counts.
  bool IsRunningInit(const std::string& bundle, int pid);
  // The cached pidfd of a bundle whose init was verified, when that process has not
  // exited; drops the entry (and its descriptor) otherwise.
  bool StillVerified(const std::string& bundle, int pid);
  void Forget(const std::string& bundle);

  const std::string runc_root_;
  const std::string shim_exe_;
  Env* const env_;

  // Verified inits (design.md 17.7): once a bundle's pid was found to be its container's
  // init (its cgroup read), a pidfd on that process stands for the check until the process
  // exits, so a steady container's inspection is a pid file read and a poll(), not a read
  // of /proc/<pid>/cgroup (whose kernel side takes a global lock and walks every cgroup
  // hierarchy). A pidfd names one process: a recycled pid never passes for the container.
  // Only descriptors kept above select()'s range (base/fd.h) are cached.
  struct Verified {
    int pid = 0;
    int pidfd = -1;
  };
  std::mutex verified_mu_;
  std::map<std::string, Verified> verified_;
  size_t verified_sweep_at_ = 64;  // entries of exited processes are swept past this size
};

}  // namespace kecs::runtime::local
