#include "runtime/local/health.h"

#include <sys/resource.h>

#include <filesystem>

namespace kecs::runtime::local {
namespace fs = std::filesystem;
namespace {

// The contract's limit on ContainerState::health_output.
constexpr size_t kReportedOutput = 1024;

uint64_t CapMask(const std::optional<std::vector<std::string>>& names) {
  uint64_t mask = 0;
  if (!names) return mask;
  for (const auto& n : *names) {
    int bit = CapabilityNumber(n);
    if (bit >= 0) mask |= uint64_t{1} << bit;
  }
  return mask;
}

int RlimitNumber(std::string_view type) {
  static const std::pair<std::string_view, int> kLimits[] = {
      {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_STACK", RLIMIT_STACK},
      {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
      {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
  };
  for (const auto& [name, n] : kLimits) {
    if (name == type) return n;
  }
  return -1;
}

// At most `max` bytes of `s`, not ending inside a UTF-8 sequence.
std::string CutUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace

std::optional<health::Config> HealthConfigFor(const model::HealthCheck& check, const model::oci::Process& process) {
  if (check.command.size() < 2) return std::nullopt;
  health::Config c;
  const std::string& kind = check.command[0];
  if (kind == "CMD") {
    c.argv.assign(check.command.begin() + 1, check.command.end());
  } else if (kind == "CMD-SHELL") {
    // Docker: the default shell ["/bin/sh", "-c"] followed by the rest (daemon/health.go).
    c.argv = {"/bin/sh", "-c"};
    c.argv.insert(c.argv.end(), check.command.begin() + 1, check.command.end());
  } else {
    return std::nullopt;
  }
  c.interval_ms = int64_t{check.interval_s} * 1000;
  c.timeout_ms = int64_t{check.timeout_s} * 1000;
  c.start_period_ms = int64_t{check.start_period_s} * 1000;
  c.retries = check.retries;
  if (process.user) {
    c.uid = static_cast<uint32_t>(process.user->uid);
    c.gid = static_cast<uint32_t>(process.user->gid);
    for (int64_t g : process.user->additional_gids) c.groups.push_back(static_cast<uint32_t>(g));
  }
  c.env = process.env;
  c.cwd = process.cwd.empty() ? "/" : process.cwd;
  const auto& caps = process.capabilities;
  c.cap_bounding = CapMask(caps.bounding);
  c.cap_effective = CapMask(caps.effective);
  c.cap_permitted = CapMask(caps.permitted);
  c.cap_inheritable = CapMask(caps.inheritable);
  c.cap_ambient = CapMask(caps.ambient);
  c.no_new_privs = process.no_new_privileges;
  for (const auto& r : process.rlimits) {
    int n = RlimitNumber(r.type);
    if (n >= 0) c.rlimits.push_back({n, static_cast<uint64_t>(r.soft), static_cast<uint64_t>(r.hard)});
  }
  return c;
}

Status WriteHealthConfig(Env* env, const std::string& bundle, const ContainerSpec& c) {
  fs::path b(bundle);
  RETURN_IF_ERROR(env->RemoveFile(b / health::kStateFile));
  std::optional<health::Config> config;
  if (c.health_check) {
    ASSIGN_OR_RETURN(std::string text, env->ReadFile(b / "config.json"));
    ASSIGN_OR_RETURN(model::oci::Spec spec, model::oci::DecodeSpec(text));
    config = HealthConfigFor(*c.health_check, spec.process.value_or(model::oci::Process{}));
  }
  if (!config) return env->RemoveFile(b / health::kConfigFile);
  // The environment may hold secrets: readable by root only, as config.json is by runc.
  return env->WriteFileAtomic(b / health::kConfigFile, health::EncodeConfig(*config), 0600);
}

void ReadHealth(Env* env, const std::string& bundle, ContainerState& state) {
  state.health = model::HealthStatus::kUnknown;
  state.health_exit_code.reset();
  state.health_output.clear();
  auto text = env->ReadFile((fs::path(bundle) / health::kStateFile).string());
  if (!text.ok()) return;
  auto s = health::DecodeState(*text);
  if (!s) return;
  switch (s->status) {
    case health::Status::kStarting: state.health = model::HealthStatus::kUnknown; break;
    case health::Status::kHealthy: state.health = model::HealthStatus::kHealthy; break;
    case health::Status::kUnhealthy: state.health = model::HealthStatus::kUnhealthy; break;
  }
  state.health_exit_code = s->exit_code;
  state.health_output = CutUtf8(s->output, kReportedOutput);
}

}  // namespace kecs::runtime::local
