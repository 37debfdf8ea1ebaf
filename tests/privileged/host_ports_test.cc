// net::HostPortReservations: a reserved host port cannot be bound by anyone else.
#include "net/kernel/host_ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privileged/privileged.h"

namespace kecs::privileged {
namespace {

int Type(const std::string& proto) { return proto == "udp" ? SOCK_DGRAM : SOCK_STREAM; }

// A port nothing holds right now (the kernel's pick, released at once).
int FreePort(const std::string& proto) {
  int fd = socket(AF_INET, Type(proto), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Binds (and for TCP listens on) `addr`:port as another program would; returns the fd or
// -1. With `reuse`, SO_REUSEADDR and SO_REUSEPORT are set first.
int BindAs(const std::string& proto, int port, uint32_t addr, bool reuse) {
  int fd = socket(AF_INET, Type(proto) | SOCK_CLOEXEC, 0);
  if (reuse) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || (proto == "tcp" && listen(fd, 1) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

bool CanBind(const std::string& proto, int port, uint32_t addr, bool reuse = false) {
  int fd = BindAs(proto, port, addr, reuse);
  if (fd < 0) return false;
  close(fd);
  return true;
}

class HostPortsTest : public PrivilegedTest {};

TEST_F(HostPortsTest, ReservedPortCannotBeBoundByAnyoneElseAndReleaseFreesIt) {
  for (const std::string proto : {"tcp", "udp"}) {
    SCOPED_TRACE(proto);
    int port = FreePort(proto);
    net::HostPortReservations r;
    ASSERT_TRUE(r.Reserve(proto, port, "task:a").ok());
    ASSERT_TRUE(r.Reserve(proto, port, "task:a").ok()) << "repeating a reservation is a no-op";
    EXPECT_FALSE(CanBind(proto, port, INADDR_ANY));
    EXPECT_FALSE(CanBind(proto, port, INADDR_LOOPBACK)) << "a specific address of the host must be refused too";
    EXPECT_FALSE(CanBind(proto, port, INADDR_ANY, /*reuse=*/true)) << "SO_REUSEADDR/SO_REUSEPORT must not get around it";
    EXPECT_FALSE(net::HostPortFree(proto, port));
    r.Release("task:a");
    EXPECT_TRUE(CanBind(proto, port, INADDR_ANY)) << "Release must free the port";
    EXPECT_TRUE(net::HostPortFree(proto, port));
    r.Release("task:a");  // releasing twice is harmless
  }
}

TEST_F(HostPortsTest, PortHeldByAnotherProgramIsAlreadyExists) {
  int port = FreePort("tcp");
  int fd = BindAs("tcp", port, INADDR_ANY, false);
  ASSERT_GE(fd, 0);
  net::HostPortReservations r;
  Status st = r.Reserve("tcp", port, "task:a");
  EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.ToString();
  EXPECT_NE(st.message().find(std::to_string(port)), std::string::npos) << st.message();
  EXPECT_FALSE(net::HostPortFree("tcp", port));
  close(fd);
  EXPECT_TRUE(r.Reserve("tcp", port, "task:a").ok());
}

TEST_F(HostPortsTest, PortMovesToAnotherOwnerInsideKecs) {
  int port = FreePort("tcp");
  net::HostPortReservations r;
  ASSERT_TRUE(r.Reserve("tcp", port, "task:old").ok());
  // A new task takes the port of one that is gone: the reservation moves, never lapses.
  ASSERT_TRUE(r.Reserve("tcp", port, "task:new").ok());
  EXPECT_FALSE(CanBind("tcp", port, INADDR_ANY));
  r.Release("task:old");
  EXPECT_FALSE(CanBind("tcp", port, INADDR_ANY)) << "releasing the old owner freed the new owner's port";
  r.Release("task:new");
  EXPECT_TRUE(CanBind("tcp", port, INADDR_ANY));
}

TEST_F(HostPortsTest, ReleaseAllButKeepsOnlyListedOwners) {
  int p1 = FreePort("tcp");
  int p2 = FreePort("udp");
  net::HostPortReservations r;
  ASSERT_TRUE(r.Reserve("tcp", p1, "task:keep").ok());
  ASSERT_TRUE(r.Reserve("udp", p2, "task:drop").ok());
  r.ReleaseAllBut({"task:keep"});
  EXPECT_FALSE(CanBind("tcp", p1, INADDR_ANY));
  EXPECT_TRUE(CanBind("udp", p2, INADDR_ANY));
}

TEST_F(HostPortsTest, DestructorReleasesEverything) {
  int port = FreePort("tcp");
  {
    net::HostPortReservations r;
    ASSERT_TRUE(r.Reserve("tcp", port, "task:a").ok());
    EXPECT_FALSE(CanBind("tcp", port, INADDR_ANY));
  }
  EXPECT_TRUE(CanBind("tcp", port, INADDR_ANY));
}

}  // namespace
}  // namespace kecs::privileged
