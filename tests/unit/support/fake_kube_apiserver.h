#pragma once
// A fake Kubernetes API server for the kubernetes runtime's tests (issue 16): real HTTP on
// a free loopback port, and honest about what clients depend on. Every write gets the next
// resourceVersion; lists carry the collection's; watches replay the event history from a
// resourceVersion, then stream live events, with BOOKMARKs; a resourceVersion older than
// the last compaction gets an ERROR event with code 410, as etcd's compaction makes real
// servers answer. Server-side apply (PATCH, application/apply-patch+yaml) needs a
// fieldManager, creates or merges, and records the manager. Faults on demand: the next
// requests answered 409, 401 or 5xx, slow answers, dropped watch connections, compaction.
//
// Paths: /api/v1/namespaces[/<name>], /api/v1/namespaces/<ns>/<resource>[/<name>],
// /apis/<group>/<version>/namespaces/<ns>/<resource>[/<name>], and the cluster-scoped
// /api/v1/nodes[/<name>]. labelSelector: equality terms only ("a=b,c=d").
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/json.h"
#include "base/strings.h"

namespace kecs::testing {

class FakeKubeApiServer {
 public:
  explicit FakeKubeApiServer(std::string token = "") : token_(std::move(token)) {
    namespace asio = boost::asio;
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeKubeApiServer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (auto* s : sockets_) {
        boost::system::error_code ec;
        s->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
      }
    }
    cv_.notify_all();
    // A blocked accept() wakes up when its socket is shut down (Linux), not when closed.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // ---- faults ----
  // The next `n` requests (not watches) are answered `status` with a Status body.
  void FailNext(int status, int n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n; ++i) failures_.push_back(status);
  }
  void DelayNext(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = d;
  }
  // Watch connections close (without a terminating chunk) after `n` more events each.
  void DropWatchesAfter(int n) { drop_after_ = n; }
  // Forgets the history: a watch from an older resourceVersion gets 410, and open watches
  // get an ERROR 410 event now.
  void Compact() {
    std::lock_guard<std::mutex> lock(mu_);
    compacted_below_ = rv_ + 1;
    ++compactions_;
    cv_.notify_all();
  }
  void SetToken(std::string t) {
    std::lock_guard<std::mutex> lock(mu_);
    token_ = std::move(t);
  }
  std::chrono::milliseconds bookmark_interval{200};

  // ---- state ----
  // Writes an object directly (as another client would), at `collection`/`name`.
  void Put(const std::string& collection, Json obj) {
    std::lock_guard<std::mutex> lock(mu_);
    Store(collection, std::move(obj), false);
  }
  Json Object(const std::string& collection, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(collection + "/" + name);
    return it == objects_.end() ? Json() : it->second;
  }
  size_t Count(const std::string& collection) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [k, v] : objects_) n += CollectionOf(k) == collection;
    return n;
  }
  int requests(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    return method_counts_[method];
  }
  int watches() const { return watches_.load(); }
  // The query strings of the requests received, in order.
  std::vector<std::string> queries() {
    std::lock_guard<std::mutex> lock(mu_);
    return queries_;
  }

 private:
  using tcp = boost::asio::ip::tcp;
  struct Event {
    int64_t rv;
    std::string collection;
    std::string type;
    Json object;
  };

  static Json StatusBody(int code, const std::string& reason, const std::string& message) {
    return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
            {"message", message}, {"reason", reason}, {"code", code}};
  }

  static std::string CollectionOf(const std::string& key) { return key.substr(0, key.rfind('/')); }

  // Splits a path into (collection, name); name is "" for a collection.
  static bool ParsePath(const std::string& path, std::string* collection, std::string* name) {
    auto segs = Split(path.substr(1), '/');
    size_t base;
    if (segs.size() >= 2 && segs[0] == "api" && segs[1] == "v1") {
      base = 2;
    } else if (segs.size() >= 3 && segs[0] == "apis") {
      base = 3;
    } else {
      return false;
    }
    size_t rest = segs.size() - base;
    bool namespaced = rest >= 3 && segs[base] == "namespaces";
    size_t coll_len = namespaced ? base + 3 : base + 1;
    if (rest < 1 || segs.size() > coll_len + 1 || segs.size() < coll_len) return false;
    std::vector<std::string> c(segs.begin(), segs.begin() + static_cast<long>(coll_len));
    *collection = "/" + Join(c, "/");
    *name = segs.size() == coll_len + 1 ? segs.back() : "";
    return true;
  }

  static std::map<std::string, std::string> Query(const std::string& q) {
    std::map<std::string, std::string> out;
    for (const auto& kv : Split(q, '&')) {
      if (kv.empty()) continue;
      size_t eq = kv.find('=');
      std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1), d;
      UrlDecode(v, &d);
      out[k] = d;
    }
    return out;
  }

  static bool Matches(const Json& obj, const std::string& selector) {
    if (selector.empty()) return true;
    Json labels = obj.value("metadata", Json::object()).value("labels", Json::object());
    for (const auto& term : Split(selector, ',')) {
      size_t eq = term.find('=');
      if (eq == std::string::npos) return false;
      if (JStr(labels, term.substr(0, eq)) != term.substr(eq + 1) || !labels.contains(term.substr(0, eq))) return false;
    }
    return true;
  }

  // Caller holds mu_.
  Json Store(const std::string& collection, Json obj, bool existed) {
    std::string name = JStr(obj["metadata"], "name");
    obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
    if (!existed) obj["metadata"]["uid"] = "uid-" + std::to_string(rv_);
    objects_[collection + "/" + name] = obj;
    events_.push_back({rv_, collection, existed ? "MODIFIED" : "ADDED", obj});
    cv_.notify_all();
    return obj;
  }

  void AcceptLoop() {
    for (;;) {
      auto sock = std::make_unique<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*sock, ec);
      if (ec) return;
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      tcp::socket* raw = sock.release();
      sockets_.push_back(raw);
      threads_.emplace_back([this, raw] {
        Serve(*raw);
        std::lock_guard<std::mutex> l(mu_);
        std::erase(sockets_, raw);
        delete raw;
      });
    }
  }

  void Serve(tcp::socket& sock) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(sock, buf, req, ec);
      if (ec) return;
      std::string target(req.target());
      size_t q = target.find('?');
      std::string path = target.substr(0, q), query = q == std::string::npos ? "" : target.substr(q + 1);
      auto params = Query(query);
      std::string method(req.method_string());
      std::chrono::milliseconds delay{0};
      int fail = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        method_counts_[method]++;
        queries_.push_back(query);
        std::string auth(req[http::field::authorization]);
        if (!token_.empty() && auth != "Bearer " + token_) fail = 401;
        bool watch = params["watch"] == "1" || params["watch"] == "true";
        if (!fail && !watch && !failures_.empty()) {
          fail = failures_.front();
          failures_.pop_front();
        }
        if (!watch) std::swap(delay, delay_);
      }
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      if (fail) {
        const char* reason = fail == 401 ? "Unauthorized" : fail == 409 ? "Conflict" : "InternalError";
        if (!Reply(sock, req, fail, StatusBody(fail, reason, "injected by the fake"))) return;
        continue;
      }
      std::string collection, name;
      if (!ParsePath(path, &collection, &name)) {
        if (!Reply(sock, req, 404, StatusBody(404, "NotFound", "the server could not find the requested resource"))) return;
        continue;
      }
      if (method == "GET" && name.empty() && (params["watch"] == "1" || params["watch"] == "true")) {
        Watch(sock, collection, params);
        return;  // a watch ends its connection
      }
      int status = 200;
      Json body;
      {
        std::lock_guard<std::mutex> lock(mu_);
        std::string key = collection + "/" + name;
        auto it = objects_.find(key);
        if (method == "GET" && name.empty()) {
          Json items = Json::array();
          for (const auto& [k, v] : objects_) {
            if (CollectionOf(k) == collection && Matches(v, params["labelSelector"])) items.push_back(v);
          }
          body = {{"kind", "List"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                  {"items", items}};
        } else if (method == "GET") {
          if (it == objects_.end()) {
            status = 404;
            body = StatusBody(404, "NotFound", name + " not found");
          } else {
            body = it->second;
          }
        } else if (method == "PATCH") {
          auto patch = ParseJson(req.body());
          std::string ct(req[http::field::content_type]);
          if (ct != "application/apply-patch+yaml") {
            status = 415;
            body = StatusBody(415, "UnsupportedMediaType", "only server-side apply here");
          } else if (params["fieldManager"].empty()) {
            status = 422;
            body = StatusBody(422, "Invalid", "fieldManager is required for apply patch");
          } else if (!patch || !patch->is_object() || JStr(patch->value("metadata", Json::object()), "name") != name ||
                     JStr(*patch, "kind").empty() || JStr(*patch, "apiVersion").empty()) {
            status = 422;
            body = StatusBody(422, "Invalid", "the object's apiVersion, kind and metadata.name must match the URL");
          } else {
            Json obj = it == objects_.end() ? Json::object() : it->second;
            for (const auto& [k, v] : patch->items()) {
              if (k != "metadata") obj[k] = v;
            }
            Json& md = obj["metadata"];
            for (const auto& [k, v] : (*patch)["metadata"].items()) md[k] = v;
            md["managedFields"] = Json::array({{{"manager", params["fieldManager"]}, {"operation", "Apply"}}});
            status = it == objects_.end() ? 201 : 200;
            body = Store(collection, obj, it != objects_.end());
          }
        } else if (method == "DELETE") {
          if (it == objects_.end()) {
            status = 404;
            body = StatusBody(404, "NotFound", name + " not found");
          } else {
            Json obj = it->second;
            objects_.erase(it);
            obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
            events_.push_back({rv_, collection, "DELETED", obj});
            cv_.notify_all();
            body = obj;
          }
        } else {
          status = 405;
          body = StatusBody(405, "MethodNotAllowed", method + " is not served here");
        }
      }
      if (!Reply(sock, req, status, body)) return;
    }
  }

  template <typename Req>
  bool Reply(tcp::socket& sock, const Req& req, int status, const Json& body) {
    namespace http = boost::beast::http;
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = body.dump();
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(sock, res, ec);
    return !ec && req.keep_alive();
  }

  void Watch(tcp::socket& sock, const std::string& collection, std::map<std::string, std::string> params) {
    namespace http = boost::beast::http;
    watches_++;
    int64_t from = params["resourceVersion"].empty() ? 0 : std::stoll(params["resourceVersion"]);
    bool bookmarks = params["allowWatchBookmarks"] == "true" || params["allowWatchBookmarks"] == "1";
    std::string selector = params["labelSelector"];
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    boost::system::error_code ec;
    http::write_header(sock, sr, ec);
    if (ec) return;
    auto send = [&](const Json& e) {
      std::string line = e.dump() + "\n";
      boost::asio::write(sock, http::make_chunk(boost::asio::buffer(line)), ec);
      return !ec;
    };
    int sent = 0;
    int compactions_seen;
    int64_t next = from;
    {
      std::lock_guard<std::mutex> lock(mu_);
      compactions_seen = compactions_;
      if (from != 0 && from + 1 < compacted_below_) {
        Json gone = StatusBody(410, "Expired", "too old resource version: " + std::to_string(from));
        send({{"type", "ERROR"}, {"object", gone}});
        boost::asio::write(sock, http::make_chunk_last(), ec);
        return;
      }
    }
    auto last_bookmark = std::chrono::steady_clock::now();
    for (;;) {
      std::vector<Json> out;
      bool gone = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(50));
        if (stopping_) return;
        if (compactions_ != compactions_seen) gone = true;
        for (const auto& e : events_) {
          if (e.rv > next && e.collection == collection && Matches(e.object, selector)) {
            out.push_back({{"type", e.type}, {"object", e.object}});
          }
        }
        if (!events_.empty()) next = std::max(next, events_.back().rv);
      }
      if (gone) {
        send({{"type", "ERROR"}, {"object", StatusBody(410, "Expired", "the resource version was compacted")}});
        boost::asio::write(sock, http::make_chunk_last(), ec);
        return;
      }
      for (const auto& e : out) {
        if (!send(e)) return;
        if (drop_after_ > 0 && ++sent >= drop_after_) {
          drop_after_ = 0;
          boost::system::error_code ignored;
          sock.shutdown(tcp::socket::shutdown_both, ignored);  // dropped: no last chunk
          return;
        }
      }
      if (bookmarks && std::chrono::steady_clock::now() - last_bookmark >= bookmark_interval) {
        std::string rv;
        {
          std::lock_guard<std::mutex> lock(mu_);
          rv = std::to_string(rv_);
        }
        if (!send({{"type", "BOOKMARK"}, {"object", {{"kind", "Pod"}, {"apiVersion", "v1"},
                                                      {"metadata", {{"resourceVersion", rv}}}}}})) return;
        last_bookmark = std::chrono::steady_clock::now();
      }
    }
  }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<tcp::socket*> sockets_;
  std::vector<std::thread> threads_;
  std::string token_;
  int64_t rv_ = 100;
  int64_t compacted_below_ = 0;
  int compactions_ = 0;
  std::map<std::string, Json> objects_;
  std::vector<Event> events_;
  std::deque<int> failures_;
  std::chrono::milliseconds delay_{0};
  std::atomic<int> drop_after_{0};
  std::atomic<int> watches_{0};
  std::map<std::string, int> method_counts_;
  std::vector<std::string> queries_;
};

}  // namespace kecs::testing
