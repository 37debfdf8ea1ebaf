#pragma once
// An HTTP/1.1 server on Boost.Beast: keep-alive, many concurrent connections, and a
// graceful drain.
//
// Requests are parsed by Beast and handed to one HttpHandler, called synchronously on one
// of the server's I/O threads; the handler must be thread-safe. Shutdown() stops accepting,
// closes idle keep-alive connections, lets in-flight requests finish (their responses
// carry "Connection: close"), then stops the threads. Beast's exceptions stay in server.cc.
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
    std::chrono::seconds idle_timeout{120};
  };

  HttpServer(HttpHandler handler, Options options);
  ~HttpServer();

  // Binds and listens. Port 0 picks a free port; see port().
  Status Listen(const std::string& host, uint16_t port);
  uint16_t port() const;
  // Starts the I/O threads and returns.
  void Start();
  // Graceful stop; waits at most `grace` for in-flight requests. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  // Requests being handled right now (for tests and /health).
  int InFlight() const;

  struct Impl;  // opaque; public so the connection type in server.cc can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kecs::api
