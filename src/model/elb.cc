#include "model/elb.h"

#include <charconv>
#include <utility>

#include "base/ids.h"
#include "model/enum_words.h"

namespace kecs::model {
namespace {

constexpr EnumWords<LbType, 3> kLbType{{"application", "network", "gateway"}};
constexpr EnumWords<LbScheme, 2> kLbScheme{{"internet-facing", "internal"}};
constexpr EnumWords<LbState, 4> kLbState{{"active", "provisioning", "active_impaired", "failed"}};
constexpr EnumWords<LbProtocol, 9> kLbProtocol{
    {"HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"}};
constexpr EnumWords<TargetType, 4> kTargetType{{"instance", "ip", "lambda", "alb"}};
constexpr EnumWords<TargetHealthState, 7> kTargetHealthState{
    {"initial", "healthy", "unhealthy", "unhealthy.draining", "unused", "draining", "unavailable"}};
constexpr EnumWords<ActionType, 6> kActionType{{"forward", "authenticate-oidc", "authenticate-cognito",
                                                "redirect", "fixed-response", "jwt-validation"}};

}  // namespace

std::string_view ToString(LbType v) { return kLbType.Get(v); }
std::string_view ToString(LbScheme v) { return kLbScheme.Get(v); }
std::string_view ToString(LbState v) { return kLbState.Get(v); }
std::string_view ToString(LbProtocol v) { return kLbProtocol.Get(v); }
std::string_view ToString(TargetType v) { return kTargetType.Get(v); }
std::string_view ToString(TargetHealthState v) { return kTargetHealthState.Get(v); }
std::string_view ToString(ActionType v) { return kActionType.Get(v); }
std::optional<LbType> ParseLbType(std::string_view s) { return kLbType.Parse(s); }
std::optional<LbScheme> ParseLbScheme(std::string_view s) { return kLbScheme.Parse(s); }
std::optional<LbState> ParseLbState(std::string_view s) { return kLbState.Parse(s); }
std::optional<LbProtocol> ParseLbProtocol(std::string_view s) { return kLbProtocol.Parse(s); }
std::optional<TargetType> ParseTargetType(std::string_view s) { return kTargetType.Parse(s); }
std::optional<TargetHealthState> ParseTargetHealthState(std::string_view s) { return kTargetHealthState.Parse(s); }
std::optional<ActionType> ParseActionType(std::string_view s) { return kActionType.Parse(s); }

const std::string* FindValue(const KeyValues& kv, std::string_view key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return &v;
  }
  return nullptr;
}

void SetValue(KeyValues& kv, std::string_view key, std::string value) {
  for (auto& [k, v] : kv) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv.emplace_back(std::string(key), std::move(value));
}

// The attribute lists and defaults are those of the ELBv2 API reference
// (LoadBalancerAttribute, TargetGroupAttribute); the API layer may refine them.
KeyValues DefaultLoadBalancerAttributes(LbType type) {
  if (type == LbType::kNetwork) {
    return {{"access_logs.s3.enabled", "false"},
            {"access_logs.s3.bucket", ""},
            {"access_logs.s3.prefix", ""},
            {"deletion_protection.enabled", "false"},
            {"load_balancing.cross_zone.enabled", "false"},
            {"dns_record.client_routing_policy", "any_availability_zone"},
            {"zonal_shift.config.enabled", "false"}};
  }
  return {{"access_logs.s3.enabled", "false"},
          {"access_logs.s3.bucket", ""},
          {"access_logs.s3.prefix", ""},
          {"idle_timeout.timeout_seconds", "60"},
          {"deletion_protection.enabled", "false"},
          {"routing.http2.enabled", "true"},
          {"routing.http.drop_invalid_header_fields.enabled", "false"},
          {"routing.http.xff_client_port.enabled", "false"},
          {"routing.http.preserve_host_header.enabled", "false"},
          {"routing.http.xff_header_processing.mode", "append"},
          {"load_balancing.cross_zone.enabled", "true"},
          {"routing.http.desync_mitigation_mode", "defensive"},
          {"client_keep_alive.seconds", "3600"},
          {"waf.fail_open.enabled", "false"},
          {"routing.http.x_amzn_tls_version_and_cipher_suite.enabled", "false"},
          {"connection_logs.s3.enabled", "false"},
          {"connection_logs.s3.bucket", ""},
          {"connection_logs.s3.prefix", ""},
          {"zonal_shift.config.enabled", "false"}};
}

KeyValues DefaultTargetGroupAttributes(TargetType type, std::optional<LbProtocol> protocol) {
  const bool l4 = protocol && (*protocol == LbProtocol::kTcp || *protocol == LbProtocol::kUdp ||
                               *protocol == LbProtocol::kTcpUdp || *protocol == LbProtocol::kTls);
  if (type == TargetType::kLambda) {
    return {{"lambda.multi_value_headers.enabled", "false"}};
  }
  if (l4) {
    const bool udp = *protocol == LbProtocol::kUdp || *protocol == LbProtocol::kTcpUdp;
    const bool preserve = type == TargetType::kInstance || udp;
    return {{"deregistration_delay.timeout_seconds", "300"},
            {"deregistration_delay.connection_termination.enabled", "false"},
            {"stickiness.enabled", "false"},
            {"stickiness.type", "source_ip"},
            {"proxy_protocol_v2.enabled", "false"},
            {"preserve_client_ip.enabled", preserve ? "true" : "false"},
            {"load_balancing.cross_zone.enabled", "use_load_balancer_configuration"},
            {"target_health_state.unhealthy.connection_termination.enabled", "true"},
            {"target_health_state.unhealthy.draining_interval_seconds", "0"},
            {"target_group_health.dns_failover.minimum_healthy_targets.count", "1"},
            {"target_group_health.dns_failover.minimum_healthy_targets.percentage", "off"},
            {"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", "1"},
            {"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", "off"}};
  }
  return {{"deregistration_delay.timeout_seconds", "300"},
          {"stickiness.enabled", "false"},
          {"stickiness.type", "lb_cookie"},
          {"stickiness.lb_cookie.duration_seconds", "86400"},
          {"stickiness.app_cookie.cookie_name", ""},
          {"stickiness.app_cookie.duration_seconds", "86400"},
          {"load_balancing.algorithm.type", "round_robin"},
          {"load_balancing.algorithm.anomaly_mitigation", "off"},
          {"slow_start.duration_seconds", "0"},
          {"load_balancing.cross_zone.enabled", "use_load_balancer_configuration"},
          {"target_group_health.dns_failover.minimum_healthy_targets.count", "1"},
          {"target_group_health.dns_failover.minimum_healthy_targets.percentage", "off"},
          {"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", "1"},
          {"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", "off"}};
}

std::string_view TargetHealthDescription(std::string_view reason) {
  // AWS's descriptions (the reason code table cited in elb.h).
  static constexpr std::pair<std::string_view, std::string_view> kTexts[] = {
      {kReasonRegistrationInProgress, "Target registration is in progress"},
      {kReasonInitialHealthChecking, "Initial health checks in progress"},
      {kReasonDeregistrationInProgress, "Target deregistration is in progress"},
      {kReasonNotInUse, "Target group is not configured to receive traffic from the load balancer"},
      {kReasonNotRegistered, "Target is not registered to the target group"},
      {kReasonHealthCheckDisabled, "Health checks are disabled"},
      {kReasonFailedHealthChecks, "Health checks failed"},
      {kReasonTimeout, "Request timed out"},
  };
  for (const auto& [code, text] : kTexts) {
    if (code == reason) return text;
  }
  return "";
}

TargetHealthView MakeTargetHealth(TargetHealthState state, std::string_view reason) {
  return {state, std::string(reason), std::string(TargetHealthDescription(reason))};
}

TargetHealthView RecordedTargetHealth(const TargetGroup& tg, const Target& target, bool used) {
  if (target.drain_until) return MakeTargetHealth(TargetHealthState::kDraining, kReasonDeregistrationInProgress);
  if (!used) return MakeTargetHealth(TargetHealthState::kUnused, kReasonNotInUse);
  if (!tg.health_check.enabled) return MakeTargetHealth(TargetHealthState::kUnavailable, kReasonHealthCheckDisabled);
  switch (target.state) {
    case TargetHealthState::kHealthy: return {TargetHealthState::kHealthy, "", ""};
    case TargetHealthState::kUnhealthy: return {target.state, target.reason, target.description};
    case TargetHealthState::kInitial:
      if (target.reason == kReasonInitialHealthChecking) return {target.state, target.reason, target.description};
      break;
    default:
      break;  // recorded while unused, draining or unchecked: the group has just come into use
  }
  return MakeTargetHealth(TargetHealthState::kInitial, kReasonRegistrationInProgress);
}

int DeregistrationDelaySeconds(const TargetGroup& tg) {
  const std::string* v = FindValue(tg.attributes, "deregistration_delay.timeout_seconds");
  int seconds = 300;
  if (v) {
    int parsed = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
    if (ec == std::errc() && end == v->data() + v->size() && parsed >= 0) seconds = parsed;
  }
  return seconds;
}

std::string_view ArnTypeWord(LbType type) {
  switch (type) {
    case LbType::kNetwork: return "net";
    case LbType::kGateway: return "gwy";
    case LbType::kApplication: break;
  }
  return "app";
}

namespace {
std::string Prefix(const std::string& region, const std::string& account) {
  return "arn:aws:elasticloadbalancing:" + region + ":" + account + ":";
}
}  // namespace

std::string LoadBalancerArn(const std::string& region, const std::string& account, LbType type,
                            const std::string& name, const std::string& id) {
  return Prefix(region, account) + "loadbalancer/" + std::string(ArnTypeWord(type)) + "/" + name + "/" + id;
}

std::string ListenerArn(const LoadBalancer& lb, const std::string& account, const std::string& listener_id) {
  return Prefix(lb.region, account) + "listener/" + std::string(ArnTypeWord(lb.type)) + "/" + lb.name + "/" +
         lb.id + "/" + listener_id;
}

std::string RuleArn(const LoadBalancer& lb, const std::string& account, const std::string& listener_id,
                    const std::string& rule_id) {
  return Prefix(lb.region, account) + "listener-rule/" + std::string(ArnTypeWord(lb.type)) + "/" + lb.name +
         "/" + lb.id + "/" + listener_id + "/" + rule_id;
}

std::string TargetGroupArn(const std::string& region, const std::string& account, const std::string& name,
                           const std::string& id) {
  return Prefix(region, account) + "targetgroup/" + name + "/" + id;
}

std::string IdFromArn(std::string_view arn, std::string_view resource) {
  constexpr std::string_view kPrefix = "arn:aws:elasticloadbalancing:";
  if (arn.substr(0, kPrefix.size()) != kPrefix) return "";
  // arn:aws:elasticloadbalancing:<region>:<account>:<resource>/...
  size_t pos = kPrefix.size();
  for (int i = 0; i < 2; ++i) {
    pos = arn.find(':', pos);
    if (pos == std::string_view::npos) return "";
    ++pos;
  }
  std::string_view rest = arn.substr(pos);
  if (rest.substr(0, resource.size()) != resource || rest.size() <= resource.size() ||
      rest[resource.size()] != '/') {
    return "";
  }
  size_t slash = rest.rfind('/');
  std::string_view id = rest.substr(slash + 1);
  if (id.size() != 16) return "";
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "";
  }
  return std::string(id);
}

std::string NewElbId() { return RandomHex(16); }

}  // namespace kecs::model
