#pragma once
// Creating tasks: what RunTask and StartTask share (and the service scheduler will).
//
// Launch runs four stages, each its own function so that each can be tested alone:
//   1. ResolveLaunch: the task definition, overrides, launch type and network configuration,
//      validated in ECS's words;
//   2. PlaceTasks: EC2 and EXTERNAL tasks onto container instances (resources, constraints,
//      strategies); Fargate tasks need none;
//   3. AllocateDynamicPorts: bridge-mode host ports from the ephemeral range;
//   4. BuildTask: the task record (lastStatus PROVISIONING for awsvpc, else PENDING).
// All four run in the caller's write transaction, which makes the books (the ports and
// resources recorded by tasks that are not STOPPED) the arbiter between concurrent launches.
// Whether another program holds a host port is a bind() probe; the probe runs before the
// transaction (PortProbe::Gather), never under the store's write lock: RunTask and StartTask
// gather it in WriteWithPortProbe, the service scheduler before each pass
// (TaskLauncher::BeforePass), and a launch that finds a port its probe did not reach asks
// for a wider one (NeedPortProbe) instead of probing in the transaction.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/ecs/ecs_api.h"
#include "api/ecs/network.h"
#include "api/router.h"
#include "base/json.h"
#include "model/task.h"
#include "state/store.h"

namespace kecs::api::ecs {

struct LaunchSpec {
  std::string cluster;
  std::string task_definition;
  int count = 1;
  std::optional<std::string> launch_type;
  Json capacity_provider_strategy;      // null when absent
  Json network_configuration;           // null when absent
  Json overrides = Json::object();
  std::string started_by;
  std::string group;
  Json tags = Json::array();
  std::string propagate_tags;           // "TASK_DEFINITION", "SERVICE" or ""
  bool enable_execute_command = false;
  std::string platform_version;
  Json placement_constraints = Json::array();
  Json placement_strategy = Json::array();
  std::vector<std::string> container_instances;  // StartTask: run on exactly these
  std::string service_name;                      // set by the service scheduler
  std::string deployment_id;                     // "ecs-svc/..." of the deployment
  Json service_tags = Json::array();
  // Set by the daemon scheduler (daemons.cc): the task definition document to run, in place
  // of looking `task_definition` up among the task definitions (a daemon task definition is
  // not one of them).
  Json task_definition_doc;
};

struct LaunchOutcome {
  Json tasks = Json::array();
  Json failures = Json::array();
};

using HostPort = std::pair<std::string, int64_t>;  // (tcp|udp, port)

// What bind() probes found about host ports. Gathered before the write transaction; inside
// it, a port the probe did not reach is "unknown", and the launch asks for a wider probe
// (NeedPortProbe) rather than probe under the lock.
class PortProbe {
 public:
  using FreeFn = std::function<bool(const std::string& protocol, int64_t port)>;
  enum class Answer { kFree, kBusy, kUnknown };

  // Probes on demand. For tests only: production code never probes inside a transaction.
  static PortProbe Live(FreeFn free_fn);
  // Probes [first, last] upwards, per protocol, until `want` ports that are free on the
  // host and not in `books` (ports kecs has handed out) are found, or the range ends.
  static PortProbe Gather(const std::map<std::string, int>& want, int64_t first, int64_t last,
                          const std::set<HostPort>& books, const FreeFn& free_fn);

  Answer Ask(const std::string& protocol, int64_t port) const;

 private:
  FreeFn live_;
  std::map<std::string, int64_t> probed_through_;  // per protocol: [first, this] probed
  std::set<HostPort> busy_;                         // held by another program when probed
};

// Thrown by Launch when its PortProbe did not reach far enough (another launch took the
// ports it found); the caller gathers a wider probe outside the transaction and retries.
struct NeedPortProbe {};

// ---- Stage 1: resolve -------------------------------------------------------------------

struct ResolvedLaunch {
  std::string cluster;
  Json task_definition;                // the stored task definition document
  std::string mode;                    // awsvpc, bridge, host, none
  std::string launch_type;             // EC2, FARGATE or EXTERNAL
  std::string capacity_provider;       // when a capacity provider strategy chose it
  NetworkPlan net;
  Json containers = Json::array();     // container definitions, containerOverrides applied
  int64_t cpu = 0;
  int64_t memory = 0;
  std::string group;
  Json tags = Json::array();           // the request's, with propagated ones merged
  bool fargate() const { return launch_type == "FARGATE"; }
};

// Throws ECS's errors (ClientException, InvalidParameterException, ClusterNotFound).
ResolvedLaunch ResolveLaunch(state::Tx& tx, RequestContext& ctx, const LaunchSpec& spec);

// The container definitions with the request's containerOverrides applied; throws
// InvalidParameterException for an override naming no container.
Json ApplyContainerOverrides(const Json& defs, const Json& overrides);

// ---- Stage 2: place ---------------------------------------------------------------------

struct PlacedTasks {
  // One entry per task to launch: its container instance, or none (Fargate).
  std::vector<std::optional<state::Object>> instances;
  Json failures = Json::array();
};

PlacedTasks PlaceTasks(state::Tx& tx, const RequestContext& ctx, const LaunchSpec& spec,
                       const ResolvedLaunch& r);

// How a capacity provider strategy spreads `count` tasks: each provider's base first, in
// the strategy's order, then the rest by weight, each task to the provider furthest below
// its weight's share; providers that get none are left out. `existing` (a service's tasks
// that are not STOPPED, per provider) counts toward each base and share, as ECS's rule for
// services: base first, then weights over the total.
std::vector<std::pair<std::string, int>> SplitByStrategy(const Json& strategy, int count,
                                                         const std::map<std::string, int>& existing = {});

// ---- Stage 3: allocate ports ------------------------------------------------------------

enum class PortAllocation { kAllocated, kExhausted, kUnprobed };

// Sets every bridge port mapping without a hostPort in `containers` to a port of
// [first, last] that is neither in `taken` (which gains it) nor busy on the host by `probe`.
// kExhausted: no port left (the task fails RESOURCE:PORTS; `taken` is unchanged).
// kUnprobed: the probe did not cover the port it would need (`taken` is unchanged).
PortAllocation AllocateDynamicPorts(Json& containers, std::set<HostPort>& taken, int64_t first,
                                    int64_t last, const PortProbe& probe);

// Dynamic host ports a launch of `spec` will ask for, per protocol (an upper bound), read
// without a write lock so that the probe can run before the write transaction.
std::map<std::string, int> DynamicPortDemand(state::Tx& tx, const RequestContext& ctx,
                                             const LaunchSpec& spec);

// ---- Stage 4: build ---------------------------------------------------------------------

// The task record of one task: `containers` are its container definitions with host ports
// resolved, `instance` its container instance (none for Fargate). The store takes it
// through state/records/tasks.h.
model::Task BuildTask(const RequestContext& ctx, const EcsOptions& options,
                        const LaunchSpec& spec, const ResolvedLaunch& r,
                        const std::optional<state::Object>& instance, const Json& containers);

// The four stages. `probe` null: probe live (the service scheduler's path). Throws
// NeedPortProbe when `probe` does not cover the ports the launch needs.
LaunchOutcome Launch(state::Tx& tx, RequestContext& ctx, const EcsOptions& options,
                     const LaunchSpec& spec, const PortProbe* probe = nullptr);

// Runs `fn` in one write transaction of `store` with a PortProbe for `spec` gathered before
// it, outside the write lock. When `fn` throws NeedPortProbe (a concurrent launch took the
// ports the probe found), gathers a wider probe and runs `fn` again in a new transaction;
// the last attempt probes live. Rethrows whatever else `fn` throws.
void WriteWithPortProbe(state::Store& store, const RequestContext& ctx, const EcsOptions& options,
                        const LaunchSpec& spec,
                        const std::function<void(state::Tx&, const PortProbe&)>& fn);

// ---- RunTask's clientToken ----------------------------------------------------------------
// A clientToken names one RunTask in one cluster for 24 hours (ECS_Idempotency): a retry
// with the token gets that RunTask's tasks back instead of new ones. The record is written
// in the RunTask's own transaction, so a RunTask that committed survives a restart with its
// token, and two concurrent RunTasks with one token launch once (writers are serialised).

// InvalidParameterException unless the token is 1-64 characters of ASCII 33-126.
void ValidateClientToken(const std::string& token);

// The outcome of the RunTask that used `token` in `cluster` within the token's lifetime,
// its tasks as they are now; nullopt when there is none (or its tasks are all gone).
// ConflictException when that RunTask's `request` (its input without clientToken) differs.
std::optional<LaunchOutcome> ReplayClientToken(state::Tx& tx, const RequestContext& ctx,
                                               const std::string& cluster, const std::string& token,
                                               const Json& request);

// Records what the RunTask with `token` launched, and drops expired tokens of `cluster`.
void RecordClientToken(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                       const std::string& token, const Json& request, const LaunchOutcome& outcome);

// Task ARN from its cluster and id.
std::string TaskArn(const RequestContext& ctx, const std::string& cluster, const std::string& id);

}  // namespace kecs::api::ecs
