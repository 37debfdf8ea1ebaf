#pragma once
// The policy controller: keeps every VPC's packet filter (security groups and network
// ACLs, net/sg_policy.h) in the data plane equal to what the store says.
//
// After any commit (Notify) it waits a short debounce, rebuilds the policy of each VPC
// that has network interfaces, and hands the runtime those that changed; the runtime
// replaces a VPC's filter in one transaction. So an Authorize or Revoke, a change of an
// interface's groups, or a task starting or stopping (group membership) takes effect
// within a fraction of a second. SyncVpc applies one VPC at once; the task controller
// calls it before a task's containers start, so no task ever runs unfiltered. A full
// re-apply every `resync` repairs anything changed behind kecs's back.
//
// The same passes bring the interfaces' secondary addresses (AssignPrivateIpAddresses,
// AssignIpv6Addresses) into the data plane: an interface whose extra addresses differ
// from what was last applied is handed to Runtime::ApplyEniAddresses, after the VPC's
// filter that admits them. One the runtime does not carry (NotFound: not a running task's,
// or not yet) is tried again on the next full pass. And the paths allowed between peered
// VPCs (Runtime::ApplyVpcPeerings) whenever they change. Thread-safe.
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::reconcile {

class PolicyController {
 public:
  struct Options {
    std::chrono::milliseconds debounce{10};
    std::chrono::seconds resync{30};
    bool host_exempt = true;  // lenient mode: the host reaches tasks whatever their groups
    // The container instance's security group (region, id), governing bridge-mode tasks;
    // empty: none, everything allowed.
    std::string instance_group_region;
    std::string instance_group;
  };

  PolicyController(state::Store& store, runtime::Runtime& runtime, Options options);
  ~PolicyController();

  void Start();
  void Stop();
  void Notify();
  // Builds and applies the policy of one VPC now (even if unchanged), and its interfaces'
  // secondary addresses that are not on yet.
  Status SyncVpc(const std::string& region, const std::string& vpc_id);

 private:
  void Loop();
  // Rebuilds every VPC's policy; applies those that differ from the last applied (all
  // of them when `force`).
  void ApplyAll(bool force);
  Result<net::VpcPolicy> Build(state::Tx& tx, const std::string& region, const std::string& vpc_id);
  Status Apply(const net::VpcPolicy& policy, bool force);
  void ApplyInstance(bool force);
  // The paths between peered VPCs (net/domain/peering.h), handed to the runtime when they
  // changed: a peering accepted or deleted, or a route through one added or removed.
  void ApplyPeerings(const std::vector<net::PeeringPath>& paths, bool force);
  // `prune`: `policies` are all the VPCs, so interfaces not in them are gone.
  void ApplyAddresses(const std::vector<net::VpcPolicy>& policies, bool force, bool prune = true);

  state::Store& store_;
  runtime::Runtime& runtime_;
  const Options options_;

  std::mutex apply_mu_;                            // one apply at a time
  std::map<std::string, std::string> applied_;     // guarded by apply_mu_: vpc -> rules text
  std::string applied_instance_;                   // guarded by apply_mu_
  std::vector<net::PeeringPath> applied_peerings_;  // guarded by apply_mu_
  bool peerings_applied_ = false;                   // guarded by apply_mu_
  struct AppliedAddresses {
    runtime::EniAddresses addresses;
    enum class State { kApplied, kNotHere, kFailed } state = State::kApplied;
  };
  std::map<std::string, AppliedAddresses> addresses_;  // guarded by apply_mu_: by eni id

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;      // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::thread thread_;
};

}  // namespace kecs::reconcile
