#pragma once
// A task's secrets resolved for its start (issue 14), as the ECS agent resolves them before
// it pulls and starts any container: each container's `secrets` become environment
// variables, its log configuration's `secretOptions` log options, and its
// `repositoryCredentials` (a Secrets Manager secret whose SecretString is JSON with
// "username" and "password") the credentials of its image pull. The values go into the
// runtime's TaskSpec only, in memory: never into the task record, a log line or an error.
#include "model/task.h"
#include "reconcile/secret_source.h"
#include "runtime/runtime.h"

namespace kecs::reconcile {

// Whether any container of `task` names a secret, a secret log option or registry
// credentials.
bool HasSecrets(const model::Task& task);

// Fills `spec` (SpecFromTask(task)) with the values `task`'s references resolve to in the
// task's region and account. A secret replaces an environment variable (or log option) of
// the same name. On failure, nothing is promised of `spec`, and the error's message is the
// task's stoppedReason in AWS's words, naming the references that failed and never a
// value:
//   ResourceInitializationError: unable to pull secrets or registry auth: execution
//   resource retrieval failed: unable to retrieve secrets from ssm: service call has been
//   retried 1 time(s): invalid ssm parameters: /a,/b
// (every unresolvable SSM reference of the task, as the agent's one GetParameters call
// reports them), "...: unable to retrieve secret from asm: ... failed to fetch secret
// <arn> from secrets manager: ..." for a Secrets Manager secret, and "...: unable to get
// registry auth from asm: ..." for repositoryCredentials.
Status ResolveTaskSecrets(SecretSource& source, const model::Task& task, runtime::TaskSpec& spec);

}  // namespace kecs::reconcile
