#pragma once
// Builds the OCI runtime spec (config.json) for one container of a task, from the image's
// defaults (umoci's generated config) and the ECS container definition. Pure: no I/O, so
// golden-file tests check it without root. The spec is a typed record (model/oci.h), which
// model::oci::EncodeSpec turns into config.json.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/oci.h"
#include "runtime/runtime.h"

namespace kecs::runtime::local {

// A device of linuxParameters.devices, looked up on the host: the node runc makes in the
// container (its path there, type and numbers) and the cgroup access the container gets.
struct ContainerDevice {
  model::oci::LinuxDevice node;
  std::string access = "rwm";  // "r", "w", "m" in that order: AWS's read, write, mknod
};

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

  // Volumes and Linux settings (issue 12).
  // The container's volumes (its mountPoints and what volumesFrom copies), resolved to
  // host directories by volumes.h, in mount order (parents first).
  std::vector<model::oci::Mount> volume_mounts;
  // initProcessEnabled: the init's host path (Debian's tini-static), bind-mounted read-only
  // at /sbin/docker-init as Docker's --init does. "" = initProcessEnabled cannot be met
  // (CheckContainerSettings says so before a spec is built).
  std::string init_path;
  // Docker's default seccomp profile; nullptr = no filter. Privileged containers get none.
  const model::oci::SeccompProfile* seccomp_profile = nullptr;
  std::string go_arch = "amd64";  // the profile's conditions: architecture and kernel
  std::string kernel_release;
  // The task's pidMode and ipcMode: "" (the container's own namespace), "host" (none:
  // the host's) or "task" (the task's, held by its namespace holder at *_ns_path);
  // ipcMode also "none" (its own namespace, no /dev/shm).
  std::string pid_mode, ipc_mode;
  std::string pid_ns_path, ipc_ns_path;
  std::string task_shm_dir;  // ipcMode task: the task's /dev/shm (a tmpfs on the host)
  // The capabilities this process can grant (its bounding set, CapabilityNames of CapBnd):
  // a container gets no others, even privileged. Empty = every one.
  std::vector<std::string> host_caps;
  std::vector<ContainerDevice> devices;          // linuxParameters.devices
  std::vector<model::oci::LinuxDevice> host_devices;  // privileged: every device of the host
};

model::oci::Spec BuildOciSpec(const SpecInputs& in);

// What Docker or runc would refuse in the container's Linux settings, before a spec is
// built: unknown capabilities, sysctls that are not namespaced (or that the task shares
// with the host), and initProcessEnabled without an init. InvalidArgument, worded for the
// task's stoppedReason.
Status CheckContainerSettings(const ContainerSpec& c, const SpecInputs& in);

// The container's capabilities ("CAP_" names), as Docker's TweakCapabilities computes
// them from its default set, linuxParameters.capabilities (AWS's names, without "CAP_";
// "ALL") and privileged, limited to `host_caps` when it is not empty (runc cannot grant
// what it lacks: "unable to apply caps: operation not permitted"). Unknown names are left
// out (CheckContainerSettings refuses them).
std::vector<std::string> ContainerCapabilities(const ContainerSpec& c, const std::vector<std::string>& host_caps = {});

// The names of the capabilities set in a /proc/<pid>/status mask (CapBnd: bit 0 is
// CAP_CHOWN), in the kernel's order.
std::vector<std::string> CapabilityNames(uint64_t mask);
// The Linux capability number of "CAP_CHOWN" (or "CHOWN"); -1 when unknown. The inverse
// of CapabilityNames.
int CapabilityNumber(std::string_view name);

// The ECS ulimit name ("nofile") as the OCI rlimit type ("RLIMIT_NOFILE").
std::string RlimitType(const std::string& ecs_name);

}  // namespace kecs::runtime::local
