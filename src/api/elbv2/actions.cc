#include "api/elbv2/actions.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "api/elbv2/common.h"
#include "net/domain/ip.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {
namespace {

using model::Action;
using model::ActionType;
using model::LbProtocol;
using model::LbType;
using model::RuleCondition;

bool IsAlb(const ActionScope& s) { return s.lb->type == LbType::kApplication; }

std::string ProtocolWord(LbProtocol p) { return std::string(model::ToString(p)); }

// The target group protocols a listener protocol can forward to.
bool ProtocolsFit(LbProtocol listener, LbProtocol group) {
  switch (listener) {
    case LbProtocol::kHttp:
    case LbProtocol::kHttps:
      return group == LbProtocol::kHttp || group == LbProtocol::kHttps;
    case LbProtocol::kTcp:
      return group == LbProtocol::kTcp || group == LbProtocol::kTcpUdp;
    case LbProtocol::kTls:
      return group == LbProtocol::kTcp || group == LbProtocol::kTls || group == LbProtocol::kTcpUdp;
    case LbProtocol::kUdp:
      return group == LbProtocol::kUdp || group == LbProtocol::kTcpUdp;
    case LbProtocol::kTcpUdp:
      return group == LbProtocol::kTcpUdp;
    default:
      return false;
  }
}

// One target group of a forward: it exists, is in the load balancer's VPC, fits the
// listener's protocol, and no other load balancer forwards to it.
void CheckTargetGroup(state::Tx& tx, const std::string& region, const ActionScope& scope, const std::string& arn) {
  model::TargetGroup tg = RequireTargetGroup(tx, region, arn);
  if (!tg.vpc_id.empty() && tg.vpc_id != scope.lb->vpc_id) {
    // No AWS source was found for this wording (kecs's).
    throw ValidationError(fmt::format("The target group '{}' is not in the same VPC as the load balancer", arn));
  }
  if (tg.target_type == model::TargetType::kLambda) {
    // kecs runs no Lambda functions (documented limit; the wording is kecs's).
    throw ValidationError(fmt::format("Target group '{}' has target type 'lambda', which kecs does not run", arn));
  }
  if (!tg.protocol || !ProtocolsFit(scope.listener_protocol, *tg.protocol)) {
    // AWS's message, as the terraform-aws-netlb module's "Known Issues" table records it.
    throw ElbError("IncompatibleProtocols",
                   "The listener and the following target groups have incompatible protocols: " + arn);
  }
  if (tg.protocol_version == "GRPC" && scope.listener_protocol != LbProtocol::kHttps) {
    // AWS's message (quoted in terraform/kubernetes setups that hit it).
    throw ElbError("InvalidLoadBalancerAction",
                   fmt::format("Listener protocol '{}' is not supported with a target group with the "
                               "protocol-version 'GRPC'",
                               ProtocolWord(scope.listener_protocol)));
  }
  auto lbs = Check(state::records::LoadBalancersOfTargetGroup(tx, region, tg.id));
  for (const auto& id : lbs) {
    if (id != scope.lb->id) {
      // AWS's message, e.g. terraform-provider-aws users' "TargetGroupAssociationLimit: The
      // following target groups cannot be associated with more than one load balancer: arn".
      throw ElbError("TargetGroupAssociationLimit",
                     "The following target groups cannot be associated with more than one load balancer: " + arn);
    }
  }
}

void CheckForward(state::Tx& tx, const std::string& region, const ActionScope& scope, Action& a) {
  if (a.target_group_arn.empty() && a.forward.empty()) {
    // No AWS source was found for this wording (kecs's).
    throw ValidationError("A target group ARN must be specified for a forward action");
  }
  if (!a.target_group_arn.empty() && a.forward_given) {
    // AWS accepts both forms only when they name the same one group.
    if (a.forward.size() != 1 || a.forward[0].target_group_arn != a.target_group_arn) {
      // No AWS source was found for this wording (kecs's).
      throw ValidationError(
          "You cannot specify a target group ARN and a forward configuration with different target groups");
    }
  }
  if (a.forward_given) {
    if (a.forward.empty() || a.forward.size() > 5) {
      // AWS allows 1-5 target groups per forward action; the wording is kecs's.
      throw ValidationError("A forward action must have between 1 and 5 target groups");
    }
    if (!IsAlb(scope) && a.forward.size() > 1) {
      // No AWS source was found for this wording (kecs's).
      throw ValidationError("Network Load Balancers support only one target group per forward action");
    }
    std::set<std::string> seen;
    for (const auto& w : a.forward) {
      if (w.weight < 0 || w.weight > 999) {
        // AWS's range (TargetGroupTuple.Weight: 0-999); the wording is kecs's.
        throw ValidationError(fmt::format("Target group weight '{}' must be between 0 and 999", w.weight));
      }
      if (!seen.insert(w.target_group_arn).second) {
        // No AWS source was found for this wording (kecs's).
        throw ValidationError(fmt::format("Target group '{}' is specified more than once", w.target_group_arn));
      }
    }
    if (a.stickiness_duration_s && (*a.stickiness_duration_s < 1 || *a.stickiness_duration_s > 604800)) {
      // AWS's range (TargetGroupStickinessConfig.DurationSeconds: 1-604800); kecs's wording.
      throw ValidationError("Target group stickiness duration must be between 1 and 604800 seconds");
    }
  }
  if (!a.target_group_arn.empty()) CheckTargetGroup(tx, region, scope, a.target_group_arn);
  for (const auto& w : a.forward) {
    if (w.target_group_arn != a.target_group_arn) CheckTargetGroup(tx, region, scope, w.target_group_arn);
  }
}

bool IsPortTemplate(const std::string& p) {
  if (p == "#{port}") return true;
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int n = std::stoi(p);
  return n >= 1 && n <= 65535;
}

void CheckRedirect(const Action& a) {
  if (a.redirect_status != "HTTP_301" && a.redirect_status != "HTTP_302") {
    // The model's enum; the router checks it, this covers a missing StatusCode.
    throw ValidationError("A redirect status code must be specified (HTTP_301 or HTTP_302)");
  }
  if (!IsPortTemplate(a.redirect_port)) {
    // No AWS source was found for this wording (kecs's).
    throw ValidationError(fmt::format("Redirect port '{}' is not valid", a.redirect_port));
  }
  if (a.redirect_path.empty() || a.redirect_path.front() != '/') {
    // No AWS source was found for this wording (kecs's).
    throw ValidationError("The redirect path must start with a '/' character");
  }
  if (a.redirect_host.empty()) throw ValidationError("The redirect host must not be empty");
  // A redirect that changes nothing of the incoming request loops. AWS's message, quoted
  // by users of the aws-load-balancer-controller ("InvalidLoadBalancerAction: The redirect
  // configuration is not valid because it creates a loop.").
  if (a.redirect_protocol == "#{protocol}" && a.redirect_port == "#{port}" && a.redirect_host == "#{host}" &&
      a.redirect_path == "/#{path}" && a.redirect_query == "#{query}") {
    throw ElbError("InvalidLoadBalancerAction", "The redirect configuration is not valid because it creates a loop.");
  }
}

void CheckFixedResponse(const Action& a) {
  static const std::set<std::string> kTypes = {"text/plain", "text/css", "text/html", "application/javascript",
                                               "application/json"};
  if (a.fixed_status.size() != 3 || (a.fixed_status[0] != '2' && a.fixed_status[0] != '4' && a.fixed_status[0] != '5')) {
    // The model's pattern ^(2|4|5)\d\d$; the router checks it, this covers a missing one.
    throw ValidationError("A fixed-response status code must be specified (2XX, 4XX or 5XX)");
  }
  if (a.fixed_content_type && !kTypes.count(*a.fixed_content_type)) {
    // Moto's wording of AWS's refusal (moto/elbv2/models.py, _validate_fixed_response_action).
    throw ElbError("InvalidLoadBalancerAction",
                   "The ContentType must be one of:'text/html', 'application/json', 'application/javascript', "
                   "'text/css', 'text/plain'");
  }
  if (a.fixed_body && a.fixed_body->size() > 1024) {
    // AWS's limit (FixedResponseActionMessage: at most 1024); the router checks it too.
    throw ValidationError("The fixed-response message body must be at most 1024 characters");
  }
}

bool Terminal(ActionType t) {
  return t == ActionType::kForward || t == ActionType::kRedirect || t == ActionType::kFixedResponse;
}

// AWS's quota "Target Groups per Application Load Balancer: 100" (not adjustable; "Quotas
// for your Application Load Balancers"), counting each group once across the load
// balancer's listeners and rules; the actions being replaced do not count.
void CheckUniqueTargetGroups(state::Tx& tx, const std::string& region, const ActionScope& scope,
                             const std::vector<Action>& actions) {
  constexpr size_t kMaxTargetGroups = 100;
  if (!IsAlb(scope)) return;
  std::set<std::string> ids;
  auto add = [&ids](const std::vector<Action>& list) {
    for (auto& id : state::records::ForwardedTargetGroupIds(list)) ids.insert(std::move(id));
  };
  add(actions);
  for (const auto& l : Check(state::records::ListListeners(tx, region, scope.lb->id))) {
    bool replaced = l.id == scope.listener_id && scope.rule_id.empty();
    if (!replaced) add(l.default_actions);
    for (const auto& r : Check(state::records::ListRules(tx, region, l.id))) {
      if (r.id != scope.rule_id) add(r.actions);
    }
  }
  if (ids.size() > kMaxTargetGroups) {
    // The model's documentation of TooManyUniqueTargetGroupsPerLoadBalancerException.
    throw ElbError("TooManyUniqueTargetGroupsPerLoadBalancer",
                   "You've reached the limit on the number of unique target groups per load balancer across all "
                   "listeners. If a target group is used by multiple actions for a load balancer, it is counted as "
                   "only one use.");
  }
}

// What AWS fills in and shows back: a lone action's Order 1, and both forms of a forward
// to one target group (TargetGroupArn, and a ForwardConfig of it with weight 1 and
// stickiness off), as DescribeListeners and DescribeRules show them (the amazon.aws
// Ansible collection's elbv2 tests record AWS's answers in that form).
void Normalize(std::vector<Action>& actions) {
  if (actions.size() == 1 && !actions[0].order) actions[0].order = 1;
  for (auto& a : actions) {
    if (a.type != ActionType::kForward) continue;
    if (a.forward.empty() && !a.target_group_arn.empty()) a.forward.push_back({a.target_group_arn, 1});
    if (a.target_group_arn.empty() && a.forward.size() == 1) a.target_group_arn = a.forward[0].target_group_arn;
    a.forward_given = true;
    if (!a.stickiness_enabled) a.stickiness_enabled = false;
  }
}

}  // namespace

std::vector<Action> ParseActions(state::Tx& tx, const std::string& region, const ActionScope& scope,
                                 const Json& list) {
  if (!list.is_array() || list.empty()) {
    // No AWS source was found for this wording (kecs's).
    throw ValidationError("At least one action must be specified");
  }
  for (const Json& j : list) {
    std::string type = JStr(j, "Type");
    if (type.empty()) throw ValidationError("An action type must be specified");
    auto t = model::ParseActionType(type);
    if (!t) {
      // The router checks the enum; this covers types the model gains later.
      throw ValidationError(fmt::format("Action type '{}' is not valid", type));
    }
    if (*t == ActionType::kAuthenticateOidc || *t == ActionType::kAuthenticateCognito ||
        *t == ActionType::kJwtValidation) {
      // Documented limit: kecs runs no identity provider flows (kecs's wording).
      throw ValidationError(fmt::format(
          "Action type '{}' is not supported by kecs: it does not run authentication actions", type));
    }
  }
  auto parsed = state::records::ActionsFromAws(list);
  if (!parsed.ok()) throw ValidationError(std::string(parsed.status().message()));
  std::vector<Action> actions = std::move(parsed).value();

  std::set<int> orders;
  int terminal = 0;
  for (auto& a : actions) {
    if (!IsAlb(scope) && a.type != ActionType::kForward) {
      // NLB listeners forward only; no AWS source was found for this wording (kecs's).
      throw ValidationError(fmt::format("Action type '{}' must be one of 'forward' for a Network Load Balancer",
                                        std::string(model::ToString(a.type))));
    }
    if (a.order) {
      if (*a.order < 1 || *a.order > 50000) throw ValidationError("Action order must be between 1 and 50000");
      if (!orders.insert(*a.order).second) {
        // No AWS source was found for this wording (kecs's).
        throw ValidationError(fmt::format("Action order '{}' is specified more than once", *a.order));
      }
    }
    switch (a.type) {
      case ActionType::kForward: CheckForward(tx, region, scope, a); break;
      case ActionType::kRedirect: CheckRedirect(a); break;
      case ActionType::kFixedResponse: CheckFixedResponse(a); break;
      default: break;
    }
    terminal += Terminal(a.type);
  }
  if (actions.size() > 1 && orders.size() != actions.size()) {
    // The API reference (Action.Order): "This value is required for rules with multiple
    // actions"; no AWS source was found for this wording (kecs's).
    throw ValidationError("An order must be specified for each action when there are several");
  }
  if (terminal != 1) {
    // AWS requires exactly one forward, redirect or fixed-response action per list (the
    // API reference, Action.Type); no AWS source was found for this wording (kecs's).
    throw ElbError("InvalidLoadBalancerAction",
                   "Exactly one forward, redirect or fixed-response action must be specified");
  }
  // The terminal action runs last: with orders, it must hold the highest.
  if (!orders.empty()) {
    auto last = std::max_element(actions.begin(), actions.end(),
                                 [](const Action& x, const Action& y) { return *x.order < *y.order; });
    if (!Terminal(last->type)) {
      throw ElbError("InvalidLoadBalancerAction",
                     "The forward, redirect or fixed-response action must be the last action");
    }
  }
  CheckUniqueTargetGroups(tx, region, scope, actions);
  Normalize(actions);
  return actions;
}

void CheckActionsForProtocol(state::Tx& tx, const std::string& region, const ActionScope& scope,
                             const std::vector<Action>& actions) {
  for (Action a : actions) {
    if (!IsAlb(scope) && a.type != ActionType::kForward) {
      throw ValidationError(fmt::format("Action type '{}' must be one of 'forward' for a Network Load Balancer",
                                        std::string(model::ToString(a.type))));
    }
    if (a.type == ActionType::kForward) CheckForward(tx, region, scope, a);
  }
}

// ---- conditions ----
//
// The limits and character sets are AWS's (the RuleCondition and XxxConditionConfig pages
// of the ELBv2 API reference). The refusals are worded as moto words them
// (moto/elbv2/models.py, _validate_*_condition), which follows AWS's answers; where moto
// has no check (the character sets of host-header and path-pattern, CIDRs, repeated
// fields) the wording is kecs's, in the same style.

namespace {

bool AllOf(const std::string& v, std::string_view extra) {
  return std::all_of(v.begin(), v.end(), [&](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

AwsError TooLong(const std::string& what, int limit) {
  return ValidationError(fmt::format("The '{}' value is too long; the limit is '{}'", what, limit));
}

AwsError Invalid(const std::string& what, const char* allowed) {
  return ValidationError(fmt::format("The '{}' value is invalid; the allowed characters are {}", what, allowed));
}

void CheckValue(const std::string& field, const std::string& v) {
  if (v.empty()) throw ValidationError("A condition value must be specified");
  if (field == "path-pattern") {
    if (v.size() > 128) throw TooLong(field, 128);
    if (!AllOf(v, "_-.$/~\"'@:+&*?")) throw Invalid(field, "A-Z, a-z, 0-9, _ - . $ / ~ \" ' @ : + & * ?");
  } else if (field == "host-header") {
    if (v.size() > 128) throw TooLong(field, 128);
    if (!AllOf(v, "-.*?")) throw Invalid(field, "A-Z, a-z, 0-9, hyphen, period, * and ?");
  } else if (field == "http-request-method") {
    if (v.size() > 40) throw TooLong(field, 40);
    if (!std::all_of(v.begin(), v.end(), [](char c) { return (c >= 'A' && c <= 'Z') || c == '_' || c == '-'; })) {
      throw Invalid(field, "A-Z, hyphen and underscore");
    }
  } else if (field == "source-ip") {
    bool v4 = v.find(':') == std::string::npos;
    bool ok = v.find('/') != std::string::npos &&
              (v4 ? net::Ipv4Cidr::Parse(v).has_value() : net::Ipv6Cidr::Parse(v).has_value());
    if (!ok) throw ValidationError(fmt::format("The 'source-ip' value '{}' is not a valid CIDR block", v));
  } else if (field == "http-header") {
    if (v.size() > 128) throw TooLong(field, 128);
  }
}

}  // namespace

std::vector<RuleCondition> ParseConditions(const Json& list) {
  std::vector<RuleCondition> out;
  if (!list.is_array()) return out;
  std::set<std::string> once;
  size_t values = 0;
  for (const Json& j : list) {
    std::string field = JStr(j, "Field");
    // AWS's message (aws-sdk-js issue 2658, serverless-fargate-plugin issue 21).
    if (field.empty()) throw ValidationError("A condition field must be specified");
    const char* cfg = state::records::ConditionConfigMember(field);
    if (!cfg) {
      throw ValidationError(fmt::format(
          "Condition field '{}' must be one of '[path-pattern,host-header,http-header,http-request-method,"
          "query-string,source-ip]'",
          field));
    }
    if (j.contains("RegexValues")) {
      // Regex matching is newer than the data plane kecs renders (documented limit).
      throw ValidationError("Condition RegexValues are not supported by kecs");
    }
    const bool legacy = j.contains("Values");
    const bool config = j.contains(cfg);
    if (legacy && field != "host-header" && field != "path-pattern") {
      throw ValidationError(fmt::format("The 'Values' field is not compatible with '{}'", field));
    }
    if (legacy && config) {
      throw ValidationError(
          fmt::format("You cannot provide both Values and '{}' for a condition of type '{}'", cfg, field));
    }
    if (!legacy && !config) {
      if (field == "host-header" || field == "path-pattern") throw ValidationError("A condition value must be specified");
      throw ValidationError(fmt::format("A '{}' must be specified with '{}'", cfg, field));
    }
    if (legacy && j["Values"].is_array() && j["Values"].size() > 1) {
      // The legacy form takes one value (API reference, RuleCondition.Values).
      throw ValidationError(fmt::format("The '{}' field contains too many values; the limit is '1'", field));
    }
    auto parsed = state::records::ConditionFromAws(j);
    if (!parsed.ok()) throw ValidationError(std::string(parsed.status().message()));
    RuleCondition c = std::move(parsed).value();
    if (field != "http-header" && field != "query-string" && !once.insert(field).second) {
      // Each field at most once per rule but these two (ALB guide, "Rule condition types").
      throw ValidationError(fmt::format("The '{}' field can be specified only once per rule", field));
    }
    if (field == "query-string") {
      if (c.query.empty()) throw ValidationError("A condition value must be specified");
      for (const Json& p : j[cfg].value("Values", Json::array())) {
        if (!p.contains("Value")) throw ValidationError("A 'Value' must be specified in 'QueryStringKeyValuePair'");
      }
      for (const auto& [k, v] : c.query) {
        if (k.size() > 128) throw TooLong("Key", 128);
        if (v.size() > 128) throw TooLong("Value", 128);
        if (v.empty()) throw ValidationError("A condition value must be specified");
      }
      values += c.query.size();
    } else {
      if (field == "http-header") {
        const std::string& n = c.header_name;
        if (n.size() > 40) throw TooLong("HttpHeaderName", 40);
        // Header names are RFC 7230 tokens.
        if (n.empty() || !AllOf(n, "!#$%&'*+-.^_`|~")) {
          throw Invalid("HttpHeaderName", "A-Z, a-z, 0-9 and !#$%&'*+-.^_`|~");
        }
      }
      if (c.values.empty()) {
        if (field == "source-ip") throw ValidationError("A 'source-ip' value must be specified");
        throw ValidationError("A condition value must be specified");
      }
      for (const auto& v : c.values) CheckValue(field, v);
      values += c.values.size();
    }
    out.push_back(std::move(c));
  }
  if (values > 5) {
    // AWS's message (aws-cdk issue 10065, cfn-lint issue 3833).
    throw ValidationError("A rule can only have '5' condition values");
  }
  return out;
}

}  // namespace kecs::api::elbv2
