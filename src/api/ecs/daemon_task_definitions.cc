// ECS daemon task definitions (issue 18): RegisterDaemonTaskDefinition,
// DescribeDaemonTaskDefinition, DeleteDaemonTaskDefinition, ListDaemonTaskDefinitions.
//
// A row (model::kDaemonTaskDef) holds the AWS DaemonTaskDefinition document and, in its
// internal column, {"taskDefinition": the launchable task definition (DaemonLaunchDefinition),
// "tags": [...]}. DeleteDaemonTaskDefinition sets DELETE_IN_PROGRESS; the daemon
// controller takes it to DELETED once no daemon's deployment still runs it (the model: "Existing
// daemons that reference the deleted daemon task definition continue to run").
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/daemons.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/task_definition_rules.h"
#include "api/pagination.h"
#include "model/daemon.h"

namespace kecs::api::ecs {
namespace {

using model::kDaemonTaskDef;

std::string Key(const std::string& family, int64_t rev) { return fmt::format("{}:{}", family, rev); }

// The DaemonContainerDefinition members (the model's shape): a container definition
// keeps these and nothing else, so that a daemon document never shows a member its shape
// lacks.
constexpr const char* kContainerMembers[] = {
    "name", "image", "memory", "memoryReservation", "repositoryCredentials", "healthCheck", "cpu",
    "essential", "entryPoint", "command", "workingDirectory", "environmentFiles", "environment",
    "secrets", "readonlyRootFilesystem", "mountPoints", "logConfiguration", "firelensConfiguration",
    "privileged", "user", "ulimits", "linuxParameters", "dependsOn", "startTimeout", "stopTimeout",
    "systemControls", "interactive", "pseudoTerminal", "restartPolicy"};

Json Summary(const state::Object& o) {
  Json s = {{"arn", o.doc.at("daemonTaskDefinitionArn")},
            {"registeredAt", o.doc.at("registeredAt")},
            {"registeredBy", o.doc.at("registeredBy")},
            {"status", o.status}};
  if (const Json* d = JGet(o.doc, "deleteRequestedAt")) s["deleteRequestedAt"] = *d;
  return s;
}

}  // namespace

bool SplitDaemonTaskDefinition(const std::string& ref, std::string* family, int64_t* rev) {
  std::string id = ref;
  if (auto arn = model::Arn::Parse(ref)) {
    const std::string prefix = "daemon-task-definition/";
    if (!arn->resource.starts_with(prefix)) return false;
    id = arn->resource.substr(prefix.size());
  }
  size_t colon = id.rfind(':');
  *rev = 0;
  if (colon == std::string::npos) {
    *family = id;
    return !id.empty();
  }
  *family = id.substr(0, colon);
  std::string r = id.substr(colon + 1);
  if (r.empty() || r.size() > 9 || r.find_first_not_of("0123456789") != std::string::npos) return false;
  *rev = std::stoll(r);
  return *rev > 0 && !family->empty();
}

std::optional<state::Object> FindDaemonTaskDefinition(state::Tx& tx, const RequestContext& ctx,
                                                      const std::string& ref) {
  std::string family;
  int64_t rev = 0;
  if (!SplitDaemonTaskDefinition(ref, &family, &rev)) return std::nullopt;
  if (rev > 0) {
    auto o = Check(tx.Get(kDaemonTaskDef, ctx.region, Key(family, rev)));
    if (!o || o->status == "DELETED") return std::nullopt;
    return o;
  }
  state::Query q{kDaemonTaskDef, ctx.region, family};
  q.status = "ACTIVE";
  std::optional<state::Object> best;
  for (auto& o : Check(tx.List(q))) {
    if (!best || JInt(o.doc, "revision") > JInt(best->doc, "revision")) best = std::move(o);
  }
  return best;
}

Json DaemonLaunchDefinition(const Json& in, bool strict) {
  Json req = Json::object();
  for (const char* m : {"family", "taskRoleArn", "executionRoleArn", "cpu", "memory"}) {
    if (const Json* v = JGet(in, m)) req[m] = *v;
  }
  req["containerDefinitions"] = in.value("containerDefinitions", Json::array());
  if (const Json* v = JGet(in, "volumes")) req["volumes"] = *v;
  req["networkMode"] = "host";
  req["requiresCompatibilities"] = Json::array({"EC2"});
  if (JStr(in, "pidMode") == "shared") req["pidMode"] = "host";
  if (JStr(in, "ipcMode") == "shared") req["ipcMode"] = "host";
  return NormalizeTaskDefinition(req, strict);  // ECS's ClientException on a bad one
}

Json DaemonTaskDefinitionDocument(const Json& in) {
  Json doc = Json::object();
  for (const char* m : {"family", "taskRoleArn", "executionRoleArn"}) {
    if (const Json* v = JGet(in, m)) doc[m] = *v;
  }
  Json containers = Json::array();
  for (const auto& c : in.value("containerDefinitions", Json::array())) {
    Json out = Json::object();
    for (const char* m : kContainerMembers) {
      if (const Json* v = JGet(c, m)) out[m] = *v;
    }
    if (!out.contains("essential")) out["essential"] = true;
    containers.push_back(std::move(out));
  }
  doc["containerDefinitions"] = containers;
  for (const char* m : {"volumes", "cpu", "memory", "pidMode", "ipcMode"}) {
    if (const Json* v = JGet(in, m)) doc[m] = *v;
  }
  return doc;
}

Json EcsApi::RegisterDaemonTaskDefinition(RequestContext& ctx, const Json& in) {
  Json launch = DaemonLaunchDefinition(in, ctx.strict);
  Json doc = DaemonTaskDefinitionDocument(in);
  const std::string family = JStr(launch, "family");
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  std::string arn;
  Check(store_.Write([&](state::Tx& tx) {
    int64_t rev = Check(tx.NextSequence(fmt::format("daemon-taskdef/{}/{}", ctx.region, family)));
    arn = model::DaemonTaskDefinitionArn(ctx.region, ctx.account_id, family, rev);
    // The launch document carries the daemon ARN: the daemon's tasks show it as their
    // taskDefinitionArn.
    launch["taskDefinitionArn"] = arn;
    launch["revision"] = rev;
    launch["status"] = "ACTIVE";
    Json ordered = {{"daemonTaskDefinitionArn", arn}, {"family", family}, {"revision", rev}};
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it.key() != "family") ordered[it.key()] = it.value();
    }
    ordered["status"] = "ACTIVE";
    ordered["registeredAt"] = Ts(ctx);
    ordered["registeredBy"] = fmt::format("arn:aws:iam::{}:root", ctx.account_id);
    Json internal = {{"taskDefinition", launch}, {"tags", tags}};
    Check(tx.Insert({kDaemonTaskDef, ctx.region, Key(family, rev), family, family, "ACTIVE", 0, ordered, internal}));
    return Status::Ok();
  }));
  return {{"daemonTaskDefinitionArn", arn}};
}

Json EcsApi::DescribeDaemonTaskDefinition(RequestContext& ctx, const Json& in) {
  const std::string ref = JStr(in, "daemonTaskDefinition");
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    auto o = FindDaemonTaskDefinition(tx, ctx, ref);
    // DescribeTaskDefinition's wording for its own miss; AWS's for a daemon task
    // definition was not found in the model or the docs corpus.
    if (!o) throw ClientException("Unable to describe daemon task definition.");
    out = {{"daemonTaskDefinition", o->doc}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteDaemonTaskDefinition(RequestContext& ctx, const Json& in) {
  const std::string ref = JStr(in, "daemonTaskDefinition");
  std::string family;
  int64_t rev = 0;
  // The model: "The family and revision (family:revision) or full ARN ... to delete": a
  // bare family names no one revision. Wording is kecs's (none found).
  if (!SplitDaemonTaskDefinition(ref, &family, &rev) || rev == 0) {
    throw ClientException(
        "The specified daemon task definition identifier is invalid. Specify a family and revision "
        "(family:revision) or a full ARN and try again.");
  }
  std::string arn;
  Check(store_.Write([&](state::Tx& tx) {
    auto o = Check(tx.Get(kDaemonTaskDef, ctx.region, Key(family, rev)));
    if (!o || o->status == "DELETED") {
      throw ClientException("The specified daemon task definition does not exist.");
    }
    // The model: "A daemon task definition must be in an ACTIVE state to be deleted."
    if (o->status != "ACTIVE") {
      throw ClientException("The specified daemon task definition is not in an ACTIVE state.");
    }
    o->status = "DELETE_IN_PROGRESS";
    o->doc["status"] = "DELETE_IN_PROGRESS";
    o->doc["deleteRequestedAt"] = Ts(ctx);
    Check(tx.Put(*o));
    arn = JStr(o->doc, "daemonTaskDefinitionArn");
    return Status::Ok();
  }));
  return {{"daemonTaskDefinitionArn", arn}};
}

Json EcsApi::ListDaemonTaskDefinitions(RequestContext& ctx, const Json& in) {
  size_t max = MaxResults(in, 100, 100);
  const std::string status = JStr(in, "status", "ACTIVE");
  const bool desc = JStr(in, "sort", "ASC") == "DESC";
  const bool last_only = JStr(in, "revision") == "LAST_REGISTERED";
  auto family = JOptStr(in, "family");
  auto prefix = JOptStr(in, "familyPrefix");
  std::vector<std::pair<std::string, Json>> rows;  // sort key, summary
  Check(store_.Read([&](state::Tx& tx) {
    state::Query q{kDaemonTaskDef, ctx.region};
    if (family) q.parent = *family;
    if (prefix) q.name_prefix = *prefix;
    std::map<std::string, int64_t> last;  // family -> its last registered revision
    std::vector<state::Object> all = Check(tx.List(q));
    for (const auto& o : all) last[o.parent] = std::max(last[o.parent], JInt(o.doc, "revision"));
    for (const auto& o : all) {
      if (status != "ALL" && o.status != status) continue;
      if (last_only && JInt(o.doc, "revision") != last[o.parent]) continue;
      rows.emplace_back(fmt::format("{}\x1f{:012}", o.parent, JInt(o.doc, "revision")), Summary(o));
    }
    return Status::Ok();
  }));
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (desc) std::reverse(rows.begin(), rows.end());
  std::vector<std::string> keys;
  for (const auto& r : rows) keys.push_back(r.first);
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max, desc);
  if (!page) BadToken();
  Json list = Json::array();
  for (size_t i = page->begin; i < page->end; ++i) list.push_back(rows[i].second);
  Json out = {{"daemonTaskDefinitions", list}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

}  // namespace kecs::api::ecs
