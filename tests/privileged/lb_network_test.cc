// LbNetwork (lb_network.h) with real namespaces: a VPC router with a client task and a
// target task, a network load balancer node, the kernel's forwarding from the node's
// address to the target (TCP and UDP, the target seeing the client's address), the drop
// when no target is in rotation, host publishing reaching the node, and removal.
#include "runtime/local/lb_network.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "net/kernel/host_ports.h"
#include "privileged/local_env.h"
#include "runtime/local/local_runtime.h"
#include "runtime/local/network.h"

namespace kecs::privileged {
namespace {

using runtime::LbListenerSpec;
using runtime::LbNodeSpec;
using runtime::LbTargetGroupSpec;
using runtime::LbTargetSpec;
using runtime::LoadBalancerSpec;
using runtime::TaskSpec;
using runtime::local::LbNetwork;
using runtime::local::LocalNetwork;

// Answers every TCP connection or UDP datagram with the address it came from.
constexpr const char* kServer = R"(import socket, sys
proto, port = sys.argv[1], int(sys.argv[2])
if proto == "tcp":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, a = s.accept()
        c.recv(100)
        c.sendall(a[0].encode())
        c.close()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        d, a = s.recvfrom(100)
        s.sendto(a[0].encode(), a)
)";

// Prints what the server answered; a few tries (the server may still be starting, the
// first ARP exchange may take a moment).
constexpr const char* kClient = R"(import socket, sys, time
proto, ip, port, tries = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
err = None
for _ in range(tries):
    try:
        if proto in ("http", "https"):
            import ssl, urllib.request
            ctx = ssl.create_default_context(cafile=sys.argv[5]) if proto == "https" else None
            r = urllib.request.urlopen(f"{proto}://{ip}:{port}/", timeout=2, context=ctx)
            print(r.status)
        elif proto == "tcp":
            c = socket.create_connection((ip, port), timeout=2)
            c.sendall(b"x")
            print(c.recv(100).decode())
        else:
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.settimeout(2)
            c.sendto(b"x", (ip, port))
            print(c.recvfrom(100)[0].decode())
        sys.exit(0)
    except Exception as e:
        err = e
        time.sleep(0.3)
print("failed:", err)
sys.exit(1)
)";

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

int FreePort(int type) {
  for (int i = 0; i < 20; ++i) {
    int fd = socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    int port = ntohs(a.sin_port);
    if (net::HostPortFree("tcp", port) && net::HostPortFree("udp", port)) return port;
  }
  return 0;
}

// A load balancer of `type` in `vpc` with one node at host address `host` of the subnet
// of `beside` (an awsvpc task), in zone us-east-1a.
LoadBalancerSpec LbBeside(const Vpc& vpc, const TaskSpec& beside, model::LbType type, int host) {
  LoadBalancerSpec lb;
  lb.id = RandomHex(16);
  lb.type = type;
  lb.name = type == model::LbType::kNetwork ? "nlb" : "alb";
  lb.dns_name = lb.name + "-" + lb.id + ".elb.localhost.localstack.cloud";
  lb.vpc_id = vpc.id;
  lb.vpc_cidr = beside.network.vpc_cidr;
  lb.vpc_cidrs = beside.network.vpc_cidrs;
  lb.transit_slot = vpc.slot;
  LbNodeSpec node;
  node.eni_id = "eni-" + RandomHex(17);
  node.mac = "02:00:00:" + RandomHex(2) + ":" + RandomHex(2) + ":" + RandomHex(2);
  const std::string& ip = beside.network.ip;
  node.ip = ip.substr(0, ip.rfind('.') + 1) + std::to_string(host);
  node.prefix_len = beside.network.prefix_len;
  node.gateway = beside.network.gateway;
  node.subnet_id = beside.network.subnet_id;
  node.subnet_cidr = beside.network.subnet_cidr;
  node.zone = "us-east-1a";
  lb.nodes = {node};
  return lb;
}

class LbNetworkTest : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    nets_ = PickNetworks();
    net_ = std::make_unique<LocalNetwork>(NetworkOptionsFor(nets_));
    ASSERT_TRUE(net_->Init().ok());
    dir_ = MakeTempDir("lbnet");
    ASSERT_FALSE(dir_.empty());
    std::ofstream(dir_ + "/server.py") << kServer;
    std::ofstream(dir_ + "/client.py") << kClient;
    lbnet_ = std::make_unique<LbNetwork>(*net_, dir_);
  }
  void TearDown() override {
    for (int pid : servers_) kill(pid, SIGKILL);
    if (lbnet_ && lb_) {
      EXPECT_TRUE(lbnet_->Remove(lb_->id).ok());
    }
    if (net_) {
      EXPECT_TRUE(net_->RemoveAll().ok());
    }
    if (!dir_.empty()) RemoveTree(dir_);
    PrivilegedTest::TearDown();
  }
  void Serve(const std::string& ns, const std::string& proto, int port) {
    Run(ns, fmt::format("{}/server.py {} {}", dir_, proto, port));
  }
  // Runs /usr/bin/python3 `args` in `ns` in the background (killed in TearDown).
  void Run(const std::string& ns, const std::string& args) {
    Cmd c = Sh({"sh", "-c",
                fmt::format("ip netns exec {} /usr/bin/python3 {} </dev/null >/dev/null 2>&1 & echo $!", ns, args)});
    ASSERT_EQ(c.code, 0) << c.out;
    servers_.push_back(std::stoi(c.out));
  }
  // What the server at ip:port saw as the client's address, "" when nothing answered.
  std::string Ask(const std::string& ns, const std::string& proto, const std::string& ip, int port, int tries = 10,
                  const std::string& cafile = "") {
    std::vector<std::string> argv;
    if (!ns.empty()) argv = {"ip", "netns", "exec", ns};
    for (const auto& a : {std::string("/usr/bin/python3"), dir_ + "/client.py", proto, ip, std::to_string(port),
                          std::to_string(tries), cafile}) {
      argv.push_back(a);
    }
    Cmd c = Sh(argv);
    return c.code == 0 ? std::string(Trim(c.out)) : std::string();
  }
  std::string Nft(const std::string& ns, const std::string& what) {
    return Sh({"ip", "netns", "exec", ns, "nft", "list", "table", "ip", what}).out;
  }

  TestNetworks nets_;
  std::unique_ptr<LocalNetwork> net_;
  std::unique_ptr<LbNetwork> lbnet_;
  std::string dir_;
  std::vector<int> servers_;
  std::optional<LoadBalancerSpec> lb_;
};

TEST_F(LbNetworkTest, NlbNodeForwardsToTargetsKeepingTheClientAddressAndPublishes) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec client = AwsvpcTask(vpc, 1, 10);
  TaskSpec target = AwsvpcTask(vpc, 2, 20);
  ASSERT_TRUE(net_->SetUpTask(client).ok());
  ASSERT_TRUE(net_->SetUpTask(target).ok());
  std::string client_ns = net_->TaskNetns(client.task_id);
  std::string target_ns = net_->TaskNetns(target.task_id);
  std::string router = P() + "-r-" + vpc.id;

  LoadBalancerSpec lb = LbBeside(vpc, client, model::LbType::kNetwork, 50);
  lb.cross_zone = false;
  const LbNodeSpec node = lb.nodes[0];
  ASSERT_EQ(node.ip, fmt::format("10.{}.1.50", vpc.octet));
  auto group = [&](const std::string& id, model::LbProtocol p, int port) {
    LbTargetGroupSpec g;
    g.id = id;
    g.protocol = p;
    // The target is in another zone: without cross-zone the node still forwards to it
    // (its own zone has none).
    g.targets = {LbTargetSpec{target.network.ip, target.network.ip, port, "us-east-1b", false}};
    return g;
  };
  std::string tcp_tg = RandomHex(16), udp_tg = RandomHex(16);
  lb.target_groups = {group(tcp_tg, model::LbProtocol::kTcp, 7000), group(udp_tg, model::LbProtocol::kUdp, 7001)};
  auto forward = [](const std::string& tg) {
    model::Action a;
    a.target_group_arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/" + tg;
    return std::vector<model::Action>{a};
  };
  int tcp_host = FreePort(SOCK_STREAM);
  int node_host = FreePort(SOCK_STREAM);
  ASSERT_NE(tcp_host, 0);
  ASSERT_NE(node_host, 0);
  ASSERT_NE(tcp_host, node_host);
  lb.listeners = {LbListenerSpec{"l1", 80, model::LbProtocol::kTcp, tcp_host, forward(tcp_tg), {}, ""},
                  LbListenerSpec{"l2", 53, model::LbProtocol::kUdp, 0, forward(udp_tg), {}, ""},
                  // The proxy's (TLS): published to the node itself, never forwarded by the kernel.
                  LbListenerSpec{"l3", 8443, model::LbProtocol::kTls, node_host, forward(tcp_tg), {}, ""}};
  lb_ = lb;

  // Nodes: twice (idempotent).
  for (int i = 0; i < 2; ++i) {
    Status st = lbnet_->SetUpNodes(lb);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::string node_ns = lbnet_->NodeNetns(node.eni_id);
  EXPECT_EQ(node_ns, P() + "-l-" + node.eni_id);
  ASSERT_TRUE(net::netns::Exists(node_ns));
  std::string eth0 = Sh({"ip", "netns", "exec", node_ns, "ip", "-o", "addr", "show", "dev", "eth0"}).out;
  EXPECT_NE(eth0.find(node.ip + "/24"), std::string::npos) << eth0;
  EXPECT_NE(Sh({"ip", "netns", "exec", node_ns, "ip", "-o", "link", "show", "eth0"}).out.find(node.mac),
            std::string::npos);
  EXPECT_EQ(LinksWithAlias(router, "kecs:lb:" + lb.id),
            std::vector<std::string>({"l" + node.eni_id.substr(4, 14)}));
  EXPECT_TRUE(Ping(node_ns, target.network.ip)) << "the node reaches the target (health checks)";

  Serve(target_ns, "tcp", 7000);
  Serve(target_ns, "udp", 7001);
  Serve(node_ns, "tcp", 8443);

  // Forwarding: twice (one transaction each, replacing the first).
  auto rotation = runtime::local::TargetsInRotation(lb, {});
  for (int i = 0; i < 2; ++i) {
    Status st = lbnet_->ApplyForwarding(lb, rotation);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::string table = Nft(router, "kecs_lb");
  EXPECT_EQ(Count(table, "comment \"lb:" + lb.id + "\""), 2u) << table;  // one element in each map

  // The target sees the client's address, over TCP and UDP.
  EXPECT_EQ(Ask(client_ns, "tcp", node.ip, 80), client.network.ip);
  EXPECT_EQ(Ask(client_ns, "udp", node.ip, 53), client.network.ip);
  // The node's own listener (not forwarded) answers at the node.
  EXPECT_EQ(Ask(client_ns, "tcp", node.ip, 8443), client.network.ip);

  // Host publishing: the listener's host port reaches the target through the node's
  // address, the proxy's listener reaches the node.
  ASSERT_TRUE(lbnet_->Publish(lb).ok());
  ASSERT_TRUE(lbnet_->Publish(lb).ok()) << "Publish twice";
  std::string map = Sh({"nft", "list", "map", "ip", P(), "publish_tcp"}).out;
  EXPECT_NE(map.find(fmt::format("{} comment \"lb:{}\" : {} . 80", tcp_host, lb.id, node.ip)), std::string::npos)
      << map;
  EXPECT_FALSE(net::HostPortFree("tcp", tcp_host)) << "a published port must be reserved";
  EXPECT_NE(Ask("", "tcp", "127.0.0.1", tcp_host), "");
  EXPECT_NE(Ask("", "tcp", "127.0.0.1", node_host), "");

  // Nothing in rotation: the listener drops.
  std::map<std::string, std::vector<LbTargetSpec>> none{{tcp_tg, {}}, {udp_tg, {}}};
  ASSERT_TRUE(lbnet_->ApplyForwarding(lb, none).ok());
  table = Nft(router, "kecs_lb");
  EXPECT_NE(table.find(fmt::format("ip daddr {} tcp dport 80 drop", node.ip)), std::string::npos) << table;
  EXPECT_EQ(table.find("jhash"), std::string::npos) << table;
  EXPECT_EQ(Ask(client_ns, "tcp", node.ip, 80, 1), "");
  ASSERT_TRUE(lbnet_->ApplyForwarding(lb, rotation).ok());
  EXPECT_EQ(Ask(client_ns, "tcp", node.ip, 80), client.network.ip) << "forwarding again";
  // Without nodes nothing is forwarded.
  LoadBalancerSpec nodeless = lb;
  nodeless.nodes.clear();
  ASSERT_TRUE(lbnet_->ApplyForwarding(nodeless, rotation).ok());
  EXPECT_EQ(Nft(router, "kecs_lb").find(lb.id), std::string::npos) << Nft(router, "kecs_lb");
  ASSERT_TRUE(lbnet_->ApplyForwarding(lb, rotation).ok());

  // Remove: twice; nodes, forwarding and publishing go, the router stays for the tasks.
  for (int i = 0; i < 2; ++i) {
    Status st = lbnet_->Remove(lb.id);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  EXPECT_FALSE(net::netns::Exists(node_ns));
  EXPECT_TRUE(LinksWithAlias(router, "kecs:lb:" + lb.id).empty());
  table = Nft(router, "kecs_lb");
  EXPECT_EQ(table.find(lb.id), std::string::npos) << table;
  map = Sh({"nft", "list", "map", "ip", P(), "publish_tcp"}).out;
  EXPECT_EQ(map.find("lb:" + lb.id), std::string::npos) << map;
  EXPECT_TRUE(net::HostPortFree("tcp", tcp_host)) << "removal must release the host port";
  EXPECT_TRUE(net::netns::Exists(router));
  EXPECT_TRUE(Ping(client_ns, target.network.ip)) << "the tasks lost their router";
}

TEST_F(LbNetworkTest, NodesKeepTheRouterAndGarbageCollectionRemovesThem) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec task = AwsvpcTask(vpc, 1, 10);
  ASSERT_TRUE(net_->SetUpTask(task).ok());
  std::string router = P() + "-r-" + vpc.id;
  LoadBalancerSpec lb;
  lb.id = RandomHex(16);
  lb.type = model::LbType::kApplication;
  lb.vpc_id = vpc.id;
  lb.vpc_cidrs = task.network.vpc_cidrs;
  lb.transit_slot = vpc.slot;
  for (int s : {1, 2}) {
    LbNodeSpec n;
    n.eni_id = "eni-" + RandomHex(17);
    n.mac = "02:00:00:00:" + RandomHex(2) + ":" + RandomHex(2);
    n.ip = fmt::format("10.{}.{}.60", vpc.octet, s);
    n.prefix_len = 24;
    n.gateway = fmt::format("10.{}.{}.1", vpc.octet, s);
    n.subnet_id = s == 1 ? vpc.subnet_a : vpc.subnet_b;
    n.subnet_cidr = fmt::format("10.{}.{}.0/24", vpc.octet, s);
    lb.nodes.push_back(n);
  }
  lb_ = lb;
  ASSERT_TRUE(lbnet_->SetUpNodes(lb).ok());
  EXPECT_EQ(LinksWithAlias(router, "kecs:lb:" + lb.id).size(), 2u);
  // A node talks to a task in another subnet through the router.
  EXPECT_TRUE(Ping(lbnet_->NodeNetns(lb.nodes[1].eni_id), task.network.ip));

  // The load balancer leaves a subnet: that node goes.
  LoadBalancerSpec one = lb;
  one.nodes.pop_back();
  ASSERT_TRUE(lbnet_->SetUpNodes(one).ok());
  EXPECT_FALSE(net::netns::Exists(lbnet_->NodeNetns(lb.nodes[1].eni_id)));
  EXPECT_EQ(LinksWithAlias(router, "kecs:lb:" + lb.id).size(), 1u);

  // The task goes: the node keeps the router.
  ASSERT_TRUE(net_->TearDownTask(task).ok());
  EXPECT_TRUE(net::netns::Exists(router)) << "the router went while a load balancer node uses it";
  ASSERT_TRUE(net_->GarbageCollect({}).ok());
  EXPECT_TRUE(net::netns::Exists(router)) << "task GC removed a router a load balancer node uses";

  // GC with the load balancer live keeps it; without, removes its node and then the router.
  ASSERT_TRUE(lbnet_->GarbageCollect({lb.id}).ok());
  EXPECT_TRUE(net::netns::Exists(lbnet_->NodeNetns(lb.nodes[0].eni_id)));
  ASSERT_TRUE(lbnet_->GarbageCollect({}).ok());
  EXPECT_FALSE(net::netns::Exists(lbnet_->NodeNetns(lb.nodes[0].eni_id)));
  EXPECT_FALSE(net::netns::Exists(router)) << "the router stays with nothing in it";
}

// The VPC's security groups govern a node as a task's ENI: a policy applied while the VPC
// had no router here is applied when a node's attachment makes the router.
TEST_F(LbNetworkTest, ARouterMadeForANodeGetsTheVpcPolicy) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec beside = AwsvpcTask(vpc, 1, 10);  // never set up: only its subnet is used
  LoadBalancerSpec lb = LbBeside(vpc, beside, model::LbType::kApplication, 70);
  lb_ = lb;
  net::VpcPolicy policy;
  policy.vpc_id = vpc.id;
  policy.groups = {{"sg-0123456789abcdef0", {}}};
  policy.enis = {{lb.nodes[0].eni_id, lb.nodes[0].ip, "", vpc.subnet_a, {"sg-0123456789abcdef0"}}};
  policy.subnets = {{vpc.subnet_a, "", "acl-0123456789abcdef0", {}}};
  bool applied = true;
  ASSERT_TRUE(net_->ApplyPolicy(policy, &applied).ok());
  EXPECT_FALSE(applied) << "no router yet";
  ASSERT_TRUE(lbnet_->SetUpNodes(lb).ok());
  std::string router = P() + "-r-" + vpc.id;
  std::string table = Sh({"ip", "netns", "exec", router, "nft", "list", "table", "inet", "kecs_sg"}).out;
  std::string eni = lb.nodes[0].eni_id;
  std::replace(eni.begin(), eni.end(), '-', '_');
  EXPECT_NE(table.find("chain " + eni + "_in"), std::string::npos) << table;
  EXPECT_NE(table.find("acl-0123456789abcdef0 " + vpc.subnet_a + " inbound"), std::string::npos)
      << "the node's subnet bridge takes part: " << table;
}

// The local runtime's load balancer calls, with HAProxy: an application load balancer
// (HTTP and HTTPS published on the host, the certificate checked against the runtime's CA)
// and a network load balancer (kernel forwarding, HAProxy's health checks) in front of one
// target task.
class LbRuntimeTest : public LbNetworkTest {
 protected:
  void SetUp() override {
    LbNetworkTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!std::filesystem::exists("/usr/sbin/haproxy")) GTEST_SKIP() << "needs HAProxy (/usr/sbin/haproxy)";
    runtime::local::LocalOptions o;
    o.data_dir = dir_ + "/data";
    o.network = NetworkOptionsFor(nets_);
    rt_ = std::make_unique<runtime::local::LocalRuntime>(o);
    ASSERT_TRUE(rt_->network().Init().ok());
  }
  void TearDown() override {
    if (rt_) {
      for (const auto& id : lb_ids_) EXPECT_TRUE(rt_->DeleteLoadBalancer(id).ok());
      EXPECT_TRUE(rt_->GarbageCollectLoadBalancers({}).ok());
      EXPECT_TRUE(rt_->network().RemoveAll().ok());
    }
    LbNetworkTest::TearDown();
  }
  std::unique_ptr<runtime::local::LocalRuntime> rt_;
  std::vector<std::string> lb_ids_;
};

TEST_F(LbRuntimeTest, AlbAndNlbThroughTheLocalRuntime) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec client = AwsvpcTask(vpc, 1, 10);
  TaskSpec target = AwsvpcTask(vpc, 2, 20);
  ASSERT_TRUE(rt_->network().SetUpTask(client).ok());
  ASSERT_TRUE(rt_->network().SetUpTask(target).ok());
  std::string client_ns = rt_->network().TaskNetns(client.task_id);
  std::string target_ns = rt_->network().TaskNetns(target.task_id);
  Serve(target_ns, "tcp", 7000);
  Run(target_ns, "-m http.server 7080 --bind 0.0.0.0 --directory /");

  auto group = [&](model::LbProtocol p, int port) {
    LbTargetGroupSpec g;
    g.id = RandomHex(16);
    g.protocol = p;
    g.health_check.protocol = p;
    g.health_check.path = p == model::LbProtocol::kHttp ? "/" : "";
    g.health_check.matcher_http = p == model::LbProtocol::kHttp ? "200" : "";
    g.health_check.interval_s = 5;
    g.health_check.timeout_s = 2;
    g.health_check.healthy_threshold = 2;
    g.targets = {LbTargetSpec{target.network.ip, target.network.ip, port, "us-east-1b", false}};
    return g;
  };
  auto forward = [](const LbTargetGroupSpec& g) {
    model::Action a;
    a.target_group_arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/" + g.id;
    return std::vector<model::Action>{a};
  };

  LoadBalancerSpec alb = LbBeside(vpc, client, model::LbType::kApplication, 50);
  LbTargetGroupSpec web = group(model::LbProtocol::kHttp, 7080);
  alb.target_groups = {web};
  int http_host = FreePort(SOCK_STREAM), https_host = FreePort(SOCK_STREAM);
  ASSERT_NE(http_host, https_host);
  alb.listeners = {LbListenerSpec{"h1", 80, model::LbProtocol::kHttp, http_host, forward(web), {}, ""},
                   LbListenerSpec{"h2", 443, model::LbProtocol::kHttps, https_host, forward(web), {}, ""}};
  LoadBalancerSpec nlb = LbBeside(vpc, client, model::LbType::kNetwork, 51);
  nlb.cross_zone = false;
  LbTargetGroupSpec tcp = group(model::LbProtocol::kTcp, 7000);
  nlb.target_groups = {tcp};
  nlb.listeners = {LbListenerSpec{"n1", 80, model::LbProtocol::kTcp, 0, forward(tcp), {}, ""}};
  lb_ids_ = {alb.id, nlb.id};

  for (const auto* lb : {&alb, &nlb}) {
    Status st = rt_->ApplyLoadBalancer(*lb);
    ASSERT_TRUE(st.ok()) << lb->name << ": " << st.ToString();
    st = rt_->ApplyLoadBalancer(*lb);
    ASSERT_TRUE(st.ok()) << lb->name << " again: " << st.ToString();
  }

  // The application load balancer, on the host: HTTP, and HTTPS with the runtime's CA.
  EXPECT_EQ(Ask("", "http", "127.0.0.1", http_host), "200");
  auto ca = rt_->LoadBalancerCa();
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  std::ofstream(dir_ + "/ca.pem") << *ca;
  EXPECT_EQ(Ask("", "https", "127.0.0.1", https_host, 10, dir_ + "/ca.pem"), "200");
  EXPECT_EQ(Ask(client_ns, "https", alb.nodes[0].ip, 443, 10, dir_ + "/ca.pem"), "200");

  // The network load balancer: the target sees the client, before and after its checks pass.
  EXPECT_EQ(Ask(client_ns, "tcp", nlb.nodes[0].ip, 80), client.network.ip);
  bool healthy = WaitFor(
      [&] {
        auto seen = rt_->ObserveTargets(nlb);
        return seen.ok() && seen->size() == 1 && (*seen)[0].state == model::TargetHealthState::kHealthy;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(healthy) << "the NLB's target never turned healthy";
  EXPECT_EQ(Ask(client_ns, "tcp", nlb.nodes[0].ip, 80), client.network.ip);

  // Deleted: the nodes and the published ports go.
  for (const auto& id : lb_ids_) ASSERT_TRUE(rt_->DeleteLoadBalancer(id).ok());
  EXPECT_FALSE(net::netns::Exists(rt_->network().options().prefix + "-l-" + alb.nodes[0].eni_id));
  EXPECT_FALSE(net::netns::Exists(rt_->network().options().prefix + "-l-" + nlb.nodes[0].eni_id));
  EXPECT_TRUE(net::HostPortFree("tcp", http_host));
  EXPECT_EQ(Ask("", "http", "127.0.0.1", http_host, 1), "");
}

}  // namespace
}  // namespace kecs::privileged
