#pragma once
// Container-instance resources and task placement for the EC2 and EXTERNAL launch types.
//
// A task placed on an instance records what it holds in its internal "placement" member
// ({"instance", "cpu", "memory", "ports": [{"protocol","port"}], "eni"}). What an instance
// has left is always derived from the tasks that are not STOPPED, so the numbers
// DescribeContainerInstances shows are true at every moment and nothing can drift.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/router.h"
#include "base/json.h"
#include "state/store.h"

namespace kecs::api::ecs {

// Ports the ECS agent reserves on every container instance.
inline const std::vector<int> kReservedPorts = {22, 2375, 2376, 51678, 51679, 51680};

struct InstanceUsage {
  int64_t cpu = 0;
  int64_t memory = 0;
  std::set<std::pair<std::string, int64_t>> ports;  // (tcp|udp, port) of this instance's tasks
  int enis = 0;
  int running = 0;
  int pending = 0;
  std::map<std::string, int> groups;  // task group -> count
};

// What the tasks on each instance of a cluster hold, keyed by instance id. Without
// `groups`, InstanceUsage::groups stays empty (it takes a read of every task's document).
std::map<std::string, InstanceUsage> UsageByInstance(state::Tx& tx, const std::string& region,
                                                     const std::string& cluster, bool groups = true);

// Reads, in a read transaction (Store::Read), what UsageByInstance reads of the cluster's
// live tasks, so that the facts it decodes are remembered (placement.cc's memo: committed
// rows only) and a write transaction's UsageByInstance that follows decodes only the tasks
// committed since. Changes nothing in the store.
void WarmPlacements(state::Tx& tx, const std::string& region, const std::string& cluster);

// Host ports held on this host by any task that is not STOPPED, in every cluster and
// region: every container instance but the EC2 instances kecs runs is this one host, so a
// host port is taken for all of them. Tasks on an EC2 instance kecs runs hold their ports
// in that instance's namespace (HostPortsOn).
std::set<std::pair<std::string, int64_t>> HostPortsInUse(state::Tx& tx);
// The host ports held by the live tasks placed on container instance `instance_id`.
std::set<std::pair<std::string, int64_t>> HostPortsOn(state::Tx& tx, const std::string& instance_id);
// Whether container instance `inst` is one of the EC2 instances kecs runs (issue 17): its
// ec2InstanceId names an ec2:instance. Its bridge tasks' host ports are then the
// instance's own (published on its address in its namespace), not this host's.
bool OnEc2Instance(state::Tx& tx, const std::string& region, const state::Object& inst);

// The registered amount of a resource ("CPU", "MEMORY") of an instance document.
int64_t RegisteredInt(const Json& inst, const std::string& name);

// awsvpc tasks an instance type can hold: its ENIs minus the primary one (AWS's published
// table), or the trunking limit when the instance registered with awsvpcTrunking on.
int EniTaskLimit(const std::string& instance_type, bool trunking);

// What one task needs of an instance.
struct TaskNeeds {
  int64_t cpu = 0;
  int64_t memory = 0;
  std::vector<std::pair<std::string, int64_t>> static_ports;
  bool eni = false;
  std::vector<std::string> required_attributes;
  std::string group;
  // awsvpc on EC2: the zones of the task's subnets; an instance elsewhere fails LOCATION.
  std::vector<std::string> zones;
};

struct PlacementRequest {
  TaskNeeds needs;
  int count = 1;
  Json constraints = Json::array();  // placementConstraints (task definition's and request's)
  Json strategy = Json::array();
  // Host ports in use (HostPortsInUse); Place adds the static ports it hands out.
  std::set<std::pair<std::string, int64_t>>* host_ports = nullptr;
  // Container instances whose host ports are their own (EC2 instances kecs runs, issue 17):
  // `host_ports` neither limits nor records their static ports.
  const std::set<std::string>* own_host_ports = nullptr;
};

// Whether placing `req` reads InstanceUsage::groups: a spread strategy, or a memberOf
// expression that mentions "group" at all (task:group, however spelled).
bool PlacementReadsGroups(const PlacementRequest& req);

struct PlacementResult {
  std::vector<std::string> instances;  // chosen instance ids, one per placed task
  Json failures = Json::array();       // [{arn, reason}] for tasks that could not be placed
};

// Throws InvalidParameterException for a memberOf constraint whose expression does not
// parse (what PlaceInto would throw), so that a request can be refused before it waits.
void ValidatePlacementConstraints(const Json& constraints);

// Places `count` tasks on the given candidates (instance objects of one cluster), honouring
// resources, zones, constraints (distinctInstance, memberOf) and strategies (spread,
// binpack, random); `usage` is updated with what the placed tasks take. Throws
// InvalidParameterException for a malformed memberOf expression.
PlacementResult PlaceInto(const std::vector<state::Object>& candidates,
                          std::map<std::string, InstanceUsage>& usage, const PlacementRequest& req);
// As PlaceInto, on a copy of `usage`.
inline PlacementResult Place(const std::vector<state::Object>& candidates,
                             std::map<std::string, InstanceUsage> usage, const PlacementRequest& req) {
  return PlaceInto(candidates, usage, req);
}

}  // namespace kecs::api::ecs
