#include "runtime/local/ns_holder.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "base/strings.h"

namespace kecs::runtime::local {

std::optional<int> NsHolderPid(Env* env, const std::string& pid_file) {
  auto text = env->ReadFile(pid_file);
  if (!text.ok()) return std::nullopt;
  int pid = std::atoi(std::string(Trim(*text)).c_str());
  if (pid <= 0) return std::nullopt;
  // The holder keeps the argv of `kecs-shim ns-holder PIDFILE ...` (NUL-separated).
  auto cmdline = env->ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok()) return std::nullopt;
  std::string cmd = *cmdline;
  for (char& c : cmd) c = c == '\0' ? ' ' : c;
  if (cmd.find(" ns-holder " + pid_file + " ") == std::string::npos) return std::nullopt;
  return pid;
}

Result<int> EnsureNsHolder(Env* env, const std::string& shim_exe, const std::string& pid_file, const std::string& kinds) {
  if (auto pid = NsHolderPid(env, pid_file)) return *pid;
  (void)env->RemoveFile(pid_file);
  ProcessOptions opts;
  opts.argv = {shim_exe, "ns-holder", pid_file, kinds};
  RETURN_IF_ERROR(env->StartDetached(opts));
  // The holder's starter writes the pid file within milliseconds.
  for (int i = 0; i < 500; ++i) {
    if (auto pid = NsHolderPid(env, pid_file)) return *pid;
    env->SleepFor(std::chrono::milliseconds(10));
  }
  return Unavailable("the task's " + kinds + " namespace holder (" + shim_exe + " ns-holder) did not start");
}

Status StopNsHolder(Env* env, const std::string& pid_file) {
  if (auto pid = NsHolderPid(env, pid_file)) {
    if (kill(*pid, SIGKILL) != 0 && errno != ESRCH) return PosixError("kill the namespace holder", errno);
    // It is re-parented to init (or a subreaper), which reaps it; wait until it is gone so
    // that its namespaces are too.
    for (int i = 0; i < 500 && NsHolderPid(env, pid_file); ++i) env->SleepFor(std::chrono::milliseconds(10));
  }
  return env->RemoveFile(pid_file);
}

}  // namespace kecs::runtime::local
