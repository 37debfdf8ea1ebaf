#include "api/http/server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "base/fd.h"
#include "base/json.h"
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

// One listening socket: Listen()'s, or one added with AddListener under a tag. Its accept
// chain has one operation outstanding at a time, on the accept strand, so the backoff
// members need no lock.
struct Acceptor {
  Acceptor(asio::strand<asio::io_context::executor_type>& strand, std::string t)
      : acceptor(strand), timer(strand), tag(std::move(t)) {}
  tcp::acceptor acceptor;
  asio::steady_timer timer;
  const std::string tag;
  std::chrono::milliseconds backoff{0};
  std::optional<std::chrono::steady_clock::time_point> last_warning;
  long failures = 0;  // since the last warning
  bool closed = false;  // accept strand only
};

struct HttpServer::Impl {
  HttpHandler handler;
  Options options;
  int max_connections = 0;  // constant after construction
  asio::io_context ioc;
  // Keeps the I/O threads running while no socket is open yet (a server with only added
  // listeners may start with none); released at Shutdown.
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  // The acceptors, their backoff timers and their closing run on one strand.
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(ioc)};
  std::shared_ptr<Acceptor> primary = std::make_shared<Acceptor>(accept_strand, "");
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};
  std::atomic<int> sessions{0};
  mutable std::mutex mu;
  std::list<std::weak_ptr<Session>> live;  // guarded by mu; oldest first
  bool stopped = false;                    // guarded by mu
  bool started = false;                    // guarded by mu
  std::map<std::string, std::shared_ptr<Acceptor>> extra;  // AddListener's, by tag; guarded by mu

  void Accept(const std::shared_ptr<Acceptor>& a);
  void OnAcceptError(Acceptor& a, const beast::error_code& ec);
  // Registers a new session under the connection cap; false when it must be refused.
  bool Admit(const std::shared_ptr<Session>& s);
  // Closes the oldest idle session; false when every session is busy.
  bool EvictOldestIdle();  // requires mu
};

namespace {

std::string JsonMessage(std::string_view message) {
  return Json{{"message", std::string(message)}}.dump();
}

// The parse errors a client caused, and the status that answers each. nullopt: the peer
// went away (or timed out) and there is nobody to answer.
std::optional<http::status> StatusForReadError(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == http::error::need_more) {
    return std::nullopt;
  }
  if (ec.category() == beast::error_code(http::error::bad_method).category()) {
    return http::status::bad_request;
  }
  return std::nullopt;
}

}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* srv, std::string tag)
      : stream_(std::move(socket)), srv_(srv), tag_(std::move(tag)) {
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

  const std::string& tag() const { return tag_; }

  // Waiting for a request (or still receiving one), not handling or answering one.
  bool Idle() const { return !busy_ && !closing_; }

  // Called on shutdown, or to make room under the connection cap: close now if idle,
  // else after the current response.
  void Drain() {
    closing_ = true;
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->Close();
    });
  }

  // Answers 503 on a connection over the cap, then closes it.
  void Refuse() {
    closing_ = true;
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->SendSimple(http::status::service_unavailable,
                       "kecs is serving its maximum number of connections; retry later");
    });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(srv_->options.header_limit));
    // Beast checks a Content-Length against the limit while it parses the header, so the
    // header is read under the larger limit and OnHeader narrows it for ordinary requests.
    parser_->body_limit(srv_->options.large_body_wanted
                            ? std::max<std::uint64_t>(srv_->options.body_limit, srv_->options.large_body_limit)
                            : std::uint64_t{srv_->options.body_limit});
    stream_.expires_after(srv_->options.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) {
      OnReadError(ec);
      return;
    }
    // Beast accepts repeated identical Content-Length values, as RFC 9110 allows; a
    // request smuggler relies on exactly such ambiguity, so refuse any repetition.
    const auto& req = parser_->get();
    auto [first, last] = req.equal_range(http::field::content_length);
    if (first != last && (std::next(first) != last || first->value().find(',') != std::string_view::npos)) {
      SendSimple(http::status::bad_request, "duplicate Content-Length header");
      return;
    }
    auto method = req.method_string();
    auto target = req.target();
    if (srv_->options.large_body_wanted &&
        !srv_->options.large_body_wanted(std::string_view(method.data(), method.size()),
                                         std::string_view(target.data(), target.size()))) {
      auto len = parser_->content_length();
      if (len && *len > srv_->options.body_limit) {
        SendSimple(http::status::payload_too_large, "request body too large");
        return;
      }
      parser_->body_limit(std::uint64_t{srv_->options.body_limit});  // a chunked body counts down from here
    }
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnReadError(const beast::error_code& ec) {
    std::optional<http::status> st = StatusForReadError(ec);
    if (!st || closing_) {
      Close();
      return;
    }
    if (*st == http::status::request_header_fields_too_large) {
      SendSimple(*st, fmt::format("request header fields too large (the limit is {} bytes)",
                                  srv_->options.header_limit));
    } else if (*st == http::status::payload_too_large) {
      SendSimple(*st, "request body too large");
    } else {
      SendSimple(*st, "malformed HTTP request: " + ec.message());
    }
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) {
      OnReadError(ec);
      return;
    }
    auto& req = parser_->get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = std::move(req.body());
    r.remote_addr = remote_;
    r.listener = tag_;
    for (const auto& f : req) {
      r.headers.emplace_back(ToLower(std::string(f.name_string())), std::string(f.value()));
    }
    if (srv_->options.upgrade && beast::websocket::is_upgrade(req) && !srv_->draining &&
        (!srv_->options.upgrade_wanted || srv_->options.upgrade_wanted(r))) {
      closing_ = true;  // the connection is no longer this server's
      stream_.expires_never();
      beast::error_code rec;
      int fd = stream_.release_socket().release(rec);
      if (rec) {
        KLOG_WARN("http: handing over an upgraded connection: {}", rec.message());
        return;
      }
      srv_->options.upgrade(std::move(r), fd);
      return;
    }
    busy_ = true;
    srv_->in_flight++;
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
    bool keep = req.keep_alive() && !srv_->draining && !closing_;
    out->keep_alive(keep);
    out->prepare_payload();
    // A HEAD answer names the length a GET would send (a registry's blob HEAD), with no body.
    if (req.method() == http::verb::head) {
      for (auto& [k, v] : resp.headers) {
        if (ToLower(k) == "content-length") out->set(http::field::content_length, v);
      }
    }
    http::async_write(stream_, *out,
                      [self = shared_from_this(), out, keep](beast::error_code wec, size_t) {
                        self->srv_->in_flight--;
                        self->busy_ = false;
                        if (wec || !keep || self->srv_->draining || self->closing_) {
                          self->Close();
                          return;
                        }
                        self->Read();
                      });
  }

  void SendSimple(http::status st, const std::string& message) {
    auto out = std::make_shared<http::response<http::string_body>>(st, 11);
    out->set(http::field::content_type, "application/json");
    out->set(http::field::server, "kecs");
    out->body() = JsonMessage(message);
    out->keep_alive(false);
    out->prepare_payload();
    stream_.expires_after(std::chrono::seconds(10));
    http::async_write(stream_, *out, [self = shared_from_this(), out](beast::error_code, size_t) {
      self->Close();
    });
  }

  void Close() {
    closing_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl* srv_;
  const std::string tag_;
  std::string remote_;
  // Written on this session's strand; read by the acceptor to pick a connection to close.
  std::atomic<bool> busy_{false};
  std::atomic<bool> closing_{false};
};

bool HttpServer::Impl::EvictOldestIdle() {
  for (auto it = live.begin(); it != live.end(); ++it) {
    auto s = it->lock();
    if (s && s->Idle()) {
      s->Drain();
      live.erase(it);
      return true;
    }
  }
  return false;
}

bool HttpServer::Impl::Admit(const std::shared_ptr<Session>& s) {
  std::lock_guard<std::mutex> lock(mu);
  // Forget sessions that have ended, so the list stays as long as the live set.
  live.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
  if (static_cast<int>(live.size()) >= max_connections && !EvictOldestIdle()) return false;
  live.push_back(s);
  return true;
}

void HttpServer::Impl::OnAcceptError(Acceptor& a, const beast::error_code& ec) {
  // EMFILE and ENFILE persist until a descriptor is freed: retrying at once would spin.
  // Any other failure (ECONNABORTED, ENOBUFS) gets the same short pause, harmlessly.
  a.backoff = a.backoff.count() == 0 ? options.accept_backoff_initial
                                     : std::min(a.backoff * 2, options.accept_backoff_max);
  ++a.failures;
  auto now = std::chrono::steady_clock::now();
  if (!a.last_warning || now - *a.last_warning >= options.accept_warning_interval) {
    KLOG_WARN("http: accept failed{}: {} ({} failure(s) since the last warning; {} connections "
              "open, at most {}; retrying in {} ms)",
              a.tag.empty() ? "" : " on listener " + a.tag, ec.message(), a.failures, sessions.load(),
              max_connections, a.backoff.count());
    a.last_warning = now;
    a.failures = 0;
  }
  if (ec == asio::error::no_descriptors ||
      ec == beast::error_code(ENFILE, beast::system_category())) {
    std::lock_guard<std::mutex> lock(mu);
    EvictOldestIdle();
  }
}

namespace {

// A client connection on a descriptor past select()'s range when one can be had (base/fd.h:
// connections grow with clients and tasks; libnftables needs a low number free).
void KeepAboveSelectRange(tcp::socket& s) {
  if (s.native_handle() >= kFirstHighFd) return;
  int high = fcntl(s.native_handle(), F_DUPFD_CLOEXEC, kFirstHighFd);
  if (high < 0) return;
  beast::error_code ec;
  auto protocol = s.local_endpoint(ec).protocol();
  tcp::socket moved(s.get_executor());
  if (!ec) moved.assign(protocol, high, ec);
  if (ec) {
    ::close(high);
    return;
  }
  s.close(ec);
  s = std::move(moved);
}

}  // namespace

void HttpServer::Impl::Accept(const std::shared_ptr<Acceptor>& a) {
  a->acceptor.async_accept(asio::make_strand(ioc), [this, a](beast::error_code ec, tcp::socket s) {
    if (ec) {
      if (ec == asio::error::operation_aborted || a->closed || !a->acceptor.is_open()) return;
      OnAcceptError(*a, ec);
      a->timer.expires_after(a->backoff);
      a->timer.async_wait([this, a](beast::error_code tec) {
        if (!tec && !draining && !a->closed) Accept(a);
      });
      return;
    }
    a->backoff = std::chrono::milliseconds(0);
    KeepAboveSelectRange(s);
    auto session = std::make_shared<Session>(std::move(s), this, a->tag);
    if (Admit(session)) {
      session->Run();
    } else {
      session->Refuse();
    }
    if (!draining && !a->closed) Accept(a);
  });
}

int HttpServer::DefaultMaxConnections() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 10000;
  auto n = static_cast<long long>(rl.rlim_cur) * 3 / 4;
  return static_cast<int>(std::clamp<long long>(n, 8, 10000));
}

HttpServer::HttpServer(HttpHandler handler, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->options = options;
  impl_->max_connections =
      options.max_connections > 0 ? options.max_connections : DefaultMaxConnections();
}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Status HttpServer::Listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("invalid listen address " + host + ": " + ec.message());
  tcp::endpoint ep(addr, port);
  tcp::acceptor& acceptor = impl_->primary->acceptor;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                       ec.message());
  }
  return Status::Ok();
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  auto ep = impl_->primary->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

Status HttpServer::AddListener(int fd, const std::string& tag) {
  if (tag.empty()) {
    ::close(fd);
    return InvalidArgument("a listener added to the HTTP server needs a tag");
  }
  auto a = std::make_shared<Acceptor>(impl_->accept_strand, tag);
  beast::error_code ec;
  a->acceptor.assign(tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return Internal("cannot accept on the listener " + tag + ": " + ec.message());
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped) {
    a->acceptor.close(ec);
    return FailedPrecondition("the HTTP server is stopped");
  }
  if (!impl_->extra.emplace(tag, a).second) {
    a->acceptor.close(ec);
    return AlreadyExists("the HTTP server already has a listener " + tag);
  }
  if (impl_->started) asio::post(impl_->accept_strand, [this, a] { impl_->Accept(a); });
  return Status::Ok();
}

void HttpServer::RemoveListener(const std::string& tag) {
  std::shared_ptr<Acceptor> a;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->extra.find(tag);
    if (it == impl_->extra.end()) return;
    a = it->second;
    impl_->extra.erase(it);
    for (auto w = impl_->live.begin(); w != impl_->live.end();) {
      auto s = w->lock();
      if (s && s->tag() == tag) {
        s->Drain();
        w = impl_->live.erase(w);
      } else {
        ++w;
      }
    }
  }
  auto close = [a] {
    a->closed = true;
    beast::error_code ec;
    a->acceptor.close(ec);
    a->timer.cancel();
  };
  bool running;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    running = impl_->started && !impl_->stopped;
  }
  if (!running) {
    close();  // no I/O thread touches it
    return;
  }
  std::promise<void> done;
  auto closed = done.get_future();
  asio::post(impl_->accept_strand, [&] {
    close();
    done.set_value();
  });
  closed.wait();
}

std::vector<std::string> HttpServer::ListenerTags() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [tag, a] : impl_->extra) out.push_back(tag);
  return out;
}

void HttpServer::Start() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->started = true;
    if (impl_->primary->acceptor.is_open()) impl_->Accept(impl_->primary);
    for (auto& [tag, a] : impl_->extra) impl_->Accept(a);
  }
  int n = std::max(1, impl_->options.threads);
  for (int i = 0; i < n; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
}

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  std::vector<std::shared_ptr<Acceptor>> acceptors{impl_->primary};
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    for (auto& [tag, a] : impl_->extra) acceptors.push_back(a);
    impl_->extra.clear();
  }
  impl_->draining = true;
  asio::post(impl_->accept_strand, [acceptors] {
    for (const auto& a : acceptors) {
      a->closed = true;
      beast::error_code ec;
      a->acceptor.close(ec);
      a->timer.cancel();
    }
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
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

int HttpServer::InFlight() const { return impl_->in_flight; }

int HttpServer::Connections() const { return impl_->sessions; }

int HttpServer::MaxConnections() const { return impl_->max_connections; }

}  // namespace kecs::api
