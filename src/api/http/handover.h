#pragma once
// The set of connections a server took over from HttpServer (its upgrade hook: ECS Exec's
// stream, the topology page's streams), each served on a thread of its own: admitting one
// under a cap (503 beyond it), adopting its descriptor into the connection's WebSocket
// stream with TCP keepalive, joining the threads of those that have finished, and handing
// them all over at shutdown. Header-only; for .cc files that use Asio and Beast anyway.
//
// Conn has `ws` (a websocket::stream over a tcp::socket), `std::thread thread`,
// `std::atomic<bool> finished` (set as its thread's last act) and Run(the upgrade
// request), which answers the upgrade and serves the connection. Thread-safe.
#include <boost/asio.hpp>
#include <boost/beast/http.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "api/http/server.h"
#include "base/status.h"

namespace kecs::api {

struct KeepAlive {
  int idle = 60;      // seconds of silence before the first probe
  int interval = 10;  // seconds between probes
  int probes = 6;
};

// Sends `response` (a whole HTTP/1.1 answer) without waiting, and closes `fd`.
inline void RefuseHandedOver(int fd, std::string_view response) {
  (void)::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::close(fd);
}

template <typename Conn>
class HandedOver {
 public:
  // Serves `fd` (owned from now on) with the connection `make()` returns. Ok when it runs;
  // FailedPrecondition after Stop (the descriptor closed, nothing sent); ResourceExhausted
  // when `max` are served already (answered 503); Internal when the descriptor cannot be
  // adopted (closed).
  template <typename Make>
  Status Launch(int fd, const HttpRequest& req, size_t max, const KeepAlive& keepalive, Make make) {
    std::lock_guard lock(mu_);
    Reap();
    if (stopped_) {
      ::close(fd);
      return FailedPrecondition("shutting down");
    }
    if (conns_.size() >= max) {
      RefuseHandedOver(fd, "HTTP/1.1 503 Service Unavailable\r\nServer: kecs\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n");
      return ResourceExhausted("at most " + std::to_string(max) + " are served at once");
    }
    std::shared_ptr<Conn> conn = make();
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    bool v6 = getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 && addr.ss_family == AF_INET6;
    boost::system::error_code ec;
    conn->ws.next_layer().assign(v6 ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return Internal(ec.message());
    }
    int on = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive.idle, sizeof keepalive.idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepalive.interval, sizeof keepalive.interval);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &keepalive.probes, sizeof keepalive.probes);
    boost::beast::http::request<boost::beast::http::empty_body> breq{boost::beast::http::verb::get, req.target, 11};
    for (const auto& [k, v] : req.headers) breq.insert(k, v);
    conn->thread = std::thread([conn, breq = std::move(breq)]() mutable { conn->Run(std::move(breq)); });
    conns_.push_back(std::move(conn));
    return Status::Ok();
  }

  // Connections being served right now.
  int Active() {
    std::lock_guard lock(mu_);
    Reap();
    return static_cast<int>(conns_.size());
  }

  // Refuses every later Launch and hands over the connections still held (the caller
  // ends them and joins their threads). Idempotent: later calls return none.
  std::list<std::shared_ptr<Conn>> Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    return std::exchange(conns_, {});
  }

 private:
  void Reap() {  // requires mu_
    for (auto it = conns_.begin(); it != conns_.end();) {
      if ((*it)->finished) {
        if ((*it)->thread.joinable()) (*it)->thread.join();
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::mutex mu_;
  bool stopped_ = false;                    // guarded by mu_
  std::list<std::shared_ptr<Conn>> conns_;  // guarded by mu_
};

}  // namespace kecs::api
