#include "state/records/services.h"

#include <algorithm>

#include <fmt/format.h>

#include "model/kinds.h"
#include "state/records/reader.h"

namespace kecs::state::records {
namespace {

using model::Deployment;
using model::Service;

Status Unreadable(const std::string& id, const std::string& why) {
  return Internal(fmt::format("stored service {} cannot be read: {}", id, why));
}

Result<Deployment> ReadDeployment(const Json& j, const std::string& id, const std::string& where) {
  Reader r(j, where);
  Deployment d;
  d.id = r.Str("id");
  d.status = r.Enum("status", &model::ParseDeploymentStatus, model::DeploymentStatus::kPrimary);
  d.task_definition = r.Str("taskDefinition");
  d.desired_count = static_cast<int>(r.Int("desiredCount", 0));
  d.pending_count = static_cast<int>(r.Int("pendingCount", 0));
  d.running_count = static_cast<int>(r.Int("runningCount", 0));
  d.failed_tasks = static_cast<int>(r.Int("failedTasks", 0));
  d.created_at = r.Num("createdAt");
  d.updated_at = r.Num("updatedAt");
  d.launch_type = r.OptStr("launchType");
  d.capacity_provider_strategy = r.Raw("capacityProviderStrategy", Json::value_t::array);
  d.network_configuration = r.Raw("networkConfiguration", Json::value_t::object);
  d.platform_version = r.OptStr("platformVersion");
  d.rollout_state = r.Enum("rolloutState", &model::ParseRolloutState, model::RolloutState::kInProgress);
  d.rollout_state_reason = r.Str("rolloutStateReason", false);
  if (!r.error().empty()) return Unreadable(id, r.error());
  return d;
}

std::vector<std::string> StringList(Reader& r, const char* key) {
  std::vector<std::string> out;
  Json list = r.Raw(key, Json::value_t::array, Json::array());
  for (const auto& v : list) {
    if (!v.is_string()) {
      r.Fail(fmt::format("{} must be a list of strings", key));
      return {};
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::optional<int> OptInt(Reader& r, const char* key) {
  if (!r.Has(key)) {
    r.Get(key);
    return std::nullopt;
  }
  return static_cast<int>(r.Int(key, 0));
}

std::optional<double> OptNum(Reader& r, const char* key) {
  if (!r.Has(key)) {
    r.Get(key);
    return std::nullopt;
  }
  return r.Num(key);
}

// The strategy members of a deploymentConfiguration (issue 18), typed; their values are
// checked by the API (api/ecs/services.cc), not here: a stored record is read as it is.
void ReadStrategy(Reader& r, model::DeploymentConfiguration& c) {
  c.strategy = r.OptStr("strategy");
  c.bake_time_in_minutes = OptInt(r, "bakeTimeInMinutes");
  if (r.Has("lifecycleHooks")) {
    c.lifecycle_hooks.emplace();
    for (const auto& one : r.Raw("lifecycleHooks", Json::value_t::array, Json::array())) {
      Reader h(one, "lifecycleHooks");
      model::DeploymentLifecycleHook hook;
      hook.target_type = h.Str("targetType", false);
      hook.hook_target_arn = h.Str("hookTargetArn", false);
      hook.role_arn = h.Str("roleArn", false);
      hook.lifecycle_stages = StringList(h, "lifecycleStages");
      hook.hook_details = h.Has("hookDetails") ? *h.Get("hookDetails") : Json();
      hook.timeout_configuration = h.Raw("timeoutConfiguration", Json::value_t::object);
      if (!h.error().empty()) r.Fail(h.error());
      c.lifecycle_hooks->push_back(std::move(hook));
    }
  } else {
    r.Get("lifecycleHooks");
  }
  if (r.Has("linearConfiguration")) {
    Json j = r.Raw("linearConfiguration", Json::value_t::object, Json::object());
    Reader l(j, "linearConfiguration");
    c.linear = model::LinearConfiguration{OptNum(l, "stepPercent"), OptInt(l, "stepBakeTimeInMinutes")};
    if (!l.error().empty()) r.Fail(l.error());
  } else {
    r.Get("linearConfiguration");
  }
  if (r.Has("canaryConfiguration")) {
    Json j = r.Raw("canaryConfiguration", Json::value_t::object, Json::object());
    Reader l(j, "canaryConfiguration");
    c.canary = model::CanaryConfiguration{OptNum(l, "canaryPercent"), OptInt(l, "canaryBakeTimeInMinutes")};
    if (!l.error().empty()) r.Fail(l.error());
  } else {
    r.Get("canaryConfiguration");
  }
  if (r.Has("alarms")) {
    Json j = r.Raw("alarms", Json::value_t::object, Json::object());
    Reader a(j, "alarms");
    model::DeploymentAlarms alarms;
    alarms.alarm_names = StringList(a, "alarmNames");
    alarms.enable = a.Bool("enable");
    alarms.rollback = a.Bool("rollback");
    if (!a.error().empty()) r.Fail(a.error());
    c.alarms = std::move(alarms);
  } else {
    r.Get("alarms");
  }
}

Json StrategyToJson(const model::DeploymentConfiguration& c, Json j) {
  if (c.strategy) j["strategy"] = *c.strategy;
  if (c.bake_time_in_minutes) j["bakeTimeInMinutes"] = *c.bake_time_in_minutes;
  if (c.lifecycle_hooks) {
    Json hooks = Json::array();
    for (const auto& h : *c.lifecycle_hooks) {
      Json one = Json::object();
      if (!h.target_type.empty()) one["targetType"] = h.target_type;
      if (!h.hook_target_arn.empty()) one["hookTargetArn"] = h.hook_target_arn;
      if (!h.role_arn.empty()) one["roleArn"] = h.role_arn;
      one["lifecycleStages"] = h.lifecycle_stages;
      if (!h.hook_details.is_null()) one["hookDetails"] = h.hook_details;
      if (!h.timeout_configuration.is_null()) one["timeoutConfiguration"] = h.timeout_configuration;
      hooks.push_back(std::move(one));
    }
    j["lifecycleHooks"] = std::move(hooks);
  }
  if (c.linear) {
    Json l = Json::object();
    if (c.linear->step_percent) l["stepPercent"] = *c.linear->step_percent;
    if (c.linear->step_bake_time_in_minutes) l["stepBakeTimeInMinutes"] = *c.linear->step_bake_time_in_minutes;
    j["linearConfiguration"] = std::move(l);
  }
  if (c.canary) {
    Json l = Json::object();
    if (c.canary->canary_percent) l["canaryPercent"] = *c.canary->canary_percent;
    if (c.canary->canary_bake_time_in_minutes) l["canaryBakeTimeInMinutes"] = *c.canary->canary_bake_time_in_minutes;
    j["canaryConfiguration"] = std::move(l);
  }
  if (c.alarms) {
    j["alarms"] = {{"alarmNames", c.alarms->alarm_names}, {"enable", c.alarms->enable}, {"rollback", c.alarms->rollback}};
  }
  return j;
}

model::DeploymentConfiguration ReadDeploymentConfiguration(Reader& outer) {
  model::DeploymentConfiguration c;
  Json j = outer.Raw("deploymentConfiguration", Json::value_t::object, Json::object());
  Reader r(j, "deploymentConfiguration");
  c.maximum_percent = static_cast<int>(r.Int("maximumPercent", 200));
  c.minimum_healthy_percent = static_cast<int>(r.Int("minimumHealthyPercent", 100));
  if (r.Has("deploymentCircuitBreaker")) {
    Json b = r.Raw("deploymentCircuitBreaker", Json::value_t::object, Json::object());
    Reader br(b, "deploymentConfiguration.deploymentCircuitBreaker");
    c.circuit_breaker_enable = br.Bool("enable");
    c.circuit_breaker_rollback = br.Bool("rollback");
    if (!br.error().empty()) outer.Fail(br.error());
  } else {
    r.Get("deploymentCircuitBreaker");
  }
  ReadStrategy(r, c);
  c.other = r.Rest();
  if (!r.error().empty()) outer.Fail(r.error());
  return c;
}

}  // namespace

Json DeploymentConfigurationToJson(const model::DeploymentConfiguration& c) {
  Json j = Json::object();
  j["maximumPercent"] = c.maximum_percent;
  j["minimumHealthyPercent"] = c.minimum_healthy_percent;
  j["deploymentCircuitBreaker"] = {{"enable", c.circuit_breaker_enable}, {"rollback", c.circuit_breaker_rollback}};
  j = StrategyToJson(c, std::move(j));
  for (auto it = c.other.begin(); it != c.other.end(); ++it) j[it.key()] = it.value();
  return j;
}

Result<model::ServiceRegistry> ServiceRegistryFromJson(const Json& j) {
  Reader r(j, "serviceRegistries");
  model::ServiceRegistry reg;
  reg.registry_arn = r.Str("registryArn", false);
  if (r.Has("port")) reg.port = r.Int("port", 0);
  reg.container_name = r.OptStr("containerName");
  if (r.Has("containerPort")) reg.container_port = r.Int("containerPort", 0);
  if (!r.error().empty()) return InvalidArgument(r.error());
  return reg;
}

Json ServiceRegistriesToJson(const std::vector<model::ServiceRegistry>& regs) {
  Json out = Json::array();
  for (const auto& reg : regs) {
    Json j = Json::object();
    if (!reg.registry_arn.empty()) j["registryArn"] = reg.registry_arn;
    if (reg.port) j["port"] = *reg.port;
    if (reg.container_name) j["containerName"] = *reg.container_name;
    if (reg.container_port) j["containerPort"] = *reg.container_port;
    out.push_back(std::move(j));
  }
  return out;
}

Result<std::vector<model::ServiceRegistry>> ServiceRegistriesFromJson(const Json& j) {
  std::vector<model::ServiceRegistry> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return InvalidArgument("serviceRegistries is not a list");
  for (const auto& one : j) {
    ASSIGN_OR_RETURN(auto reg, ServiceRegistryFromJson(one));
    out.push_back(std::move(reg));
  }
  return out;
}

Result<std::vector<model::ServiceLoadBalancer>> ServiceLoadBalancersFromJson(const Json& j) {
  std::vector<model::ServiceLoadBalancer> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return InvalidArgument("loadBalancers is not a list");
  for (const auto& one : j) {
    Reader r(one, "loadBalancers");
    model::ServiceLoadBalancer lb;
    lb.target_group_arn = r.Str("targetGroupArn", false);
    lb.load_balancer_name = r.Str("loadBalancerName", false);
    lb.container_name = r.Str("containerName", false);
    if (r.Has("containerPort")) lb.container_port = r.Int("containerPort", 0);
    if (r.Has("advancedConfiguration")) {
      Json a = r.Raw("advancedConfiguration", Json::value_t::object, Json::object());
      Reader ar(a, "loadBalancers.advancedConfiguration");
      model::AdvancedConfiguration adv;
      adv.alternate_target_group_arn = ar.Str("alternateTargetGroupArn", false);
      adv.production_listener_rule = ar.Str("productionListenerRule", false);
      adv.test_listener_rule = ar.Str("testListenerRule", false);
      adv.role_arn = ar.Str("roleArn", false);
      if (!ar.error().empty()) return InvalidArgument(ar.error());
      lb.advanced = std::move(adv);
    }
    if (!r.error().empty()) return InvalidArgument(r.error());
    out.push_back(std::move(lb));
  }
  return out;
}

Json ServiceLoadBalancersToJson(const std::vector<model::ServiceLoadBalancer>& lbs) {
  Json out = Json::array();
  for (const auto& lb : lbs) {
    Json j = Json::object();
    if (!lb.target_group_arn.empty()) j["targetGroupArn"] = lb.target_group_arn;
    if (!lb.load_balancer_name.empty()) j["loadBalancerName"] = lb.load_balancer_name;
    if (!lb.container_name.empty()) j["containerName"] = lb.container_name;
    if (lb.container_port) j["containerPort"] = *lb.container_port;
    if (lb.advanced) {
      Json a = Json::object();
      const auto& adv = *lb.advanced;
      if (!adv.alternate_target_group_arn.empty()) a["alternateTargetGroupArn"] = adv.alternate_target_group_arn;
      if (!adv.production_listener_rule.empty()) a["productionListenerRule"] = adv.production_listener_rule;
      if (!adv.test_listener_rule.empty()) a["testListenerRule"] = adv.test_listener_rule;
      if (!adv.role_arn.empty()) a["roleArn"] = adv.role_arn;
      j["advancedConfiguration"] = std::move(a);
    }
    out.push_back(std::move(j));
  }
  return out;
}

Result<model::DeploymentConfiguration> DeploymentConfigurationFromJson(const Json& j) {
  Json wrapped = {{"deploymentConfiguration", j}};
  Reader r(wrapped, "");
  model::DeploymentConfiguration c = ReadDeploymentConfiguration(r);
  if (!r.error().empty()) return InvalidArgument(r.error());
  return c;
}

namespace {

Json InternalToJson(const model::ServiceInternal& in) {
  Json j = {{"steady", in.steady}, {"strict", in.strict}};
  if (!in.task_set_tokens.empty()) j["taskSetTokens"] = in.task_set_tokens;
  if (in.last_completed) j["lastCompleted"] = DeploymentToJson(*in.last_completed);
  if (in.client_token) j["clientToken"] = *in.client_token;
  if (!in.alternate_deployments.empty()) j["alternateDeployments"] = in.alternate_deployments;
  if (!in.shifted.empty()) j["shifted"] = in.shifted;
  if (in.shift) {
    const auto& t = *in.shift;
    j["shift"] = {{"green", t.green},       {"blue", t.blue},           {"stage", t.stage},
                  {"stageAt", t.stage_at},  {"greenPercent", t.green_percent}, {"hook", t.hook},
                  {"stepPhase", t.step_phase}, {"pausedHook", t.paused_hook}, {"action", t.action},
                  {"reason", t.reason}};
    if (t.expires_at > 0) j["shift"]["expiresAt"] = t.expires_at;
    if (!t.timeout_action.empty()) j["shift"]["timeoutAction"] = t.timeout_action;
    if (t.failed) j["shift"]["failed"] = true;
  }
  return j;
}

// The AWS members of a service, in the order CreateService has always written them.
Json AwsMembers(const Service& s, bool for_view) {
  Json j = Json::object();
  j["serviceArn"] = s.arn;
  j["serviceName"] = s.name;
  j["clusterArn"] = s.cluster_arn;
  j["loadBalancers"] = ServiceLoadBalancersToJson(s.load_balancers);
  j["serviceRegistries"] = ServiceRegistriesToJson(s.service_registries);
  j["status"] = model::ToString(s.status);
  j["desiredCount"] = s.desired_count;
  j["runningCount"] = s.running_count;
  j["pendingCount"] = s.pending_count;
  if (s.launch_type) j["launchType"] = *s.launch_type;
  if (!s.capacity_provider_strategy.is_null()) j["capacityProviderStrategy"] = s.capacity_provider_strategy;
  if (s.platform_version) j["platformVersion"] = *s.platform_version;
  if (s.platform_family) j["platformFamily"] = *s.platform_family;
  j["taskDefinition"] = s.task_definition;
  j["deploymentConfiguration"] = DeploymentConfigurationToJson(s.deployment_configuration);
  if (!s.network_configuration.is_null()) j["networkConfiguration"] = s.network_configuration;
  j["placementConstraints"] = s.placement_constraints;
  j["placementStrategy"] = s.placement_strategy;
  if (s.health_check_grace_period_seconds) j["healthCheckGracePeriodSeconds"] = *s.health_check_grace_period_seconds;
  j["schedulingStrategy"] = model::ToString(s.scheduling_strategy);
  j["deploymentController"] = {{"type", s.deployment_controller}};
  j["tags"] = s.tags;
  j["createdBy"] = s.created_by;
  j["enableECSManagedTags"] = s.enable_ecs_managed_tags;
  j["propagateTags"] = s.propagate_tags;
  j["enableExecuteCommand"] = s.enable_execute_command;
  j["createdAt"] = s.created_at;
  Json events = Json::array();
  for (const auto& e : s.events) events.push_back({{"id", e.id}, {"createdAt", e.created_at}, {"message", e.message}});
  j["events"] = events;
  Json deps = Json::array();
  for (const auto& d : s.deployments) {
    Json dj = DeploymentToJson(d);
    if (for_view) dj["desiredCount"] = d.status == model::DeploymentStatus::kPrimary ? s.desired_count : 0;
    deps.push_back(std::move(dj));
  }
  j["deployments"] = deps;
  if (s.UsesTaskSets() || !s.task_sets.empty()) {
    Json sets = Json::array();
    for (const auto& ts : s.task_sets) sets.push_back(TaskSetToAws(ts, /*include_tags=*/!for_view));
    j["taskSets"] = sets;
  }
  for (auto it = s.other.begin(); it != s.other.end(); ++it) j[it.key()] = it.value();
  return j;
}

}  // namespace

Json DeploymentToJson(const Deployment& d) {
  Json j = {{"id", d.id},
            {"status", model::ToString(d.status)},
            {"taskDefinition", d.task_definition},
            {"desiredCount", d.desired_count},
            {"pendingCount", d.pending_count},
            {"runningCount", d.running_count},
            {"failedTasks", d.failed_tasks},
            {"createdAt", d.created_at},
            {"updatedAt", d.updated_at}};
  if (d.launch_type) j["launchType"] = *d.launch_type;
  if (!d.capacity_provider_strategy.is_null()) j["capacityProviderStrategy"] = d.capacity_provider_strategy;
  if (!d.network_configuration.is_null()) j["networkConfiguration"] = d.network_configuration;
  if (d.platform_version) j["platformVersion"] = *d.platform_version;
  j["rolloutState"] = model::ToString(d.rollout_state);
  j["rolloutStateReason"] = d.rollout_state_reason;
  return j;
}

Result<Deployment> DeploymentFromJson(const Json& j, const std::string& service_id) {
  return ReadDeployment(j, service_id, "deployment");
}

Json TaskSetToAws(const model::TaskSet& ts, bool include_tags) {
  Json j = {{"id", ts.id},
            {"taskSetArn", ts.arn},
            {"serviceArn", ts.service_arn},
            {"clusterArn", ts.cluster_arn}};
  if (!ts.started_by.empty()) j["startedBy"] = ts.started_by;
  if (!ts.external_id.empty()) j["externalId"] = ts.external_id;
  j["status"] = model::ToString(ts.status);
  j["taskDefinition"] = ts.task_definition;
  j["computedDesiredCount"] = ts.computed_desired_count;
  j["pendingCount"] = ts.pending_count;
  j["runningCount"] = ts.running_count;
  j["createdAt"] = ts.created_at;
  j["updatedAt"] = ts.updated_at;
  if (ts.launch_type) j["launchType"] = *ts.launch_type;
  if (!ts.capacity_provider_strategy.is_null()) j["capacityProviderStrategy"] = ts.capacity_provider_strategy;
  if (ts.platform_version) j["platformVersion"] = *ts.platform_version;
  if (ts.platform_family) j["platformFamily"] = *ts.platform_family;
  if (!ts.network_configuration.is_null()) j["networkConfiguration"] = ts.network_configuration;
  j["loadBalancers"] = ServiceLoadBalancersToJson(ts.load_balancers);
  j["serviceRegistries"] = ServiceRegistriesToJson(ts.service_registries);
  j["scale"] = {{"value", ts.scale}, {"unit", "PERCENT"}};
  j["stabilityStatus"] = model::ToString(ts.stability_status);
  j["stabilityStatusAt"] = ts.stability_status_at;
  if (include_tags) j["tags"] = ts.tags;
  return j;
}

Result<model::TaskSet> TaskSetFromJson(const Json& j, const std::string& service_id) {
  Reader r(j, "taskSets");
  model::TaskSet ts;
  ts.id = r.Str("id");
  ts.arn = r.Str("taskSetArn");
  ts.service_arn = r.Str("serviceArn");
  ts.cluster_arn = r.Str("clusterArn");
  ts.started_by = r.Str("startedBy", false);
  ts.external_id = r.Str("externalId", false);
  ts.status = r.Enum("status", &model::ParseTaskSetStatus, model::TaskSetStatus::kActive);
  ts.task_definition = r.Str("taskDefinition");
  ts.computed_desired_count = static_cast<int>(r.Int("computedDesiredCount", 0));
  ts.pending_count = static_cast<int>(r.Int("pendingCount", 0));
  ts.running_count = static_cast<int>(r.Int("runningCount", 0));
  ts.created_at = r.Num("createdAt");
  ts.updated_at = r.Num("updatedAt");
  ts.launch_type = r.OptStr("launchType");
  ts.capacity_provider_strategy = r.Raw("capacityProviderStrategy", Json::value_t::array);
  ts.platform_version = r.OptStr("platformVersion");
  ts.platform_family = r.OptStr("platformFamily");
  ts.network_configuration = r.Raw("networkConfiguration", Json::value_t::object);
  auto lbs = ServiceLoadBalancersFromJson(r.Raw("loadBalancers", Json::value_t::array, Json::array()));
  if (!lbs.ok()) return Unreadable(service_id, lbs.status().message());
  ts.load_balancers = std::move(*lbs);
  auto regs = ServiceRegistriesFromJson(r.Raw("serviceRegistries", Json::value_t::array, Json::array()));
  if (!regs.ok()) return Unreadable(service_id, regs.status().message());
  ts.service_registries = std::move(*regs);
  Json scale = r.Raw("scale", Json::value_t::object, Json::object());
  Reader sr(scale, "taskSets.scale");
  ts.scale = sr.Num("value");
  if (!sr.error().empty()) r.Fail(sr.error());
  ts.stability_status =
      r.Enum("stabilityStatus", &model::ParseStabilityStatus, model::StabilityStatus::kStabilizing, false);
  ts.stability_status_at = r.Num("stabilityStatusAt");
  ts.tags = r.Raw("tags", Json::value_t::array, Json::array());
  if (!r.error().empty()) return Unreadable(service_id, r.error());
  return ts;
}

Result<Service> DecodeService(const Object& row) {
  const std::string& id = row.id;
  if (row.doc.is_discarded()) return Unreadable(id, "the document is not JSON");
  if (row.internal.is_discarded()) return Unreadable(id, "its internal part is not JSON");
  Reader r(row.doc, "");
  Service s;
  s.region = row.region;
  s.cluster = row.parent;
  s.seq = row.seq;
  s.name = r.Str("serviceName");
  if (r.error().empty() && s.name != row.name) r.Fail("serviceName does not match the row");
  s.arn = r.Str("serviceArn");
  s.cluster_arn = r.Str("clusterArn");
  {
    auto lbs = ServiceLoadBalancersFromJson(r.Raw("loadBalancers", Json::value_t::array, Json::array()));
    if (!lbs.ok()) return Unreadable(id, lbs.status().message());
    s.load_balancers = std::move(*lbs);
  }
  for (const auto& reg : r.Raw("serviceRegistries", Json::value_t::array, Json::array())) {
    auto one = ServiceRegistryFromJson(reg);
    if (!one.ok()) return Unreadable(id, one.status().message());
    s.service_registries.push_back(*one);
  }
  s.status = r.Enum("status", &model::ParseServiceStatus, model::ServiceStatus::kActive);
  // The row's status column is what the lists filter on; it wins if they ever disagree.
  if (auto st = model::ParseServiceStatus(row.status)) s.status = *st;
  s.desired_count = static_cast<int>(r.Int("desiredCount", 0));
  s.running_count = static_cast<int>(r.Int("runningCount", 0));
  s.pending_count = static_cast<int>(r.Int("pendingCount", 0));
  s.launch_type = r.OptStr("launchType");
  s.capacity_provider_strategy = r.Raw("capacityProviderStrategy", Json::value_t::array);
  s.platform_version = r.OptStr("platformVersion");
  s.platform_family = r.OptStr("platformFamily");
  s.task_definition = r.Str("taskDefinition");
  s.deployment_configuration = ReadDeploymentConfiguration(r);
  s.network_configuration = r.Raw("networkConfiguration", Json::value_t::object);
  s.placement_constraints = r.Raw("placementConstraints", Json::value_t::array, Json::array());
  s.placement_strategy = r.Raw("placementStrategy", Json::value_t::array, Json::array());
  if (r.Has("healthCheckGracePeriodSeconds")) s.health_check_grace_period_seconds = r.Int("healthCheckGracePeriodSeconds", 0);
  else r.Get("healthCheckGracePeriodSeconds");
  s.scheduling_strategy = r.Enum("schedulingStrategy", &model::ParseSchedulingStrategy,
                                 model::SchedulingStrategy::kReplica, /*required=*/false);
  {
    Json dc = r.Raw("deploymentController", Json::value_t::object, Json::object());
    Reader dr(dc, "deploymentController");
    s.deployment_controller = dr.Str("type", false);
    if (s.deployment_controller.empty()) s.deployment_controller = "ECS";
    if (!dr.error().empty()) r.Fail(dr.error());
  }
  s.tags = r.Raw("tags", Json::value_t::array, Json::array());
  s.created_by = r.Str("createdBy", false);
  s.enable_ecs_managed_tags = r.Bool("enableECSManagedTags");
  s.propagate_tags = r.Str("propagateTags", false);
  if (s.propagate_tags.empty()) s.propagate_tags = "NONE";
  s.enable_execute_command = r.Bool("enableExecuteCommand");
  s.created_at = r.Num("createdAt");
  for (const auto& e : r.Raw("events", Json::value_t::array, Json::array())) {
    Reader er(e, "events");
    model::ServiceEvent ev{er.Str("id"), er.Num("createdAt"), er.Str("message")};
    if (!er.error().empty()) return Unreadable(id, er.error());
    s.events.push_back(std::move(ev));
  }
  for (const auto& d : r.Raw("deployments", Json::value_t::array, Json::array())) {
    ASSIGN_OR_RETURN(auto dep, ReadDeployment(d, id, "deployments"));
    s.deployments.push_back(std::move(dep));
  }
  for (const auto& t : r.Raw("taskSets", Json::value_t::array, Json::array())) {
    ASSIGN_OR_RETURN(auto ts, TaskSetFromJson(t, id));
    s.task_sets.push_back(std::move(ts));
  }
  const Json internal = row.internal.is_null() ? Json::object() : row.internal;
  Reader ir(internal, "internal");
  s.internal.steady = ir.Bool("steady");
  s.internal.strict = ir.Bool("strict");
  s.internal.client_token = ir.OptStr("clientToken");
  s.internal.task_set_tokens = ir.Raw("taskSetTokens", Json::value_t::object, Json::object());
  if (const Json* lc = ir.Get("lastCompleted")) {
    ASSIGN_OR_RETURN(auto dep, ReadDeployment(*lc, id, "lastCompleted"));
    s.internal.last_completed = std::move(dep);
  }
  for (const auto& d : ir.Raw("alternateDeployments", Json::value_t::array, Json::array())) {
    if (d.is_string()) s.internal.alternate_deployments.push_back(d.get<std::string>());
  }
  s.internal.shifted = ir.Str("shifted", false);
  if (ir.Has("shift")) {
    const Json sj = ir.Raw("shift", Json::value_t::object, Json::object());
    Reader sr(sj, "internal.shift");
    model::TrafficShift t;
    t.green = sr.Str("green", false);
    t.blue = sr.Str("blue", false);
    t.stage = sr.Str("stage", false);
    t.stage_at = sr.Num("stageAt");
    t.green_percent = sr.Num("greenPercent");
    t.hook = static_cast<int>(sr.Int("hook", 0));
    t.step_phase = static_cast<int>(sr.Int("stepPhase", 0));
    t.paused_hook = sr.Str("pausedHook", false);
    t.action = sr.Str("action", false);
    t.reason = sr.Str("reason", false);
    t.expires_at = sr.Num("expiresAt");
    t.timeout_action = sr.Str("timeoutAction", false);
    t.failed = sr.Bool("failed");
    if (!sr.error().empty()) return Unreadable(id, sr.error());
    // The scheduler indexes its stages and the stage's hooks by these: a corrupt record is
    // refused here rather than read past their ends.
    if (!t.stage.empty() &&
        std::find(model::kShiftStages.begin(), model::kShiftStages.end(), t.stage) == model::kShiftStages.end()) {
      return Unreadable(id, fmt::format("internal.shift: unknown stage {}", t.stage));
    }
    if (t.hook < 0 || t.step_phase < 0 || t.step_phase > 2) {
      return Unreadable(id, "internal.shift: hook or stepPhase out of range");
    }
    s.internal.shift = std::move(t);
  }
  if (!r.error().empty()) return Unreadable(id, r.error());
  if (!ir.error().empty()) return Unreadable(id, ir.error());
  s.other = r.Rest();
  return s;
}

Object EncodeService(const Service& s) {
  Object o{model::kService, s.region, s.Key(), s.cluster, s.name, std::string(model::ToString(s.status)),
            s.seq, AwsMembers(s, /*for_view=*/false)};
  o.internal = InternalToJson(s.internal);
  return o;
}

Json ServiceToAws(const Service& s, bool include_tags) {
  Json j = AwsMembers(s, /*for_view=*/true);
  if (!include_tags) j.erase("tags");
  return j;
}

SplitService SplitLegacyServiceDocument(const Json& doc) {
  SplitService out{Json::object(), Json::object()};
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    if (k == "kecs:steady") {
      out.internal["steady"] = it.value();
    } else if (k == "kecs:strict") {
      out.internal["strict"] = it.value();
    } else if (k == "kecs:clientToken") {
      out.internal["clientToken"] = it.value();
    } else if (k == "kecs:completedDeployments") {
      // It only ever held the last completed deployment.
      if (it.value().is_array() && !it.value().empty()) out.internal["lastCompleted"] = it.value().back();
    } else if (k.rfind("kecs:", 0) != 0) {
      out.doc[k] = it.value();
    }
  }
  return out;
}

Result<std::optional<Service>> GetService(Tx& tx, const std::string& region, const std::string& cluster,
                                          const std::string& name) {
  ASSIGN_OR_RETURN(auto row, tx.Get(model::kService, region, cluster + "/" + name));
  if (!row) return std::optional<Service>();
  ASSIGN_OR_RETURN(auto s, DecodeService(*row));
  return std::optional<Service>(std::move(s));
}

Status PutService(Tx& tx, const Service& service) { return tx.Put(EncodeService(service)); }

Result<std::vector<Service>> ListServices(Tx& tx, const ServiceQuery& q) {
  Query sq{model::kService, q.region};
  sq.any_region = q.any_region;
  sq.parent = q.cluster;
  ASSIGN_OR_RETURN(auto rows, tx.List(sq));
  std::vector<Service> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(auto s, DecodeService(row));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace kecs::state::records

// ---- Service deployments and service revisions ------------------------------------------

namespace kecs::state::records {
namespace {

using model::ServiceDeployment;
using model::ServiceRevision;
using model::ServiceRevisionSummary;

Status UnreadableRecord(const std::string& kind, const std::string& id, const std::string& why) {
  return Internal(fmt::format("stored {} {} cannot be read: {}", kind, id, why));
}

Json SummaryToJson(const ServiceRevisionSummary& s) {
  return {{"arn", s.arn},
          {"requestedTaskCount", s.requested_task_count},
          {"runningTaskCount", s.running_task_count},
          {"pendingTaskCount", s.pending_task_count}};
}

ServiceRevisionSummary ReadSummary(const Json& j, Reader& outer) {
  Reader r(j, "serviceRevision");
  ServiceRevisionSummary s;
  s.arn = r.Str("arn");
  s.requested_task_count = static_cast<int>(r.Int("requestedTaskCount", 0));
  s.running_task_count = static_cast<int>(r.Int("runningTaskCount", 0));
  s.pending_task_count = static_cast<int>(r.Int("pendingTaskCount", 0));
  if (!r.error().empty()) outer.Fail(r.error());
  return s;
}

std::string ParentKey(const std::string& cluster, const std::string& service) { return cluster + "/" + service; }

// "<cluster>/<service>/<id>" -> its three parts (the cluster and service names have no '/').
bool SplitRecordKey(const std::string& key, std::string* cluster, std::string* service, std::string* id) {
  size_t a = key.find('/');
  size_t b = a == std::string::npos ? a : key.find('/', a + 1);
  if (b == std::string::npos) return false;
  *cluster = key.substr(0, a);
  *service = key.substr(a + 1, b - a - 1);
  *id = key.substr(b + 1);
  return true;
}

}  // namespace

Json ServiceDeploymentBriefToAws(const ServiceDeployment& d) {
  Json j = {{"serviceDeploymentArn", d.arn}, {"serviceArn", d.service_arn}, {"clusterArn", d.cluster_arn}};
  if (d.started_at) j["startedAt"] = *d.started_at;
  j["createdAt"] = d.created_at;
  if (d.finished_at) j["finishedAt"] = *d.finished_at;
  j["targetServiceRevisionArn"] = d.target_revision.arn;
  j["status"] = model::ToString(d.status);
  if (!d.status_reason.empty()) j["statusReason"] = d.status_reason;
  return j;
}

Json ServiceDeploymentToAws(const ServiceDeployment& d) {
  Json j = {{"serviceDeploymentArn", d.arn}, {"serviceArn", d.service_arn}, {"clusterArn", d.cluster_arn},
            {"createdAt", d.created_at}};
  if (d.started_at) j["startedAt"] = *d.started_at;
  if (d.finished_at) j["finishedAt"] = *d.finished_at;
  if (d.stopped_at) j["stoppedAt"] = *d.stopped_at;
  j["updatedAt"] = d.updated_at;
  Json sources = Json::array();
  for (const auto& s : d.source_revisions) sources.push_back(SummaryToJson(s));
  j["sourceServiceRevisions"] = sources;
  j["targetServiceRevision"] = SummaryToJson(d.target_revision);
  j["status"] = model::ToString(d.status);
  if (!d.status_reason.empty()) j["statusReason"] = d.status_reason;
  j["deploymentConfiguration"] = DeploymentConfigurationToJson(d.deployment_configuration);
  if (d.rollback) {
    j["rollback"] = {{"reason", d.rollback->reason},
                     {"startedAt", d.rollback->started_at},
                     {"serviceRevisionArn", d.rollback->service_revision_arn}};
  }
  j["deploymentCircuitBreaker"] = {
      {"status", d.circuit_breaker_status}, {"failureCount", d.failure_count}, {"threshold", d.threshold}};
  j["alarms"] = {{"status", d.alarms_status}};
  if (!d.lifecycle_stage.empty()) j["lifecycleStage"] = d.lifecycle_stage;
  if (!d.lifecycle_hook_details.empty()) j["lifecycleHookDetails"] = d.lifecycle_hook_details;
  return j;
}

Object EncodeServiceDeployment(const ServiceDeployment& d) {
  Object o{model::kServiceDeployment, d.region, d.Key(), ParentKey(d.cluster, d.service), d.id,
           std::string(model::ToString(d.status)), d.seq, ServiceDeploymentToAws(d)};
  o.internal = {{"deploymentId", d.deployment_id},
                {"rollbackDeploymentId", d.rollback_deployment_id},
                {"sourceDeploymentIds", d.source_deployment_ids}};
  return o;
}

Result<ServiceDeployment> DecodeServiceDeployment(const Object& row) {
  const char* kind = "service deployment";
  if (row.doc.is_discarded() || row.internal.is_discarded()) return UnreadableRecord(kind, row.id, "not JSON");
  ServiceDeployment d;
  d.region = row.region;
  d.seq = row.seq;
  if (!SplitRecordKey(row.id, &d.cluster, &d.service, &d.id)) return UnreadableRecord(kind, row.id, "bad id");
  Reader r(row.doc, "");
  d.arn = r.Str("serviceDeploymentArn");
  d.service_arn = r.Str("serviceArn");
  d.cluster_arn = r.Str("clusterArn");
  d.created_at = r.Num("createdAt");
  if (r.Has("startedAt")) d.started_at = r.Num("startedAt");
  if (r.Has("finishedAt")) d.finished_at = r.Num("finishedAt");
  if (r.Has("stoppedAt")) d.stopped_at = r.Num("stoppedAt");
  d.updated_at = r.Num("updatedAt");
  for (const auto& s : r.Raw("sourceServiceRevisions", Json::value_t::array, Json::array())) {
    d.source_revisions.push_back(ReadSummary(s, r));
  }
  const Json target = r.Raw("targetServiceRevision", Json::value_t::object, Json::object());
  d.target_revision = ReadSummary(target, r);
  d.status = r.Enum("status", &model::ParseServiceDeploymentStatus, model::ServiceDeploymentStatus::kInProgress);
  d.status_reason = r.Str("statusReason", false);
  d.deployment_configuration = ReadDeploymentConfiguration(r);
  d.lifecycle_stage = r.Str("lifecycleStage", false);
  d.lifecycle_hook_details = r.Raw("lifecycleHookDetails", Json::value_t::array, Json::array());
  if (r.Has("rollback")) {
    const Json rb = r.Raw("rollback", Json::value_t::object, Json::object());
    Reader rr(rb, "rollback");
    d.rollback = model::ServiceDeploymentRollback{rr.Str("reason", false), rr.Num("startedAt"),
                                                  rr.Str("serviceRevisionArn", false)};
    if (!rr.error().empty()) r.Fail(rr.error());
  }
  {
    Json cb = r.Raw("deploymentCircuitBreaker", Json::value_t::object, Json::object());
    Reader cr(cb, "deploymentCircuitBreaker");
    d.circuit_breaker_status = cr.Str("status", false);
    d.failure_count = static_cast<int>(cr.Int("failureCount", 0));
    d.threshold = static_cast<int>(cr.Int("threshold", 0));
    if (!cr.error().empty()) r.Fail(cr.error());
  }
  {
    Json al = r.Raw("alarms", Json::value_t::object, Json::object());
    Reader ar(al, "alarms");
    d.alarms_status = ar.Str("status", false);
    if (!ar.error().empty()) r.Fail(ar.error());
  }
  const Json internal = row.internal.is_null() ? Json::object() : row.internal;
  Reader ir(internal, "internal");
  d.deployment_id = ir.Str("deploymentId", false);
  d.rollback_deployment_id = ir.Str("rollbackDeploymentId", false);
  for (const auto& s : ir.Raw("sourceDeploymentIds", Json::value_t::array, Json::array())) {
    if (s.is_string()) d.source_deployment_ids.push_back(s.get<std::string>());
  }
  if (!r.error().empty()) return UnreadableRecord(kind, row.id, r.error());
  if (!ir.error().empty()) return UnreadableRecord(kind, row.id, ir.error());
  return d;
}

Json ServiceRevisionToAws(const ServiceRevision& v) {
  Json j = {{"serviceRevisionArn", v.arn},
            {"serviceArn", v.service_arn},
            {"clusterArn", v.cluster_arn},
            {"taskDefinition", v.task_definition}};
  if (!v.capacity_provider_strategy.is_null()) j["capacityProviderStrategy"] = v.capacity_provider_strategy;
  if (v.launch_type) j["launchType"] = *v.launch_type;
  if (v.platform_version) j["platformVersion"] = *v.platform_version;
  if (v.platform_family) j["platformFamily"] = *v.platform_family;
  j["loadBalancers"] = ServiceLoadBalancersToJson(v.load_balancers);
  j["serviceRegistries"] = ServiceRegistriesToJson(v.service_registries);
  if (!v.network_configuration.is_null()) j["networkConfiguration"] = v.network_configuration;
  j["containerImages"] = v.container_images;
  j["guardDutyEnabled"] = false;
  j["createdAt"] = v.created_at;
  return j;
}

Object EncodeServiceRevision(const ServiceRevision& v) {
  return Object{model::kServiceRevision, v.region, v.cluster + "/" + v.service + "/" + v.id,
                ParentKey(v.cluster, v.service), v.id, "", 0, ServiceRevisionToAws(v)};
}

Result<ServiceRevision> DecodeServiceRevision(const Object& row) {
  const char* kind = "service revision";
  if (row.doc.is_discarded()) return UnreadableRecord(kind, row.id, "not JSON");
  ServiceRevision v;
  v.region = row.region;
  if (!SplitRecordKey(row.id, &v.cluster, &v.service, &v.id)) return UnreadableRecord(kind, row.id, "bad id");
  Reader r(row.doc, "");
  v.arn = r.Str("serviceRevisionArn");
  v.service_arn = r.Str("serviceArn");
  v.cluster_arn = r.Str("clusterArn");
  v.task_definition = r.Str("taskDefinition");
  v.capacity_provider_strategy = r.Raw("capacityProviderStrategy", Json::value_t::array);
  v.launch_type = r.OptStr("launchType");
  v.platform_version = r.OptStr("platformVersion");
  v.platform_family = r.OptStr("platformFamily");
  auto lbs = ServiceLoadBalancersFromJson(r.Raw("loadBalancers", Json::value_t::array, Json::array()));
  if (!lbs.ok()) return UnreadableRecord(kind, row.id, lbs.status().message());
  v.load_balancers = std::move(*lbs);
  auto regs = ServiceRegistriesFromJson(r.Raw("serviceRegistries", Json::value_t::array, Json::array()));
  if (!regs.ok()) return UnreadableRecord(kind, row.id, regs.status().message());
  v.service_registries = std::move(*regs);
  v.network_configuration = r.Raw("networkConfiguration", Json::value_t::object);
  v.container_images = r.Raw("containerImages", Json::value_t::array, Json::array());
  v.created_at = r.Num("createdAt");
  if (!r.error().empty()) return UnreadableRecord(kind, row.id, r.error());
  return v;
}

Status PutServiceDeployment(Tx& tx, const ServiceDeployment& d) { return tx.Put(EncodeServiceDeployment(d)); }
Status PutServiceRevision(Tx& tx, const ServiceRevision& v) { return tx.Put(EncodeServiceRevision(v)); }

Result<std::optional<ServiceDeployment>> GetServiceDeployment(Tx& tx, const std::string& region,
                                                             const std::string& key) {
  ASSIGN_OR_RETURN(auto row, tx.Get(model::kServiceDeployment, region, key));
  if (!row) return std::optional<ServiceDeployment>();
  ASSIGN_OR_RETURN(auto d, DecodeServiceDeployment(*row));
  return std::optional<ServiceDeployment>(std::move(d));
}

Result<std::optional<ServiceRevision>> GetServiceRevision(Tx& tx, const std::string& region, const std::string& key) {
  ASSIGN_OR_RETURN(auto row, tx.Get(model::kServiceRevision, region, key));
  if (!row) return std::optional<ServiceRevision>();
  ASSIGN_OR_RETURN(auto v, DecodeServiceRevision(*row));
  return std::optional<ServiceRevision>(std::move(v));
}

namespace {

// The rows of `kind` under a service, decoded, oldest first.
template <typename T>
Result<std::vector<T>> ListUnderService(Tx& tx, const char* kind, const std::string& region, const std::string& cluster,
                                        const std::string& service, Result<T> (*decode)(const Object&)) {
  Query q{kind, region};
  q.parent = ParentKey(cluster, service);
  ASSIGN_OR_RETURN(auto rows, tx.List(q));
  std::vector<T> out;
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(auto one, decode(row));
    out.push_back(std::move(one));
  }
  return out;
}

}  // namespace

Result<std::vector<ServiceDeployment>> ListServiceDeployments(Tx& tx, const std::string& region,
                                                              const std::string& cluster, const std::string& service) {
  return ListUnderService<ServiceDeployment>(tx, model::kServiceDeployment, region, cluster, service,
                                             &DecodeServiceDeployment);
}

Result<std::vector<ServiceRevision>> ListServiceRevisions(Tx& tx, const std::string& region,
                                                          const std::string& cluster, const std::string& service) {
  return ListUnderService<ServiceRevision>(tx, model::kServiceRevision, region, cluster, service,
                                           &DecodeServiceRevision);
}

}  // namespace kecs::state::records
