#pragma once
// The kernel's verdicts on a VPC router's packets, as flow samples (issue 15).
//
// A FlowCapture opens, inside one router namespace, an NFLOG socket bound to the group the
// router's drop rules log to (net/domain/flow_log.h: one sample per dropped packet, with
// the rule's prefix) and two conntrack sockets with accounting on (the namespace's
// net.netfilter.nf_conntrack_acct): one receives DESTROY events, whose counters are the
// ended flow's last packets and bytes, and one dumps every live flow's counters and
// resets them (NFCT_Q_DUMP_RESET). A flow's packets are thus counted once, whether they
// come from a dump or from its end; every flow in the router's conntrack table passed the
// filter (a dropped packet's entry is never confirmed), so these are the accepted flows.
// Libraries: libnetfilter-log and libnetfilter-conntrack (Debian).
//
// Not thread-safe: one thread (the flow log controller's) uses a capture. The sockets keep
// the namespace alive, so Stale() tells when the named namespace was deleted or replaced
// and the capture must be closed.
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"

struct nflog_handle;
struct nflog_g_handle;
struct nfct_handle;

namespace kecs::net {

struct FlowSample {
  bool accepted = true;  // conntrack counters; false: a packet an NFLOG drop rule logged
  std::string prefix;    // the drop rule's NFLOG prefix
  bool ipv6 = false;
  int protocol = 0;
  std::string src, dst;
  int src_port = 0, dst_port = 0;
  uint64_t packets = 0, bytes = 0;
  int tcp_flags = 0;  // drops: the packet's; flows: SYN when first seen, FIN once closing
  bool new_flow = false;  // the original direction of a flow this capture had not seen yet
  bool reply = false;     // a flow's reply direction (src is the server)
};

// Parses an IPv4 or IPv6 packet (from its IP header) into a one-packet drop sample:
// addresses, protocol, ports, TCP flags, the IP length as bytes. False when too short.
bool ParsePacket(const uint8_t* data, size_t len, FlowSample& out);

class FlowCapture {
 public:
  // Opens the capture in the namespace /var/run/netns/<ns>. NotFound when it does not
  // exist; Unavailable when a socket cannot be opened or bound.
  static Result<std::unique_ptr<FlowCapture>> Open(const std::string& ns);
  ~FlowCapture();
  FlowCapture(const FlowCapture&) = delete;
  FlowCapture& operator=(const FlowCapture&) = delete;

  // Appends the drops logged and the flows ended since the last call. Never blocks.
  Status Drain(std::vector<FlowSample>& out);
  // Appends every live flow's packets and bytes since its last dump (two samples a flow:
  // original and reply direction; directions with no packets are left out) and resets
  // its counters.
  Status Dump(std::vector<FlowSample>& out);
  // Whether the namespace this capture was opened in is no longer /var/run/netns/<ns>.
  bool Stale() const;
  // Samples lost to full socket buffers (ENOBUFS) since the capture opened.
  uint64_t lost() const { return lost_; }

 private:
  FlowCapture() = default;
  friend struct FlowCaptureCallbacks;

  std::string ns_;
  uint64_t ns_inode_ = 0;
  nflog_handle* log_ = nullptr;
  nflog_g_handle* group_ = nullptr;
  nfct_handle* events_ = nullptr;
  nfct_handle* dump_ = nullptr;
  std::vector<FlowSample>* sink_ = nullptr;  // during Drain/Dump
  std::set<uint32_t> seen_;                  // conntrack ids reported before (for SYN)
  uint64_t lost_ = 0;
};

}  // namespace kecs::net
