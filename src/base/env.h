#pragma once
// Env: the operating-system effects kecs depends on, behind one injectable interface
// (LevelDB's Env is the model): time (the wall clock, a monotonic clock and sleeping), files
// (read, atomic write, remove, list, mkdir, stat, rename) and processes (run a command and
// collect its output, or start one detached).
//
// Production code takes an `Env*` and defaults to Env::Default(), the POSIX implementation.
// Unit tests pass a FakeEnv instead: its time only moves when a test (or a sleep) moves it,
// it answers commands through a handler the test supplies and records every command it was
// asked to run, and it fails chosen file operations on request. With it, code that spawns
// skopeo, umoci or runc, retries with backoff or writes under the data dir is tested without
// root, without the tools and without waiting.
//
// An Env is a Clock (clock.h): its Now() is the wall clock, so an Env can be handed to
// anything that takes a Clock&.
//
// Thread safety: every Env method may be called from any thread at once. PosixEnv keeps no
// state; FakeEnv guards its state with a mutex and never holds it while running a process
// handler, so a handler may block (on a latch, say) while other threads use the Env.
//
// Ownership: Env::Default() lives for the whole process and must not be deleted. Any other
// Env is owned by whoever made it and must outlive every object it was given to.
//
// Paths are absolute. Failures are Status values that name the path (or the program) and
// the OS's reason; no method throws.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/subprocess.h"

namespace kecs {

struct FileInfo {
  bool is_dir = false;
  uint64_t size = 0;
  uint64_t inode = 0;
  mode_t mode = 0;  // permission bits
};

// An exclusive lock on a file, held until this object is destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env : public Clock {
 public:
  using MonoTime = std::chrono::steady_clock::time_point;

  ~Env() override = default;

  // The process-wide POSIX Env.
  static Env* Default();

  // ---- Time.
  // Now() (from Clock): seconds since the Unix epoch, the wall clock. It may jump; measure
  // intervals with MonotonicNow().
  // A clock that never goes back, for deadlines and intervals.
  virtual MonoTime MonotonicNow() const = 0;
  // Blocks the calling thread for `d` (a FakeEnv advances its clocks instead).
  virtual void SleepFor(std::chrono::milliseconds d) = 0;

  // ---- Files.
  // The whole content of `path`. NotFound when it does not exist; Internal otherwise.
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // The content of `rel` resolved inside directory `root` as if `root` were "/": no
  // symbolic link (absolute or relative) and no ".." can lead out of it (openat2 with
  // RESOLVE_IN_ROOT). For files of an image's root filesystem, which anyone may have
  // built: a link there to /etc/shadow names <root>/etc/shadow, not the host's. NotFound
  // when it does not exist inside `root`; Internal otherwise.
  virtual Result<std::string> ReadFileInRoot(const std::string& root, const std::string& rel) = 0;
  // Replaces `path` with `data`, atomically: readers see the old content or the new, never
  // a part. The file is written beside `path` with permissions `mode` from its first byte
  // (a secret is never readable by others, even briefly), synced, then renamed over `path`.
  // On failure `path` is unchanged and no temporary file is left.
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644) = 0;
  // Removes a file or an empty directory. Succeeds when `path` does not exist.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Removes `path` and everything under it. Succeeds when `path` does not exist.
  virtual Status RemoveAll(const std::string& path) = 0;
  // The names (not paths) of the entries of directory `path`, sorted. NotFound when it does
  // not exist.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // Creates `path` and its missing parents; the directories it creates get `mode`. Succeeds
  // when `path` already is a directory.
  virtual Status CreateDirs(const std::string& path, mode_t mode = 0755) = 0;
  // What `path` is. NotFound when it does not exist.
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  // Makes `path` a symbolic link to `target`. Succeeds when it already is one to `target`;
  // AlreadyExists when something else is there.
  virtual Status Symlink(const std::string& target, const std::string& path) = 0;
  // rename(2): replaces `to` (a file, or an empty directory when `from` is one).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Blocks until this caller holds an exclusive lock on `path` (created with mode 0600 when
  // missing), shared with other processes and other callers in this one (flock(2) on a
  // descriptor of its own). Fails when the file cannot be opened or locked.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
  // Whether `path` exists (false on any error).
  bool Exists(const std::string& path) { return Stat(path).ok(); }

  // ---- Processes.
  // Runs opts.argv (argv[0] looked up in PATH) to completion and collects its output (see
  // ProcessOptions and ProcessResult in subprocess.h). Fails only when the program cannot be
  // started (NotFound) or a pipe cannot be made; a program that exits non-zero, is killed
  // or times out is a result, not an error.
  virtual Result<ProcessResult> Run(const ProcessOptions& opts) = 0;
  // Starts opts.argv detached from this process: in its own session, re-parented to init
  // (it outlives the daemon), stdin/stdout/stderr on /dev/null, no inherited descriptors.
  // opts.stdin_data and opts.timeout do not apply. Returns once the process is started;
  // fails when it cannot be forked (it cannot see a later exec failure: the program's own
  // files tell).
  virtual Status StartDetached(const ProcessOptions& opts) = 0;

  // Shorthand for Run with only an argv and a timeout.
  Result<ProcessResult> Run(std::vector<std::string> argv,
                            std::chrono::milliseconds timeout = std::chrono::minutes(10));
};

// A file operation a FakeEnv can be told to fail.
enum class EnvOp { kRead, kWrite, kRemove, kList, kMkdir, kStat, kRename, kLock };

// An Env for tests. Files are real (tests point it at a temporary directory) unless a fault
// is injected; time is fake; processes are answered by a handler.
//
// - Time starts at `now` (wall) and an arbitrary monotonic origin, and moves only through
//   Advance() and SleepFor(), which advances both clocks by the slept time and records it.
// - Run() and StartDetached() record the command, then call the process handler (default:
//   exit code 0, no output). Without a handler StartDetached does nothing.
// - FailOn(op, substring, status) makes every `op` on a path that contains `substring` fail
//   with `status` (the first matching rule wins) until ClearFaults().
class FakeEnv : public Env {
 public:
  using ProcessHandler = std::function<Result<ProcessResult>(const ProcessOptions&)>;

  explicit FakeEnv(double now = 1767225600.0);

  double Now() const override;
  MonoTime MonotonicNow() const override;
  void SleepFor(std::chrono::milliseconds d) override;
  void Advance(std::chrono::milliseconds d);
  // Every SleepFor so far, in order.
  std::vector<std::chrono::milliseconds> sleeps() const;

  Result<std::string> ReadFile(const std::string& path) override;
  Result<std::string> ReadFileInRoot(const std::string& root, const std::string& rel) override;
  Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644) override;
  Status RemoveFile(const std::string& path) override;
  Status RemoveAll(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Status CreateDirs(const std::string& path, mode_t mode = 0755) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Symlink(const std::string& target, const std::string& path) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  void FailOn(EnvOp op, std::string path_substring, Status status);
  void ClearFaults();

  using Env::Run;
  Result<ProcessResult> Run(const ProcessOptions& opts) override;
  Status StartDetached(const ProcessOptions& opts) override;
  void SetProcessHandler(ProcessHandler handler);
  // Every command run or started so far, in order.
  std::vector<ProcessOptions> processes() const;

 private:
  struct Fault {
    EnvOp op;
    std::string substring;
    Status status;
  };
  std::optional<Status> FaultFor(EnvOp op, const std::string& path) const;
  ProcessHandler Handler() const;

  Env* const files_;  // the real files behind the fakes (Env::Default())
  mutable std::mutex mu_;
  // Guarded by mu_.
  double now_;
  MonoTime mono_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::vector<Fault> faults_;
  ProcessHandler handler_;
  std::vector<ProcessOptions> processes_;
};

}  // namespace kecs
