#pragma once
// ECS Exec sessions between ExecuteCommand and the stream endpoint.
//
// ExecuteCommand issues a session: an id, a stream URL naming it, and a token. The client
// opens the stream URL and presents the token in its first message; Redeem trades the pair
// for what to run, once. Tokens are 32 random bytes, kept only as their SHA-256, compared
// in constant time, single use, and expire `ttl` after issue (unredeemed ones are dropped
// then); they are never logged. Thread-safe.
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/runtime.h"

namespace kecs::api::exec {

// What a session runs: the command in one container of a task.
struct ExecTarget {
  runtime::TaskSpec task;
  std::string container;
  std::vector<std::string> argv;
  bool interactive = true;
};

// At most this many sessions wait to be redeemed (ExecuteCommand answers every caller that
// may run it; a session holds its task's spec until it expires): issuing one more drops
// the one issued first. kecs's limit; ECS documents none.
inline constexpr size_t kMaxPendingSessions = 1024;

struct IssuedSession {
  std::string session_id;
  std::string token;
};

class ExecSessions {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit ExecSessions(std::chrono::seconds ttl = std::chrono::seconds(120), Clock clock = nullptr);

  IssuedSession Issue(ExecTarget target);
  // The session's target, removing the session. NotFound for an unknown, expired or
  // already redeemed session; PermissionDenied for a wrong token (the session stays
  // redeemable with the right one until it expires).
  Result<ExecTarget> Redeem(const std::string& session_id, const std::string& token);
  size_t Pending();

 private:
  struct Entry {
    std::string token_digest;
    ExecTarget target;
    std::chrono::steady_clock::time_point expires;
  };
  void DropExpired(std::chrono::steady_clock::time_point now);  // requires mu_

  const std::chrono::seconds ttl_;
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, Entry> sessions_;  // guarded by mu_
};

// Splits ExecuteCommand's `command` into arguments as a POSIX shell splits words, without
// expanding anything: blanks separate words; single quotes keep everything literally;
// double quotes keep everything but \" \\ \$ \` (unescaped); a backslash outside quotes
// escapes the next character. InvalidArgument on an unterminated quote or an empty command.
Result<std::vector<std::string>> SplitCommand(std::string_view command);

}  // namespace kecs::api::exec
