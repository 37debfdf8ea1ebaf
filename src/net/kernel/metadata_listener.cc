#include "net/kernel/metadata_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "net/kernel/netlink.h"
#include "net/kernel/netns.h"

namespace kecs::net {
namespace {

// Runs `fn` on a new thread inside the namespace at `path` ("" = the daemon's own).
Status RunInNetnsPath(const std::string& path, const std::function<Status()>& fn) {
  int fd = -1;
  if (!path.empty()) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open network namespace " + path, errno);
  }
  Status st;
  std::thread t([&] {
    if (fd >= 0 && ::setns(fd, CLONE_NEWNET) != 0) {
      st = PosixError("setns " + path, errno);
      return;
    }
    st = fn();
  });
  t.join();
  if (fd >= 0) ::close(fd);
  return st;
}

// A listening TCP socket on address:port in the calling thread's namespace.
Result<int> BindListener(const std::string& address, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) {
    return InvalidArgument("metadata listen address is not IPv4: " + address);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return PosixError("socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 128) != 0) {
    int err = errno;
    ::close(fd);
    Status st = PosixError(fmt::format("cannot listen on {}:{}", address, port), err);
    return err == EADDRINUSE ? Unavailable(st.message()) : st;
  }
  return fd;
}

}  // namespace

Result<int> OpenNetnsListener(const std::string& netns_path, const std::string& address, uint16_t port) {
  if (netns_path.empty()) return InvalidArgument("a task metadata listener needs the task's network namespace");
  int out = -1;
  RETURN_IF_ERROR(RunInNetnsPath(netns_path, [&]() -> Status {
    ASSIGN_OR_RETURN(auto nl, Netlink::Open());
    RETURN_IF_ERROR(nl->SetUp("lo"));
    RETURN_IF_ERROR(nl->AddAddress("lo", address + "/32"));
    ASSIGN_OR_RETURN(out, BindListener(address, port));
    return Status::Ok();
  }));
  return out;
}

Result<int> OpenHostListener(const std::string& link, const std::string& alias, const std::string& address,
                             uint16_t port) {
  int out = -1;
  RETURN_IF_ERROR(RunInNetnsPath("", [&]() -> Status {
    ASSIGN_OR_RETURN(auto nl, Netlink::Open());
    if (!nl->LinkExists(link)) {
      Status st = nl->CreateBridge(link, alias);
      // Another thread of ours may have made it a moment ago.
      if (!st.ok() && !nl->LinkExists(link)) return st;
    }
    RETURN_IF_ERROR(nl->SetUp(link));
    RETURN_IF_ERROR(nl->AddAddress(link, address + "/32"));
    ASSIGN_OR_RETURN(out, BindListener(address, port));
    return Status::Ok();
  }));
  return out;
}

Status RemoveHostListenerLink(const std::string& link) {
  return RunInNetnsPath("", [&]() -> Status {
    ASSIGN_OR_RETURN(auto nl, Netlink::Open());
    return nl->DeleteLink(link);
  });
}

}  // namespace kecs::net
