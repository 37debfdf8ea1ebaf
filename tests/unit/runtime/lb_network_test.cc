// The pure parts of the local load balancers' network (lb_network.h): which targets are in
// rotation, the NLB forwarding script (golden file testdata/lb/forwarding.nft; regenerate
// with KECS_UPDATE_GOLDEN=1 and review the diff), and the certificates (lb_certs.h),
// parsed back with OpenSSL.
#include "runtime/local/lb_network.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "runtime/local/lb_certs.h"
#include "unit/support/golden.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::local {
namespace {

std::string TgArn(const std::string& id) {
  return "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg-" + id.substr(0, 4) + "/" + id;
}

model::Action Forward(const std::string& tg_id) {
  model::Action a;
  a.type = model::ActionType::kForward;
  a.target_group_arn = TgArn(tg_id);
  return a;
}

LbTargetSpec Target(const std::string& ip, int port, const std::string& zone, bool draining = false) {
  return LbTargetSpec{ip, ip, port, zone, draining};
}

// Two nodes (zones a and b); TCP 80 to a group without cross-zone (two targets in a, one
// in b); UDP 53 to a group that does not preserve client addresses (given in the ForwardConfig
// form); TCP_UDP 443 to a group with nothing in rotation; TLS 8443 (the proxy's, not the
// kernel's).
LoadBalancerSpec Nlb() {
  LoadBalancerSpec lb;
  lb.id = "0123456789abcdef";
  lb.name = "net-lb";
  lb.type = model::LbType::kNetwork;
  lb.dns_name = "net-lb-0123456789abcdef.elb.us-east-1.amazonaws.com";
  lb.vpc_id = "vpc-0123456789abcdef0";
  lb.cross_zone = true;
  lb.nodes = {{"eni-0000000000000000a", "02:00:00:00:00:0a", "10.0.1.5", 24, "10.0.1.1", "subnet-a", "10.0.1.0/24",
               "us-east-1a", "", ""},
              {"eni-0000000000000000b", "02:00:00:00:00:0b", "10.0.2.5", 24, "10.0.2.1", "subnet-b", "10.0.2.0/24",
               "us-east-1b", "", ""}};
  LbTargetGroupSpec web;
  web.id = "aaaaaaaaaaaaaaaa";
  web.protocol = model::LbProtocol::kTcp;
  web.cross_zone = false;
  web.targets = {Target("10.0.1.10", 8080, "us-east-1a"), Target("10.0.1.11", 8080, "us-east-1a"),
                 Target("10.0.2.10", 8081, "us-east-1b")};
  LbTargetGroupSpec dns;
  dns.id = "bbbbbbbbbbbbbbbb";
  dns.protocol = model::LbProtocol::kUdp;
  dns.preserve_client_ip = false;
  dns.targets = {Target("10.0.2.20", 5353, "us-east-1b")};
  LbTargetGroupSpec empty;
  empty.id = "cccccccccccccccc";
  empty.protocol = model::LbProtocol::kTcpUdp;
  lb.target_groups = {web, dns, empty};
  LbListenerSpec tcp{"1111111111111111", 80, model::LbProtocol::kTcp, 8080, {Forward(web.id)}, {}, ""};
  LbListenerSpec udp{"2222222222222222", 53, model::LbProtocol::kUdp, 0, {}, {}, ""};
  model::Action fwd;
  fwd.forward = {{TgArn(dns.id), 1}};
  fwd.forward_given = true;
  udp.default_actions = {fwd};
  LbListenerSpec both{"3333333333333333", 443, model::LbProtocol::kTcpUdp, 0, {Forward(empty.id)}, {}, ""};
  LbListenerSpec tls{"4444444444444444", 8443, model::LbProtocol::kTls, 0, {Forward(web.id)}, {}, ""};
  lb.listeners = {tcp, udp, both, tls};
  return lb;
}

TEST(TargetsInRotation, HealthyNotDrainingOrEveryNotDrainingWhenNoneIsHealthy) {
  LoadBalancerSpec lb = Nlb();
  lb.target_groups[0].targets.push_back(Target("10.0.1.12", 8080, "us-east-1a", /*draining=*/true));
  using model::TargetHealthState;
  std::vector<TargetObservation> seen = {
      {"aaaaaaaaaaaaaaaa", "10.0.1.10", 8080, TargetHealthState::kUnhealthy, "Target.Timeout", ""},
      {"aaaaaaaaaaaaaaaa", "10.0.1.11", 8080, TargetHealthState::kHealthy, "", ""},
      {"aaaaaaaaaaaaaaaa", "10.0.2.10", 9999, TargetHealthState::kHealthy, "", ""},  // another port: not this target
      {"aaaaaaaaaaaaaaaa", "10.0.1.12", 8080, TargetHealthState::kHealthy, "", ""},  // draining
      {"bbbbbbbbbbbbbbbb", "10.0.2.20", 5353, TargetHealthState::kUnhealthy, "Target.Timeout", ""},
  };
  auto r = TargetsInRotation(lb, seen);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r["aaaaaaaaaaaaaaaa"], std::vector<LbTargetSpec>({Target("10.0.1.11", 8080, "us-east-1a")}));
  // None healthy: every target that is not draining (fail open).
  EXPECT_EQ(r["bbbbbbbbbbbbbbbb"], lb.target_groups[1].targets);
  EXPECT_TRUE(r["cccccccccccccccc"].empty());
  // Nothing observed yet: everything not draining.
  auto initial = TargetsInRotation(lb, {});
  EXPECT_EQ(initial["aaaaaaaaaaaaaaaa"].size(), 3u);
}

TEST(LbForwarding, RendersTheGoldenScript) {
  LoadBalancerSpec lb = Nlb();
  LbDispatch stale{{"10.0.1.5", "10.0.3.5"}, {"10.0.1.5"}};
  std::string text = RenderLbForwarding(lb, TargetsInRotation(lb, {}), stale);
  kecs::testing::ExpectGoldenText(std::string(KECS_TESTDATA_DIR) + "/lb/forwarding.nft", text);
}

// A forwarding script without its flow-hash seeds (checked on their own below).
std::string Unseeded(const LoadBalancerSpec& lb, const std::map<std::string, std::vector<LbTargetSpec>>& rotation,
                     const LbDispatch& stale) {
  static const std::regex kSeed(" seed 0x[0-9a-f]{8}");
  return std::regex_replace(RenderLbForwarding(lb, rotation, stale), kSeed, "");
}

TEST(LbForwarding, TheFlowHashSeedIsTheGroupsOnEveryNodeAndProtocol) {
  LoadBalancerSpec lb = Nlb();
  lb.target_groups[0].cross_zone = true;
  std::string text = RenderLbForwarding(lb, TargetsInRotation(lb, {}), {});
  static const std::regex kRule("jhash [^\\n]* seed (0x[0-9a-f]{8}) map [^\\n]*-> ([0-9a-f]{16})\"");
  std::map<std::string, std::set<std::string>> seeds;  // group -> seeds
  for (std::sregex_iterator it(text.begin(), text.end(), kRule), end; it != end; ++it) {
    seeds[(*it)[2]].insert((*it)[1]);
  }
  ASSERT_FALSE(seeds.empty()) << text;
  for (const auto& [group, s] : seeds) EXPECT_EQ(s.size(), 1u) << group << "\n" << text;
  // And the same after a rewrite with other targets in rotation.
  auto rotation = TargetsInRotation(lb, {});
  rotation.begin()->second.pop_back();
  EXPECT_NE(RenderLbForwarding(lb, rotation, {}).find(*seeds.begin()->second.begin()), std::string::npos);
}

TEST(LbForwarding, ZonesWithoutCrossZoneAndTheirFallback) {
  LoadBalancerSpec lb = Nlb();
  auto rotation = TargetsInRotation(lb, {});
  std::string text = Unseeded(lb, rotation, {});
  // Node a forwards TCP 80 to zone a's two targets only; node b to zone b's one.
  EXPECT_NE(text.find("ip daddr 10.0.1.5 tcp dport 80 dnat ip to jhash ip saddr . tcp sport mod 2 map "
                      "{ 0 : 10.0.1.10 . 8080, 1 : 10.0.1.11 . 8080 }"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ip daddr 10.0.2.5 tcp dport 80 dnat ip to jhash ip saddr . tcp sport mod 1 map "
                      "{ 0 : 10.0.2.10 . 8081 }"),
            std::string::npos)
      << text;
  // A zone without targets in rotation forwards to the others rather than drop.
  rotation["aaaaaaaaaaaaaaaa"] = {Target("10.0.2.10", 8081, "us-east-1b")};
  text = Unseeded(lb, rotation, {});
  EXPECT_NE(text.find("ip daddr 10.0.1.5 tcp dport 80 dnat ip to jhash ip saddr . tcp sport mod 1 map "
                      "{ 0 : 10.0.2.10 . 8081 }"),
            std::string::npos)
      << text;
  // Cross-zone on (the group's setting wins over the load balancer's): every target.
  lb.target_groups[0].cross_zone = true;
  text = Unseeded(lb, TargetsInRotation(lb, {}), {});
  EXPECT_NE(text.find("ip daddr 10.0.2.5 tcp dport 80 dnat ip to jhash ip saddr . tcp sport mod 3 map"),
            std::string::npos)
      << text;
  // source_ip stickiness: a hash of the client's address alone.
  lb.target_groups[0].stickiness = true;
  lb.target_groups[0].stickiness_type = "source_ip";
  text = Unseeded(lb, TargetsInRotation(lb, {}), {});
  EXPECT_NE(text.find("ip daddr 10.0.2.5 tcp dport 80 dnat ip to jhash ip saddr mod 3 map"), std::string::npos)
      << text;
  // TLS is never forwarded by the kernel; TCP_UDP with nothing in rotation drops both.
  EXPECT_EQ(text.find("dport 8443"), std::string::npos) << text;
  EXPECT_NE(text.find("ip daddr 10.0.1.5 tcp dport 443 drop"), std::string::npos) << text;
  EXPECT_NE(text.find("ip daddr 10.0.1.5 udp dport 443 drop"), std::string::npos) << text;
}

TEST(LbForwarding, RemovalDeletesElementsThenChains) {
  LbDispatch stale{{"10.0.1.5"}, {"10.0.1.5"}};
  EXPECT_EQ(RenderLbForwardingRemoval("0123456789abcdef", stale, true),
            "delete element ip kecs_lb nodes { 10.0.1.5 }\n"
            "delete element ip kecs_lb snat_nodes { 10.0.1.5 }\n"
            "delete chain ip kecs_lb lb_0123456789abcdef\n"
            "delete chain ip kecs_lb lbs_0123456789abcdef\n");
  EXPECT_EQ(RenderLbForwardingRemoval("0123456789abcdef", {}, false), "");
}

TEST(LbCertificates, NamesCoverTheDnsNameNodesHostAndLocalhost) {
  LoadBalancerSpec lb = Nlb();
  lb.nodes[1].ipv6 = "2600:1f18::5";
  CertificateNames n = CertificateNamesFor(lb, {"127.0.0.1", "192.0.2.7", "10.0.1.5"});
  EXPECT_EQ(n.common_name, lb.dns_name);
  EXPECT_EQ(n.dns_names, std::vector<std::string>({lb.dns_name, "localhost"}));
  EXPECT_EQ(n.ips, std::vector<std::string>({"10.0.1.5", "10.0.2.5", "2600:1f18::5", "127.0.0.1", "192.0.2.7"}));
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whether the bundle's key is the private half of its certificate.
bool KeyMatches(const std::string& bundle) {
  BIO* b1 = BIO_new_mem_buf(bundle.data(), static_cast<int>(bundle.size()));
  X509* x = PEM_read_bio_X509(b1, nullptr, nullptr, nullptr);
  BIO* b2 = BIO_new_mem_buf(bundle.data(), static_cast<int>(bundle.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b2, nullptr, nullptr, nullptr);
  bool ok = x && k && X509_check_private_key(x, k) == 1;
  X509_free(x);
  EVP_PKEY_free(k);
  BIO_free(b1);
  BIO_free(b2);
  return ok;
}

TEST(LbCertificates, MakesTheCaOnceAndSignsCertificatesForTheNames) {
  kecs::testing::TempDir dir;
  std::string ca_dir = dir.path() + "/elb";
  LbCertificates certs(ca_dir);
  auto ca = certs.CaPem();
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  EXPECT_NE(ca->find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(ca->find("PRIVATE KEY"), std::string::npos) << "the CA's PEM must not carry its key";
  EXPECT_EQ(ModeOf(ca_dir), 0700u);
  EXPECT_EQ(ModeOf(ca_dir + "/ca.key"), 0600u);
  EXPECT_TRUE(SignedBy(*ca, *ca)) << "the CA is self-signed";
  // Made once: another instance (a restarted daemon) finds the same CA.
  auto again = LbCertificates(ca_dir).CaPem();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *ca);

  CertificateNames names{"lb.example", {"lb.example", "localhost"}, {"10.0.1.5", "127.0.0.1", "2600:1f18::5"}};
  std::string path = dir.path() + "/runtime/lb/0123456789abcdef/crt.pem";
  auto made = certs.Ensure(path, names);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(*made);
  EXPECT_EQ(ModeOf(path), 0600u);
  std::string bundle = Read(path);
  auto sans = CertificateSans(bundle);
  ASSERT_TRUE(sans.ok()) << sans.status().ToString();
  EXPECT_EQ(*sans, std::vector<std::string>({"DNS:lb.example", "DNS:localhost", "IP:10.0.1.5", "IP:127.0.0.1",
                                             "IP:2600:1f18::5"}));
  EXPECT_TRUE(SignedBy(bundle, *ca));
  EXPECT_TRUE(KeyMatches(bundle));
  EXPECT_NE(bundle.find(*ca), std::string::npos) << "the chain carries the CA";
  auto days = DaysLeft(bundle);
  ASSERT_TRUE(days.ok());
  EXPECT_GE(*days, 824);
  EXPECT_LE(*days, 825);

  // Not signed by another CA.
  kecs::testing::TempDir other;
  auto other_ca = LbCertificates(other.path() + "/elb").CaPem();
  ASSERT_TRUE(other_ca.ok());
  EXPECT_FALSE(SignedBy(bundle, *other_ca));

  // Kept while the names stay; made again when they change.
  auto kept = certs.Ensure(path, names);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(*kept);
  EXPECT_EQ(Read(path), bundle);
  names.ips.push_back("192.0.2.7");
  auto remade = certs.Ensure(path, names);
  ASSERT_TRUE(remade.ok());
  EXPECT_TRUE(*remade);
  EXPECT_EQ(CertificateSans(Read(path))->back(), "IP:192.0.2.7");
  // A fingerprint tells the two apart (it goes into HAProxy's configuration).
  auto before = Fingerprint(bundle), after = Fingerprint(Read(path));
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(before->size(), 64u);
  EXPECT_NE(*before, *after);
  EXPECT_EQ(*Fingerprint(bundle), *before);
  EXPECT_FALSE(Fingerprint("not a certificate").ok());

  // A CA whose key is not its own is refused, not silently replaced.
  std::string other_key = Read(other.path() + "/elb/ca.key");
  std::ofstream(ca_dir + "/ca.key") << other_key;
  EXPECT_FALSE(LbCertificates(ca_dir).CaPem().ok());
}

}  // namespace
}  // namespace kecs::runtime::local
