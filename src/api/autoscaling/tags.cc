// Group tags: CreateOrUpdateTags, DeleteTags, DescribeTags. A group's tags live in its
// document's Tags (the TagDescription shape); PropagateAtLaunch ones go on the instances the
// group launches from then on (the controller's RunInstances call).
#include <set>

#include <fmt/format.h>

#include "api/autoscaling/autoscaling_api.h"

namespace kecs::api::autoscaling {
namespace {

constexpr size_t kMaxTags = 50;  // AWS's quota of tags per group

state::Object TaggedGroup(state::Tx& tx, const std::string& region, const Json& tag) {
  std::string type = JStr(tag, "ResourceType", "auto-scaling-group");
  if (type != "auto-scaling-group") {
    throw ValidationError(fmt::format("Invalid resource type: {}", type));  // kecs's wording
  }
  std::string name = JStr(tag, "ResourceId");
  auto g = tx.Get(kGroup, region, name);
  ThrowIfError(g.status());
  if (!*g || (*g)->status == kDeleting) {
    // AWS's words as cloud-custodian#380 quotes them.
    throw ValidationError(fmt::format("AutoScalingGroup not found - AutoScaling Group {} not found", name));
  }
  return std::move(**g);
}

Json CreateOrUpdateTags(state::Store& store, RequestContext& ctx, const Json& in) {
  ThrowIfError(store.Write([&](state::Tx& tx) {
    std::map<std::string, state::Object> changed;
    for (const auto& t : in.value("Tags", Json::array())) {
      std::string name = JStr(t, "ResourceId");
      CheckTagKey(JStr(t, "Key"));  // else every later launch fails: EC2 refuses aws: keys too
      if (!changed.count(name)) changed.emplace(name, TaggedGroup(tx, ctx.region, t));
      state::Object& g = changed.at(name);
      Json tag = {{"ResourceId", name}, {"ResourceType", "auto-scaling-group"}, {"Key", JStr(t, "Key")},
                  {"Value", JStr(t, "Value")}, {"PropagateAtLaunch", JBool(t, "PropagateAtLaunch")}};
      Json& tags = g.doc["Tags"];
      if (!tags.is_array()) tags = Json::array();
      auto it = std::find_if(tags.begin(), tags.end(), [&](const Json& x) { return JStr(x, "Key") == JStr(t, "Key"); });
      if (it != tags.end()) *it = tag;
      else tags.push_back(tag);
      if (tags.size() > kMaxTags) {
        // kecs's wording for AWS's LimitExceeded (50 tags per group).
        throw AwsError("LimitExceeded", fmt::format("The quota of {} tags per Auto Scaling group has been reached.", kMaxTags));
      }
    }
    for (auto& [name, g] : changed) ThrowIfError(tx.Put(g));
    return Status::Ok();
  }));
  return Json::object();
}

Json DeleteTags(state::Store& store, RequestContext& ctx, const Json& in) {
  ThrowIfError(store.Write([&](state::Tx& tx) {
    std::map<std::string, state::Object> changed;
    for (const auto& t : in.value("Tags", Json::array())) {
      std::string name = JStr(t, "ResourceId");
      CheckTagKey(JStr(t, "Key"));
      if (!changed.count(name)) changed.emplace(name, TaggedGroup(tx, ctx.region, t));
      Json& tags = changed.at(name).doc["Tags"];
      // A value given must match too (AWS deletes the tag only when it does).
      std::erase_if(tags.get_ref<Json::array_t&>(), [&](const Json& x) {
        return JStr(x, "Key") == JStr(t, "Key") && (!t.contains("Value") || JStr(x, "Value") == JStr(t, "Value"));
      });
    }
    for (auto& [name, g] : changed) ThrowIfError(tx.Put(g));
    return Status::Ok();
  }));
  return Json::object();
}

// DescribeTags filters: auto-scaling-group, key, value, propagate-at-launch (values ORed,
// filters ANDed).
bool Matches(const Json& filters, const Json& tag) {
  for (const auto& f : filters) {
    std::string name = JStr(f, "Name");
    std::string have;
    if (name == "auto-scaling-group") have = JStr(tag, "ResourceId");
    else if (name == "key") have = JStr(tag, "Key");
    else if (name == "value") have = JStr(tag, "Value");
    else if (name == "propagate-at-launch") have = JBool(tag, "PropagateAtLaunch") ? "true" : "false";
    else throw ValidationError(fmt::format("Filter type {} is not correct. Allowed Filter types are: auto-scaling-group "
                                           "key value propagate-at-launch", name));  // kecs's wording
    bool any = false;
    for (const auto& v : f.value("Values", Json::array())) any |= v.get<std::string>() == have;
    if (!any) return false;
  }
  return true;
}

Json DescribeTags(state::Store& store, RequestContext& ctx, const Json& in) {
  const Json filters = in.value("Filters", Json::array());
  std::vector<std::pair<int64_t, Json>> items;
  ThrowIfError(store.Read([&](state::Tx& tx) {
    auto groups = tx.List({kGroup, ctx.region});
    ThrowIfError(groups.status());
    int64_t n = 0;
    for (const auto& g : *groups) {
      for (const auto& t : g.doc.value("Tags", Json::array())) {
        if (Matches(filters, t)) items.emplace_back(n, t);
        ++n;
      }
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(std::move(items), in, out, "Tags");
  return out;
}

}  // namespace

void RegisterTagOps(Service& s, state::Store& store) {
  s.Register("CreateOrUpdateTags", [&store](RequestContext& ctx, const Json& in) { return CreateOrUpdateTags(store, ctx, in); });
  s.Register("DeleteTags", [&store](RequestContext& ctx, const Json& in) { return DeleteTags(store, ctx, in); });
  s.Register("DescribeTags", [&store](RequestContext& ctx, const Json& in) { return DescribeTags(store, ctx, in); });
}

}  // namespace kecs::api::autoscaling
