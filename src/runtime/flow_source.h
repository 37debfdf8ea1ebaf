#pragma once
// Where VPC flow logs (issue 15) get the kernel's verdicts: the flow samples of a VPC's
// router (net/kernel/flow_capture.h). The local runtime implements it over each VPC's
// router namespace; the simulated runtime has no packets and no source (the flow log API
// works there and no records are produced).
//
// Not thread-safe: one caller (the flow log controller's thread).
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "net/kernel/flow_capture.h"

namespace kecs::runtime {

class FlowSource {
 public:
  virtual ~FlowSource() = default;
  // Appends what VPC `vpc_id`'s router saw since the last call: the packets it dropped and
  // the flows that ended; with `dump`, also every live flow's packets and bytes since the
  // last dump. Starts capturing on the first call (a capture starts empty); NotFound while
  // the VPC has no router (no task runs in it yet), and the next call tries again.
  virtual Status Collect(const std::string& vpc_id, bool dump, std::vector<net::FlowSample>& out) = 0;
  // Stops capturing every VPC not in `vpc_ids`. Repeat calls are harmless.
  virtual void Retain(const std::set<std::string>& vpc_ids) = 0;
};

}  // namespace kecs::runtime
