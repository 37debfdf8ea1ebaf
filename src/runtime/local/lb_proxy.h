#pragma once
// HAProxy as the load balancers' data plane: one master-worker HAProxy per load balancer.
//
// Each load balancer's proxy binds its listeners inside each node's namespace (HAProxy's
// `namespace` bind option; the nodes are namespaces with the load balancer's ENIs, made by
// lb_network.h) and connects to targets from the node that took the connection, so every
// node health-checks every target itself, as AWS's nodes do. Application load balancers
// are served entirely by HAProxy (HTTP/HTTPS, rules as ACLs, weighted forwards,
// redirects, fixed responses, lb_cookie stickiness, X-Forwarded-*); for network load
// balancers HAProxy only runs the health checks, and the kernel forwards (lb_network.h).
//
// Files live in <dir>/<lb id>/ (a 0700 directory): haproxy.cfg, haproxy.pid, the master
// and admin sockets, the server-state file (health survives a reload), the server slots
// (`slots`, see ServerSlots) and the listener certificate (crt.pem, lb_network.h's).
// Target changes go through the admin socket's runtime API (a free slot is pointed at a
// new target with `set server addr` and enabled, then `set server health down` so it needs
// `rise` passing checks, AWS's `initial`; a draining one is `set server state drain`; a
// removed one `state maint` and `shutdown sessions server`) and are written to haproxy.cfg
// too, so a later reload keeps them; other changes rewrite haproxy.cfg (checked with
// `haproxy -c` first) and reload through the master CLI (established connections finish on
// the old worker, for at most the longest deregistration delay). HAProxy runs with a
// minimal environment and nothing but paths on its command line. The proxies outlive the
// daemon and are adopted at start (pid file, /proc/<pid>/exe and the command line naming
// our haproxy.cfg); GarbageCollect stops those of load balancers that are gone.
// Thread-safe: one mutex serialises every call.
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/load_balancer.h"
#include "runtime/local/haproxy_admin.h"

namespace kecs::runtime::local {

struct ProxyOptions {
  std::string haproxy = "/usr/sbin/haproxy";
  std::string dir;  // <data-dir>/runtime/lb
};

// Where one load balancer's proxy finds what it needs.
struct ProxyInputs {
  // One namespace name per node, in LoadBalancerSpec::nodes order.
  std::vector<std::string> node_netns;
  // PEM bundle (certificate chain and key) for HTTPS listeners; "" when there are none.
  std::string certificate_pem_path;
  // Its certificate's fingerprint, written into the configuration as a comment: a
  // certificate made again (same path) changes the configuration, so HAProxy reloads.
  std::string certificate_fingerprint;
  bool operator==(const ProxyInputs&) const = default;
};

// Server slots. HAProxy 2.6 refuses the `namespace` option on servers added at run time
// (`add server`), so each backend declares a fixed number of servers "s1".."sN" (with the
// node's namespace) and a target takes a slot: the runtime API points a free slot at it
// (`set server addr`) and enables it, and frees it again on removal. The slot of a target
// is the same in every node's backends of its group. Per target group id, slot i holds
// "<address>:<port>", or "" when free; the vector's size is the number of servers.
using ServerSlots = std::map<std::string, std::vector<std::string>>;
// "<address>:<port>" of a target (its slot key).
std::string SlotKey(const LbTargetSpec& t);
// Slots for `lb`'s targets: each target keeps its slot in `previous` when it has one, new
// ones take the lowest free slots; a group's slots grow (to a multiple of 8, with at least
// 4 free) only when its targets do not fit.
ServerSlots AssignSlots(const LoadBalancerSpec& lb, const ServerSlots& previous);

// haproxy.cfg for `lb` (pure and deterministic: golden-file tests need no root).
// `state_dir` is <dir>/<lb id>. The first form uses AssignSlots(lb, {}). A node whose
// namespace name is "" binds and connects in HAProxy's own namespace (for `haproxy -c` in
// tests that cannot make namespaces).
std::string RenderHaproxyConfig(const LoadBalancerSpec& lb, const ProxyInputs& in, const std::string& state_dir);
// Weighted forwards (an ALB forward action with a list of target groups). The rule draws
// rand(kWeightScale) and looks its group up in a map file of its own, WeightMapPath (lines
// "<lo>:<hi> <group id>", each group's share of the range; empty when every weight is 0,
// and the rule answers 503): haproxy.cfg holds no weights, so a change of weights alone is
// a new map, put into the running HAProxy through the runtime API (`prepare map`, `add
// map`, `commit map`: atomic) with no reload. RenderWeightMaps gives every weighted
// forward's map, by path (pure).
inline constexpr int64_t kWeightScale = 1000000;
std::string WeightMapPath(const std::string& state_dir, const std::string& listener_id, const std::string& rule_id);
std::map<std::string, std::string> RenderWeightMaps(const LoadBalancerSpec& lb, const std::string& state_dir);
// The target groups whose traffic HAProxy carries, and which so also have a fail-open
// backend (bk_<group>_n<i>_all): every group of an application load balancer; the groups
// of a network load balancer's TLS listeners (the kernel forwards its other listeners).
std::set<std::string> ProxiedGroups(const LoadBalancerSpec& lb);
std::string RenderHaproxyConfig(const LoadBalancerSpec& lb, const ProxyInputs& in, const std::string& state_dir,
                                const ServerSlots& slots);

// What HAProxy's `show stat` rows (haproxy::ParseStat, by "<backend>/<server>") say of
// `lb`'s targets: Observe without the socket (pure). `rows` is nullptr when the proxy did
// not answer (every target kUnavailable). Healthy when every node's server is up;
// unhealthy when one node's checks fail (reason and description from its last check:
// L7STS Target.ResponseCodeMismatch, *TOUT Target.Timeout, else Target.FailedHealthChecks;
// a network load balancer always says Target.FailedHealthChecks); otherwise initial. `memo`
// (per "<group id>/<slot key>") carries the last observations, so that, as on AWS:
//  - a target rising again after failing stays unhealthy until its checks pass;
//  - a target that has never been healthy stays initial until its checks have failed
//    UnhealthyThresholdCount times in a row: HAProxy's own count starts a server added
//    down at "down" (and it does not count failures of a server that is down), so kecs
//    counts by time: unhealthy once the first failure it saw is (threshold - 1) intervals
//    old and the checks still fail.
// `now` is a steady clock's reading in seconds. `old_workers`: workers of an earlier
// configuration still run (their requests are not in `rows`), so connections are unknown.
struct ObservedTarget {
  TargetObservation last;
  double failing_since = -1;  // the first failure seen of a target never healthy; -1: none
};
using TargetMemo = std::map<std::string, ObservedTarget>;
std::vector<TargetObservation> TargetHealthFromStat(const LoadBalancerSpec& lb, const ServerSlots& slots,
                                                    const std::map<std::string, haproxy::ServerStat>* rows,
                                                    TargetMemo& memo, double now, bool old_workers = false);

class LbProxies {
 public:
  explicit LbProxies(ProxyOptions options) : options_(std::move(options)) {}

  // Starts the load balancer's proxy, or brings it in line with `lb` (runtime API for
  // target changes; reload for the rest). Idempotent.
  Status Apply(const LoadBalancerSpec& lb, const ProxyInputs& in);
  // What each node's checks say of each target, merged (healthy when every node that
  // has a verdict says so; AWS's reasons and descriptions).
  Result<std::vector<TargetObservation>> Observe(const LoadBalancerSpec& lb);
  // Stops the proxy and removes its files. Succeeds when it is gone.
  Status Remove(const std::string& lb_id);
  // Stops the proxies of load balancers not in `live` (and removes their files).
  Status GarbageCollect(const std::set<std::string>& live);

 private:
  const ProxyOptions options_;
  std::mutex mu_;
  std::map<std::string, LoadBalancerSpec> applied_;  // guarded by mu_: last applied per lb
  // Guarded by mu_: per lb, the inputs and server slots last applied.
  std::map<std::string, ProxyInputs> applied_inputs_;
  std::map<std::string, ServerSlots> slots_;
  // Guarded by mu_: per lb, the last observations (TargetHealthFromStat's memo).
  std::map<std::string, TargetMemo> observed_;

  std::string DirOf(const std::string& lb_id) const { return options_.dir + "/" + lb_id; }
  // The master's pid when `lb_id`'s proxy runs (pid file, /proc/<pid>/exe is HAProxy and
  // its command line names our haproxy.cfg); 0 otherwise.
  int RunningPid(const std::string& lb_id) const;
  Status Start(const LoadBalancerSpec& lb, const ProxyInputs& in, const ServerSlots& slots);
  Status Reload(const LoadBalancerSpec& lb, const ProxyInputs& in, const ServerSlots& slots);
  // Target changes through the runtime API; FailedPrecondition when they need a reload.
  // kAdditions: only the changes that give a group a server (a target into a free slot, a
  // draining one back in service); kRemovals: the others (removals, replacements, drains).
  enum class TargetPhase { kAdditions, kRemovals };
  Status ApplyTargets(const LoadBalancerSpec& old_lb, const ServerSlots& old_slots, const LoadBalancerSpec& lb,
                      const ServerSlots& slots, TargetPhase phase);
  // Puts the weight maps of `lb` that differ from `old_lb`'s into the running HAProxy
  // (runtime API) and writes every map's file.
  Status ApplyWeights(const LoadBalancerSpec& old_lb, const LoadBalancerSpec& lb);
  // Writes the weight maps (removing those of rules gone), haproxy.cfg (checked with
  // `haproxy -c` first) and the slots file.
  Status WriteConfig(const LoadBalancerSpec& lb, const ProxyInputs& in, const ServerSlots& slots);
  // Stops the proxy's processes (SIGTERM to the master, SIGKILL after 10 s).
  void KillLocked(const std::string& lb_id);
  // KillLocked, then forgets the load balancer and removes its files.
  Status StopLocked(const std::string& lb_id);
};

}  // namespace kecs::runtime::local
