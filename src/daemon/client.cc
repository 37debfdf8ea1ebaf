#include "daemon/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>
#include <vector>

#include "api/sigv4.h"
#include "base/utc_time.h"
#include "base/json.h"
#include "base/strings.h"
#include "daemon/config.h"

namespace kecs::daemon {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

namespace {

// The key pair the daemon verifies, read as `kecs start` reads it: KECS_AUTH_KEYS
// ("AKID:SECRET[,...]"; the first pair signs). Only the environment is read, so the secret
// never appears on a command line.
std::optional<std::pair<std::string, std::string>> SigningKey() {
  const char* env = std::getenv("KECS_AUTH_KEYS");
  if (!env || !*env) return std::nullopt;
  Config cfg;
  cfg.auth_keys = env;
  auto keys = cfg.AuthKeyMap();
  if (keys.empty()) return std::nullopt;
  return *keys.begin();
}

std::string AmzDate(std::time_t t, const char* format) { return FormatUtc(static_cast<double>(t), format); }

// Adds the SigV4 headers the daemon's router verifies when it runs with --auth-keys.
template <typename Body>
void Sign(http::request<Body>& req, const std::string& host_header, const std::string& body = "") {
  auto key = SigningKey();
  if (!key) return;
  const char* region_env = std::getenv("KECS_REGION");
  std::time_t now = std::time(nullptr);
  std::string amz_date = AmzDate(now, "%Y%m%dT%H%M%SZ");
  api::HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.body = body;
  r.headers = {{"host", host_header}, {"x-amz-date", amz_date}};
  api::SigV4Auth auth{key->first, AmzDate(now, "%Y%m%d"),
                      region_env && *region_env ? region_env : "us-east-1", "ecs",
                      {"host", "x-amz-date"}, ""};
  std::string sig = api::ComputeSignature(r, auth, key->second, amz_date);
  req.set("x-amz-date", amz_date);
  req.set(http::field::authorization,
          "AWS4-HMAC-SHA256 Credential=" + auth.access_key + "/" + auth.date + "/" + auth.region +
              "/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig);
}

// The message of a JSON error body, or the body itself.
std::string ErrorText(const std::string& body) {
  auto j = ParseJson(body);
  if (j && j->is_object() && j->contains("message") && (*j)["message"].is_string()) {
    std::string code = j->value("__type", "");
    return (code.empty() ? "" : code + ": ") + (*j)["message"].get<std::string>();
  }
  return body;
}

// The body of a 200 answer, or nullopt after saying on stderr why there is none.
std::optional<std::string> GetOrReport(const std::string& host, uint16_t port, const std::string& path) {
  auto body = HttpGet(host, port, path);
  if (!body.ok()) {
    std::fprintf(stderr, "kecs: %s\n", body.status().message().c_str());
    return std::nullopt;
  }
  return std::move(*body);
}

}  // namespace

namespace {

// Connects, sends `req` (with its Host header, signed) and reads the answer.
template <typename Body>
Result<HttpReply> Exchange(const std::string& host, uint16_t port, http::request<Body>& req,
                           const std::string& body, std::chrono::seconds timeout) {
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout);
    stream.connect(resolver.resolve(host, std::to_string(port)));
    std::string host_header = host + ":" + std::to_string(port);
    req.set(http::field::host, host_header);
    Sign(req, host_header, body);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    beast::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    HttpReply r;
    r.status = static_cast<int>(res.result_int());
    r.body = res.body();
    r.next_offset = std::string(res["X-Kecs-Log-Offset"]);
    return r;
  } catch (const std::exception& e) {
    return Unavailable(std::string("no kecs daemon at ") + host + ":" + std::to_string(port) +
                       " (" + e.what() + ")");
  }
}

}  // namespace

Result<HttpReply> HttpGetReply(const std::string& host, uint16_t port, const std::string& path) {
  http::request<http::empty_body> req{http::verb::get, path, 11};
  return Exchange(host, port, req, "", std::chrono::seconds(10));
}

Result<HttpReply> CallEcs(const std::string& host, uint16_t port, const std::string& operation, const Json& input) {
  http::request<http::string_body> req{http::verb::post, "/", 11};
  req.set(http::field::content_type, "application/x-amz-json-1.1");
  req.set("x-amz-target", "AmazonEC2ContainerServiceV20141113." + operation);
  req.body() = input.dump();
  req.prepare_payload();
  std::string body = req.body();
  return Exchange(host, port, req, body, std::chrono::seconds(30));
}

std::string ApiErrorText(const std::string& body) { return ErrorText(body); }

namespace {

// A 200 answer; anything else is reported on stderr.
bool ReplyOk(const Result<HttpReply>& r) {
  if (!r.ok()) {
    std::fprintf(stderr, "kecs: %s\n", r.status().message().c_str());
    return false;
  }
  if (r->status != 200) {
    std::fprintf(stderr, "kecs: %s\n", ErrorText(r->body).c_str());
    return false;
  }
  return true;
}

}  // namespace

int SetAlarm(const std::string& host, uint16_t port, const std::string& name, const std::string& state) {
  http::request<http::string_body> req{http::verb::post, "/_kecs/v1/alarms", 11};
  req.set(http::field::content_type, "application/json");
  req.body() = Json{{"alarmName", name}, {"state", state}}.dump();
  req.prepare_payload();
  std::string body = req.body();
  return ReplyOk(Exchange(host, port, req, body, std::chrono::seconds(10))) ? 0 : 1;
}

Result<std::string> HttpGet(const std::string& host, uint16_t port, const std::string& path) {
  ASSIGN_OR_RETURN(HttpReply r, HttpGetReply(host, port, path));
  if (r.status != 200) {
    return Unavailable("daemon answered HTTP " + std::to_string(r.status) + ": " + ErrorText(r.body));
  }
  return r.body;
}

int PrintLogs(const std::string& host, uint16_t port, const std::string& task,
              const std::string& container, bool follow) {
  std::string offset = "0";
  while (true) {
    std::string path = "/_kecs/v1/logs?task=" + UriEncode(task) + "&container=" + UriEncode(container) +
                       "&offset=" + offset;
    auto r = HttpGetReply(host, port, path);
    if (!ReplyOk(r)) return 1;
    std::fwrite(r->body.data(), 1, r->body.size(), stdout);
    std::fflush(stdout);
    if (!follow) return 0;
    if (!r->next_offset.empty()) offset = r->next_offset;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int PrintStatus(const std::string& host, uint16_t port) {
  auto body = GetOrReport(host, port, "/health");
  if (!body) return 1;
  auto j = ParseJson(*body);
  std::printf("%s\n", j ? j->dump(2).c_str() : body->c_str());
  return 0;
}

int PrintLoadBalancerCa(const std::string& host, uint16_t port) {
  auto body = GetOrReport(host, port, "/_kecs/v1/elb/ca.pem");
  if (!body) return 1;
  std::fwrite(body->data(), 1, body->size(), stdout);
  return 0;
}

int PrintKubeCoreDns(const std::string& host, uint16_t port) {
  auto body = GetOrReport(host, port, "/_kecs/v1/kubernetes/coredns");
  if (!body) return 1;
  std::fwrite(body->data(), 1, body->size(), stdout);
  return 0;
}

int PrintLoadBalancers(const std::string& host, uint16_t port) {
  auto body = GetOrReport(host, port, "/_kecs/v1/load-balancers");
  if (!body) return 1;
  auto j = ParseJson(*body);
  if (!j || !j->is_object() || !j->contains("loadBalancers") || !(*j)["loadBalancers"].is_array()) {
    std::fprintf(stderr, "kecs: the daemon's answer is not a load balancer list\n");
    return 1;
  }
  // One row per listener (a load balancer without any gets one row), in columns.
  std::vector<std::vector<std::string>> rows = {{"NAME", "TYPE", "STATE", "LISTENER", "PUBLISHED", "DNS NAME"}};
  auto str = [](const Json& o, const char* key) {
    return o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string("-");
  };
  for (const Json& lb : (*j)["loadBalancers"]) {
    if (!lb.is_object()) continue;
    std::vector<std::string> head = {str(lb, "name"), str(lb, "type"), str(lb, "state")};
    const Json listeners = lb.contains("listeners") && lb["listeners"].is_array() ? lb["listeners"] : Json::array();
    if (listeners.empty()) rows.push_back({head[0], head[1], head[2], "-", "-", str(lb, "dnsName")});
    for (const Json& l : listeners) {
      std::string listener = str(l, "protocol") + ":" + (l.contains("port") ? l["port"].dump() : "-");
      int host_port = l.contains("hostPort") && l["hostPort"].is_number_integer() ? l["hostPort"].get<int>() : 0;
      std::string published = host_port > 0 ? str(l, "hostAddress") + ":" + std::to_string(host_port) : "-";
      rows.push_back({head[0], head[1], head[2], listener, published, str(lb, "dnsName")});
    }
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace kecs::daemon
