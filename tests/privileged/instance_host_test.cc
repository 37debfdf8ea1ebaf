// EC2 instances as hosts in their VPC (issue 17) on the local data plane: the instance's
// namespace and primary ENI, bridge- and host-mode tasks placed on it, its security groups,
// teardown and garbage collection, checked with real traffic (busybox httpd in the
// namespaces, curl from them).
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "net/kernel/host_ports.h"
#include "privileged/local_env.h"
#include "runtime/local/local_runtime.h"

namespace kecs::privileged {
namespace {

using runtime::InstanceHostSpec;
using runtime::TaskSpec;
using runtime::local::LocalNetwork;

// An instance with address 10.<octet>.<subnet>.<host>, its primary ENI as an awsvpc task's.
InstanceHostSpec InstanceIn(const Vpc& vpc, int subnet, int host) {
  InstanceHostSpec h;
  h.instance_id = "i-" + RandomHex(17);
  h.network = AwsvpcTask(vpc, subnet, host, /*internet_egress=*/true).network;
  return h;
}

TaskSpec OnInstance(TaskSpec t, const InstanceHostSpec& h) {
  t.network.instance_id = h.instance_id;
  t.network.instance_ip = h.network.ip;
  return t;
}

// A random port of the dynamic range that nothing on this host holds.
int FreePort() {
  for (int i = 0; i < 100; ++i) {
    int p = 20000 + static_cast<int>(std::stoul(RandomHex(4), nullptr, 16) % 10000);
    if (net::HostPortFree("tcp", p)) return p;
  }
  return 29999;
}

class InstanceHostTest : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    if (!std::filesystem::exists("/usr/bin/busybox") && !std::filesystem::exists("/bin/busybox")) {
      GTEST_SKIP() << "needs busybox (httpd) on the host";
    }
    nets_ = PickNetworks();
    dir_ = MakeTempDir("ihost");
    ASSERT_FALSE(dir_.empty());
    std::filesystem::create_directories(dir_ + "/www");
    std::ofstream(dir_ + "/www/index.html") << "hello from the instance\n";
    net_ = std::make_unique<LocalNetwork>(NetworkOptionsFor(nets_));
    Status st = net_->Init();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    for (int pid : servers_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (net_) {
      Status st = net_->RemoveAll();
      EXPECT_TRUE(st.ok()) << "RemoveAll: " << st.ToString();
    }
    if (!dir_.empty()) RemoveTree(dir_);
    PrivilegedTest::TearDown();
  }
  // busybox httpd in `ns` on `port`, in the background (killed in TearDown).
  void Serve(const std::string& ns, int port) {
    pid_t pid = fork();
    if (pid == 0) {
      execlp("ip", "ip", "netns", "exec", ns.c_str(), "busybox", "httpd", "-f", "-p", std::to_string(port).c_str(),
             "-h", (dir_ + "/www").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_GT(pid, 0);
    servers_.push_back(pid);
    ASSERT_TRUE(WaitFor([&] {
      return Sh({"ip", "netns", "exec", ns, "sh", "-c", fmt::format("busybox netstat -ltn | grep -q ':{} '", port)}).code == 0;
    })) << "httpd does not listen in " << ns;
  }
  // What curl gets from http://ip:port/ in `ns` ("" when it fails).
  std::string Fetch(const std::string& ns, const std::string& ip, int port, const std::string& path = "/") {
    // curl: the host's busybox wget may crash (seen on Debian's 1.35).
    std::vector<std::string> argv = {"curl", "-s", "-m", "3", fmt::format("http://{}:{}{}", ip, port, path)};
    if (!ns.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    Cmd c = Sh(argv, std::chrono::seconds(10));
    return c.code == 0 ? c.out : "";
  }
  void Apply(const InstanceHostSpec& h) {
    Status st = net_->SetUpInstance(h);
    ASSERT_TRUE(st.ok()) << "SetUpInstance: " << st.ToString();
  }
  void SetUpTask(const TaskSpec& t) {
    Status st = net_->SetUpTask(t);
    ASSERT_TRUE(st.ok()) << "SetUpTask: " << st.ToString();
  }
  std::string Nft(const std::string& ns, const std::string& what) {
    return Sh({"ip", "netns", "exec", ns, "sh", "-c", "nft list " + what}).out;
  }
  // A policy for `vpc`'s subnets a and b (network ACLs allow everything): the instance's
  // ENI in group sg-inst with `instance_ingress`, the task's in sg-task (all egress).
  net::VpcPolicy Policy(const Vpc& vpc, const InstanceHostSpec& h, const TaskSpec& client,
                        std::vector<net::SgRule> instance_ingress) {
    net::VpcPolicy p;
    p.vpc_id = vpc.id;
    net::SgRule all_out{"sgr-out", true, "-1", -1, -1, "0.0.0.0/0", "", "", ""};
    instance_ingress.push_back(all_out);
    p.groups = {{"sg-inst", instance_ingress}, {"sg-task", {all_out}}};
    p.enis = {{h.network.eni_id, h.network.ip, "", h.network.subnet_id, {"sg-inst"}},
              {client.network.eni_id, client.network.ip, "", client.network.subnet_id, {"sg-task"}}};
    std::vector<net::NaclEntry> allow = {{100, false, "-1", -1, -1, -1, -1, "0.0.0.0/0", "", true},
                                         {100, true, "-1", -1, -1, -1, -1, "0.0.0.0/0", "", true}};
    p.subnets = {{vpc.subnet_a, "", "acl-a", allow}, {vpc.subnet_b, "", "acl-b", allow}};
    return p;
  }

  TestNetworks nets_;
  std::string dir_;
  std::unique_ptr<LocalNetwork> net_;
  std::vector<int> servers_;
};

TEST_F(InstanceHostTest, ApplyTwiceIsANoOpAndTheInstanceIsAHostInItsVpc) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  InstanceHostSpec h = InstanceIn(vpc, 1, 20);
  ASSERT_NO_FATAL_FAILURE(Apply(h));
  std::string ns = net_->InstanceNetns(h.instance_id);
  EXPECT_EQ(ns, P() + "-i-" + h.instance_id.substr(2));
  auto snapshot = [&] {
    return Sh({"ip", "netns", "exec", ns, "ip", "-o", "addr"}).out + Sh({"ip", "netns", "exec", ns, "ip", "route"}).out +
           Nft(ns, "ruleset") + Join(LinksWithAlias(P() + "-r-" + vpc.id, "kecs:instance:" + h.instance_id), ",");
  };
  std::string before = snapshot();
  ASSERT_NO_FATAL_FAILURE(Apply(h));
  EXPECT_EQ(snapshot(), before) << "a second ApplyInstanceHost changed something";

  // eth0: the ENI's MAC and address, a default route via the subnet's router.
  std::string eth0 = Sh({"ip", "netns", "exec", ns, "ip", "-o", "addr", "show", "dev", "eth0"}).out;
  EXPECT_NE(eth0.find(h.network.ip + "/24"), std::string::npos) << eth0;
  EXPECT_NE(Sh({"ip", "netns", "exec", ns, "ip", "link", "show", "eth0"}).out.find(h.network.mac), std::string::npos);
  EXPECT_NE(Sh({"ip", "netns", "exec", ns, "ip", "route"}).out.find("default via " + h.network.gateway),
            std::string::npos);
  EXPECT_EQ(LinksWithAlias(P() + "-r-" + vpc.id, "kecs:instance:" + h.instance_id).size(), 1u);
  std::string table = Nft(ns, "table ip kecs_host");
  EXPECT_NE(table.find("kecs:hairpin"), std::string::npos) << table;

  // An awsvpc task in another subnet of the VPC reaches it: ping, and a server of its own.
  TaskSpec client = AwsvpcTask(vpc, 2, 30);
  ASSERT_NO_FATAL_FAILURE(SetUpTask(client));
  EXPECT_TRUE(Ping(net_->TaskNetns(client.task_id), h.network.ip));
  int port = FreePort();
  ASSERT_NO_FATAL_FAILURE(Serve(ns, port));
  EXPECT_EQ(Fetch(net_->TaskNetns(client.task_id), h.network.ip, port), "hello from the instance\n");

  // A host-mode task on the instance is in the instance's namespace.
  TaskSpec host_task = OnInstance(ModeTask("host"), h);
  ASSERT_NO_FATAL_FAILURE(SetUpTask(host_task));
  EXPECT_EQ(net_->NetnsPath(host_task), std::string(net::netns::kRunDir) + "/" + ns);
  EXPECT_EQ(net_->NetnsPath(ModeTask("host")), "") << "a host-mode task elsewhere stays on this host";
  // An unknown instance is refused before anything is made.
  TaskSpec lost = ModeTask("bridge");
  lost.network.bridge_ip = fmt::format("192.168.{}.9", nets_.bridge);
  lost.network.instance_id = "i-0123456789abcdef0";
  EXPECT_EQ(net_->SetUpTask(lost).code(), Code::kFailedPrecondition);
  EXPECT_FALSE(net::netns::Exists(net_->TaskNetns(lost.task_id)));
}

TEST_F(InstanceHostTest, BridgeTaskAnswersAtTheInstanceAddressOnly) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  InstanceHostSpec h = InstanceIn(vpc, 1, 20);
  ASSERT_NO_FATAL_FAILURE(Apply(h));
  std::string ns = net_->InstanceNetns(h.instance_id);
  int host_port = FreePort();
  TaskSpec web = OnInstance(BridgeTask(nets_, 10), h);
  runtime::ContainerSpec c;
  c.name = "web";
  c.ports = {{"tcp", 80, host_port, ""}};
  web.containers = {c};
  ASSERT_NO_FATAL_FAILURE(SetUpTask(web));
  ASSERT_TRUE(net_->SetUpTask(web).ok()) << "SetUpTask twice";
  Status st = net_->Publish(web);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(net_->Publish(web).ok()) << "Publish twice";
  ASSERT_NO_FATAL_FAILURE(Serve(net_->TaskNetns(web.task_id), 80));

  // The instance's own bridge, inside its namespace; the task's veth on it; nothing on
  // this host.
  EXPECT_EQ(Sh({"ip", "netns", "exec", ns, "ip", "link", "show", P() + "0"}).code, 0) << "no bridge in the instance";
  EXPECT_EQ(LinksWithAlias(ns, "kecs:task:" + web.task_id).size(), 1u);
  EXPECT_TRUE(LinksWithAlias("", "kecs:task:" + web.task_id).empty()) << "a veth on this host";
  EXPECT_NE(Sh({"ip", "link", "show", P() + "0"}).code, 0) << "this host's bridge was made";
  std::string map = Sh({"ip", "netns", "exec", ns, "nft", "list", "map", "ip", "kecs_host", "publish_tcp"}).out;
  EXPECT_NE(map.find(fmt::format("{} comment \"task:{}\" : {} . 80", host_port, web.task_id, web.network.bridge_ip)),
            std::string::npos)
      << map;
  EXPECT_EQ(Sh({"nft", "list", "map", "ip", P(), "publish_tcp"}).out.find("task:" + web.task_id), std::string::npos);
  EXPECT_TRUE(net::HostPortFree("tcp", host_port)) << "no reservation socket on this host";

  // Another task of the VPC reaches it at instance_ip:hostPort; so does the instance
  // itself; this host's port does not.
  TaskSpec client = AwsvpcTask(vpc, 2, 30);
  ASSERT_NO_FATAL_FAILURE(SetUpTask(client));
  EXPECT_EQ(Fetch(net_->TaskNetns(client.task_id), h.network.ip, host_port), "hello from the instance\n");
  EXPECT_EQ(Fetch(ns, h.network.ip, host_port), "hello from the instance\n") << "from the instance's own output";
  EXPECT_EQ(Fetch("", "127.0.0.1", host_port, "/hostname"), "") << "published on this host";
  // The task goes out masqueraded as the instance (its VPC's security groups see the
  // instance's address), and reaches a second bridge task through the instance's address.
  TaskSpec peer = OnInstance(BridgeTask(nets_, 11), h);
  ASSERT_NO_FATAL_FAILURE(SetUpTask(peer));
  EXPECT_TRUE(Ping(net_->TaskNetns(peer.task_id), client.network.ip)) << "bridge task -> VPC";
  EXPECT_EQ(Fetch(net_->TaskNetns(peer.task_id), h.network.ip, host_port), "hello from the instance\n") << "hairpin";

  // Teardown takes its veth and port.
  ASSERT_TRUE(net_->TearDownTask(web).ok());
  ASSERT_TRUE(net_->TearDownTask(web).ok()) << "TearDownTask twice";
  EXPECT_TRUE(LinksWithAlias(ns, "kecs:task:" + web.task_id).empty());
  map = Sh({"ip", "netns", "exec", ns, "nft", "list", "map", "ip", "kecs_host", "publish_tcp"}).out;
  EXPECT_EQ(map.find("task:" + web.task_id), std::string::npos) << map;
}

TEST_F(InstanceHostTest, SecurityGroupsGovernTheInstance) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  InstanceHostSpec h = InstanceIn(vpc, 1, 20);
  ASSERT_NO_FATAL_FAILURE(Apply(h));
  TaskSpec client = AwsvpcTask(vpc, 2, 30);
  ASSERT_NO_FATAL_FAILURE(SetUpTask(client));
  int open = FreePort(), closed = FreePort();
  while (closed == open) closed = FreePort();
  std::string ns = net_->InstanceNetns(h.instance_id);
  ASSERT_NO_FATAL_FAILURE(Serve(ns, open));
  ASSERT_NO_FATAL_FAILURE(Serve(ns, closed));
  net::SgRule allow{"sgr-in", false, "tcp", open, open, "0.0.0.0/0", "", "", ""};
  bool applied = false;
  Status st = net_->ApplyPolicy(Policy(vpc, h, client, {allow}), &applied);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(applied);
  std::string client_ns = net_->TaskNetns(client.task_id);
  EXPECT_EQ(Fetch(client_ns, h.network.ip, open), "hello from the instance\n");
  EXPECT_EQ(Fetch(client_ns, h.network.ip, closed), "") << "the instance's group has no rule for this port";
  // Without the rule, the open port closes too.
  ASSERT_TRUE(net_->ApplyPolicy(Policy(vpc, h, client, {})).ok());
  EXPECT_EQ(Fetch(client_ns, h.network.ip, open), "");
}

TEST_F(InstanceHostTest, DeleteAndGarbageCollectRemoveEverything) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  InstanceHostSpec a = InstanceIn(vpc, 1, 20);
  InstanceHostSpec b = InstanceIn(vpc, 2, 21);
  ASSERT_NO_FATAL_FAILURE(Apply(a));
  ASSERT_NO_FATAL_FAILURE(Apply(b));
  std::string router = P() + "-r-" + vpc.id;
  TaskSpec on_a = OnInstance(BridgeTask(nets_, 10), a);
  ASSERT_NO_FATAL_FAILURE(SetUpTask(on_a));

  // GC keeps the live instance and removes the other.
  ASSERT_TRUE(net_->GarbageCollectInstances({a.instance_id}).ok());
  EXPECT_TRUE(net_->InstanceExists(a.instance_id));
  EXPECT_FALSE(net_->InstanceExists(b.instance_id));
  EXPECT_TRUE(LinksWithAlias(router, "kecs:instance:" + b.instance_id).empty());
  EXPECT_EQ(LinksWithAlias(router, "kecs:instance:" + a.instance_id).size(), 1u);

  // Delete (its task first, as the caller does), twice; the router goes with the last.
  ASSERT_TRUE(net_->TearDownTask(on_a).ok());
  ASSERT_TRUE(net_->TearDownInstance(a.instance_id).ok());
  ASSERT_TRUE(net_->TearDownInstance(a.instance_id).ok()) << "TearDownInstance twice";
  for (const auto& ns : net::netns::List()) EXPECT_EQ(ns.rfind(P() + "-i-", 0), std::string::npos) << ns;
  EXPECT_FALSE(net::netns::Exists(router)) << "the VPC's router stays with no instance";
  EXPECT_TRUE(LinksWithAlias("", "kecs:vpc:" + vpc.id).empty());

  // RemoveAll covers instances too.
  ASSERT_NO_FATAL_FAILURE(Apply(b));
  ASSERT_TRUE(net_->RemoveAll().ok());
  EXPECT_FALSE(net_->InstanceExists(b.instance_id));
}

// The runtime's calls: the instance's files (name, VPC resolver), InstanceNetns, and a
// host-mode task's files taken from its instance.
TEST_F(InstanceHostTest, RuntimeInstanceHostAndItsFiles) {
  runtime::local::LocalOptions o;
  o.data_dir = dir_ + "/data";
  o.network = NetworkOptionsFor(nets_);
  runtime::local::LocalRuntime rt(o);
  ASSERT_TRUE(rt.network().Init().ok());
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  InstanceHostSpec h = InstanceIn(vpc, 1, 20);
  EXPECT_FALSE(rt.InstanceNetns(h.instance_id).has_value());
  Status st = rt.ApplyInstanceHost(h);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(rt.ApplyInstanceHost(h).ok());
  auto ns = rt.InstanceNetns(h.instance_id);
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ(*ns, std::string(net::netns::kRunDir) + "/" + rt.network().InstanceNetns(h.instance_id));
  std::string idir = o.data_dir + "/runtime/instances/" + h.instance_id;
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(idir + "/hostname"), h.network.hostname + "\n");
  EXPECT_EQ(read(idir + "/resolv.conf"), "nameserver " + h.network.dns_server + "\n");
  EXPECT_NE(read(idir + "/hosts").find(h.network.ip + "\t" + h.network.hostname), std::string::npos);
  EXPECT_EQ(rt.ApplyInstanceHost(InstanceHostSpec{"i-../../etc", h.network}).code(), Code::kInvalidArgument);

  // A host-mode task on it: the instance's name, address and resolver; the metadata
  // endpoint is served in the instance's namespace.
  TaskSpec t = OnInstance(ModeTask("host"), h);
  st = rt.CreateSandbox(t);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string tdir = o.data_dir + "/runtime/tasks/" + t.task_id;
  EXPECT_EQ(read(tdir + "/hostname"), h.network.hostname + "\n");
  EXPECT_EQ(read(tdir + "/resolv.conf"), "nameserver " + h.network.dns_server + "\n");
  EXPECT_NE(read(tdir + "/hosts").find(h.network.ip + "\t" + h.network.hostname), std::string::npos);
  EXPECT_EQ(rt.MetadataNetns(t), *ns);
  ASSERT_TRUE(rt.Delete(t).ok());

  ASSERT_TRUE(rt.DeleteInstanceHost(h.instance_id).ok());
  ASSERT_TRUE(rt.DeleteInstanceHost(h.instance_id).ok()) << "twice";
  EXPECT_FALSE(rt.InstanceNetns(h.instance_id).has_value());
  EXPECT_FALSE(std::filesystem::exists(idir));
  ASSERT_TRUE(rt.ApplyInstanceHost(h).ok());
  ASSERT_TRUE(rt.GarbageCollectInstanceHosts({}).ok());
  EXPECT_FALSE(rt.InstanceNetns(h.instance_id).has_value());
  EXPECT_FALSE(std::filesystem::exists(idir));
  EXPECT_TRUE(rt.network().RemoveAll().ok());
}

// Real containers (runc, busybox from the test image store) on an instance: a bridge
// task's httpd answers at instance_ip:hostPort from a task of the VPC, and a host-mode
// task's httpd listens in the instance's namespace under the instance's name.
class InstanceHostTestContainers : public InstanceHostTest {
 protected:
  void SetUp() override {
    InstanceHostTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (const char* tool : {"runc", "skopeo", "umoci"}) {
      if (Sh({"sh", "-c", std::string("command -v ") + tool}).code != 0) GTEST_SKIP() << "needs " << tool;
    }
    auto tar = BusyboxArchive().Ensure();
    ASSERT_TRUE(tar.ok()) << tar.status().ToString();
    runtime::local::LocalOptions o;
    o.data_dir = dir_ + "/data";
    o.shim_exe = KECS_SHIM;
    o.network = NetworkOptionsFor(nets_);
    rt_ = std::make_unique<runtime::local::LocalRuntime>(o);
    Status st = rt_->Init();
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto loaded = rt_->images().Load(*tar, "busybox:latest");
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  }
  void TearDown() override {
    if (rt_) {
      for (const auto& t : tasks_) EXPECT_TRUE(rt_->Delete(t).ok());
      EXPECT_TRUE(rt_->GarbageCollect({}, {}).ok());
      EXPECT_TRUE(rt_->GarbageCollectInstanceHosts({}).ok());
      EXPECT_TRUE(rt_->network().RemoveAll().ok());
      rt_.reset();
    }
    InstanceHostTest::TearDown();
  }
  static runtime::ContainerSpec Httpd(int port, int host_port) {
    runtime::ContainerSpec c;
    c.name = "web";
    c.image = "busybox";
    c.entry_point = {"httpd"};
    c.command = {"-f", "-p", std::to_string(port), "-h", "/etc"};
    c.stop_timeout_s = 1;
    if (host_port > 0) c.ports = {{"tcp", port, host_port, ""}};
    return c;
  }
  void Start(const TaskSpec& t) {
    tasks_.push_back(t);
    Status st = rt_->CreateSandbox(t);
    ASSERT_TRUE(st.ok()) << "CreateSandbox: " << st.ToString();
    if (t.containers.empty()) return;
    st = rt_->StartContainers(t);
    ASSERT_TRUE(st.ok()) << "StartContainers: " << st.ToString();
  }
  std::unique_ptr<runtime::local::LocalRuntime> rt_;
  std::vector<TaskSpec> tasks_;
};

TEST_F(InstanceHostTestContainers, BridgeAndHostTasksOnAnInstance) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  InstanceHostSpec h = InstanceIn(vpc, 1, 20);
  Status st = rt_->ApplyInstanceHost(h);
  ASSERT_TRUE(st.ok()) << st.ToString();
  TaskSpec client = AwsvpcTask(vpc, 2, 30);
  ASSERT_NO_FATAL_FAILURE(Start(client));
  std::string client_ns = rt_->network().TaskNetns(client.task_id);

  int host_port = FreePort();
  TaskSpec web = OnInstance(BridgeTask(nets_, 10), h);
  web.containers = {Httpd(80, host_port)};
  ASSERT_NO_FATAL_FAILURE(Start(web));
  std::string got;
  EXPECT_TRUE(WaitFor([&] { return !(got = Fetch(client_ns, h.network.ip, host_port, "/hostname")).empty(); }, std::chrono::seconds(20)))
      << "the bridge task does not answer at " << h.network.ip << ":" << host_port;
  EXPECT_EQ(got, web.task_id.substr(0, 12) + "\n") << "its /etc/hostname";
  EXPECT_EQ(Fetch("", "127.0.0.1", host_port, "/hostname"), "") << "published on this host";

  int port = FreePort();
  TaskSpec host = OnInstance(ModeTask("host"), h);
  host.containers = {Httpd(port, 0)};
  ASSERT_NO_FATAL_FAILURE(Start(host));
  EXPECT_TRUE(WaitFor([&] { return !(got = Fetch(client_ns, h.network.ip, port, "/hostname")).empty(); }, std::chrono::seconds(20)))
      << "the host-mode task does not listen in the instance";
  EXPECT_EQ(got, h.network.hostname + "\n") << "a host-mode task has the instance's name";
  EXPECT_TRUE(net::HostPortFree("tcp", port)) << "it listens on this host";
}

}  // namespace
}  // namespace kecs::privileged
