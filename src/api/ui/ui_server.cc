#include "api/ui/ui_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <deque>
#include <thread>
#include <utility>

#include "api/http/handover.h"
#include "api/sigv4.h"
#include "api/ui/page.h"
#include "api/ui/snapshot.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strings.h"

namespace kecs::api::ui {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kEventsPath = "/ui/events";
constexpr std::string_view kLogsPath = "/ui/logs";

HttpResponse Text(int status, std::string_view content_type, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", std::string(content_type)},
               {"Cache-Control", "no-store"},
               {"X-Content-Type-Options", "nosniff"}};
  r.body = std::move(body);
  return r;
}

HttpResponse JsonMessage(int status, std::string_view message) {
  return Text(status, "application/json", Json{{"message", std::string(message)}}.dump());
}

// Whether `v` is 32 hex digits (a task id).
bool IsTaskId(std::string_view v) {
  if (v.size() != 32) return false;
  for (char c : v) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A container name as ECS allows one: letters, digits, hyphens and underscores, 1-255.
bool IsContainerName(std::string_view v) {
  if (v.empty() || v.size() > 255) return false;
  for (char c : v) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

// Whether a WebSocket handshake comes from the page's own origin: no Origin header (not a
// browser), or one whose host[:port] is the request's Host.
bool SameOrigin(const HttpRequest& req) {
  std::string_view origin = req.Header("origin");
  if (origin.empty()) return true;
  size_t scheme = origin.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view host = origin.substr(scheme + 3);
  return !host.empty() && ToLower(host) == ToLower(req.Header("host"));
}

struct LogQuery {
  std::string task;
  std::string container;
};

// The logs stream's parameters, or the reason they are refused.
Result<LogQuery> ParseLogQuery(std::string_view query) {
  LogQuery q;
  for (std::string_view part : Split(std::string(query), '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (key == "task" && q.task.empty() && IsTaskId(value)) {
      q.task = std::string(value);
    } else if (key == "container" && q.container.empty() && IsContainerName(value)) {
      q.container = std::string(value);
    } else {
      return InvalidArgument("a logs stream takes task=<32 hex digits>&container=<container name>, each once");
    }
  }
  if (q.task.empty() || q.container.empty()) {
    return InvalidArgument("a logs stream takes task=<32 hex digits>&container=<container name>, each once");
  }
  return q;
}

}  // namespace

// One WebSocket stream: a snapshot stream (logs empty) or a container's output.
struct UiServer::Conn : std::enable_shared_from_this<UiServer::Conn> {
  Conn(UiServer& s, std::optional<LogQuery> l) : server(s), logs(std::move(l)) {}

  UiServer& server;
  const std::optional<LogQuery> logs;
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  asio::steady_timer tick{ioc};
  beast::flat_buffer in;
  std::thread thread;
  std::atomic<bool> finished{false};

  // The rest is touched only on the stream's thread.
  std::deque<std::pair<std::string, bool>> outbox;  // frame, binary
  bool writing = false;
  bool closing = false;
  std::optional<websocket::close_code> close_after_write;  // Close while a frame was going out
  int64_t seen_version = -1;
  std::shared_ptr<const std::string> last_sent;
  std::chrono::steady_clock::time_point last_look;
  int64_t log_offset = -1;  // -1: not yet positioned at the tail
  std::string log_error;    // the last error sent, so it is sent once

  void Run(http::request<http::empty_body> req) {
    beast::error_code ec;
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "kecs"); }));
    ws.read_message_max(4096);
    ws.accept(req, ec);
    if (!ec) {
      Read();
      Tick();
      ioc.run();
    }
    beast::error_code ignored;
    ws.next_layer().close(ignored);
    finished = true;
  }

  // Client messages are not used; reading finds the client's close (or its going away).
  void Read() {
    ws.async_read(in, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->Stop();
        return;
      }
      self->in.consume(self->in.size());
      self->Read();
    });
  }

  void Tick() {
    if (closing) return;
    if (logs) {
      PollLog();
    } else {
      PollSnapshot();
    }
    tick.expires_after(server.options_.poll);
    tick.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Tick();
    });
  }

  void PollSnapshot() {
    int64_t v = server.version_.load(std::memory_order_relaxed);
    auto now = std::chrono::steady_clock::now();
    if (v == seen_version && now - last_look < kRefresh) return;
    if (writing) return;  // a slow client gets the newest snapshot once it has read the last
    auto cur = server.Current();
    if (!cur.ok()) {
      KLOG_WARN("ui: snapshot: {}", cur.status().message());
      return;
    }
    seen_version = v;
    last_look = now;
    if (last_sent && *last_sent == *cur->second) return;
    last_sent = cur->second;
    Send(fmt::format(R"({{"type":"snapshot","version":{},"snapshot":{}}})", cur->first, *cur->second), false);
  }

  void PollLog() {
    if (writing) return;
    if (log_offset < 0) {
      auto probe = server.runtime_.ReadOutput(logs->task, logs->container, 0, 0);
      if (!probe.ok()) {
        LogError(probe.status());
        return;
      }
      log_offset = probe->size > static_cast<int64_t>(kLogTailBytes) ? probe->size - static_cast<int64_t>(kLogTailBytes) : 0;
    }
    auto out = server.runtime_.ReadOutput(logs->task, logs->container, log_offset, kLogChunkBytes);
    if (!out.ok()) {
      LogError(out.status());
      return;
    }
    log_error.clear();
    if (out->data.empty()) return;
    log_offset += static_cast<int64_t>(out->data.size());
    Send(std::move(out->data), true);
  }

  void LogError(const Status& st) {
    std::string message = st.code() == Code::kNotFound
                              ? "no output yet for container " + logs->container + " of task " + logs->task
                              : st.message();
    if (message == log_error) return;
    log_error = message;
    Send(Json{{"type", "error"}, {"message", message}}.dump(), false);
  }

  void Send(std::string frame, bool binary) {
    outbox.emplace_back(std::move(frame), binary);
    if (!writing) WriteNext();
  }

  void WriteNext() {
    if (outbox.empty() || closing) {
      writing = false;
      if (close_after_write) SendClose(*std::exchange(close_after_write, std::nullopt));
      return;
    }
    writing = true;
    ws.binary(outbox.front().second);
    ws.async_write(asio::buffer(outbox.front().first), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->outbox.pop_front();
      if (ec) {
        self->Stop();
        return;
      }
      self->WriteNext();
    });
  }

  // Ends the stream: a close frame when the connection still works, then the socket.
  void Close(websocket::close_code code) {
    if (closing) return;
    closing = true;
    tick.cancel();
    if (writing) {  // a close frame goes out once the frame being written has
      close_after_write = code;
      return;
    }
    SendClose(code);
  }

  void SendClose(websocket::close_code code) {
    ws.async_close(websocket::close_reason(code), [self = shared_from_this()](beast::error_code) { self->Stop(); });
  }

  void Stop() {
    closing = true;
    tick.cancel();
    beast::error_code ec;
    ws.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    ws.next_layer().close(ec);
    // Every pending operation now completes with an error and schedules nothing more, so
    // ioc.run() returns with no handler (and so no reference to this stream) left behind.
  }
};

UiServer::UiServer(state::Store& store, runtime::Runtime& runtime, Options options)
    : store_(store), runtime_(runtime), options_(std::move(options)), conns_(std::make_unique<HandedOver<Conn>>()) {}

UiServer::~UiServer() { Shutdown(); }

bool UiServer::IsUiPath(std::string_view path) { return path == "/ui" || path.starts_with("/ui/"); }

bool UiServer::Wants(const HttpRequest& req) {
  return req.method == "GET" && (req.Path() == kEventsPath || req.Path() == kLogsPath);
}

std::optional<HttpResponse> UiServer::Refusal(const HttpRequest& req) const {
  if (options_.credentials.empty()) return std::nullopt;
  bool ok = BasicCredentialsMatch(req.Header("authorization"), options_.credentials);
  if (ok) return std::nullopt;
  HttpResponse r = JsonMessage(401, "the topology page needs an access key id and its secret (HTTP Basic)");
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"kecs\", charset=\"UTF-8\"");
  return r;
}

HttpResponse UiServer::Handle(const HttpRequest& req) {
  if (auto refused = Refusal(req)) return *refused;
  if (req.method != "GET" && req.method != "HEAD") {
    HttpResponse r = JsonMessage(405, "the topology page answers GET only");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  std::string_view path = req.Path();
  if (path == "/ui" || path == "/ui/") {
    HttpResponse r = Text(200, "text/html; charset=utf-8", std::string(kPageHtml));
    // Everything the page needs is inline; nothing may be loaded from elsewhere.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'");
    return r;
  }
  if (path == "/ui/snapshot.json") {
    auto cur = Current();
    if (!cur.ok()) {
      KLOG_WARN("ui: snapshot: {}", cur.status().message());
      return JsonMessage(500, "the snapshot could not be read");
    }
    return Text(200, "application/json", *cur->second);
  }
  if (path == kEventsPath || path == kLogsPath) {
    return JsonMessage(426, "this is a WebSocket stream; connect with a WebSocket client");
  }
  return JsonMessage(404, "the topology page has no such path");
}

Result<std::pair<int64_t, std::shared_ptr<const std::string>>> UiServer::Current() {
  std::lock_guard lock(cache_mu_);
  int64_t v = version_.load(std::memory_order_relaxed);
  auto now = std::chrono::steady_clock::now();
  if (cached_ && cached_version_ == v && now - cached_at_ < kRefresh) return std::make_pair(v, cached_);
  std::optional<Snapshot> snap;
  Status st = store_.Read([&](state::Tx& tx) -> Status {
    // A document of an unexpected shape must not take the daemon down with a stream's thread.
    try {
      ASSIGN_OR_RETURN(auto s, BuildSnapshot(tx));
      if (options_.annotate) RETURN_IF_ERROR(options_.annotate(tx, s));
      snap = std::move(s);
    } catch (const std::exception& e) {
      return Internal(std::string("building the topology snapshot: ") + e.what());
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  cached_ = std::make_shared<const std::string>(
      SnapshotToJson(*snap).dump(-1, ' ', false, Json::error_handler_t::replace));
  cached_version_ = v;  // read at v or later: a commit after v bumps the counter again
  cached_at_ = now;
  return std::make_pair(v, cached_);
}

void UiServer::Serve(HttpRequest req, int fd) {
  // Browsers let any page open a WebSocket anywhere, and send the credentials they keep for
  // the target with it: a stream opened from another origin is refused (the page itself
  // connects from its own origin, and non-browser clients send no Origin).
  if (!SameOrigin(req)) {
    RefuseHandedOver(fd, "HTTP/1.1 403 Forbidden\r\nServer: kecs\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  if (auto refused = Refusal(req)) {
    RefuseHandedOver(fd,
                     "HTTP/1.1 401 Unauthorized\r\nServer: kecs\r\nWWW-Authenticate: Basic realm=\"kecs\", "
                     "charset=\"UTF-8\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  std::optional<LogQuery> logs;
  if (req.Path() == kLogsPath) {
    auto q = ParseLogQuery(req.QueryString());
    if (!q.ok()) {
      std::string body = Json{{"message", q.status().message()}}.dump();
      RefuseHandedOver(fd, fmt::format("HTTP/1.1 400 Bad Request\r\nServer: kecs\r\nContent-Type: "
                                       "application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                       body.size(), body));
      return;
    }
    logs = std::move(*q);
  }
  Status st = conns_->Launch(fd, req, kMaxStreams, {kKeepAliveIdle, kKeepAliveInterval, kKeepAliveProbes},
                             [&] { return std::make_shared<Conn>(*this, std::move(logs)); });
  if (st.code() == Code::kResourceExhausted) {
    KLOG_WARN("ui: a stream refused: {} are open already", kMaxStreams);
  } else if (st.code() == Code::kInternal) {
    KLOG_WARN("ui: {}", st.message());
  }
}

void UiServer::Shutdown() {
  auto conns = conns_->Stop();
  for (auto& c : conns) {
    if (!c->finished) asio::post(c->ioc, [c] { c->Close(websocket::close_code::going_away); });
  }
  // A client that never answers the close frame is cut off after a moment.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& c : conns) {
    while (!c->finished && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!c->finished) asio::post(c->ioc, [c] { c->Stop(); });  // the client never answered
    if (c->thread.joinable()) c->thread.join();
  }
}

int UiServer::Active() { return conns_->Active(); }

}  // namespace kecs::api::ui
