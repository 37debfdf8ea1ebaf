#include "daemon/config.h"

#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "base/strings.h"

namespace kecs::daemon {

std::map<std::string, std::string> Config::AuthKeyMap() const {
  std::map<std::string, std::string> out;
  if (auth_keys.empty()) return out;
  for (const std::string& pair : Split(auth_keys, ',')) {
    size_t colon = pair.find(':');
    if (colon == std::string::npos) continue;
    out[std::string(Trim(pair.substr(0, colon)))] = std::string(Trim(pair.substr(colon + 1)));
  }
  return out;
}

Status Config::Finalize() {
  if (data_dir.empty()) {
    const char* home = std::getenv("HOME");
    data_dir = std::string(home && *home ? home : "/root") + "/.kecs";
  }
  if (runtime.empty()) runtime = "local";
  if (runtime != "local" && runtime != "simulated" && runtime != "kubernetes") {
    return InvalidArgument("--runtime must be local, simulated or kubernetes, not '" + runtime + "'");
  }
  if (port < 0 || port > 65535) return InvalidArgument("--port must be 0-65535");
  static const std::regex kRegion("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$");
  if (!std::regex_match(region, kRegion)) {
    return InvalidArgument("--region '" + region + "' is not an AWS region name (e.g. us-east-1)");
  }
  static const std::regex kAccount("^[0-9]{12}$");
  if (!std::regex_match(account_id, kAccount)) {
    return InvalidArgument("--account-id must be 12 digits");
  }
  if (log_format != "text" && log_format != "json") {
    return InvalidArgument("--log-format must be text or json");
  }
  if (!auth_keys.empty() && AuthKeyMap().empty()) {
    return InvalidArgument("--auth-keys must look like AKID:SECRET[,AKID2:SECRET2]");
  }
  return Status::Ok();
}

}  // namespace kecs::daemon
