#pragma once
// The two files through which the daemon and a container's shim share its health check,
// and Docker's rule for a check's verdict. Used by both sides: the daemon (health.h) writes
// <bundle>/health.conf before the container starts and reads <bundle>/health; kecs-shim
// (shim_main.cc) reads health.conf, runs the checks inside the container and writes
// <bundle>/health after each. Standard library only, because the shim links nothing else;
// pure, so unit tests cover the encodings and the rule without root.
//
// Both files are lines of "key value", the value escaped (backslash, newline, carriage
// return as \\, \n, \r) so that any byte string fits on one line; list members repeat
// their key. Unknown keys are skipped, so a newer daemon's file stays readable.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kecs::runtime::local::health {

inline constexpr const char* kConfigFile = "health.conf";
inline constexpr const char* kStateFile = "health";
// Docker keeps the first 4096 bytes of a check's output (daemon/health.go maxOutputLen).
inline constexpr size_t kMaxOutput = 4096;

struct Rlimit {
  int resource = 0;  // RLIMIT_* number
  uint64_t soft = 0;
  uint64_t hard = 0;
  bool operator==(const Rlimit&) const = default;
};

// What the shim needs to run a check as `docker exec` would: the command, the schedule,
// and the container process's identity (from its OCI spec).
struct Config {
  std::vector<std::string> argv;  // resolved: CMD -> the rest; CMD-SHELL -> /bin/sh -c ...
  int64_t interval_ms = 30000;
  int64_t timeout_ms = 5000;
  int64_t start_period_ms = 0;
  int retries = 3;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary
  std::vector<std::string> env;
  std::string cwd = "/";
  // Capability sets as bit masks (bit N = capability N).
  uint64_t cap_bounding = 0, cap_effective = 0, cap_permitted = 0, cap_inheritable = 0, cap_ambient = 0;
  bool no_new_privs = false;
  std::vector<Rlimit> rlimits;
  bool operator==(const Config&) const = default;
};

std::string EncodeConfig(const Config& c);
// nullopt when the text has no command or a number does not parse.
std::optional<Config> DecodeConfig(std::string_view text);

enum class Status { kStarting, kHealthy, kUnhealthy };
std::string_view ToString(Status s);  // Docker's words: "starting", "healthy", "unhealthy"

struct State {
  Status status = Status::kStarting;
  int failing_streak = 0;
  std::optional<int> exit_code;  // the last check's; -1 when it could not run or timed out
  std::string output;            // the last check's stdout and stderr (kMaxOutput at most)
  double changed_at = 0;         // epoch seconds: `status` since
  double checked_at = 0;         // epoch seconds: the last check ended (0: none yet)
  bool operator==(const State&) const = default;
};

std::string EncodeState(const State& s);
std::optional<State> DecodeState(std::string_view text);

// A check's result.
struct Result {
  int exit_code = 0;
  std::string output;
  double started = 0;  // epoch seconds
  double ended = 0;
};

// Docker's rule (daemon/health.go handleProbeResult): exit 0 makes the container healthy
// and resets the failing streak; any other result is a failure, which is not counted while
// the container is still "starting" and the check began within the start period (counted
// from `container_started`); `retries` counted failures in a row make it unhealthy.
void Apply(State& s, const Result& r, double container_started, const Config& c);

// Go's time.Duration text of whole seconds, as Docker prints timeouts: "5s", "1m0s".
std::string GoDuration(int64_t ms);

}  // namespace kecs::runtime::local::health
