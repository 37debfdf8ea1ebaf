#pragma once
// Daemon configuration: every `kecs start` flag, each with its KECS_* variable.
#include <map>
#include <string>

#include "base/status.h"

namespace kecs::daemon {

struct Config {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string data_dir;       // default: $HOME/.kecs
  std::string runtime;        // default: local on Linux as root
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  std::string log_level;
  std::string log_format = "text";
  bool strict = false;
  // "AKID:SECRET,AKID2:SECRET2": when set, every request must be SigV4-signed by one.
  std::string auth_keys;
  int http_threads = 4;
  bool validate_responses = false;

  std::map<std::string, std::string> AuthKeyMap() const;
  // Checks values and fills the defaults that depend on the host.
  Status Finalize();
};

}  // namespace kecs::daemon
