#include "api/elbv2/elbv2_api.h"

namespace kecs::api::elbv2 {

void Elbv2Api::RegisterAll(Service& service) {
  RegisterLoadBalancerOps(service);
  RegisterListenerOps(service);
}

}  // namespace kecs::api::elbv2
