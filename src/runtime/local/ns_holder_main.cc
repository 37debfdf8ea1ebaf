// kecs-shim's ns-holder mode: keeps a task's shared PID and IPC namespaces alive
// (pidMode/ipcMode "task"), as the ECS agent's pause container does for Docker.
//
//   kecs-shim ns-holder PIDFILE pid|ipc|pid,ipc
//
// It unshares the namespaces, forks the holder (the new PID namespace's init) and writes
// the holder's pid to PIDFILE, then exits. The holder reaps the orphans the namespace's
// containers leave to it and waits for SIGTERM or SIGKILL; the task's containers join its
// /proc/<pid>/ns/{pid,ipc}. Libc only, like the rest of the shim.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

int NsHolderMain(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: kecs-shim ns-holder PIDFILE pid|ipc|pid,ipc\n");
    return 2;
  }
  std::string pid_file = argv[2], kinds = argv[3];
  int flags = 0;
  if (kinds.find("pid") != std::string::npos) flags |= CLONE_NEWPID;
  if (kinds.find("ipc") != std::string::npos) flags |= CLONE_NEWIPC;
  if (flags == 0 || unshare(flags) != 0) {
    std::perror("kecs-shim ns-holder: unshare");
    return 1;
  }
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  pid_t holder = fork();
  if (holder < 0) {
    std::perror("kecs-shim ns-holder: fork");
    return 1;
  }
  if (holder == 0) {
    prctl(PR_SET_NAME, "kecs-ns-holder");
    // Signals stay blocked and are taken one at a time: as a PID namespace's init, the
    // holder is not killed by signals it does not handle, except SIGKILL from outside.
    while (true) {
      int sig = 0;
      if (sigwait(&all, &sig) != 0) continue;
      if (sig == SIGCHLD) {
        while (waitpid(-1, nullptr, WNOHANG) > 0) {
        }
      } else if (sig == SIGTERM || sig == SIGINT) {
        _exit(0);
      }
    }
  }
  std::string tmp = pid_file + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    kill(holder, SIGKILL);
    return 1;
  }
  std::string text = std::to_string(holder) + "\n";
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  fsync(fd);
  close(fd);
  if (!ok || rename(tmp.c_str(), pid_file.c_str()) != 0) {
    kill(holder, SIGKILL);
    return 1;
  }
  return 0;
}
