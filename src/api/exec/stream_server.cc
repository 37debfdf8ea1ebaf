#include "api/exec/stream_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>

#include <fmt/format.h>

#include "api/exec/message.h"
#include "api/http/handover.h"
#include "base/json.h"
#include "base/log.h"

namespace kecs::api::exec {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string SessionIdOf(const HttpRequest& req) {
  std::string_view path = req.Path();
  if (!path.starts_with(kStreamPath)) return "";
  std::string_view id = path.substr(kStreamPath.size());
  if (id.empty() || id.size() > 64 || id.find('/') != std::string_view::npos) return "";
  return std::string(id);
}

}  // namespace

struct StreamServer::Conn : std::enable_shared_from_this<StreamServer::Conn> {
  Conn(ExecSessions& s, runtime::Runtime& r, std::string id) : sessions(s), runtime(r), session_id(std::move(id)) {}

  ExecSessions& sessions;
  runtime::Runtime& runtime;
  const std::string session_id;
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  asio::steady_timer token_timer{ioc};
  beast::flat_buffer buffer;
  std::thread thread;
  std::atomic<bool> finished{false};

  // The rest is touched only on the session's thread (inside ioc.run()).
  enum class Phase { kToken, kHandshake, kRunning, kClosing } phase = Phase::kToken;
  std::deque<std::pair<std::string, size_t>> outbox;  // frame, output bytes it carries
  bool writing = false;
  bool close_after_writes = false;
  bool aborted = false;
  int64_t out_seq = 0;
  int64_t in_expected = 0;
  std::map<int64_t, ClientMessage> in_early;  // input received ahead of its turn
  std::vector<std::string> held_output;       // output before the handshake completes
  std::unique_ptr<runtime::ExecProcess> proc;
  std::thread reader;

  // Flow control of the command's output (kMaxQueuedOutput), shared with the reader thread.
  std::mutex flow_mu;
  std::condition_variable flow_cv;
  size_t queued_output = 0;   // guarded by flow_mu: read from the command, not yet written out
  bool flow_stopped = false;  // guarded by flow_mu: the reader stops

  void Release(size_t bytes) {
    if (bytes == 0) return;
    std::lock_guard lock(flow_mu);
    queued_output -= bytes;
    flow_cv.notify_all();
  }
  void StopFlow() {
    std::lock_guard lock(flow_mu);
    flow_stopped = true;
    flow_cv.notify_all();
  }

  // The client's input for the command (kMaxQueuedInput), written by the writer thread.
  std::thread writer;
  std::mutex in_mu;
  std::condition_variable in_cv;
  std::deque<std::string> in_queue;  // guarded by in_mu
  size_t in_queued = 0;              // guarded by in_mu: bytes in in_queue and being written
  bool in_stopped = false;           // guarded by in_mu
  bool in_dropping = false;          // session thread only: input is being dropped

  void QueueInput(const std::string& data) {
    std::lock_guard lock(in_mu);
    if (in_stopped) return;
    if (in_queued + data.size() > kMaxQueuedInput) {
      if (!in_dropping) KLOG_WARN("exec session {}: the command reads no input: input dropped", session_id);
      in_dropping = true;
      return;
    }
    in_dropping = false;
    in_queued += data.size();
    in_queue.push_back(data);
    in_cv.notify_all();
  }
  void StopInput() {
    std::lock_guard lock(in_mu);
    in_stopped = true;
    in_cv.notify_all();
  }
  void WriteInput(runtime::ExecProcess* p) {
    for (;;) {
      std::string data;
      {
        std::unique_lock lock(in_mu);
        in_cv.wait(lock, [&] { return in_stopped || !in_queue.empty(); });
        if (in_stopped) return;
        data = std::move(in_queue.front());
        in_queue.pop_front();
      }
      (void)p->Write(data);  // fails only once the command is gone or the session ends
      std::lock_guard lock(in_mu);
      in_queued -= data.size();
    }
  }

  void Run(http::request<http::empty_body> req) {
    beast::error_code ec;
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "kecs"); }));
    ws.binary(true);
    ws.read_message_max(kMaxMessageBytes);
    ws.accept(req, ec);
    if (ec) {
      KLOG_WARN("exec session {}: WebSocket upgrade failed: {}", session_id, ec.message());
    } else {
      token_timer.expires_after(kTokenWait);
      token_timer.async_wait([self = shared_from_this()](beast::error_code tec) {
        if (!tec && self->phase == Phase::kToken) {
          KLOG_WARN("exec session {}: no token within {}s", self->session_id, kTokenWait.count());
          self->Abort();
        }
      });
      Read();
      ioc.run();
    }
    if (proc) {
      proc->Kill();
      // Ends the reader and writer even when the terminal stays open (a background
      // process of the command's holds it) or the command never reads its input.
      proc->Interrupt();
    }
    StopFlow();
    StopInput();
    if (reader.joinable()) reader.join();
    if (writer.joinable()) writer.join();
    proc.reset();
    finished = true;
  }

  void Read() {
    ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      // The client went away (or closed): the command goes with it.
      if (proc) proc->Kill();
      if (!aborted && phase != Phase::kClosing) {
        KLOG_INFO("exec session {}: client disconnected: {}", session_id, ec.message());
      }
      Abort();
      return;
    }
    std::string frame = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    bool text = ws.got_text();
    if (phase == Phase::kToken) {
      OnToken(frame, text);
    } else if (!text) {
      OnMessage(frame);
    }
    if (!aborted) Read();
  }

  void OnToken(const std::string& frame, bool text) {
    Json in = text ? Json::parse(frame, nullptr, false) : Json();
    std::string token = in.is_object() ? JStr(in, "TokenValue") : "";
    auto target = sessions.Redeem(session_id, token);
    if (!target.ok()) {
      KLOG_WARN("exec session {}: refused: {}", session_id, target.status().message());
      CloseWith(websocket::close_code::policy_error, "the session token is not valid");
      return;
    }
    token_timer.cancel();
    runtime::ExecSpec spec;
    spec.container = target->container;
    spec.argv = target->argv;
    spec.tty = true;
    auto p = runtime.Exec(target->task, spec);
    if (!p.ok()) {
      KLOG_WARN("exec session {}: {}", session_id, p.status().message());
      SendClosed(p.status().message(), std::nullopt);
      return;
    }
    proc = std::move(*p);
    KLOG_INFO("exec session {}: started in container {} of task {}", session_id, spec.container,
              target->task.task_id);
    phase = Phase::kHandshake;
    // The plugin's session types: "InteractiveCommands" drives the terminal as a shell does.
    // The plugin compares the agent's version with the versions features arrived in (its
    // config.go: the TerminateSession flag after 2.3.722.0): kecs answers as an SSM agent
    // 3.0 would, which has what kecs serves.
    Json req = {{"AgentVersion", "3.0.0.0"},
                {"RequestedClientActions",
                 Json::array({{{"ActionType", "SessionType"},
                               {"ActionParameters", {{"SessionType", "InteractiveCommands"}, {"Properties", Json::object()}}}}})}};
    SendStream(PayloadType::kHandshakeRequest, req.dump());
    writer = std::thread([self = shared_from_this(), p = proc.get()] { self->WriteInput(p); });
    reader = std::thread([self = shared_from_this(), p = proc.get()] {
      for (;;) {
        {
          std::unique_lock lock(self->flow_mu);
          self->flow_cv.wait(lock, [&] { return self->flow_stopped || self->queued_output < kMaxQueuedOutput; });
          if (self->flow_stopped) break;
        }
        auto out = p->Read();
        if (!out.ok() || out->empty()) break;
        {
          std::lock_guard lock(self->flow_mu);
          self->queued_output += out->size();
        }
        asio::post(self->ioc, [self, data = std::move(*out)]() mutable { self->OnOutput(std::move(data)); });
      }
      auto code = p->Wait();
      std::optional<int> exit = code.ok() ? std::optional<int>(*code) : std::nullopt;
      asio::post(self->ioc, [self, exit] { self->OnExit(exit); });
    });
  }

  void OnMessage(const std::string& frame) {
    auto m = Decode(frame);
    if (!m.ok()) {
      KLOG_WARN("exec session {}: dropped a malformed message: {}", session_id, m.status().message());
      return;
    }
    if (m->message_type == kAcknowledge) return;  // nothing is retransmitted over TCP
    if (m->message_type != kInputStreamData) return;
    if (m->sequence_number >= in_expected + kMaxInputAhead) {  // bounds in_early
      KLOG_WARN("exec session {}: dropped input {} messages ahead of its turn", session_id,
                m->sequence_number - in_expected);
      return;
    }
    if (m->sequence_number < in_expected) {  // a retransmission: acknowledged again, not applied
      Send(Encode(AcknowledgementOf(*m, NowMs())));
      return;
    }
    Send(Encode(AcknowledgementOf(*m, NowMs())));
    in_early.emplace(m->sequence_number, std::move(*m));
    for (auto it = in_early.find(in_expected); it != in_early.end(); it = in_early.find(in_expected)) {
      Apply(it->second);
      in_early.erase(it);
      ++in_expected;
    }
  }

  void Apply(const ClientMessage& m) {
    switch (static_cast<PayloadType>(m.payload_type)) {
      case PayloadType::kHandshakeResponse:
        if (phase == Phase::kHandshake) {
          phase = Phase::kRunning;
          SendStream(PayloadType::kHandshakeComplete,
                     Json{{"HandshakeTimeToComplete", 0}, {"CustomerMessage", ""}}.dump());
          FlushHeldOutput();
        }
        break;
      case PayloadType::kOutput:
        if (proc) QueueInput(m.payload);  // the command may not read it: never blocks here
        break;
      case PayloadType::kSize: {
        Json size = Json::parse(m.payload, nullptr, false);
        if (proc && size.is_object()) {
          auto dim = [&](const char* k) {
            return size.contains(k) && size[k].is_number_unsigned() ? size[k].get<uint32_t>() : 0u;
          };
          uint32_t cols = dim("cols"), rows = dim("rows");
          if (cols > 0 && rows > 0 && cols <= 0xffff && rows <= 0xffff) {
            (void)proc->Resize(static_cast<uint16_t>(cols), static_cast<uint16_t>(rows));
          }
        }
        break;
      }
      case PayloadType::kFlag:
        if (m.payload.size() == 4 && proc) {
          uint32_t flag = 0;
          for (char c : m.payload) flag = flag << 8 | static_cast<uint8_t>(c);
          if (flag == kFlagTerminateSession) proc->Kill();
        }
        break;
      default:
        break;
    }
  }

  void OnOutput(std::string data) {
    if (phase == Phase::kHandshake) {
      held_output.push_back(std::move(data));
      return;
    }
    size_t n = data.size();
    if (phase == Phase::kRunning) {
      SendStream(PayloadType::kOutput, std::move(data), n);
    } else {
      Release(n);
    }
  }

  void FlushHeldOutput() {
    for (auto& o : held_output) {
      size_t n = o.size();
      SendStream(PayloadType::kOutput, std::move(o), n);
    }
    held_output.clear();
  }

  void OnExit(std::optional<int> code) {
    if (phase == Phase::kClosing || aborted) return;
    FlushHeldOutput();
    KLOG_INFO("exec session {}: command exited with {}", session_id, code ? std::to_string(*code) : "an unknown code");
    SendClosed("", code);
  }

  // channel_closed (message.ChannelClosed's members), then a normal close.
  void SendClosed(const std::string& output, std::optional<int> code) {
    ClientMessage m;
    m.message_type = std::string(kChannelClosed);
    m.created_date = NowMs();
    m.message_id = NewMessageId();
    m.sequence_number = out_seq;
    Json j = {{"MessageId", MessageIdString(m.message_id)},
              {"CreatedDate", std::to_string(m.created_date)},
              {"DestinationId", ""},
              {"SessionId", session_id},
              {"MessageType", std::string(kChannelClosed)},
              {"SchemaVersion", 1},
              {"Output", output}};
    if (code) j["ExitCode"] = *code;
    m.payload = j.dump();
    Send(Encode(m));
    phase = Phase::kClosing;
    CloseWith(websocket::close_code::normal, "");
  }

  // `credit`: the bytes of the command's output the message carries (Release'd once sent).
  void SendStream(PayloadType type, std::string payload, size_t credit = 0) {
    Send(Encode(StreamData(kOutputStreamData, out_seq++, type, std::move(payload), NowMs())), credit);
  }

  void Send(std::string frame, size_t credit = 0) {
    if (aborted || close_after_writes) {
      Release(credit);
      return;
    }
    outbox.emplace_back(std::move(frame), credit);
    if (!writing) WriteNext();
  }

  void WriteNext() {
    if (outbox.empty()) {
      writing = false;
      if (close_after_writes && !aborted) {
        ws.async_close(close_reason, [self = shared_from_this()](beast::error_code) { self->Abort(); });
      }
      return;
    }
    writing = true;
    ws.binary(true);
    ws.async_write(asio::buffer(outbox.front().first), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->Release(self->outbox.front().second);
      self->outbox.pop_front();
      if (ec) {
        self->Abort();
        return;
      }
      self->WriteNext();
    });
  }

  websocket::close_reason close_reason;
  void CloseWith(websocket::close_code code, const std::string& why) {
    phase = Phase::kClosing;
    close_reason = websocket::close_reason(code, why);
    close_after_writes = true;
    if (!writing) WriteNext();
  }

  // Ends the connection at once; the session's thread then finishes.
  void Abort() {
    if (aborted) return;
    aborted = true;
    token_timer.cancel();
    StopFlow();
    if (proc) proc->Kill();
    beast::error_code ec;
    beast::get_lowest_layer(ws).shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws).close(ec);
  }
};

StreamServer::StreamServer(ExecSessions& sessions, runtime::Runtime& runtime)
    : sessions_(sessions), runtime_(runtime), conns_(std::make_unique<HandedOver<Conn>>()) {}

StreamServer::~StreamServer() { Shutdown(); }

bool StreamServer::Wants(const HttpRequest& req) { return req.method == "GET" && !SessionIdOf(req).empty(); }

void StreamServer::Serve(HttpRequest req, int fd) {
  std::string id = SessionIdOf(req);
  if (id.empty()) {
    ::close(fd);
    return;
  }
  Status st = conns_->Launch(fd, req, kMaxSessions, {kKeepAliveIdle, kKeepAliveInterval, kKeepAliveProbes},
                             [&] { return std::make_shared<Conn>(sessions_, runtime_, id); });
  if (st.code() == Code::kResourceExhausted) {
    KLOG_WARN("exec session {}: refused: {} sessions are being served already", id, kMaxSessions);
  } else if (st.code() == Code::kInternal) {
    KLOG_WARN("exec session {}: {}", id, st.message());
  }
}

void StreamServer::Shutdown() {
  auto conns = conns_->Stop();
  for (auto& c : conns) asio::post(c->ioc, [c] { c->Abort(); });
  for (auto& c : conns) {
    if (c->thread.joinable()) c->thread.join();
  }
}

int StreamServer::Active() { return conns_->Active(); }

}  // namespace kecs::api::exec
