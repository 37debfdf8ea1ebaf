#pragma once
// Shared helpers of the privileged tests (root only: namespaces, links, nftables, runc).
//
// Every kernel object a test makes is named with Prefix(): "kc" and two hex digits, picked
// per process so that nothing on the machine has it yet (never "kecs", so a daemon on the
// same machine is never touched). Sweep() removes whatever carries the prefix and
// FindLeftovers() lists it; fixtures call both in TearDown, so a failing test still leaves
// nothing behind.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/ids.h"
#include "base/status.h"
#include "base/strings.h"
#include "base/subprocess.h"
#include "net/kernel/netlink.h"
#include "net/kernel/netns.h"
#include "net/kernel/nft.h"

namespace kecs::privileged {

inline bool IsRoot() { return geteuid() == 0; }

#define KECS_REQUIRE_ROOT()                                                                      \
  do {                                                                                           \
    if (!::kecs::privileged::IsRoot()) {                                                         \
      GTEST_SKIP() << "privileged test: needs root (network namespaces, netlink, nftables, "     \
                      "runc); run `ctest -L privileged` as root";                                \
    }                                                                                            \
  } while (0)

struct Cmd {
  int code = -1;
  std::string out;  // stdout then stderr
};

// Runs a program (PATH lookup) and returns its exit code and output.
inline Cmd Sh(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto r = RunProcess(argv, timeout);
  if (!r.ok()) return {-1, r.status().ToString()};
  return {r->exit_code, r->out + r->err};
}

// What the kernel (and cgroupfs) holds whose name starts with `prefix`.
struct Leftovers {
  std::vector<std::string> netns, links, nft, cgroups, mounts;
  bool empty() const { return netns.empty() && links.empty() && nft.empty() && cgroups.empty() && mounts.empty(); }
  std::string ToString() const {
    auto j = [](const std::vector<std::string>& v) { return "[" + Join(v, ", ") + "]"; };
    return fmt::format("netns {} links {} nft {} cgroups {} mounts {}", j(netns), j(links), j(nft), j(cgroups), j(mounts));
  }
};

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

inline std::vector<std::string> CgroupDirs(const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& ctrl : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    std::filesystem::path p = ctrl.path() / prefix;
    if (std::filesystem::is_directory(p, ec)) out.push_back(p.string());
  }
  return out;
}

inline Leftovers FindLeftovers(const std::string& prefix) {
  Leftovers l;
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(prefix, 0) == 0) l.netns.push_back(ns);
  }
  // `ip -o link`: "7: name@peer: <...>".
  for (const auto& line : Lines(Sh({"ip", "-o", "link"}).out)) {
    auto parts = Split(line, ':');
    if (parts.size() < 2) continue;
    std::string name(Trim(parts[1]));
    name = name.substr(0, name.find('@'));
    if (name.rfind(prefix, 0) == 0) l.links.push_back(name);
  }
  // Tables named with the prefix, and anything else in the ruleset that names it.
  for (const auto& line : Lines(Sh({"nft", "list", "ruleset"}).out)) {
    for (const std::string& needle : {" " + prefix, "\"" + prefix, "@" + prefix}) {
      if (line.find(needle) != std::string::npos) {
        l.nft.push_back(std::string(Trim(line)));
        break;
      }
    }
  }
  l.cgroups = CgroupDirs(prefix);
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    if (line.find("/netns/" + prefix) != std::string::npos) l.mounts.push_back(line);
  }
  return l;
}

// Removes every cgroup directory under /sys/fs/cgroup/<ctrl>/<prefix>, deepest first
// (only empty cgroups can be removed; a cgroup with processes stays and is reported).
inline void RemoveCgroups(const std::string& prefix) {
  for (const auto& top : CgroupDirs(prefix)) {
    std::vector<std::filesystem::path> dirs;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(top, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a.string().size() > b.string().size(); });
    for (const auto& d : dirs) rmdir(d.c_str());
    rmdir(top.c_str());
  }
}

// Removes every namespace, link, nft table and cgroup named with `prefix`.
inline void Sweep(const std::string& prefix) {
  for (const auto& ns : net::netns::List()) {
    if (ns.rfind(prefix, 0) != 0) continue;
    // Stacked mounts (several Creates of one name) need one umount each.
    std::string path = std::string(net::netns::kRunDir) + "/" + ns;
    for (int i = 0; i < 64 && umount2(path.c_str(), MNT_DETACH) == 0; ++i) {
    }
    (void)net::netns::Delete(ns);
  }
  for (const auto& name : FindLeftovers(prefix).links) Sh({"ip", "link", "delete", name});
  for (const auto& line : Lines(Sh({"nft", "list", "tables"}).out)) {
    auto w = Split(line, ' ');
    if (w.size() == 3 && w[0] == "table" && w[2].rfind(prefix, 0) == 0) Sh({"nft", "delete", "table", w[1], w[2]});
  }
  RemoveCgroups(prefix);
}

// This process's prefix: "kc" + two hex digits that nothing on the machine starts with.
inline const std::string& Prefix() {
  static const std::string prefix = [] {
    for (int i = 0; i < 64; ++i) {
      std::string p = "kc" + RandomHex(2);
      if (!IsRoot() || FindLeftovers(p).empty()) return p;
    }
    return "kc" + RandomHex(2);
  }();
  return prefix;
}

// A link's name is at most 15 characters.
inline std::string LinkName(const std::string& suffix) {
  std::string n = Prefix() + suffix;
  return n.substr(0, 15);
}

// Polls `fn` until it returns true or `timeout` passes.
template <typename F>
bool WaitFor(F fn, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fn();
}

// A new directory /tmp/kecs-priv-<prefix>-<tag>-XXXXXX; "" when it cannot be made.
inline std::string MakeTempDir(const std::string& tag) {
  std::string tmpl = "/tmp/kecs-priv-" + Prefix() + "-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = mkdtemp(buf.data());
  return d ? std::string(d) : std::string();
}

// Unmounts whatever is still mounted under `dir` (deepest first), then removes it.
inline std::error_code RemoveTree(const std::string& dir) {
  std::vector<std::string> mounts;
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    auto parts = Split(line, ' ');
    if (parts.size() > 4 && parts[4].rfind(dir + "/", 0) == 0) mounts.push_back(parts[4]);
  }
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return ec;
}

// An image as a docker-archive, built once per test process into a directory of its own
// by `build` (which gets the directory and returns the archive's path); Remove() (or the
// process's exit) takes the directory away.
class ImageArchive {
 public:
  using Build = std::function<Result<std::string>(const std::string& dir)>;
  explicit ImageArchive(Build build) : build_(std::move(build)) {}
  ~ImageArchive() { Remove(); }
  Result<std::string> Ensure() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!tar_.empty()) return tar_;
    dir_ = MakeTempDir("image");
    if (dir_.empty()) return Internal("mkdtemp for the image failed");
    ASSIGN_OR_RETURN(tar_, build_(dir_));
    return tar_;
  }
  void Remove() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dir_.empty()) RemoveTree(dir_);
    dir_.clear();
    tar_.clear();
  }

 private:
  const Build build_;
  std::mutex mu_;
  std::string dir_, tar_;  // guarded by mu_
};

// A fixture base: root or skip; Sweep() and a leftovers check in TearDown.
class PrivilegedTest : public ::testing::Test {
 protected:
  void SetUp() override { KECS_REQUIRE_ROOT(); }
  void TearDown() override {
    if (!IsRoot()) return;
    Sweep(Prefix());
    // The kernel removes a deleted namespace's links asynchronously.
    bool clean = WaitFor([] { return FindLeftovers(Prefix()).empty(); }, std::chrono::seconds(5));
    EXPECT_TRUE(clean) << "objects with prefix " << Prefix() << " left: " << FindLeftovers(Prefix()).ToString();
  }
  const std::string& P() const { return Prefix(); }
};

// Opens a Netlink in the calling thread's namespace and runs `fn`; for netns::Run.
inline Status WithNetlink(const std::function<Status(net::Netlink&)>& fn) {
  auto nl = net::Netlink::Open();
  if (!nl.ok()) return nl.status();
  return fn(**nl);
}

inline Status InNs(const std::string& ns, const std::function<Status(net::Netlink&)>& fn) {
  return net::netns::Run(ns, [&]() { return WithNetlink(fn); });
}

}  // namespace kecs::privileged
