#pragma once
// Reading a stored task document into the runtime's TaskSpec.
#include "base/json.h"
#include "runtime/runtime.h"

namespace kecs::reconcile {

// Builds the spec from the task document (its "kecs:containers" and "kecs:network").
runtime::TaskSpec SpecFromTask(const Json& task, const Json& internal, const std::string& task_id,
                               const std::string& cluster);

}  // namespace kecs::reconcile
