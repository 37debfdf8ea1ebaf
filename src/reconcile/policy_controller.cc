#include "reconcile/policy_controller.h"

#include <optional>

#include "base/log.h"
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
  std::vector<Json> enis, groups, subnets, acls;
  ASSIGN_OR_RETURN(auto subnet_objs, tx.List({net::kSubnet, region, vpc_id}));
  for (const auto& s : subnet_objs) {
    subnets.push_back(s.doc);
    ASSIGN_OR_RETURN(auto in_subnet, tx.List({net::kEni, region, s.id}));
    for (const auto& e : in_subnet) enis.push_back(e.doc);
  }
  ASSIGN_OR_RETURN(auto group_objs, tx.List({net::kSecurityGroup, region, vpc_id}));
  for (const auto& g : group_objs) groups.push_back(g.doc);
  ASSIGN_OR_RETURN(auto acl_objs, tx.List({net::kNetworkAcl, region, vpc_id}));
  for (const auto& a : acl_objs) acls.push_back(a.doc);
  net::VpcPolicy p = net::PolicyFromDocs(vpc_id, enis, groups, subnets, acls);
  p.host_exempt = options_.host_exempt;
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
  Status st = store_.Read([&](state::Tx& tx) {
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
  ApplyInstance(force);
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
      for (const auto& gid : e.groups) members[gid].push_back(e.ip);
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
  return Apply(policy, /*force=*/true);
}

}  // namespace kecs::reconcile
