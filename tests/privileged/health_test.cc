// Container health checks and the stop order of the local runtime, for real (root, runc):
// the shim runs each check inside the container (its namespaces, cgroups, user, root and
// environment) on the check's schedule, with Docker's rules for startPeriod, retries and
// timeout, and StopContainers stops the containers wave by wave in StopOrder.
//
// The busybox image is built offline (build_busybox_image.sh) and loaded from a
// docker-archive, so no registry is needed. Each test gets its own data dir under /tmp and
// the process's name prefix; TearDown removes every task (GarbageCollect), the networks,
// and whatever carries the prefix, also after a failure.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "privileged/local_env.h"
#include "runtime/local/health_files.h"
#include "runtime/local/local_runtime.h"

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;
using privileged::Sh;

using privileged::BusyboxArchive;

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KECS_REQUIRE_ROOT();
    for (const char* tool : {"runc", "skopeo", "umoci"}) {
      if (Sh({"sh", "-c", std::string("command -v ") + tool}).code != 0) {
        GTEST_SKIP() << "the local runtime needs " << tool << " (scripts/install-deps.sh)";
      }
    }
    auto tar = BusyboxArchive().Ensure();
    ASSERT_TRUE(tar.ok()) << tar.status().ToString();
    data_dir_ = privileged::MakeTempDir("data");
    ASSERT_FALSE(data_dir_.empty());
    nets_ = privileged::PickNetworks();
    vpc_ = privileged::MakeVpc(nets_.vpc_a, 0);
    LocalOptions o;
    o.data_dir = data_dir_;
    o.shim_exe = KECS_SHIM;
    o.network = privileged::NetworkOptionsFor(nets_);
    rt_ = std::make_unique<LocalRuntime>(o);
    Status st = rt_->Init();
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto loaded = rt_->images().Load(*tar, "busybox:latest");
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  }

  void TearDown() override {
    if (!privileged::IsRoot()) return;
    if (rt_) {
      Status st = rt_->GarbageCollect({}, {});
      EXPECT_TRUE(st.ok()) << st.ToString();
      st = rt_->network().RemoveAll();
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    // No shim and no health monitor of this test may be left.
    for (const auto& pid : ProcessesNamed(data_dir_)) ADD_FAILURE() << "process left: " << pid;
    privileged::Sweep(privileged::Prefix());
    bool clean = privileged::WaitFor([] { return privileged::FindLeftovers(privileged::Prefix()).empty(); },
                                     std::chrono::seconds(5));
    EXPECT_TRUE(clean) << privileged::FindLeftovers(privileged::Prefix()).ToString();
    if (!data_dir_.empty()) {
      std::vector<std::string> mounts;
      for (const auto& line : privileged::Lines(Sh({"cat", "/proc/self/mountinfo"}).out)) {
        auto parts = Split(line, ' ');
        if (parts.size() > 4 && parts[4].rfind(data_dir_ + "/", 0) == 0) mounts.push_back(parts[4]);
      }
      for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
      std::error_code ec;
      fs::remove_all(data_dir_, ec);
    }
  }

  // Processes whose command line names `needle` (shims name their bundle).
  static std::vector<std::string> ProcessesNamed(const std::string& needle) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& proc : fs::directory_iterator("/proc", ec)) {
      std::ifstream in(proc.path() / "cmdline");
      std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (char& c : cmd) c = c == '\0' ? ' ' : c;
      if (!needle.empty() && cmd.find(needle) != std::string::npos) out.push_back(proc.path().filename().string() + " " + cmd);
    }
    return out;
  }

  // A container that keeps running until stopped: it makes /tmp/ok, then waits. busybox
  // sh as PID 1 exits on SIGTERM through its trap.
  static ContainerSpec Runner(const std::string& name, std::vector<std::string> check, int interval = 5,
                              int timeout = 2, int retries = 2, int start_period = 0) {
    ContainerSpec c;
    c.name = name;
    c.image = "busybox";
    c.entry_point = {"/bin/sh", "-c"};
    c.command = {"touch /tmp/ok; trap 'exit 0' TERM; while true; do sleep 1; done"};
    c.stop_timeout_s = 5;
    if (!check.empty()) c.health_check = model::HealthCheck{std::move(check), interval, timeout, retries, start_period};
    return c;
  }

  TaskSpec Task(int n, std::vector<ContainerSpec> containers) {
    TaskSpec t = privileged::AwsvpcTask(vpc_, 1, 10 + n);
    t.containers = std::move(containers);
    return t;
  }

  void Start(const TaskSpec& t) {
    ASSERT_TRUE(rt_->CreateSandbox(t).ok());
    ASSERT_TRUE(rt_->PullImages(t).ok());
    Status st = rt_->StartContainers(t);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  ContainerState State(const TaskSpec& t, const std::string& name) {
    auto s = rt_->Inspect(t);
    if (!s.ok()) return {};
    for (const auto& c : s->containers) {
      if (c.name == name) return c;
    }
    return {};
  }

  // Waits (generously: a loaded machine is slow) until `pred` holds for the container.
  template <typename P>
  ContainerState WaitState(const TaskSpec& t, const std::string& name, P pred, int seconds = 60) {
    ContainerState last;
    privileged::WaitFor(
        [&] {
          last = State(t, name);
          return pred(last);
        },
        std::chrono::seconds(seconds));
    return last;
  }

  // The shim's own record of the check (failing streak and all).
  health::State ShimState(const TaskSpec& t, const std::string& name) {
    std::ifstream in(Bundle(t, name) + "/health");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return health::DecodeState(text).value_or(health::State{});
  }

  std::string Bundle(const TaskSpec& t, const std::string& name) {
    return data_dir_ + "/runtime/tasks/" + t.task_id + "/containers/" + name;
  }

  static bool Is(const ContainerState& s, model::HealthStatus h) { return s.health == h; }

  std::string data_dir_;
  privileged::TestNetworks nets_;
  privileged::Vpc vpc_;
  std::unique_ptr<LocalRuntime> rt_;
};

TEST_F(HealthTest, CmdShellPassingTurnsHealthyAndRemovingTheFileTurnsUnhealthyAfterRetries) {
  TaskSpec t = Task(1, {Runner("web", {"CMD-SHELL", "test -f /tmp/ok && echo fine"}, 5, 2, 2)});
  ASSERT_NO_FATAL_FAILURE(Start(t));
  EXPECT_EQ(State(t, "web").health, model::HealthStatus::kUnknown) << "starting: no check has run yet";
  ContainerState s = WaitState(t, "web", [](const ContainerState& c) { return Is(c, model::HealthStatus::kHealthy); });
  ASSERT_EQ(s.health, model::HealthStatus::kHealthy) << s.health_output;
  EXPECT_EQ(s.health_exit_code, 0);
  EXPECT_EQ(s.health_output, "fine\n");
  ASSERT_TRUE(s.started_at.has_value());
  EXPECT_FALSE(s.finished_at.has_value());

  // The file goes (through the container's root filesystem, seen from the host).
  fs::remove(Bundle(t, "web") + "/rootfs/tmp/ok");
  s = WaitState(t, "web", [](const ContainerState& c) { return Is(c, model::HealthStatus::kUnhealthy); });
  ASSERT_EQ(s.health, model::HealthStatus::kUnhealthy);
  EXPECT_EQ(s.health_exit_code, 1);
  // Exactly `retries` failed checks turned it: within interval x retries of the removal.
  EXPECT_EQ(ShimState(t, "web").failing_streak, 2);

  // A stopped container keeps its last verdict and gets its finish time.
  auto stopped = rt_->StopContainers(t);
  ASSERT_TRUE(stopped.ok());
  ASSERT_EQ(stopped->containers.size(), 1u);
  EXPECT_EQ(stopped->containers[0].exit_code, 0);
  ASSERT_TRUE(stopped->containers[0].finished_at.has_value());
  EXPECT_GE(*stopped->containers[0].finished_at, *s.started_at);
  // The shim killed the monitor with the container: no check runs any more.
  EXPECT_TRUE(privileged::WaitFor([&] { return ProcessesNamed(Bundle(t, "web")).empty(); }));
}

TEST_F(HealthTest, FailuresWithinTheStartPeriodDoNotCount) {
  // retries 1: one counted failure would make it unhealthy at once.
  TaskSpec t = Task(2, {Runner("slowstart", {"CMD-SHELL", "echo not yet; exit 3"}, 5, 2, 1, 20)});
  ASSERT_NO_FATAL_FAILURE(Start(t));
  ContainerState s = WaitState(t, "slowstart", [](const ContainerState& c) { return c.health_exit_code.has_value(); });
  ASSERT_EQ(s.health_exit_code, 3) << "the first check (at 5 s, within the 20 s start period) failed";
  EXPECT_EQ(s.health, model::HealthStatus::kUnknown);
  EXPECT_EQ(s.health_output, "not yet\n");
  // After the start period the next failure counts.
  s = WaitState(t, "slowstart", [](const ContainerState& c) { return Is(c, model::HealthStatus::kUnhealthy); });
  EXPECT_EQ(s.health, model::HealthStatus::kUnhealthy);
  EXPECT_EQ(ShimState(t, "slowstart").failing_streak, 1);
}

TEST_F(HealthTest, ASuccessWithinTheStartPeriodMakesHealthy) {
  TaskSpec t = Task(3, {Runner("quick", {"CMD-SHELL", "true"}, 5, 2, 3, 300)});
  ASSERT_NO_FATAL_FAILURE(Start(t));
  ContainerState s = WaitState(t, "quick", [](const ContainerState& c) { return Is(c, model::HealthStatus::kHealthy); });
  EXPECT_EQ(s.health, model::HealthStatus::kHealthy);
}

TEST_F(HealthTest, ACheckExceedingItsTimeoutFailsAndIsKilled) {
  TaskSpec t = Task(4, {Runner("hang", {"CMD-SHELL", "echo started; sleep 600"}, 5, 2, 1)});
  ASSERT_NO_FATAL_FAILURE(Start(t));
  ContainerState s = WaitState(t, "hang", [](const ContainerState& c) { return Is(c, model::HealthStatus::kUnhealthy); });
  ASSERT_EQ(s.health, model::HealthStatus::kUnhealthy);
  EXPECT_EQ(s.health_exit_code, -1);
  EXPECT_EQ(s.health_output, "Health check exceeded timeout (2s)") << "Docker's words";
  // The check's processes were killed: no `sleep 600` is left in the container.
  std::string cgroup_procs;
  for (const auto& dir : privileged::CgroupDirs(privileged::Prefix())) {
    std::ifstream in(dir + "/" + t.task_id + "/hang/cgroup.procs");
    std::string pids((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& pid : privileged::Lines(pids)) {
      std::ifstream cmd("/proc/" + pid + "/cmdline");
      std::string c((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
      EXPECT_EQ(c.find("600"), std::string::npos) << "pid " << pid << " still runs the check";
    }
    break;
  }
}

TEST_F(HealthTest, CmdFormExecsTheCommandWithTheContainersPath) {
  TaskSpec t = Task(5, {Runner("exec", {"CMD", "cat", "/tmp/ok", "/etc/hostname"}, 5, 2, 1),
                        Runner("missing", {"CMD", "no-such-program"}, 5, 2, 1)});
  ASSERT_NO_FATAL_FAILURE(Start(t));
  ContainerState s = WaitState(t, "exec", [](const ContainerState& c) { return Is(c, model::HealthStatus::kHealthy); });
  EXPECT_EQ(s.health, model::HealthStatus::kHealthy);
  EXPECT_EQ(s.health_output, t.network.hostname + "\n");
  s = WaitState(t, "missing", [](const ContainerState& c) { return Is(c, model::HealthStatus::kUnhealthy); });
  EXPECT_EQ(s.health, model::HealthStatus::kUnhealthy);
  EXPECT_EQ(s.health_exit_code, -1);
  EXPECT_NE(s.health_output.find("exec: \"no-such-program\": executable file not found in $PATH"), std::string::npos)
      << s.health_output;
}

TEST_F(HealthTest, TheCheckRunsInsideTheContainerAsItsUser) {
  ContainerSpec c = Runner("inside", {"CMD-SHELL",
                                      "echo host=$(hostname) uid=$(id -u) gid=$(id -g) cwd=$(pwd) foo=$FOO; "
                                      "echo pid1=$(cat /proc/1/cmdline | head -c 7); cat /www/index.html; "
                                      "ip -o -4 addr show dev eth0; grep -c /" +
                                          privileged::Prefix() + "/ /proc/self/cgroup"},
                           5, 2, 3);
  c.user = "1000:2000";
  c.working_directory = "/www";
  c.environment = {{"FOO", "bar baz"}};
  c.command = {"trap 'exit 0' TERM; while true; do sleep 1; done"};
  TaskSpec t = Task(6, {c});
  ASSERT_NO_FATAL_FAILURE(Start(t));
  ContainerState s = WaitState(t, "inside", [](const ContainerState& st) { return st.health_exit_code.has_value(); });
  EXPECT_EQ(s.health, model::HealthStatus::kHealthy) << s.health_output;
  const std::string& out = s.health_output;
  EXPECT_NE(out.find("host=" + t.network.hostname + " "), std::string::npos) << "its UTS namespace: " << out;
  EXPECT_NE(out.find("uid=1000 gid=2000 "), std::string::npos) << "its user: " << out;
  EXPECT_NE(out.find("cwd=/www "), std::string::npos) << "its working directory: " << out;
  EXPECT_NE(out.find("foo=bar baz\n"), std::string::npos) << "its environment: " << out;
  EXPECT_NE(out.find("pid1=/bin/sh"), std::string::npos) << "its PID namespace: " << out;
  EXPECT_NE(out.find("hello from kecs\n"), std::string::npos) << "its root filesystem: " << out;
  EXPECT_NE(out.find(t.network.ip + "/"), std::string::npos) << "its network namespace: " << out;
  // The check is in as many of the task's cgroups as the container's init.
  auto lines = privileged::Lines(out);
  ASSERT_FALSE(lines.empty());
  std::ifstream pid_file(Bundle(t, "inside") + "/pid");
  std::string pid;
  pid_file >> pid;
  std::string init_cgroups = Sh({"cat", "/proc/" + pid + "/cgroup"}).out;
  int want = 0;
  for (const auto& line : privileged::Lines(init_cgroups)) want += line.find("/" + privileged::Prefix() + "/") != std::string::npos;
  EXPECT_GT(want, 0) << init_cgroups;
  EXPECT_EQ(std::atoi(lines.back().c_str()), want) << "its cgroups: " << out << "\ninit's: " << init_cgroups;
}

TEST_F(HealthTest, StopContainersStopsDependentsFirstWaveByWave) {
  // "app" depends on "db": app must be gone before db gets SIGTERM. app ignores SIGTERM
  // (no trap) and is killed after its stopTimeout; db exits on SIGTERM at once, so
  // stopping both together would end db first.
  ContainerSpec db = Runner("db", {});
  ContainerSpec app = Runner("app", {});
  app.command = {"while true; do sleep 1; done"};
  app.stop_timeout_s = 2;
  app.depends_on = {{"db", model::DependencyCondition::kStart}};
  TaskSpec t = Task(7, {db, app});
  ASSERT_NO_FATAL_FAILURE(Start(t));
  ASSERT_EQ(StopOrder(t), (std::vector<std::vector<std::string>>{{"app"}, {"db"}}));
  auto stopped = rt_->StopContainers(t);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  ASSERT_EQ(stopped->containers.size(), 2u);
  const ContainerState& d = stopped->containers[0];
  const ContainerState& a = stopped->containers[1];
  EXPECT_EQ(d.exit_code, 0) << "db exits on SIGTERM";
  EXPECT_EQ(a.exit_code, 137) << "app is killed after its stopTimeout";
  ASSERT_TRUE(d.finished_at.has_value());
  ASSERT_TRUE(a.finished_at.has_value());
  EXPECT_GE(*d.finished_at, *a.finished_at) << "db stopped only after app was gone";
}

}  // namespace
}  // namespace kecs::runtime::local
