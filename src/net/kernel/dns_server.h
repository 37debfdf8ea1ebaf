#pragma once
// The VPC resolver: a DNS server per VPC at the VPC's base+2 address, as Amazon's
// Route 53 Resolver is.
//
// Names of Cloud Map DNS namespaces the VPC sees are answered from the store (through the
// `Lookup` callback, normally discovery::LookupDns), so a name resolves as soon as its
// instance is registered and stops the moment it is deregistered: there is no zone file
// to reload and nothing is cached here. Every other name is forwarded, byte for byte, to
// the host's resolvers (the daemon's own network namespace, so a loopback resolver such as
// systemd-resolved works too), over UDP or TCP as the client asked.
//
// Answers follow Route 53's rules for Cloud Map records: A/AAAA/SRV as the service's
// DnsConfig has them, each with its TTL; MULTIVALUE returns up to 8 healthy instances,
// WEIGHTED one at random; an SRV answer carries the targets' addresses in its additional
// section; a name in a namespace that matches nothing is NXDOMAIN, a name with no record
// of the asked type is NODATA. Answers are authoritative. UDP answers larger than the
// client's buffer (512, or its EDNS size) are truncated with TC set, so it retries on TCP.
//
// Messages are parsed and built with ldns (NLnet Labs); I/O runs on one Asio thread.
// Listeners are opened inside a network namespace (setns on a short-lived thread) and
// then served from the daemon's thread. Thread-safe.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "net/domain/dns_answer.h"

namespace kecs::net {

class DnsServer {
 public:
  // What the VPC `vpc_id` sees for `fqdn` (lowercase, no trailing dot).
  using Lookup = std::function<Result<discovery::DnsAnswer>(const std::string& vpc_id, const std::string& fqdn)>;

  struct Options {
    // "address" or "address:port"; empty: the nameservers of the host's /etc/resolv.conf.
    std::vector<std::string> upstreams;
    std::chrono::milliseconds forward_timeout{2000};  // per upstream
  };

  DnsServer(Lookup lookup, Options options);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Serves VPC `vpc_id` on address:port (UDP and TCP) inside network namespace `netns`
  // ("" = the daemon's own). Port 0 picks a free one. Replaces the VPC's listener if it
  // already has one elsewhere; the same address again is a no-op. Returns the port.
  Result<uint16_t> Listen(const std::string& vpc_id, const std::string& netns, const std::string& address,
                          uint16_t port = 53);
  // Stops serving the VPC (no-op when it is not served).
  void Unlisten(const std::string& vpc_id);
  std::vector<std::string> ServedVpcs();
  // Closes every listener and ends the I/O thread: no lookup runs after it returns.
  // Idempotent; the destructor calls it.
  void Stop();

  // Builds the answer to one DNS query for `vpc_id`. Returns an empty vector when the
  // name is not ours and the query should be forwarded; an error for a malformed query.
  // Over UDP (`tcp` false) an answer larger than 512 bytes, or the query's EDNS size, is
  // replaced by an empty one with TC set.
  Result<std::vector<uint8_t>> Respond(const std::string& vpc_id, const std::vector<uint8_t>& query,
                                       bool tcp);

 private:
  struct Listener;
  struct Io;
  std::vector<std::string> Upstreams() const;

  Lookup lookup_;
  Options options_;
  std::unique_ptr<Io> io_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Listener>> listeners_;  // by VPC id; guarded by mu_
};

}  // namespace kecs::net
