#include "net/kernel/flow_capture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <libnetfilter_log/libnetfilter_log.h>
}

#include "net/kernel/netns.h"

namespace kecs::net {
namespace {

// The NFLOG group the router's drop rules use (net/domain/flow_log.h's kFlowNflogGroup;
// the kernel side depends on base only, so the number is repeated and a unit test ties them).
constexpr uint16_t kGroup = 15;
constexpr int kSocketBuffer = 8 << 20;

std::string Addr(int family, const void* p) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, p, buf, sizeof buf);
  return buf;
}

uint64_t InodeOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

void NonBlockingWithBuffer(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int size = kSocketBuffer;
  // SO_RCVBUFFORCE needs CAP_NET_ADMIN (the local runtime runs as root); else the default.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
}

}  // namespace

bool ParsePacket(const uint8_t* d, size_t len, FlowSample& out) {
  if (len < 1) return false;
  size_t l4 = 0;
  int version = d[0] >> 4;
  if (version == 4) {
    if (len < 20) return false;
    size_t ihl = (d[0] & 0x0f) * 4u;
    if (ihl < 20 || len < ihl) return false;
    out.ipv6 = false;
    out.protocol = d[9];
    out.bytes = (uint64_t(d[2]) << 8) | d[3];
    out.src = Addr(AF_INET, d + 12);
    out.dst = Addr(AF_INET, d + 16);
    l4 = ihl;
  } else if (version == 6) {
    if (len < 40) return false;
    out.ipv6 = true;
    out.protocol = d[6];
    out.bytes = ((uint64_t(d[4]) << 8) | d[5]) + 40;
    out.src = Addr(AF_INET6, d + 8);
    out.dst = Addr(AF_INET6, d + 24);
    l4 = 40;
  } else {
    return false;
  }
  out.packets = 1;
  out.src_port = out.dst_port = 0;
  out.tcp_flags = 0;
  if ((out.protocol == 6 || out.protocol == 17 || out.protocol == 132) && len >= l4 + 4) {
    out.src_port = (d[l4] << 8) | d[l4 + 1];
    out.dst_port = (d[l4 + 2] << 8) | d[l4 + 3];
  }
  if (out.protocol == 6 && len >= l4 + 14) out.tcp_flags = d[l4 + 13] & 0x3f;
  return true;
}

// The C callbacks, with access to the capture's members.
struct FlowCaptureCallbacks {
  static int OnLog(nflog_g_handle*, nfgenmsg*, nflog_data* nfad, void* data) {
    auto* self = static_cast<FlowCapture*>(data);
    if (!self->sink_) return 0;
    char* payload = nullptr;
    int len = nflog_get_payload(nfad, &payload);
    FlowSample s;
    if (len <= 0 || !ParsePacket(reinterpret_cast<const uint8_t*>(payload), size_t(len), s)) return 0;
    s.accepted = false;
    if (const char* prefix = nflog_get_prefix(nfad)) s.prefix = prefix;
    self->sink_->push_back(std::move(s));
    return 0;
  }

  // One conntrack entry as up to two samples (original and reply direction).
  static int OnFlow(enum nf_conntrack_msg_type type, nf_conntrack* ct, void* data) {
    auto* self = static_cast<FlowCapture*>(data);
    if (!self->sink_) return NFCT_CB_CONTINUE;
    const int family = nfct_get_attr_u8(ct, ATTR_L3PROTO);
    if (family != AF_INET && family != AF_INET6) return NFCT_CB_CONTINUE;
    const uint32_t id = nfct_get_attr_u32(ct, ATTR_ID);
    const bool first = !self->seen_.count(id);
    if (type == NFCT_T_DESTROY) {
      self->seen_.erase(id);
    } else {
      self->seen_.insert(id);
    }
    const int proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
    int fin = 0;
    if (proto == IPPROTO_TCP && nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0) {
      int state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
      if (state >= TCP_CONNTRACK_FIN_WAIT && state <= TCP_CONNTRACK_CLOSE) fin = 0x01;
    }
    const bool v6 = family == AF_INET6;
    auto addr = [&](enum nf_conntrack_attr a4, enum nf_conntrack_attr a6) {
      return v6 ? Addr(AF_INET6, nfct_get_attr(ct, a6)) : Addr(AF_INET, nfct_get_attr(ct, a4));
    };
    const bool ports = proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
    for (bool reply : {false, true}) {
      FlowSample s;
      s.accepted = true;
      s.ipv6 = v6;
      s.protocol = proto;
      s.packets = nfct_get_attr_u64(ct, reply ? ATTR_REPL_COUNTER_PACKETS : ATTR_ORIG_COUNTER_PACKETS);
      s.bytes = nfct_get_attr_u64(ct, reply ? ATTR_REPL_COUNTER_BYTES : ATTR_ORIG_COUNTER_BYTES);
      if (s.packets == 0) continue;
      s.src = addr(reply ? ATTR_REPL_IPV4_SRC : ATTR_IPV4_SRC, reply ? ATTR_REPL_IPV6_SRC : ATTR_IPV6_SRC);
      s.dst = addr(reply ? ATTR_REPL_IPV4_DST : ATTR_IPV4_DST, reply ? ATTR_REPL_IPV6_DST : ATTR_IPV6_DST);
      if (ports) {
        s.src_port = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_PORT_SRC));
        s.dst_port = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_PORT_DST));
      }
      if (proto == IPPROTO_TCP) s.tcp_flags = (first ? (reply ? 0x12 : 0x02) : 0) | fin;
      s.new_flow = first && !reply;
      s.reply = reply;
      self->sink_->push_back(std::move(s));
    }
    return NFCT_CB_CONTINUE;
  }
};

Result<std::unique_ptr<FlowCapture>> FlowCapture::Open(const std::string& ns) {
  const std::string path = std::string(netns::kRunDir) + "/" + ns;
  std::unique_ptr<FlowCapture> c(new FlowCapture());
  c->ns_ = ns;
  c->ns_inode_ = InodeOf(path);
  if (c->ns_inode_ == 0) return NotFound("no namespace " + ns);
  // Sockets belong to the namespace they are made in, wherever they are used later.
  Status st = netns::Run(ns, [&]() -> Status {
    // Counters only exist on entries made after this is on; kecs turns it on once per router.
    RETURN_IF_ERROR(netns::WriteSysctl("net/netfilter/nf_conntrack_acct", "1"));
    c->log_ = nflog_open();
    if (!c->log_) return Unavailable(fmt::format("nflog_open in {}: {}", ns, std::strerror(errno)));
    (void)nflog_bind_pf(c->log_, AF_INET);  // refused by kernels that need no binding
    (void)nflog_bind_pf(c->log_, AF_INET6);
    c->group_ = nflog_bind_group(c->log_, kGroup);
    if (!c->group_) return Unavailable(fmt::format("nflog group {} in {}: {}", kGroup, ns, std::strerror(errno)));
    if (nflog_set_mode(c->group_, NFULNL_COPY_PACKET, 128) < 0) {
      return Unavailable(fmt::format("nflog copy mode in {}: {}", ns, std::strerror(errno)));
    }
    (void)nflog_set_timeout(c->group_, 10);  // hundredths of a second: flush batches within 0.1 s
    nflog_callback_register(c->group_, &FlowCaptureCallbacks::OnLog, c.get());
    NonBlockingWithBuffer(nflog_fd(c->log_));
    c->events_ = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_DESTROY);
    if (!c->events_) return Unavailable(fmt::format("conntrack events in {}: {}", ns, std::strerror(errno)));
    nfct_callback_register(c->events_, NFCT_T_DESTROY, &FlowCaptureCallbacks::OnFlow, c.get());
    NonBlockingWithBuffer(nfct_fd(c->events_));
    c->dump_ = nfct_open(CONNTRACK, 0);
    if (!c->dump_) return Unavailable(fmt::format("conntrack dump in {}: {}", ns, std::strerror(errno)));
    nfct_callback_register(c->dump_, NFCT_T_ALL, &FlowCaptureCallbacks::OnFlow, c.get());
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return c;
}

FlowCapture::~FlowCapture() {
  if (group_) nflog_unbind_group(group_);
  if (log_) nflog_close(log_);
  if (events_) nfct_close(events_);
  if (dump_) nfct_close(dump_);
}

bool FlowCapture::Stale() const { return InodeOf(std::string(netns::kRunDir) + "/" + ns_) != ns_inode_; }

Status FlowCapture::Drain(std::vector<FlowSample>& out) {
  sink_ = &out;
  char buf[65536];
  const int fd = nflog_fd(log_);
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == ENOBUFS) {
        ++lost_;
        continue;
      }
      break;  // EAGAIN: drained
    }
    nflog_handle_packet(log_, buf, int(n));
  }
  for (;;) {
    if (nfct_catch(events_) >= 0) continue;
    if (errno == ENOBUFS) {
      ++lost_;
      continue;
    }
    break;
  }
  sink_ = nullptr;
  return Status::Ok();
}

Status FlowCapture::Dump(std::vector<FlowSample>& out) {
  sink_ = &out;
  uint32_t family = AF_UNSPEC;
  int rc = nfct_query(dump_, NFCT_Q_DUMP_RESET, &family);
  int err = errno;
  sink_ = nullptr;
  if (rc < 0) return Unavailable(fmt::format("conntrack dump in {}: {}", ns_, std::strerror(err)));
  return Status::Ok();
}

}  // namespace kecs::net
