#pragma once
// The AWS Cloud Map API (servicediscovery, Route53AutoNaming_v20170314) over the Cloud Map
// model in net/discovery.h.
//
// Each operation validates its input in Cloud Map's words, reads and writes the store in
// one transaction and answers at once: operations Cloud Map runs asynchronously (creating,
// updating and deleting namespaces, registering instances, updating services) are complete
// when the call returns, and their Operation reads SUCCESS (or FAIL, as Cloud Map would
// end it, e.g. a private namespace for a VPC that does not exist). DiscoverInstances is
// the same operation whether it arrives on servicediscovery.<region> or on Cloud Map's
// data-servicediscovery.<region> host. Thread-safe: all state lives in the store.
#include "api/router.h"
#include "base/json.h"
#include "state/store.h"

namespace kecs::net { class RegionBootstrap; }

namespace kecs::api::servicediscovery {

class ServiceDiscoveryApi {
 public:
  ServiceDiscoveryApi(state::Store& store, net::RegionBootstrap& regions)
      : store_(store), regions_(regions) {}
  // Registers every implemented operation on `service`.
  void RegisterAll(Service& service);

 private:
  // namespaces.cc
  Json CreateHttpNamespace(RequestContext& ctx, const Json& in);
  Json CreatePrivateDnsNamespace(RequestContext& ctx, const Json& in);
  Json CreatePublicDnsNamespace(RequestContext& ctx, const Json& in);
  Json DeleteNamespace(RequestContext& ctx, const Json& in);
  Json GetNamespace(RequestContext& ctx, const Json& in);
  Json ListNamespaces(RequestContext& ctx, const Json& in);
  Json UpdateHttpNamespace(RequestContext& ctx, const Json& in);
  Json UpdatePrivateDnsNamespace(RequestContext& ctx, const Json& in);
  Json UpdatePublicDnsNamespace(RequestContext& ctx, const Json& in);
  Json CreateNamespace(RequestContext& ctx, const Json& in, const std::string& type);
  Json UpdateNamespace(RequestContext& ctx, const Json& in, const std::string& type);

  // services.cc
  Json CreateService(RequestContext& ctx, const Json& in);
  Json DeleteService(RequestContext& ctx, const Json& in);
  Json GetService(RequestContext& ctx, const Json& in);
  Json ListServices(RequestContext& ctx, const Json& in);
  Json UpdateService(RequestContext& ctx, const Json& in);
  Json GetServiceAttributes(RequestContext& ctx, const Json& in);
  Json UpdateServiceAttributes(RequestContext& ctx, const Json& in);
  Json DeleteServiceAttributes(RequestContext& ctx, const Json& in);

  // instances.cc
  Json RegisterInstance(RequestContext& ctx, const Json& in);
  Json DeregisterInstance(RequestContext& ctx, const Json& in);
  Json GetInstance(RequestContext& ctx, const Json& in);
  Json ListInstances(RequestContext& ctx, const Json& in);
  Json GetInstancesHealthStatus(RequestContext& ctx, const Json& in);
  Json UpdateInstanceCustomHealthStatus(RequestContext& ctx, const Json& in);
  Json DiscoverInstances(RequestContext& ctx, const Json& in);
  Json DiscoverInstancesRevision(RequestContext& ctx, const Json& in);

  // operations.cc (with tagging)
  Json GetOperation(RequestContext& ctx, const Json& in);
  Json ListOperations(RequestContext& ctx, const Json& in);
  Json TagResource(RequestContext& ctx, const Json& in);
  Json UntagResource(RequestContext& ctx, const Json& in);
  Json ListTagsForResource(RequestContext& ctx, const Json& in);

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

}  // namespace kecs::api::servicediscovery
