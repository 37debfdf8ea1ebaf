#pragma once
// A task's shared PID and IPC namespaces (pidMode/ipcMode "task"): held by a small
// process, kecs-shim's ns-holder mode (ns_holder_main.cc), that outlives the task's
// containers and the daemon, as the ECS agent's pause container does. Its pid is in
// <task_dir>/ns-holder.pid; a pid whose process is not our holder for that file (it ended
// and the pid was reused) counts as no holder.
#include <optional>
#include <string>

#include "base/env.h"
#include "base/status.h"

namespace kecs::runtime::local {

// The holder's pid when it runs.
std::optional<int> NsHolderPid(Env* env, const std::string& pid_file);
// Starts the holder for namespaces `kinds` ("pid", "ipc" or "pid,ipc") unless one runs;
// returns its pid once it has written its pid file.
Result<int> EnsureNsHolder(Env* env, const std::string& shim_exe, const std::string& pid_file,
                           const std::string& kinds);
// Kills the holder (and with it whatever is left in its PID namespace) and removes the pid
// file. Succeeds when there is none.
Status StopNsHolder(Env* env, const std::string& pid_file);

}  // namespace kecs::runtime::local
