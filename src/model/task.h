#pragma once
// An ECS task as a typed record: what the API shows (AWS's Task shape) and, apart from it,
// what kecs keeps for itself to run the task (TaskInternal).
//
// The store keeps a task as one row of `objects` (kind "ecs:task"): AWS's shape as the
// document and TaskInternal in the row's `internal` column. state/records/tasks.h is the
// one place that converts between the two; everything above the store (the task
// controller, the runtime's TaskSpec, the API views) works on these types. Statuses and the
// other closed vocabularies are enums; ToString gives AWS's spelling and Parse* reads it
// (nullopt for a word AWS does not use). Plain values: no thread-safety concerns.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"

namespace kecs::model {

enum class TaskStatus {
  kProvisioning, kPending, kActivating, kRunning, kDeactivating, kStopping, kDeprovisioning, kStopped,
};
enum class ContainerStatus { kPending, kRunning, kStopped };
enum class AttachmentStatus {
  kPrecreated, kCreated, kAttaching, kAttached, kDetaching, kDetached, kDeleted, kFailed,
};
enum class StopCode {
  kTaskFailedToStart, kEssentialContainerExited, kUserInitiated, kServiceSchedulerInitiated,
  kSpotInterruption, kTerminationNotice,
};
enum class Connectivity { kConnected, kDisconnected };
enum class LaunchType { kEc2, kFargate, kExternal };
enum class NetworkMode { kAwsvpc, kBridge, kHost, kNone };
enum class HealthStatus { kHealthy, kUnhealthy, kUnknown };
enum class DependencyCondition { kStart, kComplete, kSuccess, kHealthy };

std::string_view ToString(TaskStatus s);
std::string_view ToString(ContainerStatus s);
std::string_view ToString(AttachmentStatus s);
std::string_view ToString(StopCode s);
std::string_view ToString(Connectivity s);
std::string_view ToString(LaunchType s);
std::string_view ToString(NetworkMode s);
std::string_view ToString(HealthStatus s);
std::string_view ToString(DependencyCondition s);

std::optional<TaskStatus> ParseTaskStatus(std::string_view s);
std::optional<ContainerStatus> ParseContainerStatus(std::string_view s);
std::optional<AttachmentStatus> ParseAttachmentStatus(std::string_view s);
std::optional<StopCode> ParseStopCode(std::string_view s);
std::optional<Connectivity> ParseConnectivity(std::string_view s);
std::optional<LaunchType> ParseLaunchType(std::string_view s);
std::optional<NetworkMode> ParseNetworkMode(std::string_view s);
std::optional<HealthStatus> ParseHealthStatus(std::string_view s);
std::optional<DependencyCondition> ParseDependencyCondition(std::string_view s);

// ---- AWS's members -------------------------------------------------------------------

struct KeyValuePair {  // also a task Attribute (kecs sets no targetType/targetId on tasks)
  std::string name;
  std::string value;
  bool operator==(const KeyValuePair&) const = default;
};

struct Tag {
  std::string key;
  std::string value;
  bool operator==(const Tag&) const = default;
};

struct NetworkBinding {
  std::string bind_ip;
  int container_port = 0;
  int host_port = 0;
  std::string protocol = "tcp";
  bool operator==(const NetworkBinding&) const = default;
};

struct NetworkInterface {
  std::string attachment_id;
  std::string private_ipv4_address;
  std::optional<std::string> ipv6_address;
  bool operator==(const NetworkInterface&) const = default;
};

// A container's managed agent (ECS Exec's ExecuteCommandAgent) as its container agent
// reported it (SubmitTaskStateChange.managedAgents).
struct ManagedAgent {
  std::string name;         // ManagedAgentName: "ExecuteCommandAgent"
  std::string last_status;  // as reported: "PENDING", "RUNNING", "STOPPED"
  std::optional<std::string> reason;
  std::optional<double> last_started_at;
  bool operator==(const ManagedAgent&) const = default;
};

struct Container {
  std::string container_arn;
  std::string task_arn;
  std::string name;
  std::string image;
  std::optional<std::string> image_digest;
  std::optional<std::string> runtime_id;
  ContainerStatus last_status = ContainerStatus::kPending;
  std::optional<int> exit_code;
  std::optional<std::string> reason;
  std::vector<NetworkBinding> network_bindings;  // empty: the member is not shown
  std::vector<NetworkInterface> network_interfaces;
  HealthStatus health_status = HealthStatus::kUnknown;
  std::string cpu = "0";                          // AWS spells these as strings
  std::optional<std::string> memory;
  std::optional<std::string> memory_reservation;
  // Appended (issue 18): reported by the container agent of an agent-driven task.
  std::vector<ManagedAgent> managed_agents;
  bool operator==(const Container&) const = default;
};

struct Attachment {
  std::string id;
  std::string type;  // "ElasticNetworkInterface"
  AttachmentStatus status = AttachmentStatus::kPrecreated;
  std::vector<KeyValuePair> details;
  bool operator==(const Attachment&) const = default;
};

// ---- kecs's own part -------------------------------------------------------------------

struct PortMapping {
  int container_port = 0;
  int host_port = 0;  // bridge: the dynamic port chosen at launch; 0 for awsvpc
  std::string protocol = "tcp";
  bool operator==(const PortMapping&) const = default;
};

struct Ulimit {
  std::string name;
  int64_t soft_limit = 0;
  int64_t hard_limit = 0;
  bool operator==(const Ulimit&) const = default;
};

struct HostEntry {
  std::string hostname;
  std::string ip_address;
  bool operator==(const HostEntry&) const = default;
};

// ---- Containers as the ECS agent runs them (issue 12) ------------------------------------

// A container definition's healthCheck. `command` is AWS's: its first word is "CMD" (exec
// the rest) or "CMD-SHELL" (run the rest with /bin/sh -c). Defaults are AWS's.
struct HealthCheck {
  std::vector<std::string> command;
  int interval_s = 30;     // 5..300
  int timeout_s = 5;       // 2..60
  int retries = 3;         // 1..10
  int start_period_s = 0;  // 0..300
  bool operator==(const HealthCheck&) const = default;
};

struct ContainerDependency {
  std::string container_name;
  DependencyCondition condition = DependencyCondition::kStart;
  bool operator==(const ContainerDependency&) const = default;
};

struct MountPoint {
  std::string source_volume;
  std::string container_path;
  bool read_only = false;
  bool operator==(const MountPoint&) const = default;
};

struct VolumeFrom {
  std::string source_container;
  bool read_only = false;
  bool operator==(const VolumeFrom&) const = default;
};

struct Device {
  std::string host_path;
  std::string container_path;                // "" = host_path
  std::vector<std::string> permissions;      // "read", "write", "mknod"; none = all three
  bool operator==(const Device&) const = default;
};

struct Tmpfs {
  std::string container_path;
  int64_t size_mib = 0;
  std::vector<std::string> mount_options;    // "noexec", "size=..." etc., as AWS lists them
  bool operator==(const Tmpfs&) const = default;
};

struct LinuxParameters {
  std::vector<std::string> capabilities_add;   // AWS's spelling: "NET_ADMIN", "ALL"
  std::vector<std::string> capabilities_drop;
  bool init_process_enabled = false;
  std::vector<Tmpfs> tmpfs;
  std::optional<int64_t> shared_memory_size_mib;
  std::vector<Device> devices;
  bool operator==(const LinuxParameters&) const = default;
};

// A task definition's volume: exactly one of its kinds.
//  - host, with source_path: a bind mount of a host directory;
//  - host without source_path (AWS: "host": {} or no configuration): a task-scoped
//    directory shared by the task's containers, gone with the task;
//  - docker: a named volume, scope "task" (gone with the task) or "shared" (outlives it;
//    with autoprovision it is made when missing, else it must exist);
//  - efs: a directory per fileSystemId, at rootDirectory or the access point's directory.
struct Volume {
  std::string name;
  enum class Kind { kHost, kDocker, kEfs } kind = Kind::kHost;
  std::string host_source_path;  // kHost; "" = task-scoped
  struct Docker {
    std::string scope = "task";  // "task" | "shared"
    bool autoprovision = false;
    std::string driver = "local";
    std::vector<KeyValuePair> driver_opts;
    std::vector<KeyValuePair> labels;
    bool operator==(const Docker&) const = default;
  };
  Docker docker;
  struct Efs {
    std::string file_system_id;
    std::string root_directory = "/";
    std::string access_point_id;
    std::string transit_encryption;  // "ENABLED" | "DISABLED" | ""
    std::string iam;                 // "ENABLED" | "DISABLED" | ""
    bool operator==(const Efs&) const = default;
  };
  Efs efs;
  bool operator==(const Volume&) const = default;
};

// kecs's record of a container's life beyond AWS's Container shape: the timestamps and
// health details the task metadata endpoint shows (epoch seconds).
struct ContainerProgress {
  std::string name;
  std::optional<double> created_at;   // the container was created (start requested)
  std::optional<double> started_at;   // seen running
  std::optional<double> finished_at;  // seen exited
  std::optional<double> health_since; // the current health status since
  std::optional<int> health_exit_code;
  std::string health_output;          // the last check's output (at most 1 KiB)
  bool operator==(const ContainerProgress&) const = default;
};

// A container's `secrets` entry, or a log configuration's `secretOptions` entry: the
// variable (or option) `name` gets the value `value_from` names (an SSM parameter name or
// ARN, or a Secrets Manager secret ARN with its optional :json-key:version-stage:version-id
// suffixes). Only the reference is kept; values are resolved when the task starts.
struct SecretRef {
  std::string name;
  std::string value_from;
  bool operator==(const SecretRef&) const = default;
};

// A container's logConfiguration (issue 14): the driver ("awslogs", "json-file", ...), its
// options in the definition's order, and the options whose values are secrets.
struct LogConfiguration {
  std::string log_driver;
  std::vector<KeyValuePair> options;
  std::vector<SecretRef> secret_options;
  bool operator==(const LogConfiguration&) const = default;
};

// A container definition with RunTask's overrides applied: what the runtime needs.
struct ContainerDefinition {
  std::string name;
  std::string image;
  std::vector<std::string> entry_point;
  std::vector<std::string> command;
  std::vector<KeyValuePair> environment;
  std::string working_directory;
  std::string user;
  int64_t cpu = 0;
  std::optional<int64_t> memory;              // MiB, hard limit
  std::optional<int64_t> memory_reservation;  // MiB
  bool essential = true;
  bool readonly_root_filesystem = false;
  std::vector<Ulimit> ulimits;
  std::optional<int> stop_timeout;            // seconds; the runtime's default is 30
  std::string hostname;
  std::vector<std::string> dns_servers;
  std::vector<std::string> dns_search_domains;
  std::vector<HostEntry> extra_hosts;
  std::vector<PortMapping> port_mappings;
  // Issue 12.
  std::optional<HealthCheck> health_check;
  std::vector<ContainerDependency> depends_on;
  std::optional<int> start_timeout;           // seconds; none = wait for ever (EC2) as ECS
  std::vector<MountPoint> mount_points;
  std::vector<VolumeFrom> volumes_from;
  LinuxParameters linux_parameters;
  bool privileged = false;
  std::vector<KeyValuePair> system_controls;  // namespace (sysctl key), value
  std::vector<KeyValuePair> docker_labels;
  // Issue 14: secrets resolved at task start, the log driver, and the Secrets Manager
  // secret (ARN or name) holding the registry's username and password for private pulls.
  std::vector<SecretRef> secrets;
  std::optional<LogConfiguration> log_configuration;
  std::string repository_credentials;  // repositoryCredentials.credentialsParameter
  // The container's id in its metadata URIs (ECS_CONTAINER_METADATA_URI[_V4] =
  // http://169.254.170.2/v{3,4}/<metadata_id>): random, made at RunTask.
  std::string metadata_id;
  bool operator==(const ContainerDefinition&) const = default;
};

// An awsvpc task's ENI as provisioning created it.
struct TaskEni {
  std::string id;
  std::string mac;
  std::string ip;
  int prefix_len = 0;
  std::string gateway;
  std::string subnet_id;
  std::string subnet_cidr;
  std::string vpc_id;
  std::string vpc_cidr;
  std::string dns_server;
  bool internet_egress = false;
  std::string hostname;
  std::string private_dns_name;
  std::vector<std::string> vpc_cidrs;
  int transit_slot = -1;
  // The VPC's DHCP options set when the interface was made (net/domain/dhcp.h): the
  // resolv.conf nameservers (AmazonProvidedDNS already turned into dns_server) and search
  // list. Empty: the VPC resolver alone.
  std::vector<std::string> dhcp_nameservers;
  std::vector<std::string> dhcp_search;
  std::optional<std::string> public_ip;
  std::optional<std::string> ipv6;
  std::optional<std::string> ipv6_prefix;
  bool operator==(const TaskEni&) const = default;
};

// assignPublicIp: a host port forwarded to a container port.
struct PublishedPort {
  std::string container;
  std::string protocol = "tcp";
  int container_port = 0;
  int host_port = 0;
  std::string bind_ip;
  bool operator==(const PublishedPort&) const = default;
};

// The EC2 instance (issue 17) a bridge- or host-mode task runs on, when its container
// instance is one kecs runs (RunInstances): the task lives in the instance's namespace or
// behind its bridge, with its host ports on the instance's primary address.
struct TaskInstanceHost {
  std::string instance_id;  // i-...
  std::string ip;           // its primary private address
  bool operator==(const TaskInstanceHost&) const = default;
};

struct TaskNetwork {
  // As RunTask planned it (api/ecs/network.h).
  std::vector<std::string> subnets;
  std::vector<std::string> security_groups;
  bool assign_public_ip = false;
  std::string vpc_id;
  std::string availability_zone;
  // As provisioning made it.
  std::optional<TaskEni> eni;
  std::optional<std::string> bridge_ip;
  std::vector<PublishedPort> published;
  std::optional<TaskInstanceHost> instance;
  bool operator==(const TaskNetwork&) const = default;
};

struct PlacedPort {
  std::string protocol = "tcp";
  int64_t port = 0;
  bool operator==(const PlacedPort&) const = default;
};

// What a task placed on a container instance holds of it (api/ecs/placement.h).
struct TaskPlacement {
  std::string instance;  // container instance id
  int64_t cpu = 0;
  int64_t memory = 0;
  std::vector<PlacedPort> ports;
  bool eni = false;
  bool operator==(const TaskPlacement&) const = default;
};

// A service task's registration in one of its service's target groups (issue 13): made at
// RUNNING, deregistered (draining) as the task stops, gone once it has drained. The
// target group's entry is the task's while its id, port and registered_at match (an IP
// reused by a later task is a new registration, not this one).
struct TaskTarget {
  std::string target_group_arn;
  std::string target_id;    // the ENI's address (ip targets) or the instance id (instance)
  int port = 0;
  double registered_at = 0;
  bool operator==(const TaskTarget&) const = default;
};

struct TaskInternal {
  NetworkMode network_mode = NetworkMode::kBridge;
  std::vector<ContainerDefinition> containers;
  TaskNetwork network;
  std::string service;      // the service that launched it, if any
  std::string deployment;   // its deployment id
  bool counted = false;     // the service controller has counted its failure
  std::optional<TaskPlacement> placement;
  std::vector<std::string> registries;  // Cloud Map services it is registered in
  // Issue 12.
  std::vector<Volume> volumes;            // the task definition's
  std::string pid_mode;                   // "" | "task" | "host"
  std::string ipc_mode;                   // "" | "task" | "host" | "none"
  std::string task_role_arn;              // with overrides applied
  std::string execution_role_arn;
  // The task's credentials id: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is
  // "/v2/credentials/<credentials_id>" when task_role_arn is set. Random (128 bits) and
  // made at RunTask; never shown by the API.
  std::string credentials_id;
  std::vector<ContainerProgress> progress;  // one per container that has started
  // Issue 13: the task's targets in its service's target groups (reconcile/lb_hooks.h).
  std::vector<TaskTarget> targets;
  // Issue 18: the task was placed on a container instance whose own ECS agent drives it
  // (the instance's agent called DiscoverPollEndpoint before the task was placed). The
  // task controller leaves such a task alone; the agent's SubmitTaskStateChange and
  // SubmitContainerStateChange reports move it (api/ecs/agent.cc).
  bool agent = false;
  // Issue 18: task scale-in protection (UpdateTaskProtection or the agent's
  // task-protection endpoint): protected until this time (epoch seconds); none: not
  // protected. An expired time is kept until the next update; ProtectedAt says whether it
  // still holds.
  std::optional<double> protected_until;
  bool operator==(const TaskInternal&) const = default;
};

struct Task {
  // The store row's keys.
  std::string region;
  std::string id;        // 32 hex digits
  std::string cluster;   // cluster name (the row's parent)
  std::string family;    // task definition family (the row's name)
  int64_t seq = 0;

  // AWS's Task members, as DescribeTasks shows them. Timestamps are epoch seconds.
  std::vector<Attachment> attachments;
  std::vector<KeyValuePair> attributes;
  std::string availability_zone;
  std::optional<std::string> capacity_provider_name;
  std::string cluster_arn;
  std::optional<Connectivity> connectivity;
  std::optional<double> connectivity_at;
  std::optional<std::string> container_instance_arn;
  std::vector<Container> containers;
  std::string cpu;
  std::optional<double> created_at;
  TaskStatus desired_status = TaskStatus::kRunning;
  bool enable_execute_command = false;
  std::optional<double> execution_stopped_at;
  std::string group;
  HealthStatus health_status = HealthStatus::kUnknown;
  TaskStatus last_status = TaskStatus::kPending;
  LaunchType launch_type = LaunchType::kEc2;
  std::string memory;
  // TaskOverride as RunTask received it (containerOverrides completed per container):
  // kecs only shows it back, so it is kept in AWS's shape.
  Json overrides = Json::object();
  std::optional<std::string> platform_version;
  std::optional<std::string> platform_family;
  std::optional<double> pull_started_at;
  std::optional<double> pull_stopped_at;
  std::optional<double> started_at;
  std::optional<std::string> started_by;
  std::optional<StopCode> stop_code;
  std::optional<double> stopped_at;
  std::optional<std::string> stopped_reason;
  std::optional<double> stopping_at;
  std::vector<Tag> tags;
  std::string task_arn;
  std::string task_definition_arn;
  int64_t version = 1;
  std::optional<int> ephemeral_storage_gib;

  // kecs's own part: never shown by the API.
  TaskInternal internal;

  bool operator==(const Task&) const = default;
};

// Issue 18: whether the task is under scale-in protection at `now` (epoch seconds): set,
// not yet expired, and the task not already on its way to STOPPED.
bool ProtectedAt(const Task& task, double now);

}  // namespace kecs::model
