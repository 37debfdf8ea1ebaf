#pragma once
// Builds the OCI runtime spec (config.json) for one container of a task, from the image's
// defaults (umoci's generated config) and the ECS container definition. Pure: no I/O, so
// golden-file tests check it without root. The spec is a typed record (model/oci.h), which
// model::oci::EncodeSpec turns into config.json.
#include <string>
#include <vector>

#include "model/oci.h"
#include "runtime/runtime.h"

namespace kecs::runtime::local {

struct SpecInputs {
  const ContainerSpec* container = nullptr;
  model::oci::Spec image_config;  // umoci's config.json for the image (mounts, env, user)
  std::vector<std::string> image_entrypoint;  // the image's Entrypoint and Cmd, apart
  std::vector<std::string> image_cmd;
  std::string rootfs;           // absolute path of the container's overlay rootfs
  std::string netns_path;       // "" = the host's network namespace (host mode)
  std::string hostname;
  std::string hosts_file;       // bind-mounted at /etc/hosts
  std::string resolv_file;      // bind-mounted at /etc/resolv.conf
  std::string hostname_file;    // bind-mounted at /etc/hostname
  std::string cgroups_path;     // e.g. "kecs/<task>/<container>"
  // The host's hard limits; requested ulimits are clamped to them (no CAP_SYS_RESOURCE).
  std::vector<std::pair<std::string, int64_t>> hard_limits;  // {"RLIMIT_NOFILE", 20000}
  std::vector<std::string> extra_env;  // variables the agent sets (AWS_EXECUTION_ENV)
};

model::oci::Spec BuildOciSpec(const SpecInputs& in);

// The ECS ulimit name ("nofile") as the OCI rlimit type ("RLIMIT_NOFILE").
std::string RlimitType(const std::string& ecs_name);

}  // namespace kecs::runtime::local
