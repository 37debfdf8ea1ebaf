// ExecProcess (runtime.h): the descriptors and pid of a process started by Runtime::Exec.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "runtime/runtime.h"

namespace kecs::runtime {

namespace {

// How long Kill waits for the front process to name its command.
constexpr auto kTargetPidWait = std::chrono::seconds(2);

// The pid in `path` (runc writes it whole, by rename), or 0.
int ReadTargetPid(const std::string& path) {
  int target = 0;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    if (std::fscanf(f, "%d", &target) != 1) target = 0;
    std::fclose(f);
  }
  return target;
}

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

// The descriptors are made non-blocking: Read and Write wait in poll, beside wake_, so
// Interrupt can end the wait.
ExecProcess::ExecProcess(int pid, int input, int output, bool tty, std::string target_pid_file)
    : pid_(pid),
      input_(input),
      output_(output),
      tty_(tty),
      target_pid_file_(std::move(target_pid_file)),
      wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (input_ >= 0) SetNonBlocking(input_);
  if (output_ >= 0) SetNonBlocking(output_);
}

void ExecProcess::Interrupt() {
  uint64_t one = 1;
  if (wake_ >= 0) (void)!write(wake_, &one, sizeof one);
}

// Waits until `fd` is ready for `events` or Interrupt is called; false when interrupted.
bool ExecProcess::WaitFor(int fd, short events) {
  for (;;) {
    pollfd p[2] = {{fd, events, 0}, {wake_, POLLIN, 0}};
    int n = poll(p, wake_ >= 0 ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return true;  // let the caller's read or write report it
    if (p[1].revents != 0) return false;
    return true;
  }
}

ExecProcess::~ExecProcess() {
  bool done;
  {
    std::lock_guard lock(mu_);
    done = exit_code_.has_value();
  }
  if (!done) {
    Kill();
    (void)Wait();
  }
  if (input_ >= 0 && input_ != output_) close(input_);
  if (output_ >= 0) close(output_);
  if (!target_pid_file_.empty()) unlink(target_pid_file_.c_str());
  if (wake_ >= 0) close(wake_);
}

Result<std::string> ExecProcess::Read(size_t max) {
  std::string buf(max, '\0');
  for (;;) {
    ssize_t n = read(output_, buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      if (!WaitFor(output_, POLLIN)) {
        // Interrupted: what is left to read now still comes, then the end.
        n = read(output_, buf.data(), buf.size());
        buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
        return buf;
      }
      continue;
    }
    // A terminal master reads EIO once the last holder of the slave has closed it.
    if (errno == EIO && tty_) return std::string();
    return Internal(fmt::format("reading the command's output: {}", std::strerror(errno)));
  }
}

Status ExecProcess::Write(std::string_view data) {
  if (input_ < 0) return FailedPrecondition("the command's input is closed");
  while (!data.empty()) {
    ssize_t n = write(input_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!WaitFor(input_, POLLOUT)) return Unavailable("writing the command's input: interrupted");
        continue;
      }
      return Unavailable(fmt::format("writing the command's input: {}", std::strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status ExecProcess::Resize(uint16_t cols, uint16_t rows) {
  if (!tty_) return Status::Ok();
  struct winsize ws {};
  ws.ws_col = cols;
  ws.ws_row = rows;
  if (ioctl(output_, TIOCSWINSZ, &ws) != 0) {
    return Internal(fmt::format("setting the terminal size: {}", std::strerror(errno)));
  }
  return Status::Ok();
}

void ExecProcess::CloseInput() {
  if (tty_) {
    (void)Write(std::string_view("\x04", 1));  // VEOF in canonical mode
    return;
  }
  if (input_ >= 0) {
    close(input_);
    input_ = -1;
  }
}

Result<int> ExecProcess::Wait() {
  std::lock_guard lock(mu_);
  if (exit_code_) return *exit_code_;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid_, &status, 0);
    if (r == pid_) break;
    if (r < 0 && errno == EINTR) continue;
    return Internal(fmt::format("waiting for the command: {}", std::strerror(errno)));
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return *exit_code_;
}

void ExecProcess::Kill() {
  // Once reaped, the pid may be reused: signal only a process not yet reaped. A Wait in
  // progress holds the lock while the process is still ours (a zombie at worst).
  if (mu_.try_lock()) {
    bool done = exit_code_.has_value();
    mu_.unlock();
    if (done) return;
  }
  // The front process (runc exec) passes on the signals it can catch, not SIGKILL: the
  // command (in a session of its own inside the container) would outlive it. runc writes
  // the pid file only after the command has started, so a Kill right after the start
  // waits for it while the front process lives (killed first, runc would never write it
  // and the command would be left running).
  if (!target_pid_file_.empty()) {
    const auto deadline = std::chrono::steady_clock::now() + kTargetPidWait;
    for (;;) {
      if (int target = ReadTargetPid(target_pid_file_); target > 1) {
        kill(-target, SIGKILL);  // its process group, when it leads one
        kill(target, SIGKILL);
        break;
      }
      siginfo_t info{};
      // Without reaping it (a Wait may be in progress): has the front process exited?
      if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != 0) break;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  kill(pid_, SIGKILL);
}

}  // namespace kecs::runtime
