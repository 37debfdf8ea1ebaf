#pragma once
// The topology page (issue 15): one HTML page kecs serves at /ui, and the live streams it
// reads over WebSockets on the API's own port.
//
//   GET /ui                the page (embedded in the binary: ui/page.html, no build step,
//                          nothing fetched from elsewhere)
//   GET /ui/snapshot.json  the current snapshot (snapshot.h), for scripts and debugging
//   WS  /ui/events         a text frame {"type":"snapshot","version":N,"snapshot":{...}}
//                          at once and again whenever the snapshot changes
//   WS  /ui/logs?task=ID&container=NAME
//                          a container's live output (Runtime::ReadOutput) as binary
//                          frames, the last kLogTailBytes first; a text frame
//                          {"type":"error","message":...} when the runtime keeps none
//
// Updates: every store commit bumps a counter (Notify, from Store::OnCommit); each stream
// looks every `poll` (200 ms) and, when the counter moved (or every kRefresh regardless),
// gets the snapshot of the server's one cache (rebuilt at most once per change, in one read
// transaction) and sends it when its text differs from what that client last got. So a
// change reaches the page within about poll + one snapshot's build.
//
// Authentication. With access keys configured (as for the API), every request here needs
// HTTP Basic credentials: an access key id as the user and its secret as the password
// (compared in constant time); otherwise 401 with WWW-Authenticate, and a WebSocket
// upgrade is answered 401 and closed. A browser cannot sign SigV4 requests; it does send
// Basic credentials with the page's WebSocket handshakes. The header is never logged.
//
// Limits: at most kMaxStreams streams at once (more are answered 503). Query parameters
// are checked (a task id is 32 hex digits, a container name as ECS allows); anything else
// is 400. Thread-safety: every member may be called from any thread; each stream runs on
// its own thread. Shutdown closes every stream (a close frame, "going away") and waits
// for their threads; Serve refuses afterwards.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "api/http/server.h"
#include "api/ui/snapshot.h"
#include "base/status.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::api {
template <typename Conn>
class HandedOver;  // api/http/handover.h
}  // namespace kecs::api

namespace kecs::api::ui {

inline constexpr int kMaxStreams = 64;
inline constexpr size_t kLogTailBytes = 16 * 1024;
inline constexpr size_t kLogChunkBytes = 64 * 1024;
inline constexpr std::chrono::seconds kRefresh{5};
// A stream whose client's host is gone is found by TCP keepalive (seconds, seconds, count).
inline constexpr int kKeepAliveIdle = 60, kKeepAliveInterval = 10, kKeepAliveProbes = 6;

class UiServer {
 public:
  struct Options {
    // Access key id -> secret; empty: no authentication (as the API).
    std::map<std::string, std::string> credentials;
    std::chrono::milliseconds poll{200};
    // Runs in each snapshot's read transaction once it is built: where the flow-log reader
    // fills in each edge's GroupEdge::flows (none yet: the edges' flows stay null).
    std::function<Status(state::Tx&, Snapshot&)> annotate;
  };

  UiServer(state::Store& store, runtime::Runtime& runtime, Options options);
  ~UiServer();

  // The store committed a change (Store::OnCommit).
  void Notify() { version_.fetch_add(1, std::memory_order_relaxed); }

  // Whether `path` is the page's (/ui, /ui/...): HttpServer's handler sends those here.
  static bool IsUiPath(std::string_view path);
  // The page, its snapshot, or 401/404/405.
  HttpResponse Handle(const HttpRequest& req);
  // Whether `req` is a WebSocket upgrade of a stream here (HttpServer's upgrade_wanted).
  static bool Wants(const HttpRequest& req);
  // Serves the stream on `fd` (owned from now on) on a thread of its own.
  void Serve(HttpRequest req, int fd);
  // Ends every stream and waits for them. Idempotent.
  void Shutdown();
  // Streams open right now.
  int Active();

  // The current snapshot's JSON text and the change counter it was read at; rebuilt when
  // the store changed since (or kRefresh passed).
  Result<std::pair<int64_t, std::shared_ptr<const std::string>>> Current();

  struct Conn;  // one stream (ui_server.cc)

 private:
  // nullopt when `req` may see the page; else the 401 to answer.
  std::optional<HttpResponse> Refusal(const HttpRequest& req) const;

  state::Store& store_;
  runtime::Runtime& runtime_;
  const Options options_;
  std::atomic<int64_t> version_{1};

  std::mutex cache_mu_;
  int64_t cached_version_ = 0;  // guarded by cache_mu_
  std::chrono::steady_clock::time_point cached_at_;
  std::shared_ptr<const std::string> cached_;

  std::unique_ptr<HandedOver<Conn>> conns_;
};

}  // namespace kecs::api::ui
