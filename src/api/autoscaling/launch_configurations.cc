// Launch configurations: CreateLaunchConfiguration, DescribeLaunchConfigurations,
// DeleteLaunchConfiguration, and DescribeTerminationPolicyTypes.
//
// A launch configuration is stored as given: its image, type and key are checked by EC2
// when a group launches from it (a failed launch is a Failed scaling activity with EC2's
// message, as on AWS).
#include <fmt/format.h>

#include "api/autoscaling/autoscaling_api.h"
#include "base/clock.h"
#include "base/ids.h"
#include "net/domain/vpc.h"

namespace kecs::api::autoscaling {
namespace {

Json CreateLaunchConfiguration(state::Store& store, RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "LaunchConfigurationName");
  Json doc = {{"LaunchConfigurationName", name},
              {"LaunchConfigurationARN",
               fmt::format("arn:aws:autoscaling:{}:{}:launchConfiguration:{}:launchConfigurationName/{}", ctx.region,
                           ctx.account_id, Uuid4(), name)},
              {"ImageId", JStr(in, "ImageId")},
              {"KeyName", JStr(in, "KeyName")},
              {"SecurityGroups", in.value("SecurityGroups", Json::array())},
              {"ClassicLinkVPCSecurityGroups", Json::array()},
              {"UserData", JStr(in, "UserData")},
              {"InstanceType", JStr(in, "InstanceType")},
              {"KernelId", JStr(in, "KernelId")},
              {"RamdiskId", JStr(in, "RamdiskId")},
              {"BlockDeviceMappings", in.value("BlockDeviceMappings", Json::array())},
              {"InstanceMonitoring", in.value("InstanceMonitoring", Json{{"Enabled", true}})},
              {"CreatedTime", EpochMillis(ctx.now)},
              {"EbsOptimized", JBool(in, "EbsOptimized")}};
  for (const char* k : {"IamInstanceProfile", "AssociatePublicIpAddress", "PlacementTenancy", "MetadataOptions",
                        "SpotPrice"}) {
    if (in.contains(k)) doc[k] = in[k];
  }
  ThrowIfError(store.Write([&](state::Tx& tx) {
    auto existing = tx.Get(kLaunchConfiguration, ctx.region, name);
    ThrowIfError(existing.status());
    if (*existing) {
      // AWS's words (e.g. moto and terraform-provider-aws issues quote them).
      throw AwsError("AlreadyExists", fmt::format("Launch Configuration by this name already exists - A launch "
                                                  "configuration already exists with the name {}", name));
    }
    if (auto iid = JOptStr(in, "InstanceId")) {
      // The instance's image, type, key, groups and user data, unless the request gives them.
      auto inst = tx.Get(net::kEc2Instance, ctx.region, *iid);
      ThrowIfError(inst.status());
      if (!*inst || (*inst)->status == "terminated") {
        throw ValidationError(fmt::format("Invalid instance id: {}", *iid));  // kecs's wording
      }
      const Json& d = (*inst)->doc;
      if (doc["ImageId"] == "") doc["ImageId"] = JStr(d, "ImageId");
      if (doc["InstanceType"] == "") doc["InstanceType"] = JStr(d, "InstanceType");
      if (doc["KeyName"] == "") doc["KeyName"] = JStr(d, "KeyName");
      if (doc["UserData"] == "") doc["UserData"] = JStr(d, "kecs:userData");
      if (doc["SecurityGroups"].empty()) {
        for (const auto& g : d.value("SecurityGroups", Json::array())) doc["SecurityGroups"].push_back(JStr(g, "GroupId"));
      }
    } else if (JStr(in, "ImageId").empty() || JStr(in, "InstanceType").empty()) {
      // AWS's words (as moto reproduces them).
      throw ValidationError("Valid requests must contain either the InstanceID parameter or both the ImageId and "
                            "InstanceType parameters.");
    }
    ThrowIfError(tx.Insert({kLaunchConfiguration, ctx.region, name, "", name, "", 0, doc}));
    return Status::Ok();
  }));
  return Json::object();
}

Json DescribeLaunchConfigurations(state::Store& store, RequestContext& ctx, const Json& in) {
  std::set<std::string> names;
  for (const auto& n : in.value("LaunchConfigurationNames", Json::array())) names.insert(n.get<std::string>());
  std::vector<std::pair<int64_t, Json>> items;
  ThrowIfError(store.Read([&](state::Tx& tx) {
    auto all = tx.List({kLaunchConfiguration, ctx.region});
    ThrowIfError(all.status());
    for (auto& o : *all) {
      if (names.empty() || names.count(o.id)) items.emplace_back(o.seq, std::move(o.doc));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(std::move(items), in, out, "LaunchConfigurations");
  return out;
}

Json DeleteLaunchConfiguration(state::Store& store, RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "LaunchConfigurationName");
  ThrowIfError(store.Write([&](state::Tx& tx) {
    auto lc = tx.Get(kLaunchConfiguration, ctx.region, name);
    ThrowIfError(lc.status());
    if (!*lc) {
      // AWS's words (as scripts that match them quote them).
      throw ValidationError(fmt::format("Launch configuration name not found - Launch configuration {} not found", name));
    }
    auto groups = tx.List({kGroup, ctx.region});
    ThrowIfError(groups.status());
    for (const auto& g : *groups) {
      bool uses = JStr(g.doc, "LaunchConfigurationName") == name;
      for (const auto& m : g.internal.value("instances", Json::array())) uses |= JStr(m, "LaunchConfigurationName") == name;
      if (uses) {
        // AWS's words (goamz's autoscaling test fixture and many terraform issues quote them).
        throw AwsError("ResourceInUse", fmt::format("Cannot delete launch configuration {} because it is attached to "
                                                    "AutoScalingGroup {}", name, g.id));
      }
    }
    ThrowIfError(tx.Delete(kLaunchConfiguration, ctx.region, name).status());
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace

void RegisterLaunchConfigurationOps(Service& s, state::Store& store) {
  s.Register("CreateLaunchConfiguration",
             [&store](RequestContext& ctx, const Json& in) { return CreateLaunchConfiguration(store, ctx, in); });
  s.Register("DescribeLaunchConfigurations",
             [&store](RequestContext& ctx, const Json& in) { return DescribeLaunchConfigurations(store, ctx, in); });
  s.Register("DeleteLaunchConfiguration",
             [&store](RequestContext& ctx, const Json& in) { return DeleteLaunchConfiguration(store, ctx, in); });
  s.Register("DescribeTerminationPolicyTypes", [](RequestContext&, const Json&) {
    return Json{{"TerminationPolicyTypes",
                 {"AllocationStrategy", "ClosestToNextInstanceHour", "Default", "NewestInstance", "OldestInstance",
                  "OldestLaunchConfiguration", "OldestLaunchTemplate"}}};
  });
}

}  // namespace kecs::api::autoscaling
