#pragma once
// VPC flow logs (issue 15) as the store keeps them and as their records read.
//
// A flow log is a store object of kind kFlowLog in the EC2 FlowLog shape (api/ec2/
// flow_logs.cc), with "kecs:fields" (its parsed LogFormat) and "kecs:vpc" (the VPC of
// the resource it watches). The router's packet filter (sg_policy.cc, the private-subnet
// rule in runtime/local/network.cc) sends every packet it drops to NFLOG group
// kFlowNflogGroup with a prefix that names what dropped it (FlowDropPrefix); the flow log
// controller (reconcile/flow_log_controller.h) turns those and the router's conntrack
// counters into FlowRecords and formats them with FormatFlowRecord. Pure functions.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kecs::net {

inline constexpr const char* kFlowLog = "ec2:fl";

// AWS's default format (version 2).
inline constexpr const char* kDefaultFlowLogFormat =
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

// The NFLOG group the VPC router's drop rules log to (per network namespace).
inline constexpr uint16_t kFlowNflogGroup = 15;

// The fields of `format` ("${field} ${field} ..."), in order. InvalidArgument naming the
// first unknown field or text outside ${...}.
Result<std::vector<std::string>> ParseFlowLogFormat(std::string_view format);
// The record version a format implies: the highest version among its fields (2 to 8).
int FlowLogFormatVersion(const std::vector<std::string>& fields);

// Why the router dropped a packet, as its NFLOG prefix says.
struct FlowDrop {
  enum class Kind { kEniIngress, kEniEgress, kAclInbound, kAclOutbound, kPrivateSubnet };
  Kind kind = Kind::kEniIngress;
  std::string id;  // the ENI (kEni*) or subnet (kAcl*); empty for kPrivateSubnet
};
// "kf:i:<eni>", "kf:e:<eni>", "kf:ai:<subnet>", "kf:ao:<subnet>", "kf:p" (at most 31
// characters: NFLOG's prefix limit is 64).
std::string FlowDropPrefix(const FlowDrop& drop);
std::optional<FlowDrop> ParseFlowDropPrefix(std::string_view prefix);
// The nft statement that logs a drop, to put before "drop".
std::string FlowDropLog(const FlowDrop& drop);

// One aggregated flow at one network interface over one capture window.
struct FlowRecord {
  int version = 2;
  std::string account, interface_id, vpc_id, subnet_id, instance_id, region, az_id;
  std::string src, dst;
  int src_port = 0, dst_port = 0;
  int protocol = 0;
  uint64_t packets = 0, bytes = 0;
  int64_t start = 0, end = 0;  // epoch seconds
  bool accept = true;
  bool egress = false;  // flow-direction at this interface
  bool ipv6 = false;
  int tcp_flags = 0;
  int traffic_path = 0;  // egress only; 0 = "-"
  std::string reject_reason;
};

// The record as one line in `fields`' order, "-" for a value kecs does not know.
std::string FormatFlowRecord(const FlowRecord& r, const std::vector<std::string>& fields);

// Traffic a VPC's flow capture saw lately between two addresses, to a port, aggregated
// over `flows` connections (reconcile/flow_log_controller.h keeps them; the topology page
// draws them on its edges).
struct ObservedFlow {
  std::string vpc_id;
  std::string src, dst;  // an accepted connection's client and server
  int protocol = 0;      // IANA number
  int dst_port = 0;
  bool accepted = true;
  uint64_t flows = 0, packets = 0, bytes = 0;
  double last_seen = 0;  // epoch seconds
};

// Whether "bucket[/prefix]" of an s3 destination ARN is one kecs can write under its data
// dir: a bucket name by S3's rules (3-63 lowercase letters, digits, '.' and '-', starting
// and ending with a letter or digit, no "..") and a prefix of at most 512 characters whose
// '/'-separated segments are none empty, "." or "..", and hold no backslash or control
// character. Anything else could name a path outside the destination directory.
bool SafeS3Destination(std::string_view bucket_and_prefix);

}  // namespace kecs::net
