// ECS task scale-in protection: GetTaskProtection, UpdateTaskProtection.
#include "api/ecs/task_protection.h"

#include <map>
#include <optional>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "base/clock.h"
#include "model/arn.h"
#include "model/service.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

// Failure reasons. MISSING as DescribeTasks answers an unknown task (and as the ECS
// agent's task-protection handler expects it); TASK_NOT_VALID from the model's
// UpdateTaskProtection documentation ("Invoking this operation for a standalone task will
// result in an TASK_NOT_VALID failure"); DEPLOYMENT_BLOCKED from the Developer Guide's
// "Task scale-in protection" page. kecs answers TASK_NOT_VALID for a task that is stopping
// or stopped as well: no source gives ECS's reason for it (an early ECS agent named it
// TASK_STOPPING_OR_STOPPED, but the same list named the standalone case INVALID, which the
// API reference contradicts). The details are kecs's words: none of ECS's were found.
constexpr const char* kMissing = "MISSING";
constexpr const char* kTaskNotValid = "TASK_NOT_VALID";
constexpr const char* kDeploymentBlocked = "DEPLOYMENT_BLOCKED";

std::string ArnOf(const ProtectionScope& scope, const std::string& id) {
  return model::EcsArn(scope.region, scope.account_id, fmt::format("task/{}/{}", scope.cluster, id));
}

Json Failure(const std::string& arn, const char* reason, const std::string& detail = "") {
  Json f = {{"arn", arn}, {"reason", reason}};
  if (!detail.empty()) f["detail"] = detail;
  return f;
}

// The service task a reference names in the scope's cluster; nullopt, with the failure
// added, when there is no such task (MISSING) or it is a standalone one (TASK_NOT_VALID).
Result<std::optional<model::Task>> Resolve(state::Tx& tx, const ProtectionScope& scope, const std::string& ref,
                                           ProtectionAnswer& answer) {
  std::string id = IdFromArnOrId(ref);
  ASSIGN_OR_RETURN(auto t, state::records::GetTask(tx, scope.region, id));
  if (!t || t->cluster != scope.cluster) {
    answer.failures.push_back(Failure(ref.starts_with("arn:") ? ref : ArnOf(scope, id), kMissing));
    return std::optional<model::Task>();
  }
  if (t->internal.service.empty()) {
    answer.failures.push_back(Failure(t->task_arn, kTaskNotValid, "The task does not belong to a service."));
    return std::optional<model::Task>();
  }
  return t;
}

bool Stopping(const model::Task& t) {
  return t.desired_status == model::TaskStatus::kStopped || t.last_status == model::TaskStatus::kStopped;
}

// Per service: its desiredCount, and how many of its tasks are protected now.
struct ServiceCount {
  int desired = 0;
  int protected_now = 0;
};

Result<ServiceCount> CountService(state::Tx& tx, const ProtectionScope& scope, const std::string& service,
                                  double now) {
  ServiceCount c;
  ASSIGN_OR_RETURN(auto svc, state::records::GetService(tx, scope.region, scope.cluster, service));
  if (svc) c.desired = svc->desired_count;
  state::Query q{model::kTask, scope.region, scope.cluster};
  q.internal_equals.emplace_back("service", service);
  ASSIGN_OR_RETURN(auto tasks, state::records::ListTasks(tx, q));
  for (const auto& t : tasks) {
    if (model::ProtectedAt(t, now)) ++c.protected_now;
  }
  return c;
}

std::vector<std::string> Refs(const Json& in) {
  std::vector<std::string> refs;
  if (const Json* tasks = JGet(in, "tasks")) {
    for (const auto& r : *tasks) refs.push_back(r.get<std::string>());
  }
  return refs;
}

}  // namespace

Result<int> ProtectionMinutes(std::optional<int64_t> given) {
  if (!given) return kDefaultProtectionMinutes;
  // "You can specify a value from 1 minute to up to 2,880 minutes (48 hours)" (the model);
  // the message is kecs's: ECS's was not found.
  if (*given < 1 || *given > kMaxProtectionMinutes) {
    return InvalidArgument(fmt::format("expiresInMinutes must be between 1 and {} minutes.", kMaxProtectionMinutes));
  }
  return static_cast<int>(*given);
}

Json ProtectedTaskView(const model::Task& task, double now) {
  bool on = model::ProtectedAt(task, now);
  // As the AWS CLI's get-task-protection example shows an unprotected task: taskArn and
  // protectionEnabled false, no expirationDate.
  Json v = {{"taskArn", task.task_arn}, {"protectionEnabled", on}};
  if (on) v["expirationDate"] = *task.internal.protected_until;
  return v;
}

Result<ProtectionAnswer> GetTaskProtection(state::Tx& tx, const ProtectionScope& scope,
                                           const std::vector<std::string>& refs, double now) {
  ProtectionAnswer answer;
  if (refs.empty()) {
    // No list: the cluster's protected tasks (the model leaves `tasks` optional without
    // saying what ECS answers then; kecs's choice).
    ASSIGN_OR_RETURN(auto tasks, state::records::ListTasks(tx, {model::kTask, scope.region, scope.cluster}));
    for (const auto& t : tasks) {
      if (model::ProtectedAt(t, now)) answer.protected_tasks.push_back(ProtectedTaskView(t, now));
    }
    return answer;
  }
  for (const auto& ref : refs) {
    ASSIGN_OR_RETURN(auto t, Resolve(tx, scope, ref, answer));
    if (!t) continue;
    answer.protected_tasks.push_back(ProtectedTaskView(*t, now));
  }
  return answer;
}

Result<ProtectionAnswer> UpdateTaskProtection(state::Tx& tx, const ProtectionScope& scope,
                                              const std::vector<std::string>& refs, bool enabled, int minutes,
                                              double now) {
  ProtectionAnswer answer;
  std::map<std::string, ServiceCount> services;
  for (const auto& ref : refs) {
    ASSIGN_OR_RETURN(auto t, Resolve(tx, scope, ref, answer));
    if (!t) continue;
    if (Stopping(*t)) {
      answer.failures.push_back(Failure(t->task_arn, kTaskNotValid, "The task is stopping or stopped."));
      continue;
    }
    if (enabled) {
      auto it = services.find(t->internal.service);
      if (it == services.end()) {
        ASSIGN_OR_RETURN(ServiceCount c, CountService(tx, scope, t->internal.service, now));
        it = services.emplace(t->internal.service, c).first;
      }
      ServiceCount& c = it->second;
      // A task already protected only has its expiry moved; a newly protected one must
      // not make the service's protected tasks outnumber its desiredCount.
      if (!model::ProtectedAt(*t, now)) {
        if (c.protected_now + 1 > c.desired) {
          answer.failures.push_back(Failure(
              t->task_arn, kDeploymentBlocked,
              fmt::format("The service would have more protected tasks than its desired count ({}).", c.desired)));
          continue;
        }
        ++c.protected_now;
      }
      t->internal.protected_until = now + minutes * 60.0;
    } else {
      t->internal.protected_until.reset();
    }
    RETURN_IF_ERROR(state::records::PutTask(tx, *t));
    answer.protected_tasks.push_back(ProtectedTaskView(*t, now));
  }
  return answer;
}

Json EcsApi::GetTaskProtection(RequestContext& ctx, const Json& in) {
  ProtectionScope scope{ctx.region, ctx.account_id, ClusterName(in)};
  std::vector<std::string> refs = Refs(in);
  // "A list of up to 100 task IDs or full ARN entries" (the model); the wording is kecs's,
  // as DescribeTasks words its own limit.
  if (refs.size() > 100) throw InvalidParameter("tasks can have at most 100 items.");
  double now = Ts(ctx);
  ProtectionAnswer answer;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, scope.cluster);
    ASSIGN_OR_RETURN(answer, ecs::GetTaskProtection(tx, scope, refs, now));
    return Status::Ok();
  }));
  return answer.ToJson();
}

Json EcsApi::UpdateTaskProtection(RequestContext& ctx, const Json& in) {
  ProtectionScope scope{ctx.region, ctx.account_id, ClusterName(in)};
  std::vector<std::string> refs = Refs(in);
  // "A list of up to 10 task IDs or full ARN entries" (the model). Wording kecs's, as
  // DescribeTasks words its own limits.
  if (refs.empty()) throw InvalidParameter("Tasks cannot be empty.");
  if (refs.size() > 10) throw InvalidParameter("tasks can have at most 10 items.");
  bool enabled = JBool(in, "protectionEnabled");
  Result<int> minutes = ProtectionMinutes(enabled ? JOptInt(in, "expiresInMinutes") : std::nullopt);
  if (!minutes.ok()) throw InvalidParameter(minutes.status().message());
  double now = Ts(ctx);
  ProtectionAnswer answer;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, scope.cluster);
    ASSIGN_OR_RETURN(answer, ecs::UpdateTaskProtection(tx, scope, refs, enabled, *minutes, now));
    return Status::Ok();
  }));
  return answer.ToJson();
}

}  // namespace kecs::api::ecs
