#pragma once
// What kecs reads of a Kubernetes Node (issue 16): the facts a node's ECS container
// instance is made of (reconcile/node_controller.h). Pure functions of the Node's JSON, as
// the API server serves it (GET /api/v1/nodes); no I/O, thread-safe.
//
//   name, uid            metadata
//   cpu_units            status.allocatable.cpu as ECS CPU units (1024 a core), rounded down
//   memory_mib           status.allocatable.memory in MiB, rounded down
//   pods                 status.allocatable.pods (0 when absent)
//   zone, region         topology.kubernetes.io/zone|region, then the deprecated
//                        failure-domain.beta.kubernetes.io/zone|region
//   instance_type        node.kubernetes.io/instance-type, then beta.kubernetes.io/instance-type
//   arch, os             kubernetes.io/arch|os, then beta.kubernetes.io/..., then
//                        status.nodeInfo.architecture|operatingSystem
//   ready                the Ready condition is "True"
//   unschedulable        spec.unschedulable (kubectl cordon)
//   taints               spec.taints
//   internal_ip          the first InternalIP of status.addresses
//   ec2_instance_id      from spec.providerID "aws:///<zone>/i-..." ("" otherwise)
// A node without allocatable CPU or memory falls back to its capacity (as the scheduler
// does); a quantity that does not parse is an error, never a zero.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace kecs::runtime::kubernetes {

struct NodeTaint {
  std::string key, value, effect;  // effect: NoSchedule, PreferNoSchedule, NoExecute
  bool operator==(const NodeTaint&) const = default;
};

struct NodeInfo {
  std::string name, uid;
  int64_t cpu_units = 0;
  int64_t memory_mib = 0;
  int64_t pods = 0;
  std::string zone, region, instance_type, arch, os;
  bool ready = false;
  bool unschedulable = false;
  std::vector<NodeTaint> taints;
  std::string internal_ip;
  std::string ec2_instance_id;
  std::map<std::string, std::string> labels;
  bool operator==(const NodeInfo&) const = default;
};

// A Kubernetes quantity ("2", "1500m", "0.5", "8Gi", "1e9", "8G", ...) as a number of the
// base unit (cores, bytes). InvalidArgument for anything else, and for a negative value.
Result<long double> ParseQuantity(std::string_view q);
// CPU as ECS CPU units: cores x 1024, rounded down ("1500m" -> 1536).
Result<int64_t> CpuUnits(std::string_view q);
// Memory in MiB, rounded down ("8Gi" -> 8192, "1e9" -> 953).
Result<int64_t> MemoryMib(std::string_view q);

// The node's facts; InvalidArgument for a node without a name, or with allocatable (or
// capacity) CPU or memory missing or not a quantity (the message names the node and field).
Result<NodeInfo> NodeFromJson(const Json& node);

// The EC2 instance id a node's container instance shows: its providerID's, else a stable
// "i-" and 17 hex digits of the SHA-256 of its uid (its name when it has none), so that a
// node keeps its id across kecs restarts.
std::string NodeEc2InstanceId(const NodeInfo& node);

}  // namespace kecs::runtime::kubernetes
