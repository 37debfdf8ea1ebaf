#include "api/servicediscovery/servicediscovery_api.h"

namespace kecs::api::servicediscovery {

void ServiceDiscoveryApi::RegisterAll(Service& s) {
#define KECS_OP(name) \
  s.Register(#name, [this](RequestContext& ctx, const Json& in) { return name(ctx, in); })
  KECS_OP(CreateHttpNamespace);
  KECS_OP(CreatePrivateDnsNamespace);
  KECS_OP(CreatePublicDnsNamespace);
  KECS_OP(DeleteNamespace);
  KECS_OP(GetNamespace);
  KECS_OP(ListNamespaces);
  KECS_OP(UpdateHttpNamespace);
  KECS_OP(UpdatePrivateDnsNamespace);
  KECS_OP(UpdatePublicDnsNamespace);
  KECS_OP(CreateService);
  KECS_OP(DeleteService);
  KECS_OP(GetService);
  KECS_OP(ListServices);
  KECS_OP(UpdateService);
  KECS_OP(GetServiceAttributes);
  KECS_OP(UpdateServiceAttributes);
  KECS_OP(DeleteServiceAttributes);
  KECS_OP(RegisterInstance);
  KECS_OP(DeregisterInstance);
  KECS_OP(GetInstance);
  KECS_OP(ListInstances);
  KECS_OP(GetInstancesHealthStatus);
  KECS_OP(UpdateInstanceCustomHealthStatus);
  KECS_OP(DiscoverInstances);
  KECS_OP(DiscoverInstancesRevision);
  KECS_OP(GetOperation);
  KECS_OP(ListOperations);
  KECS_OP(TagResource);
  KECS_OP(UntagResource);
  KECS_OP(ListTagsForResource);
#undef KECS_OP
}

}  // namespace kecs::api::servicediscovery
