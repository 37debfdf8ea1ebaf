#pragma once
// ECS Exec's stream endpoint: the Session Manager data channel (message.h) over a
// WebSocket at ws://HOST:PORT/_kecs/v1/exec/<sessionId>, the streamUrl ExecuteCommand
// returns, served on the API's own port (HttpServer hands the upgraded connection over).
//
// A session, as the session-manager-plugin drives it (src/datachannel/streaming.go):
//   1. the client sends a text frame, OpenDataChannelInput JSON, whose TokenValue must
//      redeem the session (sessions.h) within kTokenWait; otherwise the connection closes
//      with a policy-violation close frame;
//   2. kecs starts the command (Runtime::Exec, on a terminal) and sends a HandshakeRequest
//      (session type InteractiveCommands), waits for the HandshakeResponse, then sends
//      HandshakeComplete;
//   3. the command's output goes out as output_stream_data (payload type Output) with
//      sequence numbers from 0 (the handshake messages count); the client's
//      input_stream_data is acknowledged and applied in sequence order: Output bytes to the
//      terminal, Size {"cols","rows"} to its size, Flag TerminateSession kills the command;
//   4. when the command exits kecs sends channel_closed, whose JSON carries, besides the
//      plugin's members, "ExitCode" (kecs's addition, ignored by the plugin), and closes.
// A client that goes away kills the command. The stream runs over TCP, so kecs does not
// retransmit unacknowledged messages; acknowledgements it receives are accepted and
// dropped. Tokens are never logged.
//
// Thread-safety: Serve may be called from any thread; each session runs on its own thread.
// Shutdown ends every session (killing its command) and waits for them.
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/exec/sessions.h"
#include "api/http/server.h"
#include "runtime/runtime.h"

namespace kecs::api {
template <typename Conn>
class HandedOver;  // api/http/handover.h
}  // namespace kecs::api

namespace kecs::api::exec {

inline constexpr std::string_view kStreamPath = "/_kecs/v1/exec/";
inline constexpr std::chrono::seconds kTokenWait{30};

// Resource limits (kecs's own: Session Manager documents none for the data channel).
// - A message longer than kMaxMessageBytes fails the connection (close code 1009): the
//   plugin sends at most 1 KiB of input a message (StreamDataPayloadSize), kecs exec 4 KiB.
// - At most kMaxSessions connections are served at once; more are answered 503.
// - Input more than kMaxInputAhead messages ahead of its turn is dropped unacknowledged
//   (the plugin sends in order; it would resend what is not acknowledged).
// - While kMaxQueuedOutput bytes of the command's output wait for the client (one that
//   reads slowly, or not at all, or has not finished the handshake), kecs stops reading the
//   output: the command blocks writing, as on a slow terminal.
// - The client's input is written to the command on a thread of its own; while
//   kMaxQueuedInput bytes wait for a command that does not read them, more input is
//   dropped, as a terminal discards what is typed into its full input buffer.
// - A client whose host is gone is found by TCP keepalive (kKeepAliveIdle, then probes
//   every kKeepAliveInterval, kKeepAliveProbes of them), with no WebSocket frame a client
//   must answer (an idle shell stays open). (Beast's close-handshake timeout is not set:
//   with it, a session whose client left without answering the close lingered its 30 s.)
inline constexpr size_t kMaxMessageBytes = 64 * 1024;
inline constexpr int kMaxSessions = 64;
inline constexpr int64_t kMaxInputAhead = 64;
inline constexpr size_t kMaxQueuedOutput = 1 << 20;
inline constexpr size_t kMaxQueuedInput = 1 << 20;
inline constexpr int kKeepAliveIdle = 60, kKeepAliveInterval = 10, kKeepAliveProbes = 6;  // seconds, count

class StreamServer {
 public:
  StreamServer(ExecSessions& sessions, runtime::Runtime& runtime);
  ~StreamServer();

  // Whether `req` names a session of this server (HttpServer::Options::upgrade_wanted).
  static bool Wants(const HttpRequest& req);
  // Answers the upgrade on `fd` (owned from now on) and serves the session on a new thread.
  void Serve(HttpRequest req, int fd);
  // Ends every session and waits for their threads. Idempotent; Serve refuses afterwards.
  void Shutdown();
  // Sessions being served right now.
  int Active();

  struct Conn;  // one session's connection (stream_server.cc)

 private:
  ExecSessions& sessions_;
  runtime::Runtime& runtime_;
  std::unique_ptr<HandedOver<Conn>> conns_;
};

}  // namespace kecs::api::exec
