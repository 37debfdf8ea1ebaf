// ECS capacity providers: FARGATE and FARGATE_SPOT are built in; CreateCapacityProvider,
// DescribeCapacityProviders, UpdateCapacityProvider and DeleteCapacityProvider manage the
// others (Auto Scaling group providers, stored).
#include <regex>

#include <fmt/format.h>

#include "api/ecs/capacity_scaling.h"
#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/pagination.h"
#include "model/arn.h"

namespace kecs::api::ecs {
namespace {

Json BuiltIn(const RequestContext& ctx, const std::string& name) {
  return {{"capacityProviderArn", model::EcsArn(ctx.region, ctx.account_id, "capacity-provider/" + name)},
          {"name", name},
          {"status", "ACTIVE"},
          {"tags", Json::array()}};
}

const std::regex kCpName("^[a-zA-Z0-9_-]{1,255}$");

// UpdateInProgressException while a deletion runs; no source found for ECS's wording.
void RefuseWhileDeleting(const state::Object& o) {
  if (JStr(o.doc, "updateStatus") == "DELETE_IN_PROGRESS") {
    throw AwsError("UpdateInProgressException",
                   "The specified capacity provider is being deleted. Wait for the deletion to complete.");
  }
}

// The rules of an Auto Scaling group provider's settings; `group` is the group as Auto
// Scaling describes it, when known.
void CheckAsgProvider(const Json& asg, const Json* group) {
  ManagedScalingConfig ms = ManagedScalingOf(Json{{"autoScalingGroupProvider", asg}});
  if (ms.minimum_step > ms.maximum_step) {
    // No source found; kecs's wording, in the form of ECS's termination protection message.
    throw InvalidParameter(
        "The managed scaling setting for the capacity provider is invalid. The minimum scaling step size "
        "must be less than or equal to the maximum scaling step size.");
  }
  if (JStr(asg, "managedTerminationProtection") != "ENABLED") return;
  if (!ms.enabled) {
    // No source found for this case's wording; kecs's, after the sourced message below.
    throw ClientException(
        "The managed termination protection setting for the capacity provider is invalid. To enable managed "
        "termination protection for a capacity provider, managed scaling must be enabled.");
  }
  if (group && !JBool(*group, "NewInstancesProtectedFromScaleIn")) {
    // ECS's words, as the console and ansible/ansible#68625 quote them ("Important: You must
    // turn on Auto Scaling instance scale-in protection on the Auto Scaling group to use the
    // managed termination protection feature", ECS developer guide).
    throw ClientException(
        "The managed termination protection setting for the capacity provider is invalid. To enable managed "
        "termination protection for a capacity provider, the Auto Scaling group must have instance protection "
        "from scale in enabled.");
  }
}

}  // namespace

Json EcsApi::CreateCapacityProvider(RequestContext& ctx, const Json& in) {
  std::string name = JStr(in, "name");
  if (!std::regex_match(name, kCpName)) {
    throw InvalidParameter("The capacity provider name is invalid. Up to 255 letters, numbers, underscores and hyphens are allowed.");
  }
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.starts_with("aws") || lower.starts_with("ecs") || lower.starts_with("fargate")) {
    throw InvalidParameter("The capacity provider name cannot begin with \"aws\", \"ecs\" or \"fargate\".");
  }
  if (!JGet(in, "autoScalingGroupProvider") && !JGet(in, "managedInstancesProvider")) {
    throw InvalidParameter("An Auto Scaling group provider must be specified.");
  }
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  Json doc = {{"capacityProviderArn", model::EcsArn(ctx.region, ctx.account_id, "capacity-provider/" + name)},
              {"name", name},
              {"status", "ACTIVE"}};
  Json internal = Json::object();
  if (const Json* a = JGet(in, "autoScalingGroupProvider")) {
    Json asg = *a;
    if (!asg.contains("managedTerminationProtection")) asg["managedTerminationProtection"] = "DISABLED";
    if (!asg.contains("managedDraining")) asg["managedDraining"] = "ENABLED";
    asg["managedScaling"] = ManagedScalingWithDefaults(asg.value("managedScaling", Json()));
    // The group, through the Auto Scaling API (outside the write transaction: its
    // handler opens its own).
    std::string given = JStr(asg, "autoScalingGroupArn");
    internal["asgName"] = AsgNameOf(given);
    GroupLookup g = DescribeGroup(ctx, given);
    if (g.group) {
      asg["autoScalingGroupArn"] = JStr(*g.group, "AutoScalingGroupARN", given);
      internal["asgKnown"] = true;
    } else if (g.answered && ctx.strict) {
      // No source found for ECS's wording of a group that does not exist; kecs's, after
      // the sourced "already being used" message below.
      throw ClientException(
          "The specified Auto Scaling group ARN does not exist. Specify a valid Auto Scaling group ARN and try again.");
    }
    // Lenient (or without the Auto Scaling service): a group Auto Scaling does not know is
    // kept as given, and the provider scales nothing (README Limits).
    CheckAsgProvider(asg, g.group ? &*g.group : nullptr);
    doc["autoScalingGroupProvider"] = asg;
  }
  if (const Json* m = JGet(in, "managedInstancesProvider")) doc["managedInstancesProvider"] = *m;
  doc["tags"] = tags;
  Check(store_.Write([&](state::Tx& tx) {
    auto existing = Check(tx.Get(kCapacityProvider, ctx.region, name));
    if (existing && existing->status == "ACTIVE") {
      throw ClientException(fmt::format("The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider."));
    }
    if (internal.contains("asgName")) {
      for (const auto& o : Check(tx.List({kCapacityProvider, ctx.region}))) {
        if (o.status == "ACTIVE" && JStr(o.internal, "asgName") == JStr(internal, "asgName")) {
          // ECS's words, as a boto3 ClientException quotes them (aws/containers-roadmap#632).
          throw ClientException(
              "The specified Auto Scaling group ARN is already being used by another capacity provider. "
              "Specify a unique Auto Scaling group ARN and try again.");
        }
      }
    }
    Check(tx.Put({kCapacityProvider, ctx.region, name, "", name, "ACTIVE", 0, doc, internal}));
    return Status::Ok();
  }));
  return {{"capacityProvider", doc}};
}

Json EcsApi::DescribeCapacityProviders(RequestContext& ctx, const Json& in) {
  bool tags = false;
  if (const Json* inc = JGet(in, "include")) {
    for (const auto& i : *inc) tags = tags || i == "TAGS";
  }
  size_t max = static_cast<size_t>(JInt(in, "maxResults", 10));
  if (max < 1 || max > 10) throw InvalidParameter("maxResults must be between 1 and 10.");
  std::vector<Json> all;
  std::vector<std::string> keys;
  Json failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    if (const Json* names = JGet(in, "capacityProviders")) {
      for (const auto& n : *names) {
        std::string name = model::NameFromArnOrName(n.get<std::string>());
        if (name == "FARGATE" || name == "FARGATE_SPOT") {
          all.push_back(BuiltIn(ctx, name));
        } else if (auto o = Check(tx.Get(kCapacityProvider, ctx.region, name))) {
          all.push_back(o->doc);
        } else {
          failures.push_back({{"arn", model::EcsArn(ctx.region, ctx.account_id, "capacity-provider/" + name)},
                              {"reason", "MISSING"}});
          continue;  // a failure is not a page item
        }
        keys.push_back(fmt::format("{:08}", keys.size()));
      }
    } else {
      all.push_back(BuiltIn(ctx, "FARGATE"));
      all.push_back(BuiltIn(ctx, "FARGATE_SPOT"));
      for (const auto& o : Check(tx.List({kCapacityProvider, ctx.region}))) {
        if (o.status == "ACTIVE" || o.status == "DELETE_IN_PROGRESS") all.push_back(o.doc);
      }
      for (size_t i = 0; i < all.size(); ++i) keys.push_back(fmt::format("{:08}", i));
    }
    return Status::Ok();
  }));
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max);
  if (!page) BadToken();
  Json list = Json::array();
  for (size_t i = page->begin; i < page->end; ++i) {
    Json c = all[i];
    if (!tags) c.erase("tags");
    list.push_back(c);
  }
  Json out = {{"capacityProviders", list}, {"failures", failures}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

Json EcsApi::UpdateCapacityProvider(RequestContext& ctx, const Json& in) {
  std::string name = model::NameFromArnOrName(JStr(in, "name"));
  std::optional<state::Object> seen;
  Check(store_.Read([&](state::Tx& tx) {
    seen = Check(tx.Get(kCapacityProvider, ctx.region, name));
    return Status::Ok();
  }));
  // The group as Auto Scaling has it now, for the termination protection rule.
  GroupLookup g;
  if (seen && seen->doc.contains("autoScalingGroupProvider") && JBool(seen->internal, "asgKnown")) {
    g = DescribeGroup(ctx, JStr(seen->doc["autoScalingGroupProvider"], "autoScalingGroupArn"));
  }
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto o = Check(tx.Get(kCapacityProvider, ctx.region, name));
    if (!o || o->status != "ACTIVE") {
      throw InvalidParameter("The specified capacity provider does not exist. Specify a valid name or ARN and try again.");
    }
    RefuseWhileDeleting(*o);
    if (const Json* a = JGet(in, "autoScalingGroupProvider")) {
      Json asg = o->doc.value("autoScalingGroupProvider", Json::object());
      for (auto it = a->begin(); it != a->end(); ++it) {
        if (it.key() != "managedScaling") asg[it.key()] = it.value();
      }
      // A managedScaling given replaces the old one; what it leaves out takes AWS's
      // defaults, as at creation.
      if (const Json* ms = JGet(*a, "managedScaling")) asg["managedScaling"] = ManagedScalingWithDefaults(*ms);
      CheckAsgProvider(asg, g.group ? &*g.group : nullptr);
      o->doc["autoScalingGroupProvider"] = asg;
    }
    o->doc["updateStatus"] = "UPDATE_COMPLETE";
    Check(tx.Put(*o));
    out = {{"capacityProvider", o->doc}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteCapacityProvider(RequestContext& ctx, const Json& in) {
  std::string name = model::NameFromArnOrName(JStr(in, "capacityProvider"));
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto o = Check(tx.Get(kCapacityProvider, ctx.region, name));
    if (!o || o->status != "ACTIVE") {
      throw InvalidParameter("The specified capacity provider does not exist. Specify a valid name or ARN and try again.");
    }
    RefuseWhileDeleting(*o);
    // "Only capacity providers that aren't associated with a cluster can be deleted"
    // (DeleteCapacityProvider, ECS API reference); a service's strategy can only name a
    // provider of its cluster, so this covers "removed from the capacity provider strategy
    // from all services" too.
    for (const auto& c : Check(tx.List({kCluster, ctx.region}))) {
      if (c.status != "ACTIVE") continue;
      for (const auto& n : c.doc.value("capacityProviders", Json::array())) {
        if (n == name) {
          throw AwsError("ResourceInUseException",
                         "The specified capacity provider is in use and cannot be removed.");
        }
      }
    }
    // As the CLI reference's delete-capacity-provider example answers: still ACTIVE, with
    // updateStatus DELETE_IN_PROGRESS; the capacity controller's next pass makes it
    // INACTIVE (DELETE_COMPLETE), and it stays describable by name.
    o->doc["updateStatus"] = "DELETE_IN_PROGRESS";
    Check(tx.Put(*o));
    out = {{"capacityProvider", o->doc}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace kecs::api::ecs
