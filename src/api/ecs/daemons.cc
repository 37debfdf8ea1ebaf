// ECS managed daemons (issue 18): CreateDaemon, UpdateDaemon, DeleteDaemon, DescribeDaemon,
// ListDaemons, DescribeDaemonDeployments, ListDaemonDeployments, DescribeDaemonRevisions,
// and the daemon scheduler's launch path (reconcile/daemon_controller.h moves daemons on).
//
// Rows (model/daemon.h):
//   daemon: the AWS members (daemonArn, clusterArn, status, createdAt, updatedAt,
//     deploymentArn, capacityProviderArns, tags); internal {deployment, revision,
//     clientToken, request}: its latest deployment and that deployment's target revision.
//   revision: the DaemonRevision document; internal {taskDefinition (launchable, a copy:
//     the daemon task definition may be deleted meanwhile), capacityProviders (names)}.
//   deployment: the DaemonDeployment document without the live per-revision counts, which
//     Describe computes from the daemon's tasks; internal {daemonArn, target, sources,
//     batch, stepDoneAt}.
// Every CreateDaemon, UpdateDaemon and DeleteDaemon makes a deployment; Create and Update
// also a revision (the model: "A daemon revision is a snapshot of a daemon's
// configuration at the time a deployment was initiated"). A newer deployment STOPs one
// still PENDING or IN_PROGRESS.
//
// Error wording: the model documents DaemonNotFoundException and
// DaemonNotActiveException but not their messages, and neither the docs corpus nor the
// issues corpus had one; kecs words them as ECS words ServiceNotFoundException and
// ServiceNotActiveException. The same holds for the capacity-provider refusals below.
#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/daemons.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/launch.h"
#include "api/pagination.h"
#include "base/ids.h"
#include "model/arn.h"
#include "model/daemon.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

using model::kDaemon;
using model::kDaemonDeployment;
using model::kDaemonRevision;

const std::regex kDaemonName("^[a-zA-Z0-9_-]{1,255}$");

[[noreturn]] void DaemonNotFound() { throw AwsError("DaemonNotFoundException", "Daemon not found."); }

// "daemon/CLUSTER/NAME" of a daemon ARN; InvalidParameterException otherwise.
std::pair<std::string, std::string> SplitDaemonArn(const std::string& ref) {
  auto arn = model::Arn::Parse(ref);
  const std::string prefix = "daemon/";
  if (arn && arn->resource.starts_with(prefix)) {
    std::string rest = arn->resource.substr(prefix.size());
    size_t slash = rest.find('/');
    if (slash != std::string::npos && slash > 0 && slash + 1 < rest.size() &&
        rest.find('/', slash + 1) == std::string::npos) {
      return {rest.substr(0, slash), rest.substr(slash + 1)};
    }
  }
  throw InvalidParameter(fmt::format("Invalid daemon ARN: {}", ref));
}

// The daemon an ARN names, in an existing cluster (ClusterNotFoundException,
// DaemonNotFoundException; with `active_only`, DaemonNotActiveException).
state::Object RequireDaemon(state::Tx& tx, const RequestContext& ctx, const std::string& ref, bool active_only) {
  auto [cluster, name] = SplitDaemonArn(ref);
  RequireCluster(tx, ctx, cluster);
  auto d = Check(tx.Get(kDaemon, ctx.region, cluster + "/" + name));
  if (!d) DaemonNotFound();
  if (active_only && d->status != "ACTIVE") {
    throw AwsError("DaemonNotActiveException", "Daemon is not ACTIVE.");
  }
  return *d;
}

std::string CpArn(const RequestContext& ctx, const std::string& name) {
  return model::EcsArn(ctx.region, ctx.account_id, "capacity-provider/" + name);
}

// capacityProviderArns as provider names: each an ACTIVE Managed Instances provider
// associated with the cluster (the model: "ECS Managed Daemons is only supported for
// Amazon ECS Managed Instances Capacity Providers"; the docs' prerequisites: "One or more
// Amazon ECS Managed Instances capacity providers associated with the cluster").
std::vector<std::string> ResolveProviders(state::Tx& tx, const RequestContext& ctx, const state::Object& cluster,
                                          const Json& given) {
  std::vector<std::string> names;
  if (!given.is_array() || given.empty()) {
    throw InvalidParameter("capacityProviderArns must contain at least one capacity provider.");
  }
  std::set<std::string> associated;
  for (const auto& n : cluster.doc.value("capacityProviders", Json::array())) {
    if (n.is_string()) associated.insert(n.get<std::string>());
  }
  for (const auto& g : given) {
    std::string name = model::NameFromArnOrName(g.is_string() ? g.get<std::string>() : "");
    auto cp = name.empty() ? std::nullopt : Check(tx.Get(kCapacityProvider, ctx.region, name));
    if (name == "FARGATE" || name == "FARGATE_SPOT" || (cp && cp->status == "ACTIVE" && !JGet(cp->doc, "managedInstancesProvider"))) {
      throw InvalidParameter(fmt::format(
          "The capacity provider '{}' is not an Amazon ECS Managed Instances capacity provider. ECS Managed "
          "Daemons is only supported for Amazon ECS Managed Instances Capacity Providers.", name));
    }
    if (!cp || cp->status != "ACTIVE") {
      throw InvalidParameter(fmt::format(
          "The specified capacity provider '{}' is not in an ACTIVE state. Specify a valid capacity provider "
          "and try again.", name));
    }
    if (!associated.count(name)) {
      throw InvalidParameter(fmt::format(
          "The specified capacity provider '{}' is not associated with the cluster. Associate the capacity "
          "provider with the cluster or specify a valid capacity provider and try again.", name));
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

// The deploymentConfiguration with AWS's defaults filled: drainPercent 25 (docs,
// "Creating and managing daemons": "Drain percentage ... Default: 25"), bakeTimeInMinutes
// 0 and alarms off (the model's documentation).
Json DeploymentConfiguration(const Json& in) {
  Json c = in.is_object() ? in : Json::object();
  Json out = Json::object();
  double drain = 25.0;
  if (const Json* d = JGet(c, "drainPercent")) {
    if (!d->is_number() || d->get<double>() < 0.0 || d->get<double>() > 100.0) {
      throw InvalidParameter("drainPercent must be between 0.0 and 100.0.");  // the model's range
    }
    drain = d->get<double>();
  }
  out["drainPercent"] = drain;
  int64_t bake = JInt(c, "bakeTimeInMinutes", 0);
  if (bake < 0) throw InvalidParameter("bakeTimeInMinutes must be 0 or greater.");
  out["bakeTimeInMinutes"] = bake;
  Json alarms = c.value("alarms", Json::object());
  out["alarms"] = {{"alarmNames", alarms.value("alarmNames", Json::array())},
                   {"enable", alarms.value("enable", false)}};
  return out;
}

// Per revision id, per capacity provider: instances with a RUNNING task (running) and
// with a task being stopped (draining), from the daemon's live tasks.
struct RevisionCounts {
  std::map<std::string, std::map<std::string, int>> running, draining;
};
RevisionCounts CountTasks(state::Tx& tx, const RequestContext& ctx, const std::string& cluster, const std::string& name) {
  RevisionCounts c;
  state::Query q{kTask, ctx.region, cluster};
  q.status_not = "STOPPED";
  for (const auto& t : Check(state::records::ListTasks(tx, q))) {
    if (t.group != model::DaemonTaskGroup(name)) continue;
    const std::string cp = t.capacity_provider_name.value_or("");
    if (t.desired_status == model::TaskStatus::kStopped) {
      ++c.draining[t.internal.deployment][cp];
    } else if (t.last_status == model::TaskStatus::kRunning) {
      ++c.running[t.internal.deployment][cp];
    }
  }
  return c;
}

Json DeploymentRevisionDetail(const RequestContext& ctx, const state::Object& rev, const RevisionCounts& c) {
  Json cps = Json::array();
  int running = 0, draining = 0;
  const std::string id = rev.name;
  for (const auto& cp : rev.internal.value("capacityProviders", Json::array())) {
    std::string n = cp.get<std::string>();
    int r = c.running.count(id) && c.running.at(id).count(n) ? c.running.at(id).at(n) : 0;
    int dr = c.draining.count(id) && c.draining.at(id).count(n) ? c.draining.at(id).at(n) : 0;
    running += r;
    draining += dr;
    cps.push_back({{"arn", CpArn(ctx, n)}, {"runningInstanceCount", r}, {"drainingInstanceCount", dr}});
  }
  return {{"arn", JStr(rev.doc, "daemonRevisionArn")},
          {"capacityProviders", cps},
          {"totalRunningInstanceCount", running},
          {"totalDrainingInstanceCount", draining}};
}

Json DeploymentView(state::Tx& tx, const RequestContext& ctx, const state::Object& dep) {
  Json out = dep.doc;
  auto slash = dep.parent.find('/');
  RevisionCounts counts = CountTasks(tx, ctx, dep.parent.substr(0, slash), dep.parent.substr(slash + 1));
  auto rev = [&](const std::string& id) { return Check(tx.Get(kDaemonRevision, ctx.region, dep.parent + "/" + id)); };
  if (auto t = JOptStr(dep.internal, "target")) {
    if (auto r = rev(*t)) out["targetDaemonRevision"] = DeploymentRevisionDetail(ctx, *r, counts);
  }
  Json sources = Json::array();
  for (const auto& s : dep.internal.value("sources", Json::array())) {
    if (auto r = rev(s.get<std::string>())) sources.push_back(DeploymentRevisionDetail(ctx, *r, counts));
  }
  out["sourceDaemonRevisions"] = sources;
  return out;
}

Json DeploymentSummary(const state::Object& dep) {
  Json s = {{"daemonDeploymentArn", dep.doc.at("daemonDeploymentArn")},
            {"daemonArn", JStr(dep.internal, "daemonArn")},
            {"clusterArn", dep.doc.at("clusterArn")},
            {"status", dep.status}};
  for (const char* m : {"statusReason", "createdAt", "startedAt", "stoppedAt", "finishedAt"}) {
    if (const Json* v = JGet(dep.doc, m)) s[m] = *v;
  }
  if (auto t = JOptStr(dep.internal, "targetArn")) s["targetDaemonRevisionArn"] = *t;
  return s;
}

// The revisions a new deployment replaces: the daemon's current one and whatever its
// deployment was still replacing.
Json SourcesOf(state::Tx& tx, const RequestContext& ctx, const state::Object& daemon) {
  Json sources = Json::array();
  auto cur = Check(tx.Get(kDaemonDeployment, ctx.region, daemon.id + "/" + JStr(daemon.internal, "deployment")));
  std::set<std::string> seen;
  auto add = [&](const std::string& id) {
    if (!id.empty() && seen.insert(id).second) sources.push_back(id);
  };
  add(JStr(daemon.internal, "revision"));
  if (cur && cur->status != model::kDaemonDeploymentSuccessful) {
    for (const auto& s : cur->internal.value("sources", Json::array())) add(s.get<std::string>());
  }
  return sources;
}

// Stops the daemon's deployment still PENDING or IN_PROGRESS, superseded by `by`.
void StopCurrentDeployment(state::Tx& tx, const RequestContext& ctx, const state::Object& daemon, const std::string& by) {
  auto cur = Check(tx.Get(kDaemonDeployment, ctx.region, daemon.id + "/" + JStr(daemon.internal, "deployment")));
  if (!cur || (cur->status != model::kDaemonDeploymentPending && cur->status != model::kDaemonDeploymentInProgress &&
               cur->status != model::kDaemonDeploymentRollbackInProgress)) {
    return;
  }
  cur->status = model::kDaemonDeploymentStopped;
  cur->doc["status"] = model::kDaemonDeploymentStopped;
  cur->doc["stoppedAt"] = Ts(ctx);
  cur->doc["statusReason"] = fmt::format("Superseded by daemon deployment {}", by);
  Check(tx.Put(*cur));
}

struct NewDeployment {
  std::string deployment_id, deployment_arn, revision_id;
};

// A deployment of the daemon row `d` (cluster/name) to a new revision of `td` (or, for
// DeleteDaemon, to none), written in `tx`; `d.internal` names them.
NewDeployment Deploy(state::Tx& tx, const RequestContext& ctx, state::Object& d, const state::Object* td,
                     const std::vector<std::string>& providers, const Json& in, const Json& config) {
  NewDeployment out;
  const std::string cluster = d.parent, name = d.name;
  const std::string daemon_arn = JStr(d.doc, "daemonArn");
  Json sources = d.internal.contains("deployment") ? SourcesOf(tx, ctx, d) : Json::array();
  out.deployment_id = RandomHex(20);
  out.deployment_arn = model::DaemonDeploymentArn(ctx.region, ctx.account_id, cluster, name, out.deployment_id);
  if (d.internal.contains("deployment")) StopCurrentDeployment(tx, ctx, d, out.deployment_arn);

  Json dep_internal = {{"daemonArn", daemon_arn}, {"sources", sources}, {"batch", Json::array()}};
  if (td) {
    out.revision_id = RandomHex(20);
    const std::string rev_arn = model::DaemonRevisionArn(ctx.region, ctx.account_id, cluster, name, out.revision_id);
    Json images = Json::array();
    for (const auto& c : td->doc.value("containerDefinitions", Json::array())) {
      images.push_back({{"containerName", JStr(c, "name")}, {"image", JStr(c, "image")}});
    }
    Json rev = {{"daemonRevisionArn", rev_arn},
                {"clusterArn", ClusterArn(ctx, cluster)},
                {"daemonArn", daemon_arn},
                {"daemonTaskDefinitionArn", td->doc.at("daemonTaskDefinitionArn")},
                {"createdAt", Ts(ctx)},
                {"containerImages", images},
                {"propagateTags", JStr(in, "propagateTags", "NONE")},
                {"enableECSManagedTags", JBool(in, "enableECSManagedTags")},
                {"enableExecuteCommand", JBool(in, "enableExecuteCommand")}};
    Json rev_internal = {{"taskDefinition", td->internal.at("taskDefinition")}, {"capacityProviders", providers}};
    Check(tx.Insert({kDaemonRevision, ctx.region, d.id + "/" + out.revision_id, d.id, out.revision_id, "ACTIVE", 0,
                     rev, rev_internal}));
    dep_internal["target"] = out.revision_id;
    dep_internal["targetArn"] = rev_arn;
    d.internal["revision"] = out.revision_id;
  }
  // The circuit breaker is DISABLED until the daemon scheduler starts the deployment: then
  // it monitors it, with a threshold for the covered instances, and rolls it back when
  // tripped (reconcile/daemon_controller.h). CloudWatch alarms do not act on a kecs daemon
  // deployment: they report DISABLED (the model: "Amazon ECS is not using ... when the
  // status is DISABLED").
  Json dep = {{"daemonDeploymentArn", out.deployment_arn},
              {"clusterArn", ClusterArn(ctx, cluster)},
              {"status", model::kDaemonDeploymentPending},
              {"circuitBreaker", {{"failureCount", 0}, {"status", "DISABLED"}, {"threshold", 0}}},
              {"alarms", {{"status", "DISABLED"}, {"alarmNames", config["alarms"]["alarmNames"]},
                          {"triggeredAlarmNames", Json::array()}}},
              {"deploymentConfiguration", config},
              {"createdAt", Ts(ctx)}};
  Check(tx.Insert({kDaemonDeployment, ctx.region, d.id + "/" + out.deployment_id, d.id, out.deployment_id,
                   model::kDaemonDeploymentPending, 0, dep, dep_internal}));
  d.internal["deployment"] = out.deployment_id;
  d.doc["deploymentArn"] = out.deployment_arn;
  return out;
}

// The daemon task definition a Create/Update names: it must exist and be ACTIVE.
state::Object RequireDaemonTaskDefinition(state::Tx& tx, const RequestContext& ctx, const std::string& ref) {
  auto td = FindDaemonTaskDefinition(tx, ctx, ref);
  if (!td) throw ClientException("The specified daemon task definition does not exist.");
  if (td->status != "ACTIVE") throw ClientException("The specified daemon task definition is not in an ACTIVE state.");
  return *td;
}

Json DaemonAnswer(const state::Object& d) {
  Json out = {{"daemonArn", d.doc.at("daemonArn")}, {"status", d.status}, {"createdAt", d.doc.at("createdAt")}};
  if (const Json* u = JGet(d.doc, "updatedAt")) out["updatedAt"] = *u;
  out["deploymentArn"] = d.doc.at("deploymentArn");
  return out;
}

}  // namespace

Json EcsApi::CreateDaemon(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "daemonName");
  if (!std::regex_match(name, kDaemonName)) {
    throw InvalidParameter(
        "Daemon name is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.");
  }
  auto token = JOptStr(in, "clientToken");
  if (token && (token->empty() || token->size() > 36)) {
    // The model: "Up to 36 ASCII characters in the range of 33-126 (inclusive)".
    throw InvalidParameter("clientToken: up to 36 ASCII characters in the range of 33-126 (inclusive) are allowed.");
  }
  const std::string cluster = ClusterName(in, "clusterArn");
  Json config = DeploymentConfiguration(in.value("deploymentConfiguration", Json::object()));
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  Json request = in;
  request.erase("clientToken");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object cl = RequireCluster(tx, ctx, cluster);
    auto existing = Check(tx.Get(kDaemon, ctx.region, cluster + "/" + name));
    if (existing) {
      // A retry with the same clientToken and request gets the daemon back (ECS's
      // idempotency, as CreateService's); anything else is refused in CreateService's words.
      if (token && JStr(existing->internal, "clientToken") == *token && existing->internal.value("request", Json()) == request) {
        out = DaemonAnswer(*existing);
        return Status::Ok();
      }
      throw InvalidParameter("Creation of daemon was not idempotent.");
    }
    std::vector<std::string> providers = ResolveProviders(tx, ctx, cl, in.value("capacityProviderArns", Json()));
    state::Object td = RequireDaemonTaskDefinition(tx, ctx, JStr(in, "daemonTaskDefinitionArn"));
    Json cps = Json::array();
    for (const auto& p : providers) cps.push_back(CpArn(ctx, p));
    state::Object d{kDaemon, ctx.region, cluster + "/" + name, cluster, name, "ACTIVE", 0,
                    {{"daemonArn", model::DaemonArn(ctx.region, ctx.account_id, cluster, name)},
                     {"clusterArn", ClusterArn(ctx, cluster)},
                     {"daemonName", name},
                     {"status", "ACTIVE"},
                     {"capacityProviderArns", cps},
                     {"createdAt", Ts(ctx)},
                     {"updatedAt", Ts(ctx)},
                     {"tags", tags}},
                    {{"request", request}}};
    if (token) d.internal["clientToken"] = *token;
    Deploy(tx, ctx, d, &td, providers, in, config);
    Check(tx.Insert(d));
    out = DaemonAnswer(d);
    out.erase("updatedAt");  // CreateDaemonResponse has none
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::UpdateDaemon(RequestContext& ctx, const Json& in) {
  Json config = DeploymentConfiguration(in.value("deploymentConfiguration", Json::object()));
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object d = RequireDaemon(tx, ctx, JStr(in, "daemonArn"), /*active_only=*/true);
    state::Object cl = RequireCluster(tx, ctx, d.parent);
    std::vector<std::string> providers = ResolveProviders(tx, ctx, cl, in.value("capacityProviderArns", Json()));
    state::Object td = RequireDaemonTaskDefinition(tx, ctx, JStr(in, "daemonTaskDefinitionArn"));
    Json cps = Json::array();
    for (const auto& p : providers) cps.push_back(CpArn(ctx, p));
    d.doc["capacityProviderArns"] = cps;
    d.doc["updatedAt"] = Ts(ctx);
    Deploy(tx, ctx, d, &td, providers, in, config);
    Check(tx.Put(d));
    out = DaemonAnswer(d);
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteDaemon(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object d = RequireDaemon(tx, ctx, JStr(in, "daemonArn"), /*active_only=*/true);
    d.status = "DELETE_IN_PROGRESS";
    d.doc["status"] = "DELETE_IN_PROGRESS";
    d.doc["updatedAt"] = Ts(ctx);
    auto cur = Check(tx.Get(kDaemonDeployment, ctx.region, d.id + "/" + JStr(d.internal, "deployment")));
    Json config = cur ? cur->doc.value("deploymentConfiguration", Json::object()) : DeploymentConfiguration(Json::object());
    Deploy(tx, ctx, d, nullptr, {}, in, config);
    Check(tx.Put(d));
    out = DaemonAnswer(d);
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeDaemon(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    state::Object d = RequireDaemon(tx, ctx, JStr(in, "daemonArn"), /*active_only=*/false);
    RevisionCounts counts = CountTasks(tx, ctx, d.parent, d.name);
    // The current revisions: the one the latest deployment targets, and any other still
    // running tasks (a rolling update's old revision until it has drained).
    std::vector<std::string> ids;
    if (auto r = JOptStr(d.internal, "revision"); r && d.status == "ACTIVE") ids.push_back(*r);
    for (const auto& [id, _] : counts.running) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    Json revisions = Json::array();
    for (const auto& id : ids) {
      auto rev = Check(tx.Get(kDaemonRevision, ctx.region, d.id + "/" + id));
      if (!rev) continue;
      Json cps = Json::array();
      int total = 0;
      for (const auto& cp : rev->internal.value("capacityProviders", Json::array())) {
        std::string n = cp.get<std::string>();
        int r = counts.running.count(id) && counts.running.at(id).count(n) ? counts.running.at(id).at(n) : 0;
        total += r;
        cps.push_back({{"arn", CpArn(ctx, n)}, {"runningCount", r}});
      }
      revisions.push_back({{"arn", rev->doc.at("daemonRevisionArn")}, {"capacityProviders", cps}, {"totalRunningCount", total}});
    }
    out = {{"daemon",
            {{"daemonArn", d.doc.at("daemonArn")},
             {"clusterArn", d.doc.at("clusterArn")},
             {"status", d.status},
             {"currentRevisions", revisions},
             {"deploymentArn", d.doc.at("deploymentArn")},
             {"createdAt", d.doc.at("createdAt")},
             {"updatedAt", d.doc.value("updatedAt", d.doc.at("createdAt"))}}}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::ListDaemons(RequestContext& ctx, const Json& in) {
  size_t max = MaxResults(in, 100, 100);
  const std::string cluster = ClusterName(in, "clusterArn");
  std::set<std::string> wanted;
  for (const auto& c : in.value("capacityProviderArns", Json::array())) {
    wanted.insert(CpArn(ctx, model::NameFromArnOrName(c.get<std::string>())));
  }
  std::vector<std::string> keys;
  std::vector<Json> rows;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& d : Check(tx.List({kDaemon, ctx.region, cluster}))) {
      bool match = wanted.empty();
      for (const auto& cp : d.doc.value("capacityProviderArns", Json::array())) match = match || wanted.count(cp.get<std::string>());
      if (!match) continue;
      keys.push_back(SeqKey(d.seq));
      rows.push_back({{"daemonArn", d.doc.at("daemonArn")},
                      {"status", d.status},
                      {"createdAt", d.doc.at("createdAt")},
                      {"updatedAt", d.doc.value("updatedAt", d.doc.at("createdAt"))}});
    }
    return Status::Ok();
  }));
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max);
  if (!page) BadToken();
  Json list = Json::array();
  for (size_t i = page->begin; i < page->end; ++i) list.push_back(rows[i]);
  Json out = {{"daemonSummariesList", list}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

namespace {

// Describe*'s lookup of deployments or revisions by ARN: "You can specify up to 20 ARNs"
// (the model); an ARN that names none is a MISSING failure, as DescribeServiceDeployments.
template <typename View>
Json DescribeByArns(state::Store& store, const RequestContext& ctx, const Json& arns, const char* kind,
                    const char* prefix, const char* member, View view) {
  if (!arns.is_array() || arns.empty()) throw InvalidParameter(fmt::format("{} must not be empty.", member));
  if (arns.size() > 20) throw InvalidParameter(fmt::format("{} can have at most 20 items.", member));
  Json found = Json::array(), failures = Json::array();
  Check(store.Read([&](state::Tx& tx) {
    for (const auto& a : arns) {
      const std::string ref = a.is_string() ? a.get<std::string>() : "";
      auto arn = model::Arn::Parse(ref);
      std::optional<state::Object> o;
      if (arn && arn->resource.starts_with(prefix)) o = Check(tx.Get(kind, ctx.region, arn->resource.substr(std::string(prefix).size())));
      if (!o) {
        failures.push_back({{"arn", ref}, {"reason", "MISSING"}});
        continue;
      }
      found.push_back(view(tx, *o));
    }
    return Status::Ok();
  }));
  return {{"found", found}, {"failures", failures}};
}

}  // namespace

Json EcsApi::DescribeDaemonDeployments(RequestContext& ctx, const Json& in) {
  Json r = DescribeByArns(store_, ctx, in.value("daemonDeploymentArns", Json()), kDaemonDeployment,
                          "daemon-deployment/", "daemonDeploymentArns",
                          [&](state::Tx& tx, const state::Object& o) { return DeploymentView(tx, ctx, o); });
  return {{"failures", r["failures"]}, {"daemonDeployments", r["found"]}};
}

Json EcsApi::DescribeDaemonRevisions(RequestContext& ctx, const Json& in) {
  Json r = DescribeByArns(store_, ctx, in.value("daemonRevisionArns", Json()), kDaemonRevision, "daemon-revision/",
                          "daemonRevisionArns", [](state::Tx&, const state::Object& o) { return o.doc; });
  return {{"daemonRevisions", r["found"]}, {"failures", r["failures"]}};
}

Json EcsApi::ListDaemonDeployments(RequestContext& ctx, const Json& in) {
  // The model: maxResults 1-100, 20 when absent.
  size_t max = MaxResults(in, 20, 100);
  auto [cluster, name] = SplitDaemonArn(JStr(in, "daemonArn"));
  std::set<std::string> statuses;
  for (const auto& s : in.value("status", Json::array())) statuses.insert(s.get<std::string>());
  Json created = in.value("createdAt", Json::object());
  std::optional<double> before, after;
  if (const Json* b = JGet(created, "before"); b && b->is_number()) before = b->get<double>();
  if (const Json* a = JGet(created, "after"); a && a->is_number()) after = a->get<double>();
  std::vector<std::string> keys;
  std::vector<Json> rows;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto all = Check(tx.List({kDaemonDeployment, ctx.region, cluster + "/" + name}));
    // Newest first, as ListServiceDeployments.
    std::reverse(all.begin(), all.end());
    for (const auto& dep : all) {
      if (!statuses.empty() && !statuses.count(dep.status)) continue;
      double at = dep.doc.value("createdAt", 0.0);
      if ((before && at >= *before) || (after && at <= *after)) continue;
      keys.push_back(SeqKey(dep.seq));
      rows.push_back(DeploymentSummary(dep));
    }
    return Status::Ok();
  }));
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max, /*descending=*/true);
  if (!page) BadToken();
  Json list = Json::array();
  for (size_t i = page->begin; i < page->end; ++i) list.push_back(rows[i]);
  Json out = {{"daemonDeployments", list}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

reconcile::LaunchedTasks EcsApi::LaunchDaemonTask(state::Tx& tx, const reconcile::DaemonLaunch& l, double now) {
  reconcile::LaunchedTasks out;
  RequestContext ctx;
  ctx.region = l.region;
  ctx.account_id = l.account;
  ctx.now = now;
  LaunchSpec spec;
  spec.cluster = l.cluster;
  spec.task_definition = JStr(l.task_definition, "taskDefinitionArn");
  spec.task_definition_doc = l.task_definition;
  spec.count = 1;
  // The capacity provider strategy of one provider: the task shows it as its
  // capacityProviderName, and RunTask's checks (associated with the cluster) apply.
  spec.capacity_provider_strategy = Json::array({{{"capacityProvider", l.capacity_provider}, {"weight", 1}}});
  spec.started_by = "ecs-daemon/" + l.revision;
  spec.group = model::DaemonTaskGroup(l.daemon);
  spec.container_instances = {l.instance};
  spec.deployment_id = l.revision;
  spec.tags = l.tags;
  spec.enable_execute_command = l.enable_execute_command;
  try {
    LaunchOutcome r = Launch(tx, ctx, options_, spec, nullptr);
    for (const auto& t : r.tasks) out.task_ids.push_back(IdFromArnOrId(JStr(t, "taskArn")));
    if (!r.failures.empty()) {
      const Json& f = r.failures.front();
      out.failure = fmt::format("Container instance {} could not run the daemon task: {}", IdFromArnOrId(JStr(f, "arn")),
                                JStr(f, "reason"));
    }
  } catch (const AwsError& e) {
    out.failure = e.what();
  } catch (const NeedPortProbe&) {
    out.failure = "host ports could not be probed";  // daemon tasks (host mode) map no dynamic ports
  }
  return out;
}

}  // namespace kecs::api::ecs
