// Auto Scaling groups: CreateAutoScalingGroup, UpdateAutoScalingGroup,
// DescribeAutoScalingGroups, DeleteAutoScalingGroup, SetDesiredCapacity,
// SetInstanceProtection, DescribeAutoScalingInstances, TerminateInstanceInAutoScalingGroup,
// DescribeScalingActivities and DescribeAccountLimits.
//
// These record what the user asked for (sizes, launch source, subnets, protection, a member
// to terminate); the group controller (group_controller.h) launches and terminates.
#include <set>

#include <fmt/format.h>

#include "api/autoscaling/autoscaling_api.h"
#include "api/ec2/ec2_api.h"
#include "api/ec2/launch_templates.h"
#include "base/clock.h"
#include "base/ids.h"

namespace kecs::api::autoscaling {
namespace {

// AWS's words for a request that names no launch source or several (floci#1439 matches
// AWS's wording for the missing one).
constexpr const char* kOneSource =
    "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy "
    "parameter.";

const std::set<std::string>& TerminationPolicyNames() {
  static const std::set<std::string> k = {"AllocationStrategy", "ClosestToNextInstanceHour", "Default",
                                          "NewestInstance", "OldestInstance", "OldestLaunchConfiguration",
                                          "OldestLaunchTemplate"};
  return k;
}

// Sets the group's launch source (LaunchConfigurationName or LaunchTemplate) from `in`.
// `required`: Create needs one; Update keeps the current one when none is given.
void ApplyLaunchSource(state::Tx& tx, const std::string& region, const Json& in, Json& doc, bool required) {
  const bool lc = in.contains("LaunchConfigurationName"), lt = in.contains("LaunchTemplate");
  if (in.contains("MixedInstancesPolicy") || in.contains("InstanceId")) {
    throw ValidationError("kecs launches groups from a LaunchTemplate or a LaunchConfigurationName only; "
                          "MixedInstancesPolicy and InstanceId are not supported.");
  }
  if (lc && lt) throw ValidationError(kOneSource);
  if (!lc && !lt) {
    if (required) throw ValidationError(kOneSource);
    return;
  }
  if (lc) {
    std::string name = JStr(in, "LaunchConfigurationName");
    auto o = tx.Get(kLaunchConfiguration, region, name);
    ThrowIfError(o.status());
    // AWS's form: "<what> not found - <details>".
    if (!*o) throw ValidationError(fmt::format("Launch configuration name not found - Launch configuration {} not found", name));
    doc.erase("LaunchTemplate");
    doc["LaunchConfigurationName"] = name;
    return;
  }
  const Json& spec = in["LaunchTemplate"];
  std::string id = JStr(spec, "LaunchTemplateId"), name = JStr(spec, "LaunchTemplateName");
  if (id.empty() == name.empty()) {
    // AWS's words (terraform-aws-autoscaling#227 quotes them).
    throw ValidationError("Valid requests must contain either launchTemplateId or LaunchTemplateName");
  }
  std::optional<state::Object> t;
  if (!id.empty()) {
    if (ec2::IsWellFormedId(id, "lt")) {
      auto o = tx.Get(ec2::kLaunchTemplate, region, id);
      ThrowIfError(o.status());
      t = std::move(*o);
    }
  } else {
    state::Query q{ec2::kLaunchTemplate, region};
    q.name = name;
    auto l = tx.List(q);
    ThrowIfError(l.status());
    if (!l->empty()) t = l->front();
  }
  if (!t) {
    // AWS's words start "You must use a valid fully-formed launch template." (ryanmurakami/
    // hbfl#58); the rest is kecs's.
    throw ValidationError(fmt::format("You must use a valid fully-formed launch template. The specified launch "
                                      "template, with template {} {}, does not exist.",
                                      id.empty() ? "name" : "ID", id.empty() ? name : id));
  }
  std::string version = JStr(spec, "Version", "$Default");
  auto n = ec2::lt::ResolveVersion(version, t->doc.value("DefaultVersionNumber", int64_t{1}),
                                   t->doc.value("LatestVersionNumber", int64_t{1}));
  if (n && !ec2::LaunchTemplateData(tx, region, t->id, std::to_string(*n)).ok()) n.reset();
  if (!n) {
    throw ValidationError(fmt::format("You must use a valid fully-formed launch template. The specified launch "
                                      "template version, {}, does not exist for template {}.", version, t->id));
  }
  doc.erase("LaunchConfigurationName");
  doc["LaunchTemplate"] = {{"LaunchTemplateId", t->id}, {"LaunchTemplateName", t->name}, {"Version", version}};
}

// Sets AvailabilityZones, VPCZoneIdentifier and internal.subnets from `in`.
void ApplyZones(state::Tx& tx, const RequestContext& ctx, const Json& in, state::Object& g, bool required) {
  const bool has_vpc = in.contains("VPCZoneIdentifier") && !JStr(in, "VPCZoneIdentifier").empty();
  const bool has_azs = in.contains("AvailabilityZones") && !in["AvailabilityZones"].empty();
  if (!has_vpc && !has_azs) {
    // AWS's words (as moto reproduces them).
    if (required) throw ValidationError("At least one Availability Zone or VPC Subnet is required.");
    return;
  }
  Json subnets = Json::array();
  std::vector<std::string> zones;
  std::string vpc_zone_identifier;
  if (has_vpc) {
    std::string list = JStr(in, "VPCZoneIdentifier");
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      std::string id = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      start = comma == std::string::npos ? list.size() + 1 : comma + 1;
      id.erase(0, id.find_first_not_of(" \t"));
      id.erase(id.find_last_not_of(" \t") + 1);
      if (id.empty()) continue;
      auto s = tx.Get(net::kSubnet, ctx.region, id);
      ThrowIfError(s.status());
      // EC2 Auto Scaling's words for a subnet that does not exist.
      if (!*s) throw ValidationError(fmt::format("The subnet ID '{}' does not exist", id));
      std::string az = JStr((*s)->doc, "AvailabilityZone");
      if (std::any_of(subnets.begin(), subnets.end(), [&](const Json& x) { return JStr(x, "SubnetId") == id; })) continue;
      subnets.push_back({{"SubnetId", id}, {"AvailabilityZone", az}});
      if (std::find(zones.begin(), zones.end(), az) == zones.end()) zones.push_back(az);
      vpc_zone_identifier += (vpc_zone_identifier.empty() ? "" : ",") + id;
    }
    if (subnets.empty()) throw ValidationError("At least one Availability Zone or VPC Subnet is required.");
    if (has_azs) {
      std::set<std::string> given;
      for (const auto& z : in["AvailabilityZones"]) given.insert(z.get<std::string>());
      if (given != std::set<std::string>(zones.begin(), zones.end())) {
        // AWS's words (as moto reproduces them).
        throw ValidationError("The availability zones of the specified subnets and the Auto Scaling group do not match");
      }
    }
  } else {
    // Zones only: the instances go to the default VPC's default subnet of each zone (the
    // caller made the region's defaults first).
    auto all = tx.List({net::kSubnet, ctx.region});
    ThrowIfError(all.status());
    for (const auto& z : in["AvailabilityZones"]) {
      std::string az = z.get<std::string>();
      if (!net::FindZone(ctx.region, az)) {
        throw ValidationError(fmt::format("The availability zone '{}' is not legal.", az));  // kecs's wording
      }
      if (std::find(zones.begin(), zones.end(), az) != zones.end()) continue;
      auto it = std::find_if(all->begin(), all->end(), [&](const state::Object& s) {
        return JStr(s.doc, "AvailabilityZone") == az && JBool(s.doc, "DefaultForAz");
      });
      if (it == all->end()) {
        throw ValidationError(fmt::format("No default subnet for availability zone: '{}'.", az));  // kecs's wording
      }
      subnets.push_back({{"SubnetId", it->id}, {"AvailabilityZone", az}});
      zones.push_back(az);
    }
  }
  g.doc["AvailabilityZones"] = zones;
  g.doc["VPCZoneIdentifier"] = vpc_zone_identifier;
  g.internal["subnets"] = subnets;
}


// kecs's cap on a group's size. AWS documents no MaxSize limit of its own: a group is
// bounded by the account's EC2 On-Demand instance quota, and a launch beyond it fails. kecs
// runs every instance as a host on this machine, so it refuses larger sizes up front.
constexpr int64_t kMaxGroupSize = 1000;

// kecs's wording: the size `what` is above kecs's cap.
void CheckCap(const char* what, int64_t value) {
  if (value > kMaxGroupSize) {
    throw ValidationError(fmt::format("{} {} is above kecs's limit of {} instances per Auto Scaling group.", what, value,
                                      kMaxGroupSize));
  }
}

// MinSize <= DesiredCapacity <= MaxSize <= kMaxGroupSize, in AWS's words (terraform and
// CloudFormation users quote both) and kecs's for the cap.
void CheckSizes(int64_t min, int64_t max, int64_t desired) {
  if (min < 0 || max < 0 || desired < 0) throw ValidationError("MinSize, MaxSize and DesiredCapacity must not be negative.");
  CheckCap("MaxSize", max);
  CheckCap("MinSize", min);
  CheckCap("DesiredCapacity", desired);
  if (max < min) throw ValidationError(fmt::format("Max bound, {}, must be greater than or equal to min bound, {}", max, min));
  if (desired < min || desired > max) {
    throw ValidationError(fmt::format("Desired capacity:{} must be between the specified min size:{} and max size:{}",
                                      desired, min, max));
  }
}

// The other settings Create and Update share.
void ApplySettings(const Json& in, Json& doc) {
  if (auto v = JOptInt(in, "DefaultCooldown")) doc["DefaultCooldown"] = *v;
  if (auto v = JOptStr(in, "HealthCheckType")) {
    static const std::set<std::string> kTypes = {"EC2", "ELB", "VPC_LATTICE", "EBS"};
    std::string types = *v;
    for (size_t i = 0; i <= types.size();) {
      size_t c = types.find(',', i);
      std::string t = types.substr(i, c == std::string::npos ? std::string::npos : c - i);
      if (!kTypes.count(t)) {
        throw ValidationError(fmt::format("Invalid health check type: {}. Valid types are EC2, ELB, VPC_LATTICE and EBS.", t));
      }
      i = c == std::string::npos ? types.size() + 1 : c + 1;
    }
    doc["HealthCheckType"] = *v;
  }
  if (auto v = JOptInt(in, "HealthCheckGracePeriod")) doc["HealthCheckGracePeriod"] = *v;
  if (const Json* p = JGet(in, "TerminationPolicies")) {
    for (const auto& x : *p) {
      if (!TerminationPolicyNames().count(x.get<std::string>())) {
        // kecs's wording (AWS also takes a Lambda ARN, which kecs does not).
        throw ValidationError(fmt::format("Unsupported termination policy: {}", x.get<std::string>()));
      }
    }
    doc["TerminationPolicies"] = p->empty() ? Json::array({"Default"}) : *p;
  }
  for (const char* k : {"NewInstancesProtectedFromScaleIn", "CapacityRebalance"}) {
    if (in.contains(k)) doc[k] = JBool(in, k);
  }
  for (const char* k : {"MaxInstanceLifetime", "DefaultInstanceWarmup", "PlacementGroup", "Context",
                        "DesiredCapacityType", "ServiceLinkedRoleARN"}) {
    if (in.contains(k)) doc[k] = in[k];
  }
}

Json GroupTags(const std::string& name, const Json& in) {
  Json tags = Json::array();
  std::set<std::string> keys;
  for (const auto& t : in.value("Tags", Json::array())) {
    std::string key = JStr(t, "Key");
    CheckTagKey(key);
    if (!keys.insert(key).second) continue;  // a key given twice: the first one counts
    tags.push_back({{"ResourceId", name}, {"ResourceType", "auto-scaling-group"}, {"Key", key},
                    {"Value", JStr(t, "Value")}, {"PropagateAtLaunch", JBool(t, "PropagateAtLaunch")}});
  }
  if (tags.size() > 50) throw AwsError("LimitExceeded", "The quota of 50 tags per Auto Scaling group has been reached.");
  return tags;
}

std::string DesiredChange(int64_t from, int64_t to) {
  return fmt::format("changing the desired capacity from {} to {}.", from, to);
}

Json CreateAutoScalingGroup(state::Store& store, net::RegionBootstrap& regions, RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "AutoScalingGroupName");
  ec2::RequestScope(store, regions, ctx);  // the default VPC, for a group given zones only
  const int64_t min = JInt(in, "MinSize"), max = JInt(in, "MaxSize");
  const int64_t desired = JInt(in, "DesiredCapacity", min);
  CheckSizes(min, max, desired);
  const std::string uuid = Uuid4();
  state::Object g{kGroup, ctx.region, name, "", name, "Active", 0, Json::object(), Json::object()};
  g.doc = {{"AutoScalingGroupName", name},
           {"AutoScalingGroupARN", fmt::format("arn:aws:autoscaling:{}:{}:autoScalingGroup:{}:autoScalingGroupName/{}",
                                               ctx.region, ctx.account_id, uuid, name)},
           {"MinSize", min},
           {"MaxSize", max},
           {"DesiredCapacity", desired},
           {"DefaultCooldown", 300},
           {"AvailabilityZones", Json::array()},
           {"LoadBalancerNames", in.value("LoadBalancerNames", Json::array())},
           {"TargetGroupARNs", in.value("TargetGroupARNs", Json::array())},
           {"HealthCheckType", "EC2"},
           {"HealthCheckGracePeriod", 0},
           {"CreatedTime", EpochMillis(ctx.now)},
           {"SuspendedProcesses", Json::array()},
           {"VPCZoneIdentifier", ""},
           {"EnabledMetrics", Json::array()},
           {"Tags", GroupTags(name, in)},
           {"TerminationPolicies", Json::array({"Default"})},
           {"NewInstancesProtectedFromScaleIn", false},
           {"ServiceLinkedRoleARN",
            fmt::format("arn:aws:iam::{}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
                        ctx.account_id)},
           {"CapacityRebalance", false},
           {"TrafficSources", Json::array()}};
  ApplySettings(in, g.doc);
  g.internal = {{"uuid", uuid},
                {"account", ctx.account_id},
                {"instances", Json::array()},
                {"launches", Json::array()},
                {"next", 0},
                {"cause", fmt::format("{} a user request created an AutoScalingGroup {}", At(ctx.now), DesiredChange(0, desired))}};
  ThrowIfError(store.Write([&](state::Tx& tx) {
    auto existing = tx.Get(kGroup, ctx.region, name);
    ThrowIfError(existing.status());
    if (*existing) {
      // AWS's words (hashicorp/terraform#17489 quotes them).
      throw AwsError("AlreadyExists",
                     fmt::format("AutoScalingGroup by this name already exists - A group with the name {} already exists", name));
    }
    ApplyLaunchSource(tx, ctx.region, in, g.doc, true);
    ApplyZones(tx, ctx, in, g, true);
    ThrowIfError(tx.Insert(g));
    return Status::Ok();
  }));
  return Json::object();
}

Json UpdateAutoScalingGroup(state::Store& store, net::RegionBootstrap& regions, RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "AutoScalingGroupName");
  ec2::RequestScope(store, regions, ctx);
  ThrowIfError(store.Write([&](state::Tx& tx) {
    state::Object g = RequireGroup(tx, ctx.region, name);
    const int64_t old_desired = JInt(g.doc, "DesiredCapacity");
    int64_t min = JInt(in, "MinSize", JInt(g.doc, "MinSize")), max = JInt(in, "MaxSize", JInt(g.doc, "MaxSize"));
    int64_t desired = old_desired;
    if (auto d = JOptInt(in, "DesiredCapacity")) {
      desired = *d;
    } else {
      // A new MinSize above the group's size raises it; a new MaxSize below lowers it (the
      // API reference of UpdateAutoScalingGroup).
      if (in.contains("MinSize") && min > desired) desired = min;
      if (in.contains("MaxSize") && max < desired) desired = max;
    }
    CheckSizes(min, max, desired);
    g.doc["MinSize"] = min;
    g.doc["MaxSize"] = max;
    g.doc["DesiredCapacity"] = desired;
    if (desired != old_desired) {
      g.internal["cause"] = fmt::format("{} a user request update of AutoScalingGroup constraints to min: {}, max: {}, "
                                        "desired: {} {}", At(ctx.now), min, max, desired, DesiredChange(old_desired, desired));
    }
    ApplyLaunchSource(tx, ctx.region, in, g.doc, false);
    ApplyZones(tx, ctx, in, g, false);
    ApplySettings(in, g.doc);
    ThrowIfError(tx.Put(g));
    return Status::Ok();
  }));
  return Json::object();
}

// DescribeAutoScalingGroups filters: tag:<key>, tag-key, tag-value (values ORed).
bool GroupMatches(const Json& filters, const Json& doc) {
  for (const auto& f : filters) {
    std::string name = JStr(f, "Name");
    std::set<std::string> values;
    for (const auto& v : f.value("Values", Json::array())) values.insert(v.get<std::string>());
    bool any = false;
    for (const auto& t : doc.value("Tags", Json::array())) {
      if (name.starts_with("tag:")) any |= JStr(t, "Key") == name.substr(4) && values.count(JStr(t, "Value"));
      else if (name == "tag-key") any |= values.count(JStr(t, "Key")) > 0;
      else if (name == "tag-value") any |= values.count(JStr(t, "Value")) > 0;
      else throw ValidationError(fmt::format("Filter type {} is not correct. Allowed Filter types are: tag-key tag-value "
                                             "tag:<key>", name));  // kecs's wording
    }
    if (!name.starts_with("tag:") && name != "tag-key" && name != "tag-value") {
      throw ValidationError(fmt::format("Filter type {} is not correct. Allowed Filter types are: tag-key tag-value tag:<key>", name));
    }
    if (!any) return false;
  }
  return true;
}

Json DescribeAutoScalingGroups(state::Store& store, RequestContext& ctx, const Json& in) {
  std::set<std::string> names;
  for (const auto& n : in.value("AutoScalingGroupNames", Json::array())) names.insert(n.get<std::string>());
  const Json filters = in.value("Filters", Json::array());
  const bool include_instances = JBool(in, "IncludeInstances", true);
  std::vector<std::pair<int64_t, Json>> items;
  ThrowIfError(store.Read([&](state::Tx& tx) {
    auto all = tx.List({kGroup, ctx.region});
    ThrowIfError(all.status());
    for (const auto& g : *all) {
      if (!names.empty() && !names.count(g.id)) continue;
      if (!GroupMatches(filters, g.doc)) continue;
      Json v = GroupView(g);
      if (!include_instances) v.erase("Instances");
      items.emplace_back(g.seq, std::move(v));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(std::move(items), in, out, "AutoScalingGroups");
  return out;
}

Json DeleteAutoScalingGroup(state::Store& store, RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "AutoScalingGroupName");
  const bool force = JBool(in, "ForceDelete");
  ThrowIfError(store.Write([&](state::Tx& tx) {
    state::Object g = RequireGroup(tx, ctx.region, name, true);
    if (g.status == kDeleting) return Status::Ok();
    const bool members = !g.internal.value("instances", Json::array()).empty();
    const bool launching = !g.internal.value("launches", Json::array()).empty();
    if (!force && members) {
      // AWS's words (ansible/ansible#8503 quotes the response).
      throw AwsError("ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot "
                                      "instance request(s) still in the group.");
    }
    if (!force && launching) {
      // AWS's words (cloud-custodian#1689).
      throw AwsError("ScalingActivityInProgress", "You cannot delete an AutoScalingGroup while there are scaling "
                                                  "activities in progress for that group.");
    }
    if (!members && !launching) {
      ThrowIfError(tx.Delete(kGroup, ctx.region, name).status());
      state::Query q{kActivity, ctx.region};
      q.parent = name;
      auto acts = tx.List(q);
      ThrowIfError(acts.status());
      for (const auto& a : *acts) ThrowIfError(tx.Delete(kActivity, ctx.region, a.id).status());
      return Status::Ok();
    }
    // ForceDelete: the controller terminates every member; the group goes with the last.
    g.status = kDeleting;
    g.internal["cause"] = fmt::format("{} a user request deleted the AutoScalingGroup {}", At(ctx.now),
                                      DesiredChange(JInt(g.doc, "DesiredCapacity"), 0));
    g.doc["MinSize"] = 0;
    g.doc["DesiredCapacity"] = 0;
    ThrowIfError(tx.Put(g));
    return Status::Ok();
  }));
  return Json::object();
}

std::optional<state::Object> InProgressActivity(state::Tx& tx, const state::Object& g) {
  state::Query q{kActivity, g.region};
  q.parent = g.id;
  q.status = "InProgress";
  auto acts = tx.List(q);
  ThrowIfError(acts.status());
  if (acts->empty()) return std::nullopt;
  return acts->front();
}

Json SetDesiredCapacity(state::Store& store, RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "AutoScalingGroupName");
  const int64_t desired = JInt(in, "DesiredCapacity");
  ThrowIfError(store.Write([&](state::Tx& tx) {
    state::Object g = RequireGroup(tx, ctx.region, name);
    const int64_t min = JInt(g.doc, "MinSize"), max = JInt(g.doc, "MaxSize"), old = JInt(g.doc, "DesiredCapacity");
    // AWS's words (quoted in many scripts that handle them, e.g. "New SetDesiredCapacity
    // value 2 is above max value 1 for the AutoScalingGroup.").
    CheckCap("DesiredCapacity", desired);  // a group stored before kecs had the cap
    if (desired > max) {
      throw ValidationError(fmt::format("New SetDesiredCapacity value {} is above max value {} for the AutoScalingGroup.", desired, max));
    }
    if (desired < min) {
      throw ValidationError(fmt::format("New SetDesiredCapacity value {} is below min value {} for the AutoScalingGroup.", desired, min));
    }
    if (JBool(in, "HonorCooldown")) {
      if (auto a = InProgressActivity(tx, g)) {
        // AWS's words (diem/diem#4597 quotes them).
        throw AwsError("ScalingActivityInProgress",
                       fmt::format("Scaling activity {} is in progress and blocks this action", a->id));
      }
      double until = g.internal.value("lastScaling", 0.0) + static_cast<double>(JInt(g.doc, "DefaultCooldown", 300));
      if (ctx.now < until) {
        // kecs's wording: AWS answers the same code while the group is in its cooldown.
        throw AwsError("ScalingActivityInProgress",
                       fmt::format("AutoScalingGroup {} is in its cooldown period until {}; the request honours it.",
                                   name, Iso8601(until)));
      }
    }
    if (desired == old) return Status::Ok();
    g.doc["DesiredCapacity"] = desired;
    g.internal["cause"] = fmt::format("{} a user request explicitly set group desired capacity {}", At(ctx.now),
                                      DesiredChange(old, desired));
    ThrowIfError(tx.Put(g));
    return Status::Ok();
  }));
  return Json::object();
}

// AWS's words for an instance that is not a member of the group.
AwsError NotMember(const std::string& id, const std::string& group) {
  return ValidationError(fmt::format("The instance {} is not part of Auto Scaling group {}.", id, group));
}

Json SetInstanceProtection(state::Store& store, RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "AutoScalingGroupName");
  const bool protect = JBool(in, "ProtectedFromScaleIn");
  ThrowIfError(store.Write([&](state::Tx& tx) {
    state::Object g = RequireGroup(tx, ctx.region, name);
    Json& members = g.internal["instances"];
    for (const auto& j : in.value("InstanceIds", Json::array())) {
      std::string id = j.get<std::string>();
      auto it = std::find_if(members.begin(), members.end(), [&](const Json& m) { return JStr(m, "InstanceId") == id; });
      if (it == members.end()) throw NotMember(id, name);
      (*it)["ProtectedFromScaleIn"] = protect;
    }
    ThrowIfError(tx.Put(g));
    return Status::Ok();
  }));
  return Json::object();
}

Json DescribeAutoScalingInstances(state::Store& store, RequestContext& ctx, const Json& in) {
  std::set<std::string> ids;
  for (const auto& j : in.value("InstanceIds", Json::array())) ids.insert(j.get<std::string>());
  std::vector<std::pair<int64_t, Json>> items;
  ThrowIfError(store.Read([&](state::Tx& tx) {
    auto all = tx.List({kGroup, ctx.region});
    ThrowIfError(all.status());
    int64_t n = 0;
    for (const auto& g : *all) {
      for (const auto& m : g.internal.value("instances", Json::array())) {
        if (!ids.empty() && !ids.count(JStr(m, "InstanceId"))) continue;
        Json with_group = m;
        with_group["AutoScalingGroupName"] = g.id;  // MemberView puts it in AWS's place
        items.emplace_back(n++, MemberView(with_group));
      }
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(std::move(items), in, out, "AutoScalingInstances");
  return out;
}

Json TerminateInstanceInAutoScalingGroup(state::Store& store, RequestContext& ctx, const Json& in) {
  const std::string id = JStr(in, "InstanceId");
  const bool decrement = JBool(in, "ShouldDecrementDesiredCapacity");
  Json out;
  ThrowIfError(store.Write([&](state::Tx& tx) {
    auto all = tx.List({kGroup, ctx.region});
    ThrowIfError(all.status());
    for (auto& g : *all) {
      Json& members = g.internal["instances"];
      auto it = std::find_if(members.begin(), members.end(), [&](const Json& m) { return JStr(m, "InstanceId") == id; });
      if (it == members.end()) continue;
      Json& m = *it;
      if (!Counts(m)) {
        auto a = tx.Get(kActivity, ctx.region, JStr(m, "terminateActivity"));
        ThrowIfError(a.status());
        if (*a) out = {{"Activity", (*a)->doc}};
        else out = Json::object();
        return Status::Ok();
      }
      const int64_t desired = JInt(g.doc, "DesiredCapacity");
      int64_t size = 0;
      for (const auto& x : members) size += Counts(x) ? 1 : 0;
      std::string cause = fmt::format("{} instance {} was taken out of service in response to a user request", At(ctx.now), id);
      if (decrement) {
        if (desired - 1 < JInt(g.doc, "MinSize")) {
          // AWS's words (aws/aws-cli#47, hashicorp/nomad-autoscaler#1290 and
          // buildkite/elastic-ci-stack-for-aws#1261 quote them).
          throw ValidationError(fmt::format("Currently, desiredSize equals minSize ({}). Terminating instance without "
                                            "replacement will violate group's min size constraint. Either set "
                                            "shouldDecrementDesiredCapacity flag to false or lower group's min size.",
                                            JInt(g.doc, "MinSize")));
        }
        g.doc["DesiredCapacity"] = desired - 1;
        cause += fmt::format(", shrinking the capacity from {} to {}.", size, size - 1);
      } else {
        cause += ".";
      }
      state::Object a = AddActivity(tx, g, "Terminating EC2 instance: " + id, cause, ctx.now, "InProgress",
                                    {{"Subnet ID", JStr(m, "SubnetId")}, {"Availability Zone", JStr(m, "AvailabilityZone")}});
      m["LifecycleState"] = "Terminating";
      m["terminateActivity"] = a.id;
      ThrowIfError(tx.Put(g));
      out = {{"Activity", a.doc}};
      return Status::Ok();
    }
    // AWS's words for an instance no group manages.
    throw ValidationError(fmt::format("Instance Id not found - No managed instance found for instance ID: {}", id));
  }));
  return out;
}

Json DescribeScalingActivities(state::Store& store, RequestContext& ctx, const Json& in) {
  std::set<std::string> ids;
  for (const auto& j : in.value("ActivityIds", Json::array())) ids.insert(j.get<std::string>());
  std::vector<std::pair<int64_t, Json>> items;
  ThrowIfError(store.Read([&](state::Tx& tx) {
    state::Query q{kActivity, ctx.region};
    if (auto g = JOptStr(in, "AutoScalingGroupName")) q.parent = *g;
    auto all = tx.List(q);
    ThrowIfError(all.status());
    for (auto& a : *all) {
      if (!ids.empty() && !ids.count(a.id)) continue;
      items.emplace_back(a.seq, std::move(a.doc));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(std::move(items), in, out, "Activities", /*descending=*/true);
  return out;
}

Json DescribeAccountLimits(state::Store& store, RequestContext& ctx, const Json&) {
  int64_t groups = 0, configs = 0;
  ThrowIfError(store.Read([&](state::Tx& tx) {
    auto g = tx.Count({kGroup, ctx.region});
    auto c = tx.Count({kLaunchConfiguration, ctx.region});
    ThrowIfError(g.status());
    ThrowIfError(c.status());
    groups = *g;
    configs = *c;
    return Status::Ok();
  }));
  // AWS's default quotas (EC2 Auto Scaling user guide, "Quotas").
  return {{"MaxNumberOfAutoScalingGroups", 500},
          {"MaxNumberOfLaunchConfigurations", 200},
          {"NumberOfAutoScalingGroups", groups},
          {"NumberOfLaunchConfigurations", configs}};
}

}  // namespace

void RegisterGroupOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  s.Register("CreateAutoScalingGroup", [&store, &regions](RequestContext& ctx, const Json& in) {
    return CreateAutoScalingGroup(store, regions, ctx, in);
  });
  s.Register("UpdateAutoScalingGroup", [&store, &regions](RequestContext& ctx, const Json& in) {
    return UpdateAutoScalingGroup(store, regions, ctx, in);
  });
#define KECS_OP(name) \
  s.Register(#name, [&store](RequestContext& ctx, const Json& in) { return name(store, ctx, in); })
  KECS_OP(DescribeAutoScalingGroups);
  KECS_OP(DeleteAutoScalingGroup);
  KECS_OP(SetDesiredCapacity);
  KECS_OP(SetInstanceProtection);
  KECS_OP(DescribeAutoScalingInstances);
  KECS_OP(TerminateInstanceInAutoScalingGroup);
  KECS_OP(DescribeScalingActivities);
  KECS_OP(DescribeAccountLimits);
#undef KECS_OP
}

}  // namespace kecs::api::autoscaling
