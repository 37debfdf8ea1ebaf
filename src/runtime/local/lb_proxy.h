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
// Files live in <dir>/<lb id>/: haproxy.cfg, the pid file, the master and admin sockets
// (a 0700 directory), the server-state file (health survives a reload) and the listener
// certificate (crt.pem). Target changes go through the admin socket's runtime API (add
// server / set server state / del server) and are written to haproxy.cfg too, so a later
// reload keeps them; other changes rewrite haproxy.cfg and reload through the master
// (established connections finish on the old worker). The proxies outlive the daemon and
// are adopted at start; GarbageCollect stops those of load balancers that are gone.
// Thread-safe.
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/load_balancer.h"

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
};

// haproxy.cfg for `lb` (pure and deterministic: golden-file tests need no root).
// `state_dir` is <dir>/<lb id>.
std::string RenderHaproxyConfig(const LoadBalancerSpec& lb, const ProxyInputs& in, const std::string& state_dir);

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
};

}  // namespace kecs::runtime::local
