#include "daemon/config.h"

#include <unistd.h>

#include <cstdlib>
#include <cctype>
#include <sstream>
#include <fstream>
#include <regex>
#include <tuple>

#include <fmt/format.h>

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

std::map<std::string, std::string> Config::PairMap(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const std::string& pair : Split(text, ',')) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos) continue;
    out[std::string(Trim(pair.substr(0, eq)))] = std::string(Trim(pair.substr(eq + 1)));
  }
  return out;
}

namespace {

Status ParseRange(const std::string& flag, const std::string& text, int* first, int* last) {
  size_t dash = text.find('-');
  try {
    if (dash == std::string::npos) throw std::invalid_argument("no dash");
    *first = std::stoi(text.substr(0, dash));
    *last = std::stoi(text.substr(dash + 1));
  } catch (const std::exception&) {
    return InvalidArgument(flag + " must look like FIRST-LAST, e.g. 32000-32999");
  }
  if (*first < 1 || *last > 65535 || *first > *last) {
    return InvalidArgument(flag + " must be a range within 1-65535");
  }
  return Status::Ok();
}

}  // namespace

Status Config::Finalize() {
  if (data_dir.empty()) {
    const char* home = std::getenv("HOME");
    data_dir = std::string(home && *home ? home : "/root") + "/.kecs";
  }
  if (runtime.empty()) runtime = "local";
  RETURN_IF_ERROR(ParseRange("--public-port-range", public_port_range, &public_port_first, &public_port_last));
  RETURN_IF_ERROR(ParseRange("--ephemeral-port-range", ephemeral_port_range, &ephemeral_port_first,
                             &ephemeral_port_last));
  RETURN_IF_ERROR(ParseRange("--lb-port-range", lb_port_range, &lb_port_first, &lb_port_last));
  // Listeners and tasks would take the same host ports.
  for (const auto& [flag, first, last] : {std::tuple<const char*, int, int>{"--public-port-range", public_port_first,
                                                                          public_port_last},
                                         {"--ephemeral-port-range", ephemeral_port_first, ephemeral_port_last}}) {
    if (lb_port_first <= last && first <= lb_port_last) {
      return InvalidArgument(fmt::format("--lb-port-range {} overlaps {} {}-{}", lb_port_range, flag, first, last));
    }
  }
  static const std::regex kPrefix("^[a-z][a-z0-9]{0,5}$");
  if (!std::regex_match(name_prefix, kPrefix)) {
    return InvalidArgument("--name-prefix must be 1-6 lowercase letters or digits, starting with a letter");
  }
  if (image_pull_behavior != "once" && image_pull_behavior != "always") {
    return InvalidArgument("--image-pull-behavior must be once or always");
  }
  if (runtime != "local" && runtime != "simulated" && runtime != "kubernetes") {
    return InvalidArgument("--runtime must be local, simulated or kubernetes, not '" + runtime + "'");
  }
  if (port < 0 || port > 65535) return InvalidArgument("--port must be 0-65535");
  if (max_connections < 0) return InvalidArgument("--max-connections must be 0 (automatic) or more");
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
    return InvalidArgument("the auth keys (KECS_AUTH_KEYS or --auth-keys-file) must look like AKID:SECRET[,AKID2:SECRET2]");
  }
  return Status::Ok();
}

Status ReadSecret(const char* env, const std::string& file, std::string* out) {
  if (const char* v = std::getenv(env); v && *v) {
    if (!file.empty()) return InvalidArgument(fmt::format("set {} or {}_FILE, not both", env, env));
    *out = v;
    return Status::Ok();
  }
  if (file.empty()) return Status::Ok();
  std::ifstream in(file, std::ios::binary);
  if (!in) return InvalidArgument(fmt::format("cannot read the secret file {}", file));
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) return InvalidArgument(fmt::format("the secret file {} is empty", file));
  *out = std::move(s);
  return Status::Ok();
}

}  // namespace kecs::daemon
