#pragma once
// The local runtime's FlowSource: one net::FlowCapture per VPC router namespace, opened
// on first use and reopened when the router is deleted and made again (the capture's
// sockets would otherwise keep the old namespace alive). Not thread-safe (FlowSource).
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runtime/flow_source.h"

namespace kecs::runtime::local {

class LocalFlowSource : public FlowSource {
 public:
  // `router_netns` names a VPC's router namespace (LocalNetwork::RouterNamespace).
  explicit LocalFlowSource(std::function<std::string(const std::string& vpc_id)> router_netns)
      : router_netns_(std::move(router_netns)) {}

  Status Collect(const std::string& vpc_id, bool dump, std::vector<net::FlowSample>& out) override;
  void Retain(const std::set<std::string>& vpc_ids) override;

 private:
  const std::function<std::string(const std::string&)> router_netns_;
  std::map<std::string, std::unique_ptr<net::FlowCapture>> captures_;  // by VPC id
};

}  // namespace kecs::runtime::local
