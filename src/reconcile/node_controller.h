#pragma once
// Kubernetes nodes as ECS container instances (issue 16, kubernetes runtime).
//
// Desired state: every Ready-or-not node the API server lists (runtime/kubernetes/nodes.h)
// is a container instance of every ACTIVE ECS cluster, in every region. Observed state:
// the clusters' container instances (not INACTIVE) this controller made (their internal
// `kecs:nodeAttributes` says so) with the attribute `kecs.dev/node` = the node's name. The
// attribute is the join key: a restarted kecs finds the instances it made by it and never
// registers a node twice, and the kubernetes runtime reads it from a task's placed
// instance to bind the task's Pod (`spec.nodeName`).
//
// Each pass, per cluster, in one transaction (opened only when something differs; a
// cluster whose instance rows (ids, versions, statuses) and the node set are as the last
// pass found them in sync is not read again, except in a full pass once a minute, which
// also repairs attributes a user's PutAttributes changed without a version):
//   - a node without an instance is registered through the NodeRegistrar (the ECS API's
//     RegisterContainerInstance path: ARN, capabilities, PORTS, versionInfo), with
//     ec2InstanceId from its providerID or derived from its uid (NodeEc2InstanceId);
//   - each instance is brought to its node's facts: registeredResources CPU and MEMORY
//     from allocatable (remainingResources follows: it is registered minus the tasks on
//     it), the attributes ecs.availability-zone (the zone label, else <region><suffix> as
//     the host's own instance), ecs.instance-type (the label, else kDefaultInstanceType),
//     ecs.cpu-architecture (amd64 -> x86_64), ecs.os-type, kecs.dev/node, and each node
//     label whose name is a valid ECS attribute name (not ecs.* or com.amazonaws.ecs.*);
//     agentConnected = the node is Ready; an unschedulable node (cordoned) or one with a
//     NoSchedule or NoExecute taint is DRAINING (kecs binds Pods itself, so it honours
//     what the scheduler would) and ACTIVE again when that ends (an instance a user drained
//     with UpdateContainerInstancesState stays DRAINING);
//   - the instance of a node that is gone is deregistered as DeregisterContainerInstance
//     with force does: its tasks stopped, the instance INACTIVE.
// Nothing is deregistered before the first full list of nodes arrived (a restarted
// controller knows no nodes until then). A cluster created later gets the nodes in the
// same transaction through SyncCluster (the ECS API calls it from CreateCluster), and the
// next pass otherwise.
//
// Nodes come from Client::ListWatch("/api/v1/nodes") on the controller's watch thread
// (Start with a client), or from SetNodes/ApplyList/ApplyEvent (tests). A node whose JSON
// does not parse (a bad quantity) is left out with a warning; the instance it had keeps its
// last facts. Thread-safe: the node set is guarded by mu_; passes run on one thread.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "reconcile/pass_loop.h"
#include "runtime/kubernetes/nodes.h"
#include "state/store.h"

namespace kecs::runtime::kubernetes {
class Client;
struct WatchEvent;
}  // namespace kecs::runtime::kubernetes

namespace kecs::reconcile {

// The attribute that names a container instance's node.
inline constexpr const char* kNodeAttribute = "kecs.dev/node";
// ecs.instance-type of a node without an instance-type label.
inline constexpr const char* kDefaultInstanceType = "kubernetes-node";

// What the ECS API registers for a node.
struct NodeRegistration {
  std::string ec2_instance_id, instance_type, zone;
  int64_t cpu_units = 0, memory_mib = 0;
};

// The ECS API's side (api/ecs/container_instances.cc), so that registration and forced
// deregistration are RegisterContainerInstance's and DeregisterContainerInstance's own.
class NodeRegistrar {
 public:
  virtual ~NodeRegistrar() = default;
  // Registers a container instance of `cluster` (its kecs ecs:cluster row) inside `tx`;
  // returns its id. The controller then sets its node attributes.
  virtual Result<std::string> RegisterNode(state::Tx& tx, const state::Object& cluster, const NodeRegistration& node,
                                           double now) = 0;
  // DeregisterContainerInstance with force: the instance's live tasks stopped with
  // `reason`, the instance INACTIVE.
  virtual Status DeregisterNode(state::Tx& tx, const state::Object& instance, const std::string& reason,
                                double now) = 0;
};

class NodeController {
 public:
  struct Options {
    std::chrono::milliseconds resync{5000};
    // The zone of a node without a zone label: the cluster's region and this suffix, as
    // the host's own container instance (EcsOptions::availability_zone_suffix).
    std::string zone_suffix = "a";
    std::chrono::milliseconds watch_backoff{1000};  // after ListWatch returned an error
  };
  NodeController(state::Store& store, NodeRegistrar& registrar, Options options, Clock& clock = Clock::Real());
  ~NodeController();

  // Starts the pass thread and, with a client, the watch thread over /api/v1/nodes.
  // Once; Stop() is idempotent and joins both.
  void Start(runtime::kubernetes::Client* client = nullptr);
  void Stop();
  void Notify() { loop_.Notify(); }

  // The full set of nodes (a list, or a relist after 410); replaces what was known.
  void SetNodes(const std::vector<runtime::kubernetes::NodeInfo>& nodes);
  // A NodeList's JSON (items): the nodes that parse replace what was known.
  void ApplyList(const Json& list);
  // A watch event: ADDED/MODIFIED upsert, DELETED removes; others are ignored.
  void ApplyEvent(const runtime::kubernetes::WatchEvent& event);
  // The nodes known now (name -> facts), and whether a full list has arrived.
  std::map<std::string, runtime::kubernetes::NodeInfo> nodes() const;
  bool has_list() const;

  // One pass over every ACTIVE cluster of every region (tests drive it directly).
  void RunOnce();
  // Brings `cluster`'s node instances to the known nodes inside `tx` (CreateCluster's
  // transaction, or a pass's). Does nothing before the first list.
  Status SyncCluster(state::Tx& tx, const state::Object& cluster, double now);

 private:
  using Nodes = std::map<std::string, runtime::kubernetes::NodeInfo>;
  struct Known {
    Nodes nodes;
    uint64_t generation = 0;
  };
  static constexpr double kFullPassSeconds = 60;
  // With `write` false, changes nothing and returns whether something would change.
  Result<bool> Sync(state::Tx& tx, const state::Object& cluster, const Nodes& nodes, double now, bool write);
  void WatchLoop(runtime::kubernetes::Client* client);
  std::optional<Known> Snapshot() const;

  // Constant after construction.
  state::Store& store_;
  NodeRegistrar& registrar_;
  Clock& clock_;
  const Options options_;

  mutable std::mutex mu_;
  Nodes nodes_;              // guarded by mu_
  bool has_list_ = false;    // guarded by mu_
  uint64_t generation_ = 0;  // guarded by mu_; moves on with every change of nodes_

  // The pass thread's own: "<region>/<cluster>" -> the fingerprint of its instance rows
  // when a pass last found it in sync with the nodes of generation clean_generation_.
  std::map<std::string, std::string> clean_;
  uint64_t clean_generation_ = 0;
  double last_full_pass_ = 0;

  std::atomic<bool> stop_{false};
  std::thread watch_;
  PassLoop loop_;  // last: its thread uses the members above
};

}  // namespace kecs::reconcile
