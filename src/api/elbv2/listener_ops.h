#pragma once
// The listener and rule operations of Elbv2Api (listeners.cc: listeners, their attributes
// and certificates; rules.cc: rules and priorities). One object per Elbv2Api, shared by
// the handlers it registers; each handler is one store transaction (a write for the
// mutating ones). Thread-safe: all state lives in the store.
#include <functional>
#include <string>

#include "api/elbv2/elbv2_api.h"
#include "api/router.h"
#include "base/json.h"
#include "model/elb.h"
#include "state/store.h"

namespace kecs::api::elbv2 {

class ListenerOps {
 public:
  ListenerOps(state::Store& store, const Options& options) : store_(store), options_(options) {}

  // Registers every listener and rule operation on `service`; `self` keeps this object
  // alive as long as the handlers.
  static void Register(const std::shared_ptr<ListenerOps>& self, Service& service);

  // listeners.cc
  Json CreateListener(RequestContext& ctx, const Json& in);
  Json DescribeListeners(RequestContext& ctx, const Json& in);
  Json ModifyListener(RequestContext& ctx, const Json& in);
  Json DeleteListener(RequestContext& ctx, const Json& in);
  Json DescribeListenerAttributes(RequestContext& ctx, const Json& in);
  Json ModifyListenerAttributes(RequestContext& ctx, const Json& in);
  Json AddListenerCertificates(RequestContext& ctx, const Json& in);
  Json RemoveListenerCertificates(RequestContext& ctx, const Json& in);
  Json DescribeListenerCertificates(RequestContext& ctx, const Json& in);

  // rules.cc
  Json CreateRule(RequestContext& ctx, const Json& in);
  Json DescribeRules(RequestContext& ctx, const Json& in);
  Json ModifyRule(RequestContext& ctx, const Json& in);
  Json DeleteRule(RequestContext& ctx, const Json& in);
  Json SetRulePriorities(RequestContext& ctx, const Json& in);

 private:
  // A write transaction that also assigns a host port: probes the host ports of the range
  // before the transaction (never under the store's write lock), then runs `fn` with a
  // function that picks the lowest port of the range that no listener holds and the probe
  // found free. Retries with a wider probe when the first one did not reach far enough.
  void WriteWithHostPort(const std::function<void(state::Tx&, const std::function<int(model::LbProtocol)>&)>& fn);

  state::Store& store_;
  const Options& options_;
};

// The load balancer a listener belongs to (Internal when it is gone: the store keeps
// listeners only under a load balancer).
model::LoadBalancer LoadBalancerOf(state::Tx& tx, const model::Listener& l);

}  // namespace kecs::api::elbv2
