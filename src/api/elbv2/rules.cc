// ELBv2 listener rules: CreateRule, DescribeRules, ModifyRule, DeleteRule,
// SetRulePriorities. A listener's default rule is not stored: it is the listener's default
// actions, shown under the ARN of Listener::default_rule_id (DescribeRules lists it last,
// as AWS does); like AWS, kecs refuses to modify, move or delete it.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/elbv2/actions.h"
#include "api/elbv2/common.h"
#include "api/elbv2/listener_ops.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {

using model::Listener;
using model::LoadBalancer;
using model::Rule;
namespace records = state::records;

namespace {

// AWS's quota: 100 rules per Application Load Balancer, not counting default rules
// ("Quotas for your Application Load Balancers"; TooManyRulesException: "per load
// balancer").
constexpr size_t kMaxRulesPerLoadBalancer = 100;

// A rule ARN resolved: a stored rule, or a listener's default rule.
struct FoundRule {
  std::optional<Rule> rule;          // a stored rule
  std::optional<Listener> listener;  // set for a default rule (and for a stored one)
  bool is_default() const { return !rule.has_value(); }
};

std::string DefaultRuleArn(const LoadBalancer& lb, const std::string& account, const Listener& l) {
  return model::RuleArn(lb, account, l.id, l.default_rule_id);
}

// The rule `arn` names, stored or default; RuleNotFound as RequireRule words it otherwise.
FoundRule FindRule(state::Tx& tx, RequestContext& ctx, const std::string& arn) {
  std::string id = model::IdFromArn(arn, "listener-rule");
  if (id.empty()) return {RequireRule(tx, ctx.region, arn), std::nullopt};  // the malformed-ARN error
  if (auto r = Check(records::GetRule(tx, ctx.region, id)); r && r->arn == arn) {
    auto l = Check(records::GetListener(tx, ctx.region, r->listener_id));
    return {std::move(*r), std::move(l)};
  }
  // .../listener-rule/app/<lb name>/<lb id>/<listener id>/<rule id>: the listener's id is
  // the segment before the rule's.
  size_t end = arn.rfind('/');
  size_t begin = arn.rfind('/', end - 1);
  std::string listener_id = arn.substr(begin + 1, end - begin - 1);
  if (auto l = Check(records::GetListener(tx, ctx.region, listener_id)); l && l->default_rule_id == id) {
    LoadBalancer lb = LoadBalancerOf(tx, *l);
    if (DefaultRuleArn(lb, ctx.account_id, *l) == arn) return {std::nullopt, std::move(*l)};
  }
  return {RequireRule(tx, ctx.region, arn), std::nullopt};  // throws RuleNotFound
}

Json RuleOut(state::Tx& tx, RequestContext& ctx, const FoundRule& f) {
  if (f.rule) return records::RuleToAws(*f.rule);
  LoadBalancer lb = LoadBalancerOf(tx, *f.listener);
  return records::DefaultRuleToAws(*f.listener, DefaultRuleArn(lb, ctx.account_id, *f.listener));
}

void RequireApplication(const LoadBalancer& lb) {
  if (lb.type != model::LbType::kApplication) {
    // Rules exist only on Application Load Balancer listeners (API reference, CreateRule);
    // no AWS source was found for this wording (kecs's).
    throw ValidationError("Rules can be created only on listeners of Application Load Balancers");
  }
}

// AWS's message, as terraform and pulumi users quote it ("PriorityInUse: Priority '100' is
// currently in use").
AwsError PriorityInUse(int priority) {
  return ElbError("PriorityInUse", fmt::format("Priority '{}' is currently in use", priority));
}

AwsError DefaultRuleRefused(const std::string& arn, const char* what) {
  // Worded after AWS's "Default rule '<arn>' cannot be modified" (ModifyRule, quoted in the
  // aws-alb-ingress-controller); for DeleteRule and SetRulePriorities no AWS source was
  // found, so the ending there is kecs's.
  return ElbError("OperationNotPermitted", fmt::format("Default rule '{}' {}", arn, what));
}

}  // namespace

Json ListenerOps::CreateRule(RequestContext& ctx, const Json& in) {
  const std::string listener_arn = JStr(in, "ListenerArn");
  auto tags = records::KeyValuesFromAws(in.value("Tags", Json::array()));
  if (!tags.ok()) throw ValidationError(std::string(tags.status().message()));
  if (JHas(in, "Transforms")) {
    // Documented limit: kecs's data plane does not rewrite requests (kecs's wording).
    throw ValidationError("Rule transforms are not supported by kecs");
  }
  std::vector<model::RuleCondition> conditions = ParseConditions(in.value("Conditions", Json::array()));
  if (conditions.empty()) {
    // A rule that is not the default one matches on at least one condition (API reference,
    // CreateRule: "Each rule can include zero or one of the following conditions ..."
    // with at least one); kecs's wording.
    throw ValidationError("A rule must have at least one condition");
  }
  auto priority = JOptInt(in, "Priority");
  if (!priority || *priority < 1 || *priority > 50000) {
    // The model's range (RulePriority: 1-50000), which the router checks first.
    throw ValidationError("The rule priority must be between 1 and 50000");
  }
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Listener l = RequireListener(tx, ctx.region, listener_arn);
    LoadBalancer lb = LoadBalancerOf(tx, l);
    RequireApplication(lb);
    auto rules = Check(records::ListRules(tx, ctx.region, l.id));
    for (const auto& r : rules) {
      if (r.priority == *priority) throw PriorityInUse(r.priority);
    }
    size_t on_lb = 0;
    for (const auto& other : Check(records::ListListeners(tx, ctx.region, lb.id))) {
      on_lb += Check(records::ListRules(tx, ctx.region, other.id)).size();
    }
    if (on_lb >= kMaxRulesPerLoadBalancer) {
      // The model's documentation of TooManyRulesException.
      throw ElbError("TooManyRules", "You've reached the limit on the number of rules per load balancer.");
    }
    Rule r;
    r.region = ctx.region;
    r.id = model::NewElbId();
    r.arn = model::RuleArn(lb, ctx.account_id, l.id, r.id);
    r.listener_id = l.id;
    r.listener_arn = l.arn;
    r.priority = static_cast<int>(*priority);
    r.conditions = std::move(conditions);
    r.actions = ParseActions(tx, ctx.region, ActionScope{&lb, l.protocol, l.id, r.id}, in["Actions"]);
    r.tags = std::move(tags).value();
    Check(records::PutRule(tx, r));
    out = {{"Rules", Json::array({records::RuleToAws(r)})}};
    return Status::Ok();
  }));
  return out;
}

Json ListenerOps::DescribeRules(RequestContext& ctx, const Json& in) {
  const std::string listener_arn = JStr(in, "ListenerArn");
  const Json* arns = JGet(in, "RuleArns");
  bool by_arns = arns && arns->is_array() && !arns->empty();
  // Moto's wording of AWS's refusals (moto InvalidDescribeRulesRequest).
  if (by_arns && !listener_arn.empty()) {
    throw ValidationError("Listener rule ARNs and a listener ARN cannot be specified at the same time");
  }
  if (!by_arns && listener_arn.empty()) {
    throw ValidationError("You must specify either listener rule ARNs or a listener ARN");
  }
  Json out = Json::object();
  Check(store_.Read([&](state::Tx& tx) {
    std::vector<Json> shown;
    std::vector<std::string> keys;
    if (by_arns) {
      std::set<std::string> seen;
      for (const auto& a : *arns) {
        std::string arn = a.is_string() ? a.get<std::string>() : "";
        FoundRule f = FindRule(tx, ctx, arn);
        if (!seen.insert(arn).second) continue;
        keys.push_back(fmt::format("{:06d}", keys.size()));
        shown.push_back(RuleOut(tx, ctx, f));
      }
    } else {
      Listener l = RequireListener(tx, ctx.region, listener_arn);
      // By priority, the default rule last (AWS's order); keys sort the same way, since
      // "default" sorts after any 5-digit priority.
      for (const auto& r : Check(records::ListRules(tx, ctx.region, l.id))) {
        keys.push_back(fmt::format("{:05d}", r.priority));
        shown.push_back(records::RuleToAws(r));
      }
      keys.push_back("default");
      shown.push_back(RuleOut(tx, ctx, FoundRule{std::nullopt, l}));
    }
    auto [b, e] = PageByMarker(keys, in, out);
    out["Rules"] = Json(std::vector<Json>(shown.begin() + b, shown.begin() + e));
    return Status::Ok();
  }));
  return out;
}

Json ListenerOps::ModifyRule(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "RuleArn");
  const bool has_conditions = JHas(in, "Conditions");
  const bool has_actions = JHas(in, "Actions");
  if (JHas(in, "Transforms")) throw ValidationError("Rule transforms are not supported by kecs");
  if (!has_conditions && !has_actions) {
    // Moto's wording of AWS's refusal (moto InvalidModifyRuleArgumentsError).
    throw ValidationError("Either conditions or actions must be specified");
  }
  std::vector<model::RuleCondition> conditions;
  if (has_conditions) conditions = ParseConditions(in["Conditions"]);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    FoundRule f = FindRule(tx, ctx, arn);
    // AWS refuses it: "OperationNotPermitted: Default rule '<arn>' cannot be modified" (the
    // aws-alb-ingress-controller's rules code quotes it); the default actions change
    // through ModifyListener.
    if (f.is_default()) throw DefaultRuleRefused(arn, "cannot be modified");
    if (has_conditions) {
      if (conditions.empty()) throw ValidationError("A rule must have at least one condition");
      f.rule->conditions = std::move(conditions);
    }
    if (has_actions) {
      LoadBalancer lb = LoadBalancerOf(tx, *f.listener);
      f.rule->actions = ParseActions(tx, ctx.region, ActionScope{&lb, f.listener->protocol, f.listener->id, f.rule->id},
                                     in["Actions"]);
    }
    Check(records::PutRule(tx, *f.rule));
    out = {{"Rules", Json::array({records::RuleToAws(*f.rule)})}};
    return Status::Ok();
  }));
  return out;
}

Json ListenerOps::DeleteRule(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "RuleArn");
  Check(store_.Write([&](state::Tx& tx) {
    FoundRule f = FindRule(tx, ctx, arn);
    if (f.is_default()) throw DefaultRuleRefused(arn, "cannot be deleted");
    Check(tx.Delete(model::kRule, ctx.region, f.rule->id).status());
    return Status::Ok();
  }));
  return Json::object();
}

Json ListenerOps::SetRulePriorities(RequestContext& ctx, const Json& in) {
  const Json pairs = in.value("RulePriorities", Json::array());
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    std::map<std::string, Rule> changed;  // by rule id
    std::set<std::pair<std::string, int64_t>> given;  // (listener, priority)
    for (const auto& p : pairs) {
      std::string arn = JStr(p, "RuleArn");
      auto priority = JOptInt(p, "Priority");
      if (!priority || *priority < 1 || *priority > 50000) {
        throw ValidationError("The rule priority must be between 1 and 50000");
      }
      FoundRule f = FindRule(tx, ctx, arn);
      if (f.is_default()) throw DefaultRuleRefused(arn, "priority cannot be changed");
      if (changed.count(f.rule->id)) {
        // No AWS source was found for this wording (kecs's).
        throw ValidationError(fmt::format("Rule '{}' was provided multiple times", arn));
      }
      if (!given.insert({f.rule->listener_id, *priority}).second) {
        // Moto's wording of AWS's refusal (moto DuplicatePriorityError).
        throw ValidationError(fmt::format("Priority '{}' was provided multiple times", *priority));
      }
      f.rule->priority = static_cast<int>(*priority);
      changed.emplace(f.rule->id, std::move(*f.rule));
    }
    // All at once: a priority may move to a rule whose own priority moves away in the same
    // request; what matters is that no two rules of a listener end up sharing one.
    std::set<std::string> listeners;
    for (const auto& [id, r] : changed) listeners.insert(r.listener_id);
    for (const auto& lid : listeners) {
      std::set<int> used;
      for (auto r : Check(records::ListRules(tx, ctx.region, lid))) {
        if (auto it = changed.find(r.id); it != changed.end()) r = it->second;
        if (!used.insert(r.priority).second) throw PriorityInUse(r.priority);
      }
    }
    Json rules = Json::array();
    for (const auto& p : pairs) {
      const Rule& r = changed.at(model::IdFromArn(JStr(p, "RuleArn"), "listener-rule"));
      Check(records::PutRule(tx, r));
      rules.push_back(records::RuleToAws(r));
    }
    out = {{"Rules", rules}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace kecs::api::elbv2
