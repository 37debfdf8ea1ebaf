#pragma once
// The OCI file formats the local runtime reads and writes, as typed records, and their one
// JSON codec. The runtime (src/runtime) works on these records only; JSON stays here.
//
// - Image layout (OCI image-spec): index.json, image manifests and the image configuration
//   blob, as skopeo writes them; and the manifest.json of a docker-archive tarball.
// - Runtime spec (OCI runtime-spec config.json): read from `umoci unpack` (the image's
//   runtime defaults) and written for runc.
//
// The records hold the members kecs reads or writes. A runtime spec's other members at the
// top level, in `linux` and in `linux.resources` (hooks, pids limits, intelRdt...) are kept
// verbatim in `unknown` and written back after the known ones, so a spec read and
// written again loses nothing kecs does not understand.
//
// Decoders never throw: a document that is not JSON, or whose members have the wrong type,
// is an InvalidArgument naming the member. Encoders are pure and deterministic (members in
// a fixed order, two-space indent), so golden-file tests compare their output byte for byte.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kecs::model::oci {

// Members kecs does not model: name and raw JSON text, in document order.
using UnknownMembers = std::vector<std::pair<std::string, std::string>>;

// ---- Image layout.

struct Descriptor {
  std::string media_type;
  std::string digest;    // "sha256:<hex>"
  int64_t size = 0;
  std::string ref_name;  // annotation org.opencontainers.image.ref.name, if any
};

struct ImageIndex {
  std::vector<Descriptor> manifests;
};
Result<ImageIndex> DecodeImageIndex(std::string_view text);

struct ImageManifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};
Result<ImageManifest> DecodeImageManifest(std::string_view text);

// The `config` member of an image configuration blob: how the image asks to be run.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
};
Result<ImageConfig> DecodeImageConfig(std::string_view text);

// The RepoTags of every image in a docker-archive's manifest.json, in order.
Result<std::vector<std::string>> DecodeDockerArchiveRepoTags(std::string_view text);

// ---- Registry credentials.

// A containers-auth.json document (what skopeo's --authfile reads): for each registry host
// ("ghcr.io", "127.0.0.1:5000"), its "user:password" as {"auths": {host: {"auth":
// base64(user:password)}}}. The result holds secrets: write it 0600, never log it.
std::string EncodeRegistryAuthFile(const std::vector<std::pair<std::string, std::string>>& host_credentials);

// ---- Runtime spec.

struct User {
  int64_t uid = 0;
  int64_t gid = 0;
  std::vector<int64_t> additional_gids;
};

struct Capabilities {
  // Absent lists are not written.
  std::optional<std::vector<std::string>> bounding, effective, inheritable, permitted, ambient;
};

struct Rlimit {
  std::string type;  // RLIMIT_NOFILE
  int64_t soft = 0;
  int64_t hard = 0;
};

struct Process {
  bool terminal = false;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<User> user;
  Capabilities capabilities;
  bool no_new_privileges = false;
  std::vector<Rlimit> rlimits;
};

struct Root {
  std::string path;
  std::optional<bool> readonly;
};

struct Mount {
  std::string destination;
  std::string type;
  std::string source;
  std::optional<std::vector<std::string>> options;
};

struct Namespace {
  std::string type;  // pid, network, ipc, uts, mount, user, cgroup
  std::string path;  // "" = a new namespace
};

struct IdMapping {
  int64_t container_id = 0;
  int64_t host_id = 0;
  int64_t size = 0;
};

struct DeviceRule {
  bool allow = false;
  std::optional<std::string> type;
  std::optional<int64_t> major, minor;
  std::optional<std::string> access;
};

// A device node runc creates in the container (linux.devices).
struct LinuxDevice {
  std::string path;  // in the container
  std::string type;  // "c", "b", "u" or "p"
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<int64_t> file_mode;  // permission bits
  std::optional<int64_t> uid, gid;
};

// linux.seccomp: what runc loads with libseccomp.
struct SeccompArg {
  int64_t index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;  // "SCMP_CMP_EQ" ...
};

struct SeccompSyscall {
  std::vector<std::string> names;
  std::string action;  // "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO" ...
  std::optional<int64_t> errno_ret;
  std::vector<SeccompArg> args;
};

struct Seccomp {
  std::string default_action;
  std::optional<int64_t> default_errno_ret;
  std::vector<std::string> architectures;  // "SCMP_ARCH_X86_64" ...
  std::vector<SeccompSyscall> syscalls;
};

struct Resources {
  std::optional<std::vector<DeviceRule>> devices;
  std::optional<int64_t> memory_limit;        // bytes
  std::optional<int64_t> memory_reservation;  // bytes
  std::optional<int64_t> cpu_shares;
  UnknownMembers unknown;
};

struct Linux {
  std::optional<std::vector<IdMapping>> uid_mappings, gid_mappings;
  std::optional<std::vector<std::pair<std::string, std::string>>> sysctl;  // in order
  std::optional<Resources> resources;
  std::vector<Namespace> namespaces;
  std::optional<std::vector<LinuxDevice>> devices;
  std::optional<Seccomp> seccomp;
  std::optional<std::vector<std::string>> masked_paths, readonly_paths;
  UnknownMembers unknown;
  std::optional<std::string> cgroups_path;
};

struct Spec {
  std::string oci_version;
  std::optional<Process> process;
  std::optional<Root> root;
  std::optional<std::string> hostname;
  std::vector<Mount> mounts;
  std::optional<std::vector<std::pair<std::string, std::string>>> annotations;
  std::optional<Linux> linux_spec;  // the "linux" member (`linux` is a macro in GNU C++)
  UnknownMembers unknown;
};

// A config.json; an empty document (no bundle config) is an empty Spec.
Result<Spec> DecodeSpec(std::string_view text);
// config.json text, members in runtime-spec order, indented by two spaces, no final newline.
std::string EncodeSpec(const Spec& spec);

// ---- Docker's seccomp profile (containers/common's seccomp.json, moby's default.json).
//
// A profile is not an OCI member: each rule may apply only on some architectures, only
// with (includes.caps) or without (excludes.caps) some capabilities, or from a kernel
// version on. runtime/local/seccomp.h resolves it, as Docker does for each container,
// into the linux.seccomp above.

struct SeccompFilter {
  std::vector<std::string> arches;  // Go's names: "amd64", "arm64", "x86" ...
  std::vector<std::string> caps;    // "CAP_SYS_ADMIN"
  std::string min_kernel;           // "4.8"; "" = any
};

struct SeccompProfileSyscall {
  std::vector<std::string> names;
  std::string action;
  std::optional<int64_t> errno_ret;
  std::vector<SeccompArg> args;
  SeccompFilter includes, excludes;
};

struct SeccompArchMap {
  std::string architecture;                 // "SCMP_ARCH_X86_64"
  std::vector<std::string> sub_architectures;
};

struct SeccompProfile {
  std::string default_action;
  std::optional<int64_t> default_errno_ret;
  std::vector<std::string> architectures;   // a profile gives these or arch_map, not both
  std::vector<SeccompArchMap> arch_map;
  std::vector<SeccompProfileSyscall> syscalls;
};
Result<SeccompProfile> DecodeSeccompProfile(std::string_view text);

}  // namespace kecs::model::oci
