#pragma once
// Elastic Load Balancing (v2) as typed records: load balancers, listeners, rules, target
// groups and their targets.
//
// Each record is what the store holds for one resource (kinds below); the one conversion
// to and from the store's rows, and to AWS's shapes, is state/records/elb.h. The API
// handlers (api/elbv2/) parse requests into these records and show them back; the load
// balancer controller (reconcile/lb_controller.h) turns them into the runtime's
// LoadBalancerSpec and records what the data plane observes (target health) on them.
// Plain values: no locking, no ownership.
//
// Ids. A load balancer, listener, rule and target group each have a 16-hex id (the last
// part of the ARN), which is the store key; ARNs are AWS's:
//   arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<lb id>
//   ...:listener/app/<lb name>/<lb id>/<listener id>
//   ...:listener-rule/app/<lb name>/<lb id>/<listener id>/<rule id>
//   ...:targetgroup/<name>/<tg id>
// ("app" is "net" for a network load balancer).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kecs::model {

inline constexpr const char* kLoadBalancer = "elb:lb";     // id: lb id, parent: vpc, name: LoadBalancerName
inline constexpr const char* kListener = "elb:listener";   // id: listener id, parent: lb id
inline constexpr const char* kRule = "elb:rule";           // id: rule id, parent: listener id
inline constexpr const char* kTargetGroup = "elb:tg";      // id: tg id, parent: vpc, name: TargetGroupName

enum class LbType { kApplication, kNetwork, kGateway };
enum class LbScheme { kInternetFacing, kInternal };
enum class LbState { kActive, kProvisioning, kActiveImpaired, kFailed };
enum class LbProtocol { kHttp, kHttps, kTcp, kTls, kUdp, kTcpUdp, kGeneve, kQuic, kTcpQuic };
enum class TargetType { kInstance, kIp, kLambda, kAlb };
enum class TargetHealthState { kInitial, kHealthy, kUnhealthy, kUnhealthyDraining, kUnused, kDraining, kUnavailable };
enum class ActionType { kForward, kAuthenticateOidc, kAuthenticateCognito, kRedirect, kFixedResponse, kJwtValidation };

// AWS's spelling ("application", "internet-facing", "active", "HTTP", "ip", "initial",
// "fixed-response", ...); Parse* return nullopt for anything else.
std::string_view ToString(LbType v);
std::string_view ToString(LbScheme v);
std::string_view ToString(LbState v);
std::string_view ToString(LbProtocol v);
std::string_view ToString(TargetType v);
std::string_view ToString(TargetHealthState v);
std::string_view ToString(ActionType v);
std::optional<LbType> ParseLbType(std::string_view s);
std::optional<LbScheme> ParseLbScheme(std::string_view s);
std::optional<LbState> ParseLbState(std::string_view s);
std::optional<LbProtocol> ParseLbProtocol(std::string_view s);
std::optional<TargetType> ParseTargetType(std::string_view s);
std::optional<TargetHealthState> ParseTargetHealthState(std::string_view s);
std::optional<ActionType> ParseActionType(std::string_view s);

// A key/value pair as AWS lists them (tags, attributes).
using KeyValues = std::vector<std::pair<std::string, std::string>>;
// The value of `key`, or nullptr.
const std::string* FindValue(const KeyValues& kv, std::string_view key);
// Sets `key` (replacing its value, or appending it).
void SetValue(KeyValues& kv, std::string_view key, std::string value);

// ---- Load balancers ----

// One node of a load balancer: the ENI kecs creates for it in one of its subnets (AWS's
// AvailabilityZone entry). The ENI is an ordinary ec2:eni object (interface type
// "interface", requester-managed, description "ELB <app|net>/<name>/<id>"), so the VPC's
// security-group policy governs it like any other.
struct LbNode {
  std::string zone;       // us-east-1a
  std::string zone_id;    // use1-az6
  std::string subnet_id;
  std::string eni_id;
  std::string ip;         // the ENI's private IPv4 address
  std::string ipv6;       // dualstack: the ENI's IPv6 address
  bool operator==(const LbNode&) const = default;
};

struct LoadBalancer {
  // Store keys.
  std::string region;
  std::string id;         // 16 hex
  int64_t seq = 0;

  std::string arn;
  std::string name;
  std::string dns_name;   // <name>-<n>.<region>.elb.amazonaws.com (internal-<...> when internal)
  std::string canonical_hosted_zone_id;
  double created_time = 0;
  LbScheme scheme = LbScheme::kInternetFacing;
  std::string vpc_id;
  LbState state = LbState::kProvisioning;
  std::string state_reason;
  LbType type = LbType::kApplication;
  std::vector<LbNode> nodes;            // AvailabilityZones, in subnet order as given
  std::vector<std::string> security_groups;
  std::string ip_address_type = "ipv4";  // ipv4 | dualstack | dualstack-without-public-ipv4
  KeyValues attributes;                  // every attribute of the type, defaults filled in
  KeyValues tags;
  bool operator==(const LoadBalancer&) const = default;
};

// The attributes AWS lists for a type, with their defaults, in AWS's order.
KeyValues DefaultLoadBalancerAttributes(LbType type);

// ---- Rules and actions ----

struct TargetGroupWeight {
  std::string target_group_arn;
  int weight = 1;  // 0-999
  bool operator==(const TargetGroupWeight&) const = default;
};

struct Action {
  ActionType type = ActionType::kForward;
  std::optional<int> order;  // 1-50000
  // forward: `target_group_arn` as given (the short form), and/or `forward` (the
  // ForwardConfig form); AWS echoes both when it filled one from the other, and so does
  // the converter (see state/records/elb.h).
  std::string target_group_arn;
  std::vector<TargetGroupWeight> forward;
  bool forward_given = false;           // ForwardConfig was present
  std::optional<bool> stickiness_enabled;
  std::optional<int> stickiness_duration_s;
  // redirect (each part a template: "#{protocol}", "#{host}", "#{port}", "#{path}", "#{query}")
  std::string redirect_protocol = "#{protocol}";
  std::string redirect_port = "#{port}";
  std::string redirect_host = "#{host}";
  std::string redirect_path = "/#{path}";
  std::string redirect_query = "#{query}";
  std::string redirect_status;  // HTTP_301 | HTTP_302
  // fixed-response
  std::string fixed_status;     // "2XX".."5XX" as 3 digits
  std::optional<std::string> fixed_content_type;
  std::optional<std::string> fixed_body;
  bool operator==(const Action&) const = default;
};

// One rule condition. `field` is AWS's: host-header, path-pattern, http-header,
// http-request-method, query-string, source-ip. `values` are the patterns, whichever way
// they were given (the legacy `Values`, or the field's XxxConfig.Values); `legacy` says
// the legacy form was used (AWS then echoes both). http-header has `header_name`;
// query-string has `query` (key may be empty: any key).
struct RuleCondition {
  std::string field;
  std::vector<std::string> values;
  bool legacy = false;
  std::string header_name;
  std::vector<std::pair<std::string, std::string>> query;
  bool operator==(const RuleCondition&) const = default;
};

struct Rule {
  std::string region;
  std::string id;           // 16 hex
  int64_t seq = 0;
  std::string arn;
  std::string listener_id;  // parent
  std::string listener_arn;
  int priority = 0;         // 1-50000 (the default rule is the listener's, never stored)
  std::vector<RuleCondition> conditions;
  std::vector<Action> actions;
  KeyValues tags;
  bool operator==(const Rule&) const = default;
};

// ---- Listeners ----

struct ListenerCertificate {
  std::string arn;
  bool is_default = false;
  bool operator==(const ListenerCertificate&) const = default;
};

struct Listener {
  std::string region;
  std::string id;           // 16 hex
  int64_t seq = 0;
  std::string arn;
  std::string load_balancer_id;   // parent
  std::string load_balancer_arn;
  int port = 0;
  LbProtocol protocol = LbProtocol::kHttp;
  std::vector<ListenerCertificate> certificates;  // the default one first
  std::string ssl_policy;   // HTTPS/TLS only
  std::vector<std::string> alpn_policy;
  std::vector<Action> default_actions;
  std::string default_rule_id;  // the id of the default rule's ARN (DescribeRules)
  KeyValues attributes;
  KeyValues tags;
  // kecs: the port on the host that reaches this listener (from --lb-port-range), 0 while
  // none is held. Shown to users by GET /_kecs/v1/load-balancers and `kecs elb ls`
  // (AWS's Listener shape has no member for it).
  int host_port = 0;
  bool operator==(const Listener&) const = default;
};

// ---- Target groups ----

struct TargetHealthCheck {
  bool enabled = true;
  LbProtocol protocol = LbProtocol::kHttp;
  std::string port = "traffic-port";  // or a number
  std::string path;                   // HTTP/HTTPS: "/" by default
  int interval_s = 30;
  int timeout_s = 5;
  int healthy_threshold = 5;
  int unhealthy_threshold = 2;
  std::string matcher_http;            // "200", "200,202", "200-299" (HTTP/HTTPS)
  std::string matcher_grpc;
  bool operator==(const TargetHealthCheck&) const = default;
};

// A registered target and what kecs knows of its health. AWS's TargetHealthDescription is
// built from it (with `unused` when no listener uses the group, and the health-check
// port).
struct Target {
  std::string id;           // an IP address (ip), or an instance id (instance)
  int port = 0;             // the registration's port (the group's when omitted)
  std::string availability_zone;  // given, or the zone of the target's subnet
  double registered_at = 0;
  TargetHealthState state = TargetHealthState::kInitial;
  std::string reason;       // TargetHealthReasonEnum, "" for healthy
  std::string description;  // AWS's text for the reason
  // Deregistered: the target drains until `drain_until` (epoch seconds), then is removed.
  std::optional<double> drain_until;
  // kecs: the address and port the data plane connects to (for instance targets the
  // host's address and the registered port), resolved at registration.
  std::string address;
  bool operator==(const Target&) const = default;
};

struct TargetGroup {
  std::string region;
  std::string id;           // 16 hex
  int64_t seq = 0;
  std::string arn;
  std::string name;
  TargetType target_type = TargetType::kInstance;
  std::optional<LbProtocol> protocol;       // absent for lambda
  std::optional<int> port;
  std::string vpc_id;
  std::string protocol_version;             // HTTP1 | HTTP2 | GRPC (HTTP/HTTPS groups)
  std::string ip_address_type = "ipv4";
  TargetHealthCheck health_check;
  KeyValues attributes;                     // every attribute of the group's kind, defaults filled in
  KeyValues tags;
  std::vector<Target> targets;              // registration order
  bool operator==(const TargetGroup&) const = default;
};

// The attributes AWS lists for a target group of this type and protocol, with defaults.
KeyValues DefaultTargetGroupAttributes(TargetType type, std::optional<LbProtocol> protocol);

// ---- target health ----

// DescribeTargetHealth's reason codes kecs gives, as AWS words them: the "Health check
// reason codes" table of the Elastic Load Balancing User Guide for Application Load
// Balancers ("Health checks for your target groups"), also listed by the API reference's
// TargetHealth.
inline constexpr const char* kReasonRegistrationInProgress = "Elb.RegistrationInProgress";
inline constexpr const char* kReasonInitialHealthChecking = "Elb.InitialHealthChecking";
inline constexpr const char* kReasonDeregistrationInProgress = "Target.DeregistrationInProgress";
inline constexpr const char* kReasonNotInUse = "Target.NotInUse";
inline constexpr const char* kReasonNotRegistered = "Target.NotRegistered";
inline constexpr const char* kReasonHealthCheckDisabled = "Target.HealthCheckDisabled";
inline constexpr const char* kReasonFailedHealthChecks = "Target.FailedHealthChecks";
inline constexpr const char* kReasonTimeout = "Target.Timeout";
// AWS's description of one of the reason codes above; "" for another code.
std::string_view TargetHealthDescription(std::string_view reason);

// A target's health: its state, reason code and AWS's description (both empty when healthy).
struct TargetHealthView {
  TargetHealthState state = TargetHealthState::kInitial;
  std::string reason;
  std::string description;
  bool operator==(const TargetHealthView&) const = default;
};
TargetHealthView MakeTargetHealth(TargetHealthState state, std::string_view reason);
// A registered target's health from its record alone, as DescribeTargetHealth shows it:
// draining while deregistration is in progress; unused while no load balancer uses its
// group (`used`); unavailable with health checks disabled; else what the checks last
// recorded (healthy, unhealthy, initial while checking), or initial with registration in
// progress when no check has been recorded since the group came into use.
TargetHealthView RecordedTargetHealth(const TargetGroup& tg, const Target& target, bool used);

// The group's deregistration_delay.timeout_seconds (300, AWS's default, when unset or
// unreadable).
int DeregistrationDelaySeconds(const TargetGroup& tg);

// ---- ARNs and names ----

// "app" or "net" (or "gwy").
std::string_view ArnTypeWord(LbType type);
std::string LoadBalancerArn(const std::string& region, const std::string& account, LbType type,
                            const std::string& name, const std::string& id);
std::string ListenerArn(const LoadBalancer& lb, const std::string& account, const std::string& listener_id);
std::string RuleArn(const LoadBalancer& lb, const std::string& account, const std::string& listener_id,
                    const std::string& rule_id);
std::string TargetGroupArn(const std::string& region, const std::string& account, const std::string& name,
                           const std::string& id);
// The last path segment of an ELB ARN (the resource's id); "" when `arn` is not an ELB
// ARN of `resource` ("loadbalancer", "listener", "listener-rule", "targetgroup").
std::string IdFromArn(std::string_view arn, std::string_view resource);
// A fresh 16-hex id (OpenSSL's CSPRNG).
std::string NewElbId();

}  // namespace kecs::model
