// Cloud Map operations and tags: GetOperation, ListOperations, TagResource, UntagResource,
// ListTagsForResource.
#include <cstdlib>

#include <fmt/format.h>

#include "api/pagination.h"
#include "api/servicediscovery/common.h"
#include "api/servicediscovery/servicediscovery_api.h"
#include "model/arn.h"

namespace kecs::api::servicediscovery {
namespace {

double ParseDate(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    throw InvalidInput(fmt::format(
        "UPDATE_DATE values must be dates in Unix time (seconds since the epoch); '{}' is not.", text));
  }
  return v;
}

// The namespace or service a tagging ARN names (in the request's region).
state::Object TagTarget(state::Tx& tx, const RequestContext& ctx, const std::string& arn_text) {
  auto arn = model::Arn::Parse(arn_text);
  std::string kind, id;
  if (arn && arn->service == "servicediscovery") {
    if (arn->resource.starts_with("namespace/")) {
      kind = sd::kNamespace;
      id = arn->resource.substr(10);
    } else if (arn->resource.starts_with("service/")) {
      kind = sd::kService;
      id = arn->resource.substr(8);
    }
  }
  if (kind.empty()) throw InvalidInput(fmt::format("{} is not a valid Cloud Map resource ARN.", arn_text));
  auto o = Check(tx.Get(kind, ctx.region, id));
  if (!o || arn->region != ctx.region || arn->account != ctx.account_id) {
    throw AwsError("ResourceNotFoundException",
                   "The operation can't be completed because the resource was not found.");
  }
  return *o;
}

}  // namespace

Json ServiceDiscoveryApi::GetOperation(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    auto o = Check(tx.Get(sd::kOperation, ctx.region, JStr(in, "OperationId")));
    if (!o) throw OperationNotFound();
    out = {{"Operation", Public(o->doc)}};
    return Status::Ok();
  }));
  return out;
}

Json ServiceDiscoveryApi::ListOperations(RequestContext& ctx, const Json& in) {
  auto filters = ParseFilters(in, {"NAMESPACE_ID:EQ", "SERVICE_ID:EQ", "STATUS:EQ,IN", "TYPE:EQ,IN",
                                   "UPDATE_DATE:BETWEEN"});
  double from = 0, to = 0;
  for (auto& f : filters) {
    if (f.name == "NAMESPACE_ID" || f.name == "SERVICE_ID") {
      for (auto& v : f.values) v = sd::IdFromArnOrId(v);
    }
    if (f.name == "UPDATE_DATE") {
      from = ParseDate(f.values[0]);
      to = ParseDate(f.values[1]);
    }
  }
  std::vector<std::string> keys;
  std::vector<Json> items;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& o : Check(tx.List({sd::kOperation, ctx.region}))) {
      const Json targets = o.doc.value("Targets", Json::object());
      bool keep = true;
      for (const auto& f : filters) {
        if (f.name == "NAMESPACE_ID") keep = keep && Matches(f, JStr(targets, "NAMESPACE"));
        if (f.name == "SERVICE_ID") keep = keep && Matches(f, JStr(targets, "SERVICE"));
        if (f.name == "STATUS") keep = keep && Matches(f, o.status);
        if (f.name == "TYPE") keep = keep && Matches(f, o.name);
        if (f.name == "UPDATE_DATE") {
          double d = o.doc.value("UpdateDate", 0.0);
          keep = keep && d >= from && d <= to;
        }
      }
      if (!keep) continue;
      keys.push_back(SeqKey(o.seq));
      items.push_back({{"Id", o.id}, {"Status", o.status}});
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "Operations", keys, std::move(items), in);
  return out;
}

Json ServiceDiscoveryApi::TagResource(RequestContext& ctx, const Json& in) {
  const Json& tags = in.at("Tags");
  ValidateTags(tags);
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = TagTarget(tx, ctx, JStr(in, "ResourceARN"));
    Json merged = MergeTags(o.doc.value("kecs:tags", Json::array()), tags);
    ValidateTags(merged);
    o.doc["kecs:tags"] = merged;
    Check(tx.Put(o));
    return Status::Ok();
  }));
  return Json::object();
}

Json ServiceDiscoveryApi::UntagResource(RequestContext& ctx, const Json& in) {
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = TagTarget(tx, ctx, JStr(in, "ResourceARN"));
    o.doc["kecs:tags"] = RemoveTags(o.doc.value("kecs:tags", Json::array()), in.at("TagKeys"));
    Check(tx.Put(o));
    return Status::Ok();
  }));
  return Json::object();
}

Json ServiceDiscoveryApi::ListTagsForResource(RequestContext& ctx, const Json& in) {
  Json tags;
  Check(store_.Read([&](state::Tx& tx) {
    tags = TagTarget(tx, ctx, JStr(in, "ResourceARN")).doc.value("kecs:tags", Json::array());
    return Status::Ok();
  }));
  return {{"Tags", tags}};
}

}  // namespace kecs::api::servicediscovery
