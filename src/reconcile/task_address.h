#pragma once
// A task's private IPv4 address as DescribeTasks shows it: its ENI attachment's
// privateIPv4Address. That is the address IPAM gave the ENI, unless the runtime chose the
// address itself (the kubernetes runtime: the pod IP, runtime::TaskState::address), which
// the task controller then writes there. Cloud Map instances and load balancer targets
// use the same address, so they reach the task where it really is.
#include <string>

#include "model/task.h"

namespace kecs::reconcile {

inline std::string TaskPrivateIpv4(const model::Task& t) {
  for (const auto& a : t.attachments) {
    if (a.type != "ElasticNetworkInterface") continue;
    for (const auto& d : a.details) {
      if (d.name == "privateIPv4Address" && !d.value.empty()) return d.value;
    }
  }
  return t.internal.network.eni ? t.internal.network.eni->ip : "";
}

}  // namespace kecs::reconcile
