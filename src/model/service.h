#pragma once
// ECS services and their deployments as typed records.
//
// A Service is what the store holds for one ECS service (kind model::kService, id
// "<cluster>/<name>"): the members of the ECS model's `Service` shape the scheduler and the
// API work with, typed, and the members kecs only carries through (network
// configuration, placement, tags, ...) as the JSON the client sent. What kecs keeps for
// itself (the steady-state flag, the last completed deployment, the create clientToken,
// strict mode) is in `ServiceInternal`, never in the AWS document. The one conversion to
// and from JSON is state/records/services.h. Plain values: no locking, no ownership.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"

namespace kecs::model {

enum class ServiceStatus { kActive, kDraining, kInactive };
enum class DeploymentStatus { kPrimary, kActive, kInactive };
enum class RolloutState { kInProgress, kCompleted, kFailed };
enum class SchedulingStrategy { kReplica, kDaemon };

// AWS's spelling ("ACTIVE", "PRIMARY", "IN_PROGRESS", "DAEMON", ...); Parse* return
// nullopt for anything else.
std::string_view ToString(ServiceStatus s);
std::string_view ToString(DeploymentStatus s);
std::string_view ToString(RolloutState s);
std::string_view ToString(SchedulingStrategy s);
std::optional<ServiceStatus> ParseServiceStatus(std::string_view s);
std::optional<DeploymentStatus> ParseDeploymentStatus(std::string_view s);
std::optional<RolloutState> ParseRolloutState(std::string_view s);
std::optional<SchedulingStrategy> ParseSchedulingStrategy(std::string_view s);

struct DeploymentConfiguration {
  int maximum_percent = 200;
  int minimum_healthy_percent = 100;
  bool circuit_breaker_enable = false;
  bool circuit_breaker_rollback = false;
  Json other = Json::object();  // members kecs does not act on (alarms, strategy, ...), as given
  bool operator==(const DeploymentConfiguration&) const = default;
};

struct Deployment {
  std::string id;  // "ecs-svc/<19 digits>"
  DeploymentStatus status = DeploymentStatus::kPrimary;
  std::string task_definition;  // ARN
  int desired_count = 0;
  int pending_count = 0;  // filled in for a view; not stored meaningfully
  int running_count = 0;
  int failed_tasks = 0;
  double created_at = 0;  // epoch seconds
  double updated_at = 0;
  std::optional<std::string> launch_type;
  std::optional<std::string> platform_version;
  Json capacity_provider_strategy;  // null: absent
  Json network_configuration;       // null: absent
  RolloutState rollout_state = RolloutState::kInProgress;
  std::string rollout_state_reason;
  bool operator==(const Deployment&) const = default;
};

// One of the service's load balancers (ECS's LoadBalancer shape): an ELBv2 target group
// (targetGroupArn) or a Classic Load Balancer (loadBalancerName, which kecs does not
// run), and the container and port its targets are. Empty strings and nullopt are
// members the client did not give (they are not shown).
struct ServiceLoadBalancer {
  std::string target_group_arn;
  std::string load_balancer_name;
  std::string container_name;
  std::optional<int64_t> container_port;
  bool operator==(const ServiceLoadBalancer&) const = default;
};

// A Cloud Map registry of the service (ECS's ServiceRegistry shape).
struct ServiceRegistry {
  std::string registry_arn;
  std::optional<int64_t> port;
  std::optional<std::string> container_name;
  std::optional<int64_t> container_port;
  bool operator==(const ServiceRegistry&) const = default;
};

struct ServiceEvent {
  std::string id;
  double created_at = 0;
  std::string message;
  bool operator==(const ServiceEvent&) const = default;
};

// kecs's own bookkeeping for a service.
struct ServiceInternal {
  // The scheduler has announced "has reached a steady state." for the current work.
  bool steady = false;
  // The last deployment that COMPLETED: a later deployment's rollback returns to it.
  std::optional<Deployment> last_completed;
  // The clientToken of the CreateService that made it (a retry gets the service back).
  std::optional<std::string> client_token;
  // Created in --strict mode: its tasks launch under the strict rules.
  bool strict = false;
  bool operator==(const ServiceInternal&) const = default;
};

struct Service {
  // Store keys.
  std::string region;
  std::string cluster;  // cluster name
  std::string name;     // serviceName
  int64_t seq = 0;

  std::string arn;
  std::string cluster_arn;
  ServiceStatus status = ServiceStatus::kActive;
  int desired_count = 0;
  int running_count = 0;  // filled in for a view
  int pending_count = 0;
  std::optional<std::string> launch_type;
  Json capacity_provider_strategy;  // null: absent
  std::optional<std::string> platform_version;
  std::optional<std::string> platform_family;
  std::string task_definition;  // ARN of the PRIMARY deployment's task definition
  DeploymentConfiguration deployment_configuration;
  std::vector<Deployment> deployments;  // newest (PRIMARY) first
  std::vector<ServiceEvent> events;     // newest first, at most kMaxServiceEvents
  double created_at = 0;
  std::vector<ServiceLoadBalancer> load_balancers;
  std::vector<ServiceRegistry> service_registries;
  Json network_configuration;  // null: absent
  Json placement_constraints = Json::array();
  Json placement_strategy = Json::array();
  std::optional<int64_t> health_check_grace_period_seconds;
  SchedulingStrategy scheduling_strategy = SchedulingStrategy::kReplica;
  std::string deployment_controller = "ECS";
  Json tags = Json::array();
  std::string created_by;
  bool enable_ecs_managed_tags = false;
  std::string propagate_tags = "NONE";
  bool enable_execute_command = false;
  Json other = Json::object();  // stored members not modelled above, kept as they were

  ServiceInternal internal;

  // The store id: "<cluster>/<name>".
  std::string Key() const { return cluster + "/" + name; }
  Deployment* Primary() { return deployments.empty() ? nullptr : &deployments.front(); }
  const Deployment* Primary() const { return deployments.empty() ? nullptr : &deployments.front(); }
  bool operator==(const Service&) const = default;
};

inline constexpr size_t kMaxServiceEvents = 100;

// Adds an event (newest first, at most kMaxServiceEvents kept); a repeat of the newest
// message is dropped, since it says nothing new.
void AddServiceEvent(Service& service, double now, const std::string& message);

// A new deployment id in ECS's format: "ecs-svc/" and 19 digits.
std::string NewDeploymentId();

}  // namespace kecs::model
