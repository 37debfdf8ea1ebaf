#pragma once
// The EC2 instance state machine (issue 17), off the request path.
//
// The EC2 API (api/ec2/instances.cc) records what the user asked: an instance is stored in
// pending (RunInstances, StartInstances), stopping (StopInstances) or shutting-down
// (TerminateInstances). Each pass moves every instance of every region on:
//   pending        -> running, once runtime.ApplyInstanceHost made its host (its namespace
//                     on its subnet, eth0 its primary ENI). In the same transaction the ECS
//                     agent's side: an instance whose user data names a cluster (or any
//                     ECS-optimized instance: "default") registers as a container instance
//                     of it through the InstanceAgent (the API's RegisterContainerInstance
//                     path), or reconnects the container instance it registered before.
//   running        -> (stays) the registration is retried each pass until it succeeds.
//   stopping       -> its container instance is marked agentConnected false and its tasks
//                     are stopped ("Host EC2 (instance i-...) stopped."); once they are all
//                     STOPPED and runtime.DeleteInstanceHost succeeded: stopped.
//   shutting-down  -> the same with "terminated."; then the container instance is
//                     deregistered (INACTIVE), the primary ENI deleted (DeleteOnTermination,
//                     its address freed) and the instance is terminated.
//   terminated     -> the row is deleted an hour (kTerminatedVisibleSeconds) later.
// Runtime calls happen outside any transaction; every state change is one transaction that
// re-reads the instance, so a crash at any point leaves a state the next pass finishes
// (ApplyInstanceHost and DeleteInstanceHost are idempotent). Thread-safe; one thread.
#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "reconcile/pass_loop.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::reconcile {

// The ECS agent's registration, implemented by the ECS API (api/ecs/container_instances.cc
// RegisterInstanceFromEc2) so that it goes through RegisterContainerInstance's own code.
class InstanceAgent {
 public:
  virtual ~InstanceAgent() = default;
  // Registers the running instance `instance` (an ec2:instance row) as a container
  // instance of `cluster` inside `tx`; returns the container instance id, or an error in
  // ECS's words (e.g. the cluster does not exist).
  virtual Result<std::string> RegisterInstance(state::Tx& tx, const state::Object& instance,
                                               const std::string& cluster, double now) = 0;
};

class InstanceController {
 public:
  struct Options {
    std::chrono::milliseconds resync{1000};
    // Called outside any transaction for each running instance every pass (after its host
    // is made: the instance metadata service opens its listener, idempotently), and before
    // an instance's host is deleted (it closes it).
    std::function<void(const state::Object& instance)> host_running;
    std::function<void(const state::Object& instance)> host_deleting;
  };
  InstanceController(state::Store& store, runtime::Runtime& runtime, InstanceAgent& agent, Options options,
                     Clock& clock = Clock::Real());

  void Start() { loop_.Start(); }
  void Stop() { loop_.Stop(); }
  void Notify() { loop_.Notify(); }
  // One pass over every instance (tests drive it directly).
  void RunOnce();
  // Removes the runtime's hosts of instances that are gone or terminated (daemon start).
  Status GarbageCollect();

 private:
  Status Advance(const state::Object& instance, double now);

  state::Store& store_;
  runtime::Runtime& runtime_;
  InstanceAgent& agent_;
  Clock& clock_;
  const Options options_;
  // "<region>/<id>" of the instances whose host this controller applied (its own thread only).
  std::set<std::string> applied_;
  PassLoop loop_;  // last: its thread uses the members above
};

// The ECS stoppedReason of a task whose host was stopped or terminated:
// "Host EC2 (instance i-...) stopped." / "... terminated.".
std::string HostStoppedReason(const std::string& instance_id, bool terminated);

}  // namespace kecs::reconcile
