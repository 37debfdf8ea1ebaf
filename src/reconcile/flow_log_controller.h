#pragma once
// VPC flow logs (issue 15): turns the kernel's verdicts on a VPC router's packets into
// flow log records and delivers them. docs/design.md 18.2 has the design; in short:
//
// - Every tick (Options::tick, 1 s) a pass reads the flow logs (net::kFlowLog) and, for
//   each VPC one of them watches, that VPC's interfaces (address -> ENI, subnet, instance).
// - It collects the VPC router's samples (runtime::FlowSource): each packet a security
//   group, network ACL or private-subnet rule dropped (REJECT, attributed by the rule's
//   NFLOG prefix), each flow that ended, and, once per capture window (the shortest
//   MaxAggregationInterval of the VPC's flow logs), every live flow's packets and bytes
//   since the last window (ACCEPT; conntrack dumped with reset, so nothing is counted
//   twice). An accepted direction is recorded at the sender's interface (egress) and the
//   receiver's (ingress), as AWS records it at each interface it crosses.
// - Samples are aggregated per flow log, interface and 5-tuple with action and direction;
//   when a flow log's MaxAggregationInterval has passed, its records are formatted in its
//   LogFormat and delivered: cloud-watch-logs appends them to the group, one stream per
//   interface ("<eni>-all", "-accept" or "-reject", made with the group when missing);
//   s3 writes one file per window under <s3-dir>/<bucket>/<prefix>/AWSLogs/... in S3's key
//   layout (plain text, not gzip).
// - With Options::metrics, every VPC with an ENI in use is captured, flow log or not, and
//   each new accepted flow is counted (CountFlow "ACCEPT", source and destination named
//   by their task's service or family, "vpc", "host" for the transit range, else "world"),
//   each drop too (CountDrop by ENI, direction and reason, and CountFlow "REJECT" once per
//   5-tuple a pass).
// - Traffic to and from the VPC resolver (base+2) is not recorded, as AWS does not record
//   traffic to the Amazon DNS server.
//
// Thread: one, PassLoop's. Start() once; Stop() joins; Pass() is what the thread runs and
// tests call.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "net/domain/flow_log.h"
#include "reconcile/log_sink.h"
#include "reconcile/pass_loop.h"
#include "runtime/flow_source.h"
#include "state/store.h"

namespace kecs::reconcile {

class FlowLogController {
 public:
  struct Options {
    std::chrono::milliseconds tick{1000};
    std::string s3_dir;  // where s3 destinations are written; "" = none (records dropped)
    // Flow metrics (base/metrics.h: CountFlow, CountDrop) for every VPC with a task in use,
    // flow log or not; such a VPC's conntrack is dumped every metrics_window.
    bool metrics = false;
    int metrics_window_s = 10;
    int recent_s = 60;            // how long RecentFlows keeps an entry
    size_t recent_max = 10000;    // entries at most (new ones are left out beyond)
  };
  // `source` may be null (the simulated runtime): flow logs then produce no records.
  FlowLogController(state::Store& store, runtime::FlowSource* source, LogSink& sink, Options options,
                    Clock& clock = Clock::Real());
  ~FlowLogController();

  void Start();
  void Stop();
  void Pass();

  // What the captures saw in the last `recent_s` seconds (the topology page draws it on its
  // edges), one entry per VPC, client, server, protocol, server port and verdict: accepted
  // connections with both directions' packets and bytes and how many began in that time,
  // and rejected packets. Thread-safe.
  std::vector<net::ObservedFlow> RecentFlows() const;
  // Called after a pass that changed what RecentFlows answers (the page's live stream
  // resends then). Set before Start().
  void OnRecentChanged(std::function<void()> fn) { recent_changed_ = std::move(fn); }

 private:
  struct Eni {
    std::string id, subnet, vpc, instance, az_id;
    std::string name;  // for metrics: the task's service or family, else "vpc"
  };
  struct Key {
    std::string eni, src, dst;
    int src_port = 0, dst_port = 0, protocol = 0;
    bool accept = true, egress = false, ipv6 = false;
    auto Tie() const { return std::tie(eni, src, dst, src_port, dst_port, protocol, accept, egress, ipv6); }
    bool operator<(const Key& o) const { return Tie() < o.Tie(); }
  };
  struct Counts {
    uint64_t packets = 0, bytes = 0;
    int tcp_flags = 0;
    int traffic_path = 0;
  };
  struct Window {  // one flow log's records being aggregated
    double start = 0;
    std::map<Key, Counts> flows;
    std::map<std::string, Eni> enis;  // the interfaces of `flows`, by id
  };
  struct FlowLog {
    std::string id, region, account, vpc, resource_type, resource, traffic, dest_type, destination, group;
    std::vector<std::string> fields;
    int interval = 600;
  };

  void Deliver(const FlowLog& fl, Window& w, double now);
  static std::string PeerName(const std::string& ip, const std::map<std::string, Eni>& by_ip);
  static void CountMetrics(const net::FlowSample& s, const std::map<std::string, Eni>& by_ip,
                           const std::map<std::string, Eni>& by_id,
                           std::set<std::tuple<std::string, std::string, int, int, int>>& rejected);

  void RecordRecent(const std::string& vpc, const net::FlowSample& s, double now);

  state::Store& store_;
  runtime::FlowSource* const source_;
  LogSink& sink_;
  const Options options_;
  Clock& clock_;
  PassLoop loop_;
  // The pass thread's own.
  std::map<std::string, Window> windows_;     // by flow log id
  std::map<std::string, double> next_dump_;   // by VPC id
  std::function<void()> recent_changed_;
  bool recent_dirty_ = false;  // guarded by recent_mu_
  mutable std::mutex recent_mu_;
  std::map<std::tuple<std::string, std::string, std::string, int, int, bool>, net::ObservedFlow> recent_;  // guarded
};

}  // namespace kecs::reconcile
