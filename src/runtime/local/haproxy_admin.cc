#include "runtime/local/haproxy_admin.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "base/strings.h"

namespace kecs::runtime::local::haproxy {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  for (auto& l : Split(text, '\n')) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(std::move(l));
  }
  return out;
}

// Rows of a table HAProxy prints with a "# name name ..." header (fields split by `sep`),
// each as a lookup of its fields by column name.
using FieldOf = std::function<std::string(const char*)>;
void ForEachRow(const std::string& text, char sep, const std::function<void(const FieldOf&, const std::string&)>& fn) {
  std::map<std::string, size_t> col;
  for (const auto& line : SplitLines(text)) {
    if (line.rfind("# ", 0) == 0) {
      auto names = Split(line.substr(2), sep);
      for (size_t i = 0; i < names.size(); ++i) col[names[i]] = i;
      continue;
    }
    if (col.empty() || line.empty()) continue;
    auto f = Split(line, sep);
    fn(
        [&](const char* name) -> std::string {
          auto it = col.find(name);
          return it != col.end() && it->second < f.size() ? f[it->second] : std::string();
        },
        line);
  }
}

}  // namespace

Result<std::string> Command(const std::string& socket_path, const std::string& command,
                            std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return InvalidArgument("socket path too long: " + socket_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return PosixError("socket", errno);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Unavailable(fmt::format("connect {}: {}", socket_path, std::strerror(errno)));
  }
  std::string line = command + "\n";
  for (size_t off = 0; off < line.size();) {
    ssize_t n = send(fd.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(fmt::format("send to {}: {}", socket_path, std::strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Unavailable(fmt::format("{} did not answer in time", socket_path));
    pollfd p{fd.get(), POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return PosixError("poll " + socket_path, errno);
    if (r == 0) continue;
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // The master's CLI resets the connection when it re-executes for `reload`.
      if (errno == ECONNRESET) return out;
      return Unavailable(fmt::format("recv from {}: {}", socket_path, std::strerror(errno)));
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

bool CommandFailed(const std::string& answer) {
  std::string a = ToLower(answer);
  for (const char* needle : {"no such", "unknown", "require", "invalid", "failed", "cannot", "not allowed",
                             "not accepted", "error", "permission denied"}) {
    if (a.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::vector<ServerStateRow> ParseServersState(const std::string& text) {
  std::vector<ServerStateRow> rows;
  ForEachRow(text, ' ', [&](const FieldOf& get, const std::string& line) {
    ServerStateRow r;
    r.backend = get("be_name");
    r.server = get("srv_name");
    r.addr = get("srv_addr");
    r.port = std::atoi(get("srv_port").c_str());
    r.op_state = std::atoi(get("srv_op_state").c_str());
    r.admin_state = std::atoi(get("srv_admin_state").c_str());
    r.line = line;
    if (!r.backend.empty() && !r.server.empty()) rows.push_back(std::move(r));
  });
  return rows;
}

std::map<std::string, ServerStat> ParseStat(const std::string& csv) {
  std::map<std::string, ServerStat> out;
  ForEachRow(csv, ',', [&](const FieldOf& get, const std::string&) {
    ServerStat s;
    s.backend = get("pxname");
    s.server = get("svname");
    if (s.server == "FRONTEND" || s.server == "BACKEND") return;
    s.status = get("status");
    s.check_status = get("check_status");
    if (s.check_status.rfind("* ", 0) == 0) {
      s.check_running = true;
      s.check_status = s.check_status.substr(2);
    }
    s.check_code = get("check_code");
    s.scur = std::atoi(get("scur").c_str());
    s.qcur = std::atoi(get("qcur").c_str());
    out[s.backend + "/" + s.server] = std::move(s);
  });
  return out;
}

bool HasOldWorkers(const std::string& show_proc) {
  bool in_old = false;
  for (const auto& line : SplitLines(show_proc)) {
    std::string_view l = Trim(line);
    if (l.empty()) continue;
    if (l[0] == '#') {
      in_old = l.rfind("# old workers", 0) == 0;
      continue;
    }
    if (in_old && std::isdigit(static_cast<unsigned char>(l[0]))) return true;
  }
  return false;
}

std::string InfoField(const std::string& text, const std::string& name) {
  for (const auto& line : SplitLines(text)) {
    if (line.rfind(name + ":", 0) == 0) return std::string(Trim(line.substr(name.size() + 1)));
  }
  return "";
}

}  // namespace kecs::runtime::local::haproxy
