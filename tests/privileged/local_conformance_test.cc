// The runtime conformance suite (unit/runtime/conformance.h) against the local runtime:
// runc containers in real namespaces, images pulled from a local docker-registry.
//
// A registry (Debian's docker-registry) on a free 127.0.0.1 port serves a busybox image
// built offline (build_busybox_image.sh) as library/busybox:latest; the runtime resolves
// "busybox" to docker.io and reaches the registry through its mirror setting. Each test
// gets its own data dir under /tmp and the process's name prefix; TearDown runs
// GarbageCollect({}, {}) and RemoveAll and checks that nothing with the prefix is left,
// and a global environment stops the registry at the end, also after failures.
#include "runtime/local/local_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "privileged/local_env.h"
#include "unit/runtime/conformance.h"

namespace kecs::runtime::conformance {
namespace {

namespace fs = std::filesystem;
using privileged::Sh;

using privileged::MakeTempDir;

// A /proc file of a process that may end while it is read ("" then).
std::string ReadProcFile(const fs::path& p) {
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

bool PortAnswers(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// The registry, started on first use and stopped by the global environment.
class Registry {
 public:
  static Registry& Get() {
    static Registry r;
    return r;
  }
  // Starts the registry and pushes the image once per process.
  Status Ensure() {
    std::lock_guard<std::mutex> lock(mu_);
    if (ready_) return Status::Ok();
    if (!failure_.ok()) return failure_;
    failure_ = StartLocked();
    ready_ = failure_.ok();
    return failure_;
  }
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; ++i) usleep(50 * 1000);
      if (waitpid(pid_, &st, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
    }
    ready_ = false;
  }
  std::string addr() const { return addr_; }

 private:
  Status StartLocked() {
    dir_ = MakeTempDir("registry");
    if (dir_.empty()) return Internal("mkdtemp for the registry failed");
    int port = FreeLoopbackPort();
    addr_ = "127.0.0.1:" + std::to_string(port);
    std::string cfg = dir_ + "/config.yml";
    {
      std::ofstream out(cfg);
      out << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " << dir_ << "/data\n"
          << "http:\n  addr: " << addr_ << "\n";
    }
    std::string log = dir_ + "/registry.log";
    pid_ = fork();
    if (pid_ < 0) return PosixError("fork", errno);
    if (pid_ == 0) {
      // Dies with the test process, however it ends.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execlp("docker-registry", "docker-registry", "serve", cfg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (!privileged::WaitFor([&] { return PortAnswers(port); }, std::chrono::seconds(15))) {
      std::ifstream in(log);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return Unavailable("docker-registry did not start on " + addr_ + ": " + LastLine(text));
    }
    std::string script = std::string(KECS_SOURCE_DIR) + "/tests/privileged/build_busybox_image.sh";
    auto r = RunProcess({"/bin/sh", script, dir_ + "/image", addr_, "library/busybox:latest"}, std::chrono::minutes(3));
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Internal("build_busybox_image.sh failed: " + r->out + r->err);
    return Status::Ok();
  }

  std::mutex mu_;
  bool ready_ = false;
  Status failure_;
  pid_t pid_ = -1;
  std::string dir_, addr_;
};

class RegistryEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    Registry::Get().Stop();
    if (!privileged::IsRoot()) return;
    privileged::Sweep(privileged::Prefix());
    auto left = privileged::FindLeftovers(privileged::Prefix());
    EXPECT_TRUE(left.empty()) << "left on the machine at exit: " << left.ToString();
  }
};
::testing::Environment* const kRegistryEnv = ::testing::AddGlobalTestEnvironment(new RegistryEnvironment);

class LocalHarness : public Harness {
 public:
  explicit LocalHarness(std::string mode) : mode_(std::move(mode)) {}

  std::string SkipReason() override {
    if (!privileged::IsRoot()) {
      return "privileged test: the local runtime needs root (namespaces, nftables, runc); run "
             "`ctest -L privileged` as root";
    }
    for (const char* tool : {"runc", "skopeo", "umoci", "docker-registry"}) {
      if (Sh({"sh", "-c", std::string("command -v ") + tool}).code != 0) {
        return std::string("the local runtime's conformance needs ") + tool + " (scripts/install-deps.sh)";
      }
    }
    return "";
  }

  Status Start() override {
    RETURN_IF_ERROR(Registry::Get().Ensure());
    data_dir_ = MakeTempDir("data");
    if (data_dir_.empty()) return Internal("mkdtemp for the data dir failed");
    nets_ = privileged::PickNetworks();
    vpc_ = privileged::MakeVpc(nets_.vpc_a, 0);
    local::LocalOptions o;
    o.data_dir = data_dir_;
    o.shim_exe = KECS_SHIM;
    o.network = privileged::NetworkOptionsFor(nets_);
    o.registries.mirrors["docker.io"] = Registry::Get().addr();
    o.registries.insecure.insert(Registry::Get().addr());
    rt_ = std::make_unique<local::LocalRuntime>(o);
    return rt_->Init();
  }

  Runtime& runtime() override { return *rt_; }

  TaskSpec NewTask(int n) override {
    TaskSpec t;
    if (mode_ == "awsvpc") t = privileged::AwsvpcTask(vpc_, 1 + n % 2, 10 + n);
    else if (mode_ == "bridge") t = privileged::BridgeTask(nets_, 10 + n);
    else t = privileged::ModeTask(mode_);
    tasks_.push_back(t.task_id);
    return t;
  }

  std::string Image() override { return "busybox"; }
  local::LocalRuntime& local() { return *rt_; }

  std::vector<std::string> Leftovers(const TaskSpec& t) override {
    std::vector<std::string> out;
    const std::string& p = privileged::Prefix();
    if (net::netns::Exists(rt_->network().TaskNetns(t.task_id))) out.push_back("netns " + rt_->network().TaskNetns(t.task_id));
    for (const auto& l : privileged::LinksWithAlias("", "kecs:task:" + t.task_id)) out.push_back("host link " + l);
    if (t.network.mode == model::NetworkMode::kAwsvpc && net::netns::Exists(p + "-r-" + t.network.vpc_id)) {
      for (const auto& l : privileged::LinksWithAlias(p + "-r-" + t.network.vpc_id, "kecs:task:" + t.task_id)) {
        out.push_back("router link " + l);
      }
    }
    fs::path task_dir = fs::path(data_dir_) / "runtime/tasks" / t.task_id;
    std::error_code ec;
    if (fs::exists(task_dir / "containers", ec)) out.push_back("dir " + (task_dir / "containers").string());
    std::string cid = p + "-" + t.task_id + "-";
    for (const auto& e : fs::directory_iterator(fs::path(data_dir_) / "runtime/runc", ec)) {
      if (e.path().filename().string().rfind(cid, 0) == 0) out.push_back("runc state " + e.path().filename().string());
    }
    // The containers' cgroups (runc's cgroupsPath <p>/<task>/<container>); the task's own
    // directory is checked by LocalRuntimeTest.DeleteRemovesTheTaskCgroup.
    for (const auto& cg : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      for (const auto& leaf : fs::directory_iterator(cg.path() / p / t.task_id, ec)) {
        if (leaf.is_directory(ec)) out.push_back("cgroup " + leaf.path().string());
      }
    }
    std::ifstream mi("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mi, line)) {
      if (line.find(task_dir.string()) != std::string::npos) out.push_back("mount " + line);
    }
    // Shims (kecs-shim ... <p>-<task>-<container> ...) and so their containers.
    for (const auto& proc : fs::directory_iterator("/proc", ec)) {
      std::string cmd = ReadProcFile(proc.path() / "cmdline");
      for (char& c : cmd) c = c == '\0' ? ' ' : c;
      if (cmd.find("shim") != std::string::npos && cmd.find(" " + cid) != std::string::npos) {
        out.push_back("process " + proc.path().filename().string() + ": " + cmd);
      }
    }
    return out;
  }

  std::vector<std::string> KeptFiles(const TaskSpec& t) override {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(fs::path(data_dir_) / "runtime/tasks" / t.task_id, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec)) out.push_back(it->path().string());
    }
    return out;
  }

  void CleanUp() override {
    try {
      CleanUpRuntime();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "clean-up threw: " << e.what();
      privileged::Sweep(privileged::Prefix());
    }
    if (!data_dir_.empty()) RemoveDataDir();
  }

 private:
  void CleanUpRuntime() {
    if (rt_) {
      Status st = rt_->GarbageCollect({}, {});
      EXPECT_TRUE(st.ok()) << "GarbageCollect({}, {}): " << st.ToString();
      st = rt_->network().RemoveAll();
      EXPECT_TRUE(st.ok()) << "RemoveAll: " << st.ToString();
    }
    // Whatever the runtime missed: reported as a failure, then removed anyway.
    const std::string& p = privileged::Prefix();
    std::vector<std::string> left;
    for (const auto& id : tasks_) {
      TaskSpec t;
      t.task_id = id;
      t.network.mode = model::ParseNetworkMode(mode_).value_or(model::NetworkMode::kNone);
      if (rt_) {
        for (auto& l : Leftovers(t)) left.push_back(l);
      }
    }
    EXPECT_TRUE(left.empty()) << "after GarbageCollect({}, {}) and RemoveAll: " << JoinAll(left);
    privileged::Sweep(p);
    bool clean = privileged::WaitFor([&] { return privileged::FindLeftovers(p).empty(); }, std::chrono::seconds(5));
    EXPECT_TRUE(clean) << "objects with prefix " << p << " left: " << privileged::FindLeftovers(p).ToString();
  }

  // Unmounts whatever is still mounted under the data dir, then removes it.
  void RemoveDataDir() {
    std::error_code ec = privileged::RemoveTree(data_dir_);
    EXPECT_FALSE(ec) << "remove " << data_dir_ << ": " << ec.message();
  }

  std::string mode_;
  std::string data_dir_;
  privileged::TestNetworks nets_;
  privileged::Vpc vpc_;
  std::vector<std::string> tasks_;
  std::unique_ptr<local::LocalRuntime> rt_;
};

// ---------------------------------------------------------------------------------------
// The local runtime beyond the contract: what a container sees, and regression tests of
// bugs it had (a made-up exit code, a task cgroup left behind, TERM without a terminal).

class LocalRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KECS_REQUIRE_ROOT();
    h_ = std::make_unique<LocalHarness>("awsvpc");
    std::string why = h_->SkipReason();
    if (!why.empty()) {
      h_.reset();
      GTEST_SKIP() << why;
    }
    Status st = h_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    if (h_) h_->CleanUp();
  }
  local::LocalRuntime& rt() { return h_->local(); }
  TaskSpec OneContainer(int n, ContainerSpec c) {
    TaskSpec t = h_->NewTask(n);
    c.image = "busybox";
    t.containers = {c};
    return t;
  }
  std::string Log(const TaskSpec& t) {
    std::ifstream in(rt().LogPath(t.task_id, t.containers.at(0).name));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  // Starts the task and waits (10 s at most) for its container to end by itself.
  void RunToEnd(const TaskSpec& t) {
    ASSERT_TRUE(rt().CreateSandbox(t).ok());
    ASSERT_TRUE(rt().PullImages(t).ok());
    Status st = rt().StartContainers(t);
    ASSERT_TRUE(st.ok()) << st.ToString();
    bool ended = privileged::WaitFor(
        [&] {
          auto s = rt().Inspect(t);
          return s.ok() && s->containers.at(0).phase == ContainerState::Phase::kExited;
        },
        std::chrono::seconds(10));
    ASSERT_TRUE(ended) << "the container did not end";
  }
  std::unique_ptr<LocalHarness> h_;
};

// The container definition, as the process inside sees it.
TEST_F(LocalRuntimeTest, WhatTheContainerSees) {
  ContainerSpec c;
  c.name = "probe";
  c.entry_point = {"/bin/sh", "-c"};
  c.command = {"echo host=$(hostname); echo uid=$(id -u) gid=$(id -g); echo cwd=$(pwd); "
               "echo ---hosts; cat /etc/hosts; echo ---resolv; cat /etc/resolv.conf; echo ---env; env; "
               "echo ---addr; ip -o -4 addr show dev eth0; echo ---end; exit 7"};
  c.user = "1000:2000";
  c.working_directory = "/tmp";
  c.environment = {{"FOO", "bar"}};
  TaskSpec t = OneContainer(1, c);
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t));
  auto s = rt().Inspect(t);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->containers.at(0).exit_code, 7) << StatesText(*s);
  std::string log = Log(t);
  const auto& n = t.network;
  EXPECT_NE(log.find("host=" + n.hostname + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("uid=1000 gid=2000\n"), std::string::npos) << log;
  EXPECT_NE(log.find("cwd=/tmp\n"), std::string::npos) << log;
  EXPECT_NE(log.find(n.ip + "\t" + n.hostname), std::string::npos) << "/etc/hosts: " << log;
  EXPECT_NE(log.find("nameserver " + n.dns_server), std::string::npos) << "the VPC resolver: " << log;
  EXPECT_NE(log.find("\nFOO=bar\n"), std::string::npos) << log;
  EXPECT_NE(log.find("\nAWS_EXECUTION_ENV=AWS_ECS_EC2\n"), std::string::npos) << log;
  EXPECT_NE(log.find("\nHOSTNAME=" + n.hostname + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("inet " + n.ip + "/24"), std::string::npos) << "the ENI's address on eth0: " << log;
  EXPECT_NE(log.find("---end"), std::string::npos) << log;
  ASSERT_TRUE(rt().Delete(t).ok());
}

// Between a container's end and its shim writing the exit file, Inspect (and so
// StopContainers) must not report 137 ("the shim was killed"): the shim records the code
// before it reaps the container's init, so quick containers and stops keep their real code.
TEST_F(LocalRuntimeTest, ExitCodeIsNeverMadeUp) {
  for (int round = 0; round < 10; ++round) {
    ContainerSpec c;
    c.name = "quick";
    c.entry_point = {"/bin/sh", "-c", "exit 3"};
    TaskSpec t = OneContainer(2 + round, c);
    ASSERT_TRUE(rt().CreateSandbox(t).ok());
    ASSERT_TRUE(rt().PullImages(t).ok());
    ASSERT_TRUE(rt().StartContainers(t).ok());
    std::optional<int> first;
    for (int i = 0; i < 5000 && !first; ++i) {
      auto s = rt().Inspect(t);
      ASSERT_TRUE(s.ok());
      if (s->containers.at(0).phase == ContainerState::Phase::kExited) first = s->containers.at(0).exit_code.value_or(-1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(first, 3) << "round " << round << ": the first exit code reported was made up";
    ASSERT_TRUE(rt().Delete(t).ok());
  }
}

// runc removes only the container's own cgroup (<p>/<task>/<container>); the task's
// directory above it is the runtime's to remove, in every controller.
TEST_F(LocalRuntimeTest, DeleteRemovesTheTaskCgroup) {
  ContainerSpec c;
  c.name = "short";
  c.entry_point = {"/bin/sh", "-c", "exit 0"};
  TaskSpec t = OneContainer(12, c);
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t));
  ASSERT_TRUE(rt().Delete(t).ok());
  ASSERT_TRUE(rt().GarbageCollect({}, {}).ok());
  std::vector<std::string> left;
  std::error_code ec;
  for (const auto& cg : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    fs::path p = cg.path() / privileged::Prefix() / t.task_id;
    if (fs::exists(p, ec)) left.push_back(p.string());
  }
  EXPECT_TRUE(left.empty()) << JoinAll(left);
}

// umoci's spec template puts TERM=xterm in the environment; Docker sets TERM only for
// containers with a TTY, and ECS containers have none.
TEST_F(LocalRuntimeTest, NoTermWithoutATerminal) {
  ContainerSpec c;
  c.name = "env";
  c.entry_point = {"/bin/sh", "-c", "env"};
  TaskSpec t = OneContainer(13, c);
  ASSERT_NO_FATAL_FAILURE(RunToEnd(t));
  EXPECT_EQ(Log(t).find("TERM="), std::string::npos) << Log(t);
  ASSERT_TRUE(rt().Delete(t).ok());
}

RuntimeFactory Local(const std::string& mode) {
  return {"local_" + mode, [mode] { return std::make_unique<LocalHarness>(mode); }};
}

INSTANTIATE_TEST_SUITE_P(Local, RuntimeConformance,
                         ::testing::Values(Local("awsvpc"), Local("bridge"), Local("host")), RuntimeFactoryName);

}  // namespace
}  // namespace kecs::runtime::conformance
