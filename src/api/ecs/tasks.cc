// ECS tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.
#include <regex>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/launch.h"
#include "api/pagination.h"
#include "model/arn.h"
#include "net/domain/vpc.h"

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
  Check(regions_.Ensure(store_, ctx.region, ctx.account_id, ctx.now));
  LaunchOutcome out;
  Check(store_.Write([&](state::Tx& tx) {
    EnsureCluster(tx, ctx, spec.cluster, [&](state::Tx& t, RequestContext& c, const std::string& n) {
      return CreateClusterRecord(t, c, n, Json::object());
    });
    out = Launch(tx, ctx, options_, spec);
    return Status::Ok();
  }));
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
  Check(store_.Write([&](state::Tx& tx) {
    out = Launch(tx, ctx, options_, spec);
    return Status::Ok();
  }));
  return {{"tasks", out.tasks}, {"failures", out.failures}};
}

Json EcsApi::StopTask(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string id = TaskId(JStr(in, "task"));
  std::string reason = JStr(in, "reason", "Task stopped by user");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto t = Check(tx.Get(kTask, ctx.region, id));
    if (!t || t->parent != cluster) throw InvalidParameter("The referenced task was not found.");
    if (JStr(t->doc, "desiredStatus") != "STOPPED") {
      t->doc["desiredStatus"] = "STOPPED";
      t->doc["stopCode"] = "UserInitiated";
      t->doc["stoppedReason"] = reason;
      t->doc["stoppingAt"] = Ts(ctx);
      t->doc["version"] = JInt(t->doc, "version") + 1;
      Check(tx.Put(*t));
    }
    out = {{"task", TaskView(*t, true)}};
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
  Json tasks = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& r : refs) {
      std::string ref = r.get<std::string>();
      std::string id = IdFromArnOrId(ref);
      auto t = Check(tx.Get(kTask, ctx.region, id));
      if (!t || t->parent != cluster) {
        failures.push_back({{"arn", ref.starts_with("arn:") ? ref : TaskArn(ctx, cluster, id)},
                            {"reason", "MISSING"}});
        continue;
      }
      tasks.push_back(TaskView(*t, tags));
    }
    return Status::Ok();
  }));
  return {{"tasks", tasks}, {"failures", failures}};
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
  static const std::regex kFamilyRe("^[a-zA-Z0-9\\-_]+$");
  if (family && !std::regex_match(*family, kFamilyRe)) {
    throw InvalidParameter("family must match ^[a-zA-Z0-9\\-_]+$");
  }
  std::string instance_id = instance ? IdFromArnOrId(*instance) : "";
  std::vector<std::string> keys, arns;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    if (service) {
      auto svc = Check(tx.Get(kService, ctx.region, cluster + "/" + model::NameFromArnOrName(*service)));
      if (!svc) throw AwsError("ServiceNotFoundException", "Service not found.");
      *service = svc->name;
    }
    state::Query q{kTask, ctx.region, cluster};
    if (family) q.name = *family;
    for (const auto& t : Check(tx.List(q))) {
      const Json& d = t.doc;
      // ECS never sets a desired status of PENDING, so that filter matches nothing, as in AWS.
      if (JStr(d, "desiredStatus") != desired) continue;
      if (service && JStr(d, "kecs:service") != *service) continue;
      if (started_by && JStr(d, "startedBy") != *started_by) continue;
      if (launch_type && JStr(d, "launchType") != *launch_type) continue;
      if (instance) {
        const Json* p = JGet(d, "kecs:placement");
        if (!p || JStr(*p, "instance") != instance_id) continue;
      }
      keys.push_back(SeqKey(t.seq));
      arns.push_back(JStr(d, "taskArn"));
    }
    return Status::Ok();
  }));
  return ArnsPage("taskArns", keys, arns, in, max);
}

}  // namespace kecs::api::ecs
