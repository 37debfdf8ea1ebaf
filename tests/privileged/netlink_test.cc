// net::Netlink against the real kernel. Most work happens in namespaces of the test's own;
// one veth has its host end on the host, named with the prefix.
#include "net/kernel/netlink.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <regex>

#include "privileged/privileged.h"

namespace kecs::privileged {
namespace {

using net::LinkInfo;
using net::Netlink;

std::optional<LinkInfo> FindLink(const std::vector<LinkInfo>& links, const std::string& name) {
  for (const auto& l : links) {
    if (l.name == name) return l;
  }
  return std::nullopt;
}

class NetlinkTest : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    ns_ = P() + "-nl-" + RandomHex(4);
    ASSERT_TRUE(net::netns::Create(ns_).ok());
  }
  // `ip` inside the test namespace.
  Cmd Ip(std::vector<std::string> args) {
    std::vector<std::string> argv = {"ip", "netns", "exec", ns_, "ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    return Sh(argv);
  }
  std::string ns_;
};

TEST_F(NetlinkTest, VethWithPeerInAnotherNamespace) {
  std::string host_end = LinkName("h" + RandomHex(4));
  std::string alias = "kecs:test:" + P();
  int fd = open((std::string(net::netns::kRunDir) + "/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Status st = InNs("", [&](Netlink& nl) { return nl.CreateVeth(host_end, "peer0", fd, alias); });
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Creating it again reports AlreadyExists (callers check LinkExists first).
  st = InNs("", [&](Netlink& nl) { return nl.CreateVeth(host_end, "peer0", fd, alias); });
  EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.ToString();
  close(fd);

  ASSERT_TRUE(InNs("", [&](Netlink& nl) -> Status {
                EXPECT_TRUE(nl.LinkExists(host_end));
                EXPECT_FALSE(nl.LinkExists("peer0")) << "the peer must not stay on the host";
                ASSIGN_OR_RETURN(auto links, nl.ListLinks());
                auto l = FindLink(links, host_end);
                EXPECT_TRUE(l.has_value());
                if (l) {
                  EXPECT_EQ(l->alias, alias) << "aliases must be visible in ListLinks";
                  EXPECT_EQ(l->kind, "veth");
                  EXPECT_GT(l->index, 0);
                }
                return Status::Ok();
              }).ok());
  ASSERT_TRUE(InNs(ns_, [&](Netlink& nl) -> Status {
                EXPECT_TRUE(nl.LinkExists("peer0"));
                return Status::Ok();
              }).ok());
  // iproute2 agrees on the alias.
  EXPECT_NE(Sh({"ip", "-o", "link", "show", host_end}).out.find("alias " + alias), std::string::npos)
      << Sh({"ip", "-o", "link", "show", host_end}).out;

  // Deleting one end removes the pair; deleting again succeeds.
  ASSERT_TRUE(InNs("", [&](Netlink& nl) { return nl.DeleteLink(host_end); }).ok());
  ASSERT_TRUE(InNs("", [&](Netlink& nl) -> Status {
                EXPECT_FALSE(nl.LinkExists(host_end));
                return nl.DeleteLink(host_end);
              }).ok());
  EXPECT_TRUE(WaitFor([&] {
    bool gone = false;
    (void)InNs(ns_, [&](Netlink& nl) {
      gone = !nl.LinkExists("peer0");
      return Status::Ok();
    });
    return gone;
  })) << "the peer must go with its pair";
}

TEST_F(NetlinkTest, BridgeMasterMacAndAliases) {
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.CreateBridge("br0", "kecs:subnet:subnet-1"));
    EXPECT_EQ(nl.CreateBridge("br0", "").code(), Code::kAlreadyExists);
    RETURN_IF_ERROR(nl.CreateVeth("va", "vb", -1, "kecs:task:abc"));
    RETURN_IF_ERROR(nl.SetMaster("va", "br0"));
    RETURN_IF_ERROR(nl.SetMaster("va", "br0"));  // idempotent
    EXPECT_EQ(nl.SetMaster("va", "nobridge").code(), Code::kNotFound);
    EXPECT_EQ(nl.SetMaster("nolink", "br0").code(), Code::kNotFound);
    RETURN_IF_ERROR(nl.SetMac("vb", "0a:58:0a:00:01:05"));
    EXPECT_FALSE(nl.SetMac("vb", "not-a-mac").ok());
    RETURN_IF_ERROR(nl.SetUp("br0"));
    RETURN_IF_ERROR(nl.SetUp("va"));
    RETURN_IF_ERROR(nl.SetUp("va"));  // idempotent
    ASSIGN_OR_RETURN(auto links, nl.ListLinks());
    auto br = FindLink(links, "br0");
    auto va = FindLink(links, "va");
    auto vb = FindLink(links, "vb");
    EXPECT_TRUE(br && va && vb);
    if (br && va && vb) {
      EXPECT_EQ(br->kind, "bridge");
      EXPECT_EQ(br->alias, "kecs:subnet:subnet-1");
      EXPECT_EQ(va->alias, "kecs:task:abc");
      EXPECT_EQ(va->master, br->index);
      EXPECT_EQ(vb->master, 0);
    }
    RETURN_IF_ERROR(nl.SetAlias("vb", "kecs:other"));
    ASSIGN_OR_RETURN(links, nl.ListLinks());
    vb = FindLink(links, "vb");
    EXPECT_TRUE(vb && vb->alias == "kecs:other");
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_NE(Ip({"-o", "link", "show", "vb"}).out.find("link/ether 0a:58:0a:00:01:05"), std::string::npos)
      << Ip({"-o", "link", "show", "vb"}).out;
  EXPECT_NE(Ip({"-o", "link", "show", "va"}).out.find("master br0"), std::string::npos);
  // Administratively up (a bridge without running ports reports no carrier).
  std::string br0 = Ip({"-o", "link", "show", "br0"}).out;
  EXPECT_TRUE(std::regex_search(br0, std::regex("[<,]UP[,>]"))) << br0;
}

// Secondary addresses (issue 20): /32 and /128 extras listed by family and deleted; deleting
// one that is not there succeeds.
TEST_F(NetlinkTest, DeleteAddressAndListIpv6Addresses) {
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.CreateVeth("va", "vb", -1, ""));
    RETURN_IF_ERROR(nl.AddAddress("va", "10.9.8.7/24"));
    RETURN_IF_ERROR(nl.AddAddress("va", "10.9.8.20/32"));
    RETURN_IF_ERROR(nl.AddAddress("va", "fd00:1::5/64"));
    RETURN_IF_ERROR(nl.AddAddress("va", "fd00:1::9/128"));
    ASSIGN_OR_RETURN(auto v6, nl.ListAddresses("va", /*ipv6=*/true));
    EXPECT_NE(std::find(v6.begin(), v6.end(), "fd00:1::9/128"), v6.end());
    EXPECT_NE(std::find(v6.begin(), v6.end(), "fd00:1::5/64"), v6.end());
    RETURN_IF_ERROR(nl.DeleteAddress("va", "10.9.8.20/32"));
    RETURN_IF_ERROR(nl.DeleteAddress("va", "fd00:1::9/128"));
    RETURN_IF_ERROR(nl.DeleteAddress("va", "10.9.8.20/32"));  // already gone
    EXPECT_EQ(nl.DeleteAddress("nolink", "10.9.8.20/32").code(), Code::kNotFound);
    ASSIGN_OR_RETURN(auto v4, nl.ListAddresses("va"));
    EXPECT_EQ(v4, std::vector<std::string>{"10.9.8.7/24"});
    ASSIGN_OR_RETURN(v6, nl.ListAddresses("va", /*ipv6=*/true));
    EXPECT_EQ(std::find(v6.begin(), v6.end(), "fd00:1::9/128"), v6.end());
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string shown = Ip({"-o", "addr", "show", "dev", "va"}).out;
  EXPECT_EQ(shown.find("10.9.8.20"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("fd00:1::9"), std::string::npos) << shown;
  EXPECT_NE(shown.find("fd00:1::5/64"), std::string::npos) << shown;
}

TEST_F(NetlinkTest, AddAddressTwiceAndListAddresses) {
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.CreateVeth("va", "vb", -1, ""));
    RETURN_IF_ERROR(nl.AddAddress("va", "10.9.8.7/24"));
    RETURN_IF_ERROR(nl.AddAddress("va", "10.9.8.7/24"));
    RETURN_IF_ERROR(nl.AddAddress("va", "10.9.9.7/25"));
    ASSIGN_OR_RETURN(auto addrs, nl.ListAddresses("va"));
    std::sort(addrs.begin(), addrs.end());
    EXPECT_EQ(addrs, (std::vector<std::string>{"10.9.8.7/24", "10.9.9.7/25"}));
    ASSIGN_OR_RETURN(auto none, nl.ListAddresses("vb"));
    EXPECT_TRUE(none.empty());
    ASSIGN_OR_RETURN(auto missing, nl.ListAddresses("nolink"));
    EXPECT_TRUE(missing.empty());
    EXPECT_EQ(nl.AddAddress("nolink", "10.1.1.1/24").code(), Code::kNotFound);
    EXPECT_FALSE(nl.AddAddress("va", "not-an-address").ok());
    // IPv6 (no DAD) works too and is not listed among IPv4 addresses.
    RETURN_IF_ERROR(nl.AddAddress("va", "fd00:1::5/64"));
    RETURN_IF_ERROR(nl.AddAddress("va", "fd00:1::5/64"));
    ASSIGN_OR_RETURN(addrs, nl.ListAddresses("va"));
    EXPECT_EQ(addrs.size(), 2u);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string shown = Ip({"-o", "addr", "show", "dev", "va"}).out;
  EXPECT_NE(shown.find("10.9.8.7/24"), std::string::npos) << shown;
  EXPECT_NE(shown.find("fd00:1::5/64"), std::string::npos) << shown;
  // Exactly once, although added twice.
  EXPECT_EQ(shown.find("10.9.8.7/24"), shown.rfind("10.9.8.7/24")) << shown;
}

TEST_F(NetlinkTest, RoutesReplaceAndAlreadyExists) {
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.CreateVeth("va", "vb", -1, ""));
    RETURN_IF_ERROR(nl.AddAddress("va", "10.9.8.7/24"));
    RETURN_IF_ERROR(nl.SetUp("vb"));
    RETURN_IF_ERROR(nl.SetUp("va"));
    RETURN_IF_ERROR(nl.AddRoute("10.77.0.0/16", "10.9.8.1", "va", /*replace=*/false));
    Status again = nl.AddRoute("10.77.0.0/16", "10.9.8.1", "va", /*replace=*/false);
    EXPECT_EQ(again.code(), Code::kAlreadyExists) << again.ToString();
    again = nl.AddRoute("10.77.0.0/16", "10.9.8.2", "va", /*replace=*/false);
    EXPECT_EQ(again.code(), Code::kAlreadyExists) << "another gateway is still the same route: " << again.ToString();
    // replace=true (the default) replaces it.
    RETURN_IF_ERROR(nl.AddRoute("10.77.0.0/16", "10.9.8.254", "va"));
    RETURN_IF_ERROR(nl.AddRoute("10.77.0.0/16", "10.9.8.254", "va"));
    RETURN_IF_ERROR(nl.AddRoute("default", "10.9.8.1", "va"));
    RETURN_IF_ERROR(nl.AddRoute("default", "10.9.8.1", "va"));
    // On-link (no gateway).
    RETURN_IF_ERROR(nl.AddRoute("10.66.0.0/16", "", "va"));
    EXPECT_EQ(nl.AddRoute("10.55.0.0/16", "10.9.8.1", "nolink").code(), Code::kNotFound);
    EXPECT_FALSE(nl.AddRoute("bogus", "10.9.8.1", "va").ok());
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string routes = Ip({"route", "show"}).out;
  EXPECT_NE(routes.find("10.77.0.0/16 via 10.9.8.254 dev va"), std::string::npos) << routes;
  EXPECT_EQ(routes.find("10.77.0.0/16 via 10.9.8.1 "), std::string::npos) << routes;
  EXPECT_NE(routes.find("default via 10.9.8.1 dev va"), std::string::npos) << routes;
  EXPECT_NE(routes.find("10.66.0.0/16 dev va"), std::string::npos) << routes;
  int defaults = 0;
  for (const auto& l : Lines(routes)) defaults += l.rfind("default", 0) == 0;
  EXPECT_EQ(defaults, 1) << routes;

  // An on-link route is deleted, and deleting it again succeeds.
  st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.DeleteRoute("10.66.0.0/16"));
    RETURN_IF_ERROR(nl.DeleteRoute("10.66.0.0/16"));  // already gone
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Ip({"route", "show"}).out.find("10.66.0.0/16"), std::string::npos);
}

// DeleteRoute deletes a route via a gateway (universe scope) too: its request leaves the
// scope open (RT_SCOPE_NOWHERE) rather than letting libnl guess RT_SCOPE_LINK, which the
// kernel would match against link-scope routes only.
TEST_F(NetlinkTest, DeleteRouteViaGateway) {
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.CreateVeth("va", "vb", -1, ""));
    RETURN_IF_ERROR(nl.AddAddress("va", "10.9.8.7/24"));
    RETURN_IF_ERROR(nl.SetUp("vb"));
    RETURN_IF_ERROR(nl.SetUp("va"));
    RETURN_IF_ERROR(nl.AddRoute("10.77.0.0/16", "10.9.8.1", "va"));
    return nl.DeleteRoute("10.77.0.0/16");
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string routes = Ip({"route", "show"}).out;
  EXPECT_EQ(routes.find("10.77.0.0/16"), std::string::npos) << "DeleteRoute returned OK but: " << routes;
}

TEST_F(NetlinkTest, DeleteLinkOfMissingLinkSucceeds) {
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.DeleteLink("nosuchlink"));
    RETURN_IF_ERROR(nl.CreateBridge("br0", ""));
    RETURN_IF_ERROR(nl.DeleteLink("br0"));
    EXPECT_FALSE(nl.LinkExists("br0"));
    return nl.DeleteLink("br0");
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  st = InNs("", [&](Netlink& nl) { return nl.DeleteLink(LinkName("missing")); });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(NetlinkTest, Rename) {
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    RETURN_IF_ERROR(nl.CreateVeth("tmp0", "eth9", -1, "kecs:task:x"));
    RETURN_IF_ERROR(nl.Rename("tmp0", "eth0"));
    EXPECT_FALSE(nl.LinkExists("tmp0"));
    EXPECT_TRUE(nl.LinkExists("eth0"));
    ASSIGN_OR_RETURN(auto links, nl.ListLinks());
    auto l = FindLink(links, "eth0");
    EXPECT_TRUE(l && l->alias == "kecs:task:x") << "the alias stays with the link";
    EXPECT_EQ(nl.Rename("nolink", "x").code(), Code::kNotFound);
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(NetlinkTest, SocketFollowsTheNamespaceItWasOpenedIn) {
  // A Netlink opened in the test namespace sees its links even when used after the
  // namespace gained some, and never the host's.
  Status st = InNs(ns_, [&](Netlink& nl) -> Status {
    EXPECT_FALSE(nl.LinkExists("eth0")) << "the host's eth0 is visible from a fresh namespace";
    EXPECT_TRUE(nl.LinkExists("lo"));
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

}  // namespace
}  // namespace kecs::privileged
