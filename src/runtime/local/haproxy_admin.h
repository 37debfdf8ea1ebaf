#pragma once
// A client of HAProxy's command sockets (the admin `stats socket` and the master CLI of
// `-S`), and parsers of what they answer (`show servers state`, `show stat`, `show info`).
//
// One command per connection (HAProxy's non-interactive mode: it answers and closes).
// Free functions, thread-safe; a command that HAProxy answers with an error is a result
// (its text), not a Status: callers check the text (CommandFailed).
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace kecs::runtime::local::haproxy {

// Sends `command` (one line; HAProxy runs ";"-separated commands of one line in order)
// and returns the whole answer. Unavailable when the socket cannot be reached or does not
// answer within `timeout`.
Result<std::string> Command(const std::string& socket_path, const std::string& command,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Whether an answer of the runtime API reports an error ("No such server.", "Unknown
// command", "Require 'backend/server'.", ...). Success answers are empty or informative
// ("IP changed from ...").
bool CommandFailed(const std::string& answer);

// One row of `show servers state`.
struct ServerStateRow {
  std::string backend;
  std::string server;
  std::string addr;
  int port = 0;
  int op_state = 0;     // 0 stopped, 1 starting, 2 running, 3 stopping
  int admin_state = 0;  // bits: 0x1 forced maint, 0x2 inherited maint, 0x4 config maint, 0x8 forced drain
  std::string line;     // the row as HAProxy wrote it
};
// The rows of `show servers state` output (the "1" version line and the "#" header are
// not rows). Columns are found by the header's names.
std::vector<ServerStateRow> ParseServersState(const std::string& text);

// One server row of `show stat` (CSV).
struct ServerStat {
  std::string backend;
  std::string server;
  std::string status;        // "UP", "UP 1/3", "DOWN", "DOWN 1/2", "MAINT", "DRAIN", "no check", ...
  std::string check_status;  // "L7OK", "L7STS", "L4CON", "L4TOUT", "INI", ... ("* " removed)
  std::string check_code;    // the HTTP status of the last L7 check ("0" while one runs)
  bool check_running = false;  // a check is in progress ("* " before check_status)
  int scur = 0;              // current sessions (a TCP connection, or an HTTP request in flight)
  int qcur = 0;              // requests queued for the server
};
// Server rows (not FRONTEND/BACKEND) of `show stat` output, by "<backend>/<server>".
std::map<std::string, ServerStat> ParseStat(const std::string& csv);

// Whether the master CLI's `show proc` output lists old workers (those of an earlier
// configuration, still finishing their connections).
bool HasOldWorkers(const std::string& show_proc);

// The value of `Name: value` in `show info` output ("" when absent).
std::string InfoField(const std::string& text, const std::string& name);

}  // namespace kecs::runtime::local::haproxy
