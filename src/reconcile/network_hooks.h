#pragma once
// The task controller's network hooks: an awsvpc task's ENI and addresses.
//
// provision creates the task's ENI in its chosen subnet (address from IPAM, the task's
// security groups, description "arn:aws:ecs:<region>:<account>:attachment/<id>",
// requester-managed, in-use) and records what the runtime needs in the task's
// "kecs:network.eni". release deletes the ENI and frees everything the task held.
#include "reconcile/task_controller.h"

namespace kecs::reconcile {

// bridge-mode tasks take an address of `bridge_cidr` (the host bridge's network).
Status ProvisionNetwork(state::Tx& tx, state::Object& task, double now,
                        const std::string& bridge_cidr);
Status ReleaseNetwork(state::Tx& tx, state::Object& task);

}  // namespace kecs::reconcile
