#include "reconcile/traffic_shift.h"

#include <algorithm>
#include <cmath>

#include "state/records/elb.h"

namespace kecs::reconcile {

Result<std::optional<ListenerRuleRef>> FindListenerRule(state::Tx& tx, const std::string& region,
                                                        const std::string& arn) {
  std::string id = model::IdFromArn(arn, "listener-rule");
  if (!id.empty()) {
    ASSIGN_OR_RETURN(auto rule, state::records::GetRule(tx, region, id));
    if (rule && rule->arn == arn) return std::optional<ListenerRuleRef>(ListenerRuleRef{std::move(rule), {}});
    // .../listener-rule/app/<lb name>/<lb id>/<listener id>/<rule id>: a default rule.
    size_t end = arn.rfind('/');
    size_t begin = end == std::string::npos || end == 0 ? std::string::npos : arn.rfind('/', end - 1);
    if (begin == std::string::npos) return std::optional<ListenerRuleRef>();
    ASSIGN_OR_RETURN(auto listener, state::records::GetListener(tx, region, arn.substr(begin + 1, end - begin - 1)));
    if (listener && listener->default_rule_id == id) {
      return std::optional<ListenerRuleRef>(ListenerRuleRef{{}, std::move(listener)});
    }
    return std::optional<ListenerRuleRef>();
  }
  std::string listener_id = model::IdFromArn(arn, "listener");
  if (listener_id.empty()) return std::optional<ListenerRuleRef>();
  ASSIGN_OR_RETURN(auto listener, state::records::GetListener(tx, region, listener_id));
  if (!listener || listener->arn != arn) return std::optional<ListenerRuleRef>();
  return std::optional<ListenerRuleRef>(ListenerRuleRef{{}, std::move(listener)});
}

std::vector<std::string> ForwardTargetGroups(const ListenerRuleRef& ref) {
  std::vector<std::string> out;
  for (const auto& a : ref.Actions()) {
    if (a.type != model::ActionType::kForward) continue;
    if (!a.target_group_arn.empty()) out.push_back(a.target_group_arn);
    for (const auto& w : a.forward) {
      if (std::find(out.begin(), out.end(), w.target_group_arn) == out.end()) out.push_back(w.target_group_arn);
    }
  }
  return out;
}

std::pair<int, int> ShiftWeights(double green_percent) {
  double p = std::clamp(green_percent, 0.0, 100.0);
  if (p <= 0) return {1, 0};
  if (p >= 100) return {0, 1};
  int green = std::clamp(static_cast<int>(std::lround(p * 10)), 1, 999);
  return {1000 - green, green};
}

Status SetRuleWeights(state::Tx& tx, const std::string& region, const std::string& rule_arn,
                      const std::string& blue_tg, const std::string& green_tg, double green_percent) {
  ASSIGN_OR_RETURN(auto ref, FindListenerRule(tx, region, rule_arn));
  if (!ref) return Status::Ok();
  auto [blue_w, green_w] = ShiftWeights(green_percent);
  auto rewrite = [&](std::vector<model::Action>& actions) {
    bool changed = false;
    for (auto& a : actions) {
      if (a.type != model::ActionType::kForward) continue;
      std::vector<model::TargetGroupWeight> want = {{blue_tg, blue_w}, {green_tg, green_w}};
      if (a.forward == want && a.target_group_arn.empty() && a.forward_given) continue;
      a.target_group_arn.clear();
      a.forward = std::move(want);
      a.forward_given = true;
      changed = true;
    }
    return changed;
  };
  if (ref->rule) {
    if (rewrite(ref->rule->actions)) return state::records::PutRule(tx, *ref->rule);
    return Status::Ok();
  }
  if (rewrite(ref->listener->default_actions)) return state::records::PutListener(tx, *ref->listener);
  return Status::Ok();
}

Result<bool> AlarmFiring(state::Tx& tx, const std::string& region, const std::string& name) {
  ASSIGN_OR_RETURN(auto row, tx.Get(kDeploymentAlarm, region, name));
  return row && row->status == "ALARM";
}

Status SetAlarmState(state::Tx& tx, const std::string& region, const std::string& name, const std::string& state,
                     double now) {
  if (state != "ALARM" && state != "OK") return InvalidArgument("the alarm state must be ALARM or OK");
  // CloudWatch's alarm names: 1-255 characters (PutMetricAlarm's AlarmName).
  if (name.empty() || name.size() > 255) return InvalidArgument("the alarm name must have 1 to 255 characters");
  state::Object o;
  o.kind = kDeploymentAlarm;
  o.region = region;
  o.id = name;
  o.name = name;
  o.status = state;
  o.doc = {{"alarmName", name}, {"stateValue", state}, {"stateUpdatedTimestamp", now}};
  return tx.Put(o);
}

}  // namespace kecs::reconcile
