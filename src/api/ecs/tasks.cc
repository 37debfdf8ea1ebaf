// ECS tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.
#include <regex>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/launch.h"
#include "api/pagination.h"
#include "model/arn.h"
#include "model/task.h"
#include "net/domain/vpc.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

LaunchSpec SpecFrom(const Json& in) {
  LaunchSpec s;
  s.cluster = ClusterName(in);
  s.task_definition = JStr(in, "taskDefinition");
  s.count = static_cast<int>(JInt(in, "count", 1));
  s.launch_type = JOptStr(in, "launchType");
  s.capacity_provider_strategy = in.value("capacityProviderStrategy", Json());
  s.network_configuration = in.value("networkConfiguration", Json());
  s.overrides = in.value("overrides", Json::object());
  s.started_by = JStr(in, "startedBy");
  s.group = JStr(in, "group");
  s.tags = in.value("tags", Json::array());
  s.propagate_tags = JStr(in, "propagateTags");
  s.enable_execute_command = JBool(in, "enableExecuteCommand");
  s.platform_version = JStr(in, "platformVersion");
  s.placement_constraints = in.value("placementConstraints", Json::array());
  s.placement_strategy = in.value("placementStrategy", Json::array());
  return s;
}

// A task reference (id or ARN) to its id; ECS refuses malformed identifiers.
std::string TaskId(const std::string& ref) {
  static const std::regex kId("^[a-f0-9]{32}$|^[a-f0-9-]{36}$");
  std::string id = IdFromArnOrId(ref);
  if (!std::regex_match(id, kId)) throw InvalidParameter("Task Identifier is invalid");
  return id;
}

}  // namespace

Json EcsApi::RunTask(RequestContext& ctx, const Json& in) {
  LaunchSpec spec = SpecFrom(in);
  ValidateTags(spec.tags);
  // The SDKs fill clientToken in (an idempotency token) and keep it across their retries.
  std::optional<std::string> token = JOptStr(in, "clientToken");
  if (token) ValidateClientToken(*token);
  Json request = in;
  request.erase("clientToken");
  Check(regions_.Ensure(store_, ctx.region, ctx.account_id, ctx.now));
  LaunchOutcome out;
  WriteWithPortProbe(store_, ctx, options_, spec, [&](state::Tx& tx, const PortProbe& probe) {
    EnsureCluster(tx, ctx, spec.cluster, [&](state::Tx& t, RequestContext& c, const std::string& n) {
      return CreateClusterRecord(t, c, n, Json::object());
    });
    if (token) {
      if (auto again = ReplayClientToken(tx, ctx, spec.cluster, *token, request)) {
        out = std::move(*again);
        return;
      }
    }
    out = Launch(tx, ctx, options_, spec, &probe);
    if (token) RecordClientToken(tx, ctx, spec.cluster, *token, request, out);
  });
  return {{"tasks", out.tasks}, {"failures", out.failures}};
}

Json EcsApi::StartTask(RequestContext& ctx, const Json& in) {
  LaunchSpec spec = SpecFrom(in);
  const Json& refs = in.at("containerInstances");
  if (refs.empty()) throw InvalidParameter("Container instance cannot be empty.");
  if (refs.size() > 10) throw InvalidParameter("containerInstances can have at most 10 items.");
  for (const auto& r : refs) spec.container_instances.push_back(r.get<std::string>());
  spec.launch_type = "EC2";
  ValidateTags(spec.tags);
  Check(regions_.Ensure(store_, ctx.region, ctx.account_id, ctx.now));
  LaunchOutcome out;
  WriteWithPortProbe(store_, ctx, options_, spec, [&](state::Tx& tx, const PortProbe& probe) {
    out = Launch(tx, ctx, options_, spec, &probe);
  });
  return {{"tasks", out.tasks}, {"failures", out.failures}};
}

Json EcsApi::StopTask(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string id = TaskId(JStr(in, "task"));
  std::string reason = JStr(in, "reason", "Task stopped by user");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto t = Check(state::records::GetTask(tx, ctx.region, id));
    if (!t || t->cluster != cluster) throw InvalidParameter("The referenced task was not found.");
    if (t->desired_status != model::TaskStatus::kStopped) {
      t->desired_status = model::TaskStatus::kStopped;
      t->stop_code = model::StopCode::kUserInitiated;
      t->stopped_reason = reason;
      t->stopping_at = Ts(ctx);
      t->version += 1;
      Check(state::records::PutTask(tx, *t));
    }
    out = {{"task", state::records::TaskToAws(*t, true)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeTasks(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& refs = in.at("tasks");
  if (refs.empty()) throw InvalidParameter("Tasks cannot be empty.");
  if (refs.size() > 100) throw InvalidParameter("tasks can have at most 100 items.");
  bool tags = false;
  if (const Json* inc = JGet(in, "include")) {
    for (const auto& i : *inc) tags = tags || i == "TAGS";
  }
  std::vector<std::string> ids;
  ids.reserve(refs.size());
  for (const auto& r : refs) ids.push_back(IdFromArnOrId(r.get<std::string>()));
  Json tasks = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    // All of them in one statement, documents only (issue 19).
    auto views = Check(state::records::TaskViews(tx, ctx.region, cluster, ids, tags));
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!views[i]) {
        const std::string& ref = refs[i].get_ref<const std::string&>();
        failures.push_back({{"arn", ref.starts_with("arn:") ? ref : TaskArn(ctx, cluster, ids[i])},
                            {"reason", "MISSING"}});
        continue;
      }
      tasks.push_back(std::move(*views[i]));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  out["tasks"] = std::move(tasks);
  out["failures"] = std::move(failures);
  return out;
}

Json EcsApi::ListTasks(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  size_t max = MaxResults(in, 100, 100);
  std::optional<std::string> family = JOptStr(in, "family"), service = JOptStr(in, "serviceName"),
                             started_by = JOptStr(in, "startedBy"),
                             instance = JOptStr(in, "containerInstance"),
                             launch_type = JOptStr(in, "launchType");
  std::string desired = JStr(in, "desiredStatus", "RUNNING");
  if (service && (family || instance || started_by)) {
    throw InvalidParameter("cannot specify serviceName with other arguments");
  }
  if (started_by && (family || instance)) {
    throw InvalidParameter("cannot specify startedBy with other arguments");
  }
  // Bounded (ECS families are 1-255 characters): libstdc++ matches `+` by recursion, one
  // frame per character, so an unbounded pattern overflows the stack on a huge value.
  static const std::regex kFamilyRe("^[a-zA-Z0-9\\-_]{1,255}$");
  if (family && !std::regex_match(*family, kFamilyRe)) {
    throw InvalidParameter("family must match ^[a-zA-Z0-9\\-_]+$");
  }
  // The token carries the seq of the page's last task; the store reads the next page
  // straight from the (cluster, desiredStatus or startedBy, seq) indexes of migration 6.
  int64_t after_seq = 0;
  if (std::optional<std::string> token = JOptStr(in, "nextToken")) {
    std::optional<std::string> key = DecodeToken(*token);
    static const std::regex kSeq("^[0-9]{1,20}$");
    if (!key || !std::regex_match(*key, kSeq)) BadToken();
    try {
      after_seq = std::stoll(*key);
    } catch (const std::out_of_range&) {
      BadToken();
    }
  }
  Json arns = Json::array();
  std::optional<std::string> next_token;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    if (service) {
      auto svc = Check(tx.Get(kService, ctx.region, cluster + "/" + model::NameFromArnOrName(*service)));
      if (!svc) throw AwsError("ServiceNotFoundException", "Service not found.");
      *service = svc->name;
    }
    state::Query q{kTask, ctx.region, cluster};
    if (family) q.name = *family;
    // ECS never sets a desired status of PENDING, so that filter matches nothing, as in AWS.
    q.doc_equals.emplace_back("desiredStatus", desired);
    if (started_by) q.doc_equals.emplace_back("startedBy", *started_by);
    if (service) q.internal_equals.emplace_back("service", *service);
    if (launch_type) q.doc_equals.emplace_back("launchType", *launch_type);
    if (instance) q.internal_equals.emplace_back("placement.instance", IdFromArnOrId(*instance));
    q.after_seq = after_seq;
    q.limit = static_cast<int64_t>(max) + 1;  // one more tells whether a next page exists
    // Only each task's seq and ARN are read, not the whole task (issue 19).
    auto tasks = Check(state::records::ListTaskArns(tx, q));
    for (size_t i = 0; i < tasks.size() && i < max; ++i) arns.push_back(tasks[i].second);
    if (tasks.size() > max) next_token = EncodeToken(SeqKey(tasks[max - 1].first));
    return Status::Ok();
  }));
  Json out = {{"taskArns", arns}};
  if (next_token) out["nextToken"] = *next_token;
  return out;
}

}  // namespace kecs::api::ecs
