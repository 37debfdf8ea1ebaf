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

// ---- Service deployments and service revisions (ECS's deployment history, 2024) ----------
//
// Every deployment kecs starts (CreateService's first one, each UpdateService that needs
// one, a rollback) is recorded as a ServiceDeployment (kind kServiceDeployment) of the
// service revision it deploys (a ServiceRevision, kind kServiceRevision: the
// configuration the deployment's tasks run). Store ids are "<cluster>/<service>/<id>",
// parent "<cluster>/<service>", so a service's history is one parent query. A deployment
// starts IN_PROGRESS, ends SUCCESSFUL when the scheduler completes it, STOPPED when a newer
// deployment supersedes it or the circuit breaker fails it without rollback, and goes
// ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL when the circuit breaker or
// StopServiceDeployment rolls it back (reconcile/deployment_history.h does the moves).
// The history goes with the service on DeleteService, as ECS's does.

namespace kecs::model {

enum class ServiceDeploymentStatus {
  kPending,
  kSuccessful,
  kStopped,
  kStopRequested,
  kInProgress,
  kRollbackRequested,
  kRollbackInProgress,
  kRollbackSuccessful,
  kRollbackFailed,
};
std::string_view ToString(ServiceDeploymentStatus s);
std::optional<ServiceDeploymentStatus> ParseServiceDeploymentStatus(std::string_view s);
// PENDING, IN_PROGRESS, STOP_REQUESTED, ROLLBACK_REQUESTED and ROLLBACK_IN_PROGRESS: the
// deployment has not finished (the developer guide's "Pending" and "Ongoing" stages).
bool IsOngoing(ServiceDeploymentStatus s);

// A service revision (ECS's ServiceRevision shape): what one deployment's tasks run.
struct ServiceRevision {
  // Store keys.
  std::string region;
  std::string cluster;
  std::string service;
  std::string id;  // 19 digits, as ECS's revision ids

  std::string arn;  // arn:aws:ecs:REGION:ACCOUNT:service-revision/CLUSTER/SERVICE/ID
  std::string service_arn;
  std::string cluster_arn;
  std::string task_definition;  // ARN
  Json capacity_provider_strategy;  // null: absent
  std::optional<std::string> launch_type;
  std::optional<std::string> platform_version;
  std::optional<std::string> platform_family;
  std::vector<ServiceLoadBalancer> load_balancers;
  std::vector<ServiceRegistry> service_registries;
  Json network_configuration;  // null: absent
  // [{"containerName", "image", "imageDigest"?}]: the digest once a task of the revision
  // has pulled the image.
  Json container_images = Json::array();
  double created_at = 0;
  bool operator==(const ServiceRevision&) const = default;
};

// A revision's part in a deployment (ECS's ServiceRevisionSummary).
struct ServiceRevisionSummary {
  std::string arn;
  int requested_task_count = 0;
  int running_task_count = 0;
  int pending_task_count = 0;
  bool operator==(const ServiceRevisionSummary&) const = default;
};

struct ServiceDeploymentRollback {
  std::string reason;
  double started_at = 0;
  std::string service_revision_arn;
  bool operator==(const ServiceDeploymentRollback&) const = default;
};

struct ServiceDeployment {
  // Store keys.
  std::string region;
  std::string cluster;
  std::string service;
  std::string id;  // 21 characters of [A-Za-z0-9_-], as ECS's
  int64_t seq = 0;  // the row's insertion order: newest first is descending seq

  std::string arn;  // arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID
  std::string service_arn;
  std::string cluster_arn;
  ServiceDeploymentStatus status = ServiceDeploymentStatus::kInProgress;
  std::string status_reason;  // "": absent
  double created_at = 0;
  std::optional<double> started_at;
  std::optional<double> finished_at;
  std::optional<double> stopped_at;
  double updated_at = 0;
  // Task counts are kept as they were when the deployment finished; while it runs the API
  // fills them in from the tasks.
  std::vector<ServiceRevisionSummary> source_revisions;
  ServiceRevisionSummary target_revision;
  DeploymentConfiguration deployment_configuration;
  std::optional<ServiceDeploymentRollback> rollback;
  // deploymentCircuitBreaker: status TRIGGERED, MONITORING, MONITORING_COMPLETE or DISABLED.
  std::string circuit_breaker_status = "DISABLED";
  int failure_count = 0;
  int threshold = 0;
  std::string alarms_status = "DISABLED";

  // kecs's own: the service's deployment ("ecs-svc/...") that carries the target revision,
  // and the one started to roll it back ("" if none), so the scheduler can find the record.
  std::string deployment_id;
  std::string rollback_deployment_id;
  // The source revisions, each with the deployment id that ran it (same order).
  std::vector<std::string> source_deployment_ids;

  std::string Key() const { return cluster + "/" + service + "/" + id; }
  bool operator==(const ServiceDeployment&) const = default;
};

// How many deployments (and the revisions they name) are kept per service: ECS keeps 90
// days of history (service-deployment.html); kecs keeps the newest 100, enough for any
// ListServiceDeployments page (maxResults <= 100), so the store does not grow with every
// UpdateService.
inline constexpr size_t kMaxServiceDeploymentsKept = 100;

// New ids in ECS's formats: 21 URL-safe characters for a service deployment (as in
// "service-deployment/c/s/r9i43YFjvgF_xlg7m2eJ1r"), 19 digits for a service revision.
std::string NewServiceDeploymentId();
std::string NewServiceRevisionId();

}  // namespace kecs::model
