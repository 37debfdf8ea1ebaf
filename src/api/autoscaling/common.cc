// What the Auto Scaling handlers and the group controller share: errors, the group and
// member views, scaling activities, and the termination policy.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "api/autoscaling/autoscaling_api.h"
#include "api/pagination.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/utc_time.h"

namespace kecs::api::autoscaling {

AwsError ValidationError(std::string message) { return AwsError("ValidationError", std::move(message)); }

AwsError GroupNotFound(const std::string& name) {
  // AWS's words, as test fixtures copied from real errors quote them ("AutoScalingGroup
  // name not found - AutoScalingGroup: group-name not found").
  return ValidationError(fmt::format("AutoScalingGroup name not found - AutoScalingGroup: {} not found", name));
}

void CheckTagKey(const std::string& key) {
  // AWS's words (as buildkite/elastic-ci-stack-for-aws#856 quotes them, period included).
  if (key.starts_with("aws:")) throw ValidationError("Tag keys starting with 'aws:' are reserved for internal use.");
}

state::Object RequireGroup(state::Tx& tx, const std::string& region, const std::string& name, bool deleting_ok) {
  auto g = tx.Get(kGroup, region, name);
  ThrowIfError(g.status());
  if (!*g || (!deleting_ok && (*g)->status == kDeleting)) throw GroupNotFound(name);
  return std::move(**g);
}

bool Counts(const Json& member) {
  std::string s = JStr(member, "LifecycleState");
  return !s.starts_with("Terminat");
}

Json MemberView(const Json& m) {
  Json v = Json::object();
  for (const char* k : {"InstanceId", "InstanceType", "AutoScalingGroupName", "AvailabilityZone", "LifecycleState",
                        "HealthStatus", "LaunchConfigurationName", "LaunchTemplate", "ImageId",
                        "ProtectedFromScaleIn"}) {
    if (m.contains(k)) v[k] = m[k];
  }
  return v;
}

Json GroupView(const state::Object& group) {
  Json v = group.doc;
  Json instances = Json::array();
  for (const auto& m : group.internal.value("instances", Json::array())) instances.push_back(MemberView(m));
  v["Instances"] = instances;
  if (group.status == kDeleting) v["Status"] = kDeleting;
  return v;
}

void PageInto(std::vector<std::pair<int64_t, Json>> items, const Json& in, Json& out, const char* list_member,
              bool descending) {
  int64_t max = JInt(in, "MaxRecords", 50);
  if (max < 1 || max > 100) {
    // kecs's wording; AWS documents a default of 50 and a maximum of 100.
    throw ValidationError(fmt::format("MaxRecords {} is not valid: the value must be between 1 and 100.", max));
  }
  std::stable_sort(items.begin(), items.end(), [descending](const auto& a, const auto& b) {
    return descending ? a.first > b.first : a.first < b.first;
  });
  std::vector<std::string> keys;
  for (const auto& item : items) keys.push_back(SeqKey(item.first));
  std::optional<std::string> token = JOptStr(in, "NextToken");
  auto page = Paginate(keys, token, static_cast<size_t>(max), descending);
  // kecs's wording (the code is the model's InvalidNextToken).
  if (!page) throw AwsError("InvalidNextToken", "The token '" + token.value_or("") + "' is invalid.");
  Json list = Json::array();
  for (size_t i = page->begin; i < page->end; ++i) list.push_back(std::move(items[i].second));
  out[list_member] = list;
  if (page->next_token) out["NextToken"] = *page->next_token;
}

std::string At(double now) { return "At " + FormatUtc(now, "%Y-%m-%dT%H:%M:%SZ"); }

state::Object AddActivity(state::Tx& tx, const state::Object& group, const std::string& description,
                          const std::string& cause, double now, const std::string& status, const Json& details) {
  std::string id = Uuid4();
  Json doc = {{"ActivityId", id},
              {"AutoScalingGroupName", group.id},
              {"Description", description},
              {"Cause", cause},
              {"StartTime", EpochMillis(now)},
              {"StatusCode", status},
              {"Progress", status == "InProgress" ? 0 : 100},
              {"Details", details.dump()},
              {"AutoScalingGroupARN", JStr(group.doc, "AutoScalingGroupARN")}};
  if (status != "InProgress") doc["EndTime"] = EpochMillis(now);
  state::Object a{kActivity, group.region, id, group.id, "", status, 0, doc};
  ThrowIfError(tx.Insert(a));
  return a;
}

void FinishActivity(state::Tx& tx, const std::string& region, const std::string& id, const std::string& status,
                    double now, const std::string& message) {
  if (id.empty()) return;
  auto a = tx.Get(kActivity, region, id);
  ThrowIfError(a.status());
  if (!*a || (*a)->status != "InProgress") return;
  state::Object o = std::move(**a);
  o.status = status;
  o.doc["StatusCode"] = status;
  o.doc["Progress"] = 100;
  o.doc["EndTime"] = EpochMillis(now);
  if (!message.empty()) o.doc["StatusMessage"] = message;
  ThrowIfError(tx.Put(o));
}

// ---- The termination policy ----

namespace {

// Each policy ranks a member; lower goes first. AWS's policies: "Configure termination
// policies for Amazon EC2 Auto Scaling" (EC2 Auto Scaling user guide).
using Rank = std::function<double(const Candidate&)>;

Rank OldestLaunchConfiguration(const LaunchSource& cur) {
  return [cur](const Candidate& c) -> double {
    if (c.launch_configuration.empty()) return 1;
    // A launch configuration other than the group's (or any, once it uses a template).
    return !cur.template_id.empty() || c.launch_configuration != cur.launch_configuration ? 0 : 1;
  };
}

Rank OldestLaunchTemplate(const LaunchSource& cur) {
  return [cur](const Candidate& c) -> double {
    if (cur.template_id.empty()) return 4;  // the group uses a launch configuration
    if (c.template_id.empty()) return 0;    // launched from a launch configuration
    if (c.template_id != cur.template_id) return 1;
    if (c.template_version != cur.template_version) return 2 + static_cast<double>(c.template_version) * 1e-9;
    return 3;
  };
}

std::vector<Rank> PolicyRanks(const std::string& policy, const LaunchSource& cur, double now) {
  if (policy == "OldestInstance") return {[](const Candidate& c) { return c.launched; }};
  if (policy == "NewestInstance") return {[](const Candidate& c) { return -c.launched; }};
  if (policy == "OldestLaunchConfiguration") return {OldestLaunchConfiguration(cur)};
  if (policy == "OldestLaunchTemplate") return {OldestLaunchTemplate(cur)};
  Rank hour = [now](const Candidate& c) { return 3600 - std::fmod(std::max(0.0, now - c.launched), 3600.0); };
  if (policy == "ClosestToNextInstanceHour") return {hour};
  if (policy == "Default") return {OldestLaunchConfiguration(cur), OldestLaunchTemplate(cur), hour};
  return {};  // AllocationStrategy: kecs launches On-Demand only
}

}  // namespace

std::vector<std::string> ChooseScaleIn(const std::vector<Candidate>& members, const LaunchSource& current,
                                       const std::vector<std::string>& policies, size_t count, double now) {
  std::vector<Rank> ranks;
  for (const auto& p : policies) {
    for (auto& r : PolicyRanks(p, current, now)) ranks.push_back(std::move(r));
  }
  if (policies.empty() || std::find(policies.begin(), policies.end(), "Default") == policies.end()) {
    for (auto& r : PolicyRanks("Default", current, now)) ranks.push_back(std::move(r));  // Default comes last
  }
  std::vector<Candidate> left = members;
  std::vector<std::string> out;
  while (out.size() < count) {
    std::map<std::string, int> per_zone;
    for (const auto& c : left) per_zone[c.az]++;
    int most = -1;
    for (const auto& c : left) {
      if (!c.is_protected) most = std::max(most, per_zone[c.az]);
    }
    if (most < 0) break;  // every member left is protected
    std::vector<Candidate> pool;
    for (const auto& c : left) {
      if (!c.is_protected && per_zone[c.az] == most) pool.push_back(c);
    }
    for (const auto& rank : ranks) {
      double best = std::numeric_limits<double>::infinity();
      for (const auto& c : pool) best = std::min(best, rank(c));
      std::erase_if(pool, [&](const Candidate& c) { return rank(c) > best; });
      if (pool.size() == 1) break;
    }
    auto pick = std::min_element(pool.begin(), pool.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    out.push_back(pick->id);
    std::string id = pick->id;
    std::erase_if(left, [&](const Candidate& c) { return c.id == id; });
  }
  return out;
}

void AutoScalingApi::RegisterAll(Service& service) {
  RegisterLaunchConfigurationOps(service, store_);
  RegisterGroupOps(service, store_, regions_);
  RegisterTagOps(service, store_);
}

}  // namespace kecs::api::autoscaling
