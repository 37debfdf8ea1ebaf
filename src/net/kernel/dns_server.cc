#include "net/kernel/dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <random>
#include <sstream>

#include <boost/asio.hpp>
#include <fmt/format.h>
#include <ldns/ldns.h>

#include "base/log.h"
#include "base/metrics.h"
#include "net/kernel/netns.h"

namespace kecs::net {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

constexpr size_t kMultivalueMax = 8;  // Route 53 answers a multivalue query with up to 8
constexpr size_t kClassicUdpSize = 512;
constexpr uint16_t kOurEdnsSize = 1232;  // the DNS flag day 2020 recommendation
constexpr auto kTcpIdle = std::chrono::seconds(10);

struct PktDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktDeleter>;

std::string RdfString(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  free(s);  // NOLINT: ldns allocates with malloc
  return out;
}

Result<std::vector<uint8_t>> ToWire(const ldns_pkt* p) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, p, &size) != LDNS_STATUS_OK) return Internal("cannot encode a DNS answer");
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);  // NOLINT
  return out;
}

// A response to `q` with its question and header flags, rcode `rcode`, nothing else.
Pkt ResponseTo(const ldns_pkt* q, ldns_pkt_rcode rcode, bool authoritative) {
  Pkt r(ldns_pkt_new());
  ldns_pkt_set_id(r.get(), ldns_pkt_id(q));
  ldns_pkt_set_qr(r.get(), true);
  ldns_pkt_set_opcode(r.get(), ldns_pkt_get_opcode(q));
  ldns_pkt_set_rd(r.get(), ldns_pkt_rd(q));
  ldns_pkt_set_cd(r.get(), ldns_pkt_cd(q));
  ldns_pkt_set_ra(r.get(), true);
  ldns_pkt_set_aa(r.get(), authoritative);
  ldns_pkt_set_rcode(r.get(), static_cast<uint8_t>(rcode));
  ldns_rr_list* question = ldns_pkt_question(q);
  for (size_t i = 0; i < ldns_rr_list_rr_count(question); ++i) {
    ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(question, i)));
  }
  if (ldns_pkt_edns(q)) ldns_pkt_set_edns_udp_size(r.get(), kOurEdnsSize);
  return r;
}

ldns_rr* NewRr(const ldns_rdf* owner, ldns_rr_type type, uint32_t ttl) {
  ldns_rr* rr = ldns_rr_new();
  ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr, ttl);
  return rr;
}

// The endpoints one answer returns: every one for a single instance's name, up to 8 at
// random for MULTIVALUE, one at random for WEIGHTED (all weights are equal: Cloud Map
// instances carry no weight).
std::vector<discovery::Endpoint> Pick(std::vector<discovery::Endpoint> endpoints, const std::string& policy) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::shuffle(endpoints.begin(), endpoints.end(), rng);
  size_t keep = policy == "WEIGHTED" ? 1 : kMultivalueMax;
  if (endpoints.size() > keep) endpoints.resize(keep);
  return endpoints;
}

std::vector<std::string> HostResolvers() {
  std::vector<std::string> out;
  std::ifstream in("/etc/resolv.conf");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string key, value;
    l >> key >> value;
    if (key == "nameserver" && !value.empty()) out.push_back(value);
  }
  return out;
}

std::optional<udp::endpoint> ParseUpstream(const std::string& s) {
  boost::system::error_code ec;
  std::string host = s;
  uint16_t port = 53;
  if (s.starts_with('[')) {  // [v6]:port
    size_t close = s.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = s.substr(1, close - 1);
    if (close + 2 < s.size() && s[close + 1] == ':') port = static_cast<uint16_t>(std::stoi(s.substr(close + 2)));
  } else if (std::count(s.begin(), s.end(), ':') == 1) {  // v4:port
    size_t colon = s.find(':');
    host = s.substr(0, colon);
    port = static_cast<uint16_t>(std::stoi(s.substr(colon + 1)));
  }
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return udp::endpoint(addr, port);
}

uint16_t QueryId(const std::vector<uint8_t>& m) {
  return m.size() >= 2 ? static_cast<uint16_t>((m[0] << 8) | m[1]) : 0;
}

// SERVFAIL for a query we could parse no further than its header, or could not forward.
std::vector<uint8_t> ServFail(const std::vector<uint8_t>& query) {
  Pkt q;
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, query.data(), query.size()) == LDNS_STATUS_OK) {
    q.reset(raw);
    auto w = ToWire(ResponseTo(q.get(), LDNS_RCODE_SERVFAIL, false).get());
    if (w.ok()) return *w;
  }
  return {};
}

}  // namespace

// One VPC's sockets. Lives on the I/O thread once created.
struct DnsServer::Listener {
  Listener(asio::io_context& io, int udp_fd, int tcp_fd)
      : datagram(io, udp::v4(), udp_fd), acceptor(io, tcp::v4(), tcp_fd) {}
  std::string vpc_id, netns, address;
  uint16_t port = 0;
  udp::socket datagram;
  tcp::acceptor acceptor;
  bool closed = false;  // I/O thread only
};

struct DnsServer::Io {
  asio::io_context ctx;
  asio::executor_work_guard<asio::io_context::executor_type> work{ctx.get_executor()};
  std::thread thread;
};

namespace {

awaitable<std::optional<std::vector<uint8_t>>> ForwardUdp(const std::vector<uint8_t>& query, udp::endpoint up,
                                                         std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  udp::socket s(ex, up.protocol());
  asio::steady_timer timer(ex);
  timer.expires_after(timeout);
  timer.async_wait([&s](boost::system::error_code ec) {
    if (!ec) s.cancel();
  });
  try {
    co_await s.async_send_to(asio::buffer(query), up, asio::use_awaitable);
    std::vector<uint8_t> buf(65535);
    while (true) {
      udp::endpoint from;
      size_t n = co_await s.async_receive_from(asio::buffer(buf), from, asio::use_awaitable);
      // Only the upstream's answer to this query counts (RFC 5452).
      if (from != up || n < 12 || QueryId(buf) != QueryId(query)) continue;
      buf.resize(n);
      timer.cancel();
      co_return buf;
    }
  } catch (const boost::system::system_error&) {
  }
  timer.cancel();
  co_return std::nullopt;
}

awaitable<std::optional<std::vector<uint8_t>>> ForwardTcp(const std::vector<uint8_t>& query, udp::endpoint up,
                                                         std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  asio::steady_timer timer(ex);
  timer.expires_after(timeout);
  timer.async_wait([&s](boost::system::error_code ec) {
    if (!ec) s.close();
  });
  try {
    co_await s.async_connect(tcp::endpoint(up.address(), up.port()), asio::use_awaitable);
    uint8_t len[2] = {static_cast<uint8_t>(query.size() >> 8), static_cast<uint8_t>(query.size() & 0xff)};
    std::array<asio::const_buffer, 2> out{asio::buffer(len), asio::buffer(query)};
    co_await asio::async_write(s, out, asio::use_awaitable);
    co_await asio::async_read(s, asio::buffer(len), asio::use_awaitable);
    std::vector<uint8_t> buf(static_cast<size_t>((len[0] << 8) | len[1]));
    co_await asio::async_read(s, asio::buffer(buf), asio::use_awaitable);
    timer.cancel();
    co_return buf;
  } catch (const boost::system::system_error&) {
  }
  timer.cancel();
  co_return std::nullopt;
}

}  // namespace

DnsServer::DnsServer(Lookup lookup, Options options)
    : lookup_(std::move(lookup)), options_(std::move(options)), io_(std::make_unique<Io>()) {
  io_->thread = std::thread([io = io_.get()] { io->ctx.run(); });
}

DnsServer::~DnsServer() { Stop(); }

void DnsServer::Stop() {
  std::vector<std::string> vpcs = ServedVpcs();
  for (const auto& v : vpcs) Unlisten(v);
  io_->work.reset();
  io_->ctx.stop();
  if (io_->thread.joinable()) io_->thread.join();
}

std::vector<std::string> DnsServer::Upstreams() const {
  return options_.upstreams.empty() ? HostResolvers() : options_.upstreams;
}

std::vector<std::string> DnsServer::ServedVpcs() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [vpc, l] : listeners_) out.push_back(vpc);
  return out;
}

Result<std::vector<uint8_t>> DnsServer::Respond(const std::string& vpc_id, const std::vector<uint8_t>& query,
                                                bool tcp) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, query.data(), query.size()) != LDNS_STATUS_OK) {
    return InvalidArgument("malformed DNS query");
  }
  Pkt q(raw);
  if (ldns_pkt_qr(q.get())) return InvalidArgument("not a query");
  if (ldns_pkt_get_opcode(q.get()) != LDNS_PACKET_QUERY) {
    return ToWire(ResponseTo(q.get(), LDNS_RCODE_NOTIMPL, false).get());
  }
  if (ldns_pkt_qdcount(q.get()) != 1) return ToWire(ResponseTo(q.get(), LDNS_RCODE_FORMERR, false).get());
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(q.get()), 0);
  if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN) return std::vector<uint8_t>{};
  const ldns_rdf* owner = ldns_rr_owner(question);
  std::string fqdn = RdfString(owner);
  if (fqdn.ends_with('.')) fqdn.pop_back();
  std::transform(fqdn.begin(), fqdn.end(), fqdn.begin(), [](unsigned char c) { return std::tolower(c); });
  if (fqdn.empty()) return std::vector<uint8_t>{};

  Result<discovery::DnsAnswer> found = lookup_(vpc_id, fqdn);
  if (!found.ok()) {
    KLOG_WARN("dns: {} for {}: {}", fqdn, vpc_id, found.status().message());
    return ToWire(ResponseTo(q.get(), LDNS_RCODE_SERVFAIL, false).get());
  }
  const discovery::DnsAnswer& a = *found;
  if (!a.found) return std::vector<uint8_t>{};  // not ours: forward
  if (a.nxdomain) return ToWire(ResponseTo(q.get(), LDNS_RCODE_NXDOMAIN, true).get());

  Pkt r = ResponseTo(q.get(), LDNS_RCODE_NOERROR, true);
  ldns_rr_type type = ldns_rr_get_type(question);
  bool any = type == LDNS_RR_TYPE_ANY;
  std::vector<discovery::Endpoint> picked = Pick(a.endpoints, a.routing_policy);
  auto add_addresses = [&](ldns_pkt_section section, const ldns_rdf* name, const discovery::Endpoint& e,
                           bool want_a, bool want_aaaa) {
    if (want_a && a.has_a && !e.ipv4.empty()) {
      ldns_rr* rr = NewRr(name, LDNS_RR_TYPE_A, static_cast<uint32_t>(a.ttl_a));
      ldns_rr_push_rdf(rr, ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, e.ipv4.c_str()));
      ldns_pkt_push_rr(r.get(), section, rr);
    }
    if (want_aaaa && a.has_aaaa && !e.ipv6.empty()) {
      ldns_rr* rr = NewRr(name, LDNS_RR_TYPE_AAAA, static_cast<uint32_t>(a.ttl_aaaa));
      ldns_rr_push_rdf(rr, ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, e.ipv6.c_str()));
      ldns_pkt_push_rr(r.get(), section, rr);
    }
  };
  for (const auto& e : picked) {
    add_addresses(LDNS_SECTION_ANSWER, owner, e, any || type == LDNS_RR_TYPE_A, any || type == LDNS_RR_TYPE_AAAA);
  }
  if ((any || type == LDNS_RR_TYPE_SRV) && a.has_srv) {
    for (const auto& e : picked) {
      if (e.port <= 0) continue;
      // Cloud Map names an SRV target "<instance id>.<service>.<namespace>".
      std::string target = fmt::format("{}.{}.", e.instance_id, RdfString(owner));
      if (target.ends_with("..")) target.pop_back();
      ldns_rdf* target_rdf = ldns_dname_new_frm_str(target.c_str());
      if (!target_rdf) continue;
      ldns_rr* rr = NewRr(owner, LDNS_RR_TYPE_SRV, static_cast<uint32_t>(a.ttl_srv));
      ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 1));  // priority
      ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 1));  // weight
      ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, static_cast<uint16_t>(e.port)));
      ldns_rr_push_rdf(rr, target_rdf);
      ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, rr);
      // The targets' addresses ride along, as Route 53 adds them.
      if (!any) add_addresses(LDNS_SECTION_ADDITIONAL, target_rdf, e, true, true);
    }
  }
  ASSIGN_OR_RETURN(auto wire, ToWire(r.get()));
  size_t limit = tcp ? 65535 : kClassicUdpSize;
  if (!tcp && ldns_pkt_edns(q.get())) {
    limit = std::max<size_t>(kClassicUdpSize, std::min<size_t>(ldns_pkt_edns_udp_size(q.get()), kOurEdnsSize));
  }
  if (wire.size() > limit) {
    Pkt t = ResponseTo(q.get(), LDNS_RCODE_NOERROR, true);
    ldns_pkt_set_tc(t.get(), true);
    return ToWire(t.get());
  }
  return wire;
}

namespace {

// Counts an answer about to be sent by its response code (the low four bits of the
// header's fourth byte; RFC 1035 4.1.1), for kecs_dns_queries_total.
void CountAnswer(const std::vector<uint8_t>& out) {
  static constexpr std::string_view kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  if (out.size() < 4) return;
  unsigned rcode = out[3] & 0x0Fu;
  metrics::CountDnsQuery(rcode < std::size(kNames) ? kNames[rcode] : std::string_view("OTHER"));
}

// The coroutines below run on the I/O thread and keep their listener alive.
template <typename L, typename S>
awaitable<void> AnswerUdp(L l, S* server, std::vector<uint8_t> query, udp::endpoint client,
                          std::vector<std::string> upstreams, std::chrono::milliseconds timeout) {
  auto reply = server->Respond(l->vpc_id, query, false);
  if (!reply.ok()) co_return;  // not a DNS query: drop it, as resolvers do
  std::vector<uint8_t> out = std::move(*reply);
  if (out.empty()) {
    for (const auto& u : upstreams) {
      auto up = ParseUpstream(u);
      if (!up) continue;
      auto f = co_await ForwardUdp(query, *up, timeout);
      if (f) {
        out = std::move(*f);
        break;
      }
    }
    if (out.empty()) out = ServFail(query);
  }
  if (out.empty() || l->closed) co_return;
  CountAnswer(out);
  try {
    co_await l->datagram.async_send_to(asio::buffer(out), client, asio::use_awaitable);
  } catch (const boost::system::system_error&) {
  }
}

template <typename L, typename S>
awaitable<void> ServeUdp(L l, S* server, std::function<std::vector<std::string>()> upstreams,
                         std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<uint8_t> buf(65535);
  while (!l->closed) {
    udp::endpoint client;
    size_t n = 0;
    try {
      n = co_await l->datagram.async_receive_from(asio::buffer(buf), client, asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      if (l->closed || e.code() == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(ex, AnswerUdp(l, server, std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<long>(n)),
                                 client, upstreams(), timeout),
                   asio::detached);
  }
}

template <typename L, typename S>
awaitable<void> AnswerTcp(L l, S* server, tcp::socket s, std::function<std::vector<std::string>()> upstreams,
                          std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer idle(ex);
  try {
    while (!l->closed) {
      idle.expires_after(kTcpIdle);
      idle.async_wait([&s](boost::system::error_code ec) {
        if (!ec) s.close();
      });
      uint8_t len[2];
      co_await asio::async_read(s, asio::buffer(len), asio::use_awaitable);
      std::vector<uint8_t> query(static_cast<size_t>((len[0] << 8) | len[1]));
      co_await asio::async_read(s, asio::buffer(query), asio::use_awaitable);
      idle.cancel();
      auto reply = server->Respond(l->vpc_id, query, true);
      if (!reply.ok()) break;
      std::vector<uint8_t> out = std::move(*reply);
      if (out.empty()) {
        for (const auto& u : upstreams()) {
          auto up = ParseUpstream(u);
          if (!up) continue;
          auto f = co_await ForwardTcp(query, *up, timeout);
          if (f) {
            out = std::move(*f);
            break;
          }
        }
        if (out.empty()) out = ServFail(query);
        if (out.empty()) break;
      }
      CountAnswer(out);
      uint8_t olen[2] = {static_cast<uint8_t>(out.size() >> 8), static_cast<uint8_t>(out.size() & 0xff)};
      std::array<asio::const_buffer, 2> bufs{asio::buffer(olen), asio::buffer(out)};
      co_await asio::async_write(s, bufs, asio::use_awaitable);
    }
  } catch (const boost::system::system_error&) {
  }
  idle.cancel();
  boost::system::error_code ignored;
  s.close(ignored);
}

template <typename L, typename S>
awaitable<void> ServeTcp(L l, S* server, std::function<std::vector<std::string>()> upstreams,
                         std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  while (!l->closed) {
    try {
      tcp::socket s = co_await l->acceptor.async_accept(asio::use_awaitable);
      asio::co_spawn(ex, AnswerTcp(l, server, std::move(s), upstreams, timeout), asio::detached);
    } catch (const boost::system::system_error& e) {
      if (l->closed || e.code() == asio::error::operation_aborted) co_return;
    }
  }
}

}  // namespace

Result<uint16_t> DnsServer::Listen(const std::string& vpc_id, const std::string& netns,
                                   const std::string& address, uint16_t port) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = listeners_.find(vpc_id);
    if (it != listeners_.end() && it->second->netns == netns && it->second->address == address &&
        (port == 0 || it->second->port == port)) {
      return it->second->port;
    }
  }
  Unlisten(vpc_id);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) {
    return InvalidArgument("DNS listen address is not IPv4: " + address);
  }
  int ufd = -1, tfd = -1;
  uint16_t bound = port;
  // Sockets belong to the namespace they are created in: make them inside it, then serve
  // them from the I/O thread.
  Status st = netns::Run(netns, [&]() -> Status {
    // With port 0 the UDP socket picks a free port, and TCP must get the same one, which
    // another program may hold: then try another pair (a few times).
    for (int attempt = 0;; ++attempt) {
      int one = 1;
      ufd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      tfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (ufd < 0 || tfd < 0) return Internal(fmt::format("socket: {}", std::strerror(errno)));
      // The address may be added to the namespace a moment after (or removed before) us.
      setsockopt(ufd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
      setsockopt(tfd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
      setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a = sa;
      a.sin_port = htons(port);
      if (::bind(ufd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        return Unavailable(fmt::format("cannot listen for DNS on {}:{} (udp): {}", address, port, std::strerror(errno)));
      }
      socklen_t len = sizeof a;
      getsockname(ufd, reinterpret_cast<sockaddr*>(&a), &len);
      bound = ntohs(a.sin_port);
      if (::bind(tfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(tfd, 64) == 0) {
        return Status::Ok();
      }
      int err = errno;
      if (port != 0 || err != EADDRINUSE || attempt >= 15) {
        return Unavailable(fmt::format("cannot listen for DNS on {}:{} (tcp): {}", address, bound, std::strerror(err)));
      }
      ::close(ufd);
      ::close(tfd);
      ufd = tfd = -1;
    }
  });
  if (!st.ok()) {
    if (ufd >= 0) ::close(ufd);
    if (tfd >= 0) ::close(tfd);
    return st;
  }
  std::shared_ptr<Listener> l;
  try {
    l = std::make_shared<Listener>(io_->ctx, ufd, tfd);
  } catch (const std::exception& e) {
    return Internal(fmt::format("DNS listener: {}", e.what()));
  }
  l->vpc_id = vpc_id;
  l->netns = netns;
  l->address = address;
  l->port = bound;
  auto upstreams = [this] { return Upstreams(); };
  asio::co_spawn(io_->ctx, ServeUdp(l, this, upstreams, options_.forward_timeout), asio::detached);
  asio::co_spawn(io_->ctx, ServeTcp(l, this, upstreams, options_.forward_timeout), asio::detached);
  {
    std::lock_guard<std::mutex> lock(mu_);
    listeners_[vpc_id] = l;
  }
  KLOG_DEBUG("dns: serving {} on {}:{} in {}", vpc_id, address, bound, netns.empty() ? "the host" : netns);
  return bound;
}

void DnsServer::Unlisten(const std::string& vpc_id) {
  std::shared_ptr<Listener> l;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = listeners_.find(vpc_id);
    if (it == listeners_.end()) return;
    l = it->second;
    listeners_.erase(it);
  }
  // Asio objects are touched only on their thread.
  std::promise<void> done;
  auto closed = done.get_future();
  asio::post(io_->ctx, [l, &done] {
    l->closed = true;
    boost::system::error_code ignored;
    l->datagram.close(ignored);
    l->acceptor.close(ignored);
    done.set_value();
  });
  closed.wait();
}

}  // namespace kecs::net
