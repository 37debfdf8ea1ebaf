#pragma once
// A typed task record as the runtime's TaskSpec: its container definitions and the network
// provisioning recorded (internal.containers and internal.network). Pure; thread-safe.
#include "model/task.h"
#include "runtime/runtime.h"

namespace kecs::reconcile {

runtime::TaskSpec SpecFromTask(const model::Task& task);

}  // namespace kecs::reconcile
