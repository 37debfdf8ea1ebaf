// The exec stream endpoint's limits (stream_server.h), against a stand-in command: a
// process started with pipes whose other ends the test holds, so the test plays the
// command's output and input. No root.
#include "api/exec/stream_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <functional>
#include <future>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "api/exec/message.h"
#include "runtime/simulated/simulated_runtime.h"

extern char** environ;

namespace kecs::api::exec {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// Exec starts `sleep` with stdin and stdout on pipes; the test gets the other ends.
class PipeRuntime : public runtime::SimulatedRuntime {
 public:
  struct Ends {
    int command_output = -1;  // the test writes what the command prints
    int command_input = -1;   // the test reads what the command is sent
  };
  ~PipeRuntime() override { CloseEnds(); }
  // As the command's exit would: the session's reader sees the end of the output.
  void CloseEnds() {
    for (int* fd : {&ends_.command_output, &ends_.command_input}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }
  Result<std::unique_ptr<runtime::ExecProcess>> Exec(const runtime::TaskSpec&, const runtime::ExecSpec&) override {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return Internal("pipe");
    const char* argv[] = {"sleep", "600", nullptr};
    pid_t pid = 0;
    if (posix_spawnp(&pid, "sleep", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return Internal("spawn");
    ends_ = {out[1], in[0]};
    started_.set_value(ends_);
    return std::make_unique<runtime::ExecProcess>(pid, in[1], out[0], false);
  }
  Ends WaitStarted() { return started_.get_future().get(); }

 private:
  std::promise<Ends> started_;
  Ends ends_;
};

ExecTarget Target() {
  ExecTarget t;
  t.task.task_id = "0123456789abcdef0123456789abcdef";
  t.container = "app";
  t.argv = {"sh"};
  return t;
}

class StreamServerTest : public ::testing::Test {
 protected:
  using Ws = websocket::stream<tcp::socket>;

  // A WebSocket client connected to `server_` (for session `id`); nullptr when refused.
  std::unique_ptr<Ws> Connect(const std::string& id) {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    auto ws = std::make_unique<Ws>(ioc_);
    ws->next_layer().connect(acceptor.local_endpoint());
    tcp::socket accepted = acceptor.accept();
    std::string target = std::string(kStreamPath) + id;
    beast::error_code hec;
    std::thread client([&] { ws->handshake("127.0.0.1", target, hec); });
    beast::flat_buffer buf;
    http::request<http::empty_body> breq;
    http::read(accepted, buf, breq);
    HttpRequest req;
    req.method = "GET";
    req.target = std::string(breq.target());
    for (const auto& f : breq) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(name, std::string(f.value()));
    }
    server_.Serve(req, accepted.release());
    client.join();
    if (hec) return nullptr;
    return ws;
  }

  std::unique_ptr<Ws> Open() {
    issued_ = sessions_.Issue(Target());
    auto ws = Connect(issued_.session_id);
    if (!ws) return nullptr;
    ws->text(true);
    ws->write(asio::buffer(Json{{"TokenValue", issued_.token}}.dump()));
    ws->binary(true);
    return ws;
  }

  static ClientMessage Next(Ws& ws) {
    beast::flat_buffer b;
    ws.read(b);
    auto m = Decode(beast::buffers_to_string(b.data()));
    EXPECT_TRUE(m.ok()) << m.status().message();
    return m.ok() ? *m : ClientMessage{};
  }

  // Runs `f`; a session that stalls fails the test instead of hanging it: after 30 seconds
  // the command's pipes are closed (which ends any wait on them) and this answers false.
  bool Within30s(const std::function<void()>& f) {
    auto done = std::async(std::launch::async, f);
    bool ended = done.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    if (!ended) runtime_.CloseEnds();
    done.wait();
    return ended;
  }

  // As the daemon: a write to a pipe nobody reads fails with EPIPE.
  void SetUp() override { signal(SIGPIPE, SIG_IGN); }

  // The handshake, answered: input is applied from then on.
  void Handshake(Ws& ws) {
    ClientMessage hs = Next(ws);
    ASSERT_EQ(hs.payload_type, static_cast<uint32_t>(PayloadType::kHandshakeRequest));
    ws.write(asio::buffer(Encode(StreamData(kInputStreamData, 0, PayloadType::kHandshakeResponse, "{}", 0))));
  }

  void TearDown() override {
    runtime_.CloseEnds();
    server_.Shutdown();
  }

  asio::io_context ioc_;
  PipeRuntime runtime_;
  ExecSessions sessions_;
  StreamServer server_{sessions_, runtime_};
  IssuedSession issued_;
};

TEST_F(StreamServerTest, StopsReadingTheCommandsOutputWhileTheClientReadsNone) {
  auto ws = Open();
  ASSERT_TRUE(ws);
  int out = runtime_.WaitStarted().command_output;
  ASSERT_EQ(fcntl(out, F_SETFL, O_NONBLOCK), 0);
  // The client reads nothing (nor answers the handshake): what the command prints piles up
  // only to kMaxQueuedOutput (and the socket's buffers), then the command blocks writing.
  // Writing stops when kecs has taken nothing for 2 seconds, or at 64 MiB.
  std::string chunk(64 * 1024, 'x');
  size_t written = 0;
  while (written < (64u << 20)) {
    ssize_t n = write(out, chunk.data(), chunk.size());
    if (n > 0) {
      written += static_cast<size_t>(n);
      continue;
    }
    ASSERT_EQ(errno, EAGAIN);
    pollfd p{out, POLLOUT, 0};
    if (poll(&p, 1, 2000) == 0) break;
  }
  EXPECT_LT(written, 16u << 20);
}

TEST_F(StreamServerTest, DropsInputFarAheadOfItsTurnUnacknowledged) {
  auto ws = Open();
  ASSERT_TRUE(ws);
  ClientMessage hs = Next(*ws);
  ASSERT_EQ(hs.payload_type, static_cast<uint32_t>(PayloadType::kHandshakeRequest));
  ws->write(asio::buffer(Encode(StreamData(kInputStreamData, kMaxInputAhead, PayloadType::kOutput, "x", 0))));
  ws->write(asio::buffer(Encode(StreamData(kInputStreamData, 0, PayloadType::kHandshakeResponse, "{}", 0))));
  for (;;) {
    ClientMessage m = Next(*ws);
    if (m.message_type != kAcknowledge) continue;
    auto seq = AcknowledgedSequence(m);
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 0);  // not kMaxInputAhead's
    break;
  }
}

TEST_F(StreamServerTest, InputTheCommandDoesNotReadNeitherStallsTheSessionNorPilesUp) {
  auto ws = Open();
  ASSERT_TRUE(ws);
  int input = runtime_.WaitStarted().command_input;  // never read until the end
  Handshake(*ws);
  // 4 MiB of input, against the pipe's 64 KiB: every message is still acknowledged.
  const std::string chunk(4096, 'i');
  const int64_t n = 1024;
  ASSERT_TRUE(Within30s([&] {
    for (int64_t seq = 1; seq <= n; ++seq) {
      ws->write(asio::buffer(Encode(StreamData(kInputStreamData, seq, PayloadType::kOutput, chunk, 0))));
    }
    for (;;) {
      ClientMessage m = Next(*ws);
      if (m.message_type != kAcknowledge) continue;
      auto seq = AcknowledgedSequence(m);
      if (!seq.ok() || *seq == n) break;
    }
  }));
  // What reaches the command is at most the pipe's content plus kMaxQueuedInput.
  ASSERT_EQ(fcntl(input, F_SETFL, O_NONBLOCK), 0);
  size_t got = 0;
  std::string buf(1 << 16, '\0');
  for (ssize_t r; (r = read(input, buf.data(), buf.size())) > 0;) got += static_cast<size_t>(r);
  EXPECT_GT(got, 0u);
  EXPECT_LE(got, kMaxQueuedInput + (1u << 20));
}

TEST_F(StreamServerTest, ShutdownEndsASessionWhoseCommandKeepsItsOutputOpen) {
  auto ws = Open();
  ASSERT_TRUE(ws);
  runtime_.WaitStarted();
  Handshake(*ws);
  // The command is killed, but the test (as a background process on a terminal would)
  // keeps its output open: the session still ends.
  EXPECT_TRUE(Within30s([&] { server_.Shutdown(); }));
}

TEST_F(StreamServerTest, FailsAMessageLongerThanTheLimit) {
  auto ws = Open();
  ASSERT_TRUE(ws);
  ws->write(asio::buffer(std::string(kMaxMessageBytes + 1, 'x')));
  beast::flat_buffer b;
  beast::error_code ec;
  while (!ec) ws->read(b, ec);
  EXPECT_EQ(ws->reason().code, websocket::close_code::too_big);
}

TEST_F(StreamServerTest, ServesAtMostTheMaximumNumberOfSessionsAtOnce) {
  std::vector<std::unique_ptr<Ws>> open;
  for (int i = 0; i < kMaxSessions; ++i) {
    auto ws = Connect("ecs-execute-command-0123456789abcdef0");
    ASSERT_TRUE(ws) << i;
    open.push_back(std::move(ws));
  }
  EXPECT_EQ(server_.Active(), kMaxSessions);
  EXPECT_FALSE(Connect("ecs-execute-command-0123456789abcdef0"));
}

}  // namespace
}  // namespace kecs::api::exec
