// LocalNetwork with real namespaces, veths, bridges, router namespaces and nftables, checked
// with real traffic (ping between task namespaces).
#include "runtime/local/network.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "net/kernel/host_ports.h"
#include "privileged/local_env.h"

namespace kecs::privileged {
namespace {

using runtime::TaskSpec;
using runtime::local::LocalNetwork;

class LocalNetworkTest : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    nets_ = PickNetworks();
    net_ = std::make_unique<LocalNetwork>(NetworkOptionsFor(nets_));
    Status st = net_->Init();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    if (net_) {
      Status st = net_->RemoveAll();
      EXPECT_TRUE(st.ok()) << "RemoveAll: " << st.ToString();
    }
    PrivilegedTest::TearDown();
  }
  void SetUpTwice(const TaskSpec& t) {
    Status st = net_->SetUpTask(t);
    ASSERT_TRUE(st.ok()) << "SetUpTask " << t.task_id << ": " << st.ToString();
    st = net_->SetUpTask(t);
    ASSERT_TRUE(st.ok()) << "SetUpTask again " << t.task_id << ": " << st.ToString();
  }
  void TearDownTwice(const TaskSpec& t) {
    Status st = net_->TearDownTask(t);
    ASSERT_TRUE(st.ok()) << "TearDownTask " << t.task_id << ": " << st.ToString();
    st = net_->TearDownTask(t);
    ASSERT_TRUE(st.ok()) << "TearDownTask again " << t.task_id << ": " << st.ToString();
  }
  std::string RouterNs(const Vpc& v) { return P() + "-r-" + v.id; }
  std::string TaskNs(const TaskSpec& t) { return net_->TaskNetns(t.task_id); }
  std::string Ip(const std::string& ns, std::vector<std::string> args) {
    std::vector<std::string> argv = {"ip", "netns", "exec", ns, "ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    return Sh(argv).out;
  }
  TestNetworks nets_;
  std::unique_ptr<LocalNetwork> net_;
};

TEST_F(LocalNetworkTest, InitIsIdempotentAndRemoveAllUndoesIt) {
  ASSERT_TRUE(net_->Init().ok());
  std::string table = Sh({"nft", "list", "table", "ip", P()}).out;
  for (const char* chain : {"prerouting", "output", "postrouting", "forward"}) {
    EXPECT_NE(table.find(std::string("chain ") + chain), std::string::npos) << table;
  }
  // Rebuilt, not duplicated.
  size_t first = table.find("kecs:vpc-isolation");
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(first, table.rfind("kecs:vpc-isolation")) << table;
  ASSERT_TRUE(net_->RemoveAll().ok());
  EXPECT_NE(Sh({"nft", "list", "table", "ip", P()}).code, 0) << "RemoveAll left the nft table";
  ASSERT_TRUE(net_->RemoveAll().ok()) << "RemoveAll twice";
}

TEST_F(LocalNetworkTest, AwsvpcSameSubnetTrafficAndTeardown) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec t1 = AwsvpcTask(vpc, 1, 10);
  TaskSpec t2 = AwsvpcTask(vpc, 1, 11);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t1));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t2));

  EXPECT_TRUE(net::netns::Exists(TaskNs(t1)));
  EXPECT_TRUE(net::netns::Exists(TaskNs(t2)));
  EXPECT_TRUE(net::netns::Exists(RouterNs(vpc)));
  EXPECT_EQ(net_->NetnsPath(t1), std::string(net::netns::kRunDir) + "/" + TaskNs(t1));
  // The task's eth0: the ENI's MAC and address, a default route via the subnet's .1.
  std::string eth0 = Ip(TaskNs(t1), {"-o", "addr", "show", "dev", "eth0"});
  EXPECT_NE(eth0.find(t1.network.ip + "/24"), std::string::npos) << eth0;
  EXPECT_NE(Ip(TaskNs(t1), {"-o", "link", "show", "eth0"}).find(t1.network.mac), std::string::npos);
  EXPECT_NE(Ip(TaskNs(t1), {"route"}).find("default via " + t1.network.gateway), std::string::npos)
      << Ip(TaskNs(t1), {"route"});
  // The router holds the task's veth (by its alias) and the VPC's host link.
  EXPECT_EQ(LinksWithAlias(RouterNs(vpc), "kecs:task:" + t1.task_id).size(), 1u);
  EXPECT_EQ(LinksWithAlias("", "kecs:vpc:" + vpc.id).size(), 1u);

  // Real traffic, both ways, and to the subnet's router address.
  EXPECT_TRUE(Ping(TaskNs(t1), t2.network.ip)) << "t1 -> t2";
  EXPECT_TRUE(Ping(TaskNs(t2), t1.network.ip)) << "t2 -> t1";
  EXPECT_TRUE(Ping(TaskNs(t1), t1.network.gateway)) << "t1 -> gateway";

  // The first task goes: its namespace and veth with it, the router stays for t2.
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t1));
  EXPECT_FALSE(net::netns::Exists(TaskNs(t1)));
  EXPECT_TRUE(LinksWithAlias(RouterNs(vpc), "kecs:task:" + t1.task_id).empty()) << "t1's veth left in the router";
  EXPECT_TRUE(net::netns::Exists(RouterNs(vpc))) << "the router went while t2 still uses it";
  EXPECT_FALSE(Ping(TaskNs(t2), t1.network.ip, 1));
  // (That t2 still reaches its gateway right after: GatewayMacStaysWhenATaskLeaves.)

  // The VPC's last task goes: so do the router and its host link.
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t2));
  EXPECT_FALSE(net::netns::Exists(TaskNs(t2)));
  EXPECT_FALSE(net::netns::Exists(RouterNs(vpc))) << "the VPC's last task is gone but its router stays";
  EXPECT_TRUE(LinksWithAlias("", "kecs:vpc:" + vpc.id).empty()) << "the VPC's host link stays";
  EXPECT_EQ(Sh({"ip", "route", "show", fmt::format("10.{}.0.0/16", vpc.octet)}).out, "");
}

// A subnet's IPv6 block need not be a /64 (AWS allows /44 to /64): the router's bridge and
// the task's eth0 carry the block's own prefix length.
TEST_F(LocalNetworkTest, Ipv6SubnetBlockKeepsItsPrefixLength) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec t = AwsvpcTask(vpc, 1, 30);
  std::string block = fmt::format("fd00:{:x}:0:ab00::", vpc.octet);
  t.network.ipv6_prefix = block + "/56";
  t.network.ipv6 = block + "4";
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t));
  std::string eth0 = Ip(TaskNs(t), {"-6", "-o", "addr", "show", "dev", "eth0"});
  EXPECT_NE(eth0.find(t.network.ipv6 + "/56"), std::string::npos) << eth0;
  std::string router = Ip(RouterNs(vpc), {"-6", "-o", "addr", "show"});
  EXPECT_NE(router.find(block + "1/56"), std::string::npos) << router;
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t));
}

// Issue 20: IPv6 has no fixed primary. When the address the task started with (carrying
// the subnet's prefix) is unassigned, the first remaining one takes over that prefix, so
// the task keeps its on-link route; the rest are /128.
TEST_F(LocalNetworkTest, Ipv6AddressTheTaskStartedWithCanBeReplaced) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec t = AwsvpcTask(vpc, 1, 31);
  std::string block = fmt::format("fd00:{:x}:0:ac00::", vpc.octet);
  t.network.ipv6_prefix = block + "/64";
  t.network.ipv6 = block + "4";
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t));
  std::string a = block + "4", b = block + "5", c = block + "6";
  auto eth0 = [&] { return Ip(TaskNs(t), {"-6", "-o", "addr", "show", "dev", "eth0"}); };
  runtime::EniAddresses want{t.network.eni_id, vpc.id, t.network.ip, {}, {a, b, c}};
  ASSERT_TRUE(net_->ApplyEniAddresses(want).ok());
  std::string now = eth0();
  EXPECT_NE(now.find(a + "/64"), std::string::npos) << now;
  EXPECT_NE(now.find(b + "/128"), std::string::npos) << now;
  EXPECT_NE(now.find(c + "/128"), std::string::npos) << now;
  want.ipv6 = {c, b};  // a unassigned: c is listed first now, b keeps its /128
  ASSERT_TRUE(net_->ApplyEniAddresses(want).ok());
  now = eth0();
  EXPECT_EQ(now.find(a + "/"), std::string::npos) << now;
  EXPECT_NE(now.find(c + "/64"), std::string::npos) << now;
  EXPECT_NE(now.find(b + "/128"), std::string::npos) << now;
  want.ipv6.clear();
  ASSERT_TRUE(net_->ApplyEniAddresses(want).ok());
  now = eth0();
  EXPECT_EQ(now.find(block), std::string::npos) << now;
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t));
}

TEST_F(LocalNetworkTest, AwsvpcAcrossSubnetsThroughTheRouter) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec t1 = AwsvpcTask(vpc, 1, 20);
  TaskSpec t2 = AwsvpcTask(vpc, 2, 21);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t1));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t2));
  EXPECT_TRUE(Ping(TaskNs(t1), t2.network.ip)) << "subnet 1 -> subnet 2";
  EXPECT_TRUE(Ping(TaskNs(t2), t1.network.ip)) << "subnet 2 -> subnet 1";
  // The host reaches the tasks at their VPC addresses through the transit link.
  EXPECT_EQ(Sh({"ping", "-c1", "-W1", t1.network.ip}).code, 0) << "host -> task";
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t1));
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t2));
  EXPECT_FALSE(net::netns::Exists(RouterNs(vpc)));
}

TEST_F(LocalNetworkTest, VpcsAreIsolatedFromEachOther) {
  Vpc a = MakeVpc(nets_.vpc_a, 0);
  Vpc b = MakeVpc(nets_.vpc_b, 1);
  TaskSpec ta = AwsvpcTask(a, 1, 30);
  TaskSpec tb = AwsvpcTask(b, 1, 31);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(ta));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(tb));
  EXPECT_TRUE(Ping(TaskNs(ta), ta.network.gateway));
  EXPECT_TRUE(Ping(TaskNs(tb), tb.network.gateway));
  EXPECT_FALSE(Ping(TaskNs(ta), tb.network.ip, 1)) << "VPC a reached VPC b";
  EXPECT_FALSE(Ping(TaskNs(tb), ta.network.ip, 1)) << "VPC b reached VPC a";
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(ta));
  EXPECT_FALSE(net::netns::Exists(RouterNs(a)));
  EXPECT_TRUE(net::netns::Exists(RouterNs(b))) << "tearing down VPC a's task removed VPC b's router";
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(tb));
  EXPECT_FALSE(net::netns::Exists(RouterNs(b)));
}

TEST_F(LocalNetworkTest, PrivateSubnetTasksAreListedNoEgress) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec priv = AwsvpcTask(vpc, 1, 40, /*internet_egress=*/false);
  TaskSpec pub = AwsvpcTask(vpc, 2, 41, /*internet_egress=*/true);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(priv));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(pub));
  auto set = net::nft::Query(RouterNs(vpc), "list set ip kecs_router noegress");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_NE(set->find(priv.network.ip), std::string::npos) << *set;
  EXPECT_EQ(set->find(pub.network.ip), std::string::npos) << *set;
  // Listed once although set up twice (nft would refuse a duplicate element anyway).
  EXPECT_EQ(set->find(priv.network.ip), set->rfind(priv.network.ip));
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(priv));
  set = net::nft::Query(RouterNs(vpc), "list set ip kecs_router noegress");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->find(priv.network.ip), std::string::npos) << "teardown left the task's address listed";
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(pub));
}

// Issue 20: an ENI's secondary addresses on the task's eth0, reachable, listed noegress
// with a private-subnet primary, removed when no longer wanted or with the task; a
// LocalNetwork that did not set the task up (a restarted daemon) finds it by its address.
TEST_F(LocalNetworkTest, EniSecondaryAddressesOnTheTasksInterface) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec t1 = AwsvpcTask(vpc, 1, 50, /*internet_egress=*/false);
  TaskSpec t2 = AwsvpcTask(vpc, 1, 51);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t1));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t2));
  std::string sec = fmt::format("10.{}.1.60", vpc.octet);
  runtime::EniAddresses want{t1.network.eni_id, vpc.id, t1.network.ip, {sec}, {}};
  ASSERT_TRUE(net_->ApplyEniAddresses(want).ok());
  ASSERT_TRUE(net_->ApplyEniAddresses(want).ok()) << "twice";
  std::string eth0 = Ip(TaskNs(t1), {"-o", "addr", "show", "dev", "eth0"});
  EXPECT_NE(eth0.find(sec + "/32"), std::string::npos) << eth0;
  EXPECT_NE(eth0.find(t1.network.ip + "/24"), std::string::npos) << eth0;
  EXPECT_TRUE(Ping(TaskNs(t2), sec)) << "t2 -> t1's secondary address";
  auto set = net::nft::Query(RouterNs(vpc), "list set ip kecs_router noegress");
  ASSERT_TRUE(set.ok());
  EXPECT_NE(set->find(sec), std::string::npos) << *set;

  // Another LocalNetwork (as after a restart) finds the task by its primary address.
  LocalNetwork fresh(NetworkOptionsFor(nets_));
  want.ipv4.clear();
  ASSERT_TRUE(fresh.ApplyEniAddresses(want).ok());
  eth0 = Ip(TaskNs(t1), {"-o", "addr", "show", "dev", "eth0"});
  EXPECT_EQ(eth0.find(sec), std::string::npos) << eth0;
  EXPECT_NE(eth0.find(t1.network.ip + "/24"), std::string::npos) << "the primary went too: " << eth0;
  set = net::nft::Query(RouterNs(vpc), "list set ip kecs_router noegress");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->find(sec), std::string::npos) << *set;
  EXPECT_FALSE(Ping(TaskNs(t2), sec, 1));
  // An interface no task here carries.
  EXPECT_EQ(net_->ApplyEniAddresses({"eni-" + RandomHex(17), vpc.id, fmt::format("10.{}.1.99", vpc.octet), {sec}, {}})
                .code(),
            Code::kNotFound);

  // Teardown takes a secondary's noegress entry with it.
  want.ipv4 = {sec};
  ASSERT_TRUE(net_->ApplyEniAddresses(want).ok());
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t1));
  set = net::nft::Query(RouterNs(vpc), "list set ip kecs_router noegress");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->find(sec), std::string::npos) << "teardown left the secondary listed: " << *set;
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t2));
}

TEST_F(LocalNetworkTest, BridgeModeTrafficPublishingAndTeardown) {
  TaskSpec t1 = BridgeTask(nets_, 10);
  TaskSpec t2 = BridgeTask(nets_, 11);
  // t1 publishes a host port, as a bridge container's portMappings do.
  int host_port = 0;
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    host_port = ntohs(a.sin_port);
    close(fd);
  }
  runtime::ContainerSpec c;
  c.name = "web";
  c.ports = {{"tcp", 80, host_port, ""}};
  t1.containers = {c};
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t1));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t2));
  EXPECT_TRUE(net::netns::Exists(TaskNs(t1)));
  EXPECT_TRUE(Sh({"ip", "link", "show", P() + "0"}).code == 0) << "no host bridge";
  EXPECT_EQ(LinksWithAlias("", "kecs:task:" + t1.task_id).size(), 1u) << "t1's host veth";
  EXPECT_TRUE(Ping(TaskNs(t1), t2.network.bridge_ip)) << "t1 -> t2";
  EXPECT_TRUE(Ping(TaskNs(t2), fmt::format("192.168.{}.1", nets_.bridge))) << "t2 -> bridge";

  Status st = net_->Publish(t1);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(net_->Publish(t1).ok()) << "Publish twice";
  std::string map = Sh({"nft", "list", "map", "ip", P(), "publish_tcp"}).out;
  EXPECT_NE(map.find(fmt::format("{} comment \"task:{}\" : {} . 80", host_port, t1.task_id, t1.network.bridge_ip)),
            std::string::npos)
      << map;
  EXPECT_FALSE(net::HostPortFree("tcp", host_port)) << "a published port must be reserved";

  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t1));
  EXPECT_FALSE(net::netns::Exists(TaskNs(t1)));
  EXPECT_TRUE(LinksWithAlias("", "kecs:task:" + t1.task_id).empty()) << "t1's host veth stays";
  map = Sh({"nft", "list", "map", "ip", P(), "publish_tcp"}).out;
  EXPECT_EQ(map.find("task:" + t1.task_id), std::string::npos) << map;
  EXPECT_TRUE(net::HostPortFree("tcp", host_port)) << "teardown must release the host port";
  EXPECT_TRUE(Ping(TaskNs(t2), t2.network.bridge_ip)) << "t2 lost its own address";
  // (That t2 still reaches the bridge's address: GatewayMacStaysWhenATaskLeaves.)
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t2));
}

// The host bridge (<p>0) and the routers' subnet bridges have a fixed MAC of their own.
// Without one the kernel gives a bridge the lowest MAC among its ports and changes it when
// that port leaves, and the other tasks' ARP entries for their gateway (.1) would point at
// a MAC nobody has until they expire. So when a task leaves, the bridge keeps its MAC and
// the remaining tasks keep reaching their gateway (Docker fixes docker0's MAC likewise).
TEST_F(LocalNetworkTest, GatewayMacStaysWhenATaskLeaves) {
  std::string gw = fmt::format("192.168.{}.1", nets_.bridge);
  auto mac = [&](const std::string& ns, const std::string& link) {
    std::string out = ns.empty() ? Sh({"ip", "-o", "link", "show", link}).out : Ip(ns, {"-o", "link", "show", link});
    size_t at = out.find("link/ether ");
    return at == std::string::npos ? std::string() : out.substr(at + 11, 17);
  };
  // Bridge mode.
  TaskSpec t1 = BridgeTask(nets_, 70);
  TaskSpec t2 = BridgeTask(nets_, 71);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t1));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t2));
  ASSERT_TRUE(Ping(TaskNs(t2), gw));
  std::string before = mac("", P() + "0");
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t1));
  EXPECT_EQ(mac("", P() + "0"), before) << "the host bridge changed its MAC when a task left";
  EXPECT_TRUE(Ping(TaskNs(t2), gw)) << "a bridge task lost its gateway when another task left";
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(t2));
  // awsvpc: the subnet's bridge in the VPC's router.
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec a1 = AwsvpcTask(vpc, 1, 70);
  TaskSpec a2 = AwsvpcTask(vpc, 1, 71);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(a1));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(a2));
  ASSERT_TRUE(Ping(TaskNs(a2), a2.network.gateway));
  std::string br;
  for (const auto& line : Lines(Ip(RouterNs(vpc), {"-o", "link", "show", "type", "bridge"}))) {
    auto parts = Split(line, ':');
    if (parts.size() > 1) br = std::string(Trim(parts[1]));
  }
  before = mac(RouterNs(vpc), br);
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(a1));
  EXPECT_EQ(mac(RouterNs(vpc), br), before) << "the subnet bridge changed its MAC when a task left";
  EXPECT_TRUE(Ping(TaskNs(a2), a2.network.gateway)) << "an awsvpc task lost its gateway when another task left";
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(a2));
}

TEST_F(LocalNetworkTest, HostAndNoneModes) {
  TaskSpec host = ModeTask("host");
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(host));
  EXPECT_EQ(net_->NetnsPath(host), "");
  EXPECT_FALSE(net::netns::Exists(TaskNs(host)));
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(host));

  TaskSpec none = ModeTask("none");
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(none));
  EXPECT_TRUE(net::netns::Exists(TaskNs(none)));
  std::string links = Ip(TaskNs(none), {"-o", "link"});
  EXPECT_EQ(Lines(links).size(), 1u) << links;
  EXPECT_NE(links.find("lo:"), std::string::npos);
  EXPECT_NE(links.find("UP"), std::string::npos) << "lo must be up";
  ASSERT_NO_FATAL_FAILURE(TearDownTwice(none));
  EXPECT_FALSE(net::netns::Exists(TaskNs(none)));

  // The mode is an enum now, so "overlay" cannot even be decoded (DecodeTask refuses it);
  // a value outside the enum is still refused here rather than half set up.
  EXPECT_FALSE(model::ParseNetworkMode("overlay").has_value());
  TaskSpec bad = BaseTask();
  bad.network.mode = static_cast<model::NetworkMode>(99);
  EXPECT_EQ(net_->SetUpTask(bad).code(), Code::kInvalidArgument);
  EXPECT_TRUE(net_->TearDownTask(bad).ok());
}

TEST_F(LocalNetworkTest, GarbageCollectKeepsLiveTasksOnly) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec t1 = AwsvpcTask(vpc, 1, 50);
  TaskSpec t2 = AwsvpcTask(vpc, 1, 51);
  TaskSpec b = BridgeTask(nets_, 50);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t1));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t2));
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(b));

  Status st = net_->GarbageCollect({t2.task_id});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(net::netns::Exists(TaskNs(t1)));
  EXPECT_FALSE(net::netns::Exists(TaskNs(b)));
  EXPECT_TRUE(net::netns::Exists(TaskNs(t2)));
  EXPECT_TRUE(net::netns::Exists(RouterNs(vpc)));
  EXPECT_TRUE(WaitFor([&] { return LinksWithAlias("", "kecs:task:" + b.task_id).empty(); }))
      << "the bridge task's host veth stays";
  EXPECT_TRUE(Ping(TaskNs(t2), t2.network.gateway)) << "GC broke a live task";

  st = net_->GarbageCollect({});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(net::netns::Exists(TaskNs(t2)));
  // (That this GC also removes the router: GarbageCollectRemovesUnusedRouter.)
  // TearDownTask of what GC already removed succeeds, and the VPC's last teardown takes
  // the router with it.
  EXPECT_TRUE(net_->TearDownTask(t1).ok());
  EXPECT_TRUE(net_->TearDownTask(t2).ok());
  EXPECT_TRUE(net_->TearDownTask(b).ok());
  EXPECT_FALSE(net::netns::Exists(RouterNs(vpc)));
  EXPECT_TRUE(LinksWithAlias("", "kecs:vpc:" + vpc.id).empty());
}

// GarbageCollect removes the router of a VPC no live task uses, with its host link, in the
// same call. Like TearDownTask it deletes the gone tasks' veths ("kecs:task:" alias) before
// their namespaces, since the kernel destroys a deleted namespace's veth asynchronously and
// a router still holding one would count as used.
TEST_F(LocalNetworkTest, GarbageCollectRemovesUnusedRouter) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  TaskSpec t1 = AwsvpcTask(vpc, 1, 52);
  ASSERT_NO_FATAL_FAILURE(SetUpTwice(t1));
  Status st = net_->GarbageCollect({});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(net::netns::Exists(TaskNs(t1)));
  EXPECT_FALSE(net::netns::Exists(RouterNs(vpc))) << "GC left the router of a VPC no live task uses";
  EXPECT_TRUE(LinksWithAlias("", "kecs:vpc:" + vpc.id).empty()) << "GC left the VPC's host link";
}

TEST_F(LocalNetworkTest, ConcurrentSetUpAndTearDownInOneVpc) {
  Vpc vpc = MakeVpc(nets_.vpc_a, 0);
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back(AwsvpcTask(vpc, 1 + i % 2, 60 + i));
  std::vector<Status> results(tasks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < tasks.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = net_->SetUpTask(tasks[i]); });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  for (size_t i = 0; i < tasks.size(); ++i) EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].ToString();
  EXPECT_TRUE(Ping(TaskNs(tasks[0]), tasks[5].network.ip)) << "across subnets after concurrent set-up";
  for (size_t i = 0; i < tasks.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = net_->TearDownTask(tasks[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < tasks.size(); ++i) EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].ToString();
  for (const auto& t : tasks) EXPECT_FALSE(net::netns::Exists(TaskNs(t)));
  EXPECT_FALSE(net::netns::Exists(RouterNs(vpc))) << "concurrent teardown of every task left the router";
}

}  // namespace
}  // namespace kecs::privileged
