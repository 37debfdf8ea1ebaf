#include "daemon/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>

#include "base/json.h"

namespace kecs::daemon {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

Result<std::string> HttpGet(const std::string& host, uint16_t port, const std::string& path) {
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
    if (res.result_int() != 200) {
      return Unavailable("daemon answered HTTP " + std::to_string(res.result_int()));
    }
    return res.body();
  } catch (const std::exception& e) {
    return Unavailable(std::string("no kecs daemon at ") + host + ":" + std::to_string(port) +
                       " (" + e.what() + ")");
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
