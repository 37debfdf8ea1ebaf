#pragma once
// The Auto Scaling group controller: keeps each group at its desired capacity, off the
// request path, on its own thread (reconcile::PassLoop: a pass every `resync`, and at once
// after Notify()).
//
// It launches and terminates instances only through the EC2 service's own registered
// handlers (RunInstances, TerminateInstances), as a peer service calls them, so every EC2
// rule, IPAM, the instance state machine and the ECS agent's registration apply unchanged.
//
// Each pass, per group, in one transaction (the plan), then the EC2 calls:
//   1. Members: Pending -> InService once EC2 says running (the launch activity
//      Successful); a counted member whose instance is stopping, stopped, shutting down,
//      terminated or gone behind the group's back -> HealthStatus Unhealthy and
//      Terminating, with AWS's cause; a Terminating member whose instance is terminated or
//      gone leaves the group (its activity Successful).
//   2. Capacity: counted members plus launches in flight below DesiredCapacity -> launch
//      intents, each in the zone with the fewest of the group's instances; above -> the
//      termination policy (ChooseScaleIn) picks members, never a protected one. A group
//      being deleted (ForceDelete) terminates everything and disappears when its last
//      member is gone.
//   3. EC2: TerminateInstances for each Terminating member not yet shutting down;
//      RunInstances for each launch intent.
// Crash safety: a launch intent (internal.launches[], with a ClientToken derived from the
// group's uuid and a counter) is committed before RunInstances is called, and the answer is
// recorded (the intent becomes a member, the instance gets aws:autoscaling:groupName) in
// one transaction. RunInstances answers the same reservation for a repeated token, so an
// intent left by a crash is retried by the next pass without leaking or doubling an
// instance.
//
// Batches: one pass creates launch intents for at most `batch` instances (counting intents
// still in flight) and starts terminating at most `batch` members, so a group far from its
// desired capacity neither starves the other groups' passes nor starts hundreds of instance
// hosts at once; the next pass (a `resync` later) does the next batch.
//
// A failed launch is a Failed activity with EC2's message. The group stops launching for
// this pass and retries after `launch_retry_s`, doubled after each further failure in a row
// up to `launch_retry_max_s`; a launch that succeeds resets the delay.
//
// Activity history: AWS keeps six weeks of it. kecs drops a group's finished activities
// older than `activity_max_age_s` (six weeks) and keeps at most the newest
// `activities_kept` finished ones per group (activities in progress are always kept).
#include <chrono>
#include <string>

#include "api/router.h"
#include "base/clock.h"
#include "reconcile/pass_loop.h"
#include "state/store.h"

namespace kecs::api::autoscaling {

class GroupController {
 public:
  struct Options {
    std::chrono::milliseconds resync{1000};
    double launch_retry_s = 10;
    double launch_retry_max_s = 300;
    size_t batch = 10;
    size_t activities_kept = 100;
    double activity_max_age_s = 42 * 86400.0;
  };
  // `ec2` is the EC2 service with its handlers registered; it outlives the controller.
  GroupController(state::Store& store, const Service& ec2, Clock& clock, Options options);
  ~GroupController() { Stop(); }

  void Start() { loop_.Start(); }
  void Stop() { loop_.Stop(); }
  void Notify() { loop_.Notify(); }
  // One pass over every group of every region (what the thread runs; tests call it).
  void RunOnce();

 private:
  void Reconcile(const std::string& region, const std::string& name);

  state::Store& store_;
  const Service& ec2_;
  Clock& clock_;
  const Options options_;
  reconcile::PassLoop loop_;
};

}  // namespace kecs::api::autoscaling
