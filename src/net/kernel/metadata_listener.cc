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

#include <fmt/format.h>

#include "base/fd.h"
#include "net/kernel/netlink.h"
#include "net/kernel/netns.h"
#include "net/kernel/nft.h"

namespace kecs::net {
namespace {

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
  return MoveAboveSelectRange(fd);  // one per task: base/fd.h
}

// The redirect, made on the calling thread's namespace (nft::Apply's thread inherits it).
Status ApplyRedirect(const std::string& table, const MetadataAddress& a) {
  return nft::Apply("", MetadataRedirectRules(table, a));
}

}  // namespace

std::string MetadataRedirectRules(const std::string& table, const MetadataAddress& a) {
  // Declared, emptied and filled in one transaction: applying it again changes nothing.
  std::string routed;
  if (a.routed_clients) {
    routed = fmt::format(
        "  chain prerouting {{\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        "    ip daddr {a} tcp dport {p} dnat to {a}:{l}\n"
        "  }}\n",
        fmt::arg("a", a.address), fmt::arg("p", a.port), fmt::arg("l", a.listen_port));
  }
  return fmt::format(
      "table ip {t} {{}}\n"
      "delete table ip {t}\n"
      "table ip {t} {{\n"
      "  chain output {{\n"
      "    type nat hook output priority -100; policy accept;\n"
      "    ip daddr {a} tcp dport {p} dnat to {a}:{l}\n"
      "  }}\n"
      "{r}"
      "}}\n",
      fmt::arg("t", table), fmt::arg("a", a.address), fmt::arg("p", a.port), fmt::arg("l", a.listen_port),
      fmt::arg("r", routed));
}

Result<int> OpenNetnsListener(const std::string& netns_path, const MetadataAddress& a) {
  if (netns_path.empty()) return InvalidArgument("a task metadata listener needs the task's network namespace");
  int out = -1;
  RETURN_IF_ERROR(netns::RunAt(netns_path, [&]() -> Status {
    ASSIGN_OR_RETURN(auto nl, Netlink::Open());
    RETURN_IF_ERROR(nl->SetUp("lo"));
    RETURN_IF_ERROR(nl->AddAddress("lo", a.address + "/32"));
    RETURN_IF_ERROR(ApplyRedirect(a.netns_table, a));
    ASSIGN_OR_RETURN(out, BindListener(a.address, a.listen_port));
    return Status::Ok();
  }));
  return out;
}

Result<int> OpenHostListener(const std::string& link, const std::string& alias, const std::string& table,
                             const MetadataAddress& a) {
  int out = -1;
  RETURN_IF_ERROR(netns::RunAt("", [&]() -> Status {
    ASSIGN_OR_RETURN(auto nl, Netlink::Open());
    if (!nl->LinkExists(link)) {
      Status st = nl->CreateBridge(link, alias);
      // Another thread of ours may have made it a moment ago.
      if (!st.ok() && !nl->LinkExists(link)) return st;
    }
    RETURN_IF_ERROR(nl->SetUp(link));
    RETURN_IF_ERROR(nl->AddAddress(link, a.address + "/32"));
    ASSIGN_OR_RETURN(out, BindListener(a.address, a.listen_port));
    Status st = ApplyRedirect(table, a);
    if (!st.ok()) {
      ::close(out);
      return st;
    }
    return Status::Ok();
  }));
  return out;
}

Status RemoveHostListener(const std::string& link, const std::string& table) {
  return netns::RunAt("", [&]() -> Status {
    ASSIGN_OR_RETURN(auto nl, Netlink::Open());
    RETURN_IF_ERROR(nl->DeleteLink(link));
    // "table ... {}" first, so that deleting a table that is gone is not an error.
    return nft::Apply("", "table ip " + table + " {}\ndelete table ip " + table + "\n");
  });
}

}  // namespace kecs::net
