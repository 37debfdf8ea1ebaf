#pragma once
// The /metrics families read when scraped (base/metrics.h): tasks by status, addresses per
// subnet and host ports from the store, and each ENI's counters from the local runtime.
#include <vector>

#include "base/metrics.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::daemon {

struct PortPool {
  int first = 0, last = -1;  // the public host port range (--public-port-range)
};

// Tasks by region and last status; used and free addresses of every subnet's IPv4 CIDR
// (AWS's five reserved addresses are neither); used and free public host ports by
// protocol. One read transaction.
std::vector<metrics::Family> StoreFamilies(state::Store& store, PortPool public_ports);

// Bytes, packets and link drops of every awsvpc task's ENI in each direction; empty
// unless `rt` is the local runtime.
std::vector<metrics::Family> EniFamilies(runtime::Runtime& rt);

}  // namespace kecs::daemon
