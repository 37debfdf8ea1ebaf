#include "reconcile/policy_controller.h"

#include <optional>

#include "base/log.h"
#include "net/domain/peering.h"
#include "net/domain/vpc.h"

namespace kecs::reconcile {

PolicyController::PolicyController(state::Store& store, runtime::Runtime& runtime, Options options)
    : store_(store), runtime_(runtime), options_(options) {}

PolicyController::~PolicyController() { Stop(); }

void PolicyController::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void PolicyController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PolicyController::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_one();
}

void PolicyController::Loop() {
  auto last_full = std::chrono::steady_clock::now();
  ApplyAll(/*force=*/true);  // at start: whatever the kernel holds is brought in line
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, options_.resync, [&] { return dirty_ || stopping_; });
      if (stopping_) return;
      if (dirty_) {
        // Let a burst of commits settle into one rebuild.
        cv_.wait_for(lock, options_.debounce, [&] { return stopping_; });
        if (stopping_) return;
      }
      dirty_ = false;
    }
    bool full = std::chrono::steady_clock::now() - last_full >= options_.resync;
    if (full) last_full = std::chrono::steady_clock::now();
    ApplyAll(full);
  }
}

Result<net::VpcPolicy> PolicyController::Build(state::Tx& tx, const std::string& region,
                                               const std::string& vpc_id) {
  ASSIGN_OR_RETURN(net::VpcPolicy p, net::ReadVpcPolicy(tx, region, vpc_id));
  p.host_exempt = options_.host_exempt;
  ASSIGN_OR_RETURN(p.peer_sources, net::PeerSources(tx, region, vpc_id));
  return p;
}

Status PolicyController::Apply(const net::VpcPolicy& policy, bool force) {
  std::string text = net::BuildVpcFilter(policy);
  std::lock_guard<std::mutex> lock(apply_mu_);
  if (!force) {
    auto it = applied_.find(policy.vpc_id);
    if (it != applied_.end() && it->second == text) return Status::Ok();
  }
  Status st = runtime_.ApplyVpcPolicy(policy);
  if (st.ok()) {
    applied_[policy.vpc_id] = text;
  } else {
    applied_.erase(policy.vpc_id);  // try again on the next pass
  }
  return st;
}

void PolicyController::ApplyAll(bool force) {
  std::vector<net::VpcPolicy> policies;
  std::vector<net::PeeringPath> paths;
  Status st = store_.Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(paths, net::ReadPeeringPaths(tx));
    state::Query q{net::kVpc};
    q.any_region = true;
    ASSIGN_OR_RETURN(auto vpcs, tx.List(q));
    for (const auto& v : vpcs) {
      ASSIGN_OR_RETURN(auto p, Build(tx, v.region, v.id));
      if (!p.enis.empty()) policies.push_back(std::move(p));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("security groups: cannot read the VPCs: {}", st.message());
    return;
  }
  for (const auto& p : policies) {
    Status a = Apply(p, force);
    if (!a.ok()) KLOG_WARN("security groups of {}: {}", p.vpc_id, a.message());
  }
  ApplyAddresses(policies, force);
  ApplyInstance(force);
  ApplyPeerings(paths, force);
}

void PolicyController::ApplyPeerings(const std::vector<net::PeeringPath>& paths, bool force) {
  std::lock_guard<std::mutex> lock(apply_mu_);
  if (!force && peerings_applied_ && paths == applied_peerings_) return;
  Status st = runtime_.ApplyVpcPeerings(paths);
  peerings_applied_ = st.ok();  // else tried again on the next pass
  if (st.ok()) {
    applied_peerings_ = paths;
  } else {
    KLOG_WARN("VPC peering paths: {}", st.message());
  }
}

void PolicyController::ApplyAddresses(const std::vector<net::VpcPolicy>& policies, bool force, bool prune) {
  using State = AppliedAddresses::State;
  std::map<std::string, runtime::EniAddresses> wanted;
  for (const auto& p : policies) {
    for (const auto& e : p.enis) {
      std::vector<std::string> v6 = e.secondary_ipv6;
      if (!e.ipv6.empty()) v6.insert(v6.begin(), e.ipv6);
      wanted[e.id] = {e.id, p.vpc_id, e.ip, e.secondary_ips, v6};
    }
  }
  std::lock_guard<std::mutex> lock(apply_mu_);
  if (prune) std::erase_if(addresses_, [&](const auto& kv) { return !wanted.count(kv.first); });  // interfaces gone
  for (const auto& [id, want] : wanted) {
    auto it = addresses_.find(id);
    if (it == addresses_.end()) {
      if (want.ipv4.empty() && want.ipv6.size() <= 1) {
        // As the task was started: nothing to do now, but a later change (the IPv6 address
        // unassigned) must reach the runtime.
        addresses_[id] = {want, State::kApplied};
        continue;
      }
    } else {
      bool retry = it->second.state == State::kFailed || (force && it->second.state == State::kNotHere);
      if (it->second.addresses == want && !retry) continue;
    }
    Status st = runtime_.ApplyEniAddresses(want);
    State state = State::kApplied;
    if (st.code() == Code::kNotFound) {
      state = State::kNotHere;
    } else if (!st.ok()) {
      state = State::kFailed;
      KLOG_WARN("secondary addresses of {}: {}", id, st.message());
    }
    addresses_[id] = {want, state};
  }
}

void PolicyController::ApplyInstance(bool force) {
  if (options_.instance_group.empty()) {
    // None configured: make sure no filter of an earlier configuration is left.
    if (force) {
      std::lock_guard<std::mutex> lock(apply_mu_);
      Status a = runtime_.ApplyInstancePolicy(nullptr, {});
      if (!a.ok()) KLOG_WARN("instance security group: {}", a.message());
    }
    return;
  }
  std::optional<net::SecurityGroupPolicy> group;
  std::map<std::string, std::vector<std::string>> members;
  Status st = store_.Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto g, tx.Get(net::kSecurityGroup, options_.instance_group_region, options_.instance_group));
    if (!g) return Status::Ok();
    ASSIGN_OR_RETURN(net::VpcPolicy p, Build(tx, options_.instance_group_region, g->parent));
    for (const auto& gp : p.groups) {
      if (gp.id == g->id) group = gp;
    }
    for (const auto& e : p.enis) {
      for (const auto& gid : e.groups) {
        members[gid].push_back(e.ip);
        members[gid].insert(members[gid].end(), e.secondary_ips.begin(), e.secondary_ips.end());
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("instance security group: {}", st.message());
    return;
  }
  if (!group) {
    KLOG_WARN("instance security group {} does not exist; bridge-mode tasks are not filtered",
              options_.instance_group);
  }
  std::string key = group ? net::BuildInstanceFilter("x", "x", *group, members) : "";
  std::lock_guard<std::mutex> lock(apply_mu_);
  if (!force && key == applied_instance_) return;
  Status a = runtime_.ApplyInstancePolicy(group ? &*group : nullptr, members);
  if (a.ok()) {
    applied_instance_ = key;
  } else {
    KLOG_WARN("instance security group: {}", a.message());
  }
}

Status PolicyController::SyncVpc(const std::string& region, const std::string& vpc_id) {
  net::VpcPolicy policy;
  RETURN_IF_ERROR(store_.Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(policy, Build(tx, region, vpc_id));
    return Status::Ok();
  }));
  Status st = Apply(policy, /*force=*/true);
  // A task's interface is plumbed by now (SyncVpc runs before its containers start): its
  // secondary addresses, if a pass found no task for them earlier (NotFound), go on now
  // rather than at the next full pass.
  ApplyAddresses({policy}, /*force=*/true, /*prune=*/false);
  return st;
}

}  // namespace kecs::reconcile
