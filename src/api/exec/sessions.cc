#include "api/exec/sessions.h"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/ids.h"

namespace kecs::api::exec {
namespace {

std::string Digest(const std::string& token) {
  std::string d(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

}  // namespace

ExecSessions::ExecSessions(std::chrono::seconds ttl, Clock clock)
    : ttl_(ttl), clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

IssuedSession ExecSessions::Issue(ExecTarget target) {
  IssuedSession s;
  // As ECS names its sessions: "ecs-execute-command-" and 17 hex digits.
  s.session_id = "ecs-execute-command-" + RandomHex(17);
  s.token = RandomHex(64);
  auto now = clock_();
  std::lock_guard lock(mu_);
  DropExpired(now);
  while (sessions_.size() >= kMaxPendingSessions) {
    sessions_.erase(std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    }));
  }
  sessions_[s.session_id] = Entry{Digest(s.token), std::move(target), now + ttl_};
  return s;
}

Result<ExecTarget> ExecSessions::Redeem(const std::string& session_id, const std::string& token) {
  std::lock_guard lock(mu_);
  DropExpired(clock_());
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return NotFound("no such execute command session, or it expired or was already used");
  std::string d = Digest(token);
  if (CRYPTO_memcmp(d.data(), it->second.token_digest.data(), d.size()) != 0) {
    return PermissionDenied("the session token is not valid");
  }
  ExecTarget t = std::move(it->second.target);
  sessions_.erase(it);
  return t;
}

size_t ExecSessions::Pending() {
  std::lock_guard lock(mu_);
  DropExpired(clock_());
  return sessions_.size();
}

void ExecSessions::DropExpired(std::chrono::steady_clock::time_point now) {
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second.expires <= now; });
}

Result<std::vector<std::string>> SplitCommand(std::string_view c) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (ch == '\\') {
      if (i + 1 < c.size()) cur += c[++i];
    } else if (ch == '\'') {
      size_t end = c.find('\'', i + 1);
      if (end == std::string_view::npos) return InvalidArgument("the command has an unterminated single quote");
      cur.append(c.substr(i + 1, end - i - 1));
      i = end;
    } else if (ch == '"') {
      size_t j = i + 1;
      for (; j < c.size() && c[j] != '"'; ++j) {
        if (c[j] == '\\' && j + 1 < c.size() && std::string_view("\"\\$`").find(c[j + 1]) != std::string_view::npos) {
          ++j;
        }
        cur += c[j];
      }
      if (j >= c.size()) return InvalidArgument("the command has an unterminated double quote");
      i = j;
    } else {
      cur += ch;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  if (words.empty()) return InvalidArgument("the command is empty");
  return words;
}

}  // namespace kecs::api::exec
