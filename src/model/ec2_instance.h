#pragma once
// An EC2 instance's state as EC2 reports it (issue 17): the codes of its state names, and
// how long a terminated instance stays describable. Shared by the EC2 API
// (api/ec2/instances.cc) and the instance state machine (reconcile/instance_controller.cc).
#include <string>
#include <string_view>

#include "base/json.h"

namespace kecs::model {

inline constexpr int kInstancePending = 0, kInstanceRunning = 16, kInstanceShuttingDown = 32,
                     kInstanceTerminated = 48, kInstanceStopping = 64, kInstanceStopped = 80;

// {"Code": n, "Name": name}, as DescribeInstances shows State.
inline Json InstanceState(std::string_view name) {
  int code = name == "running" ? kInstanceRunning : name == "shutting-down" ? kInstanceShuttingDown
           : name == "terminated" ? kInstanceTerminated : name == "stopping" ? kInstanceStopping
           : name == "stopped" ? kInstanceStopped : kInstancePending;
  return {{"Code", code}, {"Name", std::string(name)}};
}

// How long a terminated instance stays describable (AWS: about an hour).
inline constexpr double kTerminatedVisibleSeconds = 3600;

}  // namespace kecs::model
