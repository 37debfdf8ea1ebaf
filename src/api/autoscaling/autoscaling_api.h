#pragma once
// Amazon EC2 Auto Scaling (AWS Query protocol, 2011-01-01; the router picks it by the
// signing name autoscaling): launch configurations, Auto Scaling groups over EC2 launch
// templates or launch configurations, scale-in protection, scaling activities and tags.
//
// Handlers take and return JSON keyed by the Auto Scaling model's member names; every
// refusal is an AwsError with Auto Scaling's code (ValidationError, AlreadyExists,
// ResourceInUse, ScalingActivityInProgress). The API only records what the user asked for,
// each operation in one store transaction; the group controller (group_controller.h)
// launches and terminates the instances, off the request path.
//
// Storage (kinds below, all keyed by region):
//   kLaunchConfiguration  id = name; doc = the LaunchConfiguration shape.
//   kGroup                id = name; status "Active" or "Delete in progress"; doc = the
//                         AutoScalingGroup shape without Instances and Status; internal =
//                         {uuid, account, instances[], launches[], next, cause, ...}
//                         (GroupInternal below).
//   kActivity             id = activity id; parent = group name; status = StatusCode; doc =
//                         the Activity shape.
// Thread-safe: all state lives in the store.
#include <map>
#include <string>
#include <vector>

#include "api/errors.h"
#include "api/router.h"
#include "base/json.h"
#include "net/domain/vpc.h"
#include "state/store.h"

namespace kecs::api::autoscaling {

inline constexpr const char* kGroup = "autoscaling:group";
inline constexpr const char* kLaunchConfiguration = "autoscaling:launch-configuration";
inline constexpr const char* kActivity = "autoscaling:activity";
// The tag EC2 Auto Scaling puts on every instance it launches.
inline constexpr const char* kGroupNameTag = "aws:autoscaling:groupName";
inline constexpr const char* kDeleting = "Delete in progress";

// ValidationError, Auto Scaling's code for a request that breaks a rule of the API.
AwsError ValidationError(std::string message);
// "AutoScalingGroup name not found - AutoScalingGroup: <name> not found".
AwsError GroupNotFound(const std::string& name);
// Refuses a tag key in the aws: prefix, which AWS keeps for itself (CreateAutoScalingGroup,
// CreateOrUpdateTags and DeleteTags alike).
void CheckTagKey(const std::string& key);

// The group `name` (not one being deleted unless `deleting_ok`); GroupNotFound otherwise.
state::Object RequireGroup(state::Tx& tx, const std::string& region, const std::string& name,
                           bool deleting_ok = false);

// The group's AutoScalingGroup shape, Instances and Status included.
Json GroupView(const state::Object& group);
// One member as DescribeAutoScalingGroups shows it (the Instance shape) and as
// DescribeAutoScalingInstances shows it (AutoScalingInstanceDetails).
Json MemberView(const Json& member);

// A member counts toward the group's capacity unless it is on its way out.
bool Counts(const Json& member);

// A scaling activity: stored now (InProgress unless `status` says otherwise). Returns it.
state::Object AddActivity(state::Tx& tx, const state::Object& group, const std::string& description,
                          const std::string& cause, double now, const std::string& status = "InProgress",
                          const Json& details = Json::object());
// Marks activity `id` finished with `status` (Successful, Failed, Cancelled) at `now`.
void FinishActivity(state::Tx& tx, const std::string& region, const std::string& id, const std::string& status,
                    double now, const std::string& message = "");

// Describe* paging (MaxRecords, default 50 and at most 100, and NextToken) over `items`
// (seq, view) in seq order (newest first when `descending`): the page goes to
// out[list_member], NextToken when more remain. A token kecs did not issue is
// InvalidNextToken.
void PageInto(std::vector<std::pair<int64_t, Json>> items, const Json& in, Json& out, const char* list_member,
              bool descending = false);

// "At 2024-01-01T00:00:00Z" as Auto Scaling's causes start their sentences.
std::string At(double now);

// ---- The termination policy (pure, for the controller and its tests) ----

struct Candidate {
  std::string id;
  std::string az;
  std::string launch_configuration;  // "" when launched from a template
  std::string template_id;           // "" when launched from a launch configuration
  long long template_version = 0;
  double launched = 0;               // launch time, epoch seconds
  bool is_protected = false;         // ProtectedFromScaleIn
};
struct LaunchSource {
  std::string launch_configuration;
  std::string template_id;
  long long template_version = 0;
};
// The `count` members to terminate at scale-in, in order, as EC2 Auto Scaling picks them:
// never a protected member; first from the zone with the most members (protected ones
// counted) that has an unprotected one, then by the group's termination `policies` in
// order (Default: oldest launch configuration, then oldest launch template, then closest
// to the next instance hour at `now`), ties broken by instance id (AWS picks at random).
std::vector<std::string> ChooseScaleIn(const std::vector<Candidate>& members, const LaunchSource& current,
                                       const std::vector<std::string>& policies, size_t count, double now);

class AutoScalingApi {
 public:
  AutoScalingApi(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}
  void RegisterAll(Service& service);

 private:
  state::Store& store_;
  net::RegionBootstrap& regions_;
};

// Each file's operations (called by AutoScalingApi::RegisterAll).
void RegisterLaunchConfigurationOps(Service& s, state::Store& store);                       // launch_configurations.cc
void RegisterGroupOps(Service& s, state::Store& store, net::RegionBootstrap& regions);      // groups.cc
void RegisterTagOps(Service& s, state::Store& store);                                       // tags.cc

}  // namespace kecs::api::autoscaling
