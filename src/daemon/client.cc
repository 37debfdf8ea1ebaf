#include "daemon/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>

#include "base/json.h"
#include "base/strings.h"

#include <thread>

namespace kecs::daemon {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

Result<HttpReply> HttpGetReply(const std::string& host, uint16_t port, const std::string& path) {
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(host, std::to_string(port)));
    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, host);
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

Result<std::string> HttpGet(const std::string& host, uint16_t port, const std::string& path) {
  ASSIGN_OR_RETURN(HttpReply r, HttpGetReply(host, port, path));
  if (r.status != 200) return Unavailable("daemon answered HTTP " + std::to_string(r.status) + ": " + r.body);
  return r.body;
}

int PrintLogs(const std::string& host, uint16_t port, const std::string& task,
              const std::string& container, bool follow) {
  std::string offset = "0";
  while (true) {
    std::string path = "/_kecs/v1/logs?task=" + UriEncode(task) + "&container=" + UriEncode(container) +
                       "&offset=" + offset;
    auto r = HttpGetReply(host, port, path);
    if (!r.ok()) {
      std::fprintf(stderr, "kecs: %s\n", r.status().message().c_str());
      return 1;
    }
    if (r->status != 200) {
      std::fprintf(stderr, "kecs: %s\n", r->body.c_str());
      return 1;
    }
    std::fwrite(r->body.data(), 1, r->body.size(), stdout);
    std::fflush(stdout);
    if (!follow) return 0;
    if (!r->next_offset.empty()) offset = r->next_offset;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int PrintStatus(const std::string& host, uint16_t port) {
  auto body = HttpGet(host, port, "/health");
  if (!body.ok()) {
    std::fprintf(stderr, "kecs: %s\n", body.status().message().c_str());
    return 1;
  }
  auto j = ParseJson(*body);
  std::printf("%s\n", j ? j->dump(2).c_str() : body->c_str());
  return 0;
}

}  // namespace kecs::daemon
