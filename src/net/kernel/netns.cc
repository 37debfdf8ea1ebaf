#include "net/kernel/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace kecs::net::netns {
namespace {

std::mutex g_mount_mu;
constexpr unsigned long kNsfsMagic = 0x6e736673;

std::string PathOf(const std::string& name) { return std::string(kRunDir) + "/" + name; }

// Create and Delete of one name run under that name's lock. Concurrent Creates would each
// pass the Exists check, unshare a namespace of their own and bind-mount it on the same
// file, stacking mounts that one Delete cannot undo. Names hash onto a fixed set of locks,
// so unrelated names seldom wait for each other and nothing grows with the names seen.
std::mutex& NameLock(const std::string& name) {
  static std::array<std::mutex, 64> locks;
  return locks[std::hash<std::string>{}(name) % locks.size()];
}

// iproute2 makes /var/run/netns a shared mount point so that namespace mounts under it
// propagate to other mount namespaces; do the same once.
Status PrepareRunDir() {
  std::lock_guard<std::mutex> lock(g_mount_mu);
  static bool done = false;
  if (done) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(kRunDir, ec);
  if (ec) return Internal(fmt::format("mkdir {}: {}", kRunDir, ec.message()));
  if (mount("", kRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL) return PosixError(fmt::format("mount --make-shared {}", kRunDir), errno);
    if (mount(kRunDir, kRunDir, "none", MS_BIND | MS_REC, nullptr) != 0) {
      return PosixError(fmt::format("mount --bind {}", kRunDir), errno);
    }
    if (mount("", kRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
      return PosixError(fmt::format("mount --make-shared {}", kRunDir), errno);
    }
  }
  done = true;
  return Status::Ok();
}

Status OnThread(const std::function<Status()>& fn) {
  Status result;
  std::thread t([&] { result = fn(); });
  t.join();
  return result;
}

}  // namespace

bool Exists(const std::string& name) {
  // A live namespace file is a bind mount of an nsfs inode; a leftover placeholder is not.
  struct statfs fs {};
  if (statfs(PathOf(name).c_str(), &fs) != 0) return false;
  return static_cast<unsigned long>(fs.f_type) == kNsfsMagic;
}

Status Create(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) {
    return InvalidArgument("bad namespace name '" + name + "'");
  }
  RETURN_IF_ERROR(PrepareRunDir());
  std::lock_guard<std::mutex> lock(NameLock(name));
  if (Exists(name)) return Status::Ok();
  std::string path = PathOf(name);
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0 && errno != EEXIST) return PosixError("create " + path, errno);
  if (fd >= 0) close(fd);
  Status st = OnThread([&]() -> Status {
    if (unshare(CLONE_NEWNET) != 0) return PosixError("unshare(CLONE_NEWNET)", errno);
    std::string self = fmt::format("/proc/self/task/{}/ns/net", syscall(SYS_gettid));
    if (mount(self.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
      return PosixError("bind mount " + path, errno);
    }
    return Status::Ok();
  });
  if (!st.ok()) unlink(path.c_str());
  return st;
}

Status Delete(const std::string& name) {
  std::string path = PathOf(name);
  std::lock_guard<std::mutex> lock(NameLock(name));
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return PosixError("umount " + path, errno);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return PosixError("unlink " + path, errno);
  return Status::Ok();
}

std::vector<std::string> List() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kRunDir, ec)) {
    out.push_back(e.path().filename().string());
  }
  return out;
}

namespace {

// Runs `fn` on a new thread inside the namespace at `path`, named `label` in errors.
Status RunIn(const std::string& path, const std::string& label, const std::function<Status()>& fn) {
  if (path.empty()) return OnThread(fn);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open network namespace " + label, errno);
  Status st = OnThread([&]() -> Status {
    if (setns(fd, CLONE_NEWNET) != 0) return PosixError("setns " + label, errno);
    return fn();
  });
  close(fd);
  return st;
}

}  // namespace

Status Run(const std::string& name, const std::function<Status()>& fn) {
  return RunIn(name.empty() ? "" : PathOf(name), name, fn);
}

Status RunAt(const std::string& path, const std::function<Status()>& fn) { return RunIn(path, path, fn); }

Status WriteSysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/" + key;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + path, errno);
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n < 0) return PosixError("write " + path, err);
  return Status::Ok();
}

std::string ReadSysctl(const std::string& key) {
  std::ifstream in("/proc/sys/" + key);
  std::string v;
  std::getline(in, v);
  return v;
}

}  // namespace kecs::net::netns
