#pragma once
// A Kubernetes API client over libcurl (issue 16): requests, server-side apply under the
// field manager "kecs", and watches that survive what API servers do to them.
//
//   - Credentials (kubeconfig.h) ride on every request: a client certificate, a bearer
//     token, or an exec plugin's token or certificate, run again when it expires. A 401
//     re-reads the token file or re-runs the plugin once and retries the request once.
//   - Apply: PATCH with `application/apply-patch+yaml` (JSON is YAML),
//     `fieldManager=kecs&force=true`. A 409 Conflict, 429 or 5xx is retried with backoff
//     (at most `retries` times); any other answer is the caller's. Merge patches and
//     DELETEs are retried the same way.
//   - Watch: `?watch=1&resourceVersion=<rv>&allowWatchBookmarks=true`, one JSON event per
//     line. Bookmarks move the resourceVersion on; a dropped connection reconnects from the
//     last one seen; an ERROR event with code 410 (or an HTTP 410) means the version is
//     gone from the server's history: ListWatch lists again and tells the handler so.
//
// Thread-safe: each call uses a curl handle of its own, taken from a pool of idle ones (so
// connections are reused). No credential is ever logged or put in an error message.
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "runtime/kubernetes/kubeconfig.h"

namespace kecs::runtime::kubernetes {

struct Response {
  long status = 0;
  std::string body;
  Json json() const;  // the body parsed; null when it is not JSON
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK
  Json object;
};

class Client {
 public:
  struct Options {
    int retries = 5;
    std::chrono::milliseconds backoff{100};  // doubled per retry, at most 3 s
    std::chrono::seconds timeout{30};        // per request (not per watch)
    std::chrono::seconds watch_timeout{300}; // asked of the server (timeoutSeconds)
  };

  explicit Client(Credentials creds) : Client(std::move(creds), Options{}) {}
  Client(Credentials creds, Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request; the answer whatever its status. Unavailable when the server cannot be
  // reached. Retries 401 once with fresh credentials, nothing else.
  Result<Response> Request(const std::string& method, const std::string& path, const std::string& body = "",
                           const std::string& content_type = "application/json");
  // GET; NotFound for 404, else the status's Status (see StatusOf).
  Result<Json> Get(const std::string& path);
  // Server-side apply of `object` (its apiVersion, kind and metadata.name in place) at
  // `path` (the object's own URL). Returns the object as the server stored it.
  Result<Json> Apply(const std::string& path, const Json& object);
  // A JSON merge patch (RFC 7386) of one object, retried as Apply is; NotFound for 404.
  Result<Json> MergePatch(const std::string& path, const Json& patch);
  // DELETE, retried as Apply is; a 404 is success (already gone).
  Status Delete(const std::string& path);

  // Lists `collection` (e.g. /api/v1/namespaces/ns/pods, with ?labelSelector=...), then
  // watches it from the list's resourceVersion until `stop` is set: `on_list` gets each
  // full list (the first, and again after a 410), `on_event` each change. Reconnects after
  // a dropped connection (after `backoff`) and never returns an error for one; returns
  // when stopped, or the handler's error.
  Status ListWatch(const std::string& collection, const std::function<Status(const Json& list)>& on_list,
                   const std::function<Status(const WatchEvent&)>& on_event, const std::atomic<bool>& stop);

  // ListWatch again and again until `stop` is set: when it returns an error (a list the
  // server refuses for good, or the handler's error), `on_error` is told (to log it, or to
  // stop trusting what it holds), and it starts over after `retry`.
  void ListWatchUntilStopped(const std::string& collection, const std::function<Status(const Json& list)>& on_list,
                             const std::function<Status(const WatchEvent&)>& on_event, const std::atomic<bool>& stop,
                             std::chrono::milliseconds retry, const std::function<void(const Status&)>& on_error);

  // Watch connections made and relists after a 410 (for tests and /metrics).
  int watch_connections() const { return watch_connections_.load(); }
  int relists() const { return relists_.load(); }

 private:
  struct Auth {
    std::string token, cert_pem, key_pem;
    std::optional<double> expires_at;
  };
  Auth CurrentAuth(bool refresh);
  // A request, again after a 409, 429 or 5xx (at most `retries` times, backing off); the
  // last answer whatever its status.
  Result<Response> Retrying(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& content_type);
  Result<Response> Perform(const std::string& method, const std::string& url, const std::string& body,
                           const std::string& content_type, const Auth& auth,
                           const std::function<bool(std::string_view)>* stream, std::chrono::seconds timeout,
                           const std::atomic<bool>* stop = nullptr);
  // One watch connection from `rv`; updates rv from events and bookmarks. Gone (as
  // FailedPrecondition) after a 410.
  Status WatchOnce(const std::string& collection, std::string& rv,
                   const std::function<Status(const WatchEvent&)>& on_event, const std::atomic<bool>& stop);

  Credentials creds_;
  Options options_;
  std::mutex mu_;
  Auth auth_;  // guarded by mu_
  bool auth_loaded_ = false;
  // Idle curl handles: a request takes one and gives it back, so its connection (and TLS
  // session) to the API server is reused rather than made again per request.
  std::mutex pool_mu_;
  std::vector<void*> idle_;  // CURL*, guarded by pool_mu_
  std::atomic<int> watch_connections_{0};
  std::atomic<int> relists_{0};
};

// The Status a non-2xx answer stands for: 404 NotFound, 409 AlreadyExists, 401/403
// PermissionDenied, 410 FailedPrecondition, 422/400 InvalidArgument, 429/5xx Unavailable.
// The message is the server's Status message (API servers do not echo credentials).
Status StatusOf(const Response& r, const std::string& what);

}  // namespace kecs::runtime::kubernetes
