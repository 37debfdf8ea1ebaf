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
#include <array>
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

// ---- Deployment strategies (issue 18): BLUE_GREEN, LINEAR and CANARY deployments of a
// service behind an ALB (reconcile/traffic_shift.h runs them). Members are as the client
// gave them (nullopt / "" / null: not given) so DescribeServices shows them back as given.
struct DeploymentLifecycleHook {
  std::string target_type;  // AWS_LAMBDA | PAUSE; "": not given (AWS_LAMBDA)
  std::string hook_target_arn;
  std::string role_arn;
  std::vector<std::string> lifecycle_stages;
  Json hook_details;           // null: absent
  Json timeout_configuration;  // null: absent ({timeoutInMinutes, action})
  std::string TargetType() const { return target_type.empty() ? "AWS_LAMBDA" : target_type; }
  bool operator==(const DeploymentLifecycleHook&) const = default;
};

struct LinearConfiguration {
  std::optional<double> step_percent;              // default 10.0
  std::optional<int> step_bake_time_in_minutes;    // default 6
  bool operator==(const LinearConfiguration&) const = default;
};

struct CanaryConfiguration {
  std::optional<double> canary_percent;             // default 5.0
  std::optional<int> canary_bake_time_in_minutes;   // default 10
  bool operator==(const CanaryConfiguration&) const = default;
};

struct DeploymentAlarms {
  std::vector<std::string> alarm_names;
  bool enable = false;
  bool rollback = false;
  bool operator==(const DeploymentAlarms&) const = default;
};

// A load balancer's blue/green settings (ECS's AdvancedConfiguration).
struct AdvancedConfiguration {
  std::string alternate_target_group_arn;
  std::string production_listener_rule;
  std::string test_listener_rule;
  std::string role_arn;
  bool operator==(const AdvancedConfiguration&) const = default;
};

struct DeploymentConfiguration {
  int maximum_percent = 200;
  int minimum_healthy_percent = 100;
  bool circuit_breaker_enable = false;
  bool circuit_breaker_rollback = false;
  Json other = Json::object();  // members kecs does not act on, as given
  // Issue 18 (appended): the deployment strategy and its settings, typed.
  std::optional<std::string> strategy;  // ROLLING | BLUE_GREEN | LINEAR | CANARY; nullopt: ROLLING
  std::optional<int> bake_time_in_minutes;
  std::optional<std::vector<DeploymentLifecycleHook>> lifecycle_hooks;
  std::optional<LinearConfiguration> linear;
  std::optional<CanaryConfiguration> canary;
  std::optional<DeploymentAlarms> alarms;
  std::string Strategy() const { return strategy.value_or("ROLLING"); }
  // BLUE_GREEN, LINEAR or CANARY: deployments shift traffic between two target groups.
  bool ShiftsTraffic() const { return Strategy() != "ROLLING"; }
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
  std::optional<AdvancedConfiguration> advanced;  // issue 18 (appended): blue/green settings
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

// ---- Task sets (issue 18): a service with the EXTERNAL or CODE_DEPLOY deployment
// controller runs its tasks in task sets instead of deployments. Each task set keeps
// computedDesiredCount = ceil(service desiredCount x scale%) tasks of its own task
// definition and network configuration, registered in its own target groups and Cloud
// Map registries; the PRIMARY one serves production traffic. A deleted task set is
// DRAINING until its tasks are gone, then leaves the service.
enum class TaskSetStatus { kPrimary, kActive, kDraining };
enum class StabilityStatus { kSteadyState, kStabilizing };
std::string_view ToString(TaskSetStatus s);
std::string_view ToString(StabilityStatus s);
std::optional<TaskSetStatus> ParseTaskSetStatus(std::string_view s);
std::optional<StabilityStatus> ParseStabilityStatus(std::string_view s);

struct TaskSet {
  std::string id;   // "ecs-svc/<19 digits>", as a deployment id; the tasks' startedBy
  std::string arn;  // arn:aws:ecs:REGION:ACCOUNT:task-set/CLUSTER/SERVICE/ID
  std::string service_arn;
  std::string cluster_arn;
  std::string started_by;   // "": absent (CODE_DEPLOY for a CodeDeploy-made set)
  std::string external_id;  // "": absent
  TaskSetStatus status = TaskSetStatus::kActive;
  std::string task_definition;  // ARN
  int computed_desired_count = 0;
  int pending_count = 0;  // filled in for a view
  int running_count = 0;
  double created_at = 0;
  double updated_at = 0;
  std::optional<std::string> launch_type;
  Json capacity_provider_strategy;  // null: absent
  std::optional<std::string> platform_version;
  std::optional<std::string> platform_family;
  Json network_configuration;  // null: absent
  std::vector<ServiceLoadBalancer> load_balancers;
  std::vector<ServiceRegistry> service_registries;
  double scale = 0;  // percent of the service's desiredCount (unit PERCENT, the only one)
  StabilityStatus stability_status = StabilityStatus::kStabilizing;
  double stability_status_at = 0;
  Json tags = Json::array();
  bool operator==(const TaskSet&) const = default;
};

// computedDesiredCount: the service's desiredCount times scale percent, rounded up (the
// TaskSet shape's documentation: "if the computed desired count is 1.2, it rounds up to 2
// tasks"); 0 for a negative or non-finite product. A product within 1e-9 of a whole
// number is that number, so 3 x 33.333333333% is 1, not 2.
int ComputedDesiredCount(int service_desired, double scale_percent);

// A BLUE_GREEN, LINEAR or CANARY deployment in progress (kecs's own; see
// reconcile/traffic_shift.h for the stages).
struct TrafficShift {
  std::string green;  // the deployment shifted to
  std::string blue;   // the deployment that served before it
  std::string stage;  // ECS's ServiceDeploymentLifecycleStage
  double stage_at = 0;        // when the stage, or the production step, began (epoch s)
  double green_percent = 0;   // production traffic on green
  int hook = 0;               // the next lifecycle hook of the stage to run
  int step_phase = 0;         // production shift: 0 before a step's hooks, 1 after the step, 2 baking
  std::string paused_hook;    // the PAUSE hook awaiting ContinueServiceDeployment ("" none)
  std::string action;         // CONTINUE | ROLLBACK asked for that hook, or ROLLBACK by a stop
  std::string reason;         // why a ROLLBACK was asked for
  // Appended (review 18b): the paused hook's expiry (epoch s) and timeoutAction, kept here
  // as well as in the service deployment's lifecycleHookDetails, so a pause still ends
  // when that record is gone (0 and "": not known, the record's are used).
  double expires_at = 0;
  std::string timeout_action;
  // The deployment failed without rollback: blue keeps all the traffic and its tasks,
  // green's tasks are stopped, and the service stays so until a newer deployment.
  bool failed = false;
  bool operator==(const TrafficShift&) const = default;
};

// The stages a traffic shift goes through, in order (the model's
// ServiceDeploymentLifecycleStage); a stored TrafficShift::stage is "" or one of them.
inline constexpr std::array<std::string_view, 10> kShiftStages = {
    "RECONCILE_SERVICE",        "PRE_SCALE_UP",
    "SCALE_UP",                 "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",       "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",                "CLEAN_UP"};

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
  // CreateTaskSet clientTokens: {token: task set id} (a retry gets its task set back).
  Json task_set_tokens = Json::object();
  // Issue 18 (appended): traffic-shifting deployments (reconcile/traffic_shift.h).
  // Deployments whose tasks register in the load balancers' alternateTargetGroupArn
  // instead of their targetGroupArn.
  std::vector<std::string> alternate_deployments;
  // The deployment being shifted to, and where it is; nullopt when none is.
  std::optional<TrafficShift> shift;
  // The last deployment a shift was started for (a deployment is shifted to once).
  std::string shifted;
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

  // Task sets (EXTERNAL and CODE_DEPLOY deployment controllers), oldest first.
  std::vector<TaskSet> task_sets;
  bool UsesTaskSets() const { return deployment_controller != "ECS"; }
  TaskSet* FindTaskSet(const std::string& id_or_arn);

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

// The load balancers and registries a task of the service registers in: its task set's
// when `deployment_id` (the task's internal.deployment) names one of the service's task
// sets, else the service's own.
// A deployment listed in internal.alternate_deployments (a BLUE_GREEN, LINEAR or CANARY
// deployment's tasks, issue 18) registers in each load balancer's alternateTargetGroupArn.
std::vector<ServiceLoadBalancer> LoadBalancersOf(const Service& service, const std::string& deployment_id);
const std::vector<ServiceRegistry>& RegistriesOf(const Service& service, const std::string& deployment_id);

// Sets each task set's computedDesiredCount from the service's desiredCount and its scale
// (0 for a DRAINING task set, and for every one of a service that is not ACTIVE); a task
// set whose count changes gets updatedAt `now`. Returns true when any changed.
bool RecomputeTaskSetCounts(Service& service, double now);

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
  // Issue 18 (appended): the lifecycle stage of a BLUE_GREEN, LINEAR or CANARY deployment
  // ("" for a rolling one) and its hooks' details (ECS's DeploymentLifecycleHookDetail
  // shapes, as shown).
  std::string lifecycle_stage;
  Json lifecycle_hook_details = Json::array();

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
