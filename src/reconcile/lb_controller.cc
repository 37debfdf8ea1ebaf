#include "reconcile/lb_controller.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <tuple>

#include <fmt/format.h>

#include "base/log.h"
#include "net/domain/vpc.h"
#include "reconcile/lb_hooks.h"
#include "reconcile/network_hooks.h"
#include "state/records/elb.h"

namespace kecs::reconcile {
namespace {

using model::TargetHealthState;

// Attribute values; a missing or unparsable value is the default (the API validates them).
int IntAttr(const model::KeyValues& kv, std::string_view key, int def) {
  const std::string* v = model::FindValue(kv, key);
  if (!v) return def;
  int out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  return ec == std::errc() && p == v->data() + v->size() ? out : def;
}

bool BoolAttr(const model::KeyValues& kv, std::string_view key, bool def) {
  const std::string* v = model::FindValue(kv, key);
  if (!v) return def;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return def;
}

std::string StringAttr(const model::KeyValues& kv, std::string_view key, const std::string& def) {
  const std::string* v = model::FindValue(kv, key);
  return v && !v->empty() ? *v : def;
}

// The port the data plane connects to: the registration's, else the group's.
int TargetPort(const model::TargetGroup& tg, const model::Target& t) {
  return t.port > 0 ? t.port : tg.port.value_or(0);
}

runtime::LbTargetGroupSpec TargetGroupSpec(const model::TargetGroup& tg, double now) {
  runtime::LbTargetGroupSpec s;
  const model::KeyValues& a = tg.attributes;
  s.id = tg.id;
  s.name = tg.name;
  s.target_type = tg.target_type;
  s.protocol = tg.protocol.value_or(model::LbProtocol::kHttp);
  if (!tg.protocol_version.empty()) s.protocol_version = tg.protocol_version;
  s.health_check = tg.health_check;
  s.deregistration_delay_s = model::DeregistrationDelaySeconds(tg);
  s.stickiness = BoolAttr(a, "stickiness.enabled", false);
  s.stickiness_type = StringAttr(a, "stickiness.type", "");
  s.stickiness_duration_s = IntAttr(a,
                                    s.stickiness_type == "app_cookie" ? "stickiness.app_cookie.duration_seconds"
                                                                      : "stickiness.lb_cookie.duration_seconds",
                                    s.stickiness_duration_s);
  s.app_cookie_name = StringAttr(a, "stickiness.app_cookie.cookie_name", "");
  s.algorithm = StringAttr(a, "load_balancing.algorithm.type", s.algorithm);
  s.slow_start_s = IntAttr(a, "slow_start.duration_seconds", 0);
  if (const std::string* cz = model::FindValue(a, "load_balancing.cross_zone.enabled")) {
    if (*cz == "true") s.cross_zone = true;
    if (*cz == "false") s.cross_zone = false;
  }
  s.preserve_client_ip = BoolAttr(a, "preserve_client_ip.enabled", s.preserve_client_ip);
  for (const auto& t : tg.targets) {
    if (t.drain_until && now >= *t.drain_until) continue;  // drained: gone at the next write
    runtime::LbTargetSpec ts;
    ts.id = t.id;
    ts.address = t.address.empty() ? t.id : t.address;
    ts.port = TargetPort(tg, t);
    ts.zone = t.availability_zone;
    ts.draining = t.drain_until.has_value();
    s.targets.push_back(std::move(ts));
  }
  return s;
}

Status AddNode(state::Tx& tx, const model::LoadBalancer& lb, const model::LbNode& node,
               runtime::LoadBalancerSpec& spec) {
  ASSIGN_OR_RETURN(auto eni, tx.Get(net::kEni, lb.region, node.eni_id));
  if (!eni) return Internal(fmt::format("the network interface {} of load balancer {} is missing", node.eni_id, lb.name));
  ASSIGN_OR_RETURN(auto subnet, tx.Get(net::kSubnet, lb.region, node.subnet_id));
  if (!subnet) return Internal(fmt::format("the subnet {} of load balancer {} is missing", node.subnet_id, lb.name));
  ASSIGN_OR_RETURN(model::TaskEni e, EniFacts(tx, lb.region, *eni, *subnet));
  runtime::LbNodeSpec n;
  n.eni_id = e.id;
  n.mac = e.mac;
  n.ip = e.ip;
  n.prefix_len = e.prefix_len;
  n.gateway = e.gateway;
  n.subnet_id = e.subnet_id;
  n.subnet_cidr = e.subnet_cidr;
  n.zone = node.zone;
  n.ipv6 = e.ipv6.value_or("");
  n.ipv6_prefix = e.ipv6_prefix.value_or("");
  // The VPC's facts are the same for every node.
  spec.vpc_cidr = e.vpc_cidr;
  spec.vpc_cidrs = e.vpc_cidrs;
  spec.transit_slot = e.transit_slot;
  spec.dns_server = e.dns_server;
  spec.nodes.push_back(std::move(n));
  return Status::Ok();
}

// The worse of two observations of one target: unhealthy, then initial, then healthy.
int Severity(TargetHealthState s) {
  switch (s) {
    case TargetHealthState::kUnhealthy: return 3;
    case TargetHealthState::kInitial: return 2;
    case TargetHealthState::kHealthy: return 1;
    default: return 0;
  }
}

using TargetKey = std::tuple<std::string, std::string, int>;  // group id, target id, port

}  // namespace

Result<runtime::LoadBalancerSpec> BuildLoadBalancerSpec(state::Tx& tx, const model::LoadBalancer& lb, double now) {
  runtime::LoadBalancerSpec spec;
  spec.id = lb.id;
  spec.arn = lb.arn;
  spec.name = lb.name;
  spec.region = lb.region;
  spec.dns_name = lb.dns_name;
  spec.type = lb.type;
  spec.scheme = lb.scheme;
  spec.vpc_id = lb.vpc_id;
  for (const auto& node : lb.nodes) RETURN_IF_ERROR(AddNode(tx, lb, node, spec));
  if (lb.nodes.empty()) {
    // No node yet: the VPC's facts still come from the VPC.
    ASSIGN_OR_RETURN(auto vpc, tx.Get(net::kVpc, lb.region, lb.vpc_id));
    if (!vpc) return NotFound(fmt::format("the VPC {} of load balancer {} no longer exists", lb.vpc_id, lb.name));
  }

  std::vector<std::string> group_ids;
  auto use = [&](const std::vector<model::Action>& actions) {
    for (auto& id : state::records::ForwardedTargetGroupIds(actions)) {
      if (std::find(group_ids.begin(), group_ids.end(), id) == group_ids.end()) group_ids.push_back(std::move(id));
    }
  };
  ASSIGN_OR_RETURN(auto listeners, state::records::ListListeners(tx, lb.region, lb.id));
  for (const auto& l : listeners) {
    runtime::LbListenerSpec ls;
    ls.id = l.id;
    ls.port = l.port;
    ls.protocol = l.protocol;
    ls.host_port = l.host_port;
    ls.default_actions = l.default_actions;
    ls.ssl_policy = l.ssl_policy;
    use(l.default_actions);
    ASSIGN_OR_RETURN(auto rules, state::records::ListRules(tx, lb.region, l.id));
    for (const auto& r : rules) {
      ls.rules.push_back(runtime::LbRuleSpec{r.id, r.priority, r.conditions, r.actions});
      use(r.actions);
    }
    spec.listeners.push_back(std::move(ls));
  }
  for (const auto& id : group_ids) {
    ASSIGN_OR_RETURN(auto tg, state::records::GetTargetGroup(tx, lb.region, id));
    if (!tg) continue;  // deleted under a rule: the API refuses that, so only a race
    spec.target_groups.push_back(TargetGroupSpec(*tg, now));
  }

  const model::KeyValues& a = lb.attributes;
  spec.cross_zone = BoolAttr(a, "load_balancing.cross_zone.enabled", lb.type != model::LbType::kNetwork);
  spec.idle_timeout_s = IntAttr(a, "idle_timeout.timeout_seconds", spec.idle_timeout_s);
  spec.http2 = BoolAttr(a, "routing.http2.enabled", spec.http2);
  spec.xff_client_port = BoolAttr(a, "routing.http.xff_client_port.enabled", spec.xff_client_port);
  spec.preserve_host_header = BoolAttr(a, "routing.http.preserve_host_header.enabled", spec.preserve_host_header);
  spec.xff_mode = StringAttr(a, "routing.http.xff_header_processing.mode", spec.xff_mode);
  spec.drop_invalid_header_fields =
      BoolAttr(a, "routing.http.drop_invalid_header_fields.enabled", spec.drop_invalid_header_fields);
  return spec;
}

TargetHealthView TargetHealthOf(const model::TargetGroup& tg, const model::Target& target, bool used,
                                const std::optional<runtime::TargetObservation>& observation, bool known) {
  TargetHealthView recorded = model::RecordedTargetHealth(tg, target, used);
  if (target.drain_until || !used || !tg.health_check.enabled) return recorded;
  if (observation) {
    switch (observation->state) {
      case TargetHealthState::kHealthy:
        return {TargetHealthState::kHealthy, "", ""};
      case TargetHealthState::kInitial:
        return model::MakeTargetHealth(TargetHealthState::kInitial, model::kReasonInitialHealthChecking);
      case TargetHealthState::kUnhealthy: {
        const std::string reason = observation->reason.empty() ? model::kReasonFailedHealthChecks : observation->reason;
        std::string description = observation->description;
        if (description.empty()) description = model::TargetHealthDescription(reason);
        if (description.empty()) description = model::TargetHealthDescription(model::kReasonFailedHealthChecks);
        return {TargetHealthState::kUnhealthy, reason, description};
      }
      default:
        known = false;  // the data plane could not tell
        break;
    }
  }
  // Nothing conclusive. When the data plane could not tell (it does not have the group yet,
  // or its observation failed), what its checks last said stands; a target it has but did
  // not report on is still being registered.
  if (!known) return recorded;
  return model::MakeTargetHealth(TargetHealthState::kInitial, model::kReasonRegistrationInProgress);
}

LbController::LbController(state::Store& store, runtime::Runtime& runtime, Options options, Clock& clock)
    : store_(store), runtime_(runtime), options_(options), clock_(clock) {}

LbController::~LbController() { Stop(); }

void LbController::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void LbController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LbController::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_one();
}

void LbController::Loop() {
  using Steady = std::chrono::steady_clock;
  auto next_poll = Steady::now();
  auto next_resync = Steady::now() + options_.resync;
  Reconcile(/*force=*/true);  // at start: the data plane is brought in line, leftovers removed
  while (true) {
    bool dirty = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, std::min(next_poll, next_resync), [&] { return dirty_ || stopping_; });
      if (stopping_) return;
      if (dirty_) {
        // Let a burst of commits settle into one pass.
        cv_.wait_for(lock, options_.debounce, [&] { return stopping_; });
        if (stopping_) return;
      }
      dirty = dirty_;
      dirty_ = false;
    }
    auto now = Steady::now();
    bool full = now >= next_resync;
    if (full) next_resync = now + options_.resync;
    bool poll = now >= next_poll;
    if (dirty || full || (poll && RetryPending())) Reconcile(full);
    if (poll) {
      Observe();
      next_poll = Steady::now() + options_.poll;
    }
  }
}

bool LbController::RetryPending() {
  std::lock_guard<std::mutex> lock(pass_mu_);
  return !attempts_.empty();
}

std::optional<runtime::LoadBalancerSpec> LbController::Applied(const std::string& id) const {
  std::lock_guard<std::mutex> lock(pass_mu_);
  auto it = applied_.find(id);
  if (it == applied_.end()) return std::nullopt;
  return it->second;
}

void LbController::SetState(const std::string& region, const std::string& id, model::LbState state,
                            const std::string& reason) {
  Status st = store_.Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto lb, state::records::GetLoadBalancer(tx, region, id));
    if (!lb || (lb->state == state && lb->state_reason == reason)) return Status::Ok();
    lb->state = state;
    lb->state_reason = reason;
    return state::records::PutLoadBalancer(tx, *lb);
  });
  if (!st.ok()) KLOG_WARN("load balancer {}: cannot record state {}: {}", id, model::ToString(state), st.message());
}

void LbController::Reconcile(bool force) {
  std::lock_guard<std::mutex> pass(pass_mu_);
  const double now = clock_.Now();
  struct Built {
    model::LoadBalancer lb;
    Result<runtime::LoadBalancerSpec> spec = Internal("not built");
  };
  std::vector<Built> built;
  auto build = [&](state::Tx& tx) -> Status {
    built.clear();
    ASSIGN_OR_RETURN(auto lbs, state::records::ListLoadBalancers(tx, "", /*any_region=*/true));
    for (auto& lb : lbs) {
      Built b;
      b.spec = BuildLoadBalancerSpec(tx, lb, now);
      b.lb = std::move(lb);
      built.push_back(std::move(b));
    }
    return Status::Ok();
  };
  // A read transaction, unless a build fails there: a VPC's transit slot is assigned on
  // first use, which needs the write transaction (nothing else is written, so that pass
  // commits only a new slot).
  Status st = store_.Read(build);
  if (!st.ok() || std::any_of(built.begin(), built.end(), [](const Built& b) { return !b.spec.ok(); })) {
    st = store_.Write(build);
  }
  if (!st.ok()) {
    KLOG_WARN("load balancers: cannot read the load balancers: {}", st.message());
    return;
  }
  std::set<std::string> live;
  for (const auto& b : built) live.insert(b.lb.id);
  if (!collected_) {
    Status gc = runtime_.GarbageCollectLoadBalancers(live);
    if (gc.ok()) {
      collected_ = true;
    } else {
      KLOG_WARN("load balancers: cannot remove those of deleted load balancers: {}", gc.message());
    }
  }

  for (auto& b : built) {
    const model::LoadBalancer& lb = b.lb;
    Status applied = b.spec.status();
    auto at = attempts_.find(lb.id);
    const bool waiting = !force && at != attempts_.end() && now < at->second.next_retry;
    if (b.spec.ok()) {
      auto it = applied_.find(lb.id);
      const bool same = it != applied_.end() && it->second == *b.spec;
      if (same && !force && lb.state == model::LbState::kActive) continue;
      // After a failure, the same spec is tried again only once its backoff has passed.
      if (waiting && at->second.spec == *b.spec) continue;
      if (!same || force) applied = runtime_.ApplyLoadBalancer(*b.spec);
    } else if (waiting) {
      continue;
    }
    if (applied.ok()) {
      applied_[lb.id] = *b.spec;
      attempts_.erase(lb.id);
      if (lb.state != model::LbState::kActive) {
        KLOG_INFO("load balancer {} ({}) is active", lb.name, lb.id);
        SetState(lb.region, lb.id, model::LbState::kActive, "");
      }
      continue;
    }
    Attempt& failed = attempts_[lb.id];
    ++failed.failures;
    double delay = options_.retry_delay_s * std::pow(2.0, std::min(failed.failures - 1, 16));
    failed.next_retry = now + std::min(delay, static_cast<double>(options_.resync.count()));
    failed.spec = b.spec.ok() ? std::optional<runtime::LoadBalancerSpec>(*b.spec) : std::nullopt;
    KLOG_WARN("load balancer {} ({}): {} (attempt {})", lb.name, lb.id, applied.message(), failed.failures);
    if (failed.failures >= options_.failures_before_failed && lb.state == model::LbState::kProvisioning) {
      SetState(lb.region, lb.id, model::LbState::kFailed, applied.message());
    }
  }

  for (auto it = applied_.begin(); it != applied_.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    Status del = runtime_.DeleteLoadBalancer(it->first);
    if (!del.ok()) {
      KLOG_WARN("load balancer {}: cannot remove it: {}", it->first, del.message());
      ++it;
      continue;
    }
    KLOG_INFO("load balancer {} removed", it->first);
    observe_errors_.erase(it->first);
    it = applied_.erase(it);
  }
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    it = live.count(it->first) ? std::next(it) : attempts_.erase(it);
  }
}

void LbController::Observe() {
  std::lock_guard<std::mutex> pass(pass_mu_);
  std::map<TargetKey, runtime::TargetObservation> seen;
  std::set<std::string> known;  // groups the data plane has and reported on
  std::set<std::string> unobserved;  // groups of a load balancer whose observation failed
  for (const auto& [id, spec] : applied_) {
    auto obs = runtime_.ObserveTargets(spec);
    if (!obs.ok()) {
      for (const auto& g : spec.target_groups) unobserved.insert(g.id);
      // Said once per distinct failure, not every poll.
      std::string& last = observe_errors_[id];
      if (last != obs.status().message()) {
        last = obs.status().message();
        KLOG_WARN("load balancer {}: cannot observe its targets: {}", spec.name, last);
      }
      continue;
    }
    if (observe_errors_.erase(id)) KLOG_INFO("load balancer {}: its targets are observed again", spec.name);
    for (const auto& g : spec.target_groups) known.insert(g.id);
    for (auto& o : *obs) {
      TargetKey key{o.target_group_id, o.target_id, o.port};
      auto it = seen.find(key);
      if (it == seen.end()) {
        seen.emplace(std::move(key), std::move(o));
        continue;
      }
      // A group behind several load balancers: its target's connections through each.
      int connections = it->second.connections < 0 || o.connections < 0 ? -1 : it->second.connections + o.connections;
      if (Severity(o.state) > Severity(it->second.state)) it->second = std::move(o);
      it->second.connections = connections;
    }
  }
  const double now = clock_.Now();
  // The groups whose targets' health changed, with their new targets; `write` puts them.
  auto update = [&](state::Tx& tx, bool write) -> Result<bool> {
    bool changed = false;
    ASSIGN_OR_RETURN(auto groups, state::records::ListTargetGroups(tx, "", /*any_region=*/true));
    // One scan of a region's listeners and rules per pass, not one per group.
    std::map<std::string, std::set<std::string>> in_use;  // region -> group ids
    for (auto& tg : groups) {
      if (tg.targets.empty()) continue;
      if (!in_use.count(tg.region)) {
        ASSIGN_OR_RETURN(in_use[tg.region], state::records::TargetGroupsInUse(tx, tg.region));
      }
      bool used = in_use[tg.region].count(tg.id) > 0;
      std::vector<model::Target> next;
      next.reserve(tg.targets.size());
      for (const auto& t : tg.targets) {
        if (t.drain_until && now >= *t.drain_until) continue;  // drained: deregistered for good
        std::optional<runtime::TargetObservation> o;
        if (auto it = seen.find(TargetKey{tg.id, t.id, TargetPort(tg, t)}); it != seen.end()) o = it->second;
        // As on AWS, a deregistering target with no connections or requests in flight
        // through any load balancer is deregistered at once, before the delay ends.
        if (t.drain_until && o && o->connections == 0 && !unobserved.count(tg.id)) continue;
        TargetHealthView v = TargetHealthOf(tg, t, used, o, known.count(tg.id) > 0);
        model::Target n = t;
        n.state = v.state;
        n.reason = std::move(v.reason);
        n.description = std::move(v.description);
        next.push_back(std::move(n));
      }
      if (next == tg.targets) continue;
      changed = true;
      if (!write) break;
      tg.targets = std::move(next);
      RETURN_IF_ERROR(state::records::PutTargetGroup(tx, tg));
    }
    return changed;
  };
  // Most passes change nothing: look in a read transaction first, and take the write lock
  // (reading again, as the API may have written meanwhile) only when something changed.
  bool changed = false;
  Status st = store_.Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(changed, update(tx, false));
    return Status::Ok();
  });
  if (st.ok() && changed) st = store_.Write([&](state::Tx& tx) { return update(tx, true).status(); });
  if (!st.ok()) KLOG_WARN("load balancers: cannot record target health: {}", st.message());
}

}  // namespace kecs::reconcile
