#include "net/domain/flow_log.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace kecs::net {
namespace {

// Every field of the VPC user guide's "Available fields" table, with the version that
// brought it. kecs fills those it can observe; the rest print "-".
const std::map<std::string, int, std::less<>>& Fields() {
  static const std::map<std::string, int, std::less<>> kFields = {
      {"version", 2}, {"account-id", 2}, {"interface-id", 2}, {"srcaddr", 2}, {"dstaddr", 2},
      {"srcport", 2}, {"dstport", 2}, {"protocol", 2}, {"packets", 2}, {"bytes", 2},
      {"start", 2}, {"end", 2}, {"action", 2}, {"log-status", 2},
      {"vpc-id", 3}, {"subnet-id", 3}, {"instance-id", 3}, {"tcp-flags", 3}, {"type", 3},
      {"pkt-srcaddr", 3}, {"pkt-dstaddr", 3},
      {"region", 4}, {"az-id", 4}, {"sublocation-type", 4}, {"sublocation-id", 4},
      {"pkt-src-aws-service", 5}, {"pkt-dst-aws-service", 5}, {"flow-direction", 5}, {"traffic-path", 5},
      {"ecs-cluster-arn", 7}, {"ecs-cluster-name", 7}, {"ecs-container-instance-arn", 7},
      {"ecs-container-instance-id", 7}, {"ecs-container-id", 7}, {"ecs-second-container-id", 7},
      {"ecs-service-name", 7}, {"ecs-task-definition-arn", 7}, {"ecs-task-arn", 7}, {"ecs-task-id", 7},
      {"reject-reason", 8},
  };
  return kFields;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

Result<std::vector<std::string>> ParseFlowLogFormat(std::string_view format) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < format.size()) {
    if (format[i] == ' ') {
      ++i;
      continue;
    }
    if (format.substr(i, 2) != "${") {
      return InvalidArgument(fmt::format("text outside ${{...}} at '{}'", format.substr(i, 20)));
    }
    size_t close = format.find('}', i);
    if (close == std::string_view::npos) return InvalidArgument("an unclosed ${");
    std::string name(format.substr(i + 2, close - i - 2));
    if (!Fields().count(name)) return InvalidArgument(fmt::format("unknown field ${{{}}}", name));
    fields.push_back(name);
    i = close + 1;
  }
  if (fields.empty()) return InvalidArgument("no fields");
  return fields;
}

int FlowLogFormatVersion(const std::vector<std::string>& fields) {
  int v = 2;
  for (const auto& f : fields) {
    auto it = Fields().find(f);
    if (it != Fields().end()) v = std::max(v, it->second);
  }
  return v;
}

std::string FlowDropPrefix(const FlowDrop& d) {
  switch (d.kind) {
    case FlowDrop::Kind::kEniIngress: return "kf:i:" + d.id;
    case FlowDrop::Kind::kEniEgress: return "kf:e:" + d.id;
    case FlowDrop::Kind::kAclInbound: return "kf:ai:" + d.id;
    case FlowDrop::Kind::kAclOutbound: return "kf:ao:" + d.id;
    case FlowDrop::Kind::kPrivateSubnet: return "kf:p";
  }
  return "kf:p";
}

std::optional<FlowDrop> ParseFlowDropPrefix(std::string_view p) {
  auto take = [&](std::string_view head, FlowDrop::Kind kind) -> std::optional<FlowDrop> {
    if (!p.starts_with(head) || p.size() == head.size()) return std::nullopt;
    return FlowDrop{kind, std::string(p.substr(head.size()))};
  };
  if (p == "kf:p") return FlowDrop{FlowDrop::Kind::kPrivateSubnet, ""};
  if (auto d = take("kf:i:", FlowDrop::Kind::kEniIngress)) return d;
  if (auto d = take("kf:e:", FlowDrop::Kind::kEniEgress)) return d;
  if (auto d = take("kf:ai:", FlowDrop::Kind::kAclInbound)) return d;
  if (auto d = take("kf:ao:", FlowDrop::Kind::kAclOutbound)) return d;
  return std::nullopt;
}

std::string FlowDropLog(const FlowDrop& d) {
  return fmt::format("log prefix \"{}\" group {}", FlowDropPrefix(d), kFlowNflogGroup);
}

std::string FormatFlowRecord(const FlowRecord& r, const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    std::string v;
    if (f == "version") v = std::to_string(r.version);
    else if (f == "account-id") v = r.account;
    else if (f == "interface-id") v = r.interface_id;
    else if (f == "srcaddr" || f == "pkt-srcaddr") v = r.src;
    else if (f == "dstaddr" || f == "pkt-dstaddr") v = r.dst;
    else if (f == "srcport") v = std::to_string(r.src_port);
    else if (f == "dstport") v = std::to_string(r.dst_port);
    else if (f == "protocol") v = std::to_string(r.protocol);
    else if (f == "packets") v = std::to_string(r.packets);
    else if (f == "bytes") v = std::to_string(r.bytes);
    else if (f == "start") v = std::to_string(r.start);
    else if (f == "end") v = std::to_string(r.end);
    else if (f == "action") v = r.accept ? "ACCEPT" : "REJECT";
    else if (f == "log-status") v = "OK";
    else if (f == "vpc-id") v = r.vpc_id;
    else if (f == "subnet-id") v = r.subnet_id;
    else if (f == "instance-id") v = r.instance_id;
    else if (f == "tcp-flags") v = r.protocol == 6 ? std::to_string(r.tcp_flags) : "0";
    else if (f == "type") v = r.ipv6 ? "IPv6" : "IPv4";
    else if (f == "region") v = r.region;
    else if (f == "az-id") v = r.az_id;
    else if (f == "flow-direction") v = r.egress ? "egress" : "ingress";
    else if (f == "traffic-path") v = r.egress && r.traffic_path ? std::to_string(r.traffic_path) : "";
    else if (f == "reject-reason") v = r.reject_reason;
    if (!out.empty()) out += ' ';
    out += OrDash(v);
  }
  return out;
}

bool SafeS3Destination(std::string_view v) {
  size_t slash = v.find('/');
  std::string_view bucket = v.substr(0, slash);
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (bucket.size() < 3 || bucket.size() > 63 || !alnum(bucket.front()) || !alnum(bucket.back()) ||
      bucket.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : bucket) {
    if (!alnum(c) && c != '.' && c != '-') return false;
  }
  if (slash == std::string_view::npos) return true;
  std::string_view prefix = v.substr(slash + 1);
  if (prefix.empty() || prefix.size() > 512) return false;
  size_t start = 0;
  while (start <= prefix.size()) {
    size_t end = prefix.find('/', start);
    std::string_view seg = prefix.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

}  // namespace kecs::net
