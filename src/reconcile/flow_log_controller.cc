#include "reconcile/flow_log_controller.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/json.h"
#include "base/log.h"
#include "base/metrics.h"
#include "model/kinds.h"
#include "net/domain/ip.h"
#include "net/domain/vpc.h"

namespace kecs::reconcile {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// S3's key layout for flow log files (VPC user guide, "Flow log files"):
// <bucket>/<prefix>/AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/
// <account>_vpcflowlogs_<region>_<flow-log-id>_<yyyymmddTHHmmZ>_<hash>.log
std::filesystem::path S3Path(const std::string& dir, const std::string& arn, const std::string& account,
                             const std::string& region, const std::string& flow_log_id, double when) {
  std::string rest = arn.substr(std::string("arn:aws:s3:::").size());
  // CreateFlowLogs refused anything else; a stored destination that is not safe to join
  // under `dir` (an older record, a hand-edited database) is written nowhere.
  if (!net::SafeS3Destination(rest)) return {};
  std::time_t t = static_cast<std::time_t>(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::filesystem::path p = std::filesystem::path(dir) / rest / "AWSLogs" / account / "vpcflowlogs" / region /
                            fmt::format("{:04}", tm.tm_year + 1900) / fmt::format("{:02}", tm.tm_mon + 1) /
                            fmt::format("{:02}", tm.tm_mday);
  return p / fmt::format("{}_vpcflowlogs_{}_{}_{:04}{:02}{:02}T{:02}{:02}Z_{:08x}.log", account, region, flow_log_id,
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         static_cast<uint32_t>(std::hash<std::string>{}(fmt::format("{}{}", flow_log_id, when))));
}

}  // namespace

FlowLogController::FlowLogController(state::Store& store, runtime::FlowSource* source, LogSink& sink,
                                     Options options, Clock& clock)
    : store_(store), source_(source), sink_(sink), options_(std::move(options)), clock_(clock),
      loop_(options_.tick, [this] { Pass(); }) {}

FlowLogController::~FlowLogController() { Stop(); }

void FlowLogController::Start() { loop_.Start(); }
void FlowLogController::Stop() { loop_.Stop(); }

void FlowLogController::Pass() {
  const double now = clock_.Now();
  // What the store asks for: the flow logs, and the interfaces of the VPCs they watch.
  std::vector<FlowLog> logs;
  std::map<std::string, std::map<std::string, Eni>> enis_by_ip;  // vpc -> address -> ENI
  std::map<std::string, std::map<std::string, Eni>> enis_by_id;   // vpc -> id -> ENI
  std::map<std::string, std::string> resolver;                    // vpc -> base+2
  std::set<std::string> captured;                                 // every VPC to capture
  Status st = store_.Read([&](state::Tx& tx) -> Status {
    state::Query q{net::kFlowLog};
    q.any_region = true;
    auto rows = tx.List(q);
    if (!rows.ok()) return rows.status();
    std::set<std::pair<std::string, std::string>> vpcs;
    for (const auto& o : *rows) {
      FlowLog fl;
      fl.id = o.id;
      fl.region = o.region;
      fl.account = JStr(o.doc, "kecs:account");
      fl.vpc = JStr(o.doc, "kecs:vpc");
      fl.resource_type = JStr(o.doc, "kecs:resourceType");
      fl.resource = JStr(o.doc, "ResourceId");
      fl.traffic = JStr(o.doc, "TrafficType");
      fl.dest_type = JStr(o.doc, "LogDestinationType");
      fl.destination = JStr(o.doc, "LogDestination");
      fl.group = JStr(o.doc, "LogGroupName");
      for (const auto& f : o.doc.value("kecs:fields", Json::array())) fl.fields.push_back(f.get<std::string>());
      fl.interval = o.doc.value("MaxAggregationInterval", 600);
      vpcs.insert({fl.region, fl.vpc});
      logs.push_back(std::move(fl));
    }
    std::map<std::string, std::string> task_names;  // ENI -> service or family
    if (options_.metrics) {
      state::Query eq{net::kEni};
      eq.any_region = true;
      auto enis = tx.List(eq);
      if (!enis.ok()) return enis.status();
      for (const auto& e : *enis) {
        if (JStr(e.doc, "Status") == "in-use" && !JStr(e.doc, "VpcId").empty()) {
          vpcs.insert({e.region, JStr(e.doc, "VpcId")});
        }
      }
      state::Query tq{model::kTask};
      tq.any_region = true;
      tq.status_not = "STOPPED";
      auto tasks = tx.List(tq);
      if (!tasks.ok()) return tasks.status();
      for (const auto& t : *tasks) {
        std::string group = JStr(t.doc, "group");
        if (auto colon = group.find(':'); colon != std::string::npos) group = group.substr(colon + 1);
        if (group.empty()) continue;
        for (const auto& a : t.doc.value("attachments", Json::array())) {
          for (const auto& d : a.value("details", Json::array())) {
            if (JStr(d, "name") == "networkInterfaceId") task_names[JStr(d, "value")] = group;
          }
        }
      }
    }
    for (const auto& [region, vpc] : vpcs) {
      captured.insert(vpc);
      auto v = tx.Get(net::kVpc, region, vpc);
      if (!v.ok()) return v.status();
      if (*v) {
        if (auto c = net::Ipv4Cidr::Parse(JStr((*v)->doc, "CidrBlock"))) resolver[vpc] = net::Ipv4ToString(c->dns());
      }
      state::Query eq{net::kEni, region};
      auto enis = tx.List(eq);
      if (!enis.ok()) return enis.status();
      for (const auto& e : *enis) {
        if (JStr(e.doc, "VpcId") != vpc) continue;
        Eni info{e.id, JStr(e.doc, "SubnetId"), vpc, "", JStr(e.doc, "AvailabilityZoneId"), "vpc"};
        if (auto it = task_names.find(e.id); it != task_names.end()) info.name = it->second;
        if (const Json* a = JGet(e.doc, "Attachment")) info.instance = JStr(*a, "InstanceId");
        enis_by_id[vpc][e.id] = info;
        if (!JStr(e.doc, "PrivateIpAddress").empty()) enis_by_ip[vpc][JStr(e.doc, "PrivateIpAddress")] = info;
        for (const auto& p : e.doc.value("PrivateIpAddresses", Json::array())) {
          if (!JStr(p, "PrivateIpAddress").empty()) enis_by_ip[vpc][JStr(p, "PrivateIpAddress")] = info;
        }
        for (const auto& p : e.doc.value("Ipv6Addresses", Json::array())) {
          if (!JStr(p, "Ipv6Address").empty()) enis_by_ip[vpc][JStr(p, "Ipv6Address")] = info;
        }
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("flow logs: reading the store: {}", st.message());
    return;
  }
  // Windows of flow logs that are gone go with them.
  std::set<std::string> live;
  std::map<std::string, std::vector<const FlowLog*>> by_vpc;
  for (const auto& fl : logs) {
    live.insert(fl.id);
    by_vpc[fl.vpc].push_back(&fl);
    auto [it, made] = windows_.try_emplace(fl.id);
    if (made) it->second.start = now;
  }
  for (auto it = windows_.begin(); it != windows_.end();) it = live.count(it->first) ? std::next(it) : windows_.erase(it);
  const std::set<std::string>& vpc_ids = captured;
  for (const auto& vpc : captured) by_vpc[vpc];  // metrics-only VPCs: no flow log
  if (source_) source_->Retain(vpc_ids);
  for (auto it = next_dump_.begin(); it != next_dump_.end();) it = vpc_ids.count(it->first) ? std::next(it) : next_dump_.erase(it);

  for (const auto& [vpc, vlogs] : by_vpc) {
    if (!source_) break;
    int window = vlogs.empty() ? options_.metrics_window_s : 600;
    for (const auto* fl : vlogs) window = std::min(window, fl->interval);
    if (options_.metrics) window = std::min(window, options_.metrics_window_s);
    auto [nd, made] = next_dump_.try_emplace(vpc, now + window);
    const bool dump = now >= nd->second;
    if (dump) nd->second = now + window;
    std::vector<net::FlowSample> samples;
    Status cs = source_->Collect(vpc, dump, samples);
    if (cs.code() == Code::kNotFound) continue;  // no router yet
    if (!cs.ok()) {
      KLOG_WARN("flow logs: capturing {}: {}", vpc, cs.message());
      continue;
    }
    const auto& by_ip = enis_by_ip[vpc];
    const auto& by_id = enis_by_id[vpc];
    const std::string dns = resolver[vpc];
    auto ip_eni = [&](const std::string& ip) -> const Eni* {
      auto it = by_ip.find(ip);
      return it == by_ip.end() ? nullptr : &it->second;
    };
    std::set<std::tuple<std::string, std::string, int, int, int>> rejected;  // counted this pass
    for (const auto& s : samples) {
      if (!dns.empty() && (s.src == dns || s.dst == dns)) continue;
      if (options_.metrics) CountMetrics(s, by_ip, by_id, rejected);
      RecordRecent(vpc, s, now);
      // Where the sample is recorded: (interface, egress).
      std::vector<std::pair<const Eni*, bool>> at;
      if (s.accepted) {
        if (const Eni* e = ip_eni(s.src)) at.push_back({e, true});
        if (const Eni* e = ip_eni(s.dst)) at.push_back({e, false});
      } else if (auto d = net::ParseFlowDropPrefix(s.prefix)) {
        using K = net::FlowDrop::Kind;
        if (d->kind == K::kEniIngress || d->kind == K::kEniEgress) {
          auto it = by_id.find(d->id);
          if (it != by_id.end()) at.push_back({&it->second, d->kind == K::kEniEgress});
        } else if (d->kind == K::kAclInbound) {
          if (const Eni* e = ip_eni(s.dst)) at.push_back({e, false});
        } else {  // outbound ACL, private subnet: the sender's
          if (const Eni* e = ip_eni(s.src)) at.push_back({e, true});
        }
      }
      for (const auto& [eni, egress] : at) {
        for (const auto* fl : vlogs) {
          if (fl->traffic == "ACCEPT" && !s.accepted) continue;
          if (fl->traffic == "REJECT" && s.accepted) continue;
          if (fl->resource_type == "Subnet" && fl->resource != eni->subnet) continue;
          if (fl->resource_type == "NetworkInterface" && fl->resource != eni->id) continue;
          Key k{eni->id, s.src, s.dst, s.src_port, s.dst_port, s.protocol, s.accepted, egress, s.ipv6};
          Window& w = windows_[fl->id];
          w.enis[eni->id] = *eni;
          Counts& c = w.flows[k];
          c.packets += s.packets;
          c.bytes += s.bytes;
          c.tcp_flags |= s.tcp_flags;
          // traffic-path 1: to another resource of the VPC; 8: out of the VPC (kecs sends
          // it through the host, its internet gateway).
          if (egress) c.traffic_path = ip_eni(s.dst) ? 1 : 8;
        }
      }
    }
  }
  for (const auto& fl : logs) {
    Window& w = windows_[fl.id];
    if (now - w.start >= fl.interval) Deliver(fl, w, now);
  }
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(recent_mu_);
    changed = std::erase_if(recent_, [&](const auto& kv) { return kv.second.last_seen < now - options_.recent_s; }) > 0 ||
              recent_dirty_;
    recent_dirty_ = false;
  }
  if (changed && recent_changed_) recent_changed_();
}

void FlowLogController::RecordRecent(const std::string& vpc, const net::FlowSample& s, double now) {
  // An accepted connection under its original direction (client, server, server port):
  // a reply sample (the server's packets) adds to it.
  const bool rev = s.accepted && s.reply;
  const std::string& src = rev ? s.dst : s.src;
  const std::string& dst = rev ? s.src : s.dst;
  const int port = rev ? s.src_port : s.dst_port;
  std::lock_guard<std::mutex> lock(recent_mu_);
  auto key = std::make_tuple(vpc, src, dst, s.protocol, port, s.accepted);
  auto it = recent_.find(key);
  if (it == recent_.end()) {
    if (recent_.size() >= options_.recent_max) return;
    it = recent_.emplace(key, net::ObservedFlow{vpc, src, dst, s.protocol, port, s.accepted, 0, 0, 0, now}).first;
  }
  net::ObservedFlow& r = it->second;
  recent_dirty_ = true;
  r.packets += s.packets;
  r.bytes += s.bytes;
  // A connection begins once: its first original sample (accepted), or a dropped SYN or
  // first packet of a new 5-tuple (rejected; retransmissions of one SYN count once a pass).
  if (s.accepted ? s.new_flow : r.last_seen != now || r.flows == 0) r.flows++;
  r.last_seen = now;
}

std::vector<net::ObservedFlow> FlowLogController::RecentFlows() const {
  std::lock_guard<std::mutex> lock(recent_mu_);
  std::vector<net::ObservedFlow> out;
  out.reserve(recent_.size());
  for (const auto& [k, r] : recent_) out.push_back(r);
  return out;
}

// The metrics' name of an address: its ENI's task service or family ("vpc" for an ENI
// without a task), "host" for the transit range the host reaches routers from, else "world".
std::string FlowLogController::PeerName(const std::string& ip, const std::map<std::string, Eni>& by_ip) {
  if (auto it = by_ip.find(ip); it != by_ip.end()) return it->second.name;
  if (ip.starts_with("100.127.")) return "host";
  return "world";
}

void FlowLogController::CountMetrics(const net::FlowSample& s, const std::map<std::string, Eni>& by_ip,
                                     const std::map<std::string, Eni>& by_id,
                                     std::set<std::tuple<std::string, std::string, int, int, int>>& rejected) {
  if (s.accepted) {
    if (s.new_flow) metrics::CountFlow("ACCEPT", PeerName(s.src, by_ip), PeerName(s.dst, by_ip));
    return;
  }
  auto d = net::ParseFlowDropPrefix(s.prefix);
  if (!d) return;
  using K = net::FlowDrop::Kind;
  std::string eni;
  bool egress = false;
  const char* reason = "security_group";
  switch (d->kind) {
    case K::kEniIngress: eni = d->id; break;
    case K::kEniEgress: eni = d->id, egress = true; break;
    case K::kAclInbound:
      reason = "network_acl";
      if (auto it = by_ip.find(s.dst); it != by_ip.end()) eni = it->second.id;
      break;
    case K::kAclOutbound:
      reason = "network_acl";
      egress = true;
      if (auto it = by_ip.find(s.src); it != by_ip.end()) eni = it->second.id;
      break;
    case K::kPrivateSubnet:
      reason = "no_route";
      egress = true;
      if (auto it = by_ip.find(s.src); it != by_ip.end()) eni = it->second.id;
      break;
  }
  if (!eni.empty() && by_id.count(eni)) {
    metrics::CountDrop(eni, egress ? "egress" : "ingress", reason, s.packets, s.bytes);
  }
  if (rejected.insert({s.src, s.dst, s.src_port, s.dst_port, s.protocol}).second) {
    metrics::CountFlow("REJECT", PeerName(s.src, by_ip), PeerName(s.dst, by_ip));
  }
}

void FlowLogController::Deliver(const FlowLog& fl, Window& w, double now) {
  const double start = w.start;
  w.start = now;
  if (w.flows.empty()) return;
  std::map<std::string, std::vector<LogEventIn>> by_stream;
  std::vector<std::string> lines;
  const int version = net::FlowLogFormatVersion(fl.fields);
  for (const auto& [k, c] : w.flows) {
    net::FlowRecord r;
    r.version = version;
    r.account = fl.account;
    r.interface_id = k.eni;
    r.vpc_id = fl.vpc;
    if (auto it = w.enis.find(k.eni); it != w.enis.end()) {
      r.subnet_id = it->second.subnet;
      r.instance_id = it->second.instance;
      r.az_id = it->second.az_id;
    }
    r.region = fl.region;
    r.src = k.src;
    r.dst = k.dst;
    r.src_port = k.src_port;
    r.dst_port = k.dst_port;
    r.protocol = k.protocol;
    r.packets = c.packets;
    r.bytes = c.bytes;
    r.start = static_cast<int64_t>(start);
    r.end = static_cast<int64_t>(now);
    r.accept = k.accept;
    r.egress = k.egress;
    r.ipv6 = k.ipv6;
    r.tcp_flags = c.tcp_flags;
    r.traffic_path = c.traffic_path;
    std::string line = net::FormatFlowRecord(r, fl.fields);
    if (fl.dest_type == "cloud-watch-logs") {
      by_stream[fmt::format("{}-{}", k.eni, Lower(fl.traffic))].push_back({static_cast<int64_t>(start * 1000), line});
    } else {
      lines.push_back(std::move(line));
    }
  }
  w.flows.clear();
  w.enis.clear();
  for (const auto& [stream, events] : by_stream) {
    auto n = sink_.Append(fl.region, fl.account, fl.group, stream, /*create_group=*/true, events);
    if (!n.ok()) KLOG_WARN("flow logs: {} to {}/{}: {}", fl.id, fl.group, stream, n.status().message());
  }
  if (!lines.empty() && fl.dest_type == "s3" && !options_.s3_dir.empty()) {
    auto path = S3Path(options_.s3_dir, fl.destination, fl.account, fl.region, fl.id, now);
    if (path.empty()) {
      KLOG_WARN("flow logs: {}: its s3 destination names no safe path; records dropped", fl.id);
      return;
    }
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    std::ofstream out(path);
    std::string header;
    for (const auto& f : fl.fields) header += (header.empty() ? "" : " ") + f;
    out << header << "\n";
    for (const auto& l : lines) out << l << "\n";
    if (!out) KLOG_WARN("flow logs: {} to {}: write failed", fl.id, path.string());
  }
}

}  // namespace kecs::reconcile
