#pragma once
// Container health checks in the local runtime, the daemon's side.
//
// The checks themselves run in the container's shim (kecs-shim), not in the daemon: the
// shim forks each check straight into the container's namespaces and cgroups, as the
// container's user with its capabilities, environment and working directory, which costs a
// fork and an exec instead of a `runc exec` (a Go program) per check. The daemon writes
// what the shim needs to <bundle>/health.conf before the container starts
// (WriteHealthConfig), and reads the shim's verdict from <bundle>/health (ReadHealth).
// The file formats and Docker's rule are in health_files.h. Stateless and thread-safe.
//
// Unlike `runc exec`, a check does not get the container's seccomp filter (a filter cannot
// be copied from another process without stopping it under ptrace); its namespaces, root,
// cgroups, user, groups, capability sets, no_new_privs and rlimits are the container's.
#include <optional>
#include <string>

#include "base/env.h"
#include "base/status.h"
#include "model/oci.h"
#include "runtime/local/health_files.h"
#include "runtime/local/oci_spec.h"
#include "runtime/runtime.h"

namespace kecs::runtime::local {

// The shim's configuration for `check` run as the container's `process`. nullopt when the
// check runs nothing: Docker's NONE, an unknown first word (Docker ignores the check and
// the container stays "starting") or no command after CMD / CMD-SHELL.
std::optional<health::Config> HealthConfigFor(const model::HealthCheck& check, const model::oci::Process& process);

// Writes <bundle>/health.conf for container `c` from the process of <bundle>/config.json,
// or removes it when `c` has no health check; removes the last run's <bundle>/health
// either way. Call after config.json is written and before the container starts. Repeat
// calls rewrite the file. Fails when config.json cannot be read or a file not be written.
Status WriteHealthConfig(Env* env, const std::string& bundle, const ContainerSpec& c);

// Sets state.health, health_exit_code and health_output from <bundle>/health: the shim's
// "starting" is ECS's UNKNOWN (so is a missing or unreadable file); the output is cut to
// 1 KiB, as the runtime contract says.
void ReadHealth(Env* env, const std::string& bundle, ContainerState& state);

}  // namespace kecs::runtime::local
