#pragma once
// ECS cluster auto scaling (issue 17): the arithmetic of managed scaling, apart from the
// store and the Auto Scaling API so that it can be tested alone. The passes that use it
// are EcsApi::PlaceWaitingTasks and EcsApi::ScaleCapacityProviders (capacity_scaling.cc).
//
// AWS's definitions ("Deep Dive on Amazon ECS Cluster Auto Scaling", AWS Containers blog;
// "Amazon ECS managed scaling behavior", ECS developer guide):
//   N = the instances needed: those running non-daemon tasks, plus those the tasks waiting
//       in PROVISIONING need, packed as placement would pack them;
//   M = the instances in the group now;
//   CapacityProviderReservation = N / M * 100, with M = 0 special: 100 when N = 0 too,
//       else 200 (any demand on an empty group asks for a scale-out).
// The group's desired capacity moves toward ceil(N * 100 / targetCapacity): out by a step
// of at least minimumScalingStepSize and at most maximumScalingStepSize, in by as many
// instances as run no task, after the reservation has stayed below target for the scale-in
// wait (AWS: 15 minutes); always within the group's MinSize and MaxSize.
#include <cstdint>
#include <string>

#include "base/json.h"
#include "state/store.h"

namespace kecs::model { struct InstanceType; }

namespace kecs::api::ecs {

// The group's name in an Auto Scaling group ARN (".../autoScalingGroupName/NAME"), or the
// name itself (autoScalingGroupArn takes either).
std::string AsgNameOf(const std::string& arn_or_name);

// The memory the ECS agent registers on an instance of type `t` (container_instances.cc).
int64_t AgentMemoryMib(const model::InstanceType& t);

// The managedScaling of an Auto Scaling group provider, AWS's defaults filled in
// (ManagedScaling, ECS API reference: targetCapacity 100, minimumScalingStepSize 1,
// maximumScalingStepSize 10000, instanceWarmupPeriod 300).
struct ManagedScalingConfig {
  bool enabled = false;
  int target_capacity = 100;
  int minimum_step = 1;
  int maximum_step = 10000;
  int instance_warmup_seconds = 300;
};
ManagedScalingConfig ManagedScalingOf(const Json& provider_doc);
// `given` (a request's managedScaling, or null) with AWS's defaults filled in, as
// DescribeCapacityProviders shows it; status DISABLED when not given.
Json ManagedScalingWithDefaults(const Json& given);

// AWS's CapacityProviderReservation, in percent.
double CapacityProviderReservation(int needed, int current);

// The instances the group should hold for `needed` at `target_capacity` percent.
int TargetInstances(int needed, int target_capacity);

struct ScalingInput {
  ManagedScalingConfig config;
  int needed = 0;       // N
  int desired = 0;      // the group's DesiredCapacity now
  int min_size = 0;
  int max_size = 0;
  int warming = 0;      // instances launched less than instanceWarmupPeriod ago, not registered yet
  int idle = 0;         // instances of the group that run no task and are not warming
  bool low_long_enough = false;  // the reservation has been below target for the scale-in wait
};

struct ScalingStep {
  int desired = 0;   // the DesiredCapacity to set (== input's when nothing changes)
  bool low = false;  // the target is below the desired capacity (a scale-in is pending)
};

// One pass's decision. A scale-out step waits while instances of the previous step are
// still warming up (they are capacity on its way, not yet capacity).
ScalingStep DecideScaling(const ScalingInput& in);

// How tasks of capacity provider `provider` are placed: an Auto Scaling group provider whose
// group Auto Scaling knows runs its tasks on its own instances only (those whose container
// instance carries its capacityProviderName); with managed scaling, a task that finds no
// room waits in PROVISIONING for the group to grow instead of failing ("the transition to
// provisioning only happens if you have enabled managed scaling for the capacity provider;
// otherwise, tasks that can't find capacity will fail immediately", Deep Dive on Amazon ECS
// Cluster Auto Scaling). Other providers (FARGATE, a group kecs could not check) place as
// before: on any instance of the cluster.
struct ProviderPlacement {
  bool own_instances = false;
  bool waits = false;
};
ProviderPlacement ProviderPlacementOf(state::Tx& tx, const std::string& region, const std::string& provider);

// How long a task may wait for capacity, and how many may wait per cluster: "a maximum of
// 100 tasks can be in the provisioning state for any cluster, and provisioning tasks will
// wait for capacity for between 10 and 30 minutes before transitioning to stopped" (Deep
// Dive on Amazon ECS Cluster Auto Scaling). kecs waits the longest, 30 minutes; the scale-in
// wait is 15 (CloudWatch's low alarm on the reservation, as ECS configures it). Minutes are
// the daemon's scaled minute (EcsOptions::minute_seconds).
inline constexpr int kMaxWaitingTasksPerCluster = 100;
inline constexpr double kWaitingTaskMinutes = 30;
inline constexpr double kScaleInMinutes = 15;

}  // namespace kecs::api::ecs
