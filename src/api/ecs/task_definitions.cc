// ECS task definitions: RegisterTaskDefinition, DescribeTaskDefinition,
// ListTaskDefinitions, ListTaskDefinitionFamilies, DeregisterTaskDefinition,
// DeleteTaskDefinitions.
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/task_definition_rules.h"
#include "api/pagination.h"
#include "model/arn.h"

namespace kecs::api::ecs {
namespace {

std::string TdArn(const RequestContext& ctx, const std::string& family, int64_t rev) {
  return model::EcsArn(ctx.region, ctx.account_id, fmt::format("task-definition/{}:{}", family, rev));
}

std::string TdKey(const std::string& family, int64_t rev) {
  return fmt::format("{}:{}", family, rev);
}

// Splits "family", "family:rev" or an ARN into family and revision (0 = latest).
bool SplitTaskDefinition(const std::string& s, std::string* family, int64_t* rev) {
  std::string id = s;
  if (auto arn = model::Arn::Parse(s)) {
    if (!arn->resource.starts_with("task-definition/")) return false;
    id = arn->resource.substr(std::string("task-definition/").size());
  }
  size_t colon = id.rfind(':');
  *rev = 0;
  if (colon == std::string::npos) {
    *family = id;
    return !id.empty();
  }
  *family = id.substr(0, colon);
  std::string r = id.substr(colon + 1);
  if (r.empty() || r.find_first_not_of("0123456789") != std::string::npos || r.size() > 9) {
    return false;
  }
  *rev = std::stoll(r);
  return *rev > 0 && !family->empty();
}

}  // namespace

std::optional<state::Object> FindTaskDefinition(state::Tx& tx, const RequestContext& ctx,
                                                const std::string& ref) {
  std::string family;
  int64_t rev = 0;
  if (!SplitTaskDefinition(ref, &family, &rev)) return std::nullopt;
  if (rev > 0) {
    auto o = Check(tx.Get(kTaskDef, ctx.region, TdKey(family, rev)));
    if (!o || o->status == "DELETE_IN_PROGRESS") return std::nullopt;
    return o;
  }
  // The latest ACTIVE revision of the family.
  state::Query q{kTaskDef, ctx.region, family};
  q.status = "ACTIVE";
  std::optional<state::Object> best;
  for (auto& o : Check(tx.List(q))) {
    if (!best || JInt(o.doc, "revision") > JInt(best->doc, "revision")) best = std::move(o);
  }
  return best;
}

Json EcsApi::RegisterTaskDefinition(RequestContext& ctx, const Json& in) {
  // ECS's quota: a task definition of at most 64 KiB, in ECS's words. Every task started
  // from a definition carries its containers, so an unbounded one costs every later read.
  if (size_t length = in.dump().size(); length > 65536) {
    throw ClientException(fmt::format("Actual length: '{}'. Max allowed length is '65536' bytes.", length));
  }
  Json td = NormalizeTaskDefinition(in, ctx.strict);  // throws ClientException in ECS's words
  std::string family = JStr(td, "family");
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    int64_t rev = Check(tx.NextSequence(fmt::format("taskdef/{}/{}", ctx.region, family)));
    td["taskDefinitionArn"] = TdArn(ctx, family, rev);
    td["revision"] = rev;
    td["status"] = "ACTIVE";
    td["registeredAt"] = Ts(ctx);
    td["registeredBy"] = fmt::format("arn:aws:iam::{}:root", ctx.account_id);
    // Order the members as ECS does: the ARN first.
    Json ordered = {{"taskDefinitionArn", td["taskDefinitionArn"]}};
    for (auto it = td.begin(); it != td.end(); ++it) {
      if (it.key() != "taskDefinitionArn") ordered[it.key()] = it.value();
    }
    ordered["kecs:tags"] = tags;
    Check(tx.Insert({kTaskDef, ctx.region, TdKey(family, rev), family, family, "ACTIVE", 0, ordered}));
    out = {{"taskDefinition", Public(ordered)}, {"tags", tags}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeTaskDefinition(RequestContext& ctx, const Json& in) {
  std::string ref = JStr(in, "taskDefinition");
  bool tags = false;
  if (const Json* inc = JGet(in, "include")) {
    for (const auto& i : *inc) tags = tags || i == "TAGS";
  }
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    auto o = FindTaskDefinition(tx, ctx, ref);
    if (!o) throw ClientException("Unable to describe task definition.");
    out = {{"taskDefinition", Public(o->doc)}};
    if (tags) out["tags"] = o->doc.value("kecs:tags", Json::array());
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::ListTaskDefinitions(RequestContext& ctx, const Json& in) {
  size_t max = MaxResults(in, 100, 100);
  std::string status = JStr(in, "status", "ACTIVE");
  bool desc = JStr(in, "sort", "ASC") == "DESC";
  std::optional<std::string> family = JOptStr(in, "familyPrefix");
  std::vector<std::pair<std::string, std::string>> rows;  // sort key, arn
  Check(store_.Read([&](state::Tx& tx) {
    state::Query q{kTaskDef, ctx.region};
    if (family) q.parent = *family;
    q.status = status;
    for (const auto& o : Check(tx.List(q))) {
      rows.emplace_back(fmt::format("{}\x1f{:012}", o.parent, JInt(o.doc, "revision")),
                        JStr(o.doc, "taskDefinitionArn"));
    }
    return Status::Ok();
  }));
  std::sort(rows.begin(), rows.end());
  if (desc) std::reverse(rows.begin(), rows.end());
  std::vector<std::string> keys;
  for (const auto& r : rows) keys.push_back(r.first);
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max, desc);
  if (!page) BadToken();
  Json arns = Json::array();
  for (size_t i = page->begin; i < page->end; ++i) arns.push_back(rows[i].second);
  Json out = {{"taskDefinitionArns", arns}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

Json EcsApi::ListTaskDefinitionFamilies(RequestContext& ctx, const Json& in) {
  size_t max = MaxResults(in, 100, 100);
  std::string status = JStr(in, "status", "ALL");
  std::string prefix = JStr(in, "familyPrefix");
  std::map<std::string, bool> families;  // family -> has an ACTIVE revision
  Check(store_.Read([&](state::Tx& tx) {
    state::Query q{kTaskDef, ctx.region};
    if (!prefix.empty()) q.name_prefix = prefix;
    for (const auto& o : Check(tx.List(q))) {
      if (o.status == "DELETE_IN_PROGRESS") continue;
      families[o.parent] = families[o.parent] || o.status == "ACTIVE";
    }
    return Status::Ok();
  }));
  std::vector<std::string> keys;
  for (const auto& [f, active] : families) {
    if (status == "ALL" || (status == "ACTIVE" && active) || (status == "INACTIVE" && !active)) {
      keys.push_back(f);
    }
  }
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max);
  if (!page) BadToken();
  Json out = {{"families", std::vector<std::string>(keys.begin() + page->begin,
                                                    keys.begin() + page->end)}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

Json EcsApi::DeregisterTaskDefinition(RequestContext& ctx, const Json& in) {
  std::string ref = JStr(in, "taskDefinition");
  std::string family;
  int64_t rev = 0;
  if (!SplitTaskDefinition(ref, &family, &rev)) {
    throw ClientException("Invalid revision number. Number: " + ref);
  }
  if (rev == 0) throw ClientException("Revision is missing.");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto o = Check(tx.Get(kTaskDef, ctx.region, TdKey(family, rev)));
    if (!o || o->status == "DELETE_IN_PROGRESS") {
      throw ClientException("The specified task definition does not exist.");
    }
    if (o->status == "ACTIVE") {
      o->status = "INACTIVE";
      o->doc["status"] = "INACTIVE";
      o->doc["deregisteredAt"] = Ts(ctx);
      Check(tx.Put(*o));
    }
    out = {{"taskDefinition", Public(o->doc)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteTaskDefinitions(RequestContext& ctx, const Json& in) {
  const Json& refs = in.at("taskDefinitions");
  if (refs.empty()) throw InvalidParameter("taskDefinitions cannot be empty.");
  if (refs.size() > 10) throw InvalidParameter("taskDefinitions can have at most 10 items.");
  Json tds = Json::array(), failures = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    for (const auto& r : refs) {
      std::string ref = r.get<std::string>(), family;
      int64_t rev = 0;
      if (!SplitTaskDefinition(ref, &family, &rev) || rev == 0) {
        failures.push_back({{"arn", ref}, {"reason", "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."}});
        continue;
      }
      auto o = Check(tx.Get(kTaskDef, ctx.region, TdKey(family, rev)));
      if (!o) {
        failures.push_back({{"arn", TdArn(ctx, family, rev)}, {"reason", "The specified task definition does not exist. Specify a valid account, family, revision and try again."}});
        continue;
      }
      if (o->status == "ACTIVE") {
        failures.push_back({{"arn", JStr(o->doc, "taskDefinitionArn")},
                            {"reason", "The specified task definition is still in ACTIVE status. Please deregister the target and try again."}});
        continue;
      }
      o->status = "DELETE_IN_PROGRESS";
      o->doc["status"] = "DELETE_IN_PROGRESS";
      Check(tx.Put(*o));
      tds.push_back(Public(o->doc));
    }
    return Status::Ok();
  }));
  return {{"taskDefinitions", tds}, {"failures", failures}};
}

}  // namespace kecs::api::ecs
