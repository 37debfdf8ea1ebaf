// ECS task sets (issue 18): CreateTaskSet, DescribeTaskSets, UpdateTaskSet, DeleteTaskSet,
// UpdateServicePrimaryTaskSet, and the deployment-controller rules CreateService and
// UpdateService apply to services that run task sets (EXTERNAL and CODE_DEPLOY).
//
// A task set lives in its service's record (model::Service::task_sets), so one write
// changes both; the service scheduler (reconcile/service_controller.cc) keeps each set at
// its computedDesiredCount. Errors are ECS's where a source gives its words (cited at
// each); the rest are kecs's, and say so.
#include <cmath>
#include <functional>
#include <optional>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/task_definition_rules.h"
#include "model/arn.h"
#include "model/service.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

// ECS's answer to a task-set operation on a service without the EXTERNAL deployment
// controller (as the AWS CLI showed it: terraform-provider-aws issue 30347).
constexpr const char* kNotExternal =
    "Amazon ECS only supports task set management on services configured to use external deployment controllers.";

// ECS's limit and its words (aws-samples/ecs-bg-external-controller issue 6: "5
// deployments exist on the service. Unable to create new TaskSet since this exceeds the
// maximum limit.").
constexpr size_t kMaxTaskSets = 5;

AwsError TaskSetNotFound() {
  // The exception's documentation in the model; ECS's own message was not found.
  return AwsError("TaskSetNotFoundException", "The specified task set wasn't found.");
}

// The service of a task-set operation, which must use the EXTERNAL controller (`any`:
// CODE_DEPLOY is accepted too, for DescribeTaskSets).
model::Service RequireTaskSetService(state::Tx& tx, const RequestContext& ctx, const Json& in, bool any) {
  std::string cluster = ClusterName(in);
  RequireCluster(tx, ctx, cluster);
  model::Service svc = RequireService(tx, ctx, cluster, JStr(in, "service"), true);
  bool ok = svc.deployment_controller == "EXTERNAL" || (any && svc.UsesTaskSets());
  if (!ok) throw InvalidParameter(kNotExternal);
  return svc;
}

// CreateTaskSetRequest.clientToken: "Up to 36 ASCII characters in the range of 33-126
// (inclusive) are allowed." (the model). The message is kecs's (ECS's was not found).
void ValidateTaskSetClientToken(const std::string& token) {
  bool ok = !token.empty() && token.size() <= 36;
  for (unsigned char ch : token) ok = ok && ch >= 33 && ch <= 126;
  if (!ok) throw InvalidParameter("clientToken: up to 36 characters are allowed, in the range of 33-126, inclusive.");
}

model::TaskSet& RequireTaskSet(model::Service& svc, const std::string& ref) {
  model::TaskSet* ts = svc.FindTaskSet(ref);
  if (!ts) throw TaskSetNotFound();
  return *ts;
}

// scale: {value 0..100, unit PERCENT} (the Scale shape's documentation: "Accepted values
// are numbers between 0 and 100"). The messages are kecs's: ECS's were not found.
double ParseScale(const Json& scale) {
  if (!scale.is_object()) throw InvalidParameter("scale must be an object.");
  std::string unit = JStr(scale, "unit", "PERCENT");
  if (unit != "PERCENT") throw InvalidParameter("scale.unit must be PERCENT.");
  const Json* v = JGet(scale, "value");
  if (!v) return 0;
  if (!v->is_number()) throw InvalidParameter("scale.value must be a number.");
  double value = v->get<double>();
  if (!std::isfinite(value) || value < 0 || value > 100) {
    throw InvalidParameter("scale.value must be between 0 and 100.");
  }
  return value;
}

// The task set as the API answers it, with its live task counts.
Json TaskSetView(state::Tx& tx, const RequestContext& ctx, const model::Service& svc, model::TaskSet ts,
                 bool tags) {
  ts.running_count = 0;
  ts.pending_count = 0;
  for (const auto& t : Check(state::records::ListTasks(tx, {kTask, ctx.region, svc.cluster}))) {
    if (t.internal.service != svc.name || t.internal.deployment != ts.id) continue;
    if (t.desired_status != model::TaskStatus::kRunning) continue;
    if (t.last_status == model::TaskStatus::kRunning) {
      ++ts.running_count;
    } else if (t.last_status != model::TaskStatus::kStopped) {
      ++ts.pending_count;
    }
  }
  return state::records::TaskSetToAws(ts, tags);
}

std::string TaskSetArn(const RequestContext& ctx, const model::Service& svc, const std::string& id) {
  return model::EcsArn(ctx.region, ctx.account_id, fmt::format("task-set/{}/{}/{}", svc.cluster, svc.name, id));
}

// The write of UpdateTaskSet, DeleteTaskSet and UpdateServicePrimaryTaskSet: `change`
// changes the task set named by in[member] (and the service), the counts follow, and the
// answer is the task set.
Json ChangeTaskSet(state::Store& store, RequestContext& ctx, const Json& in, const char* member,
                   const std::function<void(model::Service&, model::TaskSet&)>& change) {
  Json out;
  Check(store.Write([&](state::Tx& tx) {
    model::Service svc = RequireTaskSetService(tx, ctx, in, false);
    model::TaskSet& ts = RequireTaskSet(svc, JStr(in, member));
    change(svc, ts);
    model::RecomputeTaskSetCounts(svc, Ts(ctx));
    svc.internal.steady = false;
    Check(state::records::PutService(tx, svc));
    out = {{"taskSet", TaskSetView(tx, ctx, svc, ts, true)}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace

void CheckDeploymentController(const std::string& controller, const std::string& strategy, const Json& in) {
  if (controller != "ECS" && controller != "CODE_DEPLOY" && controller != "EXTERNAL") {
    // kecs's wording (the model's enum lists these three; ECS's message was not found).
    throw InvalidParameter(fmt::format("Invalid deploymentController type: {}.", controller));
  }
  if (controller == "ECS") return;
  // "This scheduler strategy [REPLICA] is required if the service uses the CODE_DEPLOY or
  // EXTERNAL deployment controller types" (CreateServiceRequest.schedulingStrategy); the
  // message is kecs's.
  if (strategy != "REPLICA") {
    throw InvalidParameter(fmt::format(
        "The {} deployment controller type supports only the REPLICA scheduling strategy.", controller));
  }
  // "A task definition must be specified if the service uses either the ECS or
  // CODE_DEPLOY deployment controllers" (CreateServiceRequest.taskDefinition); kecs's words.
  if (controller == "CODE_DEPLOY" && !JGet(in, "taskDefinition")) {
    throw InvalidParameter("A task definition must be specified for a service with the CODE_DEPLOY deployment controller.");
  }
}

void RefuseTaskSetMembers(const model::Service& svc, const Json& in) {
  if (!svc.UsesTaskSets()) return;
  // UpdateService's documentation: with CODE_DEPLOY, "If the network configuration,
  // platform version, task definition, or load balancer need to be updated, create a new
  // CodeDeploy deployment"; with EXTERNAL, "If the launch type, load balancer, network
  // configuration, platform version, or task definition need to be updated, create a new
  // task set". ECS's words for the task definition with CODE_DEPLOY are "Unable to update
  // task definition on services with a CODE_DEPLOY deployment controller. Use AWS
  // CodeDeploy to trigger a new deployment." (boto/boto3 issue 1936); kecs words the other
  // members, and EXTERNAL, the same way.
  static constexpr std::pair<const char*, const char*> kMembers[] = {
      {"taskDefinition", "task definition"},
      {"networkConfiguration", "network configuration"},
      {"loadBalancers", "load balancers"},
      {"platformVersion", "platform version"},
      {"capacityProviderStrategy", "capacity provider strategy"},
      {"serviceRegistries", "service registries"},
  };
  const bool code_deploy = svc.deployment_controller == "CODE_DEPLOY";
  for (const auto& [member, words] : kMembers) {
    if (!JGet(in, member)) continue;
    throw InvalidParameter(fmt::format("Unable to update {} on services with {} {} deployment controller. {}", words,
                                       code_deploy ? "a" : "an", svc.deployment_controller,
                                       code_deploy ? "Use AWS CodeDeploy to trigger a new deployment."
                                                   : "Use task sets to trigger a new deployment."));
  }
}

model::TaskSet InitialTaskSet(const RequestContext& ctx, const model::Service& svc) {
  model::TaskSet ts;
  ts.id = model::NewDeploymentId();
  ts.arn = TaskSetArn(ctx, svc, ts.id);
  ts.service_arn = svc.arn;
  ts.cluster_arn = svc.cluster_arn;
  ts.status = model::TaskSetStatus::kPrimary;
  ts.task_definition = svc.task_definition;
  ts.launch_type = svc.launch_type;
  ts.capacity_provider_strategy = svc.capacity_provider_strategy;
  ts.platform_version = svc.platform_version;
  ts.platform_family = svc.platform_family;
  ts.network_configuration = svc.network_configuration;
  ts.load_balancers = svc.load_balancers;
  ts.service_registries = svc.service_registries;
  ts.scale = 100;
  ts.computed_desired_count = model::ComputedDesiredCount(svc.desired_count, ts.scale);
  ts.created_at = Ts(ctx);
  ts.updated_at = ts.created_at;
  ts.stability_status_at = ts.created_at;
  return ts;
}

Json EcsApi::CreateTaskSet(RequestContext& ctx, const Json& in) {
  if (JGet(in, "launchType") && JGet(in, "capacityProviderStrategy") && !in["capacityProviderStrategy"].empty()) {
    // As CreateService answers it.
    throw InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.");
  }
  double scale = JGet(in, "scale") ? ParseScale(in["scale"]) : 0;
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  auto token = JOptStr(in, "clientToken");
  if (token) ValidateTaskSetClientToken(*token);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    model::Service svc = RequireTaskSetService(tx, ctx, in, false);
    if (token && svc.internal.task_set_tokens.contains(*token)) {
      // A retry gets its task set back.
      if (const auto* ts = svc.FindTaskSet(svc.internal.task_set_tokens[*token].get<std::string>())) {
        out = {{"taskSet", TaskSetView(tx, ctx, svc, *ts, true)}};
        return Status::Ok();
      }
    }
    if (svc.task_sets.size() >= kMaxTaskSets) {
      throw InvalidParameter(fmt::format(
          "{} deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit.",
          svc.task_sets.size()));
    }
    auto td = FindTaskDefinition(tx, ctx, JStr(in, "taskDefinition"));
    if (!td) throw ClientException("TaskDefinition not found.");
    if (td->status != "ACTIVE") throw ClientException("TaskDefinition is inactive");
    // The task set's tasks are checked as a service's would be: a copy of the service
    // with the set's task definition, launch and network.
    model::Service probe = svc;
    probe.task_definition = JStr(td->doc, "taskDefinitionArn");
    probe.launch_type = JOptStr(in, "launchType");
    probe.capacity_provider_strategy = in.value("capacityProviderStrategy", Json());
    probe.platform_version.reset();
    probe.platform_family.reset();
    if (probe.launch_type == "FARGATE") {
      // "If one isn't specified, the LATEST platform version is used."
      probe.platform_version = JStr(in, "platformVersion", "LATEST");
      probe.platform_family = "Linux";
    }
    probe.network_configuration = in.value("networkConfiguration", Json());
    probe.load_balancers = ParseLoadBalancers(in.value("loadBalancers", Json::array()));
    ResolveNetwork(tx, ctx, td->doc, probe);
    ValidateLoadBalancers(tx, ctx, td->doc, probe);
    probe.service_registries = ValidateRegistries(tx, ctx, in.value("serviceRegistries", Json::array()));

    model::TaskSet ts = InitialTaskSet(ctx, probe);
    ts.external_id = JStr(in, "externalId");
    ts.status = model::TaskSetStatus::kActive;
    // The AWS CLI's create-task-set example (awscli/examples/ecs/create-task-set.rst)
    // shows scale {value 0.0, unit PERCENT} for a task set created without one.
    ts.scale = scale;
    ts.computed_desired_count = model::ComputedDesiredCount(svc.desired_count, ts.scale);
    ts.tags = tags;
    svc.task_sets.push_back(ts);
    if (token) {
      // Tokens of task sets that are gone go: the service's record keeps one per live set.
      Json kept = Json::object();
      for (const auto& [k, id] : svc.internal.task_set_tokens.items()) {
        if (id.is_string() && svc.FindTaskSet(id.get<std::string>())) kept[k] = id;
      }
      kept[*token] = ts.id;
      svc.internal.task_set_tokens = std::move(kept);
    }
    svc.internal.steady = false;
    Check(state::records::PutService(tx, svc));
    out = {{"taskSet", TaskSetView(tx, ctx, svc, ts, true)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeTaskSets(RequestContext& ctx, const Json& in) {
  bool tags = false;
  for (const auto& i : in.value("include", Json::array())) tags = tags || i == "TAGS";
  Json list = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    model::Service svc = RequireTaskSetService(tx, ctx, in, true);
    if (const Json* refs = JGet(in, "taskSets")) {
      for (const auto& r : *refs) {
        std::string ref = r.is_string() ? r.get<std::string>() : "";
        const model::TaskSet* ts = svc.FindTaskSet(ref);
        if (!ts) {
          // As DescribeServices answers a service it does not have.
          failures.push_back({{"arn", ref}, {"reason", "MISSING"}});
          continue;
        }
        list.push_back(TaskSetView(tx, ctx, svc, *ts, tags));
      }
    } else {
      for (const auto& ts : svc.task_sets) list.push_back(TaskSetView(tx, ctx, svc, ts, tags));
    }
    return Status::Ok();
  }));
  return {{"taskSets", list}, {"failures", failures}};
}

Json EcsApi::UpdateTaskSet(RequestContext& ctx, const Json& in) {
  double scale = ParseScale(in.value("scale", Json()));
  return ChangeTaskSet(store_, ctx, in, "taskSet", [&](model::Service&, model::TaskSet& ts) {
    if (ts.status == model::TaskSetStatus::kDraining) {
      // kecs's wording: ECS's answer for a deleted (DRAINING) task set was not found.
      throw InvalidParameter(fmt::format("The task set {} is being deleted and cannot be updated.", ts.id));
    }
    if (ts.scale != scale) {
      ts.scale = scale;
      ts.updated_at = Ts(ctx);
    }
  });
}

Json EcsApi::DeleteTaskSet(RequestContext& ctx, const Json& in) {
  bool force = JBool(in, "force");
  return ChangeTaskSet(store_, ctx, in, "taskSet", [&](model::Service&, model::TaskSet& ts) {
    if (ts.status == model::TaskSetStatus::kDraining) return;  // already being deleted
    if (!force) {
      // "force: If true, you can delete a task set even if it hasn't been scaled down to
      // zero" (DeleteTaskSetRequest), and a PRIMARY task set takes force as well
      // (terraform-provider-aws pull request 30839). The messages are kecs's: ECS's were
      // not found.
      if (ts.status == model::TaskSetStatus::kPrimary) {
        throw InvalidParameter(fmt::format(
            "The task set {} is the primary task set of the service. Use force to delete it.", ts.id));
      }
      if (ts.scale > 0) {
        throw InvalidParameter(fmt::format(
            "The task set {} has not been scaled down to zero. Scale it to 0 or use force to delete it.", ts.id));
      }
    }
    ts.status = model::TaskSetStatus::kDraining;
    ts.updated_at = Ts(ctx);
    ts.stability_status = model::StabilityStatus::kStabilizing;
    ts.stability_status_at = Ts(ctx);
  });
}

Json EcsApi::UpdateServicePrimaryTaskSet(RequestContext& ctx, const Json& in) {
  return ChangeTaskSet(store_, ctx, in, "primaryTaskSet", [&](model::Service& svc, model::TaskSet& primary) {
    if (primary.status == model::TaskSetStatus::kDraining) {
      // kecs's wording (ECS's was not found).
      throw InvalidParameter(fmt::format("The task set {} is being deleted and cannot be made primary.", primary.id));
    }
    double now = Ts(ctx);
    for (auto& ts : svc.task_sets) {
      if (ts.status == model::TaskSetStatus::kPrimary && ts.id != primary.id) {
        ts.status = model::TaskSetStatus::kActive;
        ts.updated_at = now;
      }
    }
    if (primary.status != model::TaskSetStatus::kPrimary) {
      primary.status = model::TaskSetStatus::kPrimary;
      primary.updated_at = now;
    }
    // "Any parameters that are updated on the primary task set in a service will
    // transition to the service." (the operation's documentation)
    svc.task_definition = primary.task_definition;
    svc.launch_type = primary.launch_type;
    svc.capacity_provider_strategy = primary.capacity_provider_strategy;
    svc.platform_version = primary.platform_version;
    svc.platform_family = primary.platform_family;
    svc.network_configuration = primary.network_configuration;
  });
}

}  // namespace kecs::api::ecs
