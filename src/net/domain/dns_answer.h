#pragma once
// What the VPC resolver answers for a Cloud Map name: value types shared by the Cloud Map
// model (net/domain/discovery.h, which computes them from the store) and the DNS server
// (net/kernel/dns_server.h, which puts them on the wire). Nothing here touches the store.
#include <string>
#include <vector>

#include "base/json.h"

namespace kecs::net::discovery {

struct Endpoint { std::string instance_id; std::string ipv4; std::string ipv6; int port = 0; bool healthy = true; Json attributes; };
struct DnsAnswer {
  bool found = false;        // the name belongs to a private or public DNS namespace this VPC sees
  bool nxdomain = false;     // ... but no such service/instance name in it
  std::string routing_policy;  // MULTIVALUE or WEIGHTED
  int ttl_a = 60, ttl_aaaa = 60, ttl_srv = 60;
  bool has_a = false, has_aaaa = false, has_srv = false;  // record types the service's DnsConfig has
  std::vector<Endpoint> endpoints;   // healthy ones only (all of them when none is healthy, as Cloud Map does)
};

}  // namespace kecs::net::discovery
