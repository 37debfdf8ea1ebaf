#include "api/http/server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <list>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "base/strings.h"

namespace kecs::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

std::string_view HttpRequest::Path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view HttpRequest::QueryString() const {
  std::string_view t = target;
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

class Session;

struct HttpServer::Impl {
  HttpHandler handler;
  Options options;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};
  std::atomic<int> sessions{0};
  std::mutex mu;
  std::list<std::weak_ptr<Session>> live;  // guarded by mu
  bool stopped = false;                    // guarded by mu

  void Accept();
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* srv)
      : stream_(std::move(socket)), srv_(srv) {
    srv_->sessions++;
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
  }
  ~Session() { srv_->sessions--; }

  void Run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

  // Called on shutdown: close now if idle, else after the current response.
  void Drain() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.close();
      }
    });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(srv_->options.body_limit);
    stream_.expires_after(srv_->options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) {
      if (ec == http::error::body_limit) {
        SendSimple(http::status::payload_too_large, "request body too large");
        return;
      }
      Close();
      return;
    }
    busy_ = true;
    srv_->in_flight++;
    auto& req = parser_->get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = std::move(req.body());
    r.remote_addr = remote_;
    for (const auto& f : req) {
      r.headers.emplace_back(ToLower(std::string(f.name_string())), std::string(f.value()));
    }
    HttpResponse resp;
    try {
      resp = srv_->handler(r);
    } catch (const std::exception& e) {
      KLOG_ERROR("http: handler threw: {}", e.what());
      resp.status = 500;
      resp.body = "internal error";
    }
    auto out = std::make_shared<http::response<http::string_body>>();
    out->version(req.version());
    out->result(static_cast<unsigned>(resp.status));
    bool has_ct = false;
    for (auto& [k, v] : resp.headers) {
      if (k == "content-type" || k == "Content-Type") has_ct = true;
      out->set(k, v);
    }
    if (!has_ct) out->set(http::field::content_type, "text/plain");
    out->set(http::field::server, "kecs");
    out->body() = std::move(resp.body);
    bool keep = req.keep_alive() && !srv_->draining;
    out->keep_alive(keep);
    out->prepare_payload();
    http::async_write(stream_, *out,
                      [self = shared_from_this(), out, keep](beast::error_code wec, size_t) {
                        self->srv_->in_flight--;
                        self->busy_ = false;
                        if (wec || !keep || self->srv_->draining) {
                          self->Close();
                          return;
                        }
                        self->Read();
                      });
  }

  void SendSimple(http::status st, const std::string& body) {
    auto out = std::make_shared<http::response<http::string_body>>(st, 11);
    out->set(http::field::content_type, "text/plain");
    out->body() = body;
    out->keep_alive(false);
    out->prepare_payload();
    http::async_write(stream_, *out, [self = shared_from_this(), out](beast::error_code, size_t) {
      self->Close();
    });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl* srv_;
  std::string remote_;
  bool busy_ = false;  // touched only on this session's strand
};

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      KLOG_WARN("http: accept failed: {}", ec.message());
    } else {
      auto session = std::make_shared<Session>(std::move(s), this);
      {
        std::lock_guard<std::mutex> lock(mu);
        // Forget sessions that have ended, so the list stays as long as the live set.
        live.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
        live.push_back(session);
      }
      session->Run();
    }
    if (!draining) Accept();
  });
}

HttpServer::HttpServer(HttpHandler handler, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->options = options;
}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Status HttpServer::Listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("invalid listen address " + host + ": " + ec.message());
  tcp::endpoint ep(addr, port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                       ec.message());
  }
  return Status::Ok();
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void HttpServer::Start() {
  impl_->Accept();
  int n = std::max(1, impl_->options.threads);
  for (int i = 0; i < n; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
}

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->draining = true;
  asio::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& w : impl_->live) {
      if (auto s = w.lock()) s->Drain();
    }
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl_->in_flight > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Give the last responses a moment to reach their sockets before the loop stops.
  auto flush_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (impl_->sessions > 0 && std::chrono::steady_clock::now() < flush_deadline &&
         grace.count() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

int HttpServer::InFlight() const { return impl_->in_flight; }

}  // namespace kecs::api
