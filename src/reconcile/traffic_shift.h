#pragma once
// Traffic shifting for ECS's BLUE_GREEN, LINEAR and CANARY deployment strategies (issue 18).
//
// A service deployed with one of these strategies keeps two target groups per load
// balancer: its `targetGroupArn` and the advancedConfiguration's `alternateTargetGroupArn`.
// The revision that serves registers its tasks in one of them; a new deployment's (green)
// tasks register in the other, and traffic moves by rewriting the weights of the forward
// action of the production listener rule (and of the test listener rule) in the ELBv2
// store: the load balancer controller (reconcile/lb_controller.h) then makes the real
// data plane follow. After a successful deployment the roles swap: the group green ran in
// is the serving one, as ECS does. Everything here runs inside the caller's transaction.
// Not thread-safe beyond it.
#include <optional>
#include <string>

#include "base/status.h"
#include "model/elb.h"
#include "model/service.h"
#include "state/store.h"

namespace kecs::reconcile {

// A listener rule named by ARN: a rule of its own, or a listener's default rule (then
// `rule` is empty and the listener's default actions are the rule's). A listener ARN
// (the Network Load Balancer form of productionListenerRule) names the listener's default
// actions too.
struct ListenerRuleRef {
  std::optional<model::Rule> rule;
  std::optional<model::Listener> listener;
  // The forward action(s) of the rule.
  const std::vector<model::Action>& Actions() const { return rule ? rule->actions : listener->default_actions; }
};
Result<std::optional<ListenerRuleRef>> FindListenerRule(state::Tx& tx, const std::string& region,
                                                        const std::string& arn);

// The target group ARNs a rule's forward actions name.
std::vector<std::string> ForwardTargetGroups(const ListenerRuleRef& ref);

// ALB weights (0-999) for `green_percent` (0-100, in steps of 0.1) of the traffic on the
// green group: {blue, green}. 0% is {1, 0}, 100% is {0, 1}; between, per mille, so 5.5%
// is {945, 55}.
std::pair<int, int> ShiftWeights(double green_percent);

// Rewrites the forward action of the rule `rule_arn` to send `green_percent` of its
// traffic to `green_tg` and the rest to `blue_tg`. A rule that no longer exists is left
// alone (returns Ok: the deployment goes on, as there is nothing to shift).
Status SetRuleWeights(state::Tx& tx, const std::string& region, const std::string& rule_arn,
                      const std::string& blue_tg, const std::string& green_tg, double green_percent);

// ---- The deployment alarm source ----
// kecs runs no CloudWatch. The alarms a deploymentConfiguration names are kecs's own
// records (kind kDeploymentAlarm, id the alarm name, status ALARM or OK) that a user sets
// with `kecs alarm set NAME ALARM|OK` (the internal endpoint POST /_kecs/v1/alarms): an
// alarm in ALARM fails the traffic-shifting deployment that names it, and rolls it back
// when its alarms' `rollback` is true. An alarm never set is OK.
inline constexpr const char* kDeploymentAlarm = "kecs:alarm";
Result<bool> AlarmFiring(state::Tx& tx, const std::string& region, const std::string& name);
// Sets the alarm `name` to `state` ("ALARM" or "OK"; InvalidArgument otherwise). Repeat
// calls keep the state.
Status SetAlarmState(state::Tx& tx, const std::string& region, const std::string& name, const std::string& state,
                     double now);

}  // namespace kecs::reconcile
