// ECS tagging: TagResource, UntagResource, ListTagsForResource on clusters, tasks,
// container instances, services, task definitions and capacity providers.
#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "base/strings.h"
#include "model/arn.h"

namespace kecs::api::ecs {
namespace {

struct Target {
  std::string kind;
  std::string id;
  std::string cluster;       // for cluster-scoped resources
  const char* tags_member;   // where the document keeps its tags
};

Target Resolve(const RequestContext& ctx, const std::string& arn_text) {
  auto arn = model::Arn::Parse(arn_text);
  if (!arn || arn->service != "ecs") throw InvalidParameter("The ARN provided is invalid.");
  (void)ctx;
  std::vector<std::string> parts = Split(arn->resource, '/');
  const std::string& type = parts[0];
  auto need = [&](size_t n) {
    if (parts.size() == n - 1 && (type == "task" || type == "container-instance" || type == "service")) {
      throw InvalidParameter("Long arn format must be used for tagging operations");
    }
    if (parts.size() != n || parts.back().empty()) throw InvalidParameter("The ARN provided is invalid.");
  };
  if (type == "cluster") {
    need(2);
    return {kCluster, parts[1], parts[1], "tags"};
  }
  if (type == "task") {
    need(3);
    return {kTask, parts[2], parts[1], "tags"};
  }
  if (type == "container-instance") {
    need(3);
    return {kInstance, parts[2], parts[1], "tags"};
  }
  if (type == "service") {
    need(3);
    return {kService, parts[1] + "/" + parts[2], parts[1], "tags"};
  }
  if (type == "task-definition") {
    need(2);
    return {kTaskDef, parts[1], "", "kecs:tags"};
  }
  if (type == "capacity-provider") {
    need(2);
    return {kCapacityProvider, parts[1], "", "tags"};
  }
  throw InvalidParameter("The ARN provided is invalid.");
}

state::Object Load(state::Tx& tx, const RequestContext& ctx, const Target& t) {
  auto o = Check(tx.Get(t.kind, ctx.region, t.id));
  bool gone = !o || o->status == "INACTIVE" || o->status == "DELETE_IN_PROGRESS";
  if (t.kind == kTaskDef) gone = !o || o->status == "DELETE_IN_PROGRESS";
  if (gone) {
    if (t.kind == kCluster) throw ClusterNotFound();
    throw AwsError("ResourceNotFoundException", "The specified resource wasn't found.");
  }
  if (!t.cluster.empty() && t.kind != kCluster && o->parent != t.cluster) {
    throw AwsError("ResourceNotFoundException", "The specified resource wasn't found.");
  }
  return *o;
}

}  // namespace

Json EcsApi::TagResource(RequestContext& ctx, const Json& in) {
  Target t = Resolve(ctx, JStr(in, "resourceArn"));
  const Json& tags = in.at("tags");
  ValidateTags(tags);
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = Load(tx, ctx, t);
    Json merged = MergeTags(o.doc.value(t.tags_member, Json::array()), tags);
    if (merged.size() > 50) {
      throw InvalidParameter("The request exceeds the maximum of 50 tags per resource.");
    }
    o.doc[t.tags_member] = merged;
    Check(tx.Put(o));
    return Status::Ok();
  }));
  return Json::object();
}

Json EcsApi::UntagResource(RequestContext& ctx, const Json& in) {
  Target t = Resolve(ctx, JStr(in, "resourceArn"));
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = Load(tx, ctx, t);
    o.doc[t.tags_member] = RemoveTags(o.doc.value(t.tags_member, Json::array()), in.at("tagKeys"));
    Check(tx.Put(o));
    return Status::Ok();
  }));
  return Json::object();
}

Json EcsApi::ListTagsForResource(RequestContext& ctx, const Json& in) {
  Target t = Resolve(ctx, JStr(in, "resourceArn"));
  Json tags;
  Check(store_.Read([&](state::Tx& tx) {
    state::Object o = Load(tx, ctx, t);
    tags = o.doc.value(t.tags_member, Json::array());
    return Status::Ok();
  }));
  return {{"tags", tags}};
}

}  // namespace kecs::api::ecs
