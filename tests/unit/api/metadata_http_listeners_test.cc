// HttpServer's added listeners (what the metadata endpoint serves each task's namespace
// through), on loopback sockets without root: requests carry their listener's tag, and
// removing a listener closes its socket and its connections but no other listener's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "api/http/server.h"

namespace kecs::api {
namespace {

// A listening loopback socket on a free port.
int ListenFd(uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) return -1;
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Reads give up after 30 s so a server that never answers fails instead of hanging
// the test; no assertion depends on that time.
int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends a keep-alive GET and reads one whole response (the body is short).
std::string Exchange(int fd) {
  std::string req = "GET /who HTTP/1.1\r\nHost: x\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return "";
  std::string out;
  char buf[4096];
  while (out.find("\r\n\r\n") == std::string::npos || out.find("tag=") == std::string::npos ||
         out.back() != ';') {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

HttpResponse Echo(const HttpRequest& r) {
  HttpResponse out;
  out.body = "tag=" + r.listener + ";";
  return out;
}

TEST(HttpServerListeners, RequestsCarryTheirListenersTag) {
  HttpServer server(Echo, HttpServer::Options{.threads = 2});
  uint16_t p1 = 0, p2 = 0;
  ASSERT_TRUE(server.AddListener(ListenFd(&p1), "task:a").ok());  // before Start
  server.Start();
  ASSERT_TRUE(server.AddListener(ListenFd(&p2), "task:b").ok());  // after Start
  int a = Connect(p1), b = Connect(p2);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_NE(Exchange(a).find("tag=task:a;"), std::string::npos);
  EXPECT_NE(Exchange(b).find("tag=task:b;"), std::string::npos);
  uint16_t p3 = 0;
  EXPECT_EQ(server.AddListener(ListenFd(&p3), "task:a").code(), Code::kAlreadyExists);
  EXPECT_EQ(server.ListenerTags(), (std::vector<std::string>{"task:a", "task:b"}));
  ::close(a);
  ::close(b);
  server.Shutdown(std::chrono::seconds(1));
}

TEST(HttpServerListeners, RemovingAListenerClosesItsSocketAndConnectionsOnly) {
  HttpServer server(Echo, HttpServer::Options{.threads = 2});
  uint16_t p1 = 0, p2 = 0;
  ASSERT_TRUE(server.AddListener(ListenFd(&p1), "task:a").ok());
  ASSERT_TRUE(server.AddListener(ListenFd(&p2), "task:b").ok());
  server.Start();
  int a = Connect(p1), b = Connect(p2);
  ASSERT_NE(Exchange(a).find("tag=task:a;"), std::string::npos);
  ASSERT_NE(Exchange(b).find("tag=task:b;"), std::string::npos);

  server.RemoveListener("task:a");
  // The idle keep-alive connection of task:a is closed: the next read sees the end.
  char c;
  EXPECT_EQ(::recv(a, &c, 1, 0), 0);
  // Nothing listens on its port any more.
  EXPECT_LT(Connect(p1), 0);
  // task:b's listener and connection carry on.
  EXPECT_NE(Exchange(b).find("tag=task:b;"), std::string::npos);
  int b2 = Connect(p2);
  EXPECT_NE(Exchange(b2).find("tag=task:b;"), std::string::npos);
  server.RemoveListener("task:a");  // again: nothing to do
  EXPECT_EQ(server.ListenerTags(), (std::vector<std::string>{"task:b"}));
  ::close(a);
  ::close(b);
  ::close(b2);
  server.Shutdown(std::chrono::seconds(1));
}

TEST(HttpServerListeners, AServerWithOnlyAddedListenersStartsAndStops) {
  HttpServer server(Echo, HttpServer::Options{.threads = 1});
  server.Start();
  EXPECT_EQ(server.port(), 0);  // no Listen()
  uint16_t p = 0;
  ASSERT_TRUE(server.AddListener(ListenFd(&p), "host").ok());
  int fd = Connect(p);
  EXPECT_NE(Exchange(fd).find("tag=host;"), std::string::npos);
  ::close(fd);
  server.Shutdown(std::chrono::seconds(1));
  uint16_t q = 0;
  EXPECT_EQ(server.AddListener(ListenFd(&q), "late").code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace kecs::api
