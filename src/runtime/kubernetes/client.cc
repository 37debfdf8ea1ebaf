#include "runtime/kubernetes/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "base/log.h"

namespace kecs::runtime::kubernetes {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string WithQuery(const std::string& path, const std::string& query) {
  return path + (path.find('?') == std::string::npos ? "?" : "&") + query;
}

struct Transfer {
  std::string* body;
  const std::function<bool(std::string_view)>* stream;
  const std::atomic<bool>* stop;
};

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  if (t->stream) return (*t->stream)(chunk) ? chunk.size() : 0;  // 0 aborts the transfer
  t->body->append(chunk);
  return chunk.size();
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->stop && t->stop->load() ? 1 : 0;  // non-zero aborts
}

void SleepUnless(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

Json Response::json() const {
  auto j = ParseJson(body);
  return j ? *j : Json();
}

Status StatusOf(const Response& r, const std::string& what) {
  std::string msg = JStr(r.json(), "message");
  std::string text = fmt::format("{}: HTTP {}{}", what, r.status, msg.empty() ? "" : ": " + msg);
  switch (r.status) {
    case 404: return NotFound(text);
    case 409: return AlreadyExists(text);
    case 401:
    case 403: return PermissionDenied(text);
    case 410: return FailedPrecondition(text);
    case 400:
    case 422: return InvalidArgument(text);
    default: break;
  }
  if (r.status == 429 || r.status >= 500) return Unavailable(text);
  return Internal(text);
}

Client::Client(Credentials creds, Options options) : creds_(std::move(creds)), options_(options) { GlobalInit(); }

Client::~Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

Client::Auth Client::CurrentAuth(bool refresh) {
  std::lock_guard<std::mutex> lock(mu_);
  bool expired = auth_.expires_at && *auth_.expires_at < NowSeconds() + 10;
  if (auth_loaded_ && !refresh && !expired) return auth_;
  Auth a;
  a.cert_pem = creds_.client_cert_pem;
  a.key_pem = creds_.client_key_pem;
  a.token = creds_.token;
  if (refresh && !creds_.token_file.empty()) {
    // A rotated token (service accounts' are): read the file again.
    auto t = ReadToken(creds_.token_file);
    if (t.ok() && !t->empty()) a.token = creds_.token = *t;
  }
  if (creds_.exec) {
    auto cred = RunExecPlugin(*creds_.exec);
    if (cred.ok()) {
      if (!cred->token.empty()) a.token = cred->token;
      if (!cred->client_cert_pem.empty()) {
        a.cert_pem = cred->client_cert_pem;
        a.key_pem = cred->client_key_pem;
      }
      a.expires_at = cred->expires_at;
    } else {
      KLOG_WARN("kubernetes: {}", cred.status().message());
    }
  }
  auth_ = a;
  auth_loaded_ = true;
  return a;
}

Result<Response> Client::Perform(const std::string& method, const std::string& url, const std::string& body,
                                 const std::string& content_type, const Auth& auth,
                                 const std::function<bool(std::string_view)>* stream, std::chrono::seconds timeout,
                                 const std::atomic<bool>* stop) {
  CURL* pooled = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      pooled = static_cast<CURL*>(idle_.back());
      idle_.pop_back();
    }
  }
  if (pooled) curl_easy_reset(pooled);  // every option back to its default; connections kept
  // Back to the pool when done (its options point at this call's buffers: reset on reuse).
  auto give_back = [this](CURL* h) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (idle_.size() < 16) {
      idle_.push_back(h);
    } else {
      curl_easy_cleanup(h);
    }
  };
  std::unique_ptr<CURL, std::function<void(CURL*)>> h(pooled ? pooled : curl_easy_init(), give_back);
  if (!h) return Internal("curl_easy_init failed");
  CURL* c = h.get();
  Response r;
  Transfer t{&r.body, stream, stop};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (!body.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  std::string bearer;
  if (!auth.token.empty()) {
    bearer = "Authorization: Bearer " + auth.token;
    headers = curl_slist_append(headers, bearer.c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers, &curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kecs");
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (timeout.count() > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  if (stop) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  if (stream) {
    // A watch: no overall timeout, but a dead connection (nothing for the server's own
    // timeout and a margin) is given up on.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.watch_timeout.count() + 30));
  }
  curl_blob ca{const_cast<char*>(creds_.ca_pem.data()), creds_.ca_pem.size(), CURL_BLOB_COPY};
  if (!creds_.ca_pem.empty()) curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  if (creds_.insecure_skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_blob cert{const_cast<char*>(auth.cert_pem.data()), auth.cert_pem.size(), CURL_BLOB_COPY};
  curl_blob key{const_cast<char*>(auth.key_pem.data()), auth.key_pem.size(), CURL_BLOB_COPY};
  if (!auth.cert_pem.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (rc != CURLE_OK && !(stream && r.status != 0 && (rc == CURLE_WRITE_ERROR || rc == CURLE_ABORTED_BY_CALLBACK))) {
    // curl's own words name the host and the failure, never a header.
    return Unavailable(fmt::format("{} {}: {}", method, url.substr(0, url.find('?')), curl_easy_strerror(rc)));
  }
  return r;
}

Result<Response> Client::Request(const std::string& method, const std::string& path, const std::string& body,
                                 const std::string& content_type) {
  Auth auth = CurrentAuth(false);
  ASSIGN_OR_RETURN(Response r, Perform(method, creds_.server + path, body, content_type, auth, nullptr, options_.timeout));
  if (r.status == 401 && (!creds_.token_file.empty() || creds_.exec)) {
    auth = CurrentAuth(true);
    ASSIGN_OR_RETURN(r, Perform(method, creds_.server + path, body, content_type, auth, nullptr, options_.timeout));
  }
  return r;
}

Result<Json> Client::Get(const std::string& path) {
  ASSIGN_OR_RETURN(Response r, Request("GET", path));
  if (r.status / 100 != 2) return StatusOf(r, "GET " + path.substr(0, path.find('?')));
  Json j = r.json();
  if (!j.is_object()) return Internal("GET " + path + ": the answer is not a JSON object");
  return j;
}

Result<Response> Client::Retrying(const std::string& method, const std::string& path, const std::string& body,
                                   const std::string& content_type) {
  auto backoff = options_.backoff;
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(Response r, Request(method, path, body, content_type));
    bool retry = r.status == 409 || r.status == 429 || r.status >= 500;
    if (!retry || attempt >= options_.retries) return r;
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(3));
  }
}

Result<Json> Client::Apply(const std::string& path, const Json& object) {
  ASSIGN_OR_RETURN(Response r, Retrying("PATCH", WithQuery(path, "fieldManager=kecs&force=true"), object.dump(),
                                        "application/apply-patch+yaml"));
  if (r.status / 100 == 2) return r.json();
  return StatusOf(r, "apply " + path);
}

Result<Json> Client::MergePatch(const std::string& path, const Json& patch) {
  ASSIGN_OR_RETURN(Response r, Retrying("PATCH", path, patch.dump(), "application/merge-patch+json"));
  if (r.status / 100 == 2) return r.json();
  return StatusOf(r, "patch " + path);
}

Status Client::Delete(const std::string& path) {
  ASSIGN_OR_RETURN(Response r, Retrying("DELETE", path, "", "application/json"));
  if (r.status / 100 == 2 || r.status == 404) return Status::Ok();
  return StatusOf(r, "DELETE " + path);
}

Status Client::WatchOnce(const std::string& collection, std::string& rv,
                         const std::function<Status(const WatchEvent&)>& on_event, const std::atomic<bool>& stop) {
  std::string url = creds_.server +
                    WithQuery(collection, fmt::format("watch=1&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={}",
                                                      rv, options_.watch_timeout.count()));
  std::string pending;
  Status handler = Status::Ok();
  bool gone = false;
  std::function<bool(std::string_view)> stream = [&](std::string_view chunk) {
    if (stop) return false;
    pending.append(chunk);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.empty()) continue;
      auto j = ParseJson(line);
      if (!j || !j->is_object()) continue;
      WatchEvent e{JStr(*j, "type"), j->value("object", Json::object())};
      if (e.type == "ERROR") {
        if (e.object.value("code", 0) == 410) gone = true;
        return false;
      }
      std::string next = JStr(e.object.value("metadata", Json::object()), "resourceVersion");
      if (!next.empty()) rv = next;
      if (e.type == "BOOKMARK") continue;
      handler = on_event(e);
      if (!handler.ok()) return false;
    }
    return true;
  };
  watch_connections_++;
  Auth auth = CurrentAuth(false);
  auto r = Perform("GET", url, "", "", auth, &stream, std::chrono::seconds(0), &stop);
  if (!handler.ok()) return handler;
  if (gone) return FailedPrecondition("the watch's resourceVersion is gone (410)");
  if (!r.ok()) return Unavailable(r.status().message());
  if (r->status == 410) return FailedPrecondition("the watch's resourceVersion is gone (410)");
  if (r->status == 401) CurrentAuth(true);
  if (r->status / 100 != 2) return Unavailable(fmt::format("watch {}: HTTP {}", collection, r->status));
  return Unavailable("the watch ended");  // the server's timeout, or a dropped connection
}

Status Client::ListWatch(const std::string& collection, const std::function<Status(const Json& list)>& on_list,
                         const std::function<Status(const WatchEvent&)>& on_event, const std::atomic<bool>& stop) {
  bool first = true;
  while (!stop) {
    if (!first) relists_++;
    auto list = Get(collection);
    if (!list.ok()) {
      if (list.status().code() != Code::kUnavailable && list.status().code() != Code::kPermissionDenied) {
        return list.status();
      }
      SleepUnless(options_.backoff * 10, stop);
      continue;
    }
    first = false;
    std::string rv = JStr(list->value("metadata", Json::object()), "resourceVersion");
    RETURN_IF_ERROR(on_list(*list));
    while (!stop) {
      Status st = WatchOnce(collection, rv, on_event, stop);
      if (st.code() == Code::kFailedPrecondition) break;  // 410: list again
      if (st.code() != Code::kUnavailable) return st;     // the handler's error
      SleepUnless(options_.backoff, stop);
    }
  }
  return Status::Ok();
}

void Client::ListWatchUntilStopped(const std::string& collection, const std::function<Status(const Json& list)>& on_list,
                                   const std::function<Status(const WatchEvent&)>& on_event,
                                   const std::atomic<bool>& stop, std::chrono::milliseconds retry,
                                   const std::function<void(const Status&)>& on_error) {
  while (!stop) {
    Status st = ListWatch(collection, on_list, on_event, stop);
    if (stop) return;
    if (!st.ok() && on_error) on_error(st);
    SleepUnless(retry, stop);
  }
}

}  // namespace kecs::runtime::kubernetes
