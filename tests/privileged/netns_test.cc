// net::netns against the real kernel: named namespaces as `ip netns` keeps them.
#include "net/kernel/netns.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "privileged/privileged.h"

namespace kecs::privileged {
namespace {

// The inode of the calling thread's network namespace.
ino_t CurrentNetnsInode() {
  struct stat st {};
  stat("/proc/thread-self/ns/net", &st);
  return st.st_ino;
}

class NetnsTest : public PrivilegedTest {
 protected:
  std::string Name(const std::string& suffix) { return P() + "-ns-" + suffix; }
};

TEST_F(NetnsTest, CreateTwiceExistsListDeleteTwice) {
  std::string ns = Name("a");
  EXPECT_FALSE(net::netns::Exists(ns));
  ASSERT_TRUE(net::netns::Create(ns).ok());
  Status again = net::netns::Create(ns);
  EXPECT_TRUE(again.ok()) << again.ToString();
  EXPECT_TRUE(net::netns::Exists(ns));
  auto list = net::netns::List();
  EXPECT_NE(std::find(list.begin(), list.end(), ns), list.end());
  // iproute2 sees it too.
  EXPECT_NE(Sh({"ip", "netns", "list"}).out.find(ns), std::string::npos);

  Status del = net::netns::Delete(ns);
  EXPECT_TRUE(del.ok()) << del.ToString();
  EXPECT_FALSE(net::netns::Exists(ns));
  del = net::netns::Delete(ns);
  EXPECT_TRUE(del.ok()) << "Delete of a missing namespace must succeed: " << del.ToString();
  list = net::netns::List();
  EXPECT_EQ(std::find(list.begin(), list.end(), ns), list.end());
  EXPECT_EQ(Sh({"ip", "netns", "list"}).out.find(ns), std::string::npos);
}

TEST_F(NetnsTest, RunEntersTheNamespaceOnItsOwnThread) {
  std::string ns = Name("run");
  ASSERT_TRUE(net::netns::Create(ns).ok());
  ino_t host = CurrentNetnsInode();
  ino_t inside = 0;
  ino_t inside_again = 0;
  ASSERT_TRUE(net::netns::Run(ns, [&]() {
                inside = CurrentNetnsInode();
                return Status::Ok();
              }).ok());
  ASSERT_TRUE(net::netns::Run(ns, [&]() {
                inside_again = CurrentNetnsInode();
                return Status::Ok();
              }).ok());
  EXPECT_NE(inside, 0u);
  EXPECT_NE(inside, host) << "Run must execute inside the namespace";
  EXPECT_EQ(inside, inside_again) << "the same namespace every time";
  EXPECT_EQ(CurrentNetnsInode(), host) << "the caller's thread must stay in its namespace";

  // "" is the host's namespace.
  ino_t in_host = 0;
  ASSERT_TRUE(net::netns::Run("", [&]() {
                in_host = CurrentNetnsInode();
                return Status::Ok();
              }).ok());
  EXPECT_EQ(in_host, host);

  // Run returns fn's status.
  Status st = net::netns::Run(ns, []() { return NotFound("from inside"); });
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_EQ(st.message(), "from inside");

  // A fresh namespace has only lo, down; a link made inside is not on the host.
  std::string link = LinkName("d0");
  ASSERT_TRUE(InNs(ns, [&](net::Netlink& nl) -> Status {
                auto links = nl.ListLinks();
                if (!links.ok()) return links.status();
                EXPECT_EQ(links->size(), 1u);
                if (!links->empty()) {
                  EXPECT_EQ(links->front().name, "lo");
                }
                return nl.CreateBridge(link, "");
              }).ok());
  EXPECT_EQ(Sh({"ip", "link", "show", link}).code == 0, false) << "a link made inside leaked to the host";
  EXPECT_EQ(Sh({"ip", "netns", "exec", ns, "ip", "link", "show", link}).code, 0);
  ASSERT_TRUE(net::netns::Delete(ns).ok());
}

TEST_F(NetnsTest, SysctlsArePerNamespace) {
  std::string ns = Name("sysctl");
  ASSERT_TRUE(net::netns::Create(ns).ok());
  std::string host_before = net::netns::ReadSysctl("net/ipv4/conf/all/forwarding");
  std::string inside;
  ASSERT_TRUE(net::netns::Run(ns, [&]() -> Status {
                RETURN_IF_ERROR(net::netns::WriteSysctl("net/ipv4/conf/all/forwarding",
                                                        host_before == "1" ? "0" : "1"));
                inside = net::netns::ReadSysctl("net/ipv4/conf/all/forwarding");
                return Status::Ok();
              }).ok());
  EXPECT_EQ(inside, host_before == "1" ? "0" : "1");
  EXPECT_EQ(net::netns::ReadSysctl("net/ipv4/conf/all/forwarding"), host_before);
  EXPECT_FALSE(net::netns::WriteSysctl("net/ipv4/no_such_key", "1").ok());
  ASSERT_TRUE(net::netns::Delete(ns).ok());
}

TEST_F(NetnsTest, RunInMissingNamespaceFails) {
  bool ran = false;
  Status st = net::netns::Run(Name("missing"), [&]() {
    ran = true;
    return Status::Ok();
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_FALSE(ran);
}

TEST_F(NetnsTest, BadNamesRejected) {
  EXPECT_EQ(net::netns::Create("").code(), Code::kInvalidArgument);
  EXPECT_EQ(net::netns::Create(P() + "/x").code(), Code::kInvalidArgument);
}

// A placeholder file left by a crash between open and bind mount is not a namespace;
// Create turns it into one.
TEST_F(NetnsTest, PlaceholderFileIsNotANamespace) {
  std::string ns = Name("placeholder");
  ASSERT_TRUE(net::netns::Create(Name("prep")).ok());  // makes sure the run dir exists
  std::string path = std::string(net::netns::kRunDir) + "/" + ns;
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  ASSERT_GE(fd, 0) << path;
  close(fd);
  EXPECT_FALSE(net::netns::Exists(ns));
  ASSERT_TRUE(net::netns::Create(ns).ok());
  EXPECT_TRUE(net::netns::Exists(ns));
  EXPECT_TRUE(net::netns::Delete(ns).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(net::netns::Delete(Name("prep")).ok());
}

// Concurrent Creates of one name all succeed and leave exactly one namespace, bind-mounted
// once, which one Delete removes: Create checks and mounts under a per-name lock, so the
// callers do not each unshare a namespace and stack their mounts on the same file.
TEST_F(NetnsTest, ConcurrentCreateOfOneName) {
  std::string ns = Name("race");
  std::vector<std::thread> threads;
  std::vector<Status> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = net::netns::Create(ns); });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(net::netns::Exists(ns));
  // Exactly one mount of the namespace file, not eight stacked ones.
  int mounts = 0;
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    if (line.find(" " + std::string(net::netns::kRunDir) + "/" + ns + " ") != std::string::npos ||
        line.find(" /run/netns/" + ns + " ") != std::string::npos) {
      ++mounts;
    }
  }
  EXPECT_EQ(mounts, 1) << "concurrent Create stacked mounts on " << ns;
  EXPECT_TRUE(net::netns::Delete(ns).ok());
  EXPECT_FALSE(net::netns::Exists(ns));
}

}  // namespace
}  // namespace kecs::privileged
