// kecs-shim: watches one container, and outlives the daemon.
//
//   kecs-shim RUNC_ROOT BUNDLE ID LOG
//
// It makes itself a child subreaper and runs `runc run -d`, so the container's init is
// re-parented to it; it reaps it and writes its exit status to BUNDLE/exit ("N", or
// "error: <runc's message>" when the container never started). It links nothing but libc,
// so each running container costs a few hundred kilobytes of shim, not a daemon's worth.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

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

// Writes `content` to `path` through a temporary file and a rename.
void WriteAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, content.data(), content.size());
  (void)ignored;
  fsync(fd);
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

}  // namespace

int NsHolderMain(int argc, char** argv);  // ns_holder_main.cc: `kecs-shim ns-holder ...`

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "ns-holder") == 0) return NsHolderMain(argc, argv);
  if (argc != 5) {
    std::fprintf(stderr, "usage: kecs-shim RUNC_ROOT BUNDLE ID LOG\n");
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
    while (waitpid(info.si_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  WriteAtomic(bundle + "/exit", std::to_string(code) + "\n");
  while (pid > 0 && waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (log >= 0) close(log);
  return 0;
}
