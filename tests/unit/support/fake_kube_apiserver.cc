// The fake Kubernetes API server's definitions (fake_kube_apiserver.h says what it does),
// compiled once into kecs_test_support rather than in every file that includes the header.
#include "unit/support/fake_kube_apiserver.h"

#include <openssl/sha.h>
#include <sys/socket.h>

#include <utility>  // before boost/asio (its awaitable.hpp uses std::exchange)

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include <algorithm>
#include <optional>

#include "base/strings.h"
#include "base/utc_time.h"

namespace kecs::testing {
namespace {

using tcp = boost::asio::ip::tcp;

double NowEpoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Rfc3339(double t) { return FormatUtc(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::string Sha256Digest(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return "sha256:" + HexEncode(std::string(reinterpret_cast<const char*>(d), sizeof d));
}

Json StatusBody(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
          {"message", message}, {"reason", reason}, {"code", code}};
}

std::string CollectionOf(const std::string& key) { return key.substr(0, key.rfind('/')); }

// "/api/v1/namespaces/<ns>/pods" -> "/api/v1/pods" (and the same under /apis/<g>/<v>);
// "" for a collection that is not namespaced.
std::string AcrossNamespaces(const std::string& collection) {
  auto segs = Split(collection.substr(1), '/');
  size_t base = segs.size() >= 2 && segs[0] == "api" ? 2 : segs.size() >= 3 && segs[0] == "apis" ? 3 : 0;
  if (base == 0 || segs.size() != base + 3 || segs[base] != "namespaces") return "";
  std::vector<std::string> c(segs.begin(), segs.begin() + static_cast<long>(base));
  return "/" + Join(c, "/") + "/" + segs[base + 2];
}

bool InCollection(const std::string& object_collection, const std::string& asked) {
  return object_collection == asked || AcrossNamespaces(object_collection) == asked;
}

// Splits a path into (collection, name, subresource); name is "" for a collection.
bool ParsePath(const std::string& path, std::string* collection, std::string* name, std::string* sub) {
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
  if (rest < 1 || segs.size() < coll_len) return false;
  sub->clear();
  if (segs.size() == coll_len + 2 && namespaced && (segs.back() == "status" || segs.back() == "log")) {
    *sub = segs.back();
    segs.pop_back();
  }
  if (segs.size() > coll_len + 1) return false;
  for (const auto& s : segs) {
    if (s.empty()) return false;
  }
  std::vector<std::string> c(segs.begin(), segs.begin() + static_cast<long>(coll_len));
  *collection = "/" + Join(c, "/");
  *name = segs.size() == coll_len + 1 ? segs.back() : "";
  return true;
}

std::map<std::string, std::string> Query(const std::string& q) {
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

bool Matches(const Json& obj, const std::string& selector) {
  if (selector.empty()) return true;
  Json labels = obj.value("metadata", Json::object()).value("labels", Json::object());
  if (!labels.is_object()) labels = Json::object();
  for (const auto& raw : Split(selector, ',')) {
    std::string term(Trim(raw));
    if (term.empty()) continue;
    size_t ne = term.find("!=");
    size_t eq = term.find('=');
    if (ne != std::string::npos) {
      std::string k = term.substr(0, ne);
      if (labels.contains(k) && JStr(labels, k) == term.substr(ne + 2)) return false;
    } else if (eq != std::string::npos) {
      std::string k = term.substr(0, eq);
      std::string v = term.substr(term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1);
      if (!labels.contains(k) || JStr(labels, k) != v) return false;
    } else if (term[0] == '!') {
      if (labels.contains(term.substr(1))) return false;
    } else if (!labels.contains(term)) {
      return false;
    }
  }
  return true;
}

// Server-side apply's merge: maps merge key by key; anything else is replaced.
void DeepMerge(Json& dst, const Json& src) {
  if (!dst.is_object() || !src.is_object()) {
    dst = src;
    return;
  }
  for (const auto& [k, v] : src.items()) {
    if (dst.contains(k) && dst[k].is_object() && v.is_object()) {
      DeepMerge(dst[k], v);
    } else {
      dst[k] = v;
    }
  }
}

// RFC 7386.
Json MergePatch(Json target, const Json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = Json::object();
  for (const auto& [k, v] : patch.items()) {
    if (v.is_null()) {
      target.erase(k);
    } else {
      target[k] = MergePatch(target.contains(k) ? target[k] : Json(), v);
    }
  }
  return target;
}

// What a real API server says of a Pod update that changes more than it may; "" if fine.
std::string PodUpdateError(const std::string& name, const Json& old_spec, const Json& new_spec) {
  auto ads = [](const Json& s) -> int64_t {
    return s.contains("activeDeadlineSeconds") && s["activeDeadlineSeconds"].is_number_integer()
               ? s["activeDeadlineSeconds"].get<int64_t>()
               : 0;
  };
  const std::string prefix = "Pod \"" + name + "\" is invalid: ";
  int64_t was = ads(old_spec), now = ads(new_spec);
  if (was > 0 && now == 0) {
    return prefix + "spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value";
  }
  if (was > 0 && now > was) {
    return prefix + "spec.activeDeadlineSeconds: Invalid value: " + std::to_string(now) +
           ": must be less than or equal to previous value";
  }
  auto strip = [](Json s) {
    if (!s.is_object()) return s;
    s.erase("activeDeadlineSeconds");
    s.erase("terminationGracePeriodSeconds");
    for (const char* list : {"containers", "initContainers"}) {
      if (!s.contains(list) || !s[list].is_array()) continue;
      for (auto& c : s[list]) {
        if (c.is_object()) c.erase("image");
      }
    }
    return s;
  };
  if (strip(old_spec) != strip(new_spec)) {
    return prefix + "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                    "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only "
                    "additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be "
                    "set to 1 if it was previously negative)";
  }
  return "";
}

bool IsPods(const std::string& collection) { return AcrossNamespaces(collection) == "/api/v1/pods"; }

template <typename Req>
bool RawReply(tcp::socket& sock, const Req& req, int status, const std::string& content_type,
              const std::string& body, const std::map<std::string, std::string>& headers) {
  namespace http = boost::beast::http;
  boost::system::error_code ec;
  if (req.method() == http::verb::head) {
    http::response<http::empty_body> res{static_cast<http::status>(status), req.version()};
    res.set(http::field::content_type, content_type);
    for (const auto& [k, v] : headers) res.set(k, v);
    res.content_length(body.size());
    res.keep_alive(req.keep_alive());
    http::response_serializer<http::empty_body> sr{res};
    http::write_header(sock, sr, ec);
    return !ec && req.keep_alive();
  }
  http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
  res.set(http::field::content_type, content_type);
  for (const auto& [k, v] : headers) res.set(k, v);
  res.keep_alive(req.keep_alive());
  res.body() = body;
  res.prepare_payload();
  http::write(sock, res, ec);
  return !ec && req.keep_alive();
}

template <typename Req>
bool Reply(tcp::socket& sock, const Req& req, int status, const Json& body) {
  return RawReply(sock, req, status, "application/json", body.dump(), {});
}

// "host:5000/a/b:tag" -> "a/b:tag": the registry stands for every host.
std::string StripHost(const std::string& ref) {
  size_t slash = ref.find('/');
  if (slash == std::string::npos) return ref;
  std::string first = ref.substr(0, slash);
  bool host = first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost";
  return host ? ref.substr(slash + 1) : ref;
}

std::string NormRepo(const std::string& repo) {
  return repo.rfind("library/", 0) == 0 ? repo.substr(8) : repo;
}

// "a/b:tag" -> (a/b, tag); no tag: latest. A digest stays in the repo ("a/b@sha256:..").
std::pair<std::string, std::string> SplitTag(const std::string& ref) {
  if (ref.find('@') != std::string::npos) return {ref, ""};
  size_t colon = ref.rfind(':');
  size_t slash = ref.rfind('/');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return {ref, "latest"};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

// ---- the kubelet ----
Json NodeReadyCondition(bool ready) {
  return {{"type", "Ready"}, {"status", ready ? "True" : "False"},
          {"reason", ready ? "KubeletReady" : "KubeletNotReady"},
          {"message", ready ? "kubelet is posting ready status" : "the node's kubelet stopped posting status"}};
}

void SetCondition(Json& status, const std::string& type, bool value, const std::string& reason = "") {
  if (!status.contains("conditions") || !status["conditions"].is_array()) status["conditions"] = Json::array();
  Json c = {{"type", type}, {"status", value ? "True" : "False"}};
  if (!reason.empty()) c["reason"] = reason;
  for (auto& existing : status["conditions"]) {
    if (JStr(existing, "type") == type) {
      if (JStr(existing, "status") != JStr(c, "status") || JStr(existing, "reason") != reason) existing = c;
      return;
    }
  }
  status["conditions"].push_back(c);
}

void Terminate(Json& st, int code, const std::string& reason, double now) {
  Json t = {{"exitCode", code},
            {"reason", reason.empty() ? (code == 0 ? "Completed" : "Error") : reason},
            {"finishedAt", Rfc3339(now)},
            {"startedAt", st["state"].contains("running") ? JStr(st["state"]["running"], "startedAt") : Rfc3339(now)}};
  if (st.contains("containerID")) t["containerID"] = st["containerID"];
  st["state"] = {{"terminated", t}};
  st["ready"] = false;
  st["started"] = false;
}

// Caller holds mu_. The pod's phase and Ready conditions from its container states.
void UpdatePhase(Json& pod) {
  Json& status = pod["status"];
  if (JStr(status, "phase") == "Failed" && JStr(status, "reason") == "Evicted") return;
  bool all_ended = true, all_zero = true, all_ready = true, any_started = false;
  auto state_of = [](const Json& st) {
    Json s = st.is_object() ? st.value("state", Json::object()) : Json::object();
    return s.is_object() ? s : Json::object();
  };
  for (const auto& st : status.value("initContainerStatuses", Json::array())) {
    const Json state = state_of(st);
    if (state.contains("terminated") && JInt(state["terminated"], "exitCode", 0) != 0) {
      status["phase"] = "Failed";
      SetCondition(status, "Ready", false, "PodFailed");
      return;
    }
  }
  for (const auto& st : status.value("containerStatuses", Json::array())) {
    const Json state = state_of(st);
    bool ended = state.contains("terminated");
    all_ended = all_ended && ended;
    if (ended && JInt(state["terminated"], "exitCode", 0) != 0) all_zero = false;
    any_started = any_started || ended || state.contains("running");
    all_ready = all_ready && st.value("ready", false);
  }
  if (all_ended && status.contains("containerStatuses")) {
    status["phase"] = all_zero ? "Succeeded" : "Failed";
    SetCondition(status, "Ready", false, "PodCompleted");
    SetCondition(status, "ContainersReady", false, "PodCompleted");
  } else {
    if (any_started) status["phase"] = "Running";
    SetCondition(status, "ContainersReady", all_ready, all_ready ? "" : "ContainersNotReady");
    SetCondition(status, "Ready", all_ready, all_ready ? "" : "ContainersNotReady");
  }
}

Json& Statuses(Json& status, const char* list, const Json& containers, bool behind_init) {
  if (!status.contains(list) || !status[list].is_array()) {
    status[list] = Json::array();
    for (const auto& c : containers) {
      status[list].push_back({{"name", JStr(c, "name")},
                              {"image", JStr(c, "image")},
                              {"imageID", ""},
                              {"ready", false},
                              {"restartCount", 0},
                              {"started", false},
                              {"state", {{"waiting", {{"reason", behind_init ? "PodInitializing" : "ContainerCreating"}}}}}});
    }
  }
  return status[list];
}

bool NodeReady(const Json& node) {
  for (const auto& c : node.value("status", Json::object()).value("conditions", Json::array())) {
    if (JStr(c, "type") == "Ready") return JStr(c, "status") == "True";
  }
  return false;
}

}  // namespace

class FakeKubeApiServer::Socket : public tcp::socket {
 public:
  explicit Socket(boost::asio::io_context& io) : tcp::socket(io) {}
};

struct FakeKubeApiServer::Net {
  boost::asio::io_context io;
  tcp::acceptor acceptor{io};
};

FakeKubeApiServer::FakeKubeApiServer(std::string token, uint16_t port)
    : net_(std::make_unique<Net>()), token_(std::move(token)) {
  namespace asio = boost::asio;
  net_->acceptor.open(asio::ip::tcp::v4());
  net_->acceptor.set_option(asio::socket_base::reuse_address(true));
  net_->acceptor.bind({asio::ip::make_address("127.0.0.1"), port});
  net_->acceptor.listen();
  port_ = net_->acceptor.local_endpoint().port();
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

FakeKubeApiServer::~FakeKubeApiServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto* s : sockets_) {
      boost::system::error_code ec;
      s->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }
  cv_.notify_all();
  kubelet_cv_.notify_all();
  if (kubelet_thread_.joinable()) kubelet_thread_.join();
  // A blocked accept() wakes up when its socket is shut down (Linux), not when closed.
  ::shutdown(net_->acceptor.native_handle(), SHUT_RDWR);
  accept_thread_.join();
  boost::system::error_code ec;
  net_->acceptor.close(ec);
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

std::string FakeKubeApiServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }
uint16_t FakeKubeApiServer::port() const { return port_; }
std::string FakeKubeApiServer::registry_host() const { return "127.0.0.1:" + std::to_string(port_); }

// ---- faults ----
void FakeKubeApiServer::FailNext(int status, int n, const std::string& methods) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) failures_.push_back({status, methods});
}

void FakeKubeApiServer::DelayNext(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ = d;
}

void FakeKubeApiServer::DropWatchesAfter(int n) { drop_after_ = n; }

void FakeKubeApiServer::Compact() {
  std::lock_guard<std::mutex> lock(mu_);
  compacted_below_ = rv_ + 1;
  ++compactions_;
  cv_.notify_all();
}

void FakeKubeApiServer::SetToken(std::string t) {
  std::lock_guard<std::mutex> lock(mu_);
  token_ = std::move(t);
}

// ---- state ----
void FakeKubeApiServer::Put(const std::string& collection, Json obj) {
  std::lock_guard<std::mutex> lock(mu_);
  bool existed = objects_.count(collection + "/" + JStr(obj["metadata"], "name")) > 0;
  Store(collection, std::move(obj), existed);
}

Json FakeKubeApiServer::Object(const std::string& collection, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(collection + "/" + name);
  return it == objects_.end() ? Json() : it->second;
}

std::vector<Json> FakeKubeApiServer::List(const std::string& collection, const std::string& selector) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Json> out;
  for (const auto& [k, v] : objects_) {
    if (InCollection(CollectionOf(k), collection) && Matches(v, selector)) out.push_back(v);
  }
  return out;
}

size_t FakeKubeApiServer::Count(const std::string& collection) { return List(collection).size(); }

int FakeKubeApiServer::requests(const std::string& method) {
  std::lock_guard<std::mutex> lock(mu_);
  return method_counts_[method];
}

int FakeKubeApiServer::watches() const { return watches_.load(); }

std::vector<std::string> FakeKubeApiServer::queries() {
  std::lock_guard<std::mutex> lock(mu_);
  return queries_;
}

// ---- the registry ----
std::string FakeKubeApiServer::AddImage(const std::string& ref) {
  auto [repo, tag] = SplitTag(StripHost(ref));
  Json config = {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                 {"digest", Sha256Digest(repo + ":" + tag)},
                 {"size", static_cast<int>(repo.size() + tag.size() + 1)}};
  std::string manifest = Json{{"schemaVersion", 2},
                              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                              {"config", config},
                              {"layers", Json::array()}}
                             .dump();
  std::string digest = Sha256Digest(manifest);
  std::lock_guard<std::mutex> lock(mu_);
  images_[NormRepo(repo) + ":" + tag] = {manifest, digest};
  return digest;
}

// ---- the simulated kubelet ----
void FakeKubeApiServer::EnableKubelet() {
  std::lock_guard<std::mutex> lock(mu_);
  if (kubelet_on_) return;
  kubelet_on_ = true;
  kubelet_thread_ = std::thread([this] { KubeletLoop(); });
}

void FakeKubeApiServer::AddNode(const std::string& name, const std::string& cpu, const std::string& memory,
                                const std::map<std::string, std::string>& labels) {
  Json l = {{"kubernetes.io/hostname", name}, {"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", "amd64"}};
  for (const auto& [k, v] : labels) l[k] = v;
  std::lock_guard<std::mutex> lock(mu_);
  std::string ip = "172.18.0." + std::to_string(2 + nodes_added_++);
  Json resources = {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}};
  Json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", name}, {"labels", l}}},
               {"spec", {{"podCIDR", "10.244.0.0/16"}}},
               {"status",
                {{"capacity", resources},
                 {"allocatable", resources},
                 {"addresses", {{{"type", "InternalIP"}, {"address", ip}}, {{"type", "Hostname"}, {"address", name}}}},
                 {"conditions", {NodeReadyCondition(true)}},
                 {"nodeInfo", {{"kubeletVersion", "v1.30.0-kecs-fake"}, {"containerRuntimeVersion", "containerd://1.7"},
                               {"operatingSystem", "linux"}, {"architecture", "amd64"}}}}}};
  Store("/api/v1/nodes", node, objects_.count("/api/v1/nodes/" + name) > 0);
}

void FakeKubeApiServer::AppendLog(const std::string& pods, const std::string& pod, const std::string& container,
                                  const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  logs_[pods + "/" + pod + "/" + container] += text;
}

void FakeKubeApiServer::SetNodeReady(const std::string& name, bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find("/api/v1/nodes/" + name);
  if (it == objects_.end()) return;
  Json node = it->second;
  node["status"]["conditions"] = Json::array({NodeReadyCondition(ready)});
  Store("/api/v1/nodes", node, true);
}

bool FakeKubeApiServer::ExitContainer(const std::string& ns, const std::string& pod, const std::string& container,
                                      int code, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string coll = "/api/v1/namespaces/" + ns + "/pods";
  auto it = objects_.find(coll + "/" + pod);
  if (it == objects_.end()) return false;
  Json p = it->second;
  bool found = false;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    if (!p["status"].contains(list)) continue;
    for (auto& st : p["status"][list]) {
      if (JStr(st, "name") != container || !st["state"].contains("running")) continue;
      Terminate(st, code, reason, NowEpoch());
      found = true;
    }
  }
  if (!found) return false;
  UpdatePhase(p);
  Store(coll, p, true);
  return true;
}

bool FakeKubeApiServer::Evict(const std::string& ns, const std::string& pod, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string coll = "/api/v1/namespaces/" + ns + "/pods";
  auto it = objects_.find(coll + "/" + pod);
  if (it == objects_.end()) return false;
  Json p = it->second;
  p["status"]["phase"] = "Failed";
  p["status"]["reason"] = "Evicted";
  p["status"]["message"] = message;
  SetCondition(p["status"], "Ready", false, "PodFailed");
  SetCondition(p["status"], "DisruptionTarget", true, "TerminationByKubelet");
  Store(coll, p, true);
  return true;
}

void FakeKubeApiServer::SetStopExitCode(const std::string& ns, const std::string& pod, const std::string& container,
                                        int code) {
  std::lock_guard<std::mutex> lock(mu_);
  stop_codes_[ns + "/" + pod + "/" + container] = code;
}

// Caller holds mu_.
Json FakeKubeApiServer::Store(const std::string& collection, Json obj, bool existed) {
  std::string name = JStr(obj["metadata"], "name");
  obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
  if (!existed) {
    obj["metadata"]["uid"] = "uid-" + std::to_string(rv_);
    obj["metadata"]["creationTimestamp"] = Rfc3339(NowEpoch());
  }
  objects_[collection + "/" + name] = obj;
  events_.push_back({rv_, collection, existed ? "MODIFIED" : "ADDED", obj});
  cv_.notify_all();
  return obj;
}

// Caller holds mu_.
void FakeKubeApiServer::Remove(const std::string& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return;
  Json obj = it->second;
  std::string collection = CollectionOf(key);
  objects_.erase(it);
  obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
  events_.push_back({rv_, collection, "DELETED", obj});
  cv_.notify_all();
}

void FakeKubeApiServer::AcceptLoop() {
  for (;;) {
    auto sock = std::make_unique<Socket>(net_->io);
    boost::system::error_code ec;
    net_->acceptor.accept(*sock, ec);
    if (ec) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    Socket* raw = sock.release();
    sockets_.push_back(raw);
    threads_.emplace_back([this, raw] {
      Serve(*raw);
      std::lock_guard<std::mutex> l(mu_);
      std::erase(sockets_, raw);
      delete raw;
    });
  }
}

// Answers one API request (not a watch, not the registry) under mu_.
void FakeKubeApiServer::Handle(const std::string& method, const std::string& collection, const std::string& name,
                               const std::string& sub, std::map<std::string, std::string>& params,
                               const std::string& content_type, const std::string& request_body, int* status,
                               Json* body) {
  std::string key = collection + "/" + name;
  auto it = objects_.find(key);
  auto fail = [&](int code, const std::string& reason, const std::string& message) {
    *status = code;
    *body = StatusBody(code, reason, message);
  };
  if (method == "GET" && name.empty()) {
    Json items = Json::array();
    for (const auto& [k, v] : objects_) {
      if (InCollection(CollectionOf(k), collection) && Matches(v, params["labelSelector"])) items.push_back(v);
    }
    *body = {{"kind", "List"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
             {"items", items}};
  } else if (method == "GET" && sub == "log") {
    // A container's log, as the kubelet keeps it (AppendLog): 400 before it has started.
    if (it == objects_.end() || !IsPods(collection)) return fail(404, "NotFound", name + " not found");
    const std::string container = params["container"];
    bool started = false, known = false;
    for (const auto& c : it->second.value("spec", Json::object()).value("containers", Json::array())) {
      known = known || JStr(c, "name") == container;
    }
    for (const auto& st : it->second.value("status", Json::object()).value("containerStatuses", Json::array())) {
      if (JStr(st, "name") != container) continue;
      const Json state = st.value("state", Json::object());
      started = state.contains("running") || state.contains("terminated");
    }
    if (!known) return fail(400, "BadRequest", "container " + container + " is not valid for pod " + name);
    if (!started) {
      return fail(400, "BadRequest", "container \"" + container + "\" in pod \"" + name + "\" is waiting to start");
    }
    *body = logs_[key + "/" + container];
  } else if (method == "GET") {
    if (it == objects_.end()) return fail(404, "NotFound", name + " not found");
    *body = it->second;
  } else if (method == "PATCH" && !name.empty()) {
    auto patch = ParseJson(request_body);
    if (!patch || !patch->is_object()) return fail(400, "BadRequest", "the patch is not a JSON object");
    Json obj;
    if (content_type == "application/apply-patch+yaml" && sub.empty()) {
      if (params["fieldManager"].empty()) return fail(422, "Invalid", "fieldManager is required for apply patch");
      if (JStr(patch->value("metadata", Json::object()), "name") != name || JStr(*patch, "kind").empty() ||
          JStr(*patch, "apiVersion").empty()) {
        return fail(422, "Invalid", "the object's apiVersion, kind and metadata.name must match the URL");
      }
      obj = it == objects_.end() ? Json::object() : it->second;
      Json applied = *patch;
      if (it != objects_.end()) applied.erase("status");  // the main resource keeps the status
      DeepMerge(obj, applied);
      obj["metadata"]["managedFields"] =
          Json::array({{{"manager", params["fieldManager"]}, {"operation", "Apply"}}});
    } else if (content_type == "application/merge-patch+json") {
      if (it == objects_.end()) return fail(404, "NotFound", name + " not found");
      std::string rv = JStr(patch->value("metadata", Json::object()), "resourceVersion");
      if (!rv.empty() && rv != JStr(it->second["metadata"], "resourceVersion")) {
        return fail(409, "Conflict",
                    "Operation cannot be fulfilled on " + name +
                        ": the object has been modified; please apply your changes to the latest version and try again");
      }
      if (sub == "status") {
        obj = it->second;
        obj["status"] = MergePatch(obj.value("status", Json::object()), patch->value("status", Json::object()));
      } else {
        Json p = *patch;
        p.erase("status");
        obj = MergePatch(it->second, p);
        obj["metadata"]["name"] = name;
      }
    } else {
      return fail(415, "UnsupportedMediaType",
                  "the body of the request was in an unknown format - accepted media types include: "
                  "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
    }
    if (it != objects_.end() && IsPods(collection)) {
      std::string err = PodUpdateError(name, it->second.value("spec", Json::object()), obj.value("spec", Json::object()));
      if (!err.empty()) return fail(422, "Invalid", err);
    }
    *status = it == objects_.end() ? 201 : 200;
    *body = Store(collection, obj, it != objects_.end());
  } else if (method == "DELETE" && !name.empty() && sub.empty()) {
    if (!params["gracePeriodSeconds"].empty() &&
        params["gracePeriodSeconds"].find_first_not_of("0123456789") != std::string::npos) {
      return fail(400, "BadRequest", "gracePeriodSeconds must be a non-negative integer");
    }
    if (it == objects_.end()) return fail(404, "NotFound", name + " not found");
    *body = it->second;
    if (collection == "/api/v1/namespaces") {
      std::vector<std::string> inside;
      for (const auto& [k, v] : objects_) {
        if (k.rfind("/api/v1/namespaces/" + name + "/", 0) == 0 ||
            (k.rfind("/apis/", 0) == 0 && k.find("/namespaces/" + name + "/") != std::string::npos)) {
          inside.push_back(k);
        }
      }
      for (const auto& k : inside) Remove(k);
    }
    Remove(key);
  } else {
    fail(405, "MethodNotAllowed", method + " is not served here");
  }
}

void FakeKubeApiServer::Serve(Socket& sock) {
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
    if (path == "/v2" || path.rfind("/v2/", 0) == 0) {
      if (!ServeRegistry(sock, req, method, path)) return;
      continue;
    }
    std::chrono::milliseconds delay{0};
    int fail = 0;
    bool watch = params["watch"] == "1" || params["watch"] == "true";
    {
      std::lock_guard<std::mutex> lock(mu_);
      method_counts_[method]++;
      queries_.push_back(query);
      std::string auth(req[http::field::authorization]);
      if (!token_.empty() && auth != "Bearer " + token_) fail = 401;
      if (!fail && !watch) {
        for (auto f = failures_.begin(); f != failures_.end(); ++f) {
          auto methods = Split(f->methods, ',');
          if (!f->methods.empty() && std::find(methods.begin(), methods.end(), method) == methods.end()) continue;
          fail = f->status;
          failures_.erase(f);
          break;
        }
      }
      if (!watch) std::swap(delay, delay_);
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (fail) {
      const char* reason = fail == 401 ? "Unauthorized" : fail == 409 ? "Conflict" : "InternalError";
      if (!Reply(sock, req, fail, StatusBody(fail, reason, "injected by the fake"))) return;
      continue;
    }
    std::string collection, name, sub;
    if (!ParsePath(path, &collection, &name, &sub)) {
      if (!Reply(sock, req, 404, StatusBody(404, "NotFound", "the server could not find the requested resource"))) return;
      continue;
    }
    if (method == "GET" && name.empty() && watch) {
      Watch(sock, collection, params);
      return;  // a watch ends its connection
    }
    int status = 200;
    Json body;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Handle(method, collection, name, sub, params, std::string(req[http::field::content_type]), req.body(),
             &status, &body);
    }
    if (sub == "log" && status == 200) {
      if (!RawReply(sock, req, status, "text/plain", body.get<std::string>(), {})) return;
      continue;
    }
    if (!Reply(sock, req, status, body)) return;
  }
}

// Caller holds mu_. The image a pod names, if the registry has it.
const FakeKubeApiServer::Image* FakeKubeApiServer::FindImage(const std::string& ref) {
  std::string r = StripHost(ref);
  if (size_t at = r.find('@'); at != std::string::npos) {
    std::string repo = NormRepo(SplitTag(r.substr(0, at)).first), digest = r.substr(at + 1);
    for (const auto& [k, v] : images_) {
      if (v.digest == digest && k.substr(0, k.rfind(':')) == repo) return &v;
    }
    return nullptr;
  }
  auto [repo, tag] = SplitTag(r);
  auto it = images_.find(NormRepo(repo) + ":" + tag);
  return it == images_.end() ? nullptr : &it->second;
}

// The Distribution API's reading side: /v2/ and manifests by tag or digest.
template <typename Req>
bool FakeKubeApiServer::ServeRegistry(Socket& sock, const Req& req, const std::string& method,
                                      const std::string& path) {
  const std::map<std::string, std::string> api = {{"Docker-Distribution-API-Version", "registry/2.0"}};
  if (method != "GET" && method != "HEAD") {
    return RawReply(sock, req, 405, "application/json",
                    R"({"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]})", api);
  }
  if (path == "/v2" || path == "/v2/") return RawReply(sock, req, 200, "application/json", "{}", api);
  size_t m = path.rfind("/manifests/");
  if (m == std::string::npos || m <= 4) {
    return RawReply(sock, req, 404, "application/json",
                    R"({"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]})", api);
  }
  std::string repo = path.substr(4, m - 4), reference = path.substr(m + 11);
  std::optional<Image> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    registry_requests_++;
    const Image* img = FindImage(repo + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") + reference);
    if (img) found = *img;
  }
  if (!found) {
    Json err = {{"errors", {{{"code", "MANIFEST_UNKNOWN"}, {"message", "manifest unknown"},
                             {"detail", {{"Name", repo}, {"Revision", reference}}}}}}};
    return RawReply(sock, req, 404, "application/json", err.dump(), api);
  }
  auto headers = api;
  headers["Docker-Content-Digest"] = found->digest;
  return RawReply(sock, req, 200, "application/vnd.oci.image.manifest.v1+json", found->manifest, headers);
}

void FakeKubeApiServer::Watch(Socket& sock, const std::string& collection, std::map<std::string, std::string> params) {
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
        if (e.rv > next && InCollection(e.collection, collection) && Matches(e.object, selector)) {
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

// Caller holds mu_. A waiting container starts, or its image pull fails.
void FakeKubeApiServer::Advance(Json& st, const Json& container, double now, bool run_to_end) {
  if (!st["state"].contains("waiting")) return;
  const std::string image = JStr(container, "image");
  const std::string reason = JStr(st["state"]["waiting"], "reason");
  const Image* img = FindImage(image);
  if (!img) {
    if (reason == "ErrImagePull" || reason == "ImagePullBackOff") {
      st["state"] = {{"waiting", {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling image \"" + image + "\""}}}};
    } else {
      st["state"] = {{"waiting",
                      {{"reason", "ErrImagePull"},
                       {"message", "failed to pull and unpack image \"" + image + "\": failed to resolve reference \"" +
                                       image + "\": " + image + ": not found"}}}};
    }
    return;
  }
  std::string name = image.substr(0, image.find('@'));
  if (image.find('@') == std::string::npos) name = SplitTag(image).first;
  st["imageID"] = name + "@" + img->digest;
  st["containerID"] = "containerd://" + Sha256Digest(std::to_string(++containers_started_) + url()).substr(7);
  st["state"] = {{"running", {{"startedAt", Rfc3339(now)}}}};
  st["ready"] = true;
  st["started"] = true;
  if (run_to_end) Terminate(st, 0, "Completed", now);
}

// Caller holds mu_. One step of one pod; true when it changed.
bool FakeKubeApiServer::KubeletStep(const std::string& key, Json& pod, double now) {
  // Json keeps its members in order (a vector): adding one moves the others, so both
  // exist before references to them are taken.
  if (!pod.contains("status") || !pod["status"].is_object()) pod["status"] = Json::object();
  if (!pod.contains("spec") || !pod["spec"].is_object()) pod["spec"] = Json::object();
  Json& spec = pod["spec"];
  Json& status = pod["status"];
  const std::string phase = JStr(status, "phase");
  if (phase == "Succeeded" || phase == "Failed") return false;
  const Json before = pod;
  if (JStr(spec, "nodeName").empty()) {
    size_t nodes = 0;
    for (const auto& [k, v] : objects_) {
      if (CollectionOf(k) != "/api/v1/nodes") continue;
      ++nodes;
      if (NodeReady(v)) {
        spec["nodeName"] = JStr(v["metadata"], "name");
        break;
      }
    }
    if (JStr(spec, "nodeName").empty()) {
      status["phase"] = "Pending";
      SetCondition(status, "PodScheduled", false, "Unschedulable");
      return pod != before;
    }
  }
  auto node = objects_.find("/api/v1/nodes/" + JStr(spec, "nodeName"));
  if (node == objects_.end() || !NodeReady(node->second)) {
    status["phase"] = "Pending";
    return pod != before;
  }
  const Json containers = spec.value("containers", Json::array());
  const Json inits = spec.value("initContainers", Json::array());
  if (JStr(status, "startTime").empty()) {
    std::string host_ip;
    for (const auto& a : node->second["status"].value("addresses", Json::array())) {
      if (JStr(a, "type") == "InternalIP") host_ip = JStr(a, "address");
    }
    std::string pod_ip = host_ip;
    if (!spec.value("hostNetwork", false)) {
      int n = next_pod_ip_++;
      pod_ip = "10.244." + std::to_string(n / 254) + "." + std::to_string(n % 254 + 1);
    }
    status["phase"] = "Pending";
    status["startTime"] = Rfc3339(now);
    status["hostIP"] = host_ip;
    status["podIP"] = pod_ip;
    status["podIPs"] = Json::array({{{"ip", pod_ip}}});
    status["qosClass"] = "Burstable";
    SetCondition(status, "PodScheduled", true);
    SetCondition(status, "Initialized", inits.empty(), inits.empty() ? "" : "ContainersNotInitialized");
    SetCondition(status, "ContainersReady", false, "ContainersNotReady");
    SetCondition(status, "Ready", false, "ContainersNotReady");
    if (!inits.empty()) Statuses(status, "initContainerStatuses", inits, false);
    Statuses(status, "containerStatuses", containers, !inits.empty());
    return true;
  }
  double started = 0;
  ParseIso8601(JStr(status, "startTime"), &started);
  int64_t deadline = JInt(spec, "activeDeadlineSeconds", 0);
  if (deadline > 0 && now >= started + static_cast<double>(deadline)) {
    std::string ns = JStr(pod["metadata"], "namespace"), name = JStr(pod["metadata"], "name");
    for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
      if (!status.contains(list)) continue;
      for (auto& st : status[list]) {
        if (st["state"].contains("terminated")) continue;
        auto code = stop_codes_.find(ns + "/" + name + "/" + JStr(st, "name"));
        Terminate(st, code == stop_codes_.end() ? 0 : code->second, "", now);
      }
    }
    status["phase"] = "Failed";
    status["reason"] = "DeadlineExceeded";
    status["message"] = "Pod was active on the node longer than the specified deadline";
    SetCondition(status, "Ready", false, "PodFailed");
    SetCondition(status, "ContainersReady", false, "PodFailed");
    return true;
  }
  (void)key;
  bool initialized = true;
  if (!inits.empty()) {
    Json& sts = Statuses(status, "initContainerStatuses", inits, false);
    for (size_t i = 0; i < sts.size() && i < inits.size(); ++i) {
      if (sts[i]["state"].contains("terminated")) {
        if (JInt(sts[i]["state"]["terminated"], "exitCode", 0) != 0) initialized = false;
        continue;
      }
      Advance(sts[i], inits[i], now, /*run_to_end=*/true);
      initialized = false;  // the next init container, or the main ones, on a later step
      break;
    }
    SetCondition(status, "Initialized", initialized, initialized ? "" : "ContainersNotInitialized");
  }
  Json& sts = Statuses(status, "containerStatuses", containers, !inits.empty());
  if (initialized) {
    for (size_t i = 0; i < sts.size() && i < containers.size(); ++i) {
      if (JStr(sts[i]["state"].value("waiting", Json::object()), "reason") == "PodInitializing") {
        sts[i]["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
      }
      Advance(sts[i], containers[i], now, false);
    }
  }
  UpdatePhase(pod);
  return pod != before;
}

void FakeKubeApiServer::KubeletLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    double now = NowEpoch();
    std::vector<std::string> keys;
    for (const auto& [k, v] : objects_) {
      if (IsPods(CollectionOf(k))) keys.push_back(k);
    }
    for (const auto& k : keys) {
      Json pod = objects_[k];
      if (KubeletStep(k, pod, now)) Store(CollectionOf(k), pod, true);
    }
    kubelet_cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
}

}  // namespace kecs::testing
