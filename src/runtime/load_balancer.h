#pragma once
// The runtime's view of a load balancer: what the data plane must route, built by the
// load balancer controller (reconcile/lb_controller.h) from the typed ELB records, and
// what the data plane observes of the targets (health).
//
// Every id here is a 16-hex ELB id or an ENI id; every address is resolved (a target's
// `address` is where packets go: the task's ENI address for ip targets, the host's
// address for instance targets). Plain values.
#include <optional>
#include <string>
#include <vector>

#include "model/elb.h"

namespace kecs::runtime {

// Where a load balancer node sits: an ENI in one subnet of the VPC (the same facts a task's
// awsvpc NetworkSpec carries).
struct LbNodeSpec {
  std::string eni_id;
  std::string mac;
  std::string ip;
  int prefix_len = 0;
  std::string gateway;        // subnet base + 1
  std::string subnet_id;
  std::string subnet_cidr;
  std::string zone;
  std::string ipv6;
  std::string ipv6_prefix;
  bool operator==(const LbNodeSpec&) const = default;
};

struct LbTargetSpec {
  std::string id;             // as registered: an IP or an instance id
  std::string address;        // where to connect
  int port = 0;
  std::string zone;
  // Deregistered and draining: no new connections or requests; existing ones finish.
  bool draining = false;
  bool operator==(const LbTargetSpec&) const = default;
};

struct LbTargetGroupSpec {
  std::string id;
  std::string name;
  model::TargetType target_type = model::TargetType::kIp;
  model::LbProtocol protocol = model::LbProtocol::kHttp;
  std::string protocol_version = "HTTP1";
  model::TargetHealthCheck health_check;
  // From the attributes.
  int deregistration_delay_s = 300;
  bool stickiness = false;
  std::string stickiness_type;         // lb_cookie | app_cookie | source_ip
  int stickiness_duration_s = 86400;
  std::string app_cookie_name;
  std::string algorithm = "round_robin";  // round_robin | least_outstanding_requests
  int slow_start_s = 0;
  std::optional<bool> cross_zone;      // nullopt: the load balancer's setting
  bool preserve_client_ip = true;      // network load balancers
  std::vector<LbTargetSpec> targets;   // registration order
  bool operator==(const LbTargetGroupSpec&) const = default;
};

struct LbRuleSpec {
  std::string id;
  int priority = 0;
  std::vector<model::RuleCondition> conditions;
  std::vector<model::Action> actions;  // forward actions name target groups by ARN
  bool operator==(const LbRuleSpec&) const = default;
};

struct LbListenerSpec {
  std::string id;
  int port = 0;
  model::LbProtocol protocol = model::LbProtocol::kHttp;
  int host_port = 0;                      // published on the host; 0: not published
  std::vector<model::Action> default_actions;
  std::vector<LbRuleSpec> rules;          // by priority, lowest first
  std::string ssl_policy;
  bool operator==(const LbListenerSpec&) const = default;
};

struct LoadBalancerSpec {
  std::string id;
  std::string arn;
  std::string name;
  std::string region;
  std::string dns_name;
  model::LbType type = model::LbType::kApplication;
  model::LbScheme scheme = model::LbScheme::kInternetFacing;
  // The VPC (as a task's NetworkSpec names it: the router the nodes attach to).
  std::string vpc_id;
  std::string vpc_cidr;
  std::vector<std::string> vpc_cidrs;
  int transit_slot = -1;
  std::string dns_server;                 // the VPC resolver
  std::vector<LbNodeSpec> nodes;
  std::vector<LbListenerSpec> listeners;
  std::vector<LbTargetGroupSpec> target_groups;  // every group a listener or rule uses
  // From the attributes.
  bool cross_zone = true;
  int idle_timeout_s = 60;
  bool http2 = true;
  bool xff_client_port = false;
  bool preserve_host_header = false;
  std::string xff_mode = "append";        // append | preserve | remove
  bool drop_invalid_header_fields = false;
  bool operator==(const LoadBalancerSpec&) const = default;
};

// What the data plane saw of one target on its last checks.
struct TargetObservation {
  std::string target_group_id;
  std::string target_id;
  int port = 0;
  // kHealthy, kUnhealthy, or kInitial (checks not conclusive yet); kUnavailable when the
  // data plane could not tell (the proxy is not running).
  model::TargetHealthState state = model::TargetHealthState::kInitial;
  std::string reason;       // Target.FailedHealthChecks, Target.Timeout, Target.ResponseCodeMismatch, ...
  std::string description;  // AWS's text, e.g. "Health checks failed with these codes: [503]"
  // For a target an application load balancer's data plane already drains: its requests in
  // flight (and queued) over all nodes. -1 when not known, when the target is not draining
  // there, and for network load balancers (whose deregistration lasts the whole delay). 0
  // ends its deregistration at once, as on AWS.
  int connections = -1;
  bool operator==(const TargetObservation&) const = default;
};

}  // namespace kecs::runtime
