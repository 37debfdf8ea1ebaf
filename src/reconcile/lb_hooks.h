#pragma once
// ECS services behind load balancers: a service task's targets in its service's ELBv2
// target groups, as ECS manages them.
//
// Lifecycle (TaskHooks in reconcile/task_controller.h):
//   running      (ACTIVATING -> RUNNING) each of the service's loadBalancers entries with a
//                targetGroupArn registers the task in that group, with RegisterTargets'
//                rules: state `initial`, reason Elb.RegistrationInProgress, registered_at,
//                the zone, and the address the data plane connects to. An `ip` target is
//                the task's ENI address and the container port; an `instance` target
//                (bridge and host mode) is the container instance's EC2 instance id and
//                the host port of the container's mapping, reached at the host's address.
//                The registrations are recorded on the task (TaskInternal::targets), and
//                the service gets ECS's event "(service S) registered 1 targets in
//                (target-group ARN)".
//   stopping     each recorded target is deregistered: `draining`, reason
//                Target.DeregistrationInProgress, drain_until = now + the group's
//                deregistration_delay.timeout_seconds (at once when it is 0), with the
//                events "(service S) deregistered 1 targets in (target-group ARN)" and
//                "(service S) has begun draining connections on 1 tasks.".
//   deactivated  the task stays DEACTIVATING while any of its targets is still in its
//                group's record: the load balancer controller removes a drained target
//                once drain_until has passed. So that a task never hangs there (no
//                controller running, a clock jump), it moves on anyway once drain_until
//                (or stoppingAt plus the delay) is LbHookOptions::drain_margin_s past.
//   release      anything of the task left in a group is removed.
// A target group that no longer exists is skipped (nothing to register in or drain from);
// a registration that cannot be made (no ENI address, no host port) is logged and
// skipped, as the service's deployment then never sees the task healthy.
//
// A group's entry is the task's only while its id, port and registered_at match the
// task's record: an address a later task reuses is that task's registration.
//
// Every function runs inside the caller's write transaction and changes only the store
// (no runtime calls): the load balancer controller applies what the records say.
#include <functional>
#include <string>

#include "base/status.h"
#include "model/elb.h"
#include "model/task.h"
#include "state/store.h"

namespace kecs::reconcile {

struct LbHookOptions {
  // The address instance targets (bridge and host mode tasks) are reached at.
  std::string host_ip;
  // The EC2 instance id of the container instance `task` runs on, "" when it has none.
  // Unset: instance targets cannot be registered.
  std::function<Result<std::string>(state::Tx&, const model::Task& task)> instance_id;
  // How long past its drain a task waits at most for its targets to leave their groups.
  double drain_margin_s = 10;
};

// hooks.running: registers a service task in its service's target groups.
Status RegisterTaskTargets(state::Tx& tx, model::Task& task, double now, const LbHookOptions& options);
// hooks.stopping: deregisters the task's targets (they drain).
Status DeregisterTaskTargets(state::Tx& tx, model::Task& task, double now);
// hooks.deactivated: true once none of the task's targets is left in its group (or the
// safety cap has passed).
Result<bool> TaskTargetsDrained(state::Tx& tx, const model::Task& task, double now, const LbHookOptions& options);
// hooks.release: removes whatever of the task is still in a group; the task's record of
// its targets is cleared.
Status ReleaseTaskTargets(state::Tx& tx, model::Task& task);

// The group's entry for the task's target, or nullptr.
const model::Target* FindTaskTarget(const model::TargetGroup& group, const model::TaskTarget& target);

}  // namespace kecs::reconcile
