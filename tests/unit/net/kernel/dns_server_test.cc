// The VPC resolver's answers (Respond) and its sockets on the loopback: answers from the
// lookup, forwarding of other names to an upstream, TCP, truncation. No root needed: the
// listeners here live in the test's own network namespace.
#include "net/kernel/dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include "unit/support/dns_wire.h"

namespace kecs::net {
namespace {

using discovery::DnsAnswer;
using discovery::Endpoint;

using kecs::testing::Parse;
using kecs::testing::Pkt;
using kecs::testing::Query;

std::string Rdf(const ldns_rdf* r) {
  char* s = ldns_rdf2str(r);
  std::string out = s;
  free(s);  // NOLINT
  return out;
}

std::multiset<std::string> Records(const ldns_pkt* p, ldns_pkt_section section, ldns_rr_type type) {
  std::multiset<std::string> out;
  ldns_rr_list* list = ldns_pkt_get_section_clone(p, section);
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) != type) continue;
    std::string rd;
    for (size_t j = 0; j < ldns_rr_rd_count(rr); ++j) rd += (j ? " " : "") + Rdf(ldns_rr_rdf(rr, j));
    out.insert(fmt::format("{} {} {}", Rdf(ldns_rr_owner(rr)), ldns_rr_ttl(rr), rd));
  }
  ldns_rr_list_deep_free(list);
  return out;
}

std::vector<Endpoint> Endpoints(int n, int port = 0, const std::string& prefix = "") {
  std::vector<Endpoint> out;
  for (int i = 0; i < n; ++i) {
    Endpoint e;
    e.instance_id = prefix + "task" + std::to_string(i);
    e.ipv4 = "10.0.1." + std::to_string(10 + i);
    e.port = port;
    out.push_back(e);
  }
  return out;
}

DnsAnswer Service(std::vector<Endpoint> endpoints, const std::string& policy = "MULTIVALUE") {
  DnsAnswer a;
  a.found = true;
  a.routing_policy = policy;
  a.has_a = true;
  a.ttl_a = 10;
  a.endpoints = std::move(endpoints);
  return a;
}

// A lookup that serves one answer for backend.local in vpc-1 and nothing else.
class DnsServerTest : public ::testing::Test {
 protected:
  DnsServerTest()
      : server_([this](const std::string& vpc, const std::string& fqdn) -> Result<DnsAnswer> {
                  std::lock_guard<std::mutex> lock(mu_);
                  asked_.push_back(vpc + " " + fqdn);
                  if (vpc != "vpc-1") return DnsAnswer{};
                  if (fqdn == "backend.local") return answer_;
                  if (fqdn.ends_with(".local")) {
                    DnsAnswer nx;
                    nx.found = true;
                    nx.nxdomain = true;
                    return nx;
                  }
                  return DnsAnswer{};
                },
                Options()) {}

  static DnsServer::Options Options() {
    DnsServer::Options o;
    o.upstreams = {"127.0.0.1:1"};  // replaced by tests that forward
    o.forward_timeout = std::chrono::milliseconds(500);
    return o;
  }
  void Set(DnsAnswer a) {
    std::lock_guard<std::mutex> lock(mu_);
    answer_ = std::move(a);
  }
  Pkt Ask(const std::string& name, ldns_rr_type type, bool edns = false) {
    auto r = server_.Respond("vpc-1", Query(name, type, 4242, edns), false);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok() || r->empty()) return nullptr;
    return Parse(*r);
  }

  std::mutex mu_;
  DnsAnswer answer_;
  std::vector<std::string> asked_;
  DnsServer server_;
};

TEST_F(DnsServerTest, MultivalueAnswersEveryHealthyInstanceWithItsTtl) {
  Set(Service(Endpoints(3)));
  Pkt r = Ask("Backend.Local.", LDNS_RR_TYPE_A);
  ASSERT_TRUE(r);
  EXPECT_EQ(ldns_pkt_id(r.get()), 4242);
  EXPECT_TRUE(ldns_pkt_qr(r.get()));
  EXPECT_TRUE(ldns_pkt_aa(r.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_NOERROR);
  // The owner keeps the asker's spelling; the lookup sees it lowercased.
  EXPECT_EQ(Records(r.get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A),
            (std::multiset<std::string>{"Backend.Local. 10 10.0.1.10", "Backend.Local. 10 10.0.1.11",
                                        "Backend.Local. 10 10.0.1.12"}));
  EXPECT_EQ(asked_.back(), "vpc-1 backend.local");
}

TEST_F(DnsServerTest, MultivalueReturnsAtMostEight) {
  Set(Service(Endpoints(20)));
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    Pkt r = Ask("backend.local.", LDNS_RR_TYPE_A);
    auto recs = Records(r.get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A);
    EXPECT_EQ(recs.size(), 8u);
    seen.insert(recs.begin(), recs.end());
  }
  EXPECT_GT(seen.size(), 8u);  // a different random 8 each time
}

TEST_F(DnsServerTest, WeightedAnswersOneInstance) {
  Set(Service(Endpoints(5), "WEIGHTED"));
  Pkt r = Ask("backend.local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(Records(r.get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A).size(), 1u);
}

TEST_F(DnsServerTest, SrvNamesInstanceTargetsAndAddsTheirAddresses) {
  DnsAnswer a = Service(Endpoints(2, 8080));
  a.has_srv = true;
  a.ttl_srv = 30;
  Set(a);
  Pkt r = Ask("backend.local.", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(Records(r.get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_SRV),
            (std::multiset<std::string>{"backend.local. 30 1 1 8080 task0.backend.local.",
                                        "backend.local. 30 1 1 8080 task1.backend.local."}));
  EXPECT_EQ(Records(r.get(), LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A),
            (std::multiset<std::string>{"task0.backend.local. 10 10.0.1.10", "task1.backend.local. 10 10.0.1.11"}));
}

TEST_F(DnsServerTest, NoRecordOfTheTypeIsNodataAndUnknownNameIsNxdomain) {
  Set(Service(Endpoints(1)));
  Pkt aaaa = Ask("backend.local.", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(ldns_pkt_get_rcode(aaaa.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(aaaa.get()), 0);
  Pkt nx = Ask("nothing.local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(ldns_pkt_get_rcode(nx.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(ldns_pkt_aa(nx.get()));
}

TEST_F(DnsServerTest, AnswersFollowTheLookupWithoutCaching) {
  Set(Service(Endpoints(3)));
  EXPECT_EQ(Records(Ask("backend.local.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A).size(), 3u);
  Set(Service(Endpoints(1)));
  EXPECT_EQ(Records(Ask("backend.local.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A).size(), 1u);
}

TEST_F(DnsServerTest, OtherNamesAreLeftToForwarding) {
  auto r = server_.Respond("vpc-1", Query("example.com.", LDNS_RR_TYPE_A), false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  // Another VPC does not see vpc-1's namespace.
  r = server_.Respond("vpc-2", Query("backend.local.", LDNS_RR_TYPE_A), false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(DnsServerTest, OversizedUdpAnswerIsTruncated) {
  DnsAnswer a = Service(Endpoints(8, 80, std::string(20, 'x')));
  a.has_srv = true;
  Set(a);
  Pkt r = Ask("backend.local.", LDNS_RR_TYPE_SRV);
  EXPECT_TRUE(ldns_pkt_tc(r.get()));
  EXPECT_EQ(ldns_pkt_ancount(r.get()), 0);
  // With EDNS the client takes up to 1232 bytes, which fits.
  Pkt big = Ask("backend.local.", LDNS_RR_TYPE_SRV, /*edns=*/true);
  EXPECT_FALSE(ldns_pkt_tc(big.get()));
  EXPECT_EQ(ldns_pkt_ancount(big.get()), 8);
  auto tcp = server_.Respond("vpc-1", Query("backend.local.", LDNS_RR_TYPE_SRV), true);
  ASSERT_TRUE(tcp.ok());
  EXPECT_FALSE(ldns_pkt_tc(Parse(*tcp).get()));
}

TEST_F(DnsServerTest, MalformedQueryIsAnError) {
  std::vector<uint8_t> junk = {1, 2, 3};
  EXPECT_FALSE(server_.Respond("vpc-1", junk, false).ok());
}

// --- over sockets ---

std::vector<uint8_t> UdpExchange(uint16_t port, const std::vector<uint8_t>& q) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  std::vector<uint8_t> buf(65535);
  ssize_t n = recv(fd, buf.data(), buf.size(), 0);
  close(fd);
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

std::vector<uint8_t> TcpExchange(uint16_t port, const std::vector<uint8_t>& q) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<uint8_t> out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::vector<uint8_t> msg = {static_cast<uint8_t>(q.size() >> 8), static_cast<uint8_t>(q.size() & 0xff)};
    msg.insert(msg.end(), q.begin(), q.end());
    send(fd, msg.data(), msg.size(), 0);
    uint8_t len[2];
    if (recv(fd, len, 2, MSG_WAITALL) == 2) {
      out.resize(static_cast<size_t>((len[0] << 8) | len[1]));
      if (recv(fd, out.data(), out.size(), MSG_WAITALL) != static_cast<ssize_t>(out.size())) out.clear();
    }
  }
  close(fd);
  return out;
}

// A fake upstream resolver: answers every A query with 192.0.2.1, on UDP.
class FakeUpstream {
 public:
  FakeUpstream() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{0, 200000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] {
      while (!stop_) {
        std::vector<uint8_t> buf(4096);
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) continue;
        buf.resize(static_cast<size_t>(n));
        ldns_pkt* q = nullptr;
        if (ldns_wire2pkt(&q, buf.data(), buf.size()) != LDNS_STATUS_OK) continue;
        ldns_pkt* r = ldns_pkt_new();
        ldns_pkt_set_id(r, ldns_pkt_id(q));
        ldns_pkt_set_qr(r, true);
        ldns_rr* question = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0));
        ldns_rr* ans = nullptr;
        ldns_rr_new_frm_str(&ans, (Rdf(ldns_rr_owner(question)) + " 300 IN A 192.0.2.1").c_str(), 0, nullptr, nullptr);
        ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, question);
        ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, ans);
        uint8_t* wire = nullptr;
        size_t size = 0;
        ldns_pkt2wire(&wire, r, &size);
        ++answered_;  // before the answer leaves: the test reads it as soon as it arrives
        sendto(fd_, wire, size, 0, reinterpret_cast<sockaddr*>(&from), fl);
        free(wire);  // NOLINT
        ldns_pkt_free(r);
        ldns_pkt_free(q);
      }
    });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  int answered() const { return answered_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

TEST(DnsServerSockets, AnswersOverUdpAndTcpAndForwardsTheRest) {
  FakeUpstream upstream;
  DnsServer::Options o;
  // A dead upstream first: the server moves on to the next one.
  o.upstreams = {"127.0.0.1:1", fmt::format("127.0.0.1:{}", upstream.port())};
  o.forward_timeout = std::chrono::milliseconds(300);
  DnsServer server(
      [](const std::string&, const std::string& fqdn) -> Result<DnsAnswer> {
        if (fqdn != "backend.local") return DnsAnswer{};
        return Service(Endpoints(2));
      },
      o);
  auto port = server.Listen("vpc-1", "", "127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().message();
  EXPECT_EQ(server.ServedVpcs(), std::vector<std::string>{"vpc-1"});

  Pkt udp = Parse(UdpExchange(*port, Query("backend.local.", LDNS_RR_TYPE_A, 7)));
  ASSERT_TRUE(udp);
  EXPECT_EQ(ldns_pkt_id(udp.get()), 7);
  EXPECT_EQ(Records(udp.get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A).size(), 2u);

  Pkt tcp = Parse(TcpExchange(*port, Query("backend.local.", LDNS_RR_TYPE_A, 8)));
  ASSERT_TRUE(tcp);
  EXPECT_EQ(ldns_pkt_id(tcp.get()), 8);
  EXPECT_EQ(Records(tcp.get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A).size(), 2u);

  Pkt fwd = Parse(UdpExchange(*port, Query("example.org.", LDNS_RR_TYPE_A, 9)));
  ASSERT_TRUE(fwd);
  EXPECT_EQ(ldns_pkt_id(fwd.get()), 9);
  EXPECT_EQ(Records(fwd.get(), LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A),
            (std::multiset<std::string>{"example.org. 300 192.0.2.1"}));
  EXPECT_EQ(upstream.answered(), 1);

  // The same listener again is a no-op; Unlisten closes the port.
  auto again = server.Listen("vpc-1", "", "127.0.0.1", *port);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *port);
  server.Unlisten("vpc-1");
  EXPECT_TRUE(server.ServedVpcs().empty());
  // Nothing answers this query any more. (Under a loaded CI machine another process may
  // already hold the freed port, so the check is "no DNS answer to it", not "refused".)
  std::vector<uint8_t> after = TcpExchange(*port, Query("backend.local.", LDNS_RR_TYPE_A, 12));
  EXPECT_FALSE(after.size() >= 2 && after[0] == 0 && after[1] == 12) << "answered after Unlisten";
}

TEST(DnsServerSockets, NoWorkingUpstreamIsServfail) {
  DnsServer::Options o;
  o.upstreams = {"127.0.0.1:1"};
  o.forward_timeout = std::chrono::milliseconds(200);
  DnsServer server([](const std::string&, const std::string&) -> Result<DnsAnswer> { return DnsAnswer{}; }, o);
  auto port = server.Listen("vpc-1", "", "127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  Pkt r = Parse(UdpExchange(*port, Query("example.org.", LDNS_RR_TYPE_A, 11)));
  ASSERT_TRUE(r);
  EXPECT_EQ(ldns_pkt_get_rcode(r.get()), LDNS_RCODE_SERVFAIL);
}

}  // namespace
}  // namespace kecs::net
