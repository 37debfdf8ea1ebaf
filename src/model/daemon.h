#pragma once
// ECS managed daemons (issue 18): the store kinds, ids and ARNs of daemon task
// definitions, daemons, daemon deployments and daemon revisions.
//
// AWS's model (third_party/aws-models/ecs/service-2.json) gives the shapes and enums but no
// ARN format for any of the four, and the developer guide pages found through the docs
// corpus (managed-daemons*.html, API_Daemon*.html) show none either. kecs forms them as
// ECS forms its task definition and service-deployment ARNs:
//   daemon-task-definition/FAMILY:REVISION
//   daemon/CLUSTER/NAME
//   daemon-deployment/CLUSTER/NAME/ID
//   daemon-revision/CLUSTER/NAME/ID
// Header-only; no state.
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "model/arn.h"

namespace kecs::model {

// Rows: a daemon task definition (id "FAMILY:REV", parent/name FAMILY, status the
// DaemonTaskDefinitionStatus); a daemon (id "CLUSTER/NAME", parent CLUSTER, name NAME,
// status the DaemonStatus); a deployment or revision (id "CLUSTER/NAME/ID", parent
// "CLUSTER/NAME", name ID; a deployment's status is its DaemonDeploymentStatus).
inline constexpr const char* kDaemonTaskDef = "ecs:daemon-taskdef";
inline constexpr const char* kDaemon = "ecs:daemon";
inline constexpr const char* kDaemonDeployment = "ecs:daemon-deployment";
inline constexpr const char* kDaemonRevision = "ecs:daemon-revision";

inline std::string DaemonTaskDefinitionArn(const std::string& region, const std::string& account,
                                           const std::string& family, int64_t revision) {
  return EcsArn(region, account, fmt::format("daemon-task-definition/{}:{}", family, revision));
}
inline std::string DaemonArn(const std::string& region, const std::string& account,
                             const std::string& cluster, const std::string& name) {
  return EcsArn(region, account, fmt::format("daemon/{}/{}", cluster, name));
}
inline std::string DaemonDeploymentArn(const std::string& region, const std::string& account,
                                       const std::string& cluster, const std::string& name,
                                       const std::string& id) {
  return EcsArn(region, account, fmt::format("daemon-deployment/{}/{}/{}", cluster, name, id));
}
inline std::string DaemonRevisionArn(const std::string& region, const std::string& account,
                                     const std::string& cluster, const std::string& name,
                                     const std::string& id) {
  return EcsArn(region, account, fmt::format("daemon-revision/{}/{}/{}", cluster, name, id));
}

// The group and startedBy of a daemon's tasks: how the daemon scheduler tells its tasks
// from everyone else's (a task's startedBy is the revision it runs).
inline std::string DaemonTaskGroup(const std::string& name) { return "daemon:" + name; }

// Deployment states (DaemonDeploymentStatus) kecs moves through.
inline constexpr const char* kDaemonDeploymentPending = "PENDING";
inline constexpr const char* kDaemonDeploymentInProgress = "IN_PROGRESS";
inline constexpr const char* kDaemonDeploymentSuccessful = "SUCCESSFUL";
inline constexpr const char* kDaemonDeploymentStopped = "STOPPED";
inline constexpr const char* kDaemonDeploymentRollbackInProgress = "ROLLBACK_IN_PROGRESS";
inline constexpr const char* kDaemonDeploymentRollbackSuccessful = "ROLLBACK_SUCCESSFUL";
inline constexpr const char* kDaemonDeploymentRollbackFailed = "ROLLBACK_FAILED";

}  // namespace kecs::model
