#pragma once
// ECS cluster auto scaling (issue 17), off the request path: the loop that places the tasks
// waiting for capacity and scales the Auto Scaling groups of capacity providers with
// managed scaling. The work itself is the ECS API's (api/ecs/capacity_scaling.cc), behind
// CapacityScaler, as the service scheduler's launches are behind TaskLauncher:
//   1. PlaceWaitingTasks: every task waiting for capacity (AwaitingCapacity below) that
//      now fits on an instance of its capacity provider is placed there, in one write
//      transaction per cluster with the books (the resources and ports its instance's
//      tasks hold); one that waited longer than the limit is stopped.
//   2. ScaleCapacityProviders: per capacity provider with managed scaling, the reservation
//      and the group's desired capacity through the Auto Scaling API (DescribeAutoScaling
//      Groups, SetDesiredCapacity, SetInstanceProtection); DELETE_IN_PROGRESS providers
//      become INACTIVE.
// Each pass reads what is and writes toward it, so a crash at any point leaves a state the
// next pass finishes. Thread-safe; one thread.
#include <chrono>

#include "base/clock.h"
#include "model/task.h"
#include "reconcile/pass_loop.h"

namespace kecs::reconcile {

// Whether `t` waits for capacity: an EC2 task of a capacity provider with no container
// instance yet (RunTask or the service scheduler found no room on the provider's
// instances). The task controller leaves it alone until it is placed, or stops it.
inline bool AwaitingCapacity(const model::Task& t) {
  return t.launch_type == model::LaunchType::kEc2 && t.capacity_provider_name &&
         !t.capacity_provider_name->empty() && !t.internal.placement &&
         t.last_status == model::TaskStatus::kProvisioning;
}

class CapacityScaler {
 public:
  virtual ~CapacityScaler() = default;
  virtual void PlaceWaitingTasks(double now) = 0;
  virtual void ScaleCapacityProviders(double now) = 0;
};

class CapacityController {
 public:
  struct Options {
    std::chrono::milliseconds resync{1000};
  };
  CapacityController(CapacityScaler& scaler, Options options, Clock& clock = Clock::Real())
      : scaler_(scaler), clock_(clock), loop_(options.resync, [this] { RunOnce(); }) {}

  void Start() { loop_.Start(); }
  void Stop() { loop_.Stop(); }
  void Notify() { loop_.Notify(); }
  // One pass (tests drive it directly).
  void RunOnce() {
    double now = clock_.Now();
    scaler_.PlaceWaitingTasks(now);
    scaler_.ScaleCapacityProviders(now);
  }

 private:
  CapacityScaler& scaler_;
  Clock& clock_;
  PassLoop loop_;  // last: its thread uses the members above
};

}  // namespace kecs::reconcile
