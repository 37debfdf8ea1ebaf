#pragma once
// An HTTP/1.1 server on Boost.Beast: keep-alive, many concurrent connections, and a
// graceful drain.
//
// Requests are parsed by Beast and handed to one HttpHandler, called synchronously on one
// of the server's I/O threads; the handler must be thread-safe. Shutdown() stops accepting,
// closes idle keep-alive connections, lets in-flight requests finish (their responses
// carry "Connection: close"), then stops the threads. Beast's exceptions stay in server.cc.
//
// The edge answers what it cannot parse rather than closing silently: a malformed request
// line or header gets 400, a duplicate or conflicting Content-Length 400, headers beyond
// `header_limit` 431 and a body beyond `body_limit` 413, each with a JSON message and
// "Connection: close".
//
// Descriptors are a budget. At most `max_connections` connections are open at once; a new
// one beyond that closes the oldest idle connection (one waiting for its next request) or,
// when every connection is busy, is answered 503 and closed. When accept itself fails
// (EMFILE, ENFILE, ...) the loop backs off exponentially (accept_backoff_initial doubling
// up to accept_backoff_max) while the error persists, closes the oldest idle connection
// to free a descriptor, and logs at most one warning per accept_warning_interval, with
// the number of failures since the last one.
//
// Besides the listener of Listen(), a server may accept on sockets opened elsewhere
// (AddListener: a socket bound inside another network namespace, say), each under a tag
// that every request accepted there carries (HttpRequest::listener), so one set of I/O
// threads serves many listeners and the handler knows which one a request came in on.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kecs::api {

struct HttpRequest {
  std::string method;
  std::string target;  // path and query, as sent
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string remote_addr;
  std::string listener;  // the AddListener tag of the socket it came in on; "" for Listen's

  // The first header with this (lowercase) name, or "".
  std::string_view Header(std::string_view lower_name) const;
  std::string_view Path() const;
  std::string_view QueryString() const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  struct Options {
    int threads = 4;
    size_t body_limit = 16 * 1024 * 1024;
    // Requests that may carry a larger body, up to large_body_limit: a registry's blob
    // upload, say, where one PATCH carries a whole image layer. Judged on the method and
    // target once the header is read; all others keep body_limit (413 beyond it). The
    // body is still held in memory. Empty: none.
    std::function<bool(std::string_view method, std::string_view target)> large_body_wanted;
    uint64_t large_body_limit = uint64_t{4} * 1024 * 1024 * 1024;
    std::chrono::seconds idle_timeout{120};
    size_t header_limit = 8 * 1024;  // request line and header fields, in bytes
    // 0 picks DefaultMaxConnections().
    int max_connections = 0;
    std::chrono::milliseconds accept_backoff_initial{10};
    std::chrono::milliseconds accept_backoff_max{100};
    std::chrono::milliseconds accept_warning_interval{10000};
    // WebSocket upgrades (ECS Exec's stream, issue 18): a request with "Upgrade: websocket"
    // that `upgrade_wanted` accepts leaves the server. Its connection's socket (the
    // descriptor, owned by the callee from then on) goes with it to `upgrade`, which answers
    // the upgrade itself; it must not block (serve the connection on another thread).
    std::function<bool(const HttpRequest&)> upgrade_wanted;
    std::function<void(HttpRequest, int fd)> upgrade;
  };

  // Three quarters of the soft RLIMIT_NOFILE (the rest is left to the store, the runtime
  // and the logs), at least 8 and at most 10,000.
  static int DefaultMaxConnections();

  HttpServer(HttpHandler handler, Options options);
  ~HttpServer();

  // Binds and listens. Port 0 picks a free port; see port().
  Status Listen(const std::string& host, uint16_t port);
  uint16_t port() const;
  // Accepts on `fd`, a bound and listening TCP socket this server now owns (it is closed
  // on failure too), from Start() on (at once when already started). Requests accepted
  // there carry `tag` (not ""). AlreadyExists when the tag is taken.
  Status AddListener(int fd, const std::string& tag);
  // Stops accepting on the tag's socket, closes it and closes its connections (idle ones
  // at once, busy ones after their response), so nothing of it keeps its network
  // namespace alive. The socket is closed when it returns. No-op for an unknown tag. Not
  // to be called from a handler.
  void RemoveListener(const std::string& tag);
  std::vector<std::string> ListenerTags() const;
  // Starts the I/O threads and returns.
  void Start();
  // Graceful stop; waits at most `grace` for in-flight requests. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  // Requests being handled right now (for tests and /health).
  int InFlight() const;
  // Connections open right now, and the cap in force.
  int Connections() const;
  int MaxConnections() const;

  struct Impl;  // opaque; public so the connection type in server.cc can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kecs::api
