// `kecs exec`: ExecuteCommand, then the Session Manager data channel (api/exec/message.h)
// over the returned stream URL, as the session-manager-plugin speaks it: the token first,
// the handshake answered, every stream message acknowledged. With a terminal on stdin it
// is put in raw mode and its size sent; the command's exit code is kecs's addition to the
// channel_closed message.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <regex>
#include <thread>

#include "api/exec/message.h"
#include "base/ids.h"
#include "daemon/client.h"

namespace kecs::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using api::exec::ClientMessage;
using api::exec::PayloadType;

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Puts the terminal on stdin in raw mode for the session's length.
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    cfmakeraw(&raw);
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

class Channel {
 public:
  explicit Channel(websocket::stream<asio::ip::tcp::socket>& ws) : ws_(ws) {}

  void SendInput(PayloadType type, std::string payload) {
    std::lock_guard lock(mu_);
    Write(api::exec::Encode(api::exec::StreamData(api::exec::kInputStreamData, seq_++, type, std::move(payload), NowMs())));
  }
  void Ack(const ClientMessage& m) {
    std::lock_guard lock(mu_);
    Write(api::exec::Encode(api::exec::AcknowledgementOf(m, NowMs())));
  }
  void Text(const std::string& s) {
    std::lock_guard lock(mu_);
    ws_.text(true);
    beast::error_code ec;
    ws_.write(asio::buffer(s), ec);
  }

 private:
  void Write(const std::string& frame) {  // requires mu_
    ws_.binary(true);
    beast::error_code ec;
    ws_.write(asio::buffer(frame), ec);
  }

  websocket::stream<asio::ip::tcp::socket>& ws_;
  std::mutex mu_;
  int64_t seq_ = 0;  // guarded by mu_
};

std::string SizeJson() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return "";
  return Json{{"cols", ws.ws_col}, {"rows", ws.ws_row}}.dump();
}

int Stream(const std::string& url, const std::string& session_id, const std::string& token) {
  static const std::regex kUrl(R"(^ws://([^/:]+|\[[^\]]+\]):(\d+)(/.*)$)");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    std::fprintf(stderr, "kecs: unexpected stream URL %s\n", url.c_str());
    return 1;
  }
  std::string host = m[1], port = m[2], path = m[3];
  asio::io_context ioc;
  websocket::stream<asio::ip::tcp::socket> ws(ioc);
  beast::error_code ec;
  asio::ip::tcp::resolver resolver(ioc);
  auto addrs = resolver.resolve(host, port, ec);
  if (!ec) asio::connect(ws.next_layer(), addrs, ec);
  if (!ec) ws.handshake(host + ":" + port, path, ec);
  if (ec) {
    std::fprintf(stderr, "kecs: cannot open the session stream %s: %s\n", url.c_str(), ec.message().c_str());
    return 1;
  }
  Channel ch(ws);
  // OpenDataChannelInput (the plugin's service.OpenDataChannelInput).
  ch.Text(Json{{"MessageSchemaVersion", "1.0"},
               {"RequestId", Uuid4()},
               {"TokenValue", token},
               {"ClientId", Uuid4()},
               {"ClientVersion", "kecs"}}
              .dump());
  std::optional<RawTerminal> raw;
  if (isatty(STDIN_FILENO)) raw.emplace();
  std::atomic<bool> done{false};
  std::thread input;
  int64_t expected = 0;
  std::optional<int> exit_code;
  std::string closing_output;
  for (;;) {
    beast::flat_buffer buf;
    ws.read(buf, ec);
    if (ec) break;
    auto msg = api::exec::Decode(beast::buffers_to_string(buf.data()));
    if (!msg.ok()) continue;
    if (msg->message_type == api::exec::kChannelClosed) {
      Json j = Json::parse(msg->payload, nullptr, false);
      if (j.is_object()) {
        if (j.contains("ExitCode") && j["ExitCode"].is_number_integer()) exit_code = j["ExitCode"].get<int>();
        closing_output = JStr(j, "Output");
      }
      break;
    }
    if (msg->message_type != api::exec::kOutputStreamData) continue;
    ch.Ack(*msg);
    if (msg->sequence_number != expected) continue;  // in order over one TCP stream; a resend
    ++expected;
    switch (static_cast<PayloadType>(msg->payload_type)) {
      case PayloadType::kHandshakeRequest:
        ch.SendInput(PayloadType::kHandshakeResponse,
                     Json{{"ClientVersion", "kecs"},
                          {"ProcessedClientActions",
                           Json::array({{{"ActionType", "SessionType"}, {"ActionStatus", 1}}})},
                          {"Errors", Json::array()}}
                         .dump());
        break;
      case PayloadType::kHandshakeComplete:
        if (raw) {
          if (std::string size = SizeJson(); !size.empty()) ch.SendInput(PayloadType::kSize, size);
        }
        // Input goes once the session runs: the terminal's keys, or stdin's bytes.
        input = std::thread([&ch, &done] {
          char b[4096];
          while (!done) {
            ssize_t n = read(STDIN_FILENO, b, sizeof b);
            if (n <= 0) break;
            ch.SendInput(PayloadType::kOutput, std::string(b, static_cast<size_t>(n)));
          }
        });
        break;
      case PayloadType::kOutput:
      case PayloadType::kStdErr:
        (void)!write(STDOUT_FILENO, msg->payload.data(), msg->payload.size());
        break;
      default:
        break;
    }
  }
  done = true;
  ws.close(websocket::close_code::normal, ec);
  raw.reset();
  // The input thread may sit in read(2) on a terminal: it is left to the process's exit.
  if (input.joinable()) input.detach();
  if (!closing_output.empty()) std::fprintf(stderr, "kecs: session %s: %s\n", session_id.c_str(), closing_output.c_str());
  if (!exit_code) {
    if (closing_output.empty()) std::fprintf(stderr, "kecs: session %s ended without an exit code\n", session_id.c_str());
    return 1;
  }
  return *exit_code;
}

// The command as one ExecuteCommand string: each word single-quoted when it needs it.
std::string Quote(const std::vector<std::string>& words) {
  static const std::regex kPlain(R"(^[A-Za-z0-9_./:=@%+,-]+$)");
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    if (std::regex_match(w, kPlain)) {
      out += w;
      continue;
    }
    out += '\'';
    for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace

int RunExec(const std::string& host, uint16_t port, const std::string& cluster, const std::string& task,
            const std::string& container, const std::vector<std::string>& command) {
  Json in = {{"task", task}, {"command", Quote(command)}, {"interactive", true}};
  if (!cluster.empty()) in["cluster"] = cluster;
  if (!container.empty()) in["container"] = container;
  auto r = CallEcs(host, port, "ExecuteCommand", in);
  if (!r.ok()) {
    std::fprintf(stderr, "kecs: %s\n", r.status().message().c_str());
    return 1;
  }
  if (r->status != 200) {
    std::fprintf(stderr, "kecs: %s\n", ApiErrorText(r->body).c_str());
    return 1;
  }
  Json out = Json::parse(r->body, nullptr, false);
  const Json* session = out.is_object() ? JGet(out, "session") : nullptr;
  if (!session || !session->is_object()) {
    std::fprintf(stderr, "kecs: ExecuteCommand answered without a session\n");
    return 1;
  }
  return Stream(JStr(*session, "streamUrl"), JStr(*session, "sessionId"), JStr(*session, "tokenValue"));
}

}  // namespace kecs::daemon
