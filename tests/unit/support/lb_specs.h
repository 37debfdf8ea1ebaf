#pragma once
// Builders of runtime::LoadBalancerSpec parts for tests of the load balancers' data plane
// (the haproxy.cfg renderer's unit tests and the privileged LbProxies tests).
#include <string>

#include "runtime/load_balancer.h"

namespace kecs::testing {

inline std::string TgArn(const std::string& id) {
  return "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg-" + id.substr(0, 4) + "/" + id;
}

inline model::Action Forward(const std::string& tg_id) {
  model::Action a;
  a.type = model::ActionType::kForward;
  a.target_group_arn = TgArn(tg_id);
  return a;
}

inline model::Action FixedResponse(const std::string& status, const std::string& body) {
  model::Action a;
  a.type = model::ActionType::kFixedResponse;
  a.fixed_status = status;
  a.fixed_body = body;
  return a;
}

inline runtime::LbTargetSpec Target(const std::string& ip, int port, bool draining = false) {
  runtime::LbTargetSpec t;
  t.id = ip;
  t.address = ip;
  t.port = port;
  t.draining = draining;
  return t;
}

}  // namespace kecs::testing
