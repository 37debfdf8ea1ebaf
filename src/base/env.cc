#include "base/env.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <thread>

#include "base/ids.h"

extern char** environ;

namespace kecs {
namespace fs = std::filesystem;
namespace {

Status EcError(const std::string& context, const std::error_code& ec) {
  return ec.category() == std::generic_category() || ec.category() == std::system_category()
             ? PosixError(context, ec.value())
             : Internal(context + ": " + ec.message());
}

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    flock(fd_, LOCK_UN);
    close(fd_);
  }

 private:
  const int fd_;
};

class PosixEnv : public Env {
 public:
  double Now() const override { return Clock::Real().Now(); }
  MonoTime MonotonicNow() const override { return std::chrono::steady_clock::now(); }
  void SleepFor(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }

  // POSIX reads, not iostreams: libstdc++'s filebuf throws when read(2) fails, which it
  // does (ESRCH) for /proc/<pid>/ files of a process that exits while they are read.
  Result<std::string> ReadFile(const std::string& path) override {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open " + path, errno);
    return ReadAndClose(fd, path);
  }

  Result<std::string> ReadFileInRoot(const std::string& root, const std::string& rel) override {
    int dir = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return PosixError("open " + root, errno);
    struct open_how how = {};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how));
    int e = errno;
    close(dir);
    std::string what = root + " (root) / " + rel;
    if (fd < 0) return PosixError("open " + what, e);
    return ReadAndClose(fd, what);
  }

 private:
  static Result<std::string> ReadAndClose(int fd, const std::string& what) {
    std::string out;
    char buf[65536];
    while (true) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int e = errno;
        close(fd);
        return PosixError("read " + what, e);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
  }

 public:
  Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) override {
    std::string tmp = path + ".tmp-" + RandomHex(8);
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return PosixError("create " + tmp, errno);
    auto fail = [&](const std::string& what) {
      int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return PosixError(what + " " + tmp, e);
    };
    // open() applies the umask; the caller's mode is what it asked for.
    if (fchmod(fd, mode) != 0) return fail("chmod");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("write");
      done += static_cast<size_t>(n);
    }
    if (fsync(fd) != 0) return fail("fsync");
    if (close(fd) != 0) {
      int e = errno;
      unlink(tmp.c_str());
      return PosixError("close " + tmp, e);
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
      int e = errno;
      unlink(tmp.c_str());
      return PosixError("rename " + tmp + " to " + path, e);
    }
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (remove(path.c_str()) != 0 && errno != ENOENT) return PosixError("remove " + path, errno);
    return Status::Ok();
  }

  Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) return EcError("remove " + path, ec);
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    std::error_code ec;
    std::vector<std::string> out;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      out.push_back(it->path().filename().string());
    }
    if (ec) return EcError("list " + path, ec);
    std::sort(out.begin(), out.end());
    return out;
  }

  Status CreateDirs(const std::string& path, mode_t mode) override {
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
      return S_ISDIR(st.st_mode) ? Status::Ok() : PosixError("mkdir " + path, ENOTDIR);
    }
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && parent != fs::path(path)) RETURN_IF_ERROR(CreateDirs(parent.string(), mode));
    if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return PosixError("mkdir " + path, errno);
    return Status::Ok();
  }

  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return PosixError("stat " + path, errno);
    FileInfo fi;
    fi.is_dir = S_ISDIR(st.st_mode);
    fi.size = static_cast<uint64_t>(st.st_size);
    fi.inode = st.st_ino;
    fi.mode = st.st_mode & 07777;
    return fi;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (rename(from.c_str(), to.c_str()) != 0) return PosixError("rename " + from + " to " + to, errno);
    return Status::Ok();
  }

  Status Symlink(const std::string& target, const std::string& path) override {
    if (symlink(target.c_str(), path.c_str()) == 0) return Status::Ok();
    int e = errno;
    if (e == EEXIST) {
      char buf[4096];
      ssize_t n = readlink(path.c_str(), buf, sizeof buf);
      if (n >= 0 && std::string_view(buf, static_cast<size_t>(n)) == target) return Status::Ok();
    }
    return PosixError("symlink " + path, e);
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return PosixError("open " + path, errno);
    while (flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return PosixError("lock " + path, e);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }

  using Env::Run;
  Result<ProcessResult> Run(const ProcessOptions& opts) override { return RunProcess(opts); }

  Status StartDetached(const ProcessOptions& opts) override {
    if (opts.argv.empty()) return InvalidArgument("empty command");
    // Everything the children need is prepared before fork: after it, only async-signal-safe
    // calls.
    std::vector<char*> args;
    for (const auto& a : opts.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings(opts.env);
    for (char** e = environ; e && *e; ++e) {
      std::string_view entry(*e);
      std::string_view name = entry.substr(0, entry.find('=') + 1);
      bool replaced = std::any_of(opts.env.begin(), opts.env.end(),
                                  [&](const std::string& x) { return x.rfind(name, 0) == 0; });
      if (!replaced) env_strings.emplace_back(entry);
    }
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    // Double fork: the grandchild is re-parented to init and outlives the daemon.
    pid_t child = fork();
    if (child < 0) return PosixError("fork", errno);
    if (child == 0) {
      setsid();
      pid_t grandchild = fork();
      if (grandchild == 0) {
        // Nothing of the daemon's (its listening socket above all) may outlive it here.
        syscall(SYS_close_range, 3, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execvpe(args[0], args.data(), envp.data());
        _exit(127);
      }
      _exit(grandchild < 0 ? 1 : 0);
    }
    int st = 0;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return Internal("cannot start " + opts.argv[0] + ": fork failed");
    return Status::Ok();
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: detached threads may use it
  return env;
}

Result<ProcessResult> Env::Run(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  ProcessOptions opts;
  opts.argv = std::move(argv);
  opts.timeout = timeout;
  return Run(opts);
}

// ---- FakeEnv

FakeEnv::FakeEnv(double now) : files_(Env::Default()), now_(now), mono_(std::chrono::hours(1)) {}

double FakeEnv::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

Env::MonoTime FakeEnv::MonotonicNow() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mono_;
}

void FakeEnv::Advance(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ += std::chrono::duration<double>(d).count();
  mono_ += d;
}

void FakeEnv::SleepFor(std::chrono::milliseconds d) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sleeps_.push_back(d);
  }
  Advance(d);
}

std::vector<std::chrono::milliseconds> FakeEnv::sleeps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sleeps_;
}

void FakeEnv::FailOn(EnvOp op, std::string path_substring, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back({op, std::move(path_substring), std::move(status)});
}

void FakeEnv::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.clear();
}

std::optional<Status> FakeEnv::FaultFor(EnvOp op, const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : faults_) {
    if (f.op == op && path.find(f.substring) != std::string::npos) return f.status;
  }
  return std::nullopt;
}

Result<std::string> FakeEnv::ReadFile(const std::string& path) {
  if (auto f = FaultFor(EnvOp::kRead, path)) return *f;
  return files_->ReadFile(path);
}

Result<std::string> FakeEnv::ReadFileInRoot(const std::string& root, const std::string& rel) {
  if (auto f = FaultFor(EnvOp::kRead, root + "/" + rel)) return *f;
  return files_->ReadFileInRoot(root, rel);
}

Status FakeEnv::WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  if (auto f = FaultFor(EnvOp::kWrite, path)) return *f;
  return files_->WriteFileAtomic(path, data, mode);
}

Status FakeEnv::RemoveFile(const std::string& path) {
  if (auto f = FaultFor(EnvOp::kRemove, path)) return *f;
  return files_->RemoveFile(path);
}

Status FakeEnv::RemoveAll(const std::string& path) {
  if (auto f = FaultFor(EnvOp::kRemove, path)) return *f;
  return files_->RemoveAll(path);
}

Result<std::vector<std::string>> FakeEnv::ListDir(const std::string& path) {
  if (auto f = FaultFor(EnvOp::kList, path)) return *f;
  return files_->ListDir(path);
}

Status FakeEnv::CreateDirs(const std::string& path, mode_t mode) {
  if (auto f = FaultFor(EnvOp::kMkdir, path)) return *f;
  return files_->CreateDirs(path, mode);
}

Result<FileInfo> FakeEnv::Stat(const std::string& path) {
  if (auto f = FaultFor(EnvOp::kStat, path)) return *f;
  return files_->Stat(path);
}

Status FakeEnv::Rename(const std::string& from, const std::string& to) {
  if (auto f = FaultFor(EnvOp::kRename, from)) return *f;
  if (auto f = FaultFor(EnvOp::kRename, to)) return *f;
  return files_->Rename(from, to);
}

Status FakeEnv::Symlink(const std::string& target, const std::string& path) {
  if (auto f = FaultFor(EnvOp::kWrite, path)) return *f;
  return files_->Symlink(target, path);
}

Result<std::unique_ptr<FileLock>> FakeEnv::LockFile(const std::string& path) {
  if (auto f = FaultFor(EnvOp::kLock, path)) return *f;
  return files_->LockFile(path);
}

void FakeEnv::SetProcessHandler(ProcessHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(handler);
}

FakeEnv::ProcessHandler FakeEnv::Handler() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handler_;
}

std::vector<ProcessOptions> FakeEnv::processes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return processes_;
}

Result<ProcessResult> FakeEnv::Run(const ProcessOptions& opts) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    processes_.push_back(opts);
  }
  ProcessHandler h = Handler();  // called without mu_: it may block
  if (!h) {
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  }
  return h(opts);
}

Status FakeEnv::StartDetached(const ProcessOptions& opts) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    processes_.push_back(opts);
  }
  ProcessHandler h = Handler();
  if (!h) return Status::Ok();
  auto r = h(opts);
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace kecs
