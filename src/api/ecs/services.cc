// ECS services: CreateService, DescribeServices, ListServices, ListServicesByNamespace,
// UpdateService, DeleteService, and the TaskLauncher the service scheduler starts tasks
// through (reconcile/service_controller.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <regex>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/launch.h"
#include "api/ecs/network.h"
#include "api/ecs/placement.h"
#include "api/ecs/task_definition_rules.h"
#include "api/pagination.h"
#include "base/ids.h"
#include "model/arn.h"
#include "net/domain/vpc.h"
#include "net/kernel/host_ports.h"
#include "reconcile/deployment_history.h"
#include "reconcile/traffic_shift.h"
#include "state/records/elb.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

const std::regex kServiceName("^[a-zA-Z0-9_-]{1,255}$");

std::string ServiceArn(const RequestContext& ctx, const std::string& cluster, const std::string& name) {
  return model::EcsArn(ctx.region, ctx.account_id, fmt::format("service/{}/{}", cluster, name));
}

constexpr const char* kDaemonDesiredCount =
    "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again";

// AWS's defaults: 200/100 for REPLICA; DAEMON replaces each task in place (100/0) and
// cannot run more tasks than instances.
model::DeploymentConfiguration DefaultDeploymentConfiguration(const Json& given, bool daemon) {
  Json cfg = given.is_object() ? given : Json::object();
  if (!cfg.contains("maximumPercent")) cfg["maximumPercent"] = daemon ? 100 : 200;
  if (!cfg.contains("minimumHealthyPercent")) cfg["minimumHealthyPercent"] = daemon ? 0 : 100;
  if (daemon && JInt(cfg, "maximumPercent") > 100) {
    throw InvalidParameter("The daemon scheduling strategy does not support values above 100 for maximumPercent on a "
                           "deployment configuration. Change the value and try again.");
  }
  auto typed = state::records::DeploymentConfigurationFromJson(cfg);
  if (!typed.ok()) throw InvalidParameter("Invalid deploymentConfiguration: " + typed.status().message());
  return *typed;
}

}  // namespace

model::Service RequireService(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                              const std::string& ref, bool active_only) {
  auto s = Check(state::records::GetService(tx, ctx.region, cluster, model::NameFromArnOrName(ref)));
  if (!s) throw AwsError("ServiceNotFoundException", "Service not found.");
  if (active_only && s->status != model::ServiceStatus::kActive) {
    throw AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
  }
  return *s;
}

namespace {

// The network mode the service's tasks run in: the task definition's, or awsvpc when it
// names none and the service has an awsvpcConfiguration (lenient mode, as RunTask).
std::string TaskNetworkMode(const RequestContext& ctx, const Json& td, const model::Service& svc) {
  const Json& net = svc.network_configuration;
  bool has_net = net.is_object() && JGet(net, "awsvpcConfiguration");
  if (!JGet(td, "networkMode") && has_net && !ctx.strict) return "awsvpc";
  return NetworkModeOf(td);
}

}  // namespace

// Checks a service's network configuration the way RunTask would for its tasks. In
// lenient mode it also records what RunTask would infer, so DescribeServices shows what
// the tasks get: the launch type (FARGATE for awsvpc with a network configuration) and
// the default subnet when none was listed.
void ResolveNetwork(state::Tx& tx, RequestContext& ctx, const Json& td, model::Service& svc) {
  std::string mode = TaskNetworkMode(ctx, td, svc);
  const Json& net = svc.network_configuration;
  bool has_net = net.is_object() && JGet(net, "awsvpcConfiguration");
  bool explicit_launch = svc.launch_type || !svc.capacity_provider_strategy.is_null();
  std::string launch = svc.launch_type.value_or((!ctx.strict && mode == "awsvpc" && has_net) ? "FARGATE" : "EC2");
  NetworkPlan plan = PlanNetwork(tx, ctx, mode, launch, net, explicit_launch);
  if (ctx.strict) return;
  if (!explicit_launch) {
    svc.launch_type = launch;
    if (launch == "FARGATE") {
      svc.platform_version = "LATEST";
      svc.platform_family = "Linux";
    }
  }
  if (has_net && !plan.subnets.empty()) {
    Json& vpc = svc.network_configuration["awsvpcConfiguration"];
    if (!vpc.contains("subnets") || vpc["subnets"].empty()) vpc["subnets"] = plan.subnets;
  }
}

std::vector<model::ServiceLoadBalancer> ParseLoadBalancers(const Json& given) {
  auto lbs = state::records::ServiceLoadBalancersFromJson(given);
  if (!lbs.ok()) throw InvalidParameter(lbs.status().message());
  return *lbs;
}

// The service's loadBalancers against its task definition and the target groups, with
// ECS's InvalidParameterException messages (as CreateService and UpdateService answer
// them; each seen in users' reports of the API's errors, e.g. terraform-provider-aws
// issues 11723 and 12252, hashicorp/terraform 25306, amazon-ecs-agent 647 and 1276).
void ValidateLoadBalancers(state::Tx& tx, const RequestContext& ctx, const Json& td, const model::Service& svc) {
  const auto& lbs = svc.load_balancers;
  if (lbs.size() > 5) throw InvalidParameter("load balancers can have at most 5 items.");
  std::string mode = TaskNetworkMode(ctx, td, svc);
  for (const auto& lb : lbs) {
    if (!lb.load_balancer_name.empty() && !lb.target_group_arn.empty()) {
      throw InvalidParameter(
          "loadBalancerName and targetGroupArn cannot both be specified. You must specify either a loadBalancerName or "
          "a targetGroupArn.");
    }
    // kecs runs no Classic Load Balancer, so no name can be one (ECS's answer for a name
    // that is not a Classic Load Balancer of the account and region).
    if (!lb.load_balancer_name.empty()) {
      throw InvalidParameter(fmt::format("The load balancer {} does not exist.", lb.load_balancer_name));
    }
    // Neither given: the second sentence of ECS's message above (no report of ECS's own
    // answer for this case was found).
    if (lb.target_group_arn.empty()) throw InvalidParameter("You must specify either a loadBalancerName or a targetGroupArn.");
    if (lb.container_name.empty()) throw InvalidParameter("Container Name can not be blank.");
    // No report of ECS's answer for a missing containerPort was found; worded as the
    // containerName one.
    if (!lb.container_port) throw InvalidParameter("Container Port can not be blank.");
    std::optional<Json> container;
    for (const auto& c : td.value("containerDefinitions", Json::array())) {
      if (JStr(c, "name") == lb.container_name) container = c;
    }
    if (!container) {
      throw InvalidParameter(fmt::format("The container {} does not exist in the task definition.", lb.container_name));
    }
    bool port_defined = false;
    for (const auto& pm : container->value("portMappings", Json::array())) {
      port_defined = port_defined || JInt(pm, "containerPort") == *lb.container_port;
    }
    if (!port_defined) {
      throw InvalidParameter(fmt::format("The container {} does not have a container port {} defined.",
                                         lb.container_name, *lb.container_port));
    }
    // What ECS answers for a targetGroupArn it cannot find (it validates the group with
    // the service's role).
    std::string tg_id = model::IdFromArn(lb.target_group_arn, "targetgroup");
    std::optional<model::TargetGroup> tg;
    if (!tg_id.empty()) tg = Check(state::records::GetTargetGroup(tx, ctx.region, tg_id));
    if (!tg || tg->arn != lb.target_group_arn) {
      throw InvalidParameter(
          "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role "
          "being passed has the proper permissions.");
    }
    if (Check(state::records::LoadBalancersOfTargetGroup(tx, ctx.region, tg->id)).empty()) {
      throw InvalidParameter(fmt::format(
          "The target group with targetGroupArn {} does not have an associated load balancer.", lb.target_group_arn));
    }
    bool fits = mode == "awsvpc" ? tg->target_type == model::TargetType::kIp
                                 : tg->target_type == model::TargetType::kInstance;
    if (!fits) {
      throw InvalidParameter(fmt::format(
          "The provided target group {} has target type {}, which is incompatible with the {} network mode specified "
          "in the task definition.",
          lb.target_group_arn, model::ToString(tg->target_type), mode));
    }
  }
}

// ---- Deployment strategies (issue 18) ----------------------------------------------
// The deploymentConfiguration's strategy members and the load balancers'
// advancedConfiguration, checked against the ranges and rules of ECS's model
// (third_party/aws-models/ecs/service-2.json: DeploymentConfiguration, LinearConfiguration,
// CanaryConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookDuration) and the
// developer guide's required resources (blue-green-deployment-implementation.html,
// alb-resources-for-blue-green.html). No AWS source gives ECS's messages for these
// checks (none was found in the docs, issues or code corpora searched): every message
// below is kecs's wording, in ECS's InvalidParameterException.
namespace {

constexpr std::array<std::string_view, 4> kStrategies = {"ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"};
constexpr std::array<std::string_view, 8> kHookStages = {
    "RECONCILE_SERVICE",       "PRE_SCALE_UP",         "POST_SCALE_UP",           "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT"};

template <size_t N>
bool OneOf(const std::array<std::string_view, N>& words, const std::string& s) {
  return std::find(words.begin(), words.end(), s) != words.end();
}

// "Valid values are multiples of 0.1 from LO to 100.0" (the model).
bool TenthsInRange(double v, double lo) {
  double tenths = v * 10;
  return v >= lo - 1e-9 && v <= 100.0 + 1e-9 && std::fabs(tenths - std::round(tenths)) < 1e-6;
}

void CheckMinutes(const std::optional<int>& v, const char* name) {
  // "Valid values are 0 to 1440 minutes (24 hours)." (the model's LinearConfiguration and
  // CanaryConfiguration; the same range for bakeTimeInMinutes, as terraform-provider-aws
  // documents it).
  if (v && (*v < 0 || *v > 1440)) {
    throw InvalidParameter(fmt::format("{} must be between 0 and 1440 minutes.", name));
  }
}

void CheckHooks(const model::DeploymentConfiguration& cfg) {
  if (!cfg.lifecycle_hooks) return;
  for (const auto& h : *cfg.lifecycle_hooks) {
    std::string type = h.TargetType();
    if (type != "AWS_LAMBDA" && type != "PAUSE") {
      throw InvalidParameter(
          fmt::format("Invalid lifecycle hook targetType {}. Valid values are AWS_LAMBDA and PAUSE.", h.target_type));
    }
    // "You must provide this parameter when configuring an AWS_LAMBDA lifecycle hook."
    if (type == "AWS_LAMBDA" && h.hook_target_arn.empty()) {
      throw InvalidParameter("hookTargetArn must be specified for a lifecycle hook with targetType AWS_LAMBDA.");
    }
    if (h.lifecycle_stages.empty()) throw InvalidParameter("lifecycleStages must not be empty for a lifecycle hook.");
    for (const auto& stage : h.lifecycle_stages) {
      if (!OneOf(kHookStages, stage)) {
        throw InvalidParameter(fmt::format("Invalid lifecycle stage {} for a lifecycle hook.", stage));
      }
    }
    if (h.timeout_configuration.is_object()) {
      // DeploymentLifecycleHookDuration: 1-20160; action ROLLBACK | CONTINUE.
      if (const Json* m = JGet(h.timeout_configuration, "timeoutInMinutes")) {
        if (!m->is_number_integer() || m->get<int64_t>() < 1 || m->get<int64_t>() > 20160) {
          throw InvalidParameter("timeoutInMinutes must be between 1 and 20160.");
        }
      }
      std::string action = JStr(h.timeout_configuration, "action", "ROLLBACK");
      if (action != "ROLLBACK" && action != "CONTINUE") {
        throw InvalidParameter(fmt::format("Invalid timeout action {}. Valid values are ROLLBACK and CONTINUE.", action));
      }
    }
  }
}

// The rule `arn` (productionListenerRule or testListenerRule of the load balancer `lb`)
// must exist and forward to the service's target group or its alternate; a rule with
// other actions besides cannot shift traffic ("Blue/green deployments are not supported
// when using Application Load Balancer listeners configured with multiple action types",
// alb-resources-for-blue-green.html).
void CheckListenerRule(state::Tx& tx, const RequestContext& ctx, const model::ServiceLoadBalancer& lb,
                       const std::string& arn, const char* member) {
  auto ref = Check(reconcile::FindListenerRule(tx, ctx.region, arn));
  if (!ref) throw InvalidParameter(fmt::format("The {} {} does not exist.", member, arn));
  for (const auto& a : ref->Actions()) {
    if (a.type != model::ActionType::kForward) {
      throw InvalidParameter(fmt::format("The {} {} must have only forward actions.", member, arn));
    }
  }
  auto groups = reconcile::ForwardTargetGroups(*ref);
  bool names_ours = false;
  for (const auto& g : groups) {
    names_ours = names_ours || g == lb.target_group_arn || g == lb.advanced->alternate_target_group_arn;
  }
  if (!names_ours) {
    throw InvalidParameter(fmt::format("The {} {} does not forward to the target group {} or {}.", member, arn,
                                       lb.target_group_arn, lb.advanced->alternate_target_group_arn));
  }
}

void ValidateDeploymentStrategy(state::Tx& tx, const RequestContext& ctx, const model::Service& svc) {
  const auto& cfg = svc.deployment_configuration;
  std::string strategy = cfg.Strategy();
  if (!OneOf(kStrategies, strategy)) {
    throw InvalidParameter(fmt::format(
        "Invalid deployment strategy {}. Valid values are ROLLING, BLUE_GREEN, LINEAR and CANARY.", strategy));
  }
  // "This is only valid when you run CreateService or UpdateService with deploymentController
  // set to ECS" (the model's LinearConfiguration and CanaryConfiguration).
  if (strategy != "ROLLING" && svc.deployment_controller != "ECS") {
    throw InvalidParameter(fmt::format("The {} deployment strategy is supported only with the ECS deployment controller.",
                                       strategy));
  }
  if (cfg.linear && strategy != "LINEAR") {
    throw InvalidParameter("linearConfiguration is only valid when the deployment strategy is LINEAR.");
  }
  if (cfg.canary && strategy != "CANARY") {
    throw InvalidParameter("canaryConfiguration is only valid when the deployment strategy is CANARY.");
  }
  // "You must provide this parameter when you use the BLUE_GREEN deployment strategy."
  if (strategy == "BLUE_GREEN" && !cfg.bake_time_in_minutes) {
    throw InvalidParameter("bakeTimeInMinutes must be specified for the BLUE_GREEN deployment strategy.");
  }
  CheckMinutes(cfg.bake_time_in_minutes, "bakeTimeInMinutes");
  if (cfg.linear) {
    if (cfg.linear->step_percent && !TenthsInRange(*cfg.linear->step_percent, 3.0)) {
      throw InvalidParameter("stepPercent must be a multiple of 0.1 from 3.0 to 100.0.");
    }
    CheckMinutes(cfg.linear->step_bake_time_in_minutes, "stepBakeTimeInMinutes");
  }
  if (cfg.canary) {
    if (cfg.canary->canary_percent && !TenthsInRange(*cfg.canary->canary_percent, 0.1)) {
      throw InvalidParameter("canaryPercent must be a multiple of 0.1 from 0.1 to 100.0.");
    }
    CheckMinutes(cfg.canary->canary_bake_time_in_minutes, "canaryBakeTimeInMinutes");
  }
  CheckHooks(cfg);
  if (cfg.alarms && cfg.alarms->enable && cfg.alarms->alarm_names.empty()) {
    throw InvalidParameter("alarmNames must not be empty when alarms are enabled.");
  }
  if (strategy == "ROLLING") return;
  // Each ELBv2 load balancer needs its alternate target group and production listener rule
  // (blue-green-deployment-implementation.html, "Required resources").
  for (const auto& lb : svc.load_balancers) {
    if (lb.target_group_arn.empty()) continue;
    if (!lb.advanced || lb.advanced->alternate_target_group_arn.empty() || lb.advanced->production_listener_rule.empty()) {
      throw InvalidParameter(fmt::format(
          "The {} deployment strategy requires an advancedConfiguration with alternateTargetGroupArn and "
          "productionListenerRule for the target group {}.",
          strategy, lb.target_group_arn));
    }
    const std::string& alt = lb.advanced->alternate_target_group_arn;
    if (alt == lb.target_group_arn) {
      throw InvalidParameter("alternateTargetGroupArn must differ from the load balancer's targetGroupArn.");
    }
    std::string id = model::IdFromArn(alt, "targetgroup");
    std::optional<model::TargetGroup> tg;
    if (!id.empty()) tg = Check(state::records::GetTargetGroup(tx, ctx.region, id));
    if (!tg || tg->arn != alt) {
      // As ECS answers a targetGroupArn it cannot find (ValidateLoadBalancers).
      throw InvalidParameter(
          "Unable to assume role and validate the specified alternateTargetGroupArn. Please verify that the ECS "
          "service role being passed has the proper permissions.");
    }
    auto primary = Check(state::records::GetTargetGroup(tx, ctx.region, model::IdFromArn(lb.target_group_arn, "targetgroup")));
    if (primary && primary->target_type != tg->target_type) {
      throw InvalidParameter(fmt::format("The alternate target group {} has target type {}, but the target group {} has {}.",
                                         alt, model::ToString(tg->target_type), lb.target_group_arn,
                                         model::ToString(primary->target_type)));
    }
    CheckListenerRule(tx, ctx, lb, lb.advanced->production_listener_rule, "productionListenerRule");
    if (!lb.advanced->test_listener_rule.empty()) {
      // The test rule's weights move apart from production's (all test traffic goes to
      // green first): one rule cannot be both.
      if (lb.advanced->test_listener_rule == lb.advanced->production_listener_rule) {
        throw InvalidParameter("testListenerRule must differ from productionListenerRule.");
      }
      CheckListenerRule(tx, ctx, lb, lb.advanced->test_listener_rule, "testListenerRule");
    }
  }
}

}  // namespace

// Registry ARNs must name Cloud Map services that exist.
std::vector<model::ServiceRegistry> ValidateRegistries(state::Tx& tx, const RequestContext& ctx, const Json& given) {
  auto registries = state::records::ServiceRegistriesFromJson(given);
  if (!registries.ok()) throw InvalidParameter(registries.status().message());
  for (const auto& r : *registries) {
    auto o = Check(tx.Get("sd:service", ctx.region, model::NameFromArnOrName(r.registry_arn)));
    if (!o) {
      throw InvalidParameter(fmt::format("The service discovery registry {} was not found.", r.registry_arn));
    }
  }
  return *registries;
}

model::Deployment NewDeployment(const RequestContext& ctx, const model::Service& svc) {
  model::Deployment d;
  d.id = model::NewDeploymentId();
  d.status = model::DeploymentStatus::kPrimary;
  d.task_definition = svc.task_definition;
  d.desired_count = svc.desired_count;
  d.created_at = Ts(ctx);
  d.updated_at = Ts(ctx);
  d.rollout_state = model::RolloutState::kInProgress;
  d.rollout_state_reason = "ECS deployment " + d.id + " in progress.";
  d.launch_type = svc.launch_type;
  d.capacity_provider_strategy = svc.capacity_provider_strategy;
  d.network_configuration = svc.network_configuration;
  d.platform_version = svc.platform_version;
  return d;
}

Json EcsApi::ServiceView(state::Tx& tx, const RequestContext& ctx, model::Service svc, bool tags) {
  svc.running_count = 0;
  svc.pending_count = 0;
  std::map<std::string, std::pair<int, int>> per_dep;  // deployment -> running, pending
  for (const auto& t : Check(state::records::ListTasks(tx, {kTask, ctx.region, svc.cluster}))) {
    if (t.internal.service != svc.name || t.desired_status != model::TaskStatus::kRunning) continue;
    auto& c = per_dep[t.internal.deployment];
    if (t.last_status == model::TaskStatus::kRunning) {
      ++svc.running_count;
      ++c.first;
    } else if (t.last_status != model::TaskStatus::kStopped) {
      ++svc.pending_count;
      ++c.second;
    }
  }
  for (auto& d : svc.deployments) {
    auto it = per_dep.find(d.id);
    d.running_count = it == per_dep.end() ? 0 : it->second.first;
    d.pending_count = it == per_dep.end() ? 0 : it->second.second;
  }
  for (auto& ts : svc.task_sets) {  // a task set's tasks carry its id as their deployment
    auto it = per_dep.find(ts.id);
    ts.running_count = it == per_dep.end() ? 0 : it->second.first;
    ts.pending_count = it == per_dep.end() ? 0 : it->second.second;
  }
  return state::records::ServiceToAws(svc, tags);
}

Json EcsApi::CreateService(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string name = JStr(in, "serviceName");
  if (!std::regex_match(name, kServiceName)) {
    throw InvalidParameter("Service names can have up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.");
  }
  std::string strategy = JStr(in, "schedulingStrategy", "REPLICA");
  if (strategy == "REPLICA" && !JGet(in, "desiredCount")) {
    throw InvalidParameter("The desired count must be specified when the scheduling strategy is REPLICA.");
  }
  if (JInt(in, "desiredCount") < 0) throw InvalidParameter("desiredCount must be greater than or equal to 0.");
  if (strategy == "DAEMON") {
    if (JGet(in, "desiredCount")) throw InvalidParameter(kDaemonDesiredCount);
    // Fargate has no instances to run one task each on.
    if (JStr(in, "launchType") == "FARGATE") {
      throw InvalidParameter("The daemon scheduling strategy is not supported with the FARGATE launch type.");
    }
  }
  if (JGet(in, "launchType") && JGet(in, "capacityProviderStrategy") && !in["capacityProviderStrategy"].empty()) {
    throw InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.");
  }
  std::string controller = JStr(in.value("deploymentController", Json::object()), "type", "ECS");
  CheckDeploymentController(controller, strategy, in);
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  Check(regions_.Ensure(store_, ctx.region, ctx.account_id, ctx.now));
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    EnsureCluster(tx, ctx, cluster, [&](state::Tx& t, RequestContext& c, const std::string& n) {
      return CreateClusterRecord(t, c, n, Json::object());
    });
    // An EXTERNAL service may name no task definition: its task sets do.
    std::optional<state::Object> td;
    if (controller != "EXTERNAL" || JGet(in, "taskDefinition")) {
      td = FindTaskDefinition(tx, ctx, JStr(in, "taskDefinition"));
      if (!td) throw ClientException("TaskDefinition not found.");
      if (td->status != "ACTIVE") throw ClientException("TaskDefinition is inactive");
    }
    bool daemon = strategy == "DAEMON";
    model::Service svc;
    svc.region = ctx.region;
    svc.cluster = cluster;
    svc.name = name;
    svc.arn = ServiceArn(ctx, cluster, name);
    svc.cluster_arn = ClusterArn(ctx, cluster);
    svc.load_balancers = ParseLoadBalancers(in.value("loadBalancers", Json::array()));
    svc.status = model::ServiceStatus::kActive;
    svc.desired_count = daemon ? 0 : static_cast<int>(JInt(in, "desiredCount"));
    svc.launch_type = JOptStr(in, "launchType");
    if (const Json* cp = JGet(in, "capacityProviderStrategy")) svc.capacity_provider_strategy = *cp;
    if (svc.launch_type == "FARGATE") {
      svc.platform_version = JStr(in, "platformVersion", "LATEST");
      svc.platform_family = "Linux";
    }
    svc.task_definition = td ? JStr(td->doc, "taskDefinitionArn") : "";
    svc.deployment_configuration = DefaultDeploymentConfiguration(in.value("deploymentConfiguration", Json()), daemon);
    if (const Json* n = JGet(in, "networkConfiguration")) svc.network_configuration = *n;
    if (td) {
      ResolveNetwork(tx, ctx, td->doc, svc);
      ValidateLoadBalancers(tx, ctx, td->doc, svc);
    }
    svc.service_registries = ValidateRegistries(tx, ctx, in.value("serviceRegistries", Json::array()));
    svc.placement_constraints = in.value("placementConstraints", Json::array());
    svc.placement_strategy = in.value("placementStrategy", Json::array());
    svc.health_check_grace_period_seconds = JOptInt(in, "healthCheckGracePeriodSeconds");
    svc.scheduling_strategy = daemon ? model::SchedulingStrategy::kDaemon : model::SchedulingStrategy::kReplica;
    svc.deployment_controller = controller;
    ValidateDeploymentStrategy(tx, ctx, svc);
    svc.tags = tags;
    svc.created_by = fmt::format("arn:aws:iam::{}:root", ctx.account_id);
    svc.enable_ecs_managed_tags = JBool(in, "enableECSManagedTags");
    svc.propagate_tags = JStr(in, "propagateTags", "NONE");
    svc.enable_execute_command = JBool(in, "enableExecuteCommand");
    svc.created_at = Ts(ctx);
    svc.internal.strict = ctx.strict;  // its tasks launch under the rules it was created with
    // A service with task sets has no deployments (the task sets are its deployments; no
    // source shows what ECS lists in `deployments` for one, so kecs lists none); a
    // CODE_DEPLOY one starts with its PRIMARY task set.
    if (!svc.UsesTaskSets()) svc.deployments = {NewDeployment(ctx, svc)};
    if (controller == "CODE_DEPLOY") svc.task_sets = {InitialTaskSet(ctx, svc)};

    auto existing = Check(state::records::GetService(tx, ctx.region, cluster, name));
    if (existing && existing->status != model::ServiceStatus::kInactive) {
      // A retry with the clientToken that created the service gets it back; anything else
      // names a service that exists.
      auto token = JOptStr(in, "clientToken");
      if (token && existing->status == model::ServiceStatus::kActive && existing->internal.client_token == *token) {
        out = {{"service", ServiceView(tx, ctx, *existing, true)}};
        return Status::Ok();
      }
      throw InvalidParameter("Creation of service was not idempotent.");
    }
    svc.internal.client_token = JOptStr(in, "clientToken");
    Check(state::records::PutService(tx, svc));
    if (!svc.UsesTaskSets()) Check(reconcile::RecordDeploymentStarted(tx, svc, ctx.now));
    out = {{"service", ServiceView(tx, ctx, svc, true)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeServices(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& refs = in.at("services");
  if (refs.empty()) throw InvalidParameter("Services cannot be empty.");
  if (refs.size() > 10) throw InvalidParameter("services can have at most 10 items.");
  bool tags = false;
  for (const auto& i : in.value("include", Json::array())) tags = tags || i == "TAGS";
  Json list = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& r : refs) {
      const std::string ref = r.get<std::string>();
      std::string name = model::NameFromArnOrName(ref);
      auto s = Check(state::records::GetService(tx, ctx.region, cluster, name));
      if (!s) {
        // ECS names a missing service by the ARN it was given, and a bare name by the old
        // ARN format without the cluster ("arn:aws:ecs:us-east-2:...:service/pawebapp-service
        // is MISSING", aws-actions/amazon-ecs-deploy-task-definition#312).
        std::string arn = ref.starts_with("arn:") ? ref : model::EcsArn(ctx.region, ctx.account_id, "service/" + name);
        failures.push_back({{"arn", arn}, {"reason", "MISSING"}});
        continue;
      }
      list.push_back(ServiceView(tx, ctx, *s, tags));
    }
    return Status::Ok();
  }));
  return {{"services", list}, {"failures", failures}};
}

Json EcsApi::ListServices(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  size_t max = MaxResults(in, 10, 100);
  std::optional<std::string> launch = JOptStr(in, "launchType"), strategy = JOptStr(in, "schedulingStrategy");
  std::vector<std::string> keys, arns;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& s : Check(state::records::ListServices(tx, {ctx.region, false, cluster}))) {
      // A DRAINING service is no longer listed (DeleteService's documentation).
      if (s.status != model::ServiceStatus::kActive) continue;
      if (launch && s.launch_type.value_or("") != *launch) continue;
      if (strategy && model::ToString(s.scheduling_strategy) != *strategy) continue;
      keys.push_back(SeqKey(s.seq));
      arns.push_back(s.arn);
    }
    return Status::Ok();
  }));
  return ArnsPage("serviceArns", keys, arns, in, max);
}

Json EcsApi::ListServicesByNamespace(RequestContext& ctx, const Json& in) {
  std::string ns_ref = JStr(in, "namespace");
  size_t max = MaxResults(in, 10, 100);
  std::vector<std::string> keys, arns;
  Check(store_.Read([&](state::Tx& tx) {
    // The namespace by ARN, id or name.
    std::string ns_id;
    for (const auto& ns : Check(tx.List({"sd:namespace", ctx.region}))) {
      if (JStr(ns.doc, "Arn") == ns_ref || ns.id == ns_ref || JStr(ns.doc, "Name") == ns_ref) ns_id = ns.id;
    }
    if (ns_id.empty()) throw AwsError("NamespaceNotFoundException", "Namespace not found.");
    for (const auto& s : Check(state::records::ListServices(tx, {ctx.region, false, std::nullopt}))) {
      if (s.status == model::ServiceStatus::kInactive) continue;
      bool in_ns = false;
      for (const auto& r : s.service_registries) {
        auto sd = Check(tx.Get("sd:service", ctx.region, model::NameFromArnOrName(r.registry_arn)));
        in_ns = in_ns || (sd && JStr(sd->doc, "NamespaceId") == ns_id);
      }
      if (!in_ns) continue;
      keys.push_back(SeqKey(s.seq));
      arns.push_back(s.arn);
    }
    return Status::Ok();
  }));
  return ArnsPage("serviceArns", keys, arns, in, max);
}

Json EcsApi::UpdateService(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    model::Service svc = RequireService(tx, ctx, cluster, JStr(in, "service"), true);
    bool daemon = svc.scheduling_strategy == model::SchedulingStrategy::kDaemon;
    RefuseTaskSetMembers(svc, in);
    bool redeploy = JBool(in, "forceNewDeployment");
    if (auto dc = JOptInt(in, "desiredCount")) {
      if (*dc < 0) throw InvalidParameter("desiredCount must be greater than or equal to 0.");
      if (daemon) throw InvalidParameter(kDaemonDesiredCount);
      svc.desired_count = static_cast<int>(*dc);
    }
    if (auto ref = JOptStr(in, "taskDefinition")) {
      auto td = FindTaskDefinition(tx, ctx, *ref);
      if (!td) throw ClientException("TaskDefinition not found.");
      if (td->status != "ACTIVE") throw ClientException("TaskDefinition is inactive");
      if (JStr(td->doc, "taskDefinitionArn") != svc.task_definition) redeploy = true;
      svc.task_definition = JStr(td->doc, "taskDefinitionArn");
    }
    if (const Json* n = JGet(in, "networkConfiguration")) {
      if (*n != svc.network_configuration) redeploy = true;
      svc.network_configuration = *n;
    }
    if (const Json* c = JGet(in, "deploymentConfiguration")) {
      Json merged = state::records::DeploymentConfigurationToJson(svc.deployment_configuration);
      // A new strategy does not inherit the old one's linear or canary settings.
      if (c->contains("strategy")) {
        for (const char* k : {"linearConfiguration", "canaryConfiguration"}) {
          if (!c->contains(k)) merged.erase(k);
        }
      }
      for (auto it = c->begin(); it != c->end(); ++it) merged[it.key()] = it.value();
      svc.deployment_configuration = DefaultDeploymentConfiguration(merged, daemon);
    }
    if (const Json* v = JGet(in, "placementConstraints")) svc.placement_constraints = *v;
    if (const Json* v = JGet(in, "placementStrategy")) svc.placement_strategy = *v;
    if (auto v = JOptInt(in, "healthCheckGracePeriodSeconds")) svc.health_check_grace_period_seconds = *v;
    if (JGet(in, "enableExecuteCommand")) svc.enable_execute_command = JBool(in, "enableExecuteCommand");
    if (JGet(in, "enableECSManagedTags")) svc.enable_ecs_managed_tags = JBool(in, "enableECSManagedTags");
    if (auto v = JOptStr(in, "propagateTags")) svc.propagate_tags = *v;
    bool check_lbs = JGet(in, "taskDefinition") != nullptr || JGet(in, "networkConfiguration") != nullptr;
    if (const Json* v = JGet(in, "loadBalancers")) {
      // New load balancers take new tasks: ECS starts a deployment for them.
      auto lbs = ParseLoadBalancers(*v);
      if (lbs != svc.load_balancers) redeploy = true;
      svc.load_balancers = std::move(lbs);
      check_lbs = true;
    }
    if (const Json* r = JGet(in, "serviceRegistries")) {
      svc.service_registries = ValidateRegistries(tx, ctx, *r);
      redeploy = true;
    }
    if (const Json* cp = JGet(in, "capacityProviderStrategy")) {
      svc.capacity_provider_strategy = *cp;
      redeploy = true;
    }
    if (auto pv = JOptStr(in, "platformVersion")) {
      svc.platform_version = *pv;
      redeploy = true;
    }
    auto td = FindTaskDefinition(tx, ctx, svc.task_definition);
    if (td) ResolveNetwork(tx, ctx, td->doc, svc);
    // The service's load balancers must still fit the task definition its tasks will run.
    if (td && check_lbs) ValidateLoadBalancers(tx, ctx, td->doc, svc);
    if (check_lbs || JGet(in, "deploymentConfiguration")) ValidateDeploymentStrategy(tx, ctx, svc);
    if (svc.UsesTaskSets()) {
      // Task sets follow the desiredCount (their computedDesiredCount), no deployment.
      if (JGet(in, "desiredCount")) {
        model::RecomputeTaskSetCounts(svc, Ts(ctx));
        svc.internal.steady = false;
      }
    } else if (redeploy) {
      for (auto& d : svc.deployments) d.status = model::DeploymentStatus::kActive;
      svc.deployments.insert(svc.deployments.begin(), NewDeployment(ctx, svc));
      svc.internal.steady = false;
      Check(reconcile::RecordDeploymentStarted(tx, svc, ctx.now));
    } else if (!svc.deployments.empty()) {
      svc.deployments[0].desired_count = svc.desired_count;
      svc.deployments[0].updated_at = Ts(ctx);
      // A changed desiredCount is new work for the deployment.
      if (JGet(in, "desiredCount")) svc.internal.steady = false;
    }
    Check(state::records::PutService(tx, svc));
    out = {{"service", ServiceView(tx, ctx, svc, false)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteService(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    model::Service svc = RequireService(tx, ctx, cluster, JStr(in, "service"), false);
    if (svc.status == model::ServiceStatus::kInactive) throw AwsError("ServiceNotFoundException", "Service not found.");
    if (svc.status == model::ServiceStatus::kActive) {
      bool replica = svc.scheduling_strategy == model::SchedulingStrategy::kReplica;
      if (replica && svc.desired_count > 0 && !JBool(in, "force")) {
        throw InvalidParameter("The service cannot be stopped while it is scaled above 0.");
      }
      svc.desired_count = 0;
      svc.status = model::ServiceStatus::kDraining;
      Check(state::records::PutService(tx, svc));
      // "When you delete a service, Amazon ECS deletes the corresponding service
      // deployments." (service-deployment.html)
      Check(reconcile::DeleteServiceHistory(tx, svc));
    }
    out = {{"service", ServiceView(tx, ctx, svc, false)}};
    return Status::Ok();
  }));
  return out;
}

void EcsApi::BeforePass() {
  {  // Express services whose ECS service has gone INACTIVE lose their infrastructure (express.cc).
    RequestContext every_region;
    every_region.now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    FinishExpressDeletions(every_region);
  }
  // The scheduler runs a pass on every commit; reading the books and probing 2 x window
  // sockets each time would put that on the hot path. A probe is kept for a second (the
  // same gap a RunTask's probe has before its transaction), unless a launch found it short.
  {
    std::lock_guard<std::mutex> lock(probe_mu_);
    if (service_probe_ && std::chrono::steady_clock::now() - service_probe_at_ < std::chrono::seconds(1)) return;
  }
  std::set<HostPort> books;
  Status st = store_.Read([&](state::Tx& tx) {
    books = HostPortsInUse(tx);
    return Status::Ok();
  });
  if (!st.ok()) return;  // the pass's launches then ask for a probe again
  int window = 0;
  {
    std::lock_guard<std::mutex> lock(probe_mu_);
    window = service_probe_window_;
  }
  auto probe = std::make_shared<const PortProbe>(PortProbe::Gather(
      {{"tcp", window}, {"udp", window}}, options_.ephemeral_port_first, options_.ephemeral_port_last, books,
      [](const std::string& proto, int64_t port) { return net::HostPortFree(proto, static_cast<int>(port)); }));
  std::lock_guard<std::mutex> lock(probe_mu_);
  service_probe_ = std::move(probe);
  service_probe_at_ = std::chrono::steady_clock::now();
}

reconcile::LaunchedTasks EcsApi::LaunchServiceTasks(state::Tx& tx, const model::Service& svc,
                                                    const model::Deployment& deployment, int count, double now) {
  reconcile::LaunchedTasks out;
  RequestContext ctx;
  ctx.region = svc.region;
  auto arn = model::Arn::Parse(svc.arn);
  ctx.account_id = arn ? arn->account : "000000000000";
  ctx.now = now;
  ctx.strict = svc.internal.strict;
  LaunchSpec spec;
  spec.cluster = svc.cluster;
  spec.task_definition = deployment.task_definition;
  spec.launch_type = deployment.launch_type;
  spec.capacity_provider_strategy = deployment.capacity_provider_strategy;
  spec.network_configuration = deployment.network_configuration;
  spec.started_by = deployment.id;
  spec.group = "service:" + svc.name;
  spec.placement_constraints = svc.placement_constraints;
  spec.placement_strategy = svc.placement_strategy;
  spec.service_name = svc.name;
  spec.deployment_id = deployment.id;
  spec.propagate_tags = svc.propagate_tags == "NONE" ? "" : svc.propagate_tags;
  spec.service_tags = svc.tags;
  spec.enable_execute_command = svc.enable_execute_command;
  bool daemon = svc.scheduling_strategy == model::SchedulingStrategy::kDaemon;
  // Tasks go one at a time so that one that cannot be placed does not hold back the rest.
  for (int i = 0; i < count; ++i) {
    spec.count = 1;
    if (daemon) {
      // One task per ACTIVE instance that has none of this service yet.
      spec.container_instances.clear();
      std::set<std::string> busy;
      for (const auto& t : Check(state::records::ListTasks(tx, {kTask, ctx.region, svc.cluster}))) {
        if (t.internal.placement && t.last_status != model::TaskStatus::kStopped && t.internal.service == svc.name &&
            t.desired_status == model::TaskStatus::kRunning) {
          busy.insert(t.internal.placement->instance);
        }
      }
      for (const auto& inst : Check(tx.List({kInstance, ctx.region, svc.cluster}))) {
        if (inst.status == "ACTIVE" && !busy.count(inst.id)) {
          spec.container_instances.push_back(inst.id);
          break;
        }
      }
      if (spec.container_instances.empty()) break;
    }
    try {
      std::shared_ptr<const PortProbe> probe;
      {
        std::lock_guard<std::mutex> lock(probe_mu_);
        probe = service_probe_;
      }
      LaunchOutcome r = Launch(tx, ctx, options_, spec, probe.get());
      for (const auto& t : r.tasks) out.task_ids.push_back(IdFromArnOrId(JStr(t, "taskArn")));
      if (!r.failures.empty()) {
        const Json& f = r.failures.front();
        out.failure = fmt::format(
            "No Container Instances were found in your cluster that met all of its requirements. The "
            "closest matching container-instance {} encountered error \"{}\".",
            IdFromArnOrId(JStr(f, "arn")), JStr(f, "reason"));
        break;
      }
    } catch (const NeedPortProbe&) {
      // Another launch took the ports this pass probed: the next pass probes further and
      // starts the rest (no failure to report, nothing was placed).
      std::lock_guard<std::mutex> lock(probe_mu_);
      service_probe_.reset();  // the next pass probes again, further
      service_probe_window_ = std::min(service_probe_window_ * 4,
                                       static_cast<int>(options_.ephemeral_port_last - options_.ephemeral_port_first + 1));
      break;
    } catch (const AwsError& e) {
      out.failure = e.message();
      break;
    }
  }
  return out;
}

}  // namespace kecs::api::ecs
