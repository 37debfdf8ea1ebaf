// Golden-file tests of BuildOciSpec: the OCI config.json a container definition becomes.
//
// Each case builds SpecInputs as LocalRuntime::PrepareBundle would (the image's defaults
// from testdata/oci/image_config.json, a umoci-style config of an nginx-like image whose
// Entrypoint is ["/docker-entrypoint.sh"] and Cmd ["nginx", "-g", "daemon off;"]) and
// compares the spec with testdata/oci/<case>.json, byte for byte.
//
// image_config.json is `umoci unpack`'s config.json for such an image, less what umoci's
// spec template adds on its own that the image never asked for (env TERM=xterm, rlimit
// RLIMIT_NOFILE 1024/1024): BuildOciSpec cannot tell those from the image's, so they would
// only make the goldens claim something Docker does not do (see the report on TERM and
// nofile). The template's capabilities, noNewPrivileges and terminal are kept: BuildOciSpec
// replaces them.
//
// To regenerate the goldens after an intended change:
//   KECS_UPDATE_GOLDEN=1 build-rt/tests/kecs_unit_tests --gtest_filter='OciSpecGolden.*'
// then review every changed file by hand (git diff) before committing: a golden is a claim
// about what Docker and the ECS agent would run, not a snapshot of whatever the code does.
#include "runtime/local/oci_spec.h"

#include <gtest/gtest.h>

#include "base/json.h"
#include "unit/support/golden.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTaskId = "0123456789abcdef0123456789abcdef";

fs::path OciDir() { return fs::path(KECS_TESTDATA_DIR) / "oci"; }

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json ImageConfigJson() {
  auto j = ParseJson(ReadText(OciDir() / "image_config.json"));
  EXPECT_TRUE(j.has_value()) << "testdata/oci/image_config.json is not valid JSON";
  return j.value_or(Json::object());
}

// An image's runtime defaults as LocalRuntime reads them: through the OCI codec.
model::oci::Spec Decoded(const Json& image_config) {
  auto spec = model::oci::DecodeSpec(image_config.dump());
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  return spec.ok() ? *spec : model::oci::Spec{};
}

// The config.json BuildOciSpec's record becomes, as JSON for the focused checks.
Json Build(const SpecInputs& in) { return *ParseJson(model::oci::EncodeSpec(BuildOciSpec(in))); }

std::string TaskDir() { return std::string("/var/lib/kecs/runtime/tasks/") + kTaskId; }

// The inputs of an awsvpc task's "web" container, as PrepareBundle fills them.
SpecInputs BaseInputs(const ContainerSpec* c) {
  SpecInputs in;
  in.container = c;
  in.image_config = Decoded(ImageConfigJson());
  in.image_entrypoint = {"/docker-entrypoint.sh"};
  in.image_cmd = {"nginx", "-g", "daemon off;"};
  in.rootfs = TaskDir() + "/containers/" + c->name + "/rootfs";
  in.netns_path = std::string("/var/run/netns/kecs-t-") + kTaskId;
  in.hostname = "ip-10-0-1-23";
  in.hosts_file = TaskDir() + "/hosts";
  in.resolv_file = TaskDir() + "/resolv.conf";
  in.hostname_file = TaskDir() + "/hostname";
  in.cgroups_path = std::string("kecs/") + kTaskId + "/" + c->name;
  in.hard_limits = {{"RLIMIT_NOFILE", 524288}, {"RLIMIT_NPROC", 4096}};
  in.extra_env = {"AWS_EXECUTION_ENV=AWS_ECS_EC2"};
  return in;
}

// Compares `spec` with the golden file `name`.json; rewrites it with KECS_UPDATE_GOLDEN=1.
void ExpectGolden(const std::string& name, const model::oci::Spec& spec) {
  testing::ExpectGoldenText(OciDir() / (name + ".json"), model::oci::EncodeSpec(spec) + "\n");
}

const Json* Find(const Json& array, const std::string& key, const std::string& value) {
  for (const auto& item : array) {
    if (item.is_object() && JStr(item, key) == value) return &item;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// Golden cases.

// Everything an awsvpc container definition can set: entryPoint and command, environment
// overriding the image's, user "uid:gid", workingDirectory, memory and memoryReservation,
// cpu shares, ulimits (nofile's hard limit above the host's is clamped to it).
TEST(OciSpecGolden, AwsvpcEverySetting) {
  ContainerSpec c;
  c.name = "web";
  c.image = "nginx:latest";
  c.entry_point = {"/bin/sh", "-c"};
  c.command = {"exec nginx -g 'daemon off;'"};
  c.environment = {{"FOO", "task"}, {"STAGE", "prod"}};
  c.user = "1000:2000";
  c.working_directory = "/srv/app";
  c.memory_mib = 512;
  c.memory_reservation_mib = 256;
  c.cpu_units = 256;
  c.ulimits = {{"nofile", 65536, 1048576}, {"nproc", 100, 200}, {"core", 0, 0}};
  SpecInputs in = BaseInputs(&c);
  ExpectGolden("awsvpc_every_setting", BuildOciSpec(in));
}

// Nothing but cpu set: the image's Entrypoint + Cmd, its env (plus HOSTNAME and the
// agent's variables), its cwd and user; no rlimits, no memory limits.
TEST(OciSpecGolden, ImageDefaults) {
  ContainerSpec c;
  c.name = "web";
  c.image = "nginx:latest";
  c.cpu_units = 128;
  SpecInputs in = BaseInputs(&c);
  ExpectGolden("image_defaults", BuildOciSpec(in));
}

// A command alone replaces the image's Cmd and keeps its Entrypoint; a memoryReservation
// alone is a soft limit with no hard one. A bridge-mode task's namespace.
TEST(OciSpecGolden, CommandKeepsImageEntrypoint) {
  ContainerSpec c;
  c.name = "worker";
  c.image = "nginx:latest";
  c.command = {"nginx", "-T"};
  c.memory_reservation_mib = 64;
  c.cpu_units = 1;  // the kernel's minimum share is 2
  SpecInputs in = BaseInputs(&c);
  in.netns_path = std::string("/var/run/netns/kecs-t-") + kTaskId;
  in.hostname = "0123456789ab";
  ExpectGolden("command_keeps_image_entrypoint", BuildOciSpec(in));
}

// An entryPoint alone replaces the image's Entrypoint and drops its Cmd (Docker's rule).
TEST(OciSpecGolden, EntrypointDropsImageCmd) {
  ContainerSpec c;
  c.name = "sidecar";
  c.image = "nginx:latest";
  c.entry_point = {"/bin/sleep", "infinity"};
  c.cpu_units = 512;
  c.memory_mib = 128;
  SpecInputs in = BaseInputs(&c);
  ExpectGolden("entrypoint_drops_image_cmd", BuildOciSpec(in));
}

// Host mode: no network namespace entry at all (the host's), the host's hostname; the
// image's own /etc/resolv.conf mount and umoci's rootless id mappings are replaced. A
// ulimit whose soft and hard limits both exceed the host's hard limit is clamped to it.
TEST(OciSpecGolden, HostMode) {
  ContainerSpec c;
  c.name = "agent";
  c.image = "nginx:latest";
  c.cpu_units = 1024;
  c.ulimits = {{"nofile", 1048576, 1048576}};
  SpecInputs in = BaseInputs(&c);
  in.netns_path = "";
  in.hostname = "build-host";
  Json img = ImageConfigJson();
  img["mounts"].push_back(
      {{"destination", "/etc/resolv.conf"}, {"type", "bind"}, {"source", "/etc/resolv.conf"},
       {"options", Json::array({"rbind", "ro"})}});
  img["linux"]["uidMappings"] = Json::array({{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}});
  img["linux"]["gidMappings"] = Json::array({{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}});
  in.image_config = Decoded(img);
  ExpectGolden("host_mode", BuildOciSpec(in));
}

// readonlyRootfs: root.readonly. (No /etc files here: whether those mounts become
// read-only too is OciSpecKnownBugs.ReadonlyRootfsMountsNetworkFilesReadOnly.)
TEST(OciSpecGolden, ReadonlyRootfs) {
  ContainerSpec c;
  c.name = "web";
  c.image = "nginx:latest";
  c.readonly_rootfs = true;
  c.cpu_units = 2048;
  SpecInputs in = BaseInputs(&c);
  in.hosts_file.clear();
  in.resolv_file.clear();
  in.hostname_file.clear();
  ExpectGolden("readonly_rootfs", BuildOciSpec(in));
}

// ---------------------------------------------------------------------------------------
// Focused checks of the same rules, so a failure names the rule and not just a line.

TEST(OciSpec, ArgsFollowDockerRules) {
  ContainerSpec c;
  c.name = "c";
  auto args = [&](std::vector<std::string> ep, std::vector<std::string> cmd,
                  std::vector<std::string> img_ep, std::vector<std::string> img_cmd) {
    c.entry_point = std::move(ep);
    c.command = std::move(cmd);
    SpecInputs in = BaseInputs(&c);
    in.image_entrypoint = std::move(img_ep);
    in.image_cmd = std::move(img_cmd);
    return Build(in)["process"]["args"].get<std::vector<std::string>>();
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(args({}, {}, {"/e"}, {"c1", "c2"}), (V{"/e", "c1", "c2"}));
  EXPECT_EQ(args({}, {"x"}, {"/e"}, {"c1"}), (V{"/e", "x"}));
  EXPECT_EQ(args({"/x"}, {}, {"/e"}, {"c1"}), (V{"/x"}));
  EXPECT_EQ(args({"/x"}, {"y"}, {"/e"}, {"c1"}), (V{"/x", "y"}));
  EXPECT_EQ(args({}, {"x"}, {}, {"c1"}), (V{"x"}));
  EXPECT_EQ(args({}, {}, {}, {"c1"}), (V{"c1"}));
  // Neither the image nor the definition says anything: umoci's args stay.
  EXPECT_EQ(args({}, {}, {}, {}), (V{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}));
}

TEST(OciSpec, EnvironmentOverridesImageAndKeepsOneValuePerName) {
  ContainerSpec c;
  c.name = "c";
  c.environment = {{"FOO", "task"}, {"PATH", "/opt/bin"}, {"HOSTNAME", "custom"}};
  SpecInputs in = BaseInputs(&c);
  auto env = Build(in)["process"]["env"].get<std::vector<std::string>>();
  auto count = [&](const std::string& prefix) {
    return std::count_if(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
  };
  EXPECT_EQ(count("FOO="), 1);
  EXPECT_EQ(count("PATH="), 1);
  EXPECT_EQ(count("HOSTNAME="), 1);
  EXPECT_NE(std::find(env.begin(), env.end(), "FOO=task"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "PATH=/opt/bin"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "HOSTNAME=custom"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "NGINX_VERSION=1.25.3"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "AWS_EXECUTION_ENV=AWS_ECS_EC2"), env.end());
}

TEST(OciSpec, DefaultPathWhenImageHasNone) {
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  Json img = ImageConfigJson();
  img["process"]["env"] = Json::array({"A=1"});
  in.image_config = Decoded(img);
  auto env = Build(in)["process"]["env"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(env.begin(), env.end(),
                      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            env.end());
}

TEST(OciSpec, UserUidGid) {
  ContainerSpec c;
  c.name = "c";
  c.user = "1000:2000";
  SpecInputs in = BaseInputs(&c);
  Json user = Build(in)["process"]["user"];
  EXPECT_EQ(user["uid"], 1000);
  EXPECT_EQ(user["gid"], 2000);
  // Unset: the image's (umoci resolved its USER).
  c.user.clear();
  user = Build(in)["process"]["user"];
  EXPECT_EQ(user["uid"], 101);
  EXPECT_EQ(user["gid"], 101);
}

TEST(OciSpec, UlimitsClampedToHostHardLimits) {
  ContainerSpec c;
  c.name = "c";
  c.ulimits = {{"nofile", 600000, 700000}, {"nproc", 10, 20}, {"memlock", 100, 200}};
  SpecInputs in = BaseInputs(&c);
  Json img = ImageConfigJson();
  img["process"]["rlimits"] = Json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}});
  in.image_config = Decoded(img);
  in.hard_limits = {{"RLIMIT_NOFILE", 524288}, {"RLIMIT_NPROC", 4096}};
  Json rl = Build(in)["process"]["rlimits"];
  const Json* nofile = Find(rl, "type", "RLIMIT_NOFILE");
  ASSERT_NE(nofile, nullptr);
  EXPECT_EQ((*nofile)["soft"], 524288);
  EXPECT_EQ((*nofile)["hard"], 524288);
  const Json* nproc = Find(rl, "type", "RLIMIT_NPROC");
  ASSERT_NE(nproc, nullptr);
  EXPECT_EQ((*nproc)["soft"], 10);
  EXPECT_EQ((*nproc)["hard"], 20);
  const Json* memlock = Find(rl, "type", "RLIMIT_MEMLOCK");  // no host limit: as asked
  ASSERT_NE(memlock, nullptr);
  EXPECT_EQ((*memlock)["soft"], 100);
  EXPECT_EQ((*memlock)["hard"], 200);
  // The image's RLIMIT_NOFILE entry was replaced, not duplicated.
  EXPECT_EQ(std::count_if(rl.begin(), rl.end(), [](const Json& r) { return JStr(r, "type") == "RLIMIT_NOFILE"; }), 1);
}

TEST(OciSpec, ImageRlimitsKeptAndClamped) {
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  Json img = ImageConfigJson();
  img["process"]["rlimits"] = Json::array(
      {{{"type", "RLIMIT_NOFILE"}, {"hard", 1048576}, {"soft", 1048576}},
       {{"type", "RLIMIT_CORE"}, {"hard", 10}, {"soft", 5}}});
  in.image_config = Decoded(img);
  Json rl = Build(in)["process"]["rlimits"];
  const Json* nofile = Find(rl, "type", "RLIMIT_NOFILE");
  ASSERT_NE(nofile, nullptr);
  EXPECT_EQ((*nofile)["hard"], 524288);
  EXPECT_EQ((*nofile)["soft"], 524288);
  const Json* core = Find(rl, "type", "RLIMIT_CORE");
  ASSERT_NE(core, nullptr);
  EXPECT_EQ((*core)["hard"], 10);
  EXPECT_EQ((*core)["soft"], 5);
}

TEST(OciSpec, RlimitTypeNames) {
  EXPECT_EQ(RlimitType("nofile"), "RLIMIT_NOFILE");
  EXPECT_EQ(RlimitType("memlock"), "RLIMIT_MEMLOCK");
  EXPECT_EQ(RlimitType("rttime"), "RLIMIT_RTTIME");
}

TEST(OciSpec, NetworkNamespaceEntry) {
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  Json ns = Build(in)["linux"]["namespaces"];
  const Json* net = Find(ns, "type", "network");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(JStr(*net, "path"), in.netns_path);
  EXPECT_EQ(std::count_if(ns.begin(), ns.end(), [](const Json& n) { return JStr(n, "type") == "network"; }), 1);
  in.netns_path = "";
  ns = Build(in)["linux"]["namespaces"];
  EXPECT_EQ(Find(ns, "type", "network"), nullptr) << "host mode must share the host's network namespace";
  for (const char* t : {"pid", "ipc", "uts", "mount"}) EXPECT_NE(Find(ns, "type", t), nullptr) << t;
}

TEST(OciSpec, EtcFilesBindMountedOncePerDestination) {
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  Json img = ImageConfigJson();
  img["mounts"].push_back(
      {{"destination", "/etc/hosts"}, {"type", "bind"}, {"source", "/elsewhere"}, {"options", Json::array({"rbind"})}});
  in.image_config = Decoded(img);
  Json mounts = Build(in)["mounts"];
  for (const auto& [dst, src] : std::vector<std::pair<std::string, std::string>>{
           {"/etc/hosts", in.hosts_file}, {"/etc/resolv.conf", in.resolv_file}, {"/etc/hostname", in.hostname_file}}) {
    EXPECT_EQ(std::count_if(mounts.begin(), mounts.end(), [&](const Json& m) { return JStr(m, "destination") == dst; }), 1)
        << dst;
    const Json* m = Find(mounts, "destination", dst);
    ASSERT_NE(m, nullptr) << dst;
    EXPECT_EQ(JStr(*m, "source"), src);
    EXPECT_EQ(JStr(*m, "type"), "bind");
  }
}

TEST(OciSpec, MemoryAndCpu) {
  ContainerSpec c;
  c.name = "c";
  c.memory_mib = 300;
  c.memory_reservation_mib = 100;
  c.cpu_units = 700;
  SpecInputs in = BaseInputs(&c);
  Json res = Build(in)["linux"]["resources"];
  EXPECT_EQ(res["memory"]["limit"], int64_t{300} * 1024 * 1024);
  EXPECT_EQ(res["memory"]["reservation"], int64_t{100} * 1024 * 1024);
  EXPECT_EQ(res["cpu"]["shares"], 700);
  // umoci's device rules stay.
  EXPECT_EQ(res["devices"], Json::array({{{"allow", false}, {"access", "rwm"}}}));
  c.memory_mib = 0;
  c.memory_reservation_mib = 0;
  res = Build(in)["linux"]["resources"];
  EXPECT_FALSE(res.contains("memory"));
}

TEST(OciSpec, PureAndDeterministic) {
  ContainerSpec c;
  c.name = "c";
  c.environment = {{"A", "1"}};
  SpecInputs in = BaseInputs(&c);
  EXPECT_EQ(model::oci::EncodeSpec(BuildOciSpec(in)), model::oci::EncodeSpec(BuildOciSpec(in)));
}

// ---------------------------------------------------------------------------------------
// Where BuildOciSpec once differed from what Docker (and so the ECS agent on EC2) does.

// ECS agent >= 1.2.0 passes cpu 0, 1 or unset to Docker as 2 CPU shares (the kernel's
// minimum).
TEST(OciSpecDockerParity, UnsetCpuIsTwoShares) {
  ContainerSpec c;
  c.name = "c";
  c.cpu_units = 0;
  SpecInputs in = BaseInputs(&c);
  EXPECT_EQ(Build(in)["linux"]["resources"]["cpu"]["shares"], 2);
}

// Agent >= 1.84.0 caps cpu at 262144 shares (the kernel's maximum).
TEST(OciSpecDockerParity, CpuSharesCappedAtKernelMaximum) {
  ContainerSpec c;
  c.name = "c";
  c.cpu_units = 300000;
  SpecInputs in = BaseInputs(&c);
  EXPECT_EQ(Build(in)["linux"]["resources"]["cpu"]["shares"], 262144);
}

// Docker mounts /etc/hosts, /etc/resolv.conf and /etc/hostname read-only when the root
// filesystem is read-only (moby container.NetworkMounts: writable = !ReadonlyRootfs).
TEST(OciSpecDockerParity, ReadonlyRootfsMountsNetworkFilesReadOnly) {
  ContainerSpec c;
  c.name = "c";
  c.readonly_rootfs = true;
  SpecInputs in = BaseInputs(&c);
  Json mounts = Build(in)["mounts"];
  for (const char* dst : {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}) {
    const Json* m = Find(mounts, "destination", dst);
    ASSERT_NE(m, nullptr) << dst;
    auto opts = (*m)["options"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(opts.begin(), opts.end(), "ro"), opts.end()) << dst;
  }
}

// `--user 1000` with no passwd entry for uid 1000 runs with gid 0 in Docker (LocalRuntime's
// ResolveUser adds the primary group when the image's passwd has the uid).
TEST(OciSpecDockerParity, BareUidRunsWithGidZero) {
  ContainerSpec c;
  c.name = "c";
  c.user = "1000";
  SpecInputs in = BaseInputs(&c);
  Json user = Build(in)["process"]["user"];
  EXPECT_EQ(user["uid"], 1000);
  EXPECT_EQ(user["gid"], 0);
}

// ---------------------------------------------------------------------------------------
// Volumes, linuxParameters and container settings (issue 12), as the ECS agent has Docker
// set them up.

model::oci::SeccompProfile FixtureProfile() {
  auto p = model::oci::DecodeSeccompProfile(ReadText(OciDir() / "seccomp_profile.json"));
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : model::oci::SeccompProfile{};
}

std::vector<std::string> Strs(const Json& j) { return j.get<std::vector<std::string>>(); }

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// Every Linux setting of an unprivileged container at once: capabilities add/drop, the
// init, tmpfs, /dev/shm size, a device, sysctls, dockerLabels, volume mounts, the task's
// shared PID and IPC namespaces, and the fixture seccomp profile resolved for it.
TEST(OciSpecGolden, LinuxParametersEverySetting) {
  static const model::oci::SeccompProfile profile = FixtureProfile();
  ContainerSpec c;
  c.name = "app";
  c.image = "nginx:latest";
  c.cpu_units = 256;
  auto& lp = c.linux_parameters;
  lp.capabilities_add = {"SYS_ADMIN", "net_admin"};
  lp.capabilities_drop = {"NET_RAW", "CAP_MKNOD"};
  lp.init_process_enabled = true;
  lp.tmpfs = {{"/run", 64, {"exec", "mode=1777"}}};
  lp.shared_memory_size_mib = 128;
  c.system_controls = {{"net.ipv4.ip_forward", "1"}, {"kernel.shmmax", "68719476736"}};
  c.docker_labels = {{"com.example.team", "payments"}};
  SpecInputs in = BaseInputs(&c);
  in.volume_mounts = {{"/data", "bind", TaskDir() + "/volumes/data", std::vector<std::string>{"rbind", "rprivate"}},
                      {"/config", "bind", "/srv/config", std::vector<std::string>{"rbind", "rprivate", "ro"}}};
  in.init_path = "/usr/bin/tini-static";
  in.seccomp_profile = &profile;
  in.go_arch = "amd64";
  in.kernel_release = "6.1.0-13-amd64";
  in.pid_mode = "task";
  in.pid_ns_path = "/proc/4242/ns/pid";
  in.ipc_mode = "task";
  in.ipc_ns_path = "/proc/4242/ns/ipc";
  in.task_shm_dir = TaskDir() + "/shm";
  model::oci::LinuxDevice fuse{"/dev/fuse", "c", 10, 229, 0666, 0, 0};
  in.devices = {{fuse, "rw"}};
  ExpectGolden("linux_parameters_every_setting", BuildOciSpec(in));
}

// privileged: every capability and device, no seccomp filter, no masked or read-only
// /proc paths, /sys and the cgroup hierarchy writable.
TEST(OciSpecGolden, Privileged) {
  static const model::oci::SeccompProfile profile = FixtureProfile();
  ContainerSpec c;
  c.name = "priv";
  c.image = "nginx:latest";
  c.cpu_units = 256;
  c.privileged = true;
  SpecInputs in = BaseInputs(&c);
  in.seccomp_profile = &profile;
  in.host_devices = {{"/dev/null", "c", 1, 3, 0666, 0, 0}, {"/dev/sda", "b", 8, 0, 0660, 0, 6}};
  ExpectGolden("privileged", BuildOciSpec(in));
}

TEST(OciSpecLinux, CapabilitiesFollowDockersRules) {
  ContainerSpec c;
  c.name = "c";
  const std::vector<std::string> docker_default = ContainerCapabilities(c);
  EXPECT_EQ(docker_default.size(), 14u);
  EXPECT_TRUE(Has(docker_default, "CAP_NET_RAW"));
  // The default set less the dropped, plus the added; any case, "CAP_" optional.
  c.linux_parameters.capabilities_add = {"sys_ptrace", "CAP_NET_ADMIN"};
  c.linux_parameters.capabilities_drop = {"NET_RAW"};
  auto caps = ContainerCapabilities(c);
  EXPECT_TRUE(Has(caps, "CAP_SYS_PTRACE"));
  EXPECT_TRUE(Has(caps, "CAP_NET_ADMIN"));
  EXPECT_FALSE(Has(caps, "CAP_NET_RAW"));
  EXPECT_TRUE(Has(caps, "CAP_CHOWN"));
  // Dropping ALL keeps only what is added.
  c.linux_parameters.capabilities_add = {"NET_BIND_SERVICE"};
  c.linux_parameters.capabilities_drop = {"ALL"};
  EXPECT_EQ(ContainerCapabilities(c), std::vector<std::string>{"CAP_NET_BIND_SERVICE"});
  // Adding ALL gives every capability but the dropped ones.
  c.linux_parameters.capabilities_add = {"ALL"};
  c.linux_parameters.capabilities_drop = {"SYS_ADMIN"};
  caps = ContainerCapabilities(c);
  EXPECT_EQ(caps.size(), 40u);
  EXPECT_FALSE(Has(caps, "CAP_SYS_ADMIN"));
  // privileged: all of them, whatever is dropped.
  c.privileged = true;
  EXPECT_EQ(ContainerCapabilities(c).size(), 41u);
  // Never more than this process has (runc could not grant it).
  EXPECT_FALSE(Has(ContainerCapabilities(c, CapabilityNames(0x000001fffeffffffull)), "CAP_SYS_RESOURCE"));
  EXPECT_EQ(ContainerCapabilities(c, CapabilityNames(0x000001fffeffffffull)).size(), 40u);
  EXPECT_EQ(CapabilityNames(0x1001), (std::vector<std::string>{"CAP_CHOWN", "CAP_NET_ADMIN"}));
  // The spec carries the set in bounding, effective and permitted.
  c.privileged = false;
  c.linux_parameters.capabilities_add = {"SYS_TIME"};
  c.linux_parameters.capabilities_drop = {};
  SpecInputs in = BaseInputs(&c);
  Json spec_caps = Build(in)["process"]["capabilities"];
  for (const char* set : {"bounding", "effective", "permitted"}) EXPECT_TRUE(Has(Strs(spec_caps[set]), "CAP_SYS_TIME")) << set;
}

TEST(OciSpecLinux, UnknownCapabilityIsRefused) {
  ContainerSpec c;
  c.name = "c";
  c.linux_parameters.capabilities_add = {"FLY"};
  SpecInputs in = BaseInputs(&c);
  Status st = CheckContainerSettings(c, in);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("unknown capability: \"CAP_FLY\""), std::string::npos) << st.message();
}

// initProcessEnabled: Docker's --init, the init mounted read-only at /sbin/docker-init
// running the container's command after "--".
TEST(OciSpecLinux, InitProcessWrapsTheCommand) {
  ContainerSpec c;
  c.name = "c";
  c.entry_point = {"/bin/httpd", "-f"};
  c.linux_parameters.init_process_enabled = true;
  SpecInputs in = BaseInputs(&c);
  in.init_path = "/usr/bin/tini-static";
  Json spec = Build(in);
  EXPECT_EQ(Strs(spec["process"]["args"]), (std::vector<std::string>{"/sbin/docker-init", "--", "/bin/httpd", "-f"}));
  const Json* m = Find(spec["mounts"], "destination", "/sbin/docker-init");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(JStr(*m, "source"), "/usr/bin/tini-static");
  EXPECT_EQ(Strs((*m)["options"]), (std::vector<std::string>{"bind", "ro"}));
  // Without an init on the host the container is refused, not run without one.
  in.init_path.clear();
  EXPECT_EQ(CheckContainerSettings(c, in).code(), Code::kFailedPrecondition);
  EXPECT_EQ(Strs(Build(in)["process"]["args"]), (std::vector<std::string>{"/bin/httpd", "-f"}));
}

TEST(OciSpecLinux, TmpfsMergesDockersDefaultOptions) {
  ContainerSpec c;
  c.name = "c";
  c.linux_parameters.tmpfs = {{"/scratch", 32, {"exec", "noatime", "size=1m"}}, {"/cache", 0, {}}};
  SpecInputs in = BaseInputs(&c);
  Json mounts = Build(in)["mounts"];
  const Json* scratch = Find(mounts, "destination", "/scratch");
  ASSERT_NE(scratch, nullptr);
  EXPECT_EQ(JStr(*scratch, "type"), "tmpfs");
  // "exec" overrides the default "noexec" (and takes its place in the order), the
  // definition's size overrides one in the options.
  EXPECT_EQ(Strs((*scratch)["options"]),
            (std::vector<std::string>{"nosuid", "nodev", "rprivate", "exec", "noatime", "size=32m"}));
  const Json* cache = Find(mounts, "destination", "/cache");
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(Strs((*cache)["options"]), (std::vector<std::string>{"noexec", "nosuid", "nodev", "rprivate"}));
  c.linux_parameters.tmpfs = {{"relative", 1, {}}};
  EXPECT_EQ(CheckContainerSettings(c, in).code(), Code::kInvalidArgument);
}

TEST(OciSpecLinux, SharedMemorySizeAndIpcModes) {
  ContainerSpec c;
  c.name = "c";
  c.linux_parameters.shared_memory_size_mib = 256;
  SpecInputs in = BaseInputs(&c);
  Json spec = Build(in);
  const Json* shm = Find(spec["mounts"], "destination", "/dev/shm");
  ASSERT_NE(shm, nullptr);
  EXPECT_TRUE(Has(Strs((*shm)["options"]), "size=268435456"));
  EXPECT_FALSE(Has(Strs((*shm)["options"]), "size=65536k"));
  auto ns_types = [](const Json& spec) {
    std::vector<std::string> out;
    for (const auto& n : spec["linux"]["namespaces"]) out.push_back(JStr(n, "type") + "=" + JStr(n, "path"));
    return out;
  };
  // host: the host's IPC namespace and /dev/shm.
  in.ipc_mode = "host";
  spec = Build(in);
  EXPECT_FALSE(Has(ns_types(spec), "ipc="));
  shm = Find(spec["mounts"], "destination", "/dev/shm");
  ASSERT_NE(shm, nullptr);
  EXPECT_EQ(JStr(*shm, "source"), "/dev/shm");
  // task: the holder's namespace and the task's /dev/shm.
  in.ipc_mode = "task";
  in.ipc_ns_path = "/proc/7/ns/ipc";
  in.task_shm_dir = "/var/lib/kecs/t/shm";
  spec = Build(in);
  EXPECT_TRUE(Has(ns_types(spec), "ipc=/proc/7/ns/ipc"));
  EXPECT_EQ(JStr(*Find(spec["mounts"], "destination", "/dev/shm"), "source"), "/var/lib/kecs/t/shm");
  // none: its own namespace and no /dev/shm.
  in.ipc_mode = "none";
  spec = Build(in);
  EXPECT_TRUE(Has(ns_types(spec), "ipc="));
  EXPECT_EQ(Find(spec["mounts"], "destination", "/dev/shm"), nullptr);
}

TEST(OciSpecLinux, PidModes) {
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  auto pid_entry = [&]() -> std::optional<std::string> {
    Json spec = Build(in);
    for (const auto& n : spec["linux"]["namespaces"]) {
      if (JStr(n, "type") == "pid") return JStr(n, "path");
    }
    return std::nullopt;
  };
  EXPECT_EQ(pid_entry(), "");
  in.pid_mode = "host";
  EXPECT_EQ(pid_entry(), std::nullopt);
  in.pid_mode = "task";
  in.pid_ns_path = "/proc/9/ns/pid";
  EXPECT_EQ(pid_entry(), "/proc/9/ns/pid");
}

// Only namespaced sysctls, as Docker and runc allow; net.* not with the host's network,
// IPC ones not with the host's IPC namespace.
TEST(OciSpecLinux, SystemControls) {
  ContainerSpec c;
  c.name = "c";
  c.system_controls = {{"net.core.somaxconn", "1024"}, {"kernel.msgmax", "65536"}, {"fs.mqueue.msg_max", "20"}};
  SpecInputs in = BaseInputs(&c);
  EXPECT_TRUE(CheckContainerSettings(c, in).ok());
  Json sysctl = Build(in)["linux"]["sysctl"];
  EXPECT_EQ(sysctl, Json::parse(R"({"net.core.somaxconn": "1024", "kernel.msgmax": "65536", "fs.mqueue.msg_max": "20"})"));
  in.netns_path.clear();
  Status st = CheckContainerSettings(c, in);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("not allowed in host network namespace"), std::string::npos) << st.message();
  in = BaseInputs(&c);
  in.ipc_mode = "host";
  EXPECT_NE(CheckContainerSettings(c, in).message().find("hosts ipc namespace"), std::string::npos);
  c.system_controls = {{"kernel.panic", "1"}};
  in = BaseInputs(&c);
  st = CheckContainerSettings(c, in);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("kernel.panic"), std::string::npos);
}

TEST(OciSpecLinux, DockerLabelsAreAnnotations) {
  ContainerSpec c;
  c.name = "c";
  c.docker_labels = {{"a", "1"}, {"org.opencontainers.image.title", "mine"}};
  SpecInputs in = BaseInputs(&c);
  Json ann = Build(in)["annotations"];
  EXPECT_EQ(ann["a"], "1");
  EXPECT_EQ(ann["org.opencontainers.image.title"], "mine");
}

TEST(OciSpecLinux, DevicesAreNodesAndCgroupRules) {
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  in.devices = {{{"/dev/xvdf", "b", 202, 80, 0660, 0, 6}, "r"}};
  Json spec = Build(in);
  ASSERT_EQ(spec["linux"]["devices"].size(), 1u);
  EXPECT_EQ(spec["linux"]["devices"][0]["path"], "/dev/xvdf");
  EXPECT_EQ(spec["linux"]["devices"][0]["major"], 202);
  Json rules = spec["linux"]["resources"]["devices"];
  ASSERT_EQ(rules.size(), 2u);  // umoci's deny-all, then the allow rule
  EXPECT_EQ(rules[1], Json::parse(R"({"allow": true, "type": "b", "major": 202, "minor": 80, "access": "r"})"));
}

TEST(OciSpecLinux, SeccompForUnprivilegedOnly) {
  static const model::oci::SeccompProfile profile = FixtureProfile();
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  EXPECT_FALSE(Build(in)["linux"].contains("seccomp")) << "no profile, no filter";
  in.seccomp_profile = &profile;
  Json sc = Build(in)["linux"]["seccomp"];
  EXPECT_EQ(sc["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc["defaultErrnoRet"], 38);
  // Resolved against the container's own capabilities: with SYS_ADMIN, bpf is allowed.
  c.linux_parameters.capabilities_add = {"SYS_ADMIN"};
  sc = Build(in)["linux"]["seccomp"];
  bool bpf_allowed = false;
  for (const auto& rule : sc["syscalls"]) {
    if (Has(Strs(rule["names"]), "bpf") && rule["action"] == "SCMP_ACT_ALLOW") bpf_allowed = true;
  }
  EXPECT_TRUE(bpf_allowed);
  c.privileged = true;
  Json linux_spec = Build(in)["linux"];
  EXPECT_FALSE(linux_spec.contains("seccomp"));
  EXPECT_FALSE(linux_spec.contains("maskedPaths"));
  EXPECT_EQ(linux_spec["resources"]["devices"], Json::parse(R"([{"allow": true, "access": "rwm"}])"));
}

TEST(OciSpecLinux, VolumeMountsReplaceImageMountsAtTheSamePath) {
  ContainerSpec c;
  c.name = "c";
  SpecInputs in = BaseInputs(&c);
  in.volume_mounts = {{"/dev/shm", "bind", "/v/shm", std::vector<std::string>{"rbind", "rprivate"}}};
  Json mounts = Build(in)["mounts"];
  int n = 0;
  for (const auto& m : mounts) n += JStr(m, "destination") == "/dev/shm";
  EXPECT_EQ(n, 1);
  EXPECT_EQ(JStr(*Find(mounts, "destination", "/dev/shm"), "source"), "/v/shm");
}

}  // namespace
}  // namespace kecs::runtime::local
