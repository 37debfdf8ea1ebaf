#pragma once
// The one converter between model::Task and its store row (kind "ecs:task").
//
// Stored layout. The row's `doc` is AWS's Task shape exactly as DescribeTasks shows it
// (with tags), and kecs's own part (model::TaskInternal) is the row's `internal` column,
// not "kecs:" members inside the AWS document. Why a column rather than a wrapper document
// ({"aws":..,"kecs":..}): every reader that wants only AWS's members (the API views, SQL
// debugging, other kinds that filter on the document) keeps reading `doc` unchanged, and
// nothing internal can leak through a view that forgets to strip it. Migration 4 moved the
// "kecs:<name>" members of existing rows to member <name> of `internal`, which is the
// layout EncodeTask writes (networkMode, containers, network, service, deployment,
// counted, placement, registries). Issue 12 added volumes, pidMode, ipcMode, taskRoleArn,
// executionRoleArn, credentialsId and progress to it, and to each container its AWS-shaped
// healthCheck, dependsOn, startTimeout, mountPoints, volumesFrom, linuxParameters,
// privileged, systemControls and dockerLabels plus metadataId; rows written before decode
// with the records' defaults.
//
// Decoding is strict: a document that is not JSON, a member of the wrong type, or a status
// AWS does not spell is an Internal error that names the task id, never a defaulted value
// that fails later. Absent members take the record's defaults. Stateless; thread-safe.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "model/task.h"
#include "state/store.h"

namespace kecs::state::records {

Result<model::Task> DecodeTask(const Object& row);
Object EncodeTask(const model::Task& task);
// The task as DecodeTasks/RunTask/StopTask show it; internal members never appear.
Json TaskToAws(const model::Task& task, bool include_tags);

// Issue 12's members of an AWS ContainerDefinition (healthCheck, dependsOn, startTimeout,
// mountPoints, volumesFrom, linuxParameters, privileged, systemControls, dockerLabels) into
// `d`, and a task definition's `volumes`: the shapes the internal column keeps them in, so
// RunTask reads a task definition with the same strict reader. `subject` names the
// document in errors (Internal, the member's path), e.g. "task definition web:3".
Status ReadContainerSettings(std::string_view subject, const Json& def, model::ContainerDefinition& d);
Result<std::vector<model::Volume>> ReadVolumes(std::string_view subject, const Json& task_definition);

// nullopt when there is no such task; a row that does not decode is an error.
Result<std::optional<model::Task>> GetTask(Tx& tx, std::string_view region, std::string_view id);
// DescribeTasks' read: the AWS view (TaskToAws) of each task of `ids` (in their order,
// repeats included) that exists in `cluster`; nullopt for one that does not. One statement
// for the whole batch, and only each row's document is read and decoded (strictly, as
// DecodeTask does), never its internal part, which no view shows.
Result<std::vector<std::optional<Json>>> TaskViews(Tx& tx, std::string_view region, std::string_view cluster,
                                                   const std::vector<std::string>& ids, bool include_tags);
// Inserts or replaces the task's row (an existing row keeps its seq).
Status PutTask(Tx& tx, const model::Task& task);
// Fails with AlreadyExists when the id is taken.
Status InsertTask(Tx& tx, const model::Task& task);
// The tasks matching q (q.kind is ignored: always tasks), in q's order.
Result<std::vector<model::Task>> ListTasks(Tx& tx, const Query& q);
// The seq and taskArn of the tasks matching q (q.kind is ignored), in q's order, without
// decoding them: a ListTasks page. A row without a taskArn gives "".
Result<std::vector<std::pair<int64_t, std::string>>> ListTaskArns(Tx& tx, const Query& q);
// The tasks of one service that its controller acts on, in seq order: every one not
// STOPPED, and the STOPPED ones whose failure is not yet counted (internal.counted false).
// A STOPPED, counted task changes none of its decisions; it is left unread (migration 8).
Result<std::vector<model::Task>> ListServiceTasks(Tx& tx, std::string_view region, std::string_view cluster,
                                                  std::string_view service);

}  // namespace kecs::state::records
