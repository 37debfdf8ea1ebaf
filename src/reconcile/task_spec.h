#pragma once
// A typed task record as the runtime's TaskSpec: its container definitions and the network
// provisioning recorded (internal.containers and internal.network), its volumes and
// namespaces modes. Each container's environment starts with what the ECS agent sets
// (ECS_CONTAINER_METADATA_URI[_V4]; AWS_CONTAINER_CREDENTIALS_RELATIVE_URI with a task
// role), which the container definition cannot override. Pure; thread-safe.
#include "model/task.h"
#include "runtime/runtime.h"

namespace kecs::reconcile {

runtime::TaskSpec SpecFromTask(const model::Task& task);

// An ENI as the runtime plumbs it (mode awsvpc): a task's, or an EC2 instance's primary ENI
// for Runtime::ApplyInstanceHost (issue 17), from EniFacts (reconcile/network_hooks.h).
runtime::NetworkSpec EniNetworkSpec(const model::TaskEni& eni);

}  // namespace kecs::reconcile
