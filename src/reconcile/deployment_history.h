#pragma once
// ECS's deployment history: the service deployments and service revisions
// (model/service.h) of what the service scheduler and the service API do.
//
// Each function runs inside the caller's transaction, next to the change it records, so
// the history commits with it or not at all. The moves, as the scheduler makes them
// (reconcile/service_controller.h) and as the ECS developer guide names the states
// (service-deployment.html):
//   CreateService, an UpdateService that starts a deployment -> RecordDeploymentStarted: a new IN_PROGRESS record (kecs starts a deployment in the
//        same transaction that asks for it, so PENDING is never seen); a record still
//        ongoing is superseded: STOPPED, finishedAt (kayac/ecspresso#899 shows a superseded
//        deployment STOPPED with finishedAt just after the new one started);
//   the scheduler completes a deployment -> RecordDeploymentCompleted: SUCCESSFUL, or
//     ROLLBACK_SUCCESSFUL when the completed deployment was a rollback;
//   the circuit breaker fails one -> RecordDeploymentFailed: ROLLBACK_IN_PROGRESS with the
//     rollback's details, or STOPPED (stoppedAt) without rollback ("The service deployment
//     stops when ... the rollback option is not in use ... and the service fails", the
//     model's stoppedAt), or ROLLBACK_FAILED when there is nothing to roll back to;
//   StopServiceDeployment (ROLLBACK) -> StartRollback on the same record, as the circuit
//     breaker's rollback: "The service deployment moves to the ROLLBACK_REQUESTED state, and
//     then the rollback operation starts" (stop-service-deployment.html); kecs starts it in
//     the same transaction, so the record shows ROLLBACK_IN_PROGRESS at once.
// Not thread-safe beyond the transaction's own guarantees.
#include <map>
#include <optional>
#include <string>

#include "base/status.h"
#include "model/service.h"
#include "state/store.h"

namespace kecs::reconcile {

// A deployment's tasks that are not stopping.
struct DeploymentTaskCounts {
  int running = 0;
  int pending = 0;
};
// The service's tasks by deployment id ("ecs-svc/...").
Result<std::map<std::string, DeploymentTaskCounts>> CountServiceTasks(state::Tx& tx, const model::Service& svc);

// Fills in an ongoing record's live parts from the service: the revisions' task counts and
// the circuit breaker's failure count (a finished record keeps what it had at the end).
void FillLiveCounts(model::ServiceDeployment& d, const model::Service& svc,
                    const std::map<std::string, DeploymentTaskCounts>& counts);

// Records svc's PRIMARY deployment (svc.deployments.front(), just started) and its
// revision; svc's other deployments are the sources. Supersedes ongoing records, and keeps
// the newest model::kMaxServiceDeploymentsKept of the service.
Result<model::ServiceDeployment> RecordDeploymentStarted(state::Tx& tx, const model::Service& svc, double now);

// The scheduler completed `dep`, svc's PRIMARY deployment. `image_digests`: container name
// -> digest its tasks pulled, kept in the revision. No record: nothing to do.
Status RecordDeploymentCompleted(state::Tx& tx, const model::Service& svc, const model::Deployment& dep, double now,
                                 const std::map<std::string, std::string>& image_digests);

// The circuit breaker failed the deployment `failed_id` after `failed_tasks` failures;
// `rollback` is the deployment it started to roll back to `good` (both nullptr: none).
// With `alarm_reason`, the deployment alarms failed it instead: the record's alarms are
// TRIGGERED (its circuit breaker left as it was), its reason is `alarm_reason`, and
// whether a rollback was wanted is the alarms' `rollback`.
Status RecordDeploymentFailed(state::Tx& tx, const model::Service& svc, const std::string& failed_id,
                              int failed_tasks, const model::Deployment* rollback, const model::Deployment* good,
                              double now, const std::string& alarm_reason = "");

// Moves `d` to ROLLBACK_IN_PROGRESS: `rollback` (svc's new PRIMARY deployment) returns
// to the revision `revision_arn`, for `reason`.
void StartRollback(model::ServiceDeployment& d, const model::Deployment& rollback, const std::string& revision_arn,
                   const std::string& reason, double now);

// The record whose target or rollback is the service deployment `deployment_id`.
Result<std::optional<model::ServiceDeployment>> FindServiceDeployment(state::Tx& tx, const model::Service& svc,
                                                                     const std::string& deployment_id);

// The revision ARN the deployment `deployment_id` runs, from the history ("" if unknown).
Result<std::string> RevisionArnOf(state::Tx& tx, const model::Service& svc, const std::string& deployment_id);

// Deletes the service's whole history (DeleteService). Repeat calls delete nothing more.
Status DeleteServiceHistory(state::Tx& tx, const model::Service& svc);

}  // namespace kecs::reconcile
