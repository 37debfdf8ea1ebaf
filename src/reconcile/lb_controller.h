#pragma once
// The load balancer controller: keeps the data plane's load balancers equal to the ELB
// records, and records on the target groups what the data plane sees of their targets.
//
// Desired versus observed. The desired state of each load balancer is a
// runtime::LoadBalancerSpec built from the typed records (BuildLoadBalancerSpec: the load
// balancer, its listeners and their rules by priority, every target group they forward to
// with its targets and attributes, its nodes' ENIs and its VPC). The observed state is
// what Runtime::ObserveTargets reports of the targets' health checks.
//
// Order of work.
//  1. Reconcile (after any commit, Notify, with a short debounce; and every `resync`, when
//     every spec is re-applied): build every spec; apply those that differ from the last
//     applied (Runtime::ApplyLoadBalancer); move an applied load balancer from
//     provisioning (or failed) to active. A failed apply is retried with a backoff; after
//     `failures_before_failed` failures in a row a provisioning load balancer becomes
//     failed, with the error as its state reason. Load balancers that left the store are
//     deleted from the data plane (Runtime::DeleteLoadBalancer); the first pass also
//     removes whatever the data plane holds of load balancers the store no longer has
//     (Runtime::GarbageCollectLoadBalancers).
//  2. Observe (every `poll`): ObserveTargets of every applied load balancer, merged per
//     target group across load balancers (the worst state wins), written into the target
//     group records as AWS's TargetHealth states, one Put per group and only when a
//     target's state, reason or description changed. A deregistered target shows draining
//     until its drain_until, then leaves the record (and so the next spec); it leaves
//     earlier, as on AWS, once every load balancer's data plane (already draining it)
//     reports no connection or request in flight to it (TargetObservation::connections).
//
// The records carry no revision: a load balancer deleted and created again has a new id,
// so its spec is a new one. Thread-safe: one pass at a time (pass_mu_); Start runs the
// passes on the controller's thread, tests call Reconcile/Observe directly.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "model/elb.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::reconcile {

// The spec of load balancer `lb` from the records in `tx` at time `now` (epoch seconds):
// targets whose drain_until has passed are left out; the others that drain are marked
// draining. May write (the VPC's transit slot is assigned on first use). Internal when a
// node's ENI or subnet is missing or unreadable; NotFound when the VPC is gone.
Result<runtime::LoadBalancerSpec> BuildLoadBalancerSpec(state::Tx& tx, const model::LoadBalancer& lb, double now);

// AWS's TargetHealth (state, reason, description) of one target. `used`: a load balancer
// forwards to its group; `observation`: what the data plane saw of it, if anything;
// `known`: the data plane has the target's group and its observation succeeded (a target
// it has but did not report on is still being registered; when it could not tell, the
// state its checks last gave stands). Draining, unused and health-check-disabled targets
// take those states whatever was observed.
using model::TargetHealthView;
TargetHealthView TargetHealthOf(const model::TargetGroup& tg, const model::Target& target, bool used,
                                const std::optional<runtime::TargetObservation>& observation, bool known);

class LbController {
 public:
  struct Options {
    std::chrono::milliseconds debounce{30};
    std::chrono::milliseconds poll{500};
    std::chrono::seconds resync{30};
    // Failed applies in a row before a provisioning load balancer is marked failed.
    int failures_before_failed = 5;
    // The first retry after a failed apply; each further failure doubles it, up to resync.
    double retry_delay_s = 1;
  };

  LbController(state::Store& store, runtime::Runtime& runtime, Options options, Clock& clock);
  ~LbController();

  void Start();
  void Stop();
  // A commit happened: reconcile soon.
  void Notify();

  // One reconcile pass (see the header comment); `force` re-applies every spec.
  void Reconcile(bool force);
  // One observation pass.
  void Observe();

  // The spec last applied for load balancer `id`, if any (tests, diagnostics).
  std::optional<runtime::LoadBalancerSpec> Applied(const std::string& id) const;

 private:
  struct Attempt {
    int failures = 0;
    double next_retry = 0;  // epoch seconds
    std::optional<runtime::LoadBalancerSpec> spec;  // the spec that failed (none: the build did)
  };

  void Loop();
  // Writes lb `id`'s state when it differs (active after an apply; failed after too many
  // failures). The record may be gone: nothing then.
  void SetState(const std::string& region, const std::string& id, model::LbState state, const std::string& reason);
  bool RetryPending();

  state::Store& store_;
  runtime::Runtime& runtime_;
  const Options options_;
  Clock& clock_;

  mutable std::mutex pass_mu_;  // one pass at a time
  std::map<std::string, runtime::LoadBalancerSpec> applied_;  // guarded by pass_mu_: lb id -> spec
  std::map<std::string, Attempt> attempts_;                   // guarded by pass_mu_: failing lbs
  bool collected_ = false;                                    // guarded by pass_mu_: GC done
  std::map<std::string, std::string> observe_errors_;         // guarded by pass_mu_: lb id -> last error

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kecs::reconcile
