#include "runtime/local/flow_source.h"

#include "base/log.h"

namespace kecs::runtime::local {

Status LocalFlowSource::Collect(const std::string& vpc_id, bool dump, std::vector<net::FlowSample>& out) {
  auto it = captures_.find(vpc_id);
  if (it != captures_.end() && it->second->Stale()) {
    // The router was deleted (its last task stopped) or made anew: let the old one go.
    captures_.erase(it);
    it = captures_.end();
  }
  if (it == captures_.end()) {
    auto c = net::FlowCapture::Open(router_netns_(vpc_id));
    if (!c.ok()) return c.status();
    it = captures_.emplace(vpc_id, std::move(c).value()).first;
    KLOG_INFO("flow logs: capturing the router of {}", vpc_id);
  }
  RETURN_IF_ERROR(it->second->Drain(out));
  if (dump) RETURN_IF_ERROR(it->second->Dump(out));
  return Status::Ok();
}

void LocalFlowSource::Retain(const std::set<std::string>& vpc_ids) {
  for (auto it = captures_.begin(); it != captures_.end();) {
    if (vpc_ids.count(it->first)) {
      ++it;
    } else {
      KLOG_INFO("flow logs: no longer capturing the router of {}", it->first);
      it = captures_.erase(it);
    }
  }
}

}  // namespace kecs::runtime::local
