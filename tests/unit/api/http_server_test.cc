// HttpServer against real sockets on a free loopback port: the answers to malformed
// requests, the connection cap, and running out of descriptors (in a child process with a
// lowered RLIMIT_NOFILE, so no root is needed).
#include "api/http/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "unit/support/temp_dir.h"

namespace kecs::api {
namespace {

HttpResponse Ok(const HttpRequest& req) {
  HttpResponse r;
  r.body = "ok " + req.method;
  return r;
}

// A connected blocking socket; reads give up after 30 s so that a server that never
// answers fails the test instead of hanging it (no assertion depends on that time).
int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Everything the server sends until it closes the connection (or the read times out).
std::string ReadToClose(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// One whole response on a keep-alive connection: the head and a Content-Length body.
std::string ReadResponse(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    size_t head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t cl = out.find("Content-Length: ");
      size_t len = cl == std::string::npos || cl > head_end ? 0 : std::stoul(out.substr(cl + 16));
      if (out.size() >= head_end + 4 + len) return out;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string StatusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServer::Options options = {}, HttpHandler handler = Ok) {
    server_ = std::make_unique<HttpServer>(std::move(handler), options);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    server_->Start();
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
  }

  // Sends raw bytes on a fresh connection and returns the whole answer.
  std::string Exchange(const std::string& raw) {
    int fd = Connect(server_->port());
    EXPECT_GE(fd, 0);
    SendAll(fd, raw);
    std::string out = ReadToClose(fd);
    ::close(fd);
    return out;
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, AnswersAWellFormedRequest) {
  Start();
  std::string r = Exchange("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 200 OK");
  EXPECT_NE(r.find("ok GET"), std::string::npos);
}

TEST_F(HttpServerTest, HeadersOverEightKilobytesGet431) {
  Start();
  std::string r = Exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_NE(r.find("\"message\""), std::string::npos) << r;
}

TEST_F(HttpServerTest, ManySmallHeadersOverTheLimitGet431) {
  Start();
  std::string headers;
  for (int i = 0; i < 700; ++i) headers += "X-H" + std::to_string(i) + ": value\r\n";
  std::string r = Exchange("GET / HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST_F(HttpServerTest, DuplicateContentLengthGets400) {
  Start();
  std::string r = Exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 400 Bad Request");
  EXPECT_NE(r.find("Content-Length"), std::string::npos) << r;
}

TEST_F(HttpServerTest, ConflictingContentLengthGets400) {
  Start();
  std::string r = Exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 400 Bad Request");
}

TEST_F(HttpServerTest, ContentLengthListGets400) {
  Start();
  std::string r = Exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 400 Bad Request");
}

TEST_F(HttpServerTest, MalformedRequestLinesGet400) {
  Start();
  for (const char* line :
       {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n"}) {
    std::string r = Exchange(line);
    EXPECT_EQ(StatusLine(r), "HTTP/1.1 400 Bad Request") << line;
  }
}

TEST_F(HttpServerTest, BodyOverTheLimitGets413) {
  HttpServer::Options o;
  o.body_limit = 16;
  Start(o);
  std::string r = Exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 32\r\n\r\n" + std::string(32, 'x'));
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 413 Payload Too Large");
}

TEST_F(HttpServerTest, LargeBodyWantedRequestsGetTheLargerLimit) {
  HttpServer::Options o;
  o.body_limit = 16;
  o.large_body_limit = 64;
  o.large_body_wanted = [](std::string_view method, std::string_view target) {
    return method == "PATCH" && target.starts_with("/big");
  };
  Start(o);
  std::string body(32, 'x');
  EXPECT_EQ(StatusLine(Exchange("PATCH /big HTTP/1.1\r\nHost: x\r\nContent-Length: 32\r\n\r\n" + body)),
            "HTTP/1.1 200 OK");
  // Others keep the ordinary limit, by Content-Length and by a chunked body's size.
  EXPECT_EQ(StatusLine(Exchange("PATCH /small HTTP/1.1\r\nHost: x\r\nContent-Length: 32\r\n\r\n" + body)),
            "HTTP/1.1 413 Payload Too Large");
  EXPECT_EQ(StatusLine(Exchange("PATCH /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "20\r\n" + body + "\r\n0\r\n\r\n")),
            "HTTP/1.1 413 Payload Too Large");
  // And the larger limit holds too.
  EXPECT_EQ(StatusLine(Exchange("PATCH /big HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n" +
                                std::string(65, 'x'))),
            "HTTP/1.1 413 Payload Too Large");
}

TEST_F(HttpServerTest, DefaultCapIsBelowTheDescriptorLimit) {
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  int cap = HttpServer::DefaultMaxConnections();
  EXPECT_GE(cap, 8);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 16) {
    EXPECT_LT(static_cast<rlim_t>(cap), rl.rlim_cur);
  }
}

TEST_F(HttpServerTest, NewConnectionOverTheCapClosesTheOldestIdleOne) {
  HttpServer::Options o;
  o.max_connections = 3;
  Start(o);
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    // A served request proves the server has accepted (and registered) this connection.
    ASSERT_TRUE(SendAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(StatusLine(ReadResponse(fd)), "HTTP/1.1 200 OK");
    idle.push_back(fd);
  }
  int fresh = Connect(server_->port());
  ASSERT_GE(fresh, 0);
  ASSERT_TRUE(SendAll(fresh, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(StatusLine(ReadToClose(fresh)), "HTTP/1.1 200 OK");
  // The oldest idle connection was closed to make room: its next read sees the end.
  EXPECT_EQ(ReadToClose(idle[0]), "");
  // The younger ones still serve.
  ASSERT_TRUE(SendAll(idle[2], "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusLine(ReadResponse(idle[2])), "HTTP/1.1 200 OK");
  for (int fd : idle) ::close(fd);
  ::close(fresh);
}

TEST_F(HttpServerTest, NewConnectionOverTheCapGets503WhenEveryConnectionIsBusy) {
  std::mutex mu;
  std::condition_variable cv;
  int entered = 0;
  bool release = false;
  HttpServer::Options o;
  o.max_connections = 2;
  o.threads = 4;
  Start(o, [&](const HttpRequest& req) {
    std::unique_lock<std::mutex> lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return Ok(req);
  });
  int a = Connect(server_->port()), b = Connect(server_->port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  SendAll(a, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  SendAll(b, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered == 2; });
  }
  int c = Connect(server_->port());
  ASSERT_GE(c, 0);
  std::string refused = ReadToClose(c);
  EXPECT_EQ(StatusLine(refused), "HTTP/1.1 503 Service Unavailable");
  EXPECT_NE(refused.find("maximum number of connections"), std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(StatusLine(ReadToClose(a)), "HTTP/1.1 200 OK");
  EXPECT_EQ(StatusLine(ReadToClose(b)), "HTTP/1.1 200 OK");
  ::close(a);
  ::close(b);
  ::close(c);
}

// Sockets this process holds at descriptors past select()'s range.
int HighSockets() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) < 1024) continue;
    char target[64] = {};
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    if (::readlink(link.c_str(), target, sizeof target - 1) > 0 && std::string(target).rfind("socket:", 0) == 0) ++n;
  }
  ::closedir(d);
  return n;
}

// libnftables waits on its netlink socket with select() (base/fd.h): a connection the
// server accepts lives past descriptor 1,023, leaving the low numbers free.
TEST_F(HttpServerTest, AcceptedConnectionsLiveAboveTheSelectRange) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max <= 1100) GTEST_SKIP() << "RLIMIT_NOFILE's hard limit leaves no descriptor past 1,023";
  rlimit raised = saved;
  raised.rlim_cur = saved.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);
  Start();
  int before = HighSockets();
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  EXPECT_LT(fd, 1024);  // the client's own, from the low numbers
  SendAll(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[512];
  EXPECT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // answered: the server holds the connection
  EXPECT_EQ(HighSockets(), before + 1);
  ::close(fd);
  server_->Shutdown(std::chrono::milliseconds(0));
  server_.reset();
  setrlimit(RLIMIT_NOFILE, &saved);
}

int OpenDescriptors() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 64;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// Runs a server in a child process whose RLIMIT_NOFILE leaves `spare` descriptors free,
// logging to `log_path`. Writes the port to `port_fd`; serves until `stop_fd` is readable.
[[noreturn]] void ServeWithFewDescriptors(int spare, int max_connections, const std::string& log_path,
                                          int port_fd, int stop_fd) {
  int code = 1;
  try {
    auto logger = spdlog::basic_logger_mt("child", log_path);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = static_cast<rlim_t>(OpenDescriptors() + spare);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(3);
    HttpServer::Options o;
    o.threads = 1;
    o.max_connections = max_connections;
    o.accept_warning_interval = std::chrono::milliseconds(60000);
    HttpServer server(Ok, o);
    if (!server.Listen("127.0.0.1", 0).ok()) ::_exit(4);
    server.Start();
    uint16_t port = server.port();
    if (::write(port_fd, &port, sizeof port) != sizeof port) ::_exit(5);
    char c;
    (void)::read(stop_fd, &c, 1);
    server.Shutdown(std::chrono::milliseconds(0));
    code = 0;
  } catch (...) {
    code = 6;
  }
  ::_exit(code);
}

struct ChildServer {
  pid_t pid = -1;
  uint16_t port = 0;
  int stop_fd = -1;

  // Stops the child; returns its exit status.
  int Stop() {
    ::close(stop_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }
};

ChildServer Fork(int spare, int max_connections, const std::string& log_path) {
  int port_pipe[2], stop_pipe[2];
  ChildServer c;
  if (::pipe2(port_pipe, O_CLOEXEC) != 0 || ::pipe2(stop_pipe, O_CLOEXEC) != 0) return c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::close(port_pipe[0]);
    ::close(stop_pipe[1]);
    ServeWithFewDescriptors(spare, max_connections, log_path, port_pipe[1], stop_pipe[0]);
  }
  ::close(port_pipe[1]);
  ::close(stop_pipe[0]);
  if (::read(port_pipe[0], &c.port, sizeof c.port) != sizeof c.port) c.port = 0;
  ::close(port_pipe[0]);
  c.stop_fd = stop_pipe[1];
  return c;
}

int CountLines(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

// Holds `count` idle connections (more than the child has descriptors for), then checks
// that a fresh request is still answered.
void HoldIdleConnectionsAndRequest(uint16_t port, int count) {
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    int fd = Connect(port);
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
  }
  int fresh = Connect(port);
  ASSERT_GE(fresh, 0);
  ASSERT_TRUE(SendAll(fresh, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(StatusLine(ReadToClose(fresh)), "HTTP/1.1 200 OK");
  ::close(fresh);
  for (int fd : fds) ::close(fd);
}

TEST(HttpServerDescriptors, OutOfDescriptorsBacksOffLogsBoundedAndStaysResponsive) {
  testing::TempDir dir;
  std::string log = dir.path() + "/server.log";
  // A cap far above the descriptor limit: accept itself runs into EMFILE.
  auto start = std::chrono::steady_clock::now();
  ChildServer child = Fork(/*spare=*/24, /*max_connections=*/100000, log);
  ASSERT_GT(child.port, 0);
  HoldIdleConnectionsAndRequest(child.port, 100);
  EXPECT_EQ(child.Stop(), 0);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int warnings = CountLines(log, "accept failed");
  // It did run out (the scenario happened) ...
  EXPECT_GE(warnings, 1);
  // ... and said so once per warning interval (60 s here), not once per attempt: a
  // spinning loop writes thousands of lines.
  EXPECT_LE(warnings, 1 + static_cast<int>(seconds / 60) + 1);
}

TEST(HttpServerDescriptors, DefaultCapKeepsTheServerWithinItsDescriptors) {
  testing::TempDir dir;
  std::string log = dir.path() + "/server.log";
  ChildServer child = Fork(/*spare=*/200, /*max_connections=*/0, log);
  ASSERT_GT(child.port, 0);
  HoldIdleConnectionsAndRequest(child.port, 300);
  EXPECT_EQ(child.Stop(), 0);
  EXPECT_LE(CountLines(log, "accept failed"), 2);
}

}  // namespace
}  // namespace kecs::api
