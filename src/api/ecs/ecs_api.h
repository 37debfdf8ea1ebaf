#pragma once
// The Amazon ECS API (AmazonEC2ContainerServiceV20141113) over the object store.
//
// Each operation validates its input in ECS's own words, reads and writes the store in
// one transaction, and answers at once; RunTask answers PROVISIONING or PENDING and the
// task controller (reconcile/) moves the task on from there. Documents are stored in their
// AWS shapes; members whose names start with "kecs:" are internal and never leave the
// API (see Public()). Thread-safe: all state lives in the store.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/ecs/common.h"
#include "api/errors.h"
#include "api/router.h"
#include "base/json.h"
#include "reconcile/capacity_controller.h"
#include "reconcile/daemon_controller.h"
#include "reconcile/instance_controller.h"
#include "reconcile/node_controller.h"
#include "reconcile/service_controller.h"
#include "state/store.h"

namespace kecs::net { class RegionBootstrap; }
namespace kecs::api::exec { class ExecSessions; }

namespace kecs::api::ec2 {
class IdentitySigner;
}

namespace kecs::api::ecs {

class PortProbe;  // launch.h

struct EcsOptions {
  std::string instance_type = "m5.large";
  int host_cpu_units = 2048;    // registered CPU of the host's container instance
  int host_memory_mib = 7680;   // registered memory
  std::string availability_zone_suffix = "a";
  // Lenient mode gives every new cluster this host as a container instance. False with the
  // kubernetes runtime: a cluster's instances are the Kubernetes nodes (NodeController).
  bool host_instance = true;
  // Dynamic host ports for bridge mode, as the ECS agent's ephemeral range.
  int ephemeral_port_first = 49153;
  int ephemeral_port_last = 65535;
  // Seconds in a "minute" of cluster auto scaling's waits (scale-in after 15 minutes of low
  // reservation, tasks waiting for capacity 30 minutes): 60, as on AWS; the daemon takes
  // KECS_DEPLOYMENT_MINUTE_SECONDS (capacity_scaling.h).
  double minute_seconds = 60;
};

// ECS Exec (exec.cc): where ExecuteCommand's sessions go. Without sessions, or when the
// runtime runs no containers, ExecuteCommand answers TargetNotConnectedException.
struct ExecEndpoint {
  exec::ExecSessions* sessions = nullptr;
  bool runs_containers = false;
  std::string default_host;  // host:port for the stream URL when a request has no Host
};

// Express Mode (express.cc): the peer services an Express service's infrastructure is
// made through, by their public operations (so every check and record is the same as a
// client's call). Null: Express services cannot be created (ServerException).
struct ExpressPeers {
  const Service* ec2 = nullptr;
  const Service* elbv2 = nullptr;
};

// An Auto Scaling group as DescribeAutoScalingGroups answers it (capacity_scaling.cc).
// `answered`: the Auto Scaling service answered (false without one, or when it failed).
struct GroupLookup {
  bool answered = false;
  std::optional<Json> group;
};

class EcsApi : public reconcile::TaskLauncher,
               public reconcile::DaemonTaskLauncher,
               public reconcile::InstanceAgent,
               public reconcile::CapacityScaler,
               public reconcile::NodeRegistrar {
 public:
  EcsApi(state::Store& store, net::RegionBootstrap& regions, EcsOptions options)
      : store_(store), regions_(regions), options_(std::move(options)) {}
  // Registers every implemented operation on `service`.
  void RegisterAll(Service& service);
  const EcsOptions& options() const { return options_; }

  state::Store& store() { return store_; }

  // Creates (or re-activates) a cluster, with the host's container instance registered in
  // it. Used by CreateCluster and by a lenient RunTask on an unknown cluster.
  state::Object CreateClusterRecord(state::Tx& tx, RequestContext& ctx, const std::string& name,
                                    const Json& in);
  // The cluster document as DescribeClusters shows it, with live counts.
  Json ClusterView(state::Tx& tx, const RequestContext& ctx, const state::Object& cluster,
                   const std::vector<std::string>& include);
  // Registers a container instance; `managed` marks the host's own, which goes with its
  // cluster instead of blocking DeleteCluster.
  // With `ec2_instance` (an EC2 instance kecs runs, its stored document), the instance's
  // type, zone, image, network and resources are registered, as the ECS agent on it reports
  // them (issue 17); otherwise the request's identity document or the host's.
  Json NewContainerInstance(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                            bool managed, const Json& in, const Json* ec2_instance = nullptr);
  // reconcile::InstanceAgent: the ECS agent on an EC2 instance kecs runs registers it,
  // through RegisterContainerInstance's own path (container_instances.cc).
  Result<std::string> RegisterInstance(state::Tx& tx, const state::Object& instance, const std::string& cluster,
                                       double now) override;
  // reconcile::NodeRegistrar (container_instances.cc): a Kubernetes node registers through
  // RegisterContainerInstance's path, and goes as DeregisterContainerInstance with force.
  Result<std::string> RegisterNode(state::Tx& tx, const state::Object& cluster, const reconcile::NodeRegistration& node,
                                   double now) override;
  Status DeregisterNode(state::Tx& tx, const state::Object& instance, const std::string& reason, double now) override;
  // The kubernetes runtime's nodes: CreateCluster gives a new cluster their container
  // instances in its own transaction. Call before the server starts; null: none.
  void SetNodeController(reconcile::NodeController* nodes) { nodes_ = nodes; }
  // The key that signs and verifies instance identity documents; call before the server
  // starts. Without one, a given instanceIdentityDocumentSignature cannot verify.
  void SetIdentitySigner(std::shared_ptr<const ec2::IdentitySigner> signer) { identity_signer_ = std::move(signer); }
  // A container instance with live remainingResources and task counts.
  Json InstanceView(state::Tx& tx, const RequestContext& ctx, const state::Object& inst);
  // A service with live runningCount and pendingCount (overall and per deployment).
  Json ServiceView(state::Tx& tx, const RequestContext& ctx, model::Service svc, bool tags);

  // reconcile::TaskLauncher: the service scheduler starts tasks through RunTask's path.
  reconcile::LaunchedTasks LaunchServiceTasks(state::Tx& tx, const model::Service& service,
                                              const model::Deployment& deployment, int count, double now) override;
  // Probes host ports for the pass's bridge tasks, before the scheduler's transactions.
  void BeforePass() override;
  // reconcile::DaemonTaskLauncher (daemons.cc): the daemon scheduler's tasks, through
  // RunTask's path, on one given container instance.
  reconcile::LaunchedTasks LaunchDaemonTask(state::Tx& tx, const reconcile::DaemonLaunch& launch,
                                            double now) override;
  // ECS Exec's sessions (exec.cc); call before the server starts.
  void SetExec(ExecEndpoint endpoint);
  // Express Mode (express.cc): the EC2 and ELBv2 services whose operations create an
  // Express service's security groups and load balancer; call before the server starts.
  void SetExpressPeers(ExpressPeers peers) { express_ = peers; }
  // Finishes the deletions of DRAINING Express services whose ECS service has gone
  // INACTIVE: removes their listener rule, listener, load balancer, target group and
  // security groups (express.cc). Cheap when there is nothing to do; repeat calls retry
  // what an earlier one could not delete yet.
  void FinishExpressDeletions(RequestContext& ctx);
  // Cluster auto scaling (issue 17, capacity_scaling.cc): the EC2 Auto Scaling service whose
  // public operations the capacity providers' groups are read and scaled through; call
  // before the server starts. Null: groups are neither checked nor scaled.
  void SetAutoScaling(const Service* autoscaling) { autoscaling_ = autoscaling; }
  // The scaled minute of its waits (EcsOptions::minute_seconds); before the server starts.
  void SetCapacityMinute(double seconds) { options_.minute_seconds = seconds; }
  // reconcile::CapacityScaler: the capacity controller's two passes.
  void PlaceWaitingTasks(double now) override;
  void ScaleCapacityProviders(double now) override;

 private:
  // clusters.cc
  Json CreateCluster(RequestContext& ctx, const Json& in);
  Json DescribeClusters(RequestContext& ctx, const Json& in);
  Json ListClusters(RequestContext& ctx, const Json& in);
  Json UpdateCluster(RequestContext& ctx, const Json& in);
  Json UpdateClusterSettings(RequestContext& ctx, const Json& in);
  Json PutClusterCapacityProviders(RequestContext& ctx, const Json& in);
  Json DeleteCluster(RequestContext& ctx, const Json& in);

  // task_definitions.cc
  Json RegisterTaskDefinition(RequestContext& ctx, const Json& in);
  Json DescribeTaskDefinition(RequestContext& ctx, const Json& in);
  Json ListTaskDefinitions(RequestContext& ctx, const Json& in);
  Json ListTaskDefinitionFamilies(RequestContext& ctx, const Json& in);
  Json DeregisterTaskDefinition(RequestContext& ctx, const Json& in);
  Json DeleteTaskDefinitions(RequestContext& ctx, const Json& in);

  // tasks.cc
  Json RunTask(RequestContext& ctx, const Json& in);
  Json StartTask(RequestContext& ctx, const Json& in);
  Json StopTask(RequestContext& ctx, const Json& in);
  Json DescribeTasks(RequestContext& ctx, const Json& in);
  Json ListTasks(RequestContext& ctx, const Json& in);

  // container_instances.cc
  Json RegisterContainerInstance(RequestContext& ctx, const Json& in);
  Json DeregisterContainerInstance(RequestContext& ctx, const Json& in);
  Json DescribeContainerInstances(RequestContext& ctx, const Json& in);
  Json ListContainerInstances(RequestContext& ctx, const Json& in);
  Json UpdateContainerInstancesState(RequestContext& ctx, const Json& in);
  Json PutAttributes(RequestContext& ctx, const Json& in);
  Json DeleteAttributes(RequestContext& ctx, const Json& in);
  Json ListAttributes(RequestContext& ctx, const Json& in);

  // account.cc
  Json PutAccountSetting(RequestContext& ctx, const Json& in);
  Json PutAccountSettingDefault(RequestContext& ctx, const Json& in);
  Json DeleteAccountSetting(RequestContext& ctx, const Json& in);
  Json ListAccountSettings(RequestContext& ctx, const Json& in);

  // tags.cc
  Json TagResource(RequestContext& ctx, const Json& in);
  Json UntagResource(RequestContext& ctx, const Json& in);
  Json ListTagsForResource(RequestContext& ctx, const Json& in);

  // services.cc
  Json CreateService(RequestContext& ctx, const Json& in);
  Json DescribeServices(RequestContext& ctx, const Json& in);
  Json ListServices(RequestContext& ctx, const Json& in);
  Json ListServicesByNamespace(RequestContext& ctx, const Json& in);
  Json UpdateService(RequestContext& ctx, const Json& in);
  Json DeleteService(RequestContext& ctx, const Json& in);

  // capacity_providers.cc
  Json CreateCapacityProvider(RequestContext& ctx, const Json& in);
  Json DescribeCapacityProviders(RequestContext& ctx, const Json& in);
  Json UpdateCapacityProvider(RequestContext& ctx, const Json& in);
  Json DeleteCapacityProvider(RequestContext& ctx, const Json& in);
  // capacity_scaling.cc
  GroupLookup DescribeGroup(const RequestContext& ctx, const std::string& arn_or_name);
  Json AutoScalingCall(const char* op, const RequestContext& ctx, const Json& in);
  void ScaleProvider(const RequestContext& ctx, const state::Object& provider, double now);

  // agent.cc
  Json DiscoverPollEndpoint(RequestContext& ctx, const Json& in);
  Json SubmitTaskStateChange(RequestContext& ctx, const Json& in);
  Json SubmitContainerStateChange(RequestContext& ctx, const Json& in);
  Json SubmitAttachmentStateChanges(RequestContext& ctx, const Json& in);
  Json UpdateContainerAgent(RequestContext& ctx, const Json& in);
  // service_deployments.cc
  Json ListServiceDeployments(RequestContext& ctx, const Json& in);
  Json DescribeServiceDeployments(RequestContext& ctx, const Json& in);
  Json DescribeServiceRevisions(RequestContext& ctx, const Json& in);
  Json StopServiceDeployment(RequestContext& ctx, const Json& in);
  // task_protection.cc (issue 18)
  Json GetTaskProtection(RequestContext& ctx, const Json& in);
  Json UpdateTaskProtection(RequestContext& ctx, const Json& in);
  // task_sets.cc (issue 18)
  Json CreateTaskSet(RequestContext& ctx, const Json& in);
  Json DescribeTaskSets(RequestContext& ctx, const Json& in);
  Json UpdateTaskSet(RequestContext& ctx, const Json& in);
  Json DeleteTaskSet(RequestContext& ctx, const Json& in);
  Json UpdateServicePrimaryTaskSet(RequestContext& ctx, const Json& in);
  // exec.cc (issue 18)
  Json ExecuteCommand(RequestContext& ctx, const Json& in);
  // express.cc (issue 18)
  Json CreateExpressGatewayService(RequestContext& ctx, const Json& in);
  Json DescribeExpressGatewayService(RequestContext& ctx, const Json& in);
  Json UpdateExpressGatewayService(RequestContext& ctx, const Json& in);
  Json DeleteExpressGatewayService(RequestContext& ctx, const Json& in);
  Json PeerCall(const Service* peer, const char* op, const RequestContext& ctx, const Json& in);
  Json ExpressView(state::Tx& tx, const RequestContext& ctx, const state::Object& rec, bool tags);
  // daemon_task_definitions.cc (issue 18)
  Json RegisterDaemonTaskDefinition(RequestContext& ctx, const Json& in);
  Json DescribeDaemonTaskDefinition(RequestContext& ctx, const Json& in);
  Json DeleteDaemonTaskDefinition(RequestContext& ctx, const Json& in);
  Json ListDaemonTaskDefinitions(RequestContext& ctx, const Json& in);
  // daemons.cc (issue 18)
  Json CreateDaemon(RequestContext& ctx, const Json& in);
  Json UpdateDaemon(RequestContext& ctx, const Json& in);
  Json DeleteDaemon(RequestContext& ctx, const Json& in);
  Json DescribeDaemon(RequestContext& ctx, const Json& in);
  Json ListDaemons(RequestContext& ctx, const Json& in);
  Json DescribeDaemonDeployments(RequestContext& ctx, const Json& in);
  Json ListDaemonDeployments(RequestContext& ctx, const Json& in);
  Json DescribeDaemonRevisions(RequestContext& ctx, const Json& in);
  // service_deployments.cc (issue 18, deployment strategies)
  Json ContinueServiceDeployment(RequestContext& ctx, const Json& in);

  state::Store& store_;
  net::RegionBootstrap& regions_;
  ExecEndpoint exec_;  // set before the server starts (SetExec)
  EcsOptions options_;
  reconcile::NodeController* nodes_ = nullptr;  // set before the server starts (SetNodeController)

  // The service scheduler's host-port probe (launch.h), gathered by BeforePass outside any
  // transaction and read by LaunchServiceTasks inside one; both run on the scheduler's one
  // thread, the mutex only makes that assumption safe. A launch that finds the probe short
  // widens the next pass's window.
  std::mutex probe_mu_;
  std::shared_ptr<const PortProbe> service_probe_;  // guarded by probe_mu_
  std::chrono::steady_clock::time_point service_probe_at_;  // guarded by probe_mu_
  int service_probe_window_ = 32;                   // guarded by probe_mu_
  ExpressPeers express_;  // set before the server starts (SetExpressPeers)
  const Service* autoscaling_ = nullptr;  // set before the server starts (SetAutoScaling)
  std::shared_ptr<const ec2::IdentitySigner> identity_signer_;  // set before the server starts
};

// A new PRIMARY deployment of the service as it now is (services.cc).
model::Deployment NewDeployment(const RequestContext& ctx, const model::Service& svc);

// services.cc, shared with task_sets.cc: the service (ServiceNotFoundException;
// ServiceNotActiveException with `active_only`), and the checks CreateService makes of a
// service's (or task set's) network, load balancers and registries, in ECS's words.
model::Service RequireService(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                              const std::string& ref, bool active_only);
void ResolveNetwork(state::Tx& tx, RequestContext& ctx, const Json& td, model::Service& svc);
std::vector<model::ServiceLoadBalancer> ParseLoadBalancers(const Json& given);
void ValidateLoadBalancers(state::Tx& tx, const RequestContext& ctx, const Json& td, const model::Service& svc);
std::vector<model::ServiceRegistry> ValidateRegistries(state::Tx& tx, const RequestContext& ctx, const Json& given);

// task_sets.cc: CreateService's checks of a deploymentController (ECS, CODE_DEPLOY or
// EXTERNAL); UpdateService's refusal of the members a task-set service changes through
// task sets (or CodeDeploy); the PRIMARY task set a CODE_DEPLOY service starts with.
void CheckDeploymentController(const std::string& controller, const std::string& strategy, const Json& in);
void RefuseTaskSetMembers(const model::Service& svc, const Json& in);
model::TaskSet InitialTaskSet(const RequestContext& ctx, const model::Service& svc);

// express.cc: a revision of an Express service's ECS service shows the resources Express
// made for it (ServiceRevision.ecsManagedResources, DescribeServiceRevisions); others are
// left as they are.
void AddExpressManagedResources(state::Tx& tx, const RequestContext& ctx, const model::ServiceRevision& rev,
                                Json& out);

}  // namespace kecs::api::ecs
