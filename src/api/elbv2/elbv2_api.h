#pragma once
// Elastic Load Balancing v2 (AWS Query protocol, 2015-12-01) over the typed ELB records
// (model/elb.h, state/records/elb.h).
//
// Handlers receive and return JSON keyed by the ELBv2 model's member names; the Query
// codec turns that into form parameters and XML. Requests are parsed into typed records
// here, once; every refusal is an AwsError with ELBv2's code and message
// (ValidationError, LoadBalancerNotFound, PriorityInUse, ...). Each operation is one store
// transaction; the load balancer controller (reconcile/lb_controller.h) makes the
// result real. Thread-safe: all state lives in the store.
//
// Files: load_balancers.cc, target_groups.cc, targets.cc, tags.cc, limits.cc (load
// balancers, target groups, targets, tags, account limits, SSL policies) and
// listeners.cc, rules.cc, actions.cc (listeners, rules, their conditions and actions).
#include <functional>
#include <string>

#include "api/errors.h"
#include "api/router.h"
#include "base/json.h"
#include "net/domain/vpc.h"
#include "state/store.h"

namespace kecs::api::elbv2 {

struct Options {
  // Host ports for listeners (each listener is also published on the host).
  int lb_port_first = 31000;
  int lb_port_last = 31999;
  // The host address instance targets and published listeners use (--publish-address,
  // else the host's primary IPv4 address).
  std::string host_address;
  // Whether a host port can be bound now (protocol "tcp" or "udp"); null: net::HostPortFree.
  // Tests inject their own so that they never depend on the host's sockets.
  std::function<bool(const std::string& protocol, int port)> host_port_free;
};

class Elbv2Api {
 public:
  Elbv2Api(state::Store& store, net::RegionBootstrap& regions, Options options)
      : store_(store), regions_(regions), options_(std::move(options)) {}
  void RegisterAll(Service& service);

 private:
  // load_balancers.cc (with target_groups.cc, targets.cc, tags.cc, limits.cc).
  void RegisterLoadBalancerOps(Service& service);
  // listeners.cc (with rules.cc, actions.cc).
  void RegisterListenerOps(Service& service);

  state::Store& store_;
  net::RegionBootstrap& regions_;
  const Options options_;
};

}  // namespace kecs::api::elbv2
