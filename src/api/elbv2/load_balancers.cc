#include "api/elbv2/elbv2_api.h"

namespace kecs::api::elbv2 {

// Placeholder until the load balancer operations land (issue 13): registers nothing.
void Elbv2Api::RegisterLoadBalancerOps(Service& service) { (void)service; }

}  // namespace kecs::api::elbv2
