#pragma once
// Wiring: store, runtime, controllers, API services, HTTP server, signals.
#include <string>

#include "base/status.h"
#include "daemon/config.h"
#include "net/domain/dns_answer.h"
#include "state/store.h"

namespace kecs::daemon {

// Runs the daemon in the foreground until SIGINT or SIGTERM; returns the exit code.
int Run(const Config& cfg);
// `kecs image load`: loads an archive into <data-dir>/images.
int LoadImage(const Config& cfg, const std::string& archive, const std::string& tag);
// The VPC resolver's lookup: what VPC `vpc_id` of `region` sees for `fqdn` — a load
// balancer's DNS name (its nodes' addresses, A and AAAA, TTL 60 s), else a Cloud Map
// name, else nothing (found false: the resolver forwards the query).
Result<net::discovery::DnsAnswer> LookupVpcName(state::Tx& tx, const std::string& region, const std::string& vpc_id,
                                                const std::string& fqdn);
// `kecs cleanup`: removes every kernel object named with cfg.name_prefix.
int Cleanup(const Config& cfg);

}  // namespace kecs::daemon
