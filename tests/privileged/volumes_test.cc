// Volumes, linuxParameters and container settings in real runc containers (root only):
// what the processes inside see. Each test gets its own data dir under /tmp and the
// process's name prefix; TearDown runs GarbageCollect({}, {}) and RemoveAll, unmounts
// what is left under the data dir and removes it, also after failures.
//
// The image is busybox built offline (Debian's busybox-static, umoci, skopeo) into a
// docker-archive once per process and loaded into each test's image store: no registry.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "privileged/local_env.h"
#include "runtime/local/local_runtime.h"
#include "unit/runtime/volume_builders.h"

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;
using privileged::MakeTempDir;
using privileged::RemoveTree;
using privileged::Sh;
using fixtures::DockerVolume;
using fixtures::EfsVolume;
using fixtures::HostVolume;

// The busybox image as a docker-archive, built once; removed by the environment.
privileged::ImageArchive& BusyboxArchive() {
  static privileged::ImageArchive archive([](const std::string& dir) -> Result<std::string> {
    std::string script = R"(set -eu
cd "$1"
umoci init --layout oci
umoci new --image oci:latest
umoci unpack --image oci:latest bundle
mkdir -p bundle/rootfs/bin bundle/rootfs/etc bundle/rootfs/tmp bundle/rootfs/usr/share/seed
cp /bin/busybox bundle/rootfs/bin/busybox
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "bundle/rootfs/bin/$a"; done
echo "from the image" > bundle/rootfs/usr/share/seed/index.html
printf 'root:x:0:0:root:/root:/bin/sh\n' > bundle/rootfs/etc/passwd
umoci repack --image oci:latest bundle
umoci config --image oci:latest --config.cmd /bin/sh
skopeo --insecure-policy copy --quiet oci:oci:latest docker-archive:busybox.tar:kecs-test/busybox:latest
)";
    auto r = RunProcess({"/bin/sh", "-c", script, "sh", dir}, std::chrono::minutes(3));
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Internal("building the busybox image failed: " + r->out + r->err);
    return dir + "/busybox.tar";
  });
  return archive;
}

class ImageEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { BusyboxArchive().Remove(); }
};
::testing::Environment* const kImageEnv = ::testing::AddGlobalTestEnvironment(new ImageEnvironment);

constexpr const char* kImage = "kecs-test/busybox:latest";

class VolumesTest : public privileged::PrivilegedTest {
 protected:
  void SetUp() override {
    privileged::PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    for (const char* tool : {"runc", "skopeo", "umoci"}) {
      if (Sh({"sh", "-c", std::string("command -v ") + tool}).code != 0) GTEST_SKIP() << tool << " is missing";
    }
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is missing";
    auto tar = BusyboxArchive().Ensure();
    ASSERT_TRUE(tar.ok()) << tar.status().ToString();
    data_dir_ = MakeTempDir("data");
    ASSERT_FALSE(data_dir_.empty());
    nets_ = privileged::PickNetworks();
    LocalOptions o;
    o.data_dir = data_dir_;
    o.shim_exe = KECS_SHIM;
    o.network = privileged::NetworkOptionsFor(nets_);
    rt_ = std::make_unique<LocalRuntime>(o);
    Status st = rt_->Init();
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto loaded = rt_->images().Load(*tar, std::nullopt);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  }
  void TearDown() override {
    if (rt_) {
      Status st = rt_->GarbageCollect({}, {});
      EXPECT_TRUE(st.ok()) << st.ToString();
      st = rt_->network().RemoveAll();
      EXPECT_TRUE(st.ok()) << st.ToString();
      rt_.reset();
    }
    if (!data_dir_.empty()) RemoveTree(data_dir_);
    privileged::PrivilegedTest::TearDown();
  }

  static ContainerSpec Shell(const std::string& name, const std::string& script) {
    ContainerSpec c;
    c.name = name;
    c.image = kImage;
    c.entry_point = {"/bin/sh", "-c", script};
    return c;
  }
  TaskSpec NewTask(std::vector<ContainerSpec> containers, std::vector<model::Volume> volumes = {},
                   const std::string& mode = "none") {
    TaskSpec t = privileged::ModeTask(mode);
    t.containers = std::move(containers);
    t.volumes = std::move(volumes);
    return t;
  }
  Status Sandbox(const TaskSpec& t) {
    RETURN_IF_ERROR(rt_->CreateSandbox(t));
    return rt_->PullImages(t).status();
  }
  ContainerState State(const TaskSpec& t, const std::string& name) {
    auto s = rt_->Inspect(t);
    if (s.ok()) {
      for (const auto& c : s->containers) {
        if (c.name == name) return c;
      }
    }
    return {};
  }
  // Starts the named container and waits (30 s at most) for it to end by itself.
  void RunToEnd(const TaskSpec& t, const std::string& name) {
    Status st = rt_->StartContainers(t, {name});
    ASSERT_TRUE(st.ok()) << st.ToString();
    bool ended = privileged::WaitFor([&] { return State(t, name).phase == ContainerState::Phase::kExited; },
                                     std::chrono::seconds(30));
    ASSERT_TRUE(ended) << name << " did not end; log: " << Log(t, name);
  }
  // Runs a one-container task to its end and returns its log; the task is deleted.
  std::string RunOne(ContainerSpec c, std::vector<model::Volume> volumes = {}, int* exit_code = nullptr,
                     const std::string& mode = "none") {
    TaskSpec t = NewTask({c}, std::move(volumes), mode);
    Status st = Sandbox(t);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return "";
    RunToEnd(t, c.name);
    std::string log = Log(t, c.name);
    if (exit_code) *exit_code = State(t, c.name).exit_code.value_or(-1);
    EXPECT_TRUE(rt_->Delete(t).ok());
    return log;
  }
  std::string Log(const TaskSpec& t, const std::string& name) {
    std::ifstream in(rt_->LogPath(t.task_id, name));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::string TaskDir(const TaskSpec& t) const { return data_dir_ + "/runtime/tasks/" + t.task_id; }

  std::string data_dir_;
  privileged::TestNetworks nets_;
  std::unique_ptr<LocalRuntime> rt_;
};

// A task-scoped volume is shared by the task's containers (one through its mountPoints,
// one through volumesFrom) and goes with the task.
TEST_F(VolumesTest, TaskVolumeSharedByContainersAndGoneWithTheTask) {
  ContainerSpec writer = Shell("writer", "echo shared-data > /data/f");
  writer.mount_points = {{"scratch", "/data", false}};
  ContainerSpec reader = Shell("reader", "cat /data/f");
  reader.volumes_from = {{"writer", false}};
  TaskSpec t = NewTask({writer, reader}, {HostVolume("scratch")});
  ASSERT_TRUE(Sandbox(t).ok());
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t, "writer"));
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t, "reader"));
  EXPECT_EQ(Log(t, "reader"), "shared-data\n");
  EXPECT_TRUE(fs::exists(TaskDir(t) + "/volumes/scratch/f"));
  ASSERT_TRUE(rt_->Delete(t).ok());
  EXPECT_FALSE(fs::exists(TaskDir(t) + "/volumes")) << "a task-scoped volume outlived its task";
}

// Two tasks name one EFS file system: what one writes, the other reads; an access point is
// a directory of its own; the files outlive both tasks.
TEST_F(VolumesTest, TwoTasksShareAnEfsVolume) {
  ContainerSpec w = Shell("w", "echo via-efs > /mnt/efs/hello && echo via-ap > /mnt/ap/hello");
  w.mount_points = {{"efs", "/mnt/efs", false}, {"ap", "/mnt/ap", false}};
  std::vector<model::Volume> vols = {EfsVolume("efs", "fs-0123abcd"), EfsVolume("ap", "fs-0123abcd", "/", "fsap-0a1b")};
  int code = -1;
  RunOne(w, vols, &code);
  EXPECT_EQ(code, 0);
  ContainerSpec r = Shell("r", "cat /mnt/efs/hello /mnt/ap/hello /mnt/efs/access-points/fsap-0a1b/hello");
  r.mount_points = {{"efs", "/mnt/efs", true}, {"ap", "/mnt/ap", true}};
  EXPECT_EQ(RunOne(r, vols), "via-efs\nvia-ap\nvia-ap\n");
  ASSERT_TRUE(rt_->GarbageCollect({}, {}).ok());
  EXPECT_TRUE(fs::exists(data_dir_ + "/efs/fs-0123abcd/hello")) << "EFS files must outlive tasks";
}

// A shared docker volume outlives its task, and a later task without autoprovision uses
// it; Docker's copy-up fills it from the image the first time.
TEST_F(VolumesTest, SharedDockerVolumeOutlivesItsTask) {
  ContainerSpec w = Shell("w", "ls /usr/share/seed; echo kept > /usr/share/seed/mine");
  w.mount_points = {{"pgdata", "/usr/share/seed", false}};
  std::string log = RunOne(w, {DockerVolume("pgdata", "shared", true)});
  EXPECT_NE(log.find("index.html"), std::string::npos) << "the image's files were not copied up: " << log;
  ASSERT_TRUE(rt_->GarbageCollect({}, {}).ok());
  ContainerSpec r = Shell("r", "cat /v/mine");
  r.mount_points = {{"pgdata", "/v", false}};
  EXPECT_EQ(RunOne(r, {DockerVolume("pgdata", "shared", false)}), "kept\n");
  // Without autoprovision, a volume that does not exist fails the start.
  TaskSpec t = NewTask({r}, {DockerVolume("nope", "shared", false)});
  t.containers[0].mount_points = {{"nope", "/v", false}};
  ASSERT_TRUE(Sandbox(t).ok());
  Status st = rt_->StartContainers(t);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not exist and autoprovision is set to false"), std::string::npos) << st.message();
  EXPECT_TRUE(rt_->Delete(t).ok());
}

TEST_F(VolumesTest, ReadOnlyMountRefusesWrites) {
  ContainerSpec c = Shell("c", "touch /ro/x && echo wrote || echo refused");
  c.mount_points = {{"v", "/ro", true}};
  std::string log = RunOne(c, {HostVolume("v")});
  EXPECT_NE(log.find("Read-only file system"), std::string::npos) << log;
  EXPECT_NE(log.find("refused"), std::string::npos) << log;
}

// A host bind mount: made when missing (as Docker's -v), and the host sees the writes.
TEST_F(VolumesTest, HostBindMount) {
  std::string src = data_dir_ + "/host-src/sub";
  ContainerSpec c = Shell("c", "echo from-container > /host/out");
  c.mount_points = {{"h", "/host", false}};
  int code = -1;
  RunOne(c, {HostVolume("h", src)}, &code);
  EXPECT_EQ(code, 0);
  std::ifstream in(src + "/out");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "from-container\n");
}

// The effective capability mask of the container's process.
uint64_t CapEff(const std::string& log) {
  size_t at = log.find("CapEff:");
  if (at == std::string::npos) return 0;
  return std::stoull(std::string(Trim(log.substr(at + 7, 17))), nullptr, 16);
}

TEST_F(VolumesTest, CapabilitiesAddAndDrop) {
  ContainerSpec c = Shell("c", "grep Cap /proc/self/status");
  std::string plain = RunOne(c);
  c.linux_parameters.capabilities_add = {"NET_ADMIN"};
  c.linux_parameters.capabilities_drop = {"CHOWN"};
  std::string tweaked = RunOne(c);
  const uint64_t kChown = 1ull << 0, kNetAdmin = 1ull << 12;
  EXPECT_TRUE(CapEff(plain) & kChown) << plain;
  EXPECT_FALSE(CapEff(plain) & kNetAdmin) << plain;
  EXPECT_FALSE(CapEff(tweaked) & kChown) << tweaked;
  EXPECT_TRUE(CapEff(tweaked) & kNetAdmin) << tweaked;
}

// initProcessEnabled: tini is PID 1 and forwards SIGTERM, so httpd stops with it (143)
// instead of being killed at the stop timeout (137), as it is without an init.
TEST_F(VolumesTest, InitProcessIsPidOneAndForwardsSigterm) {
  if (!fs::exists("/usr/bin/tini-static")) GTEST_SKIP() << "tini is missing (scripts/install-deps.sh)";
  auto run = [&](bool init) {
    ContainerSpec c = Shell("web", "cat /proc/1/cmdline | tr '\\000' ' '; echo; exec httpd -f -p 8080");
    c.linux_parameters.init_process_enabled = init;
    c.stop_timeout_s = init ? 60 : 1;
    TaskSpec t = NewTask({c});
    EXPECT_TRUE(Sandbox(t).ok());
    EXPECT_TRUE(rt_->StartContainers(t).ok());
    EXPECT_TRUE(privileged::WaitFor([&] { return !Log(t, "web").empty(); }));
    std::string log = Log(t, "web");
    auto stopped = rt_->StopContainers(t);
    int code = stopped.ok() && !stopped->containers.empty() ? stopped->containers[0].exit_code.value_or(-1) : -2;
    EXPECT_TRUE(rt_->Delete(t).ok());
    return std::make_pair(log, code);
  };
  auto [log, code] = run(true);
  EXPECT_EQ(log.rfind("/sbin/docker-init -- /bin/sh -c", 0), 0u) << log;
  EXPECT_EQ(code, 143) << "SIGTERM should end httpd under tini";
  auto [plain_log, plain_code] = run(false);
  EXPECT_EQ(plain_log.rfind("/bin/sh -c", 0), 0u) << plain_log;
  EXPECT_EQ(plain_code, 137) << "httpd as PID 1 ignores SIGTERM";
}

TEST_F(VolumesTest, TmpfsAndSharedMemorySize) {
  ContainerSpec c = Shell("c", "grep -E ' (/scratch|/dev/shm) ' /proc/mounts");
  c.linux_parameters.tmpfs = {{"/scratch", 32, {"noatime"}}};
  c.linux_parameters.shared_memory_size_mib = 128;
  std::string log = RunOne(c);
  EXPECT_NE(log.find("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,noatime,size=32768k"), std::string::npos) << log;
  EXPECT_NE(log.find("/dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=131072k"), std::string::npos) << log;
}

// A device: the node is there and reads; with "read" alone the device cgroup refuses
// opening it for writing, with "write" too it opens. (/dev/fuse: runc allows /dev/zero and
// its like to every container anyway.)
TEST_F(VolumesTest, DeviceWithPermissions) {
  ContainerSpec c = Shell("c", "head -c 3 /dev/kecs-zero | wc -c | tr -d ' '");
  c.linux_parameters.devices = {{"/dev/zero", "/dev/kecs-zero", {}}};
  EXPECT_EQ(RunOne(c), "3\n");
  if (!fs::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse on this host for the permission check";
  ContainerSpec w = Shell("w", "(exec 3>/dev/kecs-fuse) 2>/dev/null && echo opened || echo refused");
  w.linux_parameters.devices = {{"/dev/fuse", "/dev/kecs-fuse", {"read"}}};
  EXPECT_EQ(RunOne(w), "refused\n");
  w.linux_parameters.devices = {{"/dev/fuse", "/dev/kecs-fuse", {"read", "write"}}};
  EXPECT_EQ(RunOne(w), "opened\n");
}

TEST_F(VolumesTest, SysctlsApplied) {
  ContainerSpec c = Shell("c", "cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmni");
  c.system_controls = {{"net.core.somaxconn", "1234"}, {"kernel.shmmni", "777"}};
  EXPECT_EQ(RunOne(c), "1234\n777\n");
}

TEST_F(VolumesTest, SeccompForUnprivilegedOnly) {
  if (!fs::exists("/usr/share/containers/seccomp.json")) GTEST_SKIP() << "golang-github-containers-common is missing";
  ContainerSpec c = Shell("c", "grep Seccomp: /proc/self/status; grep -c ' /sys sysfs ro' /proc/mounts");
  std::string plain = RunOne(c);
  EXPECT_NE(plain.find("Seccomp:\t2"), std::string::npos) << plain;
  c.privileged = true;
  std::string priv = RunOne(c);
  EXPECT_NE(priv.find("Seccomp:\t0"), std::string::npos) << priv;
  EXPECT_NE(priv.find("\n0\n"), std::string::npos) << "a privileged container's /sys is writable: " << priv;
}

// A container hostname where AWS allows one (bridge and none modes): its own
// /etc/hostname, UTS name and hosts line.
TEST_F(VolumesTest, ContainerHostnameInNoneMode) {
  ContainerSpec c = Shell("c", "hostname; cat /etc/hostname");
  c.hostname = "db-primary";
  EXPECT_EQ(RunOne(c), "db-primary\ndb-primary\n");
}

// pidMode task: the task's containers share one PID namespace, so one sees the other's
// processes; the namespace holder goes with the task.
TEST_F(VolumesTest, PidModeTaskSharesProcesses) {
  ContainerSpec sleeper = Shell("sleeper", "exec sleep 31337");
  ContainerSpec looker = Shell("looker", "ps -o args | grep -c '^sleep 31337'");
  TaskSpec t = NewTask({sleeper, looker});
  t.pid_mode = "task";
  ASSERT_TRUE(Sandbox(t).ok());
  ASSERT_TRUE(rt_->StartContainers(t, {"sleeper"}).ok());
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t, "looker"));
  EXPECT_EQ(Log(t, "looker"), "1\n");
  ASSERT_TRUE(rt_->StopContainers(t).ok());
  ASSERT_TRUE(rt_->Delete(t).ok());
  EXPECT_FALSE(fs::exists(TaskDir(t) + "/ns-holder.pid"));
  // Without pidMode each container has its own PID namespace.
  ContainerSpec alone = Shell("alone", "ps -o args | grep -c '^sleep 31337'");
  EXPECT_EQ(RunOne(alone), "0\n");
}

// ipcMode task: one IPC namespace and one /dev/shm for the task's containers.
TEST_F(VolumesTest, IpcModeTaskSharesIpcAndShm) {
  ContainerSpec a = Shell("a", "readlink /proc/self/ns/ipc; echo from-a > /dev/shm/f");
  ContainerSpec b = Shell("b", "readlink /proc/self/ns/ipc; cat /dev/shm/f");
  TaskSpec t = NewTask({a, b});
  t.ipc_mode = "task";
  ASSERT_TRUE(Sandbox(t).ok());
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t, "a"));
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t, "b"));
  std::string la = Log(t, "a"), lb = Log(t, "b");
  ASSERT_FALSE(la.empty());
  EXPECT_EQ(lb.substr(0, lb.find('\n')), la.substr(0, la.find('\n'))) << la << lb;
  EXPECT_NE(lb.find("from-a"), std::string::npos) << lb;
  ASSERT_TRUE(rt_->Delete(t).ok());
  EXPECT_FALSE(fs::exists(TaskDir(t) + "/shm"));
}

}  // namespace
}  // namespace kecs::runtime::local
