#pragma once
// The simulated runtime: the whole task lifecycle with no data plane.
//
// Nothing runs. Every call succeeds. A started container reports RUNNING until
// StopContainers, after which it reports exit code 0; a container not started yet reports
// missing. So that dependsOn works without a data plane:
//  - a container with a healthCheck reports HEALTHY once running (nothing runs the check);
//  - a container another one depends on with COMPLETE or SUCCESS behaves as an init
//    container: it exits 0 right after it starts.
// StopContainers stops the containers in runtime::StopOrder (its result lists them in that
// order). Load balancers: ApplyLoadBalancer and DeleteLoadBalancer succeed and keep
// nothing; ObserveTargets reports every target of the spec that is not draining healthy
// (so services behind load balancers reach their steady state). It serves hosts without
// root (and fast tests); the daemon's /health and start-up log say plainly that it runs
// nothing. State is in memory and, like a running host, tasks it never heard of (after a
// daemon restart) count as started. Thread-safe.
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "runtime/runtime.h"

namespace kecs::runtime {

class SimulatedRuntime : public Runtime {
 public:
  std::string name() const override { return "simulated"; }
  bool has_data_plane() const override { return false; }
  std::string Describe() const override {
    return "simulated: no data plane; tasks go through every state but no process runs and no "
           "network is created";
  }
  Status CreateSandbox(const TaskSpec& task) override;
  Result<std::map<std::string, std::string>> PullImages(const TaskSpec& task) override;
  using Runtime::StartContainers;
  Status StartContainers(const TaskSpec& task, const std::set<std::string>& names) override;
  Result<TaskState> Inspect(const TaskSpec& task) override;
  Result<TaskState> StopContainers(const TaskSpec& task) override;
  Status Delete(const TaskSpec& task) override;
  Status GarbageCollect(const std::set<std::string>& live_task_ids,
                        const std::set<std::string>& known_task_ids) override;
  Result<std::vector<TargetObservation>> ObserveTargets(const LoadBalancerSpec& lb) override;

 private:
  std::mutex mu_;
  std::set<std::string> stopped_;                           // guarded by mu_
  std::map<std::string, std::set<std::string>> started_;    // task id -> containers; guarded by mu_
};

}  // namespace kecs::runtime
