#pragma once
// Task scale-in protection (issue 18): what GetTaskProtection and UpdateTaskProtection read
// and change, shared by the ECS API and the task metadata endpoint's task-protection
// path, which the ECS agent serves by calling these operations for the task.
//
// A task's protection is model::TaskInternal::protected_until; the service controller
// leaves protected tasks running when it scales in or replaces them in a deployment
// (reconcile/service_controller.cc). Facts from AWS's ECS model (service-2.json) and the
// ECS Developer Guide ("Task scale-in protection"):
//  - protection lasts expiresInMinutes, 1..2880, 120 when not given; each update with
//    protectionEnabled true restarts it; after it lapses protectionEnabled is false again;
//  - only tasks of a service can be protected: a standalone task is the failure
//    TASK_NOT_VALID; an unknown task is MISSING (as DescribeTasks);
//  - DEPLOYMENT_BLOCKED: "the service has more protected tasks than the desired count".
// Functions run inside the caller's transaction; pure otherwise.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "model/task.h"
#include "state/store.h"

namespace kecs::api::ecs {

constexpr int kDefaultProtectionMinutes = 120;
constexpr int kMaxProtectionMinutes = 2880;

// Who asks: the ARNs of tasks named by id are built from these.
struct ProtectionScope {
  std::string region;
  std::string account_id;
  std::string cluster;  // its name
};

// {"protectedTasks": [...], "failures": [...]}, as both operations answer.
struct ProtectionAnswer {
  Json protected_tasks = Json::array();
  Json failures = Json::array();
  Json ToJson() const { return {{"protectedTasks", protected_tasks}, {"failures", failures}}; }
};

// The protection's length for an update that enables it: `given` expiresInMinutes, or the
// default without one; InvalidArgument (ECS's InvalidParameterException) outside 1..2880.
Result<int> ProtectionMinutes(std::optional<int64_t> given);

// A ProtectedTask as ECS shows it at `now`: expirationDate only while protected.
Json ProtectedTaskView(const model::Task& task, double now);

// The tasks' protection (`refs`: ids or ARNs); with no refs, every task of the cluster that
// is protected now.
Result<ProtectionAnswer> GetTaskProtection(state::Tx& tx, const ProtectionScope& scope,
                                           const std::vector<std::string>& refs, double now);

// Sets (`enabled`, for `minutes`) or clears the tasks' protection. `minutes` must already
// be within 1..kMaxProtectionMinutes; it is ignored when clearing.
Result<ProtectionAnswer> UpdateTaskProtection(state::Tx& tx, const ProtectionScope& scope,
                                              const std::vector<std::string>& refs, bool enabled, int minutes,
                                              double now);

}  // namespace kecs::api::ecs
