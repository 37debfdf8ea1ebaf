#include "api/autoscaling/group_controller.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/autoscaling/autoscaling_api.h"
#include "api/ec2/launch_templates.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/value_cipher.h"
#include "net/domain/vpc.h"

namespace kecs::api::autoscaling {
namespace {

// The version number the group's LaunchTemplate spec (Version "$Latest", "$Default" or a
// number) names now; 0 when the template is gone.
int64_t TemplateVersion(state::Tx& tx, const std::string& region, const Json& spec) {
  auto t = tx.Get(ec2::kLaunchTemplate, region, JStr(spec, "LaunchTemplateId"));
  if (!t.ok() || !*t) return 0;
  return ec2::lt::ResolveVersion(JStr(spec, "Version", "$Default"), (*t)->doc.value("DefaultVersionNumber", int64_t{1}),
                                 (*t)->doc.value("LatestVersionNumber", int64_t{1}))
      .value_or(0);
}

// The group's current launch source, for the termination policy.
LaunchSource SourceOf(state::Tx& tx, const state::Object& g) {
  LaunchSource s;
  s.launch_configuration = JStr(g.doc, "LaunchConfigurationName");
  if (const Json* lt = JGet(g.doc, "LaunchTemplate")) {
    s.template_id = JStr(*lt, "LaunchTemplateId");
    s.template_version = TemplateVersion(tx, g.region, *lt);
  }
  return s;
}

Candidate CandidateOf(const Json& m) {
  Candidate c;
  c.id = JStr(m, "InstanceId");
  c.az = JStr(m, "AvailabilityZone");
  c.launch_configuration = JStr(m, "LaunchConfigurationName");
  if (const Json* lt = JGet(m, "LaunchTemplate")) {
    c.template_id = JStr(*lt, "LaunchTemplateId");
    c.template_version = std::atoll(JStr(*lt, "Version", "0").c_str());
  }
  c.launched = m.value("launched", 0.0);
  c.is_protected = JBool(m, "ProtectedFromScaleIn");
  return c;
}

// The cause a user's change left for the next activity (then consumed), and two spaces,
// as AWS joins the sentences of a cause.
std::string TakeCause(state::Object& g) {
  std::string c = JStr(g.internal, "cause");
  g.internal.erase("cause");
  return c.empty() ? "" : c + "  ";
}

// What one pass does after its plan committed.
struct Work {
  std::string account;
  std::vector<std::string> terminate;
  Json launches = Json::array();
};

bool Gone(const std::string& ec2_state) {
  return ec2_state == "stopping" || ec2_state == "stopped" || ec2_state == "shutting-down" ||
         ec2_state == "terminated" || ec2_state == "gone";
}

// Marks member `m` Terminating with an activity; its instance is terminated after the plan.
void StartTermination(state::Tx& tx, const state::Object& g, Json& m, const std::string& cause, double now,
                      Work& work) {
  state::Object a = AddActivity(tx, g, "Terminating EC2 instance: " + JStr(m, "InstanceId"), cause, now, "InProgress",
                                {{"Subnet ID", JStr(m, "SubnetId")}, {"Availability Zone", JStr(m, "AvailabilityZone")}});
  m["LifecycleState"] = "Terminating";
  m["terminateActivity"] = a.id;
  work.terminate.push_back(JStr(m, "InstanceId"));
}

// The zone (and subnet) of the group's next launch: the zone with the fewest of its
// instances (members and launches), then the subnet of that zone with the fewest.
Json NextSubnet(const state::Object& g) {
  std::map<std::string, int> per_zone, per_subnet;
  auto count = [&](const Json& x) {
    per_zone[JStr(x, "AvailabilityZone")]++;
    per_subnet[JStr(x, "SubnetId")]++;
  };
  for (const auto& m : g.internal.value("instances", Json::array())) {
    if (Counts(m)) count(m);
  }
  for (const auto& l : g.internal.value("launches", Json::array())) count(l);
  Json best;
  for (const auto& s : g.internal.value("subnets", Json::array())) {
    if (best.is_null()) {
      best = s;
      continue;
    }
    int z = per_zone[JStr(s, "AvailabilityZone")], bz = per_zone[JStr(best, "AvailabilityZone")];
    if (z < bz || (z == bz && per_subnet[JStr(s, "SubnetId")] < per_subnet[JStr(best, "SubnetId")])) best = s;
  }
  return best;
}

// Drops the group's finished activities older than options.activity_max_age_s, and all
// but the newest options.activities_kept finished ones. Activities in progress stay.
void PruneActivities(state::Tx& tx, const state::Object& g, double now, const GroupController::Options& options) {
  state::Query q{kActivity, g.region};
  q.parent = g.id;
  auto acts = tx.List(q);
  ThrowIfError(acts.status());
  std::vector<const state::Object*> finished;
  for (const auto& a : *acts) {
    if (a.status != "InProgress") finished.push_back(&a);
  }
  std::sort(finished.begin(), finished.end(), [](const auto* x, const auto* y) { return x->seq > y->seq; });
  const double oldest = EpochMillis(now - options.activity_max_age_s);
  for (size_t i = 0; i < finished.size(); ++i) {
    const bool old = finished[i]->doc.value("StartTime", now) < oldest;
    if (i >= options.activities_kept || old) ThrowIfError(tx.Delete(kActivity, g.region, finished[i]->id).status());
  }
}

}  // namespace

GroupController::GroupController(state::Store& store, const Service& ec2, Clock& clock, Options options)
    : store_(store), ec2_(ec2), clock_(clock), options_(options), loop_(options.resync, [this] { RunOnce(); }) {}

void GroupController::RunOnce() {
  std::vector<std::pair<std::string, std::string>> groups;
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{kGroup, ""};
    q.any_region = true;
    auto all = tx.List(q);
    if (!all.ok()) return all.status();
    for (const auto& g : *all) groups.emplace_back(g.region, g.id);
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("auto scaling: {}", st.message());
    return;
  }
  for (const auto& [region, name] : groups) {
    try {
      Reconcile(region, name);
    } catch (const std::exception& e) {
      KLOG_WARN("auto scaling group {}: {}", name, e.what());
    }
  }
}

void GroupController::Reconcile(const std::string& region, const std::string& name) {
  const double now = clock_.Now();
  Work work;
  // 1-2: the plan, in one transaction.
  ThrowIfError(store_.Write([&](state::Tx& tx) {
    auto got = tx.Get(kGroup, region, name);
    ThrowIfError(got.status());
    if (!*got) return Status::Ok();
    state::Object g = std::move(**got);
    const state::Object before = g;
    work.account = JStr(g.internal, "account");
    const bool deleting = g.status == kDeleting;
    Json& members = g.internal["instances"];
    if (!members.is_array()) members = Json::array();
    Json kept = Json::array();
    for (auto& m : members) {
      const std::string id = JStr(m, "InstanceId");
      auto inst = tx.Get(net::kEc2Instance, region, id);
      ThrowIfError(inst.status());
      const std::string ec2_state = *inst ? (*inst)->status : "gone";
      if (Counts(m)) {
        if (ec2_state == "running" && JStr(m, "LifecycleState") == "Pending") {
          m["LifecycleState"] = "InService";
          FinishActivity(tx, region, JStr(m, "activity"), "Successful", now);
          g.internal["lastScaling"] = now;
        } else if (Gone(ec2_state)) {
          // AWS's cause for an instance stopped or terminated behind the group's back, "a EC2"
          // included (as DescribeScalingActivities answered it, gist watchamcb/fc686c70...).
          m["HealthStatus"] = "Unhealthy";
          FinishActivity(tx, region, JStr(m, "activity"), "Successful", now);
          StartTermination(tx, g, m,
                           At(now) + " an instance was taken out of service in response to a EC2 health check "
                                     "indicating it has been terminated or stopped.",
                           now, work);
        }
      } else if (ec2_state == "terminated" || ec2_state == "gone") {
        FinishActivity(tx, region, JStr(m, "terminateActivity"), "Successful", now);
        g.internal["lastScaling"] = now;
        continue;  // leaves the group
      } else if (ec2_state != "shutting-down") {
        work.terminate.push_back(id);  // asked before (TerminateInstanceInAutoScalingGroup, a crash)
      }
      kept.push_back(m);
    }
    members = kept;
    Json& launches = g.internal["launches"];
    if (!launches.is_array()) launches = Json::array();
    int64_t size = 0;
    for (const auto& m : members) size += Counts(m) ? 1 : 0;
    const int64_t in_flight = static_cast<int64_t>(launches.size());
    const int64_t desired = deleting ? 0 : JInt(g.doc, "DesiredCapacity");
    if (deleting && members.empty() && launches.empty()) {
      ThrowIfError(tx.Delete(kGroup, region, name).status());
      state::Query q{kActivity, region};
      q.parent = name;
      auto acts = tx.List(q);
      ThrowIfError(acts.status());
      for (const auto& a : *acts) ThrowIfError(tx.Delete(kActivity, region, a.id).status());
      return Status::Ok();
    }
    const bool may_launch = now >= g.internal.value("retryAt", 0.0);
    const int64_t batch = static_cast<int64_t>(options_.batch);
    if (size + in_flight < desired && may_launch) {
      std::string cause = TakeCause(g);
      const std::string uuid = JStr(g.internal, "uuid");
      // At most a batch of launches in flight per pass; the next pass starts the next batch.
      const int64_t upto = std::min(desired, size + std::max(in_flight, batch));
      for (int64_t k = size + in_flight; k < upto; ++k) {
        Json subnet = NextSubnet(g);
        if (subnet.is_null()) break;
        int64_t n = JInt(g.internal, "next");
        g.internal["next"] = n + 1;
        // AWS's cause for a launch (the EC2 Auto Scaling user guide, "Verify a scaling
        // activity for an Auto Scaling group").
        std::string text = cause + fmt::format("{} an instance was started in response to a difference between desired "
                                               "and actual capacity, increasing the capacity from {} to {}.",
                                               At(now), size + in_flight, desired);
        state::Object a = AddActivity(tx, g, "Launching a new EC2 instance", text, now, "InProgress",
                                      {{"Subnet ID", JStr(subnet, "SubnetId")},
                                       {"Availability Zone", JStr(subnet, "AvailabilityZone")}});
        launches.push_back({{"token", fmt::format("{}-{}", uuid, n)},
                            {"SubnetId", JStr(subnet, "SubnetId")},
                            {"AvailabilityZone", JStr(subnet, "AvailabilityZone")},
                            {"activity", a.id}});
      }
    } else if (size > desired) {
      std::vector<Candidate> candidates;
      for (const auto& m : members) {
        if (Counts(m)) candidates.push_back(CandidateOf(m));
      }
      std::vector<std::string> policies;
      for (const auto& p : g.doc.value("TerminationPolicies", Json::array())) policies.push_back(p.get<std::string>());
      std::vector<std::string> victims;
      if (deleting) {
        for (const auto& c : candidates) victims.push_back(c.id);
      } else {
        victims = ChooseScaleIn(candidates, SourceOf(tx, g), policies, static_cast<size_t>(size - desired), now);
      }
      if (victims.size() > options_.batch) victims.resize(options_.batch);  // the rest in later passes
      std::string cause = TakeCause(g);
      for (auto& m : members) {
        const std::string id = JStr(m, "InstanceId");
        if (std::find(victims.begin(), victims.end(), id) == victims.end()) continue;
        std::string text = cause + fmt::format("{} an instance was taken out of service in response to a difference "
                                               "between desired and actual capacity, shrinking the capacity from {} to "
                                               "{}.  {} instance {} was selected for termination.",
                                               At(now), size, desired, At(now), id);
        StartTermination(tx, g, m, text, now, work);
      }
    }
    if (size + in_flight == desired) g.internal.erase("cause");  // a change that needed no activity
    // Intents left by a crash or by a failed launch's pass wait for the retry time too.
    if (may_launch) work.launches = launches;
    PruneActivities(tx, g, now, options_);
    if (g.doc != before.doc || g.internal != before.internal || g.status != before.status) ThrowIfError(tx.Put(g));
    return Status::Ok();
  }));

  // 3: EC2, through its own handlers.
  auto call = [&](const char* op, const Json& in) {
    const OperationFn* fn = ec2_.Find(op);
    if (!fn) throw AwsError("InternalFailure", fmt::format("{} is not available on this server.", op), 500);
    RequestContext ctx;
    ctx.request_id = Uuid4();
    ctx.region = region;
    ctx.account_id = work.account;
    ctx.service = "ec2";
    ctx.operation = op;
    ctx.now = clock_.Now();
    return (*fn)(ctx, in);
  };
  for (const auto& id : work.terminate) {
    try {
      call("TerminateInstances", {{"InstanceIds", Json::array({id})}});
    } catch (const AwsError& e) {
      if (e.code() != "InvalidInstanceID.NotFound") KLOG_WARN("auto scaling group {}: terminate {}: {}", name, id, e.message());
    }
  }
  for (const auto& launch : work.launches) {
    const std::string token = JStr(launch, "token");
    Json request;
    Json source;  // the member's LaunchConfigurationName or LaunchTemplate
    ThrowIfError(store_.Read([&](state::Tx& tx) {
      state::Object g = RequireGroup(tx, region, name, true);
      request = {{"MinCount", 1}, {"MaxCount", 1}, {"ClientToken", token}};
      Json instance_tags = Json::array();
      Json other_specs = Json::array();
      Json lt_data = Json::object();
      if (const Json* lt = JGet(g.doc, "LaunchTemplate")) {
        const std::string tid = JStr(*lt, "LaunchTemplateId");
        const int64_t version = TemplateVersion(tx, region, *lt);
        if (version > 0) {
          auto data = ec2::LaunchTemplateData(tx, region, tid, std::to_string(version));
          if (data.ok()) lt_data = *data;
        }
        request["LaunchTemplate"] = {{"LaunchTemplateId", tid}, {"Version", std::to_string(version)}};
        source = {{"LaunchTemplate", {{"LaunchTemplateId", tid}, {"LaunchTemplateName", JStr(*lt, "LaunchTemplateName")},
                                      {"Version", std::to_string(version)}}}};
        for (const auto& spec : lt_data.value("TagSpecifications", Json::array())) {
          if (JStr(spec, "ResourceType") == "instance") {
            for (const auto& t : spec.value("Tags", Json::array())) instance_tags.push_back(t);
          } else {
            other_specs.push_back(spec);
          }
        }
      } else {
        const std::string lc_name = JStr(g.doc, "LaunchConfigurationName");
        auto lc = tx.Get(kLaunchConfiguration, region, lc_name);
        ThrowIfError(lc.status());
        source = {{"LaunchConfigurationName", lc_name}};
        if (*lc) {
          const Json& d = (*lc)->doc;
          request["ImageId"] = JStr(d, "ImageId");
          request["InstanceType"] = JStr(d, "InstanceType");
          if (!JStr(d, "KeyName").empty()) request["KeyName"] = JStr(d, "KeyName");
          for (const auto& sg : d.value("SecurityGroups", Json::array())) {
            std::string v = sg.get<std::string>();
            request[v.starts_with("sg-") ? "SecurityGroupIds" : "SecurityGroups"].push_back(v);
          }
          if (std::string ud = JStr(d, "UserData"); !ud.empty()) {
            request["UserData"] = Base64Decode(ud).ok() ? ud : Base64Encode(ud);
          }
          if (auto p = JOptStr(d, "IamInstanceProfile")) {
            request["IamInstanceProfile"] = p->starts_with("arn:") ? Json{{"Arn", *p}} : Json{{"Name", *p}};
          }
          if (JBool(d, "EbsOptimized")) request["EbsOptimized"] = true;
          if (const Json* mo = JGet(d, "MetadataOptions")) request["MetadataOptions"] = *mo;
        }
      }
      // The group's PropagateAtLaunch tags over the template's instance tags.
      for (const auto& t : g.doc.value("Tags", Json::array())) {
        if (!JBool(t, "PropagateAtLaunch")) continue;
        std::erase_if(instance_tags.get_ref<Json::array_t&>(),
                      [&](const Json& x) { return JStr(x, "Key") == JStr(t, "Key"); });
        instance_tags.push_back({{"Key", JStr(t, "Key")}, {"Value", JStr(t, "Value")}});
      }
      Json specs = other_specs;
      if (!instance_tags.empty()) specs.push_back({{"ResourceType", "instance"}, {"Tags", instance_tags}});
      if (!specs.empty()) request["TagSpecifications"] = specs;
      // The subnet: the template's primary interface, moved into it, or SubnetId.
      Json nics = lt_data.value("NetworkInterfaces", Json::array());
      bool placed = false;
      for (auto& nic : nics) {
        if (JInt(nic, "DeviceIndex", -1) == 0) {
          nic["SubnetId"] = JStr(launch, "SubnetId");
          placed = true;
        }
      }
      if (placed) request["NetworkInterfaces"] = nics;
      else request["SubnetId"] = JStr(launch, "SubnetId");
      return Status::Ok();
    }));
    Json reservation;
    std::string failure;
    try {
      reservation = call("RunInstances", request);
    } catch (const AwsError& e) {
      failure = e.message();
    }
    // Record the answer: the intent becomes members (or a Failed activity).
    ThrowIfError(store_.Write([&](state::Tx& tx) {
      auto got = tx.Get(kGroup, region, name);
      ThrowIfError(got.status());
      if (!*got) return Status::Ok();
      state::Object g = std::move(**got);
      Json& launches = g.internal["launches"];
      auto it = std::find_if(launches.begin(), launches.end(), [&](const Json& l) { return JStr(l, "token") == token; });
      if (it == launches.end()) return Status::Ok();
      const double at = clock_.Now();
      const std::string activity = JStr(*it, "activity");
      launches.erase(it);
      if (!failure.empty()) {
        auto a = tx.Get(kActivity, region, activity);
        ThrowIfError(a.status());
        if (*a) {
          state::Object o = std::move(**a);
          // AWS's form for a failed launch: the description carries the status reason.
          o.doc["Description"] = "Launching a new EC2 instance.  Status Reason: " + failure;
          ThrowIfError(tx.Put(o));
        }
        FinishActivity(tx, region, activity, "Failed", at, failure);
        // Backs off: launch_retry_s, doubled after each failure in a row, up to launch_retry_max_s.
        const int64_t failures = JInt(g.internal, "launchFailures") + 1;
        g.internal["launchFailures"] = failures;
        g.internal["retryAt"] =
            at + std::min(options_.launch_retry_max_s,
                          options_.launch_retry_s * std::pow(2.0, static_cast<double>(std::min<int64_t>(failures - 1, 30))));
        ThrowIfError(tx.Put(g));
        return Status::Ok();
      }
      g.internal.erase("launchFailures");
      for (const auto& inst : reservation.value("Instances", Json::array())) {
        const std::string id = JStr(inst, "InstanceId");
        Json m = {{"InstanceId", id},
                  {"InstanceType", JStr(inst, "InstanceType")},
                  {"AvailabilityZone", JStr(launch, "AvailabilityZone")},
                  {"SubnetId", JStr(launch, "SubnetId")},
                  {"LifecycleState", "Pending"},
                  {"HealthStatus", "Healthy"}};
        for (auto s = source.begin(); s != source.end(); ++s) m[s.key()] = s.value();
        m["ImageId"] = JStr(inst, "ImageId");
        m["ProtectedFromScaleIn"] = JBool(g.doc, "NewInstancesProtectedFromScaleIn");
        m["launched"] = at;
        m["activity"] = activity;
        g.internal["instances"].push_back(m);
        // The group's own tag on the instance (EC2's API refuses aws: keys from users).
        auto o = tx.Get(net::kEc2Instance, region, id);
        ThrowIfError(o.status());
        if (*o) {
          state::Object io = std::move(**o);
          Json& tags = io.doc["Tags"];
          if (!tags.is_array()) tags = Json::array();
          std::erase_if(tags.get_ref<Json::array_t&>(), [](const Json& t) { return JStr(t, "Key") == kGroupNameTag; });
          tags.push_back({{"Key", kGroupNameTag}, {"Value", name}});
          ThrowIfError(tx.Put(io));
        }
        auto a = tx.Get(kActivity, region, activity);
        ThrowIfError(a.status());
        if (*a) {
          state::Object ao = std::move(**a);
          ao.doc["Description"] = "Launching a new EC2 instance: " + id;
          ao.doc["Progress"] = 50;
          ThrowIfError(tx.Put(ao));
        }
      }
      ThrowIfError(tx.Put(g));
      return Status::Ok();
    }));
    if (!failure.empty()) break;  // the rest wait for the retry time
  }
}

}  // namespace kecs::api::autoscaling
